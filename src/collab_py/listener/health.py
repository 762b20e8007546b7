"""A listener's ``/healthz`` (200 or 503) and Prometheus ``/metrics`` endpoints, served over HTTP.

``/healthz`` answers 503 when the node is unreachable, the sync halted (a reorg deeper than its window) or a
consumer lags more than ``max_lag`` blocks; its body has a line per sync and consumer, which names quarantined
events: those leave the status at 200 (the consumer carries on past them), the body and the
``collab_listener_quarantined`` gauge flag them for an operator.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from collab_py.exceptions import CollabError
from collab_py.listener.metrics import ListenerMetrics


class HealthPortInUse(CollabError):
    """Another process listens on the health port."""


def bind(port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server bound to ``port``, not serving yet (:func:`start`): a listener binds it before it opens its ledger,
    so that a port in use is refused first (:class:`HealthPortInUse`)."""
    try:
        return ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise HealthPortInUse(f"health port {port} is in use: choose another with --health-port") from None


def serve(port: int, metrics: list[ListenerMetrics], max_lag: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serves ``/healthz`` (200 or 503) and ``/metrics`` for ``metrics`` on ``port`` in a daemon thread; returns the
    server."""
    return start(bind(port, host), metrics, max_lag)


def start(server: ThreadingHTTPServer, metrics: list[ListenerMetrics], max_lag: int) -> ThreadingHTTPServer:
    """Serves ``/healthz`` (200 or 503) and ``/metrics`` for ``metrics`` on the bound ``server`` in a daemon thread;
    returns it."""
    registries = list({id(item.registry): item.registry for item in metrics}.values())

    def health() -> tuple[bool, str]:
        states = [item.healthy(max_lag) for item in metrics]
        if len(states) == 1:
            return states[0]
        lines = [f"{item.consumer}: {text}" for item, (_, text) in zip(metrics, states, strict=True)]
        return all(ok for ok, _ in states), "\n".join(lines)

    server.RequestHandlerClass = _handler(registries, health)
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
