"""Live HLS state the hosts share, on a real redis-server: where each rendition stopped
(only ever forward), a session's HLS continuing on another host from there (LL-HLS
too, from reservations), and the players of a channel (one per token, whichever host saw it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

from protocols import hls
from tests.trioflix.live_hls.helpers import parse_media_playlist
from trioflix.cluster.hls_state import (
    PLAYERS_TTL_S,
    POSITION_TTL_S,
    Position,
    SiteHLS,
    low_latency,
)
from trioflix.config import Settings
from trioflix.live.hls.cmaf import CMAFRendition
from trioflix.live.hls.hub import HLSHub
from trioflix.live.hls.ll_continuity import LLContinuity
from trioflix.live.hls.rendition import Rendition
from trioflix.live.hls.writer import SharedPositions

from .helpers import REDIS_STOPS, wait_until

if TYPE_CHECKING:
    from pathlib import Path

    import coredis

    from tests.conftest import RedisServer

pytestmark = [pytest.mark.slow, REDIS_STOPS]

WINDOW_S = 0.5
SESSION = 41


async def test_a_position_only_goes_forward(redis: coredis.Redis[bytes]) -> None:
    site = SiteHLS(redis)
    assert await site.stopped_at("alice", 7, "source") is None
    await site.claim("alice", 7, "a")
    assert await site.advance("alice", 7, "source", Position(5, 1), "a")
    assert await site.advance("alice", 7, "720p", Position(4, 0), "a")
    assert await site.stopped_at("alice", 7, "source") == Position(5, 1)
    assert await site.stopped_at("alice", 7, "720p") == Position(4, 0)
    # Behind, or level: not recorded.
    assert await site.advance("alice", 7, "source", Position(3, 0), "a")
    assert await site.advance("alice", 7, "source", Position(5, 0), "a")
    assert await site.stopped_at("alice", 7, "source") == Position(5, 1)
    assert await site.advance("alice", 7, "source", Position(6, 2), "a")
    assert await site.stopped_at("alice", 7, "source") == Position(6, 2)
    # Other sessions and channels are apart; the record does not outlive its use.
    assert await site.stopped_at("alice", 8, "source") is None
    assert await site.stopped_at("bob", 7, "source") is None
    assert 0 < await redis.ttl("trioflix:hls:position:alice:7") <= POSITION_TTL_S


async def test_once_another_writer_claims_the_session_the_old_one_is_refused(
    redis: coredis.Redis[bytes],
) -> None:
    site = SiteHLS(redis)
    await site.claim("alice", 7, "a")
    assert await site.advance("alice", 7, "source", Position(5, 0), "a")
    await site.claim("alice", 7, "b")
    assert not await site.advance("alice", 7, "source", Position(6, 0), "a")
    assert await site.stopped_at("alice", 7, "source") == Position(5, 0)
    assert await site.advance("alice", 7, "source", Position(6, 1), "b")
    assert await site.stopped_at("alice", 7, "source") == Position(6, 1)


async def test_every_position_of_a_session_is_read_at_once(redis: coredis.Redis[bytes]) -> None:
    site = SiteHLS(redis)
    assert await site.positions("alice", 7) == {}
    await site.claim("alice", 7, "a")
    assert await site.advance("alice", 7, "source", Position(5, 1), "a")
    assert await site.advance("alice", 7, low_latency("source"), Position(9, 2), "a")
    assert await site.positions("alice", 7) == {
        "source": Position(5, 1),
        low_latency("source"): Position(9, 2),
    }


def low_latency_rendition(name: str, leader: CMAFRendition | None = None) -> CMAFRendition:
    return CMAFRendition(
        name,
        session_id=SESSION,
        part_target_ms=500,
        segment_target_ms=1000,
        max_segment_ms=2000,
        target_duration_s=2,
        dates=lambda _: None,
        leader=leader,
    )


def list_segment(rendition: CMAFRendition, *, discontinuity: bool = False) -> None:
    """A part opens a segment of ``rendition``'s LL playlist, which then ends."""
    rendition.playlist.add_part(500, independent=True, map_uri="init.mp4")
    rendition.playlist.end_segment(discontinuity=discontinuity)


