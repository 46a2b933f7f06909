"""Driving the system's Chromium with Playwright from Trio tests.

Playwright's Python API is synchronous (greenlets) or asyncio, never Trio. A
browser scenario is therefore a plain synchronous function run in one worker
thread (``trio.to_thread.run_sync``) while the served trioflix keeps running on
the Trio thread; every Playwright object stays on that one thread. A scenario
that needs Trio again (publish a stream, poll the registry) calls
``trio.from_thread.run``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
import trio

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Browser, BrowserContext, Page

T = TypeVar("T")

# A browser per test is the dearest thing the suite runs; the pages reach the database
# only through the API, whose SQL the tests under tests/trioflix run on every backend.
ONE_BACKEND = pytest.mark.backends(
    "sqlite", reason="pages reach storage only through the API, tested on both elsewhere"
)

CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium as root in a container: no sandbox, no GPU, nothing phoning home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Autoplay with sound, as after a click: the tests check audio+video playback.
    "--autoplay-policy=no-user-gesture-required",
    # WebRTC between the page and the served instance on loopback: offer 127.0.0.1 as
    # a host candidate, and as itself rather than behind an mDNS name.
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
VIEWPORT = {"width": 1280, "height": 720}
# Phones the pages must work on: a common large one and the narrowest still sold.
PHONES = {"390x844": {"width": 390, "height": 844}, "360x740": {"width": 360, "height": 740}}
MIN_TAP_PX = 32  # the smallest control a finger can hit reliably
TIMEOUT_MS = 30_000  # every Playwright wait; a stream's first HLS segments take ~6 s


def require_browser() -> None:
    """Skip (CI fails on skips) unless Playwright and the system Chromium are installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip(f"{CHROMIUM} not found (./dev system-packages installs chromium)")


async def in_browser(scenario: Callable[[Browser], T]) -> T:
    """Launch Chromium in a worker thread, run ``scenario(browser)`` there, close it."""
    require_browser()
    return await trio.to_thread.run_sync(partial(_run_scenario, scenario))


def _run_scenario(scenario: Callable[[Browser], T]) -> T:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop of its own on this thread. Once
    # trio_asyncio is loaded (PostgreSQL tests, or any module importing the store's
    # PostgreSQL backend), its event loop policy would hand this thread a Trio-backed
    # loop that Playwright cannot drive; trio_asyncio makes the policy per thread
    # outside Trio, so the standard one is set here for this thread alone.
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                return scenario(browser)
            finally:
                browser.close()
    finally:
        asyncio.set_event_loop_policy(None)


