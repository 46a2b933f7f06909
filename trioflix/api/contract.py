"""Every JSON route of the API, described: the table the OpenAPI document is built from.

Request bodies are the msgspec Structs the routes decode (:func:`~trioflix.api._http.json_body`),
answers the Structs of :mod:`trioflix.api.responses`. ``tests/trioflix/test_openapi.py``
fails when a route of the app is neither here nor in :data:`NOT_JSON`, or when
an operation here names a route the app does not have; and schemathesis checks
the served instance's answers against the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from trioflix.api import (
    auth,
    chat,
    responses,
    schedule,
    stream_keys,
    streaming,
    videos,
    wallet,
)
from trioflix.cluster.site import STOP_TOKEN_HEADER
from trioflix.uploads.resumable_handler import RESUMABLE_PATH, RESUMABLE_UPLOAD_ROUTE
from trioflix.uploads.service import TUS_PATH

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["NOT_JSON", "OPERATIONS", "Answer", "Operation", "Param"]

Auth = Literal["none", "optional", "required"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One status of an operation: what it means and the JSON it carries (``None``: no body)."""

    description: str
    shape: type | None = responses.ErrorBody


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """A query or header parameter (path parameters come from the route itself)."""

    name: str
    where: Literal["query", "header"] = "query"
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One method of one route.

    Attributes:
        method: Upper case, as the router has it.
        path: The route in OpenAPI's form, ``/api/videos/{video_id}``.
        operation_id: Unique; links name operations by it.
        summary: One line.
        auth: Whether the bearer token is ``required``, ``optional`` (it changes
            what is seen) or not looked at (``none``).
        body: The Struct the route decodes, or a JSON schema for a body it reads
            leniently; ``None`` for no body.
        body_required: ``False`` where an empty body stands for ``{}``.
        body_types: The media types the body may have.
        answers: The statuses this route itself answers. The builder adds what
            every route of its kind answers: 401 with a token, 400/413/415/422
            with a JSON body, 404 with a path parameter, 503 for the database.
        params: Query and header parameters.
        links: OpenAPI links by status: ``{status: {name: link object}}``.
        database: Whether it reads the database (and may answer 503 when it is down).
    """

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    auth: Auth = "none"
    body: type | Mapping[str, Any] | None = None
    body_required: bool = True
    body_types: tuple[str, ...] = ("application/json",)
    answers: Mapping[int, Answer]
    params: tuple[Param, ...] = ()
    links: Mapping[int, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    database: bool = True


_ID = {"type": "string", "pattern": "^[0-9]+$"}
_PAGE = (
    Param(
        name="limit",
        schema={"type": "integer", "minimum": 1, "maximum": 100},
        description="at most this many entries",
    ),
    Param(name="before", schema=_ID, description="entries older than this id (the next page)"),
)
_BAD_QUERY = Answer("`invalid_query`: a query parameter out of range")
_NOT_FOUND = Answer("`not_found`")
_NO_CHANNEL = Answer("`no_such_channel`, `no_such_user` or `not_found`")
_FORBIDDEN = Answer("`forbidden` and the other refusals of chat moderation")
# What a chat action can refuse (trioflix.chat.actions): the websocket's codes.
_CHAT_REFUSALS = {
    400: Answer("the action is refused (its code says why)"),
    403: _FORBIDDEN,
    404: _NO_CHANNEL,
    409: Answer("`limit_reached` and other conflicts"),
    429: Answer("`rate_limited`, `slow_mode` (`Retry-After`)"),
}

OPERATIONS: tuple[Operation, ...] = (
    # --- accounts
    Operation(
        method="POST",
        path="/api/auth/register",
        operation_id="register",
        summary="Create an account; answers a token for it",
        tag="accounts",
        body=auth.RegisterBody,
        answers={
            201: Answer("the new user and a token", responses.UserToken),
            409: Answer("`name_taken`"),
            429: Answer("`too_many_attempts`: too many taken names tried (`Retry-After`)"),
        },
        links={
            201: {
                "LogIn": {
                    "operationId": "login",
                    "requestBody": {
                        "username": "$request.body#/username",
                        "password": "$request.body#/password",
                    },
                }
            }
        },
    ),
    Operation(
        method="POST",
        path="/api/auth/login",
        operation_id="login",
        summary="Log in; answers a token",
        tag="accounts",
        body=auth.LoginBody,
        answers={
            200: Answer("the user and a token", responses.UserToken),
            401: Answer("`invalid_credentials`"),
            429: Answer("`too_many_attempts` (`Retry-After`)"),
        },
    ),
    Operation(
        method="GET",
        path="/api/auth/me",
        operation_id="me",
        summary="The token's user",
        tag="accounts",
        auth="required",
        answers={200: Answer("the user", responses.UserAnswer)},
    ),
    # --- stream keys
    Operation(
        method="POST",
        path="/api/streaming/keys",
        operation_id="createKey",
        summary="A new stream key, shown in full this once",
        tag="stream keys",
        auth="required",
        body=stream_keys.CreateKeyBody,
        body_required=False,
        answers={
            201: Answer("the key, in full", responses.KeyAnswer),
            409: Answer("`limit_reached`: 20 keys already"),
        },
        links={
            201: {
                name: {"operationId": target, "parameters": {"key_id": "$response.body#/key/id"}}
                for name, target in (
                    ("GetKey", "getKey"),
                    ("UpdateKey", "updateKey"),
                    ("DeleteKey", "deleteKey"),
                )
            }
        },
    ),
    Operation(
        method="GET",
        path="/api/streaming/keys",
        operation_id="listKeys",
        summary="The user's keys, masked",
        tag="stream keys",
        auth="required",
        answers={200: Answer("the keys", responses.Keys)},
    ),
    Operation(
        method="GET",
        path="/api/streaming/keys/{key_id}",
        operation_id="getKey",
        summary="One of the user's keys, masked",
        tag="stream keys",
        auth="required",
        answers={200: Answer("the key", responses.KeyAnswer)},
    ),
    Operation(
        method="PUT",
        path="/api/streaming/keys/{key_id}",
        operation_id="updateKey",
        summary="Rename, enable, disable or regenerate a key",
        tag="stream keys",
        auth="required",
        body=stream_keys.UpdateKeyBody,
        answers={200: Answer("the key, in full only when regenerated", responses.KeyAnswer)},
    ),
    Operation(
        method="DELETE",
        path="/api/streaming/keys/{key_id}",
        operation_id="deleteKey",
        summary="Delete a key",
        tag="stream keys",
        auth="required",
        answers={204: Answer("deleted", None)},
    ),
    # --- going live, channels
    Operation(
        method="POST",
        path="/api/streaming/start",
        operation_id="prepareLive",
        summary="Set the next session's title and description",
        tag="streaming",
        auth="required",
        body=streaming.StartBody,
        body_required=False,
        answers={200: Answer("the channel's status", responses.Status)},
    ),
    *(
        Operation(
            method="GET",
            path=path,
            operation_id=operation_id,
            summary="The user's channel: state, session, ingest, viewers, playback URLs",
            tag="streaming",
            auth="required",
            answers={200: Answer("the channel's status", responses.Status)},
        )
        for path, operation_id in (
            ("/api/streaming/status", "liveStatus"),
            ("/api/streaming/start", "liveStatusAtStart"),
        )
    ),
    Operation(
        method="POST",
        path="/api/streaming/stop",
        operation_id="stopLive",
        summary="End the session and disconnect the encoder",
        tag="streaming",
        auth="required",
        answers={
            200: Answer("the ended session", responses.Stopped),
            409: Answer("`not_live`: nothing to stop"),
            503: Answer(
                "`origin_unavailable`: the host the encoder publishes to did not confirm;"
                " `database_unavailable` (`Retry-After`)"
            ),
        },
    ),
    Operation(
        method="GET",
        path="/api/channels",
        operation_id="liveChannels",
        summary="The channels live now, newest first",
        tag="channels",
        answers={200: Answer("the channels", responses.Channels)},
    ),
    Operation(
        method="GET",
        path="/api/channels/{name}",
        operation_id="channel",
        summary="A channel: its state and latest session",
        tag="channels",
        answers={200: Answer("the channel", responses.Channel)},
    ),
    # --- scheduled streams
    Operation(
        method="POST",
        path="/api/schedule",
        operation_id="createScheduled",
        summary="Schedule a stream",
        tag="schedule",
        auth="required",
        body=schedule.CreateEntryBody,
        answers={
            201: Answer("the scheduled stream", responses.EntryAnswer),
            409: Answer("`limit_reached`: 100 scheduled streams to come already"),
        },
    ),
    Operation(
        method="GET",
        path="/api/schedule",
        operation_id="listScheduled",
        summary="The user's scheduled streams to come and of the last week, soonest first",
        tag="schedule",
        auth="required",
        answers={200: Answer("the scheduled streams", responses.Entries)},
    ),
    Operation(
        method="PATCH",
        path="/api/schedule/{entry_id}",
        operation_id="updateScheduled",
        summary="Change, cancel or restore a scheduled stream",
        tag="schedule",
        auth="required",
        body=schedule.UpdateEntryBody,
        answers={
            200: Answer("the scheduled stream", responses.EntryAnswer),
            409: Answer("`not_editable`: it started or was missed; `limit_reached`"),
        },
    ),
    Operation(
        method="DELETE",
        path="/api/schedule/{entry_id}",
        operation_id="deleteScheduled",
        summary="Delete a scheduled stream, and its cover image",
        tag="schedule",
        auth="required",
        answers={
            204: Answer("deleted", None),
            503: Answer("`storage_unavailable`: its cover could not be deleted; try again"),
        },
    ),
    Operation(
        method="PUT",
        path="/api/schedule/{entry_id}/cover",
        operation_id="putScheduledCover",
        summary="Set a scheduled stream's cover image; the body is the image",
        tag="schedule",
        auth="required",
        body={"type": "string", "format": "binary"},
        body_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
        answers={
            200: Answer("the scheduled stream", responses.EntryAnswer),
            404: Answer("`not_found`: no scheduled stream of theirs"),
            413: Answer(
                "`request_entity_too_large`: over `TRIOFLIX_MAX_COVER` bytes (2 MiB by"
                " default); the connection closes"
            ),
            415: Answer("`invalid_image`: not JPEG, PNG, GIF or WebP, or not what its type says"),
            422: Answer("`image_too_large`: over 1920x1920"),
            503: Answer("`storage_unavailable`: the media store is away; try again"),
        },
    ),
    Operation(
        method="DELETE",
        path="/api/schedule/{entry_id}/cover",
        operation_id="deleteScheduledCover",
        summary="Remove a scheduled stream's cover image",
        tag="schedule",
        auth="required",
        answers={
            200: Answer("the scheduled stream", responses.EntryAnswer),
            503: Answer("`storage_unavailable`: the media store is away; try again"),
        },
    ),
    Operation(
        method="GET",
        path="/api/schedule/soon",
        operation_id="scheduledSoon",
        summary="Scheduled streams live now or starting within a day, across channels",
        tag="schedule",
        answers={200: Answer("the scheduled streams", responses.Soon)},
    ),
    Operation(
        method="GET",
        path="/api/channels/{name}/schedule",
        operation_id="channelSchedule",
        summary="A channel's scheduled streams to come and of the last week",
        tag="schedule",
        answers={200: Answer("the scheduled streams", responses.ChannelSchedule)},
    ),
    # --- chat
    Operation(
        method="GET",
        path="/api/chat/{channel}/settings",
        operation_id="chatSettings",
        summary="A chat room's settings",
        tag="chat",
        answers={200: Answer("the settings", responses.Settings)},
    ),
    Operation(
        method="PATCH",
        path="/api/chat/{channel}/settings",
        operation_id="changeChatSettings",
        summary="Change a chat room's settings (moderators)",
        tag="chat",
        auth="required",
        body=chat.SettingsBody,
        answers={200: Answer("the settings", responses.Settings), **_CHAT_REFUSALS},
    ),
    Operation(
        method="GET",
        path="/api/chat/{channel}/messages",
        operation_id="chatMessages",
        summary="Recent chat history, as the websocket sends it",
        tag="chat",
        params=(Param(name="since", schema=_ID, description="only messages after this id"),),
        answers={200: Answer("the messages", responses.Messages)},
    ),
    Operation(
        method="DELETE",
        path="/api/chat/{channel}/messages/{message_id}",
        operation_id="deleteChatMessage",
        summary="Delete a message (moderators)",
        tag="chat",
        auth="required",
        answers={204: Answer("deleted", None), **_CHAT_REFUSALS},
    ),
    Operation(
        method="GET",
        path="/api/chat/{channel}/bans",
        operation_id="chatBans",
        summary="Bans and timeouts in force (moderators)",
        tag="chat",
        auth="required",
        answers={200: Answer("the bans", responses.Bans), 403: _FORBIDDEN},
    ),
    Operation(
        method="POST",
        path="/api/chat/{channel}/bans",
        operation_id="ban",
        summary="Ban a user from the room (moderators)",
        tag="chat",
        auth="required",
        body=chat.BanBody,
        answers={201: Answer("the ban's event", responses.EventId), **_CHAT_REFUSALS},
    ),
    Operation(
        method="DELETE",
        path="/api/chat/{channel}/bans/{user}",
        operation_id="unban",
        summary="Lift a ban or a timeout (moderators)",
        tag="chat",
        auth="required",
        answers={204: Answer("lifted", None), **_CHAT_REFUSALS},
    ),
    Operation(
        method="POST",
        path="/api/chat/{channel}/timeouts",
        operation_id="timeOut",
        summary="Keep a user out of the room for a while (moderators)",
        tag="chat",
        auth="required",
        body=chat.TimeoutBody,
        answers={201: Answer("the timeout's event", responses.EventId), **_CHAT_REFUSALS},
    ),
    Operation(
        method="GET",
        path="/api/chat/{channel}/moderators",
        operation_id="moderators",
        summary="The room's moderators",
        tag="chat",
        answers={200: Answer("their names", responses.Moderators)},
    ),
    *(
        Operation(
            method=method,
            path="/api/chat/{channel}/moderators/{user}",
            operation_id=operation_id,
            summary=summary,
            tag="chat",
            auth="required",
            answers={200: Answer("the moderators", responses.Moderators), **_CHAT_REFUSALS},
        )
        for method, operation_id, summary in (
            ("PUT", "addModerator", "Make a user a moderator (the owner)"),
            ("DELETE", "removeModerator", "Take a moderator's role away (the owner)"),
        )
    ),
    Operation(
        method="GET",
        path="/api/chat/{channel}/blocked-terms",
        operation_id="blockedTerms",
        summary="The room's blocked terms (moderators)",
        tag="chat",
        auth="required",
        answers={200: Answer("the terms", responses.Terms), 403: _FORBIDDEN},
    ),
    Operation(
        method="PATCH",
        path="/api/chat/{channel}/blocked-terms",
        operation_id="changeBlockedTerms",
        summary="Add and remove blocked terms (moderators)",
        tag="chat",
        auth="required",
        body=chat.TermsBody,
        answers={200: Answer("the terms", responses.Terms), **_CHAT_REFUSALS},
    ),
    Operation(
        method="GET",
        path="/api/chat/{channel}/audit",
        operation_id="chatAudit",
        summary="The room's moderation log, newest first (moderators)",
        tag="chat",
        auth="required",
        params=_PAGE,
        answers={
            200: Answer("the entries", responses.Audit),
            403: _FORBIDDEN,
            422: _BAD_QUERY,
        },
    ),
    Operation(
        method="POST",
        path="/api/chat/{channel}/superchats",
        operation_id="superChat",
        summary="Send a paid message from the wallet",
        tag="chat",
        auth="required",
        body=chat.SuperChatBody,
        answers={
            201: Answer("the message and its SuperChat", responses.SuperChatSent),
            402: Answer("`insufficient_funds`"),
            **_CHAT_REFUSALS,
            409: Answer(
                "`idempotency_key_reused`; `superchat_pending` (`Retry-After`): send it again"
            ),
        },
    ),
    Operation(
        method="GET",
        path="/api/chat/{channel}/emotes",
        operation_id="emotes",
        summary="The emotes of the room, for a picker",
        tag="chat",
        answers={200: Answer("global and channel emotes", responses.Emotes)},
    ),
    Operation(
        method="PUT",
        path="/api/chat/{channel}/emotes/{code}",
        operation_id="addEmote",
        summary="Add a channel emote; the body is the image (the owner)",
        tag="chat",
        auth="required",
        body={"type": "string", "format": "binary"},
        body_types=("image/png", "image/gif", "image/webp"),
        answers={
            201: Answer("the emote", responses.Emote),
            403: _FORBIDDEN,
            404: _NO_CHANNEL,
            409: Answer("`code_taken`, `limit_reached`"),
            413: Answer("`image_too_large`: over 64 KiB"),
            415: Answer("`invalid_image`: not PNG, GIF or WebP, or not what its type says"),
            422: Answer("`invalid_code`; `image_too_large`: over 128x128"),
        },
    ),
    Operation(
        method="DELETE",
        path="/api/chat/{channel}/emotes/{code}",
        operation_id="deleteEmote",
        summary="Remove a channel emote (the owner)",
        tag="chat",
        auth="required",
        answers={204: Answer("removed", None), 403: _FORBIDDEN},
    ),
    # --- wallet
    Operation(
        method="GET",
        path="/api/wallet",
        operation_id="balances",
        summary="The user's balances, in minor units per currency",
        tag="wallet",
        auth="required",
        answers={200: Answer("the balances", responses.Balances)},
    ),
    Operation(
        method="GET",
        path="/api/wallet/ledger",
        operation_id="ledger",
        summary="The wallet's entries, newest first",
        tag="wallet",
        auth="required",
        params=_PAGE,
        answers={
            200: Answer("the entries", responses.Ledger),
            404: Answer("`not_found`: a `before` that cannot be an id"),
            422: _BAD_QUERY,
        },
    ),
    Operation(
        method="POST",
        path="/api/wallet/topups",
        operation_id="topUp",
        summary="Top the wallet up with the payment provider",
        tag="wallet",
        auth="required",
        body=wallet.TopupBody,
        answers={
            201: Answer("the top-up and the balances", responses.Topup),
            503: Answer(
                "`payments_unavailable`: no provider takes top-ups here;"
                " `database_unavailable` (`Retry-After`)"
            ),
        },
    ),
    Operation(
        method="POST",
        path="/api/wallet/webhook",
        operation_id="paymentWebhook",
        summary="The payment provider reports a payment (signed)",
        tag="wallet",
        body={"type": "object"},
        params=(
            Param(
                name="Trioflix-Signature",
                where="header",
                description="`t=<unix time>,v1=<hex HMAC-SHA256 of t.body>`",
            ),
        ),
        answers={
            200: Answer("what became of the event", responses.WebhookAnswer),
            400: Answer("`invalid_signature`"),
            404: Answer("`not_found`: no webhook secret is configured"),
            422: Answer("`invalid_body`, `unsupported_currency`, `no_such_user`"),
        },
    ),
    Operation(
        method="GET",
        path="/api/wallet/earnings",
        operation_id="earnings",
        summary="The SuperChats the user's channel received, per currency",
        tag="wallet",
        auth="required",
        answers={200: Answer("the earnings", responses.Earnings)},
    ),
    # --- uploads, videos
    Operation(
        method="GET",
        path="/api/upload/status/{upload_id}",
        operation_id="uploadStatus",
        summary="An upload's progress, then its video's processing",
        tag="uploads",
        auth="required",
        params=(Param(name="token", description="the bearer token, instead of the header"),),
        answers={200: Answer("the upload", responses.UploadAnswer)},
    ),
    Operation(
        method="GET",
        path="/api/upload/unfinished",
        operation_id="unfinishedUploads",
        summary="The user's uploads still waiting for bytes, newest first (to resume or delete)",
        tag="uploads",
        auth="required",
        answers={200: Answer("the unfinished uploads", responses.Unfinished)},
    ),
    Operation(
        method="GET",
        path="/api/videos",
        operation_id="videos",
        summary="Videos, newest first: every ready one, a channel's, or the user's own",
        tag="videos",
        auth="optional",
        params=(
            *_PAGE,
            Param(name="channel", description="only this channel's ready videos"),
            Param(
                name="mine",
                description="`1` or `true`: the user's own videos in every state (token"
                " needed); any other value is not asking for them",
            ),
            Param(
                name="origin",
                schema={"type": "string", "enum": ["live", "upload"]},
                description="only recordings (`live`) or only uploads (`upload`)",
            ),
        ),
        answers={
            200: Answer("a page of videos", responses.Videos),
            404: Answer("`not_found`: a `before` that cannot be an id"),
            422: _BAD_QUERY,
        },
    ),
    Operation(
        method="GET",
        path="/api/videos/{video_id}",
        operation_id="video",
        summary="A video: ready ones are public, others their owner's",
        tag="videos",
        auth="optional",
        answers={200: Answer("the video", responses.VideoAnswer)},
    ),
    Operation(
        method="PATCH",
        path="/api/videos/{video_id}",
        operation_id="changeVideo",
        summary="Change a video's title or description (the owner)",
        tag="videos",
        auth="required",
        body=videos.UpdateVideoBody,
        answers={200: Answer("the video", responses.VideoAnswer)},
    ),
    Operation(
        method="DELETE",
        path="/api/videos/{video_id}",
        operation_id="deleteVideo",
        summary="Delete a video and every file it has (the owner)",
        tag="videos",
        auth="required",
        answers={
            204: Answer("deleted", None),
            503: Answer(
                "`storage_unavailable`: the media store did not answer, the video stays;"
                " `database_unavailable` (`Retry-After`)"
            ),
        },
    ),
    # --- operations, cluster
    Operation(
        method="GET",
        path="/healthz",
        operation_id="health",
        summary="Whether the database answers",
        tag="operations",
        answers={
            200: Answer("healthy", responses.Health),
            503: Answer("the database does not answer", responses.HealthFailure),
        },
    ),
    Operation(
        method="GET",
        path="/api/openapi.json",
        operation_id="openapi",
        summary="This document",
        tag="operations",
        answers={200: Answer("the OpenAPI document", dict)},
        database=False,
    ),
    Operation(
        method="GET",
        path="/api/cluster",
        operation_id="cluster",
        summary="The hosts of the site, their channels and load (off unless enabled)",
        tag="operations",
        auth="required",
        answers={
            200: Answer("the hosts", responses.ClusterHosts),
            404: Answer("`not_found`: the cluster API is off"),
            503: Answer("`cluster_unavailable`: Redis does not answer (`Retry-After`)"),
        },
        database=False,
    ),
    Operation(
        method="POST",
        path="/internal/stop/{channel}",
        operation_id="stopHere",
        summary="Another host of the site has this one stop a channel (site token needed)",
        tag="operations",
        body={"type": "object", "properties": {"reason": {"type": "string"}}},
        body_required=False,
        params=(
            Param(
                name=STOP_TOKEN_HEADER,
                where="header",
                description="a stop token made with the site's shared secret",
            ),
        ),
        answers={
            200: Answer("whether the channel was live here", responses.StoppedHere),
            403: Answer("`forbidden`: no valid stop token"),
        },
    ),
)

#: The routes that are not JSON operations, and why (the test of the document reads it).
NOT_JSON: Mapping[str, str] = {
    "/static/<path:filename>": "Quart's static folder: files, not JSON",
    "/metrics": "Prometheus text format",
    "/live/<channel>.flv": "HTTP-FLV and WS-FLV: an endless FLV body or a websocket (?track=N)",
    "/internal/live/<channel>.flv": "an FLV pull between the hosts of a site",
    "/live/<channel>/whep": "WHEP: an SDP offer in, an SDP answer out (docs/webrtc.md)",
    "/live/<channel>/whep/<session_id>": "a WHEP session: DELETE, PATCH (docs/webrtc.md)",
    "/api/whip": "WHIP: an encoder's SDP offer in, an SDP answer out (docs/webrtc.md)",
    "/api/whip/<session_id>": "a WHIP session: DELETE, PATCH (docs/webrtc.md)",
    "/live/<channel>/master.m3u8": "HLS playlists (docs/hls.md)",
    "/live/<channel>/<rendition>/index.m3u8": "HLS playlists (docs/hls.md)",
    "/live/<channel>/master-ll.m3u8": "LL-HLS playlists (docs/hls.md)",
    "/live/<channel>/<rendition>/ll.m3u8": "LL-HLS playlists, blocking reload (docs/hls.md)",
    "/live/<channel>/<rendition>/<segment>": "HLS segments and parts, MPEG-TS or fMP4",
    "/live/<channel>/thumbnail.jpg": "a JPEG",
    "/live/<channel>/players/<token>": "an HLS player ending its playback session (204, no body)",
    TUS_PATH: "tus 1.0.0: its own protocol of headers and bodies (docs/uploads.md)",
    f"{TUS_PATH}/<upload_id>": "tus 1.0.0: its own protocol of headers and bodies",
    RESUMABLE_PATH: (
        "Resumable Uploads for HTTP: its own protocol of headers and bodies; errors are"
        " application/problem+json (docs/uploads.md)"
    ),
    RESUMABLE_UPLOAD_ROUTE: "Resumable Uploads for HTTP: its own protocol of headers and bodies",
    "/api/upload/status/<upload_id>/events": "server-sent events (text/event-stream)",
    "/videos/<video_id>/<path:name>": "VOD playlists, segments and images",
    "/ws/chat/<channel>": "the chat websocket (docs/chat-protocol.md)",
    "/api/emotes/<emote_id>": "an emote's image",
    "/api/schedule/covers/<entry_id>": "a scheduled stream's cover image",
    "/channels/<name>/schedule.ics": "a channel's schedule as an iCalendar feed (text/calendar)",
    "/": "an HTML page",
    "/channel/<name>": "an HTML page",
    "/watch/<int:video_id>": "an HTML page",
    "/studio": "an HTML page",
    "/upload": "an HTML page",
    "/login": "an HTML page",
    "/assets/<path:filename>": "the pages' scripts and styles",
    "/assets/vendor/<name>": "the pages' npm builds",
    "/assets/v/<digest>/<path:filename>": "the pages' files under the release's digest",
}