async def low_latency_host(
    site: SiteHLS, *, rungs: tuple[str, ...] = ()
) -> tuple[LLContinuity, dict[str, CMAFRendition]]:
    """A host that starts writing session :data:`SESSION`'s LL-HLS: its source's, and
    ``rungs`` made once it has started."""
    positions = SharedPositions(lambda: site, "alice", SESSION)
    await positions.claim()
    source = low_latency_rendition("source")
    lls = {"source": source}
    continuity = LLContinuity(positions, source, lls)
    await continuity.start()
    for name in rungs:
        lls[name] = low_latency_rendition(name, leader=source)
        continuity.made(lls[name])
    return continuity, lls


async def test_ll_hls_goes_on_on_the_next_host_past_every_number_reserved(
    redis: coredis.Redis[bytes],
) -> None:
    site = SiteHLS(redis)
    on_a, lls_a = await low_latency_host(site, rungs=("720p",))
    for n in range(3):  # a break (a reconnect on A) before segment 2
        list_segment(lls_a["source"], discontinuity=n == 1)
        list_segment(lls_a["720p"])
        await on_a.reserve()
    # A's next part is 3.0: numbers up to 4 may be listed before A records again; each
    # segment not opened yet may bring a break.
    recorded = await site.positions("alice", SESSION)
    assert recorded[low_latency("source")] == Position(5, 1 + 2)
    assert recorded[low_latency("720p")] == Position(5, 0 + 2)
    assert "source" not in recorded  # the MPEG-TS records are the renditions' own

    on_b, lls_b = await low_latency_host(site, rungs=("720p",))
    for name in ("source", "720p"):
        playlist = lls_b[name].playlist
        assert playlist.next_part == (5, 0), name
        list_segment(lls_b[name])
    text = lls_b["source"].playlist.render()
    assert "#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n" in text
    assert "#EXT-X-DISCONTINUITY\n" in text
    await on_b.reserve()

    # A has not learnt that B took the session: its next reservation is refused, and
    # its LL playlists end, listing nothing past what it reserved.
    list_segment(lls_a["source"])
    assert lls_a["source"].playlist.next_part == (4, 0)  # below B's first number
    await on_a.reserve()
    assert on_a.superseded
    assert all(ll.retired and ll.playlist.ended for ll in lls_a.values())
    # B's reservation stands: past its next part (6), its one break and two to come.
    assert (await site.positions("alice", SESSION))[low_latency("source")] == Position(8, 4 + 2)


def segment(n: int, *, discontinuity: bool = False) -> hls.SegmentFinished:
    return hls.SegmentFinished(
        sequence=n,
        start_ms=2000 * n,
        duration_ms=2000,
        chunks=(bytes([n]) * 188,),
        discontinuity=discontinuity,
        independent=True,
    )


async def rendition(directory: Path, site: SiteHLS) -> Rendition:
    """The source rendition of session :data:`SESSION` on a host that starts writing it."""
    await trio.Path(directory).mkdir(parents=True)
    positions = SharedPositions(lambda: site, "alice", SESSION)
    await positions.claim()
    return Rendition(
        "source",
        directory,
        session_id=SESSION,
        target_duration_s=2,
        limiter=trio.CapacityLimiter(1),
        continuity=positions,
    )


