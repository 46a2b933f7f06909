"""``trioflix upload``: the whole upload as one command, and its exit statuses."""

from __future__ import annotations

import json
import sys
import time
from typing import IO, TYPE_CHECKING, Any

import httpx

from trioflix import __version__
from trioflix.client.arguments import UsageError, options_from
from trioflix.client.errors import EXIT_INTERRUPTED, EXIT_USAGE, EXIT_VIDEO_FAILED, UploadError
from trioflix.client.progress import move_to, progress_bar, say
from trioflix.client.resume import ResumeStore
from trioflix.client.session import CONNECT_TIMEOUT_S, Session
from trioflix.client.transfer import TusTransfer, upload_file

if TYPE_CHECKING:
    import argparse

    from trioflix.client.arguments import Options

__all__ = ["run", "upload"]

# The server answers 408 after 60 s without a body byte; a response taking
# longer than this means the connection is dead, not that the server is slow.
IO_TIMEOUT_S = 120.0


def run(args: argparse.Namespace, password_input: IO[str] = sys.stdin) -> int:
    """``trioflix upload``: run it and turn failures into a message and an exit status."""
    try:
        options = options_from(args, password_input)
    except UsageError as exc:
        print(f"trioflix upload: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return upload(options)
    except UploadError as exc:
        print(f"trioflix upload: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "\ntrioflix upload: interrupted; run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


def upload(options: Options, out: IO[str] = sys.stdout) -> int:
    """Upload ``options.file`` (resuming if it can) and report the video on ``out``.

    Returns:
        The exit status: 0, or :data:`EXIT_VIDEO_FAILED` if ``--wait`` saw it fail.

    Raises:
        UploadError: With the message and exit status to report.
    """
    timeout = httpx.Timeout(IO_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    headers = {"User-Agent": f"trioflix-upload/{__version__}"}
    store = ResumeStore(options.state_file)
    with (
        httpx.Client(base_url=options.server, timeout=timeout, headers=headers) as client,
        httpx.Client(base_url=options.server, timeout=timeout, headers=headers) as tus_client,
    ):
        session = Session(options, client, say)
        url, size = upload_file(options, TusTransfer(session, tus_client), store)
        upload_id = url.rstrip("/").rsplit("/", 1)[1]
        say(f"uploaded {size} bytes as {url}")
        if not options.wait:
            return _report(options, session.status(upload_id), out)
        deadline = time.monotonic() + options.wait_timeout
        with progress_bar(options, total=100, desc="processing", unit="%") as bar:
            status = session.follow(upload_id, deadline, lambda percent: move_to(bar, percent))
        return _report(options, status, out)


def _report(options: Options, status: dict[str, Any], out: IO[str]) -> int:
    video_id = status.get("video_id")
    result = {
        "upload_id": status["id"],
        "video_id": video_id,
        "state": status["state"],
        "reason": status.get("reason"),
        "video_url": f"{options.server}/api/videos/{video_id}" if video_id else None,
        "hls_url": (
            f"{options.server}/videos/{video_id}/master.m3u8"
            if status["state"] == "ready"
            else None
        ),
    }
    if options.json:
        print(json.dumps(result), file=out)
    else:
        print(f"video {video_id}: {status['state']}", file=out)
        if result["reason"]:
            print(f"  reason: {result['reason']}", file=out)
        for name in ("video_url", "hls_url"):
            if result[name]:
                print(f"  {result[name]}", file=out)
    return EXIT_VIDEO_FAILED if status["state"] == "failed" else 0
