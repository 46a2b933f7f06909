"""LL-HLS numbering that goes on across the hosts of a site, as the MPEG-TS numbering does.

Rules / theory of operation
---------------------------
1. Each LL rendition records where it stands in the site's shared HLS state under a
   name of its own (:func:`trioflix.cluster.hls_state.low_latency`), in the session's
   record, under the session's claim: the previous writer's records are refused.
2. An LL playlist changes in the middle of taking a tag (a part is listed, the preload
   hint names the next segment), where nothing can wait for Redis. So a record is a
   *reservation*, made ahead: a Media Sequence Number past every one the session's
   playlists can list before the next record. Before the first tag and after every
   change, the session keeps it at least two past the leader's next part
   (:data:`RESERVED_AHEAD`): one change moves that part one segment on at most, and
   every other rendition follows the leader's numbers (:mod:`trioflix.live.hls.cmaf`
   rule 6). That is one record per segment.
3. The Discontinuity Sequence Number recorded is likewise a bound: the rendition's own,
   plus one for each segment below the reservation that it has not opened yet (a
   segment brings one break at most).
4. A host that goes on with the session reads every record before its first tag and
   continues each LL playlist at its reservation (:meth:`CMAFRendition.continue_at`),
   after EXT-X-DISCONTINUITY; a rendition made later (a ladder rung) continues at its
   own when it is made. Numbers may skip one segment there, never go back.
5. A reservation refused (another host has claimed the session) retires every LL
   rendition here: nothing is listed under numbers the other host may use. On one host,
   a reconnecting publisher goes on in the same playlists (:mod:`trioflix.live.hls.writer`
   rule 5) with no record read.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from trioflix.cluster.hls_state import Position, low_latency

if TYPE_CHECKING:
    from trioflix.live.hls.cmaf import CMAFRendition
    from trioflix.live.hls.writer import SharedPositions

__all__ = ["RESERVED_AHEAD", "LLContinuity"]

logger = logging.getLogger(__name__)

RESERVED_AHEAD: Final = 2  # segments past the leader's next part (rule 2)


class LLContinuity:
    """The LL renditions' records of one session (rules 1-5).

    Args:
        positions: The session's records in the site's shared HLS state.
        leader: The LL rendition whose parts the others follow (the source's).
        lls: Every LL rendition of the session by name, the leader among them; the
            session adds to it.
    """

    def __init__(
        self, positions: SharedPositions, leader: CMAFRendition, lls: dict[str, CMAFRendition]
    ) -> None:
        self._positions = positions
        self._leader = leader
        self._lls = lls
        self._stopped: dict[str, Position] = {}
        self._reserved = 0  # the reservation recorded (rule 2): no MSN listed reaches it
        self.superseded = False  # another host writes the session now (rule 5)

    async def start(self) -> None:
        """Before the first tag: go on from every record (rule 4), then reserve."""
        self._stopped = await self._positions.positions()
        for ll in self._lls.values():
            self.made(ll)
        await self.reserve()

    def made(self, ll: CMAFRendition) -> None:
        """A rendition is made: it goes on from its record, if another host left one."""
        at = self._stopped.pop(low_latency(ll.name), None)
        if at is not None and ll.playlist.last_part is None:
            ll.continue_at(at)

    async def reserve(self) -> None:
        """After a change: renew the reservation if the leader came near it (rule 2)."""
        next_msn = self._leader.playlist.next_part[0]
        if self.superseded or self._reserved >= next_msn + RESERVED_AHEAD:
            return
        reserved = next_msn + RESERVED_AHEAD
        for ll in list(self._lls.values()):
            if ll.retired:
                continue
            msn, part = ll.playlist.next_part
            unopened = max(0, reserved - (msn if part == 0 else msn + 1))
            bound = Position(reserved, ll.playlist.discontinuity_sequence + unopened)
            if not await self._positions.advance(low_latency(ll.name), bound):
                self._supersede()
                return
        self._reserved = reserved

    def _supersede(self) -> None:
        self.superseded = True
        for ll in list(self._lls.values()):
            ll.retire("another host writes the session's LL-HLS now")