async def test_the_next_host_goes_on_past_the_last_segment(
    redis: coredis.Redis[bytes], tmp_path: Path
) -> None:
    site = SiteHLS(redis)
    on_a = await rendition(tmp_path / "a", site)
    for n in range(8):  # a window of six, and a reconnect on A (a discontinuity) at 3
        await on_a.add(segment(n, discontinuity=n == 3), None)
    before = parse_media_playlist(on_a.text)
    assert before.media_sequence == 2
    assert [s.discontinuity for s in before.segments] == [False, True] + [False] * 4

    on_b = await rendition(tmp_path / "b", site)
    await on_b.continue_session()  # as the session starts on B: its empty playlist goes on
    waiting = parse_media_playlist(on_b.text)
    assert (waiting.media_sequence, waiting.segments) == (8, [])
    # A has not learnt that B took the session: its next segment is not listed.
    await on_a.add(segment(8), None)
    assert on_a.superseded
    assert parse_media_playlist(on_a.text).segments == before.segments
    for n in range(2):
        await on_b.add(segment(n), None)
    after = parse_media_playlist(on_b.text)
    assert after.media_sequence == 8
    assert [s.uri for s in after.segments] == [
        f"seg-{SESSION}-000008.ts",
        f"seg-{SESSION}-000009.ts",
    ]
    assert [s.discontinuity for s in after.segments] == [True, False]
    # A's discontinuity at 3 is counted; the move's is the first segment's own tag.
    assert after.discontinuity_sequence == 1
    assert (tmp_path / "b" / f"seg-{SESSION}-000008.ts").read_bytes() == bytes([0]) * 188
    names_a = {p.name for p in (tmp_path / "a").glob("*.ts")}
    assert names_a and not names_a & {p.name for p in (tmp_path / "b").glob("*.ts")}


async def test_a_session_new_to_the_site_starts_at_zero(
    redis: coredis.Redis[bytes], tmp_path: Path
) -> None:
    first = await rendition(tmp_path / "a", SiteHLS(redis))
    await first.add(segment(0), None)
    playlist = parse_media_playlist(first.text)
    assert playlist.media_sequence == 0
    assert [(s.uri, s.discontinuity) for s in playlist.segments] == [
        (f"seg-{SESSION}-000000.ts", False)
    ]


async def test_redis_out_of_reach_does_not_hold_the_playlist_up(
    redis: coredis.Redis[bytes], redis_server: RedisServer, tmp_path: Path
) -> None:
    alone = await rendition(tmp_path / "a", SiteHLS(redis))
    await trio.to_thread.run_sync(redis_server.stop)
    with trio.fail_after(10):
        await alone.add(segment(0), None)
        await alone.add(segment(1), None)
    assert [s.uri for s in parse_media_playlist(alone.text).segments] == [
        f"seg-{SESSION}-000000.ts",
        f"seg-{SESSION}-000001.ts",
    ]


async def test_players_seen_on_several_hosts_count_once_until_they_stop(
    redis: coredis.Redis[bytes],
) -> None:
    a, b = SiteHLS(redis), SiteHLS(redis)  # two hosts, one Redis
    await a.players_seen("alice", {"p1", "p2"})
    await b.players_seen("alice", {"p2", "p3"})
    await b.players_seen("bob", {"p1"})
    assert await a.players("alice", WINDOW_S) == 3
    assert await b.players("alice", WINDOW_S) == 3
    assert await a.players("bob", WINDOW_S) == 1
    assert 0 < await redis.ttl("trioflix:hls:players:alice") <= PLAYERS_TTL_S

    # p1 keeps reloading; the others stop and drop out once the window has passed.
    async def only_p1_left() -> bool:
        await a.players_seen("alice", {"p1"})
        return await b.players("alice", WINDOW_S) == 1

    with trio.fail_after(10):
        await wait_until(only_p1_left, poll_s=0.1)


async def test_a_player_that_left_counts_no_more_on_any_host(
    redis: coredis.Redis[bytes],
) -> None:
    a, b = SiteHLS(redis), SiteHLS(redis)
    await a.players_seen("alice", {"p1", "p2"})
    await b.player_left("alice", "p1")
    await b.player_left("alice", "p3")  # never seen: nothing to remove
    assert await a.players("alice", 60) == 1


async def test_a_hub_in_a_cluster_ends_the_session_for_the_site(
    redis: coredis.Redis[bytes], tmp_path: Path
) -> None:
    hub = HLSHub(Settings(data_dir=tmp_path, hls_ladder="off"))
    site = SiteHLS(redis)
    hub.shared = lambda: site
    await site.players_seen("alice", {"p1", "p2"})  # sent at an earlier tick
    await hub.player_left("alice", "p1")
    assert await site.players("alice", 60) == 1


async def test_many_players_at_once(redis: coredis.Redis[bytes]) -> None:
    site = SiteHLS(redis)
    await site.players_seen("alice", {f"player-{n}" for n in range(2500)})  # several batches
    assert await site.players("alice", 60) == 2500
