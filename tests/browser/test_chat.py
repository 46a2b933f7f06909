"""The chat panel in two browser profiles: chat, moderation, SuperChat, slow mode, reconnect;
the studio's chat settings, the emote picker and links in messages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.helpers import ONE_BACKEND, PageLog, in_browser, new_context
from tests.trioflix.chat.helpers import png

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FilePayload, Page

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server

pytestmark = [pytest.mark.slow, pytest.mark.interop, ONE_BACKEND]


def open_chat(
    browser: Browser,
    server: Server,
    login: tuple[str, dict[str, object]],
    sent: list[dict[str, Any]] | None = None,
) -> Page:
    """Alice's channel page, connected to its chat; ``sent`` collects the frames it sends."""
    context = new_context(browser, server.url, login=login)
    page = context.new_page()
    PageLog().attach(page)
    if sent is not None:
        page.on(
            "websocket",
            lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))),
        )
    page.goto("/channel/alice")
    page.wait_for_function("() => document.getElementById('chat').dataset.state === 'connected'")
    return page


def say(page: Page, text: str) -> None:
    page.get_by_label("Chat message", exact=True).fill(text)
    page.get_by_role("button", name="Chat", exact=True).click()


def message(page: Page, text: str) -> object:
    return page.locator(".chat-list .chat-message", has_text=text)


async def test_two_people_chat_and_a_moderator_deletes_a_message(
    server: Server, screenshots: Screenshots
) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")

    def scenario(browser: Browser) -> None:
        owner = open_chat(browser, server, alice)
        viewer = open_chat(browser, server, bob)
        assert owner.locator("#chat").get_attribute("data-role") == "owner"
        assert viewer.locator("#chat").get_attribute("data-role") == "user"

        say(viewer, "hello from bob :fire:")
        owner_copy = owner.locator(".chat-message", has_text="hello from bob")
        owner_copy.wait_for()
        # Global emotes arrive as segments and render as emoji, not as the :code:.
        assert owner_copy.locator(".emoji").text_content() == "🔥"
        say(owner, "welcome, bob")
        viewer.locator(".chat-message", has_text="welcome, bob").wait_for()
        say(viewer, "this one goes")
        doomed = viewer.locator(".chat-message", has_text="this one goes")
        doomed.wait_for()
        # Only a moderator gets the menu.
        assert viewer.locator(".mod-button").count() == 0

        target = owner.locator(".chat-message", has_text="this one goes")
        target.get_by_role("button", name="Moderate message from bob").click()
        owner.get_by_role("menuitem", name="Delete message").click()
        doomed.wait_for(state="detached")
        target.wait_for(state="detached")
        assert viewer.locator(".chat-message", has_text="hello from bob").count() == 1
        screenshots.save(owner, "chat-moderation")

        # A timeout from the same menu: bob's composer shows the countdown.
        owner.locator(".chat-message", has_text="hello from bob").get_by_role(
            "button", name="Moderate message from bob"
        ).click()
        owner.get_by_role("menuitem", name="Timeout bob 1 minute").click()
        viewer.locator(".chat-system", has_text="bob was timed out").wait_for()
        # The timeout frame starts the countdown at once (no send needed to learn it),
        # so bob has no "Chat" button to press; the server's own refusal of a timed-out
        # member is tested in tests/trioflix/chat/test_moderation.py.
        countdown = viewer.get_by_role("button", name="Wait")
        countdown.wait_for()
        assert countdown.is_disabled()
        owner.context.close()
        viewer.context.close()

    await in_browser(scenario)


async def test_superchat_paid_from_the_wallet_appears_pinned(
    server: Server, screenshots: Screenshots
) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")

    sent: list[dict[str, Any]] = []

    def scenario(browser: Browser) -> None:
        owner = open_chat(browser, server, alice)
        viewer = open_chat(browser, server, bob, sent)
        viewer.get_by_role("button", name="SuperChat", exact=True).click()
        viewer.get_by_label("Amount").select_option("1000")
        viewer.get_by_label("Currency").select_option("USD")
        viewer.get_by_label("SuperChat message").fill("great stream")
        viewer.get_by_role("button", name="Send SuperChat").click()
        viewer.get_by_text("Not enough in your wallet").wait_for()

        viewer.get_by_role("button", name="Top up 20.00").click()
        viewer.get_by_text("Wallet: $20.00").wait_for()
        viewer.get_by_role("button", name="Send SuperChat").click()
        for page in (owner, viewer):
            pin = page.locator(".superchat-ticker .superchat-pin", has_text="great stream")
            pin.wait_for()
            assert "$10.00" in (pin.text_content() or "")
            colour = page.locator(".chat-message.superchat").evaluate(
                "(node) => getComputedStyle(node).getPropertyValue('--tier').trim()"
            )
            assert colour == "#ffb300"  # the 10-unit tier (docs/chat-protocol.md)
        viewer.get_by_role("button", name="SuperChat", exact=True).click()
        viewer.get_by_text("Wallet: $10.00").wait_for()
        viewer.get_by_role("button", name="SuperChat", exact=True).click()
        screenshots.save(owner, "chat-superchat")
        owner.context.close()
        viewer.context.close()

    await in_browser(scenario)
    # The refused attempt and its retry are one SuperChat: one idempotency key.
    keys = [frame.get("idempotency_key") for frame in sent if frame["type"] == "superchat"]
    assert len(keys) == 2 and keys[0] == keys[1] and isinstance(keys[0], str), sent


