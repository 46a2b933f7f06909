"""The chat panel in two browser profiles: chat, moderation, SuperChat, slow mode, reconnect."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import ONE_BACKEND, PageLog, in_browser, new_context

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server

pytestmark = [pytest.mark.slow, pytest.mark.interop, ONE_BACKEND]


def open_chat(browser: Browser, server: Server, login: tuple[str, dict[str, object]]) -> Page:
    context = new_context(browser, server.url, login=login)
    page = context.new_page()
    PageLog().attach(page)
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

    def scenario(browser: Browser) -> None:
        owner = open_chat(browser, server, alice)
        viewer = open_chat(browser, server, bob)
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
