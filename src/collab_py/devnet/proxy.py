"""A JSON-RPC proxy in front of a development node that behaves like the nodes collab meets in production, for tests
and benchmarks: it refuses methods or parameters with a node's errors (a provider's cap on ``eth_getLogs`` ranges
among them), rewrites what the node answers, can want a hosted node's credentials, can go down and come back on the
same port, and counts the calls.

``with RpcProxy(node.rpc_url) as proxy: connect(proxy.url)``; faults are added and removed while it runs::

    proxy.refuse("eth_maxPriorityFeePerGas", "the method does not exist", code=-32601)
    proxy.refuse("eth_feeHistory", '"pending" is not yet supported', when=lambda params: "pending" in params)
    proxy.rewrite("eth_getBlockByNumber", lambda params, result: {...})
    proxy.cap_log_range(1_000)

Only HTTP: a node behind it offers no ``eth_subscribe``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

#: The error of a capped provider (the phrase Infura and Besu use), with JSON-RPC's "limit exceeded" code.
RANGE_ERROR = -32005

Params = list[Any]
Change = Callable[[Params, Any], Any]

_BLOCK_NUMBER = b'{"jsonrpc":"2.0","id":0,"method":"eth_blockNumber","params":[]}'


@dataclass(eq=False)
class _Refusal:
    method: str
    message: str
    code: int
    when: Callable[[Params], bool]
    times: int | None


class RpcProxy:
    """Forwards JSON-RPC over HTTP to ``upstream``, except what its faults change.

    ``credentials=(user, password, token)``: only ``POST /v3/<token>`` with that user and password in HTTP basic
    auth is served (404 or 401 otherwise), as hosted nodes want; :attr:`url` carries them. ``full_range_from``: the
    block from which an ``eth_getLogs`` counts as a read of the whole history (:attr:`getlogs_full_range`).

    Counters, set back to zero by :meth:`reset`: :attr:`calls` and :attr:`refused` per method (a batch's items each),
    :attr:`getlogs_full_range`."""

    def __init__(
        self,
        upstream: str,
        *,
        credentials: tuple[str, str, str] | None = None,
        full_range_from: int | None = None,
    ) -> None:
        self.upstream = upstream
        self.credentials = credentials
        self.full_range_from = full_range_from
        self.port = 0
        self.calls: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.getlogs_full_range = 0
        self._node = urlsplit(upstream)
        self._refusals: list[_Refusal] = []
        self._rewrites: dict[str, Change] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server: ThreadingHTTPServer | None = None
        self._clients: set[socket.socket] = set()

    @property
    def url(self) -> str:
        """Where clients connect (once started), with the credentials percent-encoded."""
        if self.credentials is None:
            return f"http://127.0.0.1:{self.port}"
        user, password, token = self.credentials
        return f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/v3/{token}"

    # -- serving

    def start(self) -> RpcProxy:
        """Listens (on the port it had before, if any) and serves in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="rpc-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stops listening and drops the clients' kept-alive connections: they get connection errors (an outage)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with self._lock:
            for client in self._clients:
                with contextlib.suppress(OSError):  # the client has gone already
                    client.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> RpcProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

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

    def cap_log_range(self, blocks: int) -> None:
        """Refuses ``eth_getLogs`` over more than ``blocks`` blocks with the error a capped provider gives."""

        def over(params: Params) -> bool:
            start, end = self._block(params, "fromBlock"), self._block(params, "toBlock")
            return start is not None and end is not None and end - start + 1 > blocks

        self.refuse("eth_getLogs", f"query exceeds max block range {blocks}", code=RANGE_ERROR, when=over)

    def rewrite(self, method: str, change: Change) -> None:
        """Passes the node's result for ``method`` through ``change(params, result)``."""
        with self._lock:
            self._rewrites[method] = change

    def clear(self) -> None:
        """Removes every fault."""
        with self._lock:
            self._refusals.clear()
            self._rewrites.clear()

    def reset(self) -> None:
        """Sets the counters back to zero."""
        with self._lock:
            self.calls.clear()
            self.refused.clear()
            self.getlogs_full_range = 0

    # -- answering

    def unauthorised(self, path: str, authorization: str) -> int | None:
        """The HTTP error of a request to ``path`` with that ``Authorization`` header, None if it is served: 404 off
        the token's path, 401 without the user and password (requests encodes them in Latin-1, others in UTF-8)."""
        if self.credentials is None:
            return None
        user, password, token = self.credentials
        if path != f"/v3/{token}":
            return 404
        kind, _, encoded = authorization.partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            return 401
        accepted = {f"{user}:{password}".encode(codec, "replace") for codec in ("utf-8", "latin-1")}
        return None if kind == "Basic" and raw in accepted else 401

    def answer(self, body: bytes) -> bytes:
        """The reply to one JSON-RPC request or batch: forwarded whole, or item by item where a fault applies."""
        request = json.loads(body)
        items = request if isinstance(request, list) else [request]
        faults = [self._faults(item) for item in items]
        if not any(refusal or change for refusal, change in faults):
            return self.forward(body)
        replies = [self._reply(item, *fault) for item, fault in zip(items, faults, strict=True)]
        return json.dumps(replies if isinstance(request, list) else replies[0]).encode()

    def _faults(self, item: dict[str, Any]) -> tuple[_Refusal | None, Change | None]:
        """Counts one request; the refusal and the rewrite that apply to it."""
        method, params = item.get("method", ""), list(item.get("params") or [])
        full_range = (
            method == "eth_getLogs"
            and self.full_range_from is not None
            and (start := self._block(params, "fromBlock")) is not None
            and start <= self.full_range_from
        )
        refusal = self._refusal(method, params)
        with self._lock:
            self.calls[method] += 1
            self.getlogs_full_range += full_range
            if refusal is not None:
                self.refused[method] += 1
            return refusal, self._rewrites.get(method)

    def _refusal(self, method: str, params: Params) -> _Refusal | None:
        """The first refusal of ``method`` whose condition holds (checked unlocked: it may ask the node), used once."""
        with self._lock:
            candidates = [refusal for refusal in self._refusals if refusal.method == method]
        for refusal in candidates:
            if refusal.when(params):
                with self._lock:
                    if refusal not in self._refusals:  # cleared, or used up by another request meanwhile
                        continue
                    if refusal.times is not None:
                        refusal.times -= 1
                        if refusal.times <= 0:
                            self._refusals.remove(refusal)
                return refusal
        return None

    def _reply(self, item: dict[str, Any], refusal: _Refusal | None, change: Change | None) -> dict[str, Any]:
        if refusal is not None:
            error = {"code": refusal.code, "message": refusal.message}
            return {"jsonrpc": "2.0", "id": item.get("id"), "error": error}
        reply: dict[str, Any] = json.loads(self.forward(json.dumps(item).encode()))
        if change is not None and "result" in reply:
            reply["result"] = change(list(item.get("params") or []), reply["result"])
        return reply

    def _block(self, params: Params, key: str) -> int | None:
        """The number of an ``eth_getLogs`` filter's ``fromBlock`` or ``toBlock`` (None for a block hash)."""
        query = params[0] if params else {}
        if "blockHash" in query:
            return None
        tag = query.get(key, "latest")
        if isinstance(tag, int):
            return tag
        if tag in ("latest", "pending", "safe", "finalized"):
            return int(json.loads(self.forward(_BLOCK_NUMBER))["result"], 16)
        return 0 if tag == "earliest" else int(tag, 16)

    def forward(self, body: bytes) -> bytes:
        """Sends ``body`` to the node (one kept-alive connection per serving thread)."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        for attempt in range(2):
            if connection is None:
                connection = http.client.HTTPConnection(self._node.hostname or "", self._node.port, timeout=600)
                self._local.connection = connection
            try:
                connection.request("POST", self._node.path or "/", body, {"Content-Type": "application/json"})
                return connection.getresponse().read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = self._local.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _connected(self, client: socket.socket) -> None:
        with self._lock:
            self._clients.add(client)

    def _disconnected(self, client: socket.socket) -> None:
        """Forgets a client's connection and closes this serving thread's connection to the node."""
        with self._lock:
            self._clients.discard(client)
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _handler(proxy: RpcProxy) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the services' clients expect
        # a reply's headers and body go out in two writes: without TCP_NODELAY the body waits for the client's
        # delayed acknowledgement of the headers (about 40 ms a request on a kept-alive connection)
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            proxy._connected(self.connection)

        def finish(self) -> None:
            proxy._disconnected(self.connection)
            super().finish()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = proxy.unauthorised(self.path, self.headers.get("Authorization", ""))
            if status is not None:
                self._reply(status, b'{"error": "unauthorised"}')
                return
            try:
                reply = proxy.answer(body)
            except (OSError, http.client.HTTPException):
                self.send_error(502, "node unreachable")
                return
            self._reply(200, reply)

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Forward
