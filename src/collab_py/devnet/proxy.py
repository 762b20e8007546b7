"""A JSON-RPC proxy in front of a development node, for tests and benchmarks: it refuses ``eth_getLogs`` over more
than ``max_log_range`` blocks with the error a hosted provider gives, and counts the ``eth_getLogs`` calls — in
all, and those that start at or before a given block (the deployment's: a read of the whole history)."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

#: The error of a capped provider (the phrase Infura and Besu use), with JSON-RPC's "limit exceeded" code.
RANGE_ERROR = -32005


class RpcProxy:
    """``with RpcProxy(node.rpc_url, max_log_range=1_000) as proxy: connect(proxy.url)``."""

    def __init__(self, upstream: str, *, max_log_range: int | None = None, full_range_from: int | None = None) -> None:
        self.upstream = urlsplit(upstream)
        self.max_log_range = max_log_range
        self.full_range_from = full_range_from
        self.getlogs = 0
        self.getlogs_full_range = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="rpc-proxy", daemon=True)

    @property
    def url(self) -> str:
        """The proxy's JSON-RPC URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RpcProxy:
        """Serves in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RpcProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Sets the counters back to zero."""
        with self._lock:
            self.getlogs = self.getlogs_full_range = self.refused = 0

    # ------------------------------------------------------------------ serving
    def answer(self, body: bytes) -> bytes:
        """The reply to one JSON-RPC request or batch."""
        request = json.loads(body)
        items = request if isinstance(request, list) else [request]
        refusals = {index: refusal for index, item in enumerate(items) if (refusal := self._check(item)) is not None}
        if not refusals:
            return self.forward(body)
        replies = [
            refusals[index] if index in refusals else json.loads(self.forward(json.dumps(item).encode()))
            for index, item in enumerate(items)
        ]
        return json.dumps(replies if isinstance(request, list) else replies[0]).encode()

    def _check(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """Counts an ``eth_getLogs``; the provider's refusal when its range is over the cap."""
        if item.get("method") != "eth_getLogs":
            return None
        (query,) = item.get("params") or [{}]
        if "blockHash" in query:
            start = end = None
        else:
            start, end = self._block(query.get("fromBlock", "latest")), self._block(query.get("toBlock", "latest"))
        with self._lock:
            self.getlogs += 1
            if start is not None and self.full_range_from is not None and start <= self.full_range_from:
                self.getlogs_full_range += 1
            if start is None or end is None or self.max_log_range is None or end - start + 1 <= self.max_log_range:
                return None
            self.refused += 1
        message = f"query exceeds max block range {self.max_log_range}"
        return {"jsonrpc": "2.0", "id": item.get("id"), "error": {"code": RANGE_ERROR, "message": message}}

    def _block(self, tag: Any) -> int:
        if isinstance(tag, int):
            return tag
        if tag in ("latest", "pending", "safe", "finalized"):
            reply = json.loads(self.forward(b'{"jsonrpc":"2.0","id":0,"method":"eth_blockNumber","params":[]}'))
            return int(reply["result"], 16)
        return 0 if tag == "earliest" else int(tag, 16)

    def forward(self, body: bytes) -> bytes:
        """Sends ``body`` to the node (one kept-alive connection per serving thread)."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        for attempt in range(2):
            if connection is None:
                connection = http.client.HTTPConnection(self.upstream.hostname or "", self.upstream.port, timeout=600)
                self._local.connection = connection
            try:
                connection.request("POST", self.upstream.path or "/", body, {"Content-Type": "application/json"})
                return connection.getresponse().read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = self._local.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _handler(proxy: RpcProxy) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the services' clients expect
        # a reply's headers and body go out in two writes: without TCP_NODELAY the body waits for the client's
        # delayed acknowledgement of the headers (about 40 ms a request on a kept-alive connection)
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                reply = proxy.answer(body)
            except (OSError, http.client.HTTPException):
                self.send_error(502, "node unreachable")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Forward
