"""The tables of a ledger database: the event store (chain log, recent block hashes, the sync's position), each
consumer's cursor and quarantined events, journal entries and their lines, the institution's decisions and invoices.

Every row that a chain event causes references that event's row in the store, and unique keys make a replay write
nothing twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine


class Amount(TypeDecorator[int]):
    """A token amount (up to 2**128): NUMERIC(40) on PostgreSQL, zero-padded text on SQLite (whose integers are
    64-bit), so that ordering and equality still work in SQL."""

    impl = String(40)
    cache_ok = True
    _WIDTH = 40

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(self._WIDTH, 0))
        return dialect.type_descriptor(String(self._WIDTH))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value < 0:
            raise ValueError("amounts are never negative; reversals swap debit and credit")
        return value if dialect.name == "postgresql" else str(value).zfill(self._WIDTH)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


#: Longest contract number as text: 32 UTF-8 bytes, or ``0x`` and 64 hex digits for one that is not text.
CONTRACT_NO_TEXT = 66

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

#: A row id of the event store (``chain_log.id``) and of what references it: 64-bit, and SQLite's rowid.
RowId = BigInteger().with_variant(Integer(), "sqlite")

#: The event store: every log of our contracts (registry and escrow), decoded once by the ledger's sync, in the
#: order the sync appended them (``id``: chain order for fresh rows). A reorg never deletes a row: it sets
#: ``orphaned`` and appends an ``Orphaned`` marker (:data:`ORPHANED`, args ``{"event_id": E, "event": name}``, no
#: transaction of its own) so that every consumer meets the reorg in sequence. ``args`` holds the event's arguments
#: as JSON (bytes as ``0x`` hex); ``contract_no``, ``voucher_id`` and ``seq`` are copied out of them for the
#: indexed reads of the handlers and readers.
chain_log = Table(
    "chain_log",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("chain_id", BigInteger, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", LargeBinary(32), nullable=False),
    Column("tx_hash", LargeBinary(32)),
    Column("log_index", Integer),
    Column("event", String(64), nullable=False),
    Column("contract_no", LargeBinary(32)),
    Column("voucher_id", LargeBinary(32)),
    Column("seq", Integer),
    Column("args", JSON, nullable=False),
    Column("orphaned", Boolean, nullable=False, default=False),
    # a log is stored once while it is on the chain: a block's hash and the log's index in the block name it (its
    # transaction adds nothing), and the block number first makes the key grow in insertion order; after a reorg
    # the same log may come back (its block again): orphaned rows are left out. Markers have no log index (NULL),
    # so they never collide. The key also serves the sync's reads by block range.
    Index(
        "uq_chain_log_log",
        "chain_id",
        "block_number",
        "log_index",
        "block_hash",
        unique=True,
        sqlite_where=text("orphaned = 0"),
        postgresql_where=text("NOT orphaned"),
    ),
    Index("ix_chain_log_voucher_event", "voucher_id", "event"),
    Index("ix_chain_log_contract_event", "contract_no", "event"),
)

#: Event name of the marker the sync appends for each event whose block a reorg orphaned.
ORPHANED = "Orphaned"

#: Hashes of the sync's recent blocks (the last block of each batch and every block with an event, within its
#: window), to find the common ancestor after a reorg.
chain_blocks = Table(
    "chain_blocks",
    metadata,
    Column("chain_id", BigInteger, primary_key=True),
    Column("block_number", BigInteger, primary_key=True),
    Column("block_hash", LargeBinary(32), nullable=False),
)

#: How far the sync has read the chain: its last confirmed block and that block's hash, per chain; and the deployment
#: (registry and escrow addresses) whose logs it reads: a ledger follows one deployment (NULL in a ledger of before
#: revision 0007, until its sync's next step).
sync_state = Table(
    "sync_state",
    metadata,
    Column("chain_id", BigInteger, primary_key=True),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", LargeBinary(32), nullable=False),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), onupdate=func.now()),
    Column("registry", LargeBinary(20)),
    Column("escrow", LargeBinary(20)),
)

#: Where each consumer (accounting, invoicing, the institution's bot, ...) stands in the store: the last
#: ``chain_log.id`` it processed, moved in the same transaction as what it writes.
consumer_cursors = Table(
    "consumer_cursors",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), onupdate=func.now()),
)

#: Events a consumer's handler could not process: the consumer carried on without them. Each stays here, with its
#: error (type and message), until a retry processes it (``resolved_at``); ``retry`` asks the consumer to try again.
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consumer", String(64), nullable=False),
    Column("event_id", RowId, ForeignKey("chain_log.id"), nullable=False),
    Column("error_type", String(128), nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("retry", Boolean, nullable=False, default=False),
    Column("first_seen", DateTime(timezone=True), server_default=func.now()),
    Column("last_seen", DateTime(timezone=True), server_default=func.now()),
    Column("resolved_at", DateTime(timezone=True)),
    UniqueConstraint("consumer", "event_id", name="uq_quarantine_consumer_event"),
)

#: Kinds of journal entries: the freeze of a payment's funds, the payment and the receipt on its second voucher, an
#: assigned payment received, a reclaim after expiry, and the reversal of an entry whose block was orphaned.
FREEZE, PAYMENT, RECEIPT, ASSIGNMENT, RECLAIM, REVERSAL = (
    "FREEZE",
    "PAYMENT",
    "RECEIPT",
    "ASSIGNMENT",
    "RECLAIM",
    "REVERSAL",
)

#: Double-entry journal entries, one org's books each; a reversal points at the entry it compensates. Append-only
#: (triggers refuse UPDATE and DELETE); each org's entries form a hash chain in id order (``prev_hash``,
#: ``entry_hash``: see :mod:`collab_py.ledger.journal`).
journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, nullable=False),  # found by the posting key, which starts with it
    Column("kind", String(16), nullable=False),
    Column("contract_no", String(CONTRACT_NO_TEXT), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("voucher_id", LargeBinary(32), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("counterparty_org", BigInteger, nullable=False),
    Column("event_id", RowId, ForeignKey("chain_log.id"), nullable=False),
    Column("reverses_id", RowId, ForeignKey("journal_entries.id")),
    Column("memo", Text, nullable=False, default=""),
    Column("posted_at", DateTime(timezone=True), server_default=func.now()),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False),
    UniqueConstraint("org_id", "event_id", "kind", name="uq_journal_entries_posting"),
    Index("ix_journal_entries_org_chain", "org_id", "id"),  # an org's last entry, its chain in order
    Index("ix_journal_entries_voucher", "voucher_id", "org_id", "kind"),  # a payment's postings (e.g. its receipt)
)

#: The lines of a journal entry; debits equal credits. Append-only, like the entries.
journal_lines = Table(
    "journal_lines",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("entry_id", RowId, ForeignKey("journal_entries.id"), nullable=False, index=True),
    Column("account", String(128), nullable=False),
    Column("debit", Amount, nullable=False),
    Column("credit", Amount, nullable=False),
)

#: What the payment institution's bot decided for each payment request: RELEASED, REFUSED with the reason (a check
#: that failed, or the decoded revert of the release transaction, which is not sent again), or DEFERRED while the
#: cause may clear (a suspended beneficiary, a moved treasury, a node error): re-checked until it is a decision.
institution_actions = Table(
    "institution_actions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("event_id", RowId, ForeignKey("chain_log.id"), nullable=False, unique=True),
    Column("voucher_id", LargeBinary(32), nullable=False, index=True),
    Column("contract_no", String(CONTRACT_NO_TEXT), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("tx_hash", LargeBinary(32)),
    Column("attempts", Integer, nullable=False, default=1),
    Column("decided_at", DateTime(timezone=True), server_default=func.now()),
    Column("recheck_at", Float),  # a DEFERRED request's next check (Unix seconds); none for a decision
    Index("ix_institution_actions_due", "action", "recheck_at"),
)

#: E-invoices an org issued (OUT: ISSUED, or PENDING while its receipt is not posted yet) or received (IN: VERIFIED,
#: or REJECTED with the reason) (S8.3). A PENDING invoice has no hash yet.
invoices = Table(
    "invoices",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("status", String(16), nullable=False, server_default="VERIFIED"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("voucher_id", LargeBinary(32), nullable=False),
    Column("contract_no", String(CONTRACT_NO_TEXT), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("invoice_no", String(64), nullable=False),
    Column("invoice_hash", LargeBinary(32)),
    Column("amount", Amount, nullable=False),
    Column("tax", Amount, nullable=False),
    Column("event_id", RowId, ForeignKey("chain_log.id")),
    Column("document", JSON, nullable=False),
    Column("recorded_at", DateTime(timezone=True), server_default=func.now()),
    UniqueConstraint("org_id", "direction", "voucher_id", name="uq_invoices_payment"),
    Index("ix_invoices_status", "status"),
)
