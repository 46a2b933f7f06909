"""What the user sees on standard error: tqdm progress bars and the messages between them.

tqdm comes with the ``upload`` extra (``pip install 'trioflix[upload]'``); the
server does not need it, so only the upload command imports this module.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

if TYPE_CHECKING:
    from trioflix.client.arguments import Options

__all__ = ["move_to", "progress_bar", "say"]


def progress_bar(options: Options, **kwargs: Any) -> tqdm[Any]:
    """A bar on standard error, shown if ``--progress`` says so, else if it is a terminal.

    Args:
        options: The command's options (``progress``).
        **kwargs: For :class:`tqdm.tqdm` (``total``, ``unit``, ``desc``...).
    """
    return tqdm(
        file=sys.stderr,
        disable=None if options.progress is None else not options.progress,
        dynamic_ncols=True,
        **kwargs,
    )


def move_to(bar: tqdm[Any], n: float) -> None:
    """Show ``n`` as the bar's position (after a retry, or a percentage from the server)."""
    bar.n = n
    bar.refresh()


def say(message: str) -> None:
    """A message on standard error that does not break a bar being drawn."""
    tqdm.write(f"trioflix upload: {message}", file=sys.stderr)
