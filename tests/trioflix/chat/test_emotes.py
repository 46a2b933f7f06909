"""Channel emotes: uploaded images, validated; parsed into messages on the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .helpers import auth, chat, png

if TYPE_CHECKING:
    from tests.conftest import Server


async def test_channel_emote_upload_and_use(server: Server) -> None:
    owner, _ = await server.register("streamer")
    other, _ = await server.register("other")
    image = png(28, 28)
    headers = {**auth(owner), "Content-Type": "image/png"}
    created = await server.client.put(
        "/api/chat/streamer/emotes/hype", content=image, headers=headers
    )
    assert created.status_code == 201, created.text
    emote = created.json()["emote"]
    assert emote["code"] == "hype" and emote["url"] == f"/api/emotes/{emote['id']}"

    served = await server.client.get(emote["url"])
    assert served.content == image and served.headers["content-type"] == "image/png"
    listed = (await server.client.get("/api/chat/streamer/emotes")).json()
    assert listed["channel"] == [emote]
    assert {"code": "fire", "emoji": "\U0001f525"} in listed["global"]

    with trio.fail_after(20):
        async with chat(server.url, "streamer", owner) as (client, welcome):
            assert welcome["emotes"] == [emote]
            await client.say(":hype: :nope: :fire:")
            message = await client.until("message")
            assert message["segments"] == [
                {"type": "emote", **emote},
                {"type": "text", "text": " :nope: "},
                {"type": "emote", "code": "fire", "emoji": "\U0001f525"},
            ]

    for path, body, content_type, token, status, code in [
        ("hype", image, "image/png", owner, 409, "code_taken"),
        ("fire", image, "image/png", owner, 409, "code_taken"),
        ("x", image, "image/png", owner, 422, "invalid_code"),
        ("big", png(256, 256), "image/png", owner, 422, "image_too_large"),
        ("liar", image, "image/gif", owner, 415, "invalid_image"),
        ("text", b"hello there, not an image", "image/png", owner, 415, "invalid_image"),
        ("mine", image, "image/png", other, 403, "forbidden"),
    ]:
        response = await server.client.put(
            f"/api/chat/streamer/emotes/{path}",
            content=body,
            headers={**auth(token), "Content-Type": content_type},
        )
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"]["code"] == code

    removed = await server.client.delete("/api/chat/streamer/emotes/hype", headers=auth(owner))
    assert removed.status_code == 204
    assert (await server.client.get(emote["url"])).status_code == 404