async def test_slow_mode_feedback_and_reconnect_with_backfill(server: Server) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")

    def scenario(browser: Browser) -> None:
        owner = open_chat(browser, server, alice)
        viewer = open_chat(browser, server, bob)
        log = PageLog()
        log.attach(viewer)
        response = owner.request.patch(
            "/api/chat/alice/settings",
            data={"slow_mode_s": 30},
            headers={"Authorization": f"Bearer {alice[0]}"},
        )
        assert response.status == 200
        viewer.get_by_text("Slow mode: one message every 30 s").wait_for()
        say(viewer, "first")
        message(viewer, "first").wait_for()  # type: ignore[attr-defined]
        say(viewer, "second")
        viewer.locator(".chat-feedback", has_text="slow mode").wait_for()
        assert viewer.get_by_role("button", name="Wait").is_disabled()

        # The connection drops; what is said meanwhile arrives after the reconnect, once.
        viewer.evaluate("trioflix.chat.dropConnection()")
        say(owner, "said while you were away")
        message(viewer, "said while you were away").wait_for()  # type: ignore[attr-defined]
        viewer.wait_for_function(
            "() => document.getElementById('chat').dataset.state === 'connected'"
        )
        assert viewer.locator(".chat-message", has_text="said while you were away").count() == 1
        assert viewer.locator(".chat-message", has_text="first").count() == 1
        assert log.errors == []
        owner.context.close()
        viewer.context.close()

    await in_browser(scenario)


def open_studio(browser: Browser, server: Server, login: tuple[str, dict[str, object]]) -> Page:
    context = new_context(browser, server.url, login=login)
    page = context.new_page()
    PageLog().attach(page)
    page.goto("/studio")
    page.wait_for_function("() => document.getElementById('chat-slow-mode').value !== ''")
    return page


def feedback(page: Page) -> str:
    return page.locator(".chat-feedback").text_content() or ""


