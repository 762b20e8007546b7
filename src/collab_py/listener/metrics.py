"""Observability of a listener: its Prometheus gauges and counters, and whether it is healthy."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge


class TrackedGauge:
    """A gauge that also keeps its last value, for the health check."""

    def __init__(self, gauge: Any) -> None:
        self._gauge = gauge
        self.value = 0.0

    def set(self, value: float) -> None:
        """Sets the gauge."""
        self.value = value
        self._gauge.set(value)


_GAUGES = {
    "head_block": "Latest block of the node.",
    "checkpoint_block": "Last block processed.",
    "lag_blocks": "Confirmed blocks not processed yet.",
    "rpc_up": "1 while the node answers.",
    "halted": "1 once the sync halted for an operator (a reorg deeper than its window, another deployment's ledger).",
    "quarantined": "Events the consumer could not process, waiting in quarantine.",
    "read_logs_max": "Most logs one read of the chain held (the sync's; --chunk-blocks bounds it).",
}
_COUNTERS = {
    "events": "Chain events processed (stored, for the sync).",
    "postings": "Journal entries (and other records) written, reversals included.",
    "duplicates": "Events delivered again and ignored.",
    "reorgs": "Reorgs unwound.",
    "rpc_errors": "RPC and database errors retried.",
}
_families: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _family(registry: CollectorRegistry, name: str) -> Any:
    """The metric family ``name`` of ``registry``, made once (consumers of one process share a registry)."""
    with _lock:
        families = _families.setdefault(registry, {})
        if name not in families:
            kind, text = (Gauge, _GAUGES[name]) if name in _GAUGES else (Counter, _COUNTERS[name])
            families[name] = kind(f"collab_listener_{name}", text, ["consumer"], registry=registry)
        return families[name]


class ListenerMetrics:
    """The gauges and counters of one consumer (or of the sync, ``consumer="sync"``), labelled by its name; the
    consumers of one process may share a registry."""

    def __init__(self, consumer: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.consumer = consumer

        def gauge(name: str) -> TrackedGauge:
            return TrackedGauge(_family(self.registry, name).labels(consumer=consumer))

        def counter(name: str) -> Counter:
            child: Counter = _family(self.registry, name).labels(consumer=consumer)
            return child

        self.head = gauge("head_block")
        self.checkpoint = gauge("checkpoint_block")
        self.lag = gauge("lag_blocks")
        self.rpc_up = gauge("rpc_up")
        self.halted = gauge("halted")
        self.quarantined = gauge("quarantined")
        self.read_logs_max = gauge("read_logs_max")
        self.events = counter("events")
        self.postings = counter("postings")
        self.duplicates = counter("duplicates")
        self.reorgs = counter("reorgs")
        self.errors = counter("rpc_errors")

    def healthy(self, max_lag: int) -> tuple[bool, str]:
        """Whether the node answers, the listener is not halted and its lag is at most ``max_lag`` blocks.

        Quarantined events are flagged in the text but leave it healthy: the consumer carries on past them (they
        wait for an operator, ``collab quarantine list``), whereas a halted or lagging one needs attention now."""
        lag = int(self.lag.value)
        quarantined = int(self.quarantined.value)
        flag = f"; {quarantined} events quarantined (collab quarantine list)" if quarantined else ""
        if self.halted.value:
            return False, "halted for an operator (see the log)" + flag
        if not self.rpc_up.value:
            return False, "node unreachable" + flag
        if lag > max_lag:
            return False, f"lag {lag} blocks > {max_lag}" + flag
        return True, f"ok, lag {lag} blocks" + flag
