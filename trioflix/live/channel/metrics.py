"""Prometheus metrics for live channels, read from the registry at scrape time.

In a cluster the viewers of channels this node relays from their origin are
reported too (viewers, bytes sent, drops: what happens on this node), so that
summing a channel's series over the nodes counts every viewer once; its ingest
figures come from the origin alone.

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
    from collections.abc import Callable, Iterable, Iterator

    from prometheus_client.metrics_core import Metric

    from trioflix.live.channel.registry import StreamRegistry
    from trioflix.live.channel.stream import LiveStream

__all__ = ["LiveCollector"]


def _none() -> Iterable[LiveStream]:
    return ()


class LiveCollector(Collector):
    """The live channels of ``registry``, and the viewers of those ``relayed`` reads."""

    def __init__(
        self, registry: StreamRegistry, relayed: Callable[[], Iterable[LiveStream]] = _none
    ) -> None:
        self._registry = registry
        self._relayed = relayed

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
        local = {stream.channel for stream in streams}
        for stream in self._relayed():
            if stream.channel in local:  # moving here this instant: reported once
                continue
            for protocol, count in stream.viewers_by_protocol().items():
                viewers.add_metric([stream.channel, protocol], count)
            bytes_out.add_metric([stream.channel], stream.bytes_out)
            dropped.add_metric([stream.channel], stream.dropped_total)
        yield GaugeMetricFamily(
            "trioflix_live_channels", "Channels live on this node.", value=len(streams)
        )
        yield from (publishers, viewers, bitrate, bytes_in, bytes_out, dropped)
