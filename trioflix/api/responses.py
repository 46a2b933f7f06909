"""The JSON the routes answer, as types: the OpenAPI document's response schemas.

The routes build their answers as dicts (the ``public()`` methods of the store's
records); these Structs say what those dicts hold, and nothing else: every field
is required unless it is absent from some answers (``UNSET``), and no field may
be added (``additionalProperties: false``), so an answer that grows or changes a
field fails the schemathesis run against the served instance until this module
(and so the document) says the same.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "Audit",
    "Balances",
    "Bans",
    "Channel",
    "ChannelSchedule",
    "Channels",
    "ClusterHosts",
    "Earnings",
    "Emote",
    "Emotes",
    "Entries",
    "EntryAnswer",
    "ErrorBody",
    "EventId",
    "Health",
    "HealthFailure",
    "KeyAnswer",
    "Keys",
    "Ledger",
    "Messages",
    "Moderators",
    "ScheduleEntry",
    "Settings",
    "Soon",
    "Status",
    "Stopped",
    "StoppedHere",
    "SuperChatSent",
    "Terms",
    "Topup",
    "Unfinished",
    "UploadAnswer",
    "UserAnswer",
    "UserToken",
    "VideoAnswer",
    "Videos",
    "WebhookAnswer",
]


class Shape(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of the answers: their fields are all they hold."""


class ErrorDetail(Shape):
    code: str
    message: str
    field: str | msgspec.UnsetType = msgspec.UNSET  # a body value at fault: its JSON path


class ErrorBody(Shape):
    """Every error: ``{"error": {"code", "message"}}`` (:mod:`trioflix.errors`)."""

    error: ErrorDetail


# --- accounts --------------------------------------------------------------


class User(Shape):
    id: int
    name: str
    display_name: str
    created_at: float


class UserToken(Shape):
    token: str
    user: User


class UserAnswer(Shape):
    user: User


# --- stream keys -----------------------------------------------------------


class StreamKey(Shape):
    id: int
    name: str
    key: str
    masked: bool
    enabled: bool
    record: bool
    created_at: float
    last_used_at: float | None


class KeyAnswer(Shape):
    key: StreamKey


class Keys(Shape):
    keys: list[StreamKey]


# --- going live, channels ----------------------------------------------------


class Session(Shape):
    id: int
    state: Literal["ready", "live", "reconnecting", "ended"]
    title: str
    description: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    end_reason: str | None
    peak_viewers: int


class Ingest(Shape):
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: float
    bytes_in: int
    video_frames: int
    audio_frames: int
    timestamp_discontinuities: int
    dropped_frames: int
    viewer_skipped_packets: int


class WHEPRendition(Shape):
    """A rendition a WHEP viewer can ask for: ``source``, a ladder rung (``360p``), a
    multitrack publisher's ``track<N>``; its picture size once known."""

    name: str
    width: int | None
    height: int | None


class Playback(Shape):
    http_flv: str
    ws_flv: str
    hls: str
    rtmp: str | msgspec.UnsetType = msgspec.UNSET  # only when this host takes RTMP
    # LL-HLS, only while the channel is live on this host outside a cluster (docs/hls.md)
    ll_hls: str | msgspec.UnsetType = msgspec.UNSET
    # WHEP, only while the stream can be played over WebRTC here (docs/webrtc.md)
    whep: str | msgspec.UnsetType = msgspec.UNSET
    # the renditions WHEP plays now (``?rendition=NAME``), the source first when it can
    whep_renditions: list[WHEPRendition] | msgspec.UnsetType = msgspec.UNSET


class Publish(Shape):
    server: str | None


ChannelState = Literal["offline", "ready", "live", "reconnecting", "ended"]


class StreamStop(Shape):
    """The streamer ended the stream: the encoder is refused until ``until`` (``None``:
    until they start again)."""

    at: float
    until: float | None
    reason: str


class Status(Shape):
    state: ChannelState
    channel: str
    session: Session | None
    last_session: Session | None  # the newest, ended or not: the next stream's defaults
    stopped: StreamStop | None
    uptime_s: float
    ingest: Ingest | None
    viewers: dict[str, int]  # "total" and one count per protocol served
    playback: Playback
    publish: Publish


class Stopped(Shape):
    state: Literal["offline"]
    session: Session | None
    stopped: StreamStop | None


class LiveChannel(Shape):
    name: str
    display_name: str
    title: str
    started_at: float | None
    viewers: int
    playback: Playback
    thumbnail: str


class Channels(Shape):
    channels: list[LiveChannel]


class Channel(Shape):
    name: str
    display_name: str
    state: ChannelState
    live: bool
    session: Session | None
    viewers: int
    playback: Playback | msgspec.UnsetType = msgspec.UNSET  # while live


# --- scheduled streams -------------------------------------------------------


class ScheduleEntry(Shape):
    id: int
    channel: str
    title: str
    description: str
    starts_at: float
    ends_at: float
    start_local: str  # ISO 8601 in time_zone, with its offset
    time_zone: str
    duration_s: int
    state: Literal["scheduled", "live", "started", "missed", "cancelled"]
    session_id: int | None
    cover_url: str | None
    revision: int
    created_at: float
    updated_at: float


