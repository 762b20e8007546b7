"""The sync: one per ledger database, it reads our contracts' logs once into the event store (S8.2).

It reads every event of the registry and the escrow with the one log reader (chunked, a range the node refuses is
halved, the span that worked is kept), from its position (or the manifest's deployment block) up to the head less
``confirmations``, a chunk of about :data:`LOGS_PER_CHUNK` logs at a time, the next one read while the last is
decoded and stored, and appends them to ``chain_log`` decoded, with their block hashes, in one short transaction per
chunk that also moves its position: a replay after a crash stores nothing twice. It keeps the hashes of recent
blocks; when the block of its position is no longer on the chain it walks back to the common ancestor within its
window, flags the rows of the orphaned blocks and appends an ``Orphaned`` marker for each (nothing is deleted), so
that every consumer meets the reorg in sequence. It halts (:class:`SyncHalted`) where an operator must look before
anything is posted: a reorg deeper than the window (:class:`ReorgTooDeep`), a ledger of another deployment
(:class:`LedgerOfAnotherDeployment`: a ledger follows the deployment it started with).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine, update
from web3 import Web3
from web3.exceptions import BlockNotFound

from collab_py.chain.build import load_artifact
from collab_py.chain.deploy import Deployment
from collab_py.chain.logs import EVENT_SOURCES, EventCodec, LogReader, RawLog
from collab_py.chain.transactor import rpc_request
from collab_py.exceptions import CollabError
from collab_py.ledger import store
from collab_py.ledger.database import writer
from collab_py.ledger.schema import sync_state
from collab_py.listener.metrics import ListenerMetrics

log = logging.getLogger("collab.listener")

#: Blocks of the first read; later reads aim at :data:`LOGS_PER_CHUNK` logs (within ``chunk_blocks``).
FIRST_SPAN = 16
LOGS_PER_CHUNK = 5_000
#: A chunk read: its last block, that block's hash, the logs as the node sent them.
Fetched = tuple[int, bytes, list[RawLog]]


class SyncHalted(CollabError):
    """The sync cannot go on without an operator: it halts rather than guess."""


class ReorgTooDeep(SyncHalted):
    """The chain reorganised deeper than the sync's block window."""


class LedgerOfAnotherDeployment(SyncHalted):
    """The ledger holds another deployment's events than the manifest's (same chain): reading on from its position
    would skip the new deployment's earlier events and mix two deployments' books."""


@dataclass(frozen=True)
class ListenerConfig:
    """How the sync reads the chain and the consumers read the store: blocks to wait for (``confirmations``),
    reorg window, most blocks read in one chunk (one transaction), seconds between polls, most store rows a
    consumer handles in one transaction."""

    confirmations: int = 12
    window: int = 128
    chunk_blocks: int = 5_000
    poll_interval: float = 1.0
    batch_events: int = 5_000


