"""Browser tests: the development payment provider, a small live ladder.

``TRIOFLIX_SCREENSHOTS=DIR`` makes the tests save their page screenshots in DIR
(``docs/screenshots`` refreshes the README's pictures); otherwise they go to the
test's temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import Screenshots
from tests.interop.media import Sample, make_sample

if TYPE_CHECKING:
    from trioflix.config import Settings

# A cheap ladder under the 360p source: two rungs keep the quality menu real while the
# transcoder stays far inside real time on a 2-core CI machine running a browser too.
BROWSER_LADDER = "240p:300k,160p"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    settings = settings.replace(
        hls_ladder=BROWSER_LADDER, hls_preset="ultrafast", dev_payments=True
    )
    marker = request.node.get_closest_marker("settings")
    return settings.replace(**marker.kwargs) if marker is not None else settings


@pytest.fixture(scope="session")
def live_sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """40 s of 360p30 H.264/AAC with a keyframe every 2 s: long enough to watch a while."""
    return make_sample(tmp_path_factory.mktemp("browser-media") / "live.flv", seconds=40, gop=60)


@pytest.fixture
def screenshots(tmp_path: Path) -> Screenshots:
    target = os.environ.get("TRIOFLIX_SCREENSHOTS")
    return Screenshots(Path(target) if target else tmp_path / "screenshots")
