"""SuperChat tiers: the amount of a paid message sets its colour, length and pin time.

The default table follows YouTube's published Super Chat tiers (in units of the
currency: nothing pinned below 5, then 2 minutes at 5 up to 5 hours at 500, and
longer messages at higher tiers). Amounts are in minor units (cents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trioflix.chat.protocol import ChatError

__all__ = ["CURRENCIES", "DEFAULT_TIERS", "Tier", "tier_for"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    """Applies from ``min_amount`` (minor units) up to the next tier's minimum."""

    min_amount: int
    colour: str
    max_length: int
    pin_s: int

    def public(self) -> dict[str, Any]:
        return {"colour": self.colour, "max_length": self.max_length, "pin_s": self.pin_s}


def _tiers(*rows: tuple[int, str, int, int]) -> tuple[Tier, ...]:
    return tuple(
        Tier(min_amount=units * 100, colour=colour, max_length=length, pin_s=pin_s)
        for units, colour, length, pin_s in rows
    )


DEFAULT_TIERS: tuple[Tier, ...] = _tiers(
    (1, "#1565c0", 0, 0),
    (2, "#00b8d4", 50, 0),
    (5, "#00bfa5", 150, 120),
    (10, "#ffb300", 200, 300),
    (20, "#e65100", 225, 600),
    (50, "#c2185b", 250, 1800),
    (100, "#d00000", 270, 3600),
    (200, "#d00000", 290, 7200),
    (300, "#d00000", 310, 10800),
    (400, "#d00000", 330, 14400),
    (500, "#d00000", 350, 18000),
)

# Currencies with two decimal places, for which the default table is in cents.
CURRENCIES: frozenset[str] = frozenset({"USD", "EUR", "GBP", "CAD", "AUD", "CHF"})


def tier_for(amount: int, currency: str, tiers: tuple[Tier, ...] = DEFAULT_TIERS) -> Tier:
    """The tier an ``amount`` (minor units) of ``currency`` buys.

    Raises:
        ChatError: ``unsupported_currency``, or ``amount_too_small`` below the first tier.
    """
    if currency not in CURRENCIES:
        raise ChatError(
            "unsupported_currency", f"currency must be one of {', '.join(sorted(CURRENCIES))}"
        )
    chosen: Tier | None = None
    for tier in tiers:
        if amount >= tier.min_amount:
            chosen = tier
    if chosen is None:
        raise ChatError(
            "amount_too_small", f"the smallest SuperChat is {tiers[0].min_amount} minor units"
        )
    return chosen
