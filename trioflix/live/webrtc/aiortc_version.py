"""The aiortc release :mod:`trioflix.live.webrtc.rtp_sender` was written against.

That module replaces two private methods of aiortc's ``RTCRtpSender`` on each
instance and reads its private state, which any aiortc release may change. The
server checks the installed release when it starts its WebRTC support, by the
package's metadata, so aiortc itself is still imported only with the first
session.
"""

from __future__ import annotations

from importlib.metadata import version

__all__ = ["AIORTC_VERSION", "check_aiortc"]

#: aiortc's version, the one :mod:`trioflix.live.webrtc.rtp_sender` was written for.
AIORTC_VERSION = "1.16.0"


def check_aiortc(installed: str | None = None) -> None:
    """Refuse to serve WebRTC with an aiortc whose internals were not checked.

    Args:
        installed: The aiortc version to check; ``None``: the installed one.

    Raises:
        RuntimeError: It is another aiortc than :data:`AIORTC_VERSION`.
    """
    if installed is None:
        installed = version("aiortc")
    if installed != AIORTC_VERSION:
        raise RuntimeError(
            f"trioflix's WebRTC replaces aiortc {AIORTC_VERSION}'s RTP sending loop, but"
            f" aiortc {installed} is installed: check trioflix/live/webrtc/rtp_sender.py"
            f" against it, or install aiortc {AIORTC_VERSION}"
        )
