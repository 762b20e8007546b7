"""Running a listener in the test's own thread."""

from __future__ import annotations

from collab_py.listener.engine import Listener


def catch_up(listener: Listener) -> None:
    """Steps ``listener`` until it has processed the chain's head."""
    for _ in range(1_000):
        if listener.step():
            return
    raise AssertionError("listener did not catch up")
