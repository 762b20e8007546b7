"""Observability of a listener: Prometheus metrics and the ``/healthz`` and ``/metrics`` endpoints."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest


class TrackedGauge:
    """A gauge that also keeps its last value, for the health check."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self.value = 0.0

    def set(self, value: float) -> None:
        """Sets the gauge."""
        self.value = value
        self._gauge.set(value)


class ListenerMetrics:
    """The gauges and counters of one consumer, in a registry of its own."""

    def __init__(self, consumer: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = {"consumer": consumer}

        def gauge(name: str, text: str) -> TrackedGauge:
            child = Gauge(f"collab_listener_{name}", text, labels.keys(), registry=self.registry).labels(**labels)
            return TrackedGauge(child)

        def counter(name: str, text: str) -> Counter:
            return Counter(f"collab_listener_{name}", text, labels.keys(), registry=self.registry).labels(**labels)

        self.head = gauge("head_block", "Latest block of the node.")
        self.checkpoint = gauge("checkpoint_block", "Last block processed.")
        self.lag = gauge("lag_blocks", "Confirmed blocks not processed yet.")
        self.rpc_up = gauge("rpc_up", "1 while the node answers.")
        self.halted = gauge("halted", "1 once a reorg deeper than the window halted the listener.")
        self.events = counter("events", "Chain events processed.")
        self.postings = counter("postings", "Journal entries (and other records) written, reversals included.")
        self.duplicates = counter("duplicates", "Events delivered again and ignored.")
        self.reorgs = counter("reorgs", "Reorgs unwound.")
        self.errors = counter("rpc_errors", "RPC and database errors retried.")

    def healthy(self, max_lag: int) -> tuple[bool, str]:
        """Whether the node answers, the listener is not halted and its lag is at most ``max_lag`` blocks."""
        lag = int(self.lag.value)
        if self.halted.value:
            return False, "halted: reorg deeper than the window"
        if not self.rpc_up.value:
            return False, "node unreachable"
        if lag > max_lag:
            return False, f"lag {lag} blocks > {max_lag}"
        return True, f"ok, lag {lag} blocks"


def serve(port: int, metrics: list[ListenerMetrics], max_lag: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serves ``/healthz`` (200 or 503) and ``/metrics`` for ``metrics`` in a daemon thread; returns the server."""
    registries = [item.registry for item in metrics]

    def health() -> tuple[bool, str]:
        states = [item.healthy(max_lag) for item in metrics]
        return all(ok for ok, _ in states), "; ".join(text for _, text in states)

    server = ThreadingHTTPServer((host, port), _handler(registries, health))
    threading.Thread(target=server.serve_forever, name="collab-health", daemon=True).start()
    return server


def _handler(
    registries: list[CollectorRegistry], health: Callable[[], tuple[bool, str]]
) -> type[BaseHTTPRequestHandler]:
    class Endpoints(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                ok, text = health()
                self._reply(200 if ok else 503, "text/plain", text.encode())
            elif self.path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, b"".join(generate_latest(r) for r in registries))
            else:
                self._reply(404, "text/plain", b"not found")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Endpoints
