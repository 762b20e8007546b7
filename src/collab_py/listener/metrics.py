"""Observability of a listener: its Prometheus gauges and counters, and whether it is healthy."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


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
