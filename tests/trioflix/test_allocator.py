"""``trioflix serve``'s C allocator policy (docs/architecture.md, "Memory").

Each check runs in a fresh interpreter, untuned and tuned, because the policy is
process-wide and glibc's state (its arenas, its threshold) cannot be undone. Where a
block came from is read off its address: ``id()`` of a ``bytes`` over 512 bytes is
the block glibc's ``malloc`` returned, and ``/proc/self/maps`` says whether that is
in the main heap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from trioflix.allocator import MALLOC_ARENAS

PRELUDE = textwrap.dedent(
    """
    import sys
    from trioflix.allocator import tune_malloc

    if sys.argv[1] == "tuned":
        tune_malloc()

    def heap():
        for line in open("/proc/self/maps"):
            if line.rstrip().endswith("[heap]"):
                start, end = line.split()[0].split("-")
                return int(start, 16), int(end, 16)
        return 0, 0

    def heap_resident_mib():
        lines = iter(open("/proc/self/smaps"))
        for line in lines:
            if line.rstrip().endswith("[heap]"):
                for field in lines:
                    if field.startswith("Rss:"):
                        return int(field.split()[1]) / 1024
        return 0.0

    def arena_of(address):
        start, end = heap()
        # The main arena is the heap; a thread arena's heaps are 64 MiB-aligned.
        return "main" if start <= address < end else address >> 26
    """
)

# A 4 MiB block is mapped on its own; freeing it makes glibc raise its threshold to
# 4 MiB, so an untuned process then takes a 1 MiB block from the heap (and keeps it).
AFTER_A_LARGE_BLOCK = """
large = bytes(4 * 1024 * 1024)
del large
block = bytes(1024 * 1024)
print(arena_of(id(block)) == "main")
"""

# Eight threads alive at once, each allocating: untuned, each gets an arena of its own.
THREADS = """
import threading

barrier = threading.Barrier(8)
arenas = set()

def work():
    barrier.wait()
    block = bytes(1000)
    arenas.add(arena_of(id(block)))
    barrier.wait()

threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(arenas))
"""


# A 40 MiB peak of heap blocks (under the mmap threshold), garbage in reference cycles
# (as buffers are, held by an exception's traceback) with the collector off, each
# followed by a small block that stays, so that once freed they are holes glibc does
# not give back by itself; then the service task, asked to run every 0.05 s, runs
# until the heap's resident pages drop (or 60 s pass).
AFTER_A_PEAK = """
import gc
import trio
from trioflix.allocator import release_free_memory

gc.disable()
kept = []
for _ in range(640):
    cycle = [b"x" * (64 * 1024 - 100)]  # written: resident
    cycle.append(cycle)
    kept.append(b"x" * 1000)  # after each block: the free blocks are holes, not the top
del cycle
held = heap_resident_mib()

async def main():
    async with trio.open_nursery() as nursery:
        await nursery.start(release_free_memory, 0.05)
        with trio.move_on_after(60):
            while heap_resident_mib() > held - 30:
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()

trio.run(main)
print(round(held), round(heap_resident_mib()))
"""


def _run(script: str, mode: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + script, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_a_freed_large_block_does_not_send_the_next_ones_to_the_heap() -> None:
    assert _run(AFTER_A_LARGE_BLOCK, "untuned") == "True"  # what the policy prevents
    assert _run(AFTER_A_LARGE_BLOCK, "tuned") == "False"


def test_worker_threads_share_the_arenas() -> None:
    assert int(_run(THREADS, "untuned")) > MALLOC_ARENAS
    assert int(_run(THREADS, "tuned")) <= MALLOC_ARENAS


def test_only_a_tuned_process_runs_the_release_task() -> None:
    script = "from trioflix.allocator import tuned\nprint(tuned())"
    assert _run(script, "untuned") == "False"
    assert _run(script, "tuned") == "True"


def test_a_freed_peak_goes_back_to_the_kernel() -> None:
    held, after = map(int, _run(AFTER_A_PEAK, "tuned").split())
    assert held >= 40
    assert after <= held - 30