async def test_streamer_moderates_the_chat_from_the_studio(
    server: Server, screenshots: Screenshots
) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    carol = await server.register("carol")

    def scenario(browser: Browser) -> None:
        studio = open_studio(browser, server, alice)
        viewer = open_chat(browser, server, bob)
        notice = viewer.locator(".chat-feedback")

        # Slow mode set in the studio applies to the viewer's next message at once.
        studio.get_by_label("Slow mode").fill("30")
        studio.get_by_role("button", name="Save chat modes").click()
        studio.get_by_text("Saved.").wait_for()
        viewer.get_by_text("Slow mode: one message every 30 s").wait_for()
        say(viewer, "first")
        message(viewer, "first").wait_for()  # type: ignore[attr-defined]
        say(viewer, "second")
        notice.filter(has_text="slow mode: one message every 30 s").wait_for()
        assert message(viewer, "second").count() == 0  # type: ignore[attr-defined]
        # Emote-only mode and a minimum account age (bob's account is seconds old).
        studio.get_by_label("Slow mode").fill("0")
        studio.get_by_label("Emote-only mode").check()
        studio.get_by_label("Minimum account age").select_option(label="1 day")
        studio.get_by_role("button", name="Save chat modes").click()
        viewer.locator(".chat-modes", has_text="Emote-only mode").wait_for()
        say(viewer, "am I new?")
        notice.filter(has_text="accounts younger than 86400 s cannot chat here").wait_for()
        viewer.get_by_role("button", name="Wait").wait_for()
        studio.get_by_label("Emote-only mode").uncheck()
        studio.get_by_label("Minimum account age").select_option(label="Any")
        studio.get_by_role("button", name="Save chat modes").click()
        viewer.locator(".chat-modes").wait_for(state="hidden")
        # The wait the old setting imposed is lifted with it.
        viewer.get_by_role("button", name="Chat", exact=True).wait_for()

        # A blocked term added in the studio refuses a message containing it.
        studio.get_by_label("Blocked term", exact=True).fill("BadWord")
        studio.get_by_role("button", name="Block", exact=True).click()
        studio.locator("#chat-terms .chip", has_text="badword").wait_for()
        say(viewer, "this has a badword in it")
        notice.filter(has_text="blocked term").wait_for()
        assert message(viewer, "this has a badword").count() == 0  # type: ignore[attr-defined]

        # Ban with a reason, then unban, from the studio.
        studio.get_by_label("User to ban").fill("bob")
        studio.get_by_label("Reason").fill("spam")
        studio.get_by_role("button", name="Apply").click()
        studio.locator("#chat-bans .key-item", has_text="Banned by alice: spam").wait_for()
        notice.filter(has_text="You are banned from this chat: spam.").wait_for()
        assert viewer.get_by_label("Chat message", exact=True).is_disabled()
        studio.get_by_role("button", name="Unban bob").click()
        studio.get_by_text("Nobody is banned or timed out.").wait_for()
        viewer.wait_for_function("() => !document.getElementById('chat-input').disabled")
        assert "banned" not in feedback(viewer)
        say(viewer, "back again")
        message(viewer, "back again").wait_for()  # type: ignore[attr-defined]

        # A moderator named in the studio can time people out from the chat.
        studio.get_by_label("New moderator").fill("carol")
        studio.get_by_role("button", name="Add moderator").click()
        studio.get_by_role("button", name="Remove moderator carol").wait_for()
        moderator = open_chat(browser, server, carol)
        assert moderator.locator("#chat").get_attribute("data-role") == "moderator"
        moderator.locator(".chat-message", has_text="back again").get_by_role(
            "button", name="Moderate message from bob"
        ).click()
        moderator.get_by_role("menuitem", name="Timeout bob 1 minute").click()
        notice.filter(has_text="You are timed out for 1 minute by a moderator.").wait_for()
        assert " left." in feedback(viewer)

        # A timeout with a reason from the studio: why and how long, live and after a reload.
        studio.get_by_label("User to ban").fill("bob")
        studio.get_by_label("Reason").fill("calm down")
        studio.get_by_label("For how long").select_option("600")
        studio.get_by_role("button", name="Apply").click()
        timed_out = "You are timed out for 10 minutes by a moderator: calm down."
        notice.filter(has_text=timed_out).wait_for()
        left = viewer.locator(".chat-feedback .time-left")
        assert (left.text_content() or "").startswith(("10:00", "9:5")), left.text_content()
        studio.locator("#chat-bans .key-item", has_text="calm down").wait_for()
        studio.evaluate(  # the section's top just under the sticky header
            "window.scrollTo(0, document.getElementById('chat-settings').offsetTop - 70)"
        )
        screenshots.save(studio, "studio-chat-settings")
        viewer.reload()
        viewer.wait_for_function(
            "() => document.getElementById('chat').dataset.state === 'connected'"
        )
        notice.filter(has_text=timed_out).wait_for()
        assert viewer.get_by_role("button", name="Wait").is_disabled()
        screenshots.save(viewer, "chat-timed-out")
        studio.get_by_role("button", name="Unban bob").click()
        notice.filter(has_text="timed out").wait_for(state="detached")
        viewer.get_by_role("button", name="Chat", exact=True).wait_for()
        say(viewer, "free again")
        message(viewer, "free again").wait_for()  # type: ignore[attr-defined]
        for page in (studio, viewer, moderator):
            page.context.close()

    await in_browser(scenario)


