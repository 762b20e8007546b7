"""Running listeners as services: in threads beside other work (the demo, tests), or as the foreground process of
``collab listen`` that drains and exits cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable
from types import FrameType

from collab_py.listener.engine import Engine

log = logging.getLogger("collab.listener")


class ListenerThread:
    """An engine (a listener) running in a daemon thread until :meth:`stop`."""

    def __init__(self, listener: Engine) -> None:
        self.listener = listener
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"listener-{listener.name}", daemon=True)

    def start(self) -> ListenerThread:
        """Starts the thread."""
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.listener.run(self._stop)
        except BaseException as error:  # kept for the owner: a halted listener must not go unnoticed
            self.error = error

    def stop(self, timeout: float = 30.0) -> None:
        """Asks the listener to finish its round and waits for it; re-raises an error it stopped with."""
        self._stop.set()
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def wait_until(self, block: int, timeout: float = 30.0) -> None:
        """Waits until every consumer of the engine has processed ``block`` (confirmations included)."""
        deadline = time.monotonic() + timeout
        while any(consumer.metrics.checkpoint.value < block for consumer in self.listener.consumers):
            if self.error is not None:
                raise self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.listener.name} did not reach block {block} in {timeout} s")
            time.sleep(0.01)


def run_until_signalled(listeners: Iterable[Engine]) -> None:
    """Runs engines in threads until SIGTERM or SIGINT, then lets each finish its round and returns."""
    threads = [ListenerThread(listener).start() for listener in listeners]
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: draining", signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    while not stop.wait(0.2):
        for thread in threads:
            if thread.error is not None:
                stop.set()
    errors = []
    for thread in threads:
        try:
            thread.stop()
        except BaseException as error:
            errors.append(error)
    if errors:
        raise errors[0]
