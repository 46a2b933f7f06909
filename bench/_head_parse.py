"""The CPU one LL-HLS request head costs the front door to read, by httptools and by h11.

``python -m bench._head_parse [--calls 20000] [--rounds 5]``

A browser's LL-HLS playlist request (the head hls.js sends every few hundred
milliseconds on a kept-alive connection) is read by
:func:`trioflix.direct.front.parse_head` (httptools) and by
:func:`~trioflix.direct.front.parse_head_with_h11`, each reading whole: the parse,
then the ``Head`` both build from it (the query parsed, the path decoded). Each
figure is the process CPU time per call, the best of the rounds: a shared machine
slows some rounds, never speeds one up.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from trioflix.direct.front import parse_head, parse_head_with_h11

if TYPE_CHECKING:
    from collections.abc import Callable

TARGET = b"/live/a/source/ll.m3u8?vs=abcdefgh&_HLS_msn=3&_HLS_part=1"
HEAD = (
    b"GET " + TARGET + b" HTTP/1.1\r\n"
    b"Host: 127.0.0.1:8080\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    b" Chrome/120.0 Safari/537.36\r\n"
    b"Accept: */*\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Origin: http://127.0.0.1:8080\r\n"
    b"Referer: http://127.0.0.1:8080/watch/a\r\n"
    b"Connection: keep-alive\r\n"
    b"Sec-Fetch-Mode: cors\r\n"
    b"\r\n"
)


def cpu_per_call(read: Callable[[], object], calls: int, rounds: int) -> float:
    """The best round's process CPU time per call, in microseconds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            read()
        best = min(best, (time.process_time() - start) / calls)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    fast = parse_head(HEAD)
    assert fast is not None and fast == parse_head_with_h11(HEAD), "the two readings differ"
    for name, read in (
        ("httptools", lambda: parse_head(HEAD)),
        ("h11", lambda: parse_head_with_h11(HEAD)),
    ):
        print(f"{name}: {cpu_per_call(read, args.calls, args.rounds):.2f} µs CPU a head")


if __name__ == "__main__":
    main()
