"""Forms say what is wrong in words a person understands, checking the obvious rules
before sending; what is not there is a 404 page in the site's style."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.browser.helpers import ONE_BACKEND, in_browser, logged_page, new_context

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Request

    from tests.conftest import Server

pytestmark = ONE_BACKEND

# Chromium logs every 4xx answer as a console error; these are the ones asked for.
EXPECTED_4XX = ("status of 404", "status of 409", "status of 422")


async def test_sign_up_checks_the_rules_first_and_shows_the_servers_words(
    server: Server,
) -> None:
    await server.register("taken_name")

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url)
        page, log = logged_page(context, allow=EXPECTED_4XX)
        sent: list[str] = []

        def record(request: Request) -> None:
            if "/api/auth/" in request.url:
                sent.append(request.url)

        page.on("request", record)
        page.goto("/login?register=1")
        username, password = page.locator("#username"), page.locator("#password")
        username_error, password_error = (
            page.locator("#username-error"),
            page.locator("#password-error"),
        )

        # The browser's check: nothing is sent, each message is beside its field.
        username.fill("Bad Name")
        password.fill("short")
        page.get_by_role("button", name="Create account").click()
        assert password_error.text_content() == "Password must be at least 8 characters."
        assert username_error.text_content() == (
            "Username must be 3-32 characters: lowercase letters, digits or _."
        )
        assert username.get_attribute("aria-invalid") == "true"
        assert page.evaluate("document.activeElement.id") == "username"
        assert sent == []

        # The server's check says the same, in the same place (a page without the rule).
        page.evaluate("document.getElementById('password').removeAttribute('minlength')")
        username.fill("new_name")
        page.get_by_role("button", name="Create account").click()
        page.wait_for_function("() => document.getElementById('password-error').textContent")
        assert password_error.text_content() == "Password must be at least 8 characters."
        assert username_error.is_hidden()
        assert len(sent) == 1

        username.fill("taken_name")
        password.fill("long enough")
        page.get_by_role("button", name="Create account").click()
        page.wait_for_function("() => document.getElementById('username-error').textContent")
        assert username_error.text_content() == "The name “taken_name” is taken."
        assert password_error.is_hidden()
        assert "`" not in (page.locator("main").text_content() or "")
        assert log.errors == []
        context.close()

    await in_browser(scenario)


async def test_missing_pages_are_404_pages_and_channel_names_ignore_case(server: Server) -> None:
    await server.register("alice")

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url)
        page, log = logged_page(context, allow=EXPECTED_4XX)
        for path, heading in [
            ("/no/such/page", "Page not found"),
            ("/channel/Nobody", "Channel not found"),
            ("/watch/424242", "Video not found"),
        ]:
            response = page.goto(path)
            assert response is not None
            assert response.status == 404, path
            assert page.get_by_role("heading", level=1).text_content() == heading
            assert page.get_by_role("navigation", name="Main").is_visible()
        page.get_by_role("link", name="Go to the home page").click()
        page.wait_for_url(server.url + "/")

        response = page.goto("/channel/Alice")
        assert response is not None
        assert response.status == 200
        assert page.url == server.url + "/channel/alice"
        page.locator(".chat").wait_for()
        assert log.errors == []
        context.close()

    await in_browser(scenario)
