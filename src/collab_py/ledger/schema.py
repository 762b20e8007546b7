"""The tables of the listeners' database: checkpoints, the recent block window, chain events, journal entries
and their lines, the institution's decisions and received invoices.

Every row that a chain event causes references that event, and unique keys make a replay write nothing twice.
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


metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

#: Where each consumer (one listening service) has processed up to: a confirmed block and its hash.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("chain_id", BigInteger, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", LargeBinary(32), nullable=False),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), onupdate=func.now()),
)

#: Hashes of recently processed blocks, to find the common ancestor after a reorg.
block_window = Table(
    "block_window",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("block_number", BigInteger, primary_key=True),
    Column("block_hash", LargeBinary(32), nullable=False),
)

#: Every log a consumer acted on, with its chain evidence; orphaned once a reorg removed its block.
chain_events = Table(
    "chain_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consumer", String(64), nullable=False),
    Column("chain_id", BigInteger, nullable=False),
    Column("tx_hash", LargeBinary(32), nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("block_number", BigInteger, nullable=False, index=True),
    Column("block_hash", LargeBinary(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("voucher_id", LargeBinary(32), index=True),
    Column("args", JSON, nullable=False),
    Column("orphaned", Boolean, nullable=False, default=False),
    UniqueConstraint("consumer", "chain_id", "tx_hash", "log_index", "block_hash", name="uq_chain_events_log"),
    # a consumer's events in a block range: what every listener step reads (the unique key alone makes SQLite scan
    # all of the consumer's events)
    Index("ix_chain_events_consumer_block", "consumer", "block_number"),
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

#: Double-entry journal entries, one org's books each; a reversal points at the entry it compensates.
journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("contract_no", String(64), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("voucher_id", LargeBinary(32), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("counterparty_org", BigInteger, nullable=False),
    Column("event_id", Integer, ForeignKey("chain_events.id"), nullable=False),
    Column("reverses_id", Integer, ForeignKey("journal_entries.id")),
    Column("memo", Text, nullable=False, default=""),
    Column("posted_at", DateTime(timezone=True), server_default=func.now()),
    UniqueConstraint("org_id", "event_id", "kind", name="uq_journal_entries_posting"),
)

#: The lines of a journal entry; debits equal credits.
journal_lines = Table(
    "journal_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", Integer, ForeignKey("journal_entries.id"), nullable=False, index=True),
    Column("account", String(128), nullable=False),
    Column("debit", Amount, nullable=False),
    Column("credit", Amount, nullable=False),
)

#: What the payment institution's bot decided for each payment request: released, or refused with a reason.
institution_actions = Table(
    "institution_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, ForeignKey("chain_events.id"), nullable=False, unique=True),
    Column("voucher_id", LargeBinary(32), nullable=False, index=True),
    Column("contract_no", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("tx_hash", LargeBinary(32)),
    Column("decided_at", DateTime(timezone=True), server_default=func.now()),
)

#: E-invoices an org issued (OUT, ISSUED) or received (IN: VERIFIED, or REJECTED with the reason) (S8.3).
invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("status", String(16), nullable=False, server_default="VERIFIED"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("voucher_id", LargeBinary(32), nullable=False),
    Column("contract_no", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("invoice_no", String(64), nullable=False),
    Column("invoice_hash", LargeBinary(32), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("tax", Amount, nullable=False),
    Column("event_id", Integer, ForeignKey("chain_events.id")),
    Column("document", JSON, nullable=False),
    Column("recorded_at", DateTime(timezone=True), server_default=func.now()),
    UniqueConstraint("org_id", "direction", "voucher_id", name="uq_invoices_payment"),
)
