"""Chat tests: the served instance has the development payment provider and a webhook secret."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trioflix.config import Settings

WEBHOOK_SECRET = "webhook-secret-" + "w" * 40


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(dev_payments=True, payment_webhook_secret=WEBHOOK_SECRET)