class Sync:
    """Reads the logs of ``deployment``'s contracts into the event store of ``database``."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        database: Engine,
        config: ListenerConfig | None = None,
        metrics: ListenerMetrics | None = None,
    ) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.database = database
        self.config = config or ListenerConfig()
        self.metrics = metrics or ListenerMetrics("sync")
        self.chain_id = deployment.manifest.chain_id
        self.codec = EventCodec([load_artifact(name).abi for name in EVENT_SOURCES])
        addresses = [deployment.registry.address, deployment.escrow.address]
        self.reader = LogReader(w3, addresses, self.codec.topics, self.config.chunk_blocks)
        self._contracts = (bytes.fromhex(addresses[0][2:]), bytes.fromhex(addresses[1][2:]))
        self._followed = False  # whether the ledger was found to follow this deployment
        self.halted: SyncHalted | None = None
        self._writer = writer(database)
        self._idle_at: tuple[int, bytes] | None = None  # the head at which the sync last found nothing to do
        self._span = min(self.config.chunk_blocks, FIRST_SPAN)  # blocks read at once, adapted to the logs they hold
        self._fetcher: ThreadPoolExecutor | None = None
        self._next: tuple[int, bytes, Future[Fetched | None]] | None = None  # a chunk read ahead, after this block

    @property
    def position(self) -> int:
        """The last block stored (-1 before the first step)."""
        with self.database.connect() as connection:
            found = store.sync_position(connection, self.chain_id)
        return -1 if found is None else found[0]

    def moved(self) -> bool:
        """Whether the chain has a block the sync's last step did not see."""
        return int(self.w3.eth.block_number) != int(self.metrics.head.value)

    def step(self) -> bool:
        """Stores one chunk of confirmed blocks; returns True when the store holds every confirmed block."""
        head = self._block("latest")
        self.metrics.rpc_up.set(1)
        self.metrics.head.set(head[0])
        if head == self._idle_at:  # nothing new since the last poll: one request per poll while idle
            return True
        target = head[0] - self.config.confirmations
        number, known_hash = self._position()
        self.metrics.checkpoint.set(number)
        self.metrics.lag.set(max(0, target - number))
        if self._hash_of(number) != known_hash:
            self._unwind(number)
            return False
        if number >= target:
            self._idle_at = head
            return True
        fetched = self._take_prefetched(number, known_hash, target)
        if fetched is None:
            fetched = self._fetch(number, known_hash, min(target, number + self._span))
            if fetched is None:
                return False  # the chain moved under the query: read it again
        end, end_hash, logs = fetched
        self._adapt(end - number, len(logs))
        if len(logs) > self.metrics.read_logs_max.value:  # what a read holds in memory while it is decoded
            self.metrics.read_logs_max.set(len(logs))
        if end < target:  # the node serialises the next chunk while this one is decoded and stored
            self._prefetch(end, end_hash, min(target, end + self._span))
        rows = [self.codec.row(entry) for entry in logs]
        blocks = {row.block_number: row.block_hash for row in rows} | {end: end_hash}
        with self._writer.begin() as connection:
            if store.sync_position(connection, self.chain_id, lock=True) != (number, known_hash):
                return False  # another sync of this database moved on meanwhile: start from where it is
            appended, seen = store.append(connection, self.chain_id, rows)
            store.remember_blocks(connection, self.chain_id, blocks, forget_below=end - self.config.window)
            store.move_sync(connection, self.chain_id, number, end, end_hash)
        self.metrics.events.inc(appended)
        self.metrics.duplicates.inc(seen)
        self.metrics.checkpoint.set(end)
        self.metrics.lag.set(target - end)
        return end >= target

    # ------------------------------------------------------------------ reading ahead
    def _fetch(self, after: int, after_hash: bytes, end: int) -> Fetched | None:
        """The logs of blocks ``after + 1`` to ``end``, if the chain did not move under the query (the hash of
        ``end`` is the same before and after it, and ``after`` is still the block the sync stands on)."""
        end_hash = self._hash_of(end)
        logs = self.reader.fetch(after + 1, end)
        if self._hash_of(end) != end_hash or self._hash_of(after) != after_hash:
            return None
        return end, end_hash, logs

    def _prefetch(self, after: int, after_hash: bytes, end: int) -> None:
        if self._fetcher is None:
            self._fetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collab-sync-fetch")
        self._next = (after, after_hash, self._fetcher.submit(self._fetch, after, after_hash, end))

    def _take_prefetched(self, number: int, known_hash: bytes, target: int) -> Fetched | None:
        """The chunk read ahead, if it follows the sync's block and is confirmed; its error is raised here."""
        ahead, self._next = self._next, None
        if ahead is None:
            return None
        after, after_hash, future = ahead
        fetched = future.result()
        if (after, after_hash) != (number, known_hash) or fetched is None or fetched[0] > target:
            return None
        return fetched

    def _adapt(self, span: int, logs: int) -> None:
        """The next span: about :data:`LOGS_PER_CHUNK` logs, at most doubling, within the configured chunk."""
        wanted = span * 2 if logs == 0 else span * LOGS_PER_CHUNK // logs
        self._span = max(1, min(self.config.chunk_blocks, 2 * span, wanted))

    def close(self) -> None:
        """Stops reading ahead."""
        if self._fetcher is not None:
            self._fetcher.shutdown(wait=True, cancel_futures=True)
            self._fetcher, self._next = None, None

    def _position(self) -> tuple[int, bytes]:
        with self.database.connect() as connection:
            found = store.sync_position(connection, self.chain_id)
        if found is None:
            found = self._start()
        if not self._followed:
            self.check_deployment()
        return found

    def _start(self) -> tuple[int, bytes]:
        """The first position, with this deployment (or, when another sync of this database started meanwhile,
        its position: checked like any other)."""
        start = max(0, self.deployment.manifest.deployment_block - 1)  # never the head: start at the deployment
        start_hash = self._hash_of(start)
        with self._writer.begin() as connection:
            found = store.sync_position(connection, self.chain_id, lock=True)
            if found is not None:
                return found
            store.start_sync(connection, self.chain_id, start, start_hash, self._contracts)
        return start, start_hash

    def check_deployment(self) -> None:
        """:class:`LedgerOfAnotherDeployment` when the ledger holds another deployment's events than this sync's
        (a ledger that has not started yet follows this one)."""
        with self._writer.begin() as connection:
            followed = store.followed_deployment(connection, self.chain_id, self._contracts)
        if followed is None:
            return
        if followed != self._contracts:
            registry, escrow = (f"0x{address.hex()}" for address in followed)
            raise LedgerOfAnotherDeployment(
                f"this ledger holds the deployment of registry {registry} and escrow {escrow} on chain "
                f"{self.chain_id}, not the manifest's: give each deployment a ledger of its own"
            )
        self._followed = True

    def _unwind(self, position: int) -> None:
        """After a reorg: back to the newest remembered block still on the chain; every stored event above it is
        orphaned and marked for the consumers."""
        with self._writer.begin() as connection:
            ancestor = next(
                (
                    (number, block_hash)
                    for number, block_hash in store.recent_blocks(connection, self.chain_id)
                    if position - number <= self.config.window and self._hash_of(number) == block_hash
                ),
                None,
            )
            if ancestor is None:
                raise ReorgTooDeep(
                    f"block {position} of the sync's position was reorganised away and no block of the last "
                    f"{self.config.window} matches the chain: operator action needed"
                )
            orphaned = store.orphan_after(connection, self.chain_id, ancestor[0])
            connection.execute(
                update(sync_state)
                .where(sync_state.c.chain_id == self.chain_id)
                .values(block_number=ancestor[0], block_hash=ancestor[1])
            )
        self._idle_at = None
        self._next = None
        self.metrics.reorgs.inc()
        self.metrics.checkpoint.set(ancestor[0])
        log.warning("sync: reorg below block %d; back to block %d, %d events orphaned", position, ancestor[0], orphaned)

    def _hash_of(self, number: int) -> bytes:
        return self._block(hex(number))[1]

    def _block(self, tag: str) -> tuple[int, bytes]:
        """A block's number and hash, from the header as the node sends it: web3's block formatter would convert
        each of the block's transaction hashes (thousands in a backfill's blocks) that the sync never looks at."""
        block = rpc_request(self.w3, "eth_getBlockByNumber", [tag, False])
        if block is None:
            raise BlockNotFound(f"block {tag} not found")
        return int(block["number"], 16), bytes.fromhex(block["hash"][2:])
