"""The listener engine every long-running service runs on (S8.2): one sync and the consumers of one ledger
database, stepped in turn in one loop.

Each round the sync stores one chunk of confirmed blocks (:mod:`collab_py.listener.sync`), then every consumer
handles one batch of the store (:mod:`collab_py.listener.consumer`): on SQLite the database then has one writer,
each transaction short, so that no consumer can starve another; on PostgreSQL several engines (processes) may share
a database, their syncs appending one after the other. The loop wakes on ``newHeads`` where the node offers them,
polls in any case, backs off on node and database errors (retrying from the store and the cursors, nothing skipped)
and lets the batch in hand commit before it stops. A reorg deeper than the sync's window halts it.

:class:`Listener` is the engine of one consumer (its sync included), as tests and simple callers build it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Engine as Database
from web3 import Web3

from collab_py.chain.deploy import Deployment
from collab_py.listener.consumer import Consumer, Handler, StoredEvent
from collab_py.listener.heads import HeadWatcher
from collab_py.listener.metrics import ListenerMetrics
from collab_py.listener.sync import ListenerConfig, ReorgTooDeep, Sync, SyncHalted
from collab_py.redaction import scrub

__all__ = ["Engine", "Handler", "Listener", "ListenerConfig", "ReorgTooDeep", "StoredEvent", "SyncHalted"]

log = logging.getLogger("collab.listener")

#: Backoff after an RPC or database error: first delay and ceiling, in seconds.
BACKOFF_START, BACKOFF_MAX = 0.1, 10.0


class Engine:
    """A sync and the consumers of its store, stepped in turn."""

    def __init__(
        self,
        sync: Sync,
        consumers: Sequence[Consumer],
        *,
        heads: HeadWatcher | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.sync = sync
        self.consumers = list(consumers)
        self.heads = heads
        self.poll_interval = poll_interval
        self.halted: SyncHalted | None = None

    @property
    def all_metrics(self) -> list[ListenerMetrics]:
        """The sync's metrics and each consumer's (shared objects counted once), for ``/healthz`` and
        ``/metrics``."""
        found = [self.sync.metrics, *(consumer.metrics for consumer in self.consumers)]
        return list({id(item): item for item in found}.values())

    def step(self) -> bool:
        """One chunk of the chain into the store, then one batch for each consumer; True when all are caught up
        and the chain did not grow meanwhile (a consumer's transactions bring new events)."""
        synced = self.sync.step()
        caught_up = [consumer.step() for consumer in self.consumers]
        sync = self.sync.metrics
        for consumer in self.consumers:
            if consumer.metrics is not sync:
                consumer.metrics.head.set(sync.head.value)
                consumer.metrics.rpc_up.set(1)
                consumer.metrics.lag.set(
                    max(0, sync.lag.value + sync.checkpoint.value - consumer.metrics.checkpoint.value)
                )
        return synced and all(caught_up) and not self.sync.moved()

    def run(self, stop: threading.Event) -> None:
        """Steps until ``stop`` is set (finishing the round in hand); backs off on node and database errors without
        skipping anything; raises :class:`SyncHalted` when it must halt (a reorg too deep, a ledger of another
        deployment)."""
        try:
            self._run(stop)
        finally:
            self.sync.close()

    def _run(self, stop: threading.Event) -> None:
        delay = BACKOFF_START
        while not stop.is_set():
            try:
                caught_up = self.step()
                delay = BACKOFF_START
            except SyncHalted as error:
                self.halted = self.sync.halted = error
                for metrics in self.all_metrics:
                    metrics.halted.set(1)
                log.critical("listener halted: %s", error)
                raise
            except Exception as error:  # node outage, database restart or lock: wait, resume from store and cursors
                for metrics in self.all_metrics:
                    metrics.errors.inc()
                    metrics.rpc_up.set(0)
                reason = f"{type(error).__name__}: {scrub(str(error))}"  # it may quote the node's or database's URL
                log.warning("listener: %s; retrying in %.1f s", reason, delay)
                stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            if caught_up:
                self._wait_for_head(stop)

    def _wait_for_head(self, stop: threading.Event) -> None:
        """Sleeps for the poll interval, less when the head subscription announces a block or ``stop`` is set."""
        if self.heads is None:
            stop.wait(self.poll_interval)
            return
        deadline = time.monotonic() + self.poll_interval
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if self.heads.woken.wait(min(remaining, 0.1)):
                break
        self.heads.woken.clear()

    @property
    def name(self) -> str:
        """The consumers' names, for logs and thread names."""
        return "+".join(consumer.name for consumer in self.consumers) or "sync"


class Listener(Engine):
    """The engine of one consumer, ``consumer`` its name: its own sync of ``database``'s store and its handler.
    ``heads`` wakes it on new blocks; ``on_commit`` sees the events of each committed batch."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        database: Database,
        consumer: str,
        handler: Handler,
        config: ListenerConfig | None = None,
        metrics: ListenerMetrics | None = None,
        heads: HeadWatcher | None = None,
        on_commit: Callable[[Sequence[StoredEvent]], None] | None = None,
    ) -> None:
        config = config or ListenerConfig()
        metrics = metrics or ListenerMetrics(consumer)
        sync = Sync(w3, deployment, database, config, ListenerMetrics("sync", metrics.registry))
        this = Consumer(
            database, consumer, handler, sync.codec, sync.chain_id,
            batch=config.batch_events, metrics=metrics, on_commit=on_commit,
        )  # fmt: skip
        super().__init__(sync, [this], heads=heads, poll_interval=config.poll_interval)
        self.w3 = w3
        self.deployment = deployment
        self.database = database
        self.config = config
        self.consumer = consumer
        self.handler = handler
        self.metrics = metrics
        self.reader = sync.reader
        self.codec = sync.codec
