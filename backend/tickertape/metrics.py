"""Prometheus metrics: one registry per app, built in create_app, reached via app.state.

Engine gauges and counters are read from `Engine.stats()` at scrape time (a collector), so
the generation thread never touches a metric; latencies are observed on the asyncio side.
Names and meanings: docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tickertape.engine.types import EngineStats

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ttft = Histogram(
            "tickertape_ttft_seconds",
            "Submit to first text of a reply",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inter_token = Histogram(
            "tickertape_inter_token_seconds",
            "Gap between text events of a reply",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stop_latency = Histogram(
            "tickertape_stop_latency_seconds",
            "Client stop to the reply's finish",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.replies = Counter(
            "tickertape_replies_total",
            "Finished replies by finish reason",
            ["finish_reason"],
            registry=r,
        )
        self.connections = Gauge(
            "tickertape_ws_connections", "Open WebSocket connections", registry=r
        )
        self.frames_sent = Counter(
            "tickertape_ws_frames_sent_total", "Frames sent, by type", ["type"], registry=r
        )
        self.coalesced_frames = Counter(
            "tickertape_ws_coalesced_frames_total",
            "Token frames that carried text of more than one engine event",
            registry=r,
        )
        self.resumes = Counter(
            "tickertape_ws_resumes_total", "Resumes served, by source", ["source"], registry=r
        )
        self.slow_disconnects = Counter(
            "tickertape_ws_slow_client_disconnects_total",
            "Clients dropped for not reading",
            registry=r,
        )
        self.commit_latency = Histogram(
            "tickertape_store_commit_seconds",
            "Latency of one group commit",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "tickertape_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "tickertape_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def watch_engine(self, stats: Callable[[], EngineStats]) -> None:
        self.registry.register(_EngineCollector(stats))

    def watch_store(self, queue_depth: Callable[[], int]) -> None:
        self.registry.register(
            _GaugeCollector(
                "tickertape_store_write_queue", "Writes waiting for the writer task", queue_depth
            )
        )


class _EngineCollector(Collector):
    def __init__(self, stats: Callable[[], EngineStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self._stats()
        yield GaugeMetricFamily(
            "tickertape_engine_waiting", "Replies waiting for a slot", s.waiting
        )
        yield GaugeMetricFamily("tickertape_engine_running", "Replies in the batch", s.running)
        yield GaugeMetricFamily("tickertape_engine_max_batch", "Batch slots", s.max_batch)
        yield GaugeMetricFamily("tickertape_engine_alive", "Generation loop alive", int(s.alive))
        yield GaugeMetricFamily(
            "tickertape_engine_last_step_seconds",
            "Duration of the last step",
            s.last_step_ms / 1000,
        )
        yield CounterMetricFamily("tickertape_engine_steps", "Engine steps", s.steps)
        yield CounterMetricFamily(
            "tickertape_engine_prefill_tokens", "Prompt tokens prefilled", s.prefill_tokens
        )
        yield CounterMetricFamily(
            "tickertape_engine_decode_tokens", "Tokens generated", s.decode_tokens
        )
        for name, value in sorted(s.extra.items()):
            safe = "".join(ch if ch.isalnum() else "_" for ch in name)
            yield GaugeMetricFamily(f"tickertape_engine_{safe}", f"Engine statistic {name}", value)


class _GaugeCollector(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name, self._doc, self._read = name, documentation, read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self._name, self._doc, self._read())
