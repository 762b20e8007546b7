"""A JSON-RPC proxy in front of anvil that wants credentials the way hosted nodes do: HTTP basic auth (user and
password in the URL) and an API key in the path (``https://user:password@node/v3/<key>``). Requests without them are
refused, so a client that reaches anvil through it carried every credential of its URL."""

from __future__ import annotations

import base64
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote


class CredentialedRpcProxy:
    """Forwards ``POST /v3/<token>`` with the right basic auth to ``upstream``; :attr:`url` carries the credentials.

    :meth:`stop` and :meth:`start` take it down and bring it back on the same port (a node outage)."""

    def __init__(self, upstream: str, user: str, password: str, token: str) -> None:
        self.upstream = upstream
        self.path = f"/v3/{token}"
        self.user, self.password = user, password
        self.forwarded = 0
        self.refused = 0
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """``http://user:password@127.0.0.1:port/v3/<token>``, user and password percent-encoded."""
        userinfo = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"http://{userinfo}@127.0.0.1:{self.port}{self.path}"

    def authorised(self, header: str) -> bool:
        """Whether an ``Authorization`` header carries the user and password (requests encodes them in Latin-1,
        other clients in UTF-8)."""
        kind, _, encoded = header.partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            return False
        expected = f"{self.user}:{self.password}"
        return kind == "Basic" and any(raw == expected.encode(codec, "replace") for codec in ("utf-8", "latin-1"))

    def start(self) -> CredentialedRpcProxy:
        """Listens (on the port it had before, if any) and serves in a daemon thread."""
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != proxy.path or not proxy.authorised(self.headers.get("Authorization", "")):
                    proxy.refused += 1
                    self._reply(401 if self.path == proxy.path else 404, b'{"error": "unauthorised"}')
                    return
                request = urllib.request.Request(proxy.upstream, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=60) as response:
                    answer = response.read()
                proxy.forwarded += 1
                self._reply(200, answer)

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Forward)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="rpc-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stops listening: clients get connection errors."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