async def test_emote_picker_and_links_in_messages(server: Server, screenshots: Screenshots) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")

    def scenario(browser: Browser) -> None:
        studio = open_studio(browser, server, alice)
        studio.get_by_label("Emote code").fill("hype")
        upload: FilePayload = {"name": "hype.png", "mimeType": "image/png", "buffer": png(28, 28)}
        studio.get_by_label("Emote image").set_input_files(files=[upload])
        studio.get_by_role("button", name="Upload emote").click()
        studio.get_by_role("button", name="Delete emote :hype:").wait_for()

        # The emote uploaded in the studio is in the viewer's picker and renders as an image.
        viewer = open_chat(browser, server, bob)
        log = PageLog()
        log.attach(studio)
        log.attach(viewer)
        picker = viewer.get_by_role("dialog", name="Emotes")
        viewer.get_by_role("button", name="Emotes").click()
        picker.get_by_role("region", name="This channel").get_by_role(
            "button", name=":hype:"
        ).click()
        picker.wait_for(state="hidden")
        chat_input = viewer.get_by_label("Chat message", exact=True)
        assert chat_input.input_value() == ":hype: "
        chat_input.press("End")
        chat_input.press_sequentially("hello")
        viewer.get_by_role("button", name="Chat", exact=True).click()
        sent = message(viewer, "hello")
        sent.wait_for()  # type: ignore[attr-defined]
        image = sent.locator("img.emote")  # type: ignore[attr-defined]
        assert (image.get_attribute("src") or "").startswith("/api/emotes/")
        viewer.wait_for_function(
            "() => document.querySelector('.chat-message img.emote').naturalWidth === 28"
        )

        # By keyboard: Enter opens it on the first emote, arrows move, Enter inserts.
        chat_input.fill("")
        toggle = viewer.get_by_role("button", name="Emotes")
        toggle.focus()
        toggle.press("Enter")
        first = picker.get_by_role("button", name=":hype:")
        first.wait_for()
        viewer.wait_for_function("() => document.activeElement.dataset.code === 'hype'")
        viewer.keyboard.press("ArrowRight")
        viewer.keyboard.press("Enter")
        assert chat_input.input_value() == ":smile: "
        assert viewer.evaluate("document.activeElement.id") == "chat-input"
        toggle.press("Enter")
        first.wait_for()
        viewer.keyboard.press("Escape")
        picker.wait_for(state="hidden")
        assert viewer.evaluate("document.activeElement.getAttribute('aria-label')") == "Emotes"

        # http(s) URLs become safe links; other schemes and markup stay text.
        say(viewer, "see https://example.com/a?b=1. and javascript:alert(1) or <b>x</b>")
        linked = message(viewer, "see ")
        linked.wait_for()  # type: ignore[attr-defined]
        links = linked.locator("a")  # type: ignore[attr-defined]
        assert links.count() == 1
        assert links.get_attribute("href") == "https://example.com/a?b=1"
        assert links.text_content() == "https://example.com/a?b=1"
        assert links.get_attribute("target") == "_blank"
        assert links.get_attribute("rel") == "nofollow noopener noreferrer"
        text = linked.locator(".chat-text").text_content() or ""  # type: ignore[attr-defined]
        assert "javascript:alert(1) or <b>x</b>" in text
        assert linked.locator("b").count() == 0  # type: ignore[attr-defined]

        toggle.click()
        first.wait_for()
        screenshots.save(viewer, "chat-emote-picker")
        viewer.keyboard.press("Escape")

        # Deleted in the studio: gone from the picker.
        studio.get_by_role("button", name="Delete emote :hype:").click()
        studio.get_by_text("No channel emotes yet.").wait_for()
        toggle.click()
        picker.get_by_role("button", name=":smile:").wait_for()
        assert picker.get_by_role("button", name=":hype:").count() == 0
        assert log.errors == []
        studio.context.close()
        viewer.context.close()

    await in_browser(scenario)


async def test_markup_in_names_messages_and_superchats_renders_as_text(server: Server) -> None:
    """Markup anywhere a user can type reaches the other pages as text, never as elements."""
    people = {}
    for name, display in (
        ("alice", "<i id=pwned-owner>Alice</i>"),
        ("bob", "<img src=x id=pwned-name>"),
    ):
        response = await server.client.post(
            "/api/auth/register",
            json={"username": name, "password": "correct horse", "display_name": display},
        )
        assert response.status_code == 201, response.text
        people[name] = (response.json()["token"], response.json()["user"])
    message_markup = "<img src=x id=pwned-msg><script id=pwned-script></script> :fire:"
    superchat_markup = "<b id=pwned-sc>rich</b>"
    # Emote codes cannot carry markup at all: the API refuses them.
    response = await server.client.put(
        "/api/chat/alice/emotes/<b>x",
        headers={"Authorization": f"Bearer {people['alice'][0]}", "Content-Type": "image/png"},
        content=png(28, 28),
    )
    assert 400 <= response.status_code < 500

    def scenario(browser: Browser) -> None:
        owner = open_chat(browser, server, people["alice"])
        viewer = open_chat(browser, server, people["bob"])
        say(viewer, message_markup)
        viewer.get_by_role("button", name="SuperChat", exact=True).click()
        viewer.get_by_role("button", name="Top up 20.00").click()
        viewer.get_by_text("Wallet: $20.00").wait_for()
        viewer.get_by_label("Amount").select_option("1000")
        viewer.get_by_label("SuperChat message").fill(superchat_markup)
        viewer.get_by_role("button", name="Send SuperChat").click()
        for page in (owner, viewer):
            said = page.locator(".chat-list .chat-message", has_text="<img src=x id=pwned-msg>")
            said.wait_for()
            # The text itself is shown, the emote beside it still an emote.
            assert "<script id=pwned-script></script>" in (said.text_content() or "")
            assert said.locator(".emoji").text_content() == "🔥"
            assert "<img src=x id=pwned-name>" in (said.text_content() or "")
            page.locator(".superchat-pin", has_text=superchat_markup).wait_for()
            injected = page.evaluate(
                "() => [...document.querySelectorAll("
                "'#pwned-owner, #pwned-name, #pwned-msg, #pwned-script, #pwned-sc')]"
                ".map((node) => node.outerHTML)"
            )
            assert injected == []
        owner.context.close()
        viewer.context.close()

    await in_browser(scenario)
