"""Wallets: an append-only ledger in minor units whose balance can never go negative.

Each (user, currency) has a ``wallets`` row holding the balance and one
``wallet_ledger`` row per movement, written in the same transaction. A debit is a
single conditional ``UPDATE ... WHERE balance >= amount``: PostgreSQL takes the
row lock and re-checks the condition for a concurrent debit after the first one
commits; SQLite serialises writers. Either way two debits can never both spend
the same money, and ``CHECK (balance >= 0)`` backs it at the schema level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trioflix.chat.protocol import ChatError

if TYPE_CHECKING:
    from trioflix.store import Database, Transaction

__all__ = ["LedgerEntry", "balances", "credit", "debit", "earnings", "ledger"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntry:
    id: int
    user_id: int
    currency: str
    amount: int
    balance_after: int
    kind: str
    reference: str | None
    created_at: float

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "currency": self.currency,
            "amount": self.amount,
            "balance_after": self.balance_after,
            "kind": self.kind,
            "reference": self.reference,
            "created_at": self.created_at,
        }


_COLUMNS = "id, user_id, currency, amount, balance_after, kind, reference, created_at"


async def _append(
    tx: Transaction,
    user_id: int,
    currency: str,
    amount: int,
    balance: int,
    kind: str,
    reference: str | None,
) -> LedgerEntry:
    row = await tx.fetchrow(
        "INSERT INTO wallet_ledger"
        " (user_id, currency, amount, balance_after, kind, reference, created_at)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
        user_id,
        currency,
        amount,
        balance,
        kind,
        reference,
        time.time(),
    )
    assert row is not None
    return LedgerEntry(**row)


async def credit(
    tx: Transaction, user_id: int, currency: str, amount: int, kind: str, reference: str | None
) -> LedgerEntry | None:
    """Add ``amount`` (> 0). Returns ``None`` if ``reference`` was already credited.

    A concurrent duplicate of the same reference raises
    :class:`~trioflix.store.Conflict` from the unique constraint instead; the
    caller treats both as "already done".
    """
    assert amount > 0
    if reference is not None and await tx.fetchval(
        "SELECT id FROM wallet_ledger WHERE reference = $1", reference
    ):
        return None
    balance = await tx.fetchval(
        "INSERT INTO wallets (user_id, currency, balance) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id, currency)"
        " DO UPDATE SET balance = wallets.balance + excluded.balance"
        " RETURNING balance",
        user_id,
        currency,
        amount,
    )
    return await _append(tx, user_id, currency, amount, int(balance), kind, reference)


async def debit(
    tx: Transaction, user_id: int, currency: str, amount: int, kind: str
) -> LedgerEntry:
    """Take ``amount`` (> 0) if the balance covers it.

    Raises:
        ChatError: ``insufficient_funds`` (HTTP 402); nothing is written.
    """
    assert amount > 0
    balance = await tx.fetchval(
        "UPDATE wallets SET balance = balance - $3"
        " WHERE user_id = $1 AND currency = $2 AND balance >= $3 RETURNING balance",
        user_id,
        currency,
        amount,
    )
    if balance is None:
        raise ChatError(
            "insufficient_funds", f"the {currency} wallet cannot pay {amount}", status=402
        )
    return await _append(tx, user_id, currency, -amount, int(balance), kind, None)


async def balances(db: Database, user_id: int) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT currency, balance FROM wallets WHERE user_id = $1 ORDER BY currency", user_id
    )
    return {row["currency"]: int(row["balance"]) for row in rows}


async def ledger(
    db: Database, user_id: int, *, limit: int, before: int | None
) -> list[LedgerEntry]:
    """The newest ``limit`` entries, older than ledger id ``before`` when given."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM wallet_ledger WHERE user_id = $1 AND id < $2"
        " ORDER BY id DESC LIMIT $3",
        user_id,
        before if before is not None else 2**63 - 1,
        limit,
    )
    return [LedgerEntry(**row) for row in rows]


async def earnings(db: Database, channel_id: int) -> dict[str, dict[str, int]]:
    """What a channel's SuperChats brought in, per currency: total and count."""
    rows = await db.fetch(
        "SELECT currency, SUM(amount) AS total, COUNT(*) AS n FROM superchats"
        " WHERE channel_id = $1 GROUP BY currency ORDER BY currency",
        channel_id,
    )
    return {row["currency"]: {"total": int(row["total"]), "count": int(row["n"])} for row in rows}
