"""Prometheus metrics of one app instance: requests, latency per route, live model versions.

Each app owns its ``CollectorRegistry`` so several apps (tests, embedded use) never collide on
metric names. Label children are cached because ``labels()`` lookups are measurable on a
path that serves thousands of requests a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["ServiceMetrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _CallbackCollector(Collector):
    """Gauges read at scrape time from a callback (queue depths, spool size)."""

    def __init__(self, callback: Callable[[], dict[str, float]]) -> None:
        self._callback = callback

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, value in self._callback().items():
            yield GaugeMetricFamily(f"nexafi_{name}", name.replace("_", " "), value=value)


class ServiceMetrics:
    """The counters, histograms and gauges the service exports on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nexafi_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nexafi_http_request_duration_seconds",
            "Server-side request latency by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "nexafi_model_loaded_info",
            "1 for the model version each use case serves.",
            ["use_case", "model", "version"],
            registry=self.registry,
        )
        self.model_load_failures = Counter(
            "nexafi_model_load_failures",
            "Model versions refused at load (verification or warm-up failed).",
            ["use_case"],
            registry=self.registry,
        )
        self.challenger_info = Gauge(
            "nexafi_challenger_loaded_info",
            "1 for the challenger version each use case scores in shadow.",
            ["use_case", "model", "version"],
            registry=self.registry,
        )
        self.shadow_errors = Counter(
            "nexafi_shadow_errors",
            "Challenger (shadow) scorings that raised; the request was answered anyway.",
            ["use_case"],
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(route, method, str(status))
        child.inc()
        hist = self._latency_children.get(route)
        if hist is None:
            hist = self._latency_children[route] = self.latency.labels(route)
        hist.observe(seconds)

    def set_model(self, use_case: str, model: str, version: str | None) -> None:
        """Record which version ``use_case`` serves (None: nothing loaded)."""
        _set_one(self.model_info, use_case, model, version)

    def set_challenger(self, use_case: str, model: str, version: str | None) -> None:
        """Record which version ``use_case`` scores in shadow (None: no challenger)."""
        _set_one(self.challenger_info, use_case, model, version)

    def add_callback(self, callback: Callable[[], dict[str, float]]) -> None:
        """Export gauges computed at scrape time."""
        self.registry.register(_CallbackCollector(callback))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _set_one(gauge: Gauge, use_case: str, model: str, version: str | None) -> None:
    """Leave exactly one ``(use_case, model, version)`` child at 1 (or none for None)."""
    for labels in list(gauge._metrics):
        if labels[0] == use_case:
            gauge.remove(*labels)
    if version is not None:
        gauge.labels(use_case, model, version).set(1)
