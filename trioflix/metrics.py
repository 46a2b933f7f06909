"""Prometheus metrics, one registry per application instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.http_requests = Counter(
            "trioflix_http_requests",
            "HTTP requests answered, by route pattern, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "trioflix_http_request_duration_seconds",
            "Time from request to response headers, by route pattern.",
            ["route"],
            registry=self.registry,
        )
        self.internal_pulls = Gauge(
            "trioflix_internal_pulls",
            "Internal pulls other hosts hold open on this host's live channels.",
            registry=self.registry,
        )
        self.internal_pulls_opened = Counter(
            "trioflix_internal_pulls_opened",
            "Internal pulls other hosts opened on this host's live channels.",
            registry=self.registry,
        )
        self.logins_failed = Counter(
            "trioflix_logins_failed", "Failed login attempts.", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
