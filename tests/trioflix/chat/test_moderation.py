"""Moderation over the websocket and REST: effective at once on every connection, audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from trio_websocket import ConnectionClosed

from .helpers import auth, chat, close_code

if TYPE_CHECKING:
    from tests.conftest import Server


async def test_ban_applies_to_every_connection_of_the_user(server: Server) -> None:
    owner, _ = await server.register("streamer")
    troll, _ = await server.register("troll")
    with trio.fail_after(20):
        async with (
            chat(server.url, "streamer", owner) as (mod, _),
            chat(server.url, "streamer", troll) as (tab1, _),
            chat(server.url, "streamer", troll) as (tab2, _),
        ):
            await tab1.say("first")
            answer = await mod.request({"type": "ban", "user": "troll", "reason": "spam"})
            assert answer["type"] == "ack"
            shown = await tab2.until("ban")
            assert shown["user"]["name"] == "troll" and shown["reason"] == "spam"
            for tab in (tab1, tab2):
                refused = await tab.request({"type": "send", "text": "still here"})
                assert refused["code"] == "banned" and refused["reason"] == "spam"
                assert refused["message"] == "you are banned from this chat: spam"
            assert (await mod.request({"type": "unban", "user": "troll"}))["type"] == "ack"
            await tab2.until("unban")
            await tab2.say("sorry")
        # A new connection after a ban learns it in the welcome.
        await mod_ban(server, owner, "troll")
        async with chat(server.url, "streamer", troll) as (_, welcome):
            assert welcome["banned"] is True and welcome["ban_reason"] == "again"
            assert welcome["banned_until"] is None and "timeout_s" not in welcome
    audit = await server.client.get("/api/chat/streamer/audit", headers=auth(owner))
    actions = [entry["action"] for entry in audit.json()["entries"]]
    assert actions == ["ban", "unban", "ban"]
    assert audit.json()["entries"][0]["target"] == "troll"


async def mod_ban(server: Server, token: str, user: str) -> None:
    response = await server.client.post(
        "/api/chat/streamer/bans", json={"user": user, "reason": "again"}, headers=auth(token)
    )
    assert response.status_code == 201, response.text


async def test_timeout_and_delete(server: Server) -> None:
    owner, _ = await server.register("streamer")
    user, _ = await server.register("chatty")
    with trio.fail_after(20):
        async with (
            chat(server.url, "streamer", owner) as (mod, _),
            chat(server.url, "streamer", user) as (person, _),
        ):
            message_id = await person.say("something regrettable")
            deleted = await server.client.delete(
                f"/api/chat/streamer/messages/{message_id}", headers=auth(owner)
            )
            assert deleted.status_code == 204
            gone = await person.until("delete")
            assert gone["message_id"] == message_id and gone["by"] == "streamer"
            missing = await mod.request({"type": "delete", "message_id": message_id + 1000})
            assert missing["code"] == "not_found"

            answer = await mod.request(
                {"type": "timeout", "user": "chatty", "seconds": 600, "reason": "calm down"}
            )
            assert answer["type"] == "ack"
            shown = await person.until("timeout")
            assert shown["seconds"] == 600
            refused = await person.request({"type": "send", "text": "hello?"})
            assert refused["code"] == "timed_out" and 590 < refused["retry_after"] <= 600
            # The refusal says why and for how long, not only when to retry.
            assert refused["reason"] == "calm down" and refused["seconds"] == 600
            assert refused["until"] == shown["until"]
            assert refused["message"] == "you are timed out in this chat for 600 s: calm down"
            # So does the welcome of another connection during the timeout.
            async with chat(server.url, "streamer", user) as (_, welcome):
                assert welcome["banned"] is False and welcome["banned_until"] == shown["until"]
                assert welcome["ban_reason"] == "calm down" and welcome["timeout_s"] == 600
            too_long = await mod.request(
                {"type": "timeout", "user": "chatty", "seconds": 15 * 86400}
            )
            assert too_long["code"] == "invalid_frame"
    # With everyone gone the room closed: the next one reads the timeout from the database.
    async with chat(server.url, "streamer", user) as (_, welcome):
        assert welcome["ban_reason"] == "calm down" and welcome["timeout_s"] == 600
    # The deleted message is left out of history for whoever joins next.
    async with chat(server.url, "streamer") as (_, welcome):
        kinds = [(f["type"], f.get("message_id")) for f in welcome["history"]]
        assert ("message", None) not in kinds
        assert ("delete", message_id) in kinds


async def test_only_moderators_moderate(server: Server) -> None:
    owner, _ = await server.register("streamer")
    helper, _ = await server.register("helper")
    user, _ = await server.register("someone")
    with trio.fail_after(20):
        async with chat(server.url, "streamer", user) as (person, _):
            refused = await person.request({"type": "ban", "user": "helper"})
            assert refused["code"] == "forbidden"
            promoted = await server.client.put(
                "/api/chat/streamer/moderators/helper", headers=auth(owner)
            )
            assert promoted.json() == {"moderators": ["helper"]}
            async with chat(server.url, "streamer", helper) as (mod, welcome):
                assert welcome["role"] == "moderator"
                assert (await mod.request({"type": "timeout", "user": "someone", "seconds": 5}))[
                    "type"
                ] == "ack"
                no_owner = await mod.request({"type": "ban", "user": "streamer"})
                assert no_owner["code"] == "forbidden"
                not_owner = await mod.request({"type": "moderator", "user": "someone", "add": True})
                assert not_owner["code"] == "forbidden"
    rest = await server.client.post(
        "/api/chat/streamer/bans", json={"user": "helper"}, headers=auth(user)
    )
    assert rest.status_code == 403 and rest.json()["error"]["code"] == "forbidden"
    unknown = await server.client.post(
        "/api/chat/nobody/bans", json={"user": "helper"}, headers=auth(owner)
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "no_such_channel"


async def test_room_settings_and_blocked_terms(server: Server) -> None:
    owner, _ = await server.register("streamer")
    user, _ = await server.register("viewer")
    with trio.fail_after(20):
        async with (
            chat(server.url, "streamer", owner) as (mod, _),
            chat(server.url, "streamer", user) as (person, _),
        ):
            changed = await server.client.patch(
                "/api/chat/streamer/settings", json={"slow_mode_s": 30}, headers=auth(owner)
            )
            assert changed.json()["settings"]["slow_mode_s"] == 30
            assert (await person.until("settings"))["settings"]["slow_mode_s"] == 30
            await person.say("one")
            slow = await person.request({"type": "send", "text": "two"})
            assert slow["code"] == "slow_mode" and 0 < slow["retry_after"] <= 30
            await mod.say("moderators are not slowed")
            await mod.say("really")

            answer = await mod.request({"type": "settings", "slow_mode_s": 0, "emote_only": True})
            assert answer["type"] == "ack"
            await person.until("settings")
            words = await person.request({"type": "send", "text": "words :smile:"})
            assert words["code"] == "emote_only"
            await person.say(":smile: :heart:")

            await mod.request({"type": "settings", "emote_only": False})
            await person.until("settings")
            terms = await server.client.patch(
                "/api/chat/streamer/blocked-terms", json={"add": ["BadWord"]}, headers=auth(owner)
            )
            assert terms.json() == {"terms": ["badword"]}
            blocked = await person.request({"type": "send", "text": "a BADWORD here"})
            assert blocked["code"] == "blocked_term"
            hidden = await server.client.get("/api/chat/streamer/blocked-terms", headers=auth(user))
            assert hidden.status_code == 403

            await mod.request({"type": "settings", "min_account_age_s": 3600})
            await person.until("settings")
            young = await person.request({"type": "send", "text": "new here"})
            assert young["code"] == "account_too_new"


async def test_rate_limit_and_flooding(server: Server) -> None:
    await server.register("streamer")
    user, _ = await server.register("spammer")
    with trio.fail_after(30):
        async with chat(server.url, "streamer", user) as (person, _):
            codes = []
            for i in range(25):
                answer = await person.request({"type": "send", "text": f"msg {i}"})
                codes.append(answer.get("code", answer["type"]))
            assert codes[:20] == ["ack"] * 20
            assert set(codes[20:]) == {"rate_limited"}
            # Garbage is answered, frame by frame, then the connection is closed.
            await person.ws.send_message("not json")
            assert (await person.until("error"))["code"] == "malformed_frame"
            await person.ws.send_message('{"type": "send", "nonce": "x1", "text": 5}')
            invalid = await person.until("error")
            assert invalid["code"] == "invalid_frame" and invalid["nonce"] == "x1"
            # One at a time, each answer read before the next, so nothing is unread at close.
            answers = 0
            code = None
            try:
                for _ in range(100):
                    await person.ws.send_message("{}")
                    assert (await person.until("error"))["code"] in (
                        "invalid_frame",
                        "rate_limited",
                    )
                    answers += 1
            except ConnectionClosed as closed:
                code = close_code(closed)
            assert code == 1008
            assert 40 <= answers < 50  # the limit counts every refusal in a row
