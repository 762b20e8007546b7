"""Verifying the journal: each org's hash chain recomputed, every entry balanced and its lines summing to it, and
(with a :class:`ChainEvidence`) every entry's chain evidence found on chain.

Read in one pass in id order, streamed; the chain reads are JSON-RPC batches of transaction receipts (one per
distinct transaction), so that a long history costs a receipt per transaction, a round trip per
:data:`RECEIPTS_PER_BATCH`. The first entry that fails is named: :class:`LedgerTampered`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, select
from web3 import Web3

from collab_py.chain.build import load_artifact
from collab_py.chain.deploy import Deployment
from collab_py.chain.logs import EVENT_SOURCES, EventCodec
from collab_py.exceptions import CollabError
from collab_py.ledger.journal import GENESIS, Evidence, Sealed, entry_digest
from collab_py.ledger.schema import chain_log, journal_entries, journal_lines

#: Transaction receipts asked for in one JSON-RPC batch.
RECEIPTS_PER_BATCH = 200
#: Entries whose evidence is checked together (their receipts in a few batches).
EVIDENCE_CHUNK = 2_000


class LedgerTampered(CollabError):
    """A journal entry fails verification: the books were changed outside the services (see ``collab ledger
    verify``)."""

    def __init__(self, failure: EntryFailure) -> None:
        super().__init__(
            f"journal entry {failure.entry_id} (org {failure.org_id}, {failure.kind}) fails verification: "
            f"{failure.problem}"
        )
        self.failure = failure


class EntryFailure(BaseModel):
    """The first entry that fails, and why."""

    model_config = ConfigDict(frozen=True)

    entry_id: int
    org_id: int
    kind: str
    problem: str


class Verification(BaseModel):
    """A journal's verification: the entries checked, each org's last hash, and the first failure if any."""

    model_config = ConfigDict(frozen=True)

    entries: int
    heads: dict[int, str]
    evidence_checked: bool
    failure: EntryFailure | None

    @property
    def ok(self) -> bool:
        """No entry failed."""
        return self.failure is None


class StoredEntry(NamedTuple):
    """An entry as stored: its id, what its hash covers, its hashes and whether its event was orphaned."""

    id: int
    event_id: int
    sealed: Sealed
    prev_hash: bytes
    entry_hash: bytes
    orphaned: bool


def stored_entries(connection: Connection) -> Iterator[StoredEntry]:
    """Every entry in id order with its lines and its event's evidence (None if the store lacks the event)."""
    entries, lines, log = journal_entries.c, journal_lines.c, chain_log.c
    query = (
        select(
            entries.id,
            entries.org_id,
            entries.kind,
            entries.contract_no,
            entries.seq,
            entries.voucher_id,
            entries.amount,
            entries.counterparty_org,
            entries.reverses_id,
            entries.memo,
            entries.event_id,
            entries.prev_hash,
            entries.entry_hash,
            log.chain_id,
            log.block_hash,
            log.tx_hash,
            log.log_index,
            log.orphaned,
            lines.account,
            lines.debit,
            lines.credit,
        )
        .select_from(journal_entries)
        .outerjoin(chain_log, log.id == entries.event_id)
        .outerjoin(journal_lines, lines.entry_id == entries.id)
        .order_by(entries.id, lines.id)
        .execution_options(yield_per=10_000)
    )
    rows = connection.execute(query)
    for _, group in itertools.groupby(rows, key=lambda row: row.id):
        first, *rest = group
        evidence = None
        if first.block_hash is not None:
            tx_hash = None if first.tx_hash is None else bytes(first.tx_hash)
            evidence = Evidence(first.chain_id, bytes(first.block_hash), tx_hash, first.log_index)
        lines_of = tuple((row.account, row.debit, row.credit) for row in (first, *rest) if row.account is not None)
        sealed = Sealed(
            first.org_id, first.kind, first.contract_no, first.seq, bytes(first.voucher_id), first.amount,
            first.counterparty_org, first.reverses_id, first.memo, evidence, lines_of,
        )  # fmt: skip
        yield StoredEntry(
            first.id, first.event_id, sealed, bytes(first.prev_hash or b""), bytes(first.entry_hash or b""),
            bool(first.orphaned),
        )  # fmt: skip


def _problem(entry: StoredEntry, previous: bytes, previous_id: int | None) -> str | None:
    """What is wrong with ``entry`` on its own and in its org's chain (``previous``: the hash before it); amounts as
    the journal stores them, in token units (verification reads no token's decimals: it runs without a node)."""
    sealed = entry.sealed
    debits = sum(line[1] for line in sealed.lines)
    credits = sum(line[2] for line in sealed.lines)
    if debits != credits:
        return f"unbalanced: its lines debit {debits} and credit {credits} token units"
    if debits != sealed.amount:
        return f"its lines sum to {debits} token units, the entry to {sealed.amount}"
    if sealed.evidence is None:
        return f"its chain event {entry.event_id} is not in the event store"
    if entry.prev_hash != previous:
        before = "its org's first entry" if previous_id is None else f"entry {previous_id}"
        return f"it does not follow {before} in the hash chain: an entry was deleted, inserted or moved before it"
    if entry_digest(entry.prev_hash, sealed) != entry.entry_hash:
        return "its hash does not match its fields, lines and chain evidence: it was edited"
    return None


