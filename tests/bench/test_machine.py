"""What every benchmark's report says of its run (bench/_machine.py)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench._machine import SAMPLE_CACHE, add_run_options, run_meta


@dataclass(frozen=True)
class Plan:
    viewers: int = 3


def test_the_run_options_with_and_without_the_sample_cache() -> None:
    plain = argparse.ArgumentParser()
    add_run_options(plain, quick="a smoke run")
    args = plain.parse_args(["--quick", "--json", "out.json"])
    assert (args.quick, args.json, args.keep) == (True, Path("out.json"), False)
    assert not hasattr(args, "cache_dir")

    making_media = argparse.ArgumentParser()
    add_run_options(making_media, quick="a smoke run", sample_cache=True)
    args = making_media.parse_args(["--keep"])
    assert (args.quick, args.json, args.keep, args.cache_dir) == (False, None, True, SAMPLE_CACHE)
    assert making_media.parse_args(["--cache-dir", "/tmp/c"]).cache_dir == Path("/tmp/c")


def test_the_record_of_a_run_as_it_starts() -> None:
    meta = run_meta("nox -s bench -- x --quick", Plan())
    assert meta["command"] == "nox -s bench -- x --quick"
    assert meta["plan"] == {"viewers": 3}
    assert meta["date"].endswith(" UTC")
    assert len(meta["load_start"].split()) == 3
    assert {"cpu", "kernel", "python", "ffmpeg"} <= meta["machine"].keys()
