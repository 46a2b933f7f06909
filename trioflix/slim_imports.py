"""Loading a library without the optional module it would load for nothing.

Some libraries import an optional dependency whenever it is installed, although
trioflix never takes the path that uses it. aiortc (WebRTC) installs
``cryptography`` and pyOpenSSL; PyJWT then loads ``cryptography`` for its
asymmetric algorithms (trioflix signs with HS256, which needs only ``hmac``), and
botocore loads urllib3's pyOpenSSL adapter only to reach the standard library's
``SSLContext``. Each costs a host 10-12 MiB resident, on every start. httpx
loads its command-line client whenever ``rich`` and ``pygments`` are installed
(as development tools install them): 3 MiB the server never runs.

While a module is hidden, importing it fails as it would if it were not
installed, so those libraries take their fallback; once the library has loaded,
the module is importable again for whatever really needs it (WebRTC's DTLS).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["hidden"]


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Make ``import NAME`` fail inside the block, for each of ``names`` not loaded yet.

    A module already loaded stays as it is: whoever loaded it needed it.
    """
    hide = [name for name in names if name not in sys.modules]
    for name in hide:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hide:
            sys.modules.pop(name, None)