class ChainEvidence:
    """Checks entries' chain evidence against the node: the receipt of the evidence's transaction is in the
    evidence's block and holds a log of our contracts at its index, of the entry's voucher and amount; the log of an
    event the sync marked orphaned must not be there."""

    def __init__(self, w3: Web3, addresses: Sequence[str], codec: EventCodec) -> None:
        self.w3 = w3
        self.addresses = {address.lower() for address in addresses}
        self.codec = codec

    @classmethod
    def of(cls, deployment: Deployment) -> ChainEvidence:
        """The checker of ``deployment``'s contracts."""
        codec = EventCodec([load_artifact(name).abi for name in EVENT_SOURCES])
        return cls(deployment.w3, [deployment.registry.address, deployment.escrow.address], codec)

    def problems(self, entries: Sequence[StoredEntry]) -> dict[int, str]:
        """Entry id -> what its evidence lacks, for the entries that fail."""
        receipts = self._receipts({e.sealed.evidence.tx_hash for e in entries if e.sealed.evidence} - {None})
        found = {}
        for entry in entries:
            evidence = entry.sealed.evidence
            assert evidence is not None  # checked first, locally
            problem = self._problem(entry, evidence, receipts.get(evidence.tx_hash or b""))
            if problem is not None:
                found[entry.id] = problem
        return found

    def _problem(self, entry: StoredEntry, evidence: Evidence, receipt: dict[str, Any] | None) -> str | None:
        where = f"block 0x{evidence.block_hash.hex()}, tx 0x{(evidence.tx_hash or b'').hex()}, log {evidence.log_index}"
        log = None
        if receipt is not None and bytes.fromhex(receipt["blockHash"][2:]) == evidence.block_hash:
            log = next(
                (
                    item
                    for item in receipt["logs"]
                    if int(item["logIndex"], 16) == evidence.log_index and item["address"].lower() in self.addresses
                ),
                None,
            )
        if entry.orphaned:
            return f"its event is marked orphaned, yet its log is on chain ({where})" if log else None
        if log is None:
            return f"its chain evidence is not on chain ({where})"
        row = self.codec.row(log)
        amount = json.loads(row.args).get("amount")
        if row.voucher_id != entry.sealed.voucher_id or (amount is not None and int(amount) != entry.sealed.amount):
            return f"the log at its chain evidence ({where}) is {row.event} of another voucher or amount"
        return None

    def _receipts(self, tx_hashes: set[bytes | None]) -> dict[bytes, dict[str, Any]]:
        """The receipts of ``tx_hashes`` (those the node has), in batches."""
        found: dict[bytes, dict[str, Any]] = {}
        wanted = sorted(tx for tx in tx_hashes if tx is not None)
        for start in range(0, len(wanted), RECEIPTS_PER_BATCH):
            chunk = wanted[start : start + RECEIPTS_PER_BATCH]
            requests = [("eth_getTransactionReceipt", ["0x" + tx.hex()]) for tx in chunk]
            responses = self.w3.provider.make_batch_request(requests)  # type: ignore[attr-defined]
            for tx, response in zip(chunk, responses, strict=True):
                if response.get("error"):
                    raise ValueError(f"the node refused a receipt: {response['error']}")
                if response.get("result"):
                    found[tx] = dict(response["result"])
        return found


def verify_journal(database: Engine, evidence: ChainEvidence | None = None) -> Verification:
    """Verifies every org's chain in ``database`` (and, with ``evidence``, each entry's chain evidence); stops at
    the first entry that fails."""
    heads: dict[int, tuple[int, bytes]] = {}
    count = 0
    failure: EntryFailure | None = None
    pending: list[StoredEntry] = []

    def check_pending() -> EntryFailure | None:
        problems = evidence.problems(pending) if evidence and pending else {}
        first = next((entry for entry in pending if entry.id in problems), None)
        pending.clear()
        return None if first is None else _failure(first, problems[first.id])

    with database.connect() as connection:
        for entry in stored_entries(connection):
            org = entry.sealed.org_id
            previous_id, previous = heads.get(org, (None, GENESIS))
            problem = _problem(entry, previous, previous_id)
            if problem is not None:
                failure = check_pending() or _failure(entry, problem)
                break
            count += 1
            heads[org] = (entry.id, entry.entry_hash)
            if evidence is None:
                continue
            pending.append(entry)
            if len(pending) >= EVIDENCE_CHUNK and (failure := check_pending()):
                break
        else:
            failure = check_pending()
    return Verification(
        entries=count,
        heads={org: "0x" + digest.hex() for org, (_, digest) in sorted(heads.items())},
        evidence_checked=evidence is not None,
        failure=failure,
    )


def _failure(entry: StoredEntry, problem: str) -> EntryFailure:
    return EntryFailure(entry_id=entry.id, org_id=entry.sealed.org_id, kind=entry.sealed.kind, problem=problem)


def require_intact(database: Engine, evidence: ChainEvidence | None = None) -> Verification:
    """:func:`verify_journal`, raising :class:`LedgerTampered` for the first entry that fails."""
    verification = verify_journal(database, evidence)
    if verification.failure is not None:
        raise LedgerTampered(verification.failure)
    return verification