@dataclass
class PageLog:
    """What the page said on its console, which scripts threw and what its
    Content-Security-Policy refused: asserted empty at the end."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page, *, allow: tuple[str, ...] = ()) -> None:
        def console(message: Any) -> None:
            text = str(message.text)
            if message.type == "error" and not any(part in text for part in allow):
                self.errors.append(f"console: {text}")

        page.on("console", console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        # Every Content-Security-Policy refusal, reported by the page itself, so a
        # policy too strict for the players or the uploader fails the test.
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) => console.error("
            "`CSP violation: ${e.effectiveDirective} refused ${e.blockedURI}`));"
        )


def logged_page(context: BrowserContext, *, allow: tuple[str, ...] = ()) -> tuple[Page, PageLog]:
    """A new page of ``context`` and the :class:`PageLog` watching it (``allow``: console
    errors it expects, such as an API's 4xx)."""
    page = context.new_page()
    log = PageLog()
    log.attach(page, allow=allow)
    return page, log


def new_context(
    browser: Browser, base_url: str, *, login: tuple[str, dict[str, Any]] | None = None
) -> BrowserContext:
    """A fresh profile on ``base_url``; ``login``: (token, user), stored as the pages do."""
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    if login is not None:
        token, user = login
        context.add_init_script(
            "localStorage.setItem('trioflix.token', "
            f"{json.dumps(token)}); localStorage.setItem('trioflix.user', "
            f"{json.dumps(json.dumps(user))});"
        )
    return context


def new_phone_context(browser: Browser, base_url: str, viewport: dict[str, int]) -> BrowserContext:
    """A fresh profile as a phone: ``viewport``, touch screen, mobile layout (no hover)."""
    context = browser.new_context(
        base_url=base_url,
        viewport=viewport,  # type: ignore[arg-type]
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


# Every visible control of the player (and of its settings panel when open): its box and
# the player's, as the page lays them out.
CONTROL_BOXES = """
() => {
  const player = document.querySelector('.player');
  const box = (node) => { const r = node.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, height: r.height}; };
  const all = player.querySelectorAll('.controls button, .controls select, .controls input');
  const controls = [...all]
    .filter((node) => node.getClientRects().length > 0)
    .map((node) => ({name: node.getAttribute('aria-label'), ...box(node)}));
  return {player: box(player), controls};
}
"""


CONTROLS_SHOWN = "getComputedStyle(document.querySelector('.player .controls')).opacity === '1'"
CONTROLS_HIDDEN = "getComputedStyle(document.querySelector('.player .controls')).opacity === '0'"


def tap_video(page: Page) -> None:
    """One tap on the player's picture, above the controls."""
    box = page.locator(".player video").bounding_box()
    assert box is not None
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 3)


def assert_controls_fit(page: Page) -> list[str]:
    """Every visible control lies inside the player's box and is tall enough to tap;
    returns their names."""
    boxes = page.evaluate(CONTROL_BOXES)
    player = boxes["player"]
    names = []
    for control in boxes["controls"]:
        name = control["name"]
        names.append(name)
        assert control["left"] >= player["left"] - 0.5, (name, control, player)
        assert control["right"] <= player["right"] + 0.5, (name, control, player)
        assert control["top"] >= player["top"] - 0.5, (name, control, player)
        assert control["bottom"] <= player["bottom"] + 0.5, (name, control, player)
        if name != "Seek":  # a slider's hit area is its row, wider than its thin track
            assert control["height"] >= MIN_TAP_PX, (name, control)
    return names


def video_time(page: Page) -> float:
    return float(page.evaluate("document.querySelector('video').currentTime"))


def wait_playing(page: Page, *, advance_s: float = 1.5) -> float:
    """Wait until the page's video plays: ``currentTime`` moves ``advance_s`` past where it was."""
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && v.currentTime > 0 }"
    )
    start = video_time(page)
    page.wait_for_function(
        f"() => document.querySelector('video').currentTime > {start + advance_s}"
    )
    return video_time(page)


def time_waits(page: Page) -> None:
    """Start timing the video's waits for data while it should play (``waiting`` to
    ``playing``), for :func:`waits_ms`. A player's own stall events (hls.js's
    ``bufferStalledError``) come with every wait, however short, so waits are timed."""
    page.evaluate(
        """() => {
          window.waits = [];
          window.waitingSince = null;
          const video = document.querySelector('video');
          video.addEventListener('waiting', () => { window.waitingSince = performance.now(); });
          video.addEventListener('playing', () => {
            if (window.waitingSince !== null) {
              window.waits.push(performance.now() - window.waitingSince);
            }
            window.waitingSince = null;
          });
        }"""
    )


def waits_ms(page: Page, stall_ms: float) -> list[float]:
    """The waits :func:`time_waits` saw, in ms; a wait still open counts once it is
    longer than ``stall_ms`` (this waits for that or for its end)."""
    page.wait_for_function(
        f"window.waitingSince === null || performance.now() - window.waitingSince > {stall_ms}"
    )
    waits: list[float] = page.evaluate(
        "window.waits.concat(window.waitingSince === null ? []"
        " : [performance.now() - window.waitingSince])"
    )
    return waits


@dataclass
class Screenshots:
    """Saves page screenshots by name (PNG) into ``directory``."""

    directory: Path

    def save(self, page: Page, name: str, *, full_page: bool = False) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path
