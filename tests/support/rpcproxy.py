"""A JSON-RPC proxy in front of a node that behaves like the nodes collab meets in production: it refuses methods or
parameters, answers with errors instead of results, and rewrites what the node says.

``with RpcProxy(node.rpc_url) as proxy: connect(proxy.url)``; faults are added and removed while it runs::

    proxy.refuse("eth_maxPriorityFeePerGas", "the method does not exist")
    proxy.refuse("eth_feeHistory", '"pending" is not yet supported', when=lambda params: "pending" in params)
    proxy.rewrite("eth_getBlockByNumber", lambda params, result: {...})

Only HTTP: a node behind it offers no ``eth_subscribe``.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests

Params = list[Any]


@dataclass
class _Refusal:
    method: str
    message: str
    code: int
    when: Callable[[Params], bool]
    times: int | None


class RpcProxy:
    """Forwards JSON-RPC over HTTP to ``upstream``, except what its faults change; counts the methods it saw."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self._refusals: list[_Refusal] = []
        self._rewrites: dict[str, Callable[[Params, Any], Any]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="rpc-proxy", daemon=True)

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RpcProxy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- faults

    def refuse(
        self,
        method: str,
        message: str,
        *,
        code: int = -32000,
        when: Callable[[Params], bool] = lambda _params: True,
        times: int | None = None,
    ) -> None:
        """Answers ``method`` with the error ``message`` when ``when(params)`` holds (``times`` times, or always)."""
        with self._lock:
            self._refusals.append(_Refusal(method, message, code, when, times))

    def rewrite(self, method: str, change: Callable[[Params, Any], Any]) -> None:
        """Passes the node's result for ``method`` through ``change(params, result)``."""
        with self._lock:
            self._rewrites[method] = change

    def clear(self) -> None:
        """Removes every fault."""
        with self._lock:
            self._refusals.clear()
            self._rewrites.clear()

    # -- serving

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        method, params = request.get("method", ""), list(request.get("params") or [])
        with self._lock:
            self.calls[method] += 1
            refusal = next((r for r in self._refusals if r.method == method and r.when(params)), None)
            if refusal is not None:
                self.refused[method] += 1
                if refusal.times is not None:
                    refusal.times -= 1
                    if refusal.times <= 0:
                        self._refusals.remove(refusal)
            change = self._rewrites.get(method)
        if refusal is not None:
            error = {"code": refusal.code, "message": refusal.message}
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
        reply: dict[str, Any] = self._session().post(self.upstream, json=request, timeout=30).json()
        if change is not None and "result" in reply:
            reply["result"] = change(params, reply["result"])
        return reply

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                answer: Any = [proxy._answer(item) for item in body] if isinstance(body, list) else proxy._answer(body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
