"""Per-user upload limits: bytes in flight and bytes stored, checked when an upload is created.

In flight: the declared lengths of the user's unfinished uploads (the bytes so far
for one whose length is still deferred). Stored: the lengths of the uploads that
finished and were kept as videos. A new upload whose length takes the user past
``TRIOFLIX_UPLOAD_IN_FLIGHT`` is refused with 429 (finish or terminate one, or
wait for one to expire); past ``TRIOFLIX_UPLOAD_QUOTA`` (in flight and stored
together) with 413. The parts of a tus concatenation count once, as parts; the
final upload adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from trioflix.errors import APIError

if TYPE_CHECKING:
    from trioflix.store import Database

__all__ = ["UploadQuota"]

IN_FLIGHT_RETRY_AFTER_S = 60  # an upload in flight finishes, is terminated or expires

_USAGE = """
SELECT
  COALESCE(SUM(CASE WHEN state = 'uploading'
                    THEN COALESCE(upload_length, upload_offset) ELSE 0 END), 0) AS in_flight,
  COALESCE(SUM(CASE WHEN state IN ('complete', 'consumed')
                    THEN COALESCE(upload_length, upload_offset) ELSE 0 END), 0) AS stored
FROM uploads
WHERE user_id = $1 AND (concat IS NULL OR concat NOT LIKE 'final%')
"""


@dataclass(frozen=True, slots=True)
class UploadQuota:
    """One user's limits.

    Attributes:
        in_flight: Bytes of unfinished uploads one user may have at once.
        total: Bytes one user may have stored and in flight together.
    """

    in_flight: int
    total: int

    async def check(self, db: Database, user_id: int, length: int | None) -> None:
        """Refuse a new upload of ``length`` bytes (``None``: deferred) for ``user_id``.

        Raises:
            APIError: 429 ``too_many_uploads`` past the bytes in flight, 413
                ``quota_exceeded`` past the total.
        """
        row = await db.fetchrow(_USAGE, user_id)
        assert row is not None  # an aggregate always has its row
        in_flight, stored = int(row["in_flight"]), int(row["stored"])
        adding = length or 0
        if in_flight + adding > self.in_flight:
            raise APIError(
                429,
                "too_many_uploads",
                f"{in_flight} bytes of your uploads are still in flight, and this one would"
                f" take them past {self.in_flight}: finish or terminate one first",
                headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER_S)},
            )
        if stored + in_flight + adding > self.total:
            raise APIError(
                413,
                "quota_exceeded",
                f"this upload would take your uploads past your quota of {self.total} bytes"
                f" ({stored} stored, {in_flight} in flight)",
            )