class SoonEntry(ScheduleEntry):
    display_name: str


class EntryAnswer(Shape):
    entry: ScheduleEntry


class Entries(Shape):
    entries: list[ScheduleEntry]


class ChannelSchedule(Shape):
    channel: str
    entries: list[ScheduleEntry]


class Soon(Shape):
    entries: list[SoonEntry]


# --- chat ------------------------------------------------------------------


class RoomSettings(Shape):
    slow_mode_s: int
    emote_only: bool
    min_account_age_s: int
    max_message_length: int


class Settings(Shape):
    settings: RoomSettings


class Messages(Shape):
    messages: list[dict[str, Any]]  # the websocket's frames: docs/chat-protocol.md
    truncated: bool


class Ban(Shape):
    user: str
    until: float | None
    reason: str
    moderator: str | None
    created_at: float


class Bans(Shape):
    bans: list[Ban]


class EventId(Shape):
    event_id: int


class Moderators(Shape):
    moderators: list[str]


class Terms(Shape):
    terms: list[str]


class AuditEntry(Shape):
    id: int
    action: str
    actor: str | None
    target: str | None
    detail: dict[str, Any]
    created_at: float


class Audit(Shape):
    entries: list[AuditEntry]


class SuperChatSent(Shape):
    message_id: int
    superchat_id: int


class EmoteEntry(Shape):
    code: str
    emoji: str | msgspec.UnsetType = msgspec.UNSET  # global emotes
    url: str | msgspec.UnsetType = msgspec.UNSET  # channel emotes
    id: int | msgspec.UnsetType = msgspec.UNSET  # channel emotes


class Emotes(Shape):
    # ``global`` is a keyword: the Python name differs from the JSON one.
    global_: list[EmoteEntry] = msgspec.field(name="global")
    channel: list[EmoteEntry]


class Emote(Shape):
    emote: EmoteEntry


# --- wallet ----------------------------------------------------------------


class Balances(Shape):
    balances: dict[str, int]


class LedgerEntry(Shape):
    id: int
    currency: str
    amount: int
    balance_after: int
    kind: str
    reference: str | None
    created_at: float


class Ledger(Shape):
    entries: list[LedgerEntry]


class TopupResult(Shape):
    reference: str
    status: str


class Topup(Shape):
    topup: TopupResult
    balances: dict[str, int]


class WebhookAnswer(Shape):
    status: Literal["credited", "duplicate", "ignored"]


class Earning(Shape):
    total: int
    count: int


class Earnings(Shape):
    earnings: dict[str, Earning]


# --- uploads, videos -------------------------------------------------------


class Queue(Shape):
    """A video's job: waiting (with how many are taken before it) or running."""

    state: Literal["queued", "running"]
    ahead: int
    retry_at: float | None  # a retry's backoff: not taken before then


class Upload(Shape):
    id: str
    received: int
    length: int | None
    percent: float | None
    state: Literal["uploading", "processing", "ready", "failed"]
    processing_percent: float | None
    queue: Queue | None
    reason: str | None
    video_id: int | None
    filename: str | None
    expires_at: float | None


class UploadAnswer(Shape):
    upload: Upload


class Unfinished(Shape):
    uploads: list[Upload]


class Thumbnails(Shape):
    poster: str
    points: dict[str, str]
    sprite: str
    sprite_vtt: str


class VideoPlayback(Shape):
    hls: str


class Video(Shape):
    id: int
    channel: str
    title: str
    description: str
    origin: Literal["live", "upload"]
    state: str
    progress: float
    failure: str | None
    duration: float | None
    width: int | None
    height: int | None
    created_at: float
    updated_at: float
    thumbnails: Thumbnails | None
    playback: VideoPlayback | None
    ladder: Literal["pending", "failed"] | None  # a recording watchable before its ladder
    queue: Queue | None


class VideoDetail(Video):
    media: dict[str, Any] | None  # the probe's findings
    renditions: list[dict[str, Any]]


class VideoAnswer(Shape):
    video: VideoDetail


class Videos(Shape):
    videos: list[Video]
    next_before: int | None


# --- operations, cluster ---------------------------------------------------


class Health(Shape):
    status: Literal["ok"]
    database: Literal["sqlite", "postgresql"]
    version: str
    commit: str | None  # when run from a git checkout or built from one


class HealthFailure(Shape):
    status: Literal["unavailable"]
    error: ErrorDetail
    version: str
    commit: str | None


class Load(Shape):
    publishers: int
    viewers: int
    viewers_by_protocol: dict[str, int]
    cpu: float


class Host(Shape):
    host: str
    advertise_url: str | None
    started_at: float
    channels: list[str]
    load: Load


class ClusterHosts(Shape):
    mode: str
    this_host: str
    hosts: list[Host]


class StoppedHere(Shape):
    stopped: bool
