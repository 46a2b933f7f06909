"""The live benchmark's report: paired ingest ratios to every peer, nginx-rtmp's
latency column and fan-out rows, and a peer too cheap to measure shown as ``n/a``,
not a crash."""

from __future__ import annotations

from typing import Any

from bench.live import NGINX_RTMP, UNPACED, render


def _latency(p50: float) -> dict[str, Any]:
    return {
        "errors_logged": 0,
        "tags": 3000,
        "unmatched_tags": 0,
        "delay_ms": {"p50": p50, "p95": p50 * 2, "p99": p50 * 3, "max": p50 * 4},
        "first_keyframe_ms": {"median": 2.0, "max": 3.0, "missing": 0},
    }


def _fanout(cores: float) -> dict[str, Any]:
    return {
        "viewers": 200,
        "window_s": 10.0,
        "cpu_cores": cores,
        "viewers_per_core": 200 / cores,
        "peak_rss_mib": 50.0,
        "bitrate_min_bps": 3e6,
        "bitrate_median_bps": 3e6,
        "full_rate": 200,
        "viewer_cpu_s": 2.0,
        "errors_logged": 0,
        "load": "1.00 1.00 1.00",
    }


def _server(p50: float, fanout_cores: float | None = None) -> dict[str, Any]:
    fanout = [] if fanout_cores is None else [_fanout(fanout_cores)]
    return {"ingest": [], "fanout": fanout, "latency": _latency(p50)}


def test_paired_ratios_to_each_peer_an_unmeasurable_peer_and_fanout() -> None:
    cpu = {"trioflix": 0.003, UNPACED: 0.004, "nms": 0.004, NGINX_RTMP: 0.0}
    report = {
        "source_bps": 3e6,
        "trioflix": _server(14.0, fanout_cores=0.1),
        UNPACED: _server(0.5),
        "nms": _server(0.3, fanout_cores=0.2),
        NGINX_RTMP: _server(0.2, fanout_cores=0.05),
        "paired_ingest": [
            {
                "publishers": 10,
                "servers": list(cpu),
                "rounds": [
                    {
                        "cpu_per_stream_s": cpu,
                        "ratio": {
                            "nms": {"trioflix": 0.75, UNPACED: 1.0},
                            NGINX_RTMP: {"trioflix": None, UNPACED: None},
                        },
                        "dropped": 0,
                        "errors_logged": 0,
                        "load": "1.00 1.00 1.00",
                    }
                ],
                "median_ratio": {
                    "nms": {"trioflix": 0.75, UNPACED: 1.0},
                    NGINX_RTMP: {"trioflix": None, UNPACED: None},
                },
            }
        ],
    }
    lines = render(report).splitlines()
    header = next(line for line in lines if line.startswith("| publishers each"))
    assert "ratio to nms, per round" in header
    assert f"median ratio to {NGINX_RTMP}" in header
    row = next(line for line in lines if line.startswith("| 10 | trioflix |"))
    assert row.split(" | ")[3:7] == ["0.75", "n/a", "0.75", "n/a"]
    latency = next(line for line in lines if line.startswith("| added delay p50"))
    assert latency == "| added delay p50, ms | 14.0 | 0.5 | 0.3 | 0.2 | 46.67 |"
    table = lines.index(next(line for line in lines if line.startswith("Fan-out"))) + 4
    fanout = lines[table : table + 3]
    assert [row.split(" | ")[1] for row in fanout] == ["trioflix", "nms", NGINX_RTMP]
    assert [row.split(" | ")[6] for row in fanout] == ["2.00", "4.00", "1.00"]
