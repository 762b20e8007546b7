"""Waking listeners on new blocks: an ``eth_subscribe("newHeads")`` WebSocket subscription where the node offers
one, so that a listener acts within milliseconds of a block instead of at its next poll. Listeners still poll (the
subscription only wakes them early) and never rely on it: a lost connection is reopened with backoff."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from collab_py.redaction import mask_url, remember_url, scrub

log = logging.getLogger("collab.listener")


class HeadWatcher:
    """Sets :attr:`woken` whenever the node at ``ws_url`` announces a new head, and tells ``on_head`` its number."""

    def __init__(self, ws_url: str, on_head: Callable[[int], None] | None = None) -> None:
        self.ws_url = remember_url(ws_url)
        self.on_head = on_head
        self.woken = threading.Event()
        self.heads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collab-heads", daemon=True)

    def start(self) -> HeadWatcher:
        """Starts watching in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops watching."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                with connect(self.ws_url, open_timeout=5, close_timeout=1) as socket:
                    request = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
                    socket.send(json.dumps(request))
                    delay = 0.1
                    while not self._stop.is_set():
                        try:
                            message = json.loads(socket.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        if message.get("method") == "eth_subscription":
                            self.heads += 1
                            self.woken.set()
                            number = message.get("params", {}).get("result", {}).get("number")
                            if self.on_head is not None and isinstance(number, str):
                                self.on_head(int(number, 16))
            except (OSError, WebSocketException, ValueError) as error:
                url, reason = mask_url(self.ws_url), scrub(str(error))
                log.debug("head subscription at %s: %s; reconnecting in %.1f s", url, reason, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
