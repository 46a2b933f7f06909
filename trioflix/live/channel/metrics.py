"""Prometheus metrics for live channels, read from the registry at scrape time.

A collector (rather than gauges updated as things happen) means a channel that
goes offline simply stops being reported: no stale label sets, no cleanup code.
Per-channel labels are bounded by the number of channels live on this node.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from trioflix.live.channel.registry import StreamRegistry

__all__ = ["LiveCollector"]


class LiveCollector(Collector):
    def __init__(self, registry: StreamRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        streams = self._registry.live()
        now = time.monotonic()
        publishers = GaugeMetricFamily(
            "trioflix_live_publishers",
            "Publishers sending to this node, by channel.",
            labels=["channel"],
        )
        viewers = GaugeMetricFamily(
            "trioflix_live_viewers",
            "Viewers of a channel on this node, by playback protocol.",
            labels=["channel", "protocol"],
        )
        bitrate = GaugeMetricFamily(
            "trioflix_live_ingest_bitrate_bits",
            "Ingest bit rate over the last few seconds.",
            labels=["channel"],
        )
        bytes_in = CounterMetricFamily(
            "trioflix_live_ingest_bytes", "Media bytes received this session.", labels=["channel"]
        )
        bytes_out = CounterMetricFamily(
            "trioflix_live_sent_bytes",
            "Media bytes written to viewers this session.",
            labels=["channel"],
        )
        dropped = CounterMetricFamily(
            "trioflix_live_dropped_packets",
            "Packets viewers skipped because they fell behind, this session.",
            labels=["channel"],
        )
        for stream in streams:
            channel = [stream.channel]
            publishers.add_metric(channel, 1)
            for protocol, count in stream.viewers_by_protocol().items():
                viewers.add_metric([stream.channel, protocol], count)
            bitrate.add_metric(channel, stream.stats.bitrate_bps(now))
            bytes_in.add_metric(channel, stream.stats.bytes_in)
            bytes_out.add_metric(channel, stream.bytes_out)
            dropped.add_metric(channel, stream.dropped_total)
        yield GaugeMetricFamily(
            "trioflix_live_channels", "Channels live on this node.", value=len(streams)
        )
        yield from (publishers, viewers, bitrate, bytes_in, bytes_out, dropped)
