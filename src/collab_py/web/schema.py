"""The platform's tables, beside the org's ledger in the same database (their own Alembic history,
``web_alembic_version``): users and API tokens with their department role, sessions, idempotency keys and the
transactions each action signed, the audit log, and the read model the projection keeps from the event store
(contracts, stages, payments, members), whose rows move in the same transaction as the projection's cursor.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from collab_py.ledger.schema import CONTRACT_NO_TEXT, Amount, RowId
from collab_py.ledger.schema import metadata as ledger_metadata

#: The platform's tables, named as the ledger's are (they share its database).
metadata = MetaData(naming_convention=ledger_metadata.naming_convention)

# ------------------------------------------------------------------------------------------------------ access
#: People of the org: one department role each (BUSINESS, FINANCE, OPERATOR, AUDITOR, ADMIN); the password as an
#: argon2id hash; ``disabled_at`` set when the user may no longer log in.
users = Table(
    "web_users",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("time_zone", String(64), nullable=False, default="UTC"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
)

#: Bearer tokens of bots and treasury systems: a name, a role, the SHA-256 of the secret (shown once).
api_tokens = Table(
    "web_api_tokens",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

#: Browser sessions: the SHA-256 of the cookie's secret, its user, its CSRF token and when it expires.
sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("user_id", RowId, nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# --------------------------------------------------------------------------------------------------- idempotency
#: One row per ``Idempotency-Key`` of a principal (``user:NAME`` or ``token:NAME``): the fingerprint of the request
#: (method, path, validated body), PENDING until answered, then the answer that every retry gets.
idempotency_keys = Table(
    "web_idempotency_keys",
    metadata,
    Column("principal", String(80), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", LargeBinary(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # PENDING, DONE
    Column("status_code", Integer),
    Column("response", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

#: Every transaction an action signed, recorded (and committed) before it is broadcast: a retry after a crash
#: looks each one up on chain (and broadcasts the same bytes again) instead of signing the step a second time.
sent_transactions = Table(
    "web_sent_transactions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("principal", String(80), nullable=False),
    Column("key", String(255), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("sender", String(42), nullable=False),
    Column("nonce", BigInteger, nullable=False),
    Column("tx_hash", LargeBinary(32), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("params", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("principal", "key", "ordinal", name="uq_web_sent_transactions_step"),
)

#: Who did what, when, with which outcome and transactions: every POST (answered or refused) and every login.
audit_log = Table(
    "web_audit_log",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("principal", String(80), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False, default=""),
    Column("outcome", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("tx_hashes", Text, nullable=False, default=""),
    Column("idempotency_key", String(255)),
    Column("client", String(64), nullable=False, default=""),
)

# ---------------------------------------------------------------------------------------------------- read model
#: Contracts as the store's events leave them (``status``: the ContractStatus name): the lists, the inbox and the
#: dashboard read these, by indexes on (party, status) and on the last event.
contracts = Table(
    "web_contracts",
    metadata,
    Column("contract_no", String(CONTRACT_NO_TEXT), primary_key=True),
    Column("party_a", BigInteger, nullable=False),
    Column("party_b", BigInteger, nullable=False),
    Column("asset", String(42), nullable=False),
    Column("total", Amount, nullable=False),
    Column("paid", Amount, nullable=False),
    Column("status", String(24), nullable=False),
    Column("stage_count", Integer, nullable=False),
    Column("vouched", Integer, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("payment_count", Integer, nullable=False),
    Column("proposed_block", BigInteger, nullable=False),
    Column("updated_block", BigInteger, nullable=False),
    Column("last_event", BigInteger, nullable=False),
    Index("ix_web_contracts_a_status", "party_a", "status", "last_event"),
    Index("ix_web_contracts_b_status", "party_b", "status", "last_event"),
    Index("ix_web_contracts_last_event", "last_event"),
    Index("ix_web_contracts_status", "status", "last_event"),
)

#: The stages of each contract and where their first vouchers stand (StageStatus names).
stages = Table(
    "web_stages",
    metadata,
    Column("contract_no", String(CONTRACT_NO_TEXT), primary_key=True),
    Column("stage_index", Integer, primary_key=True),
    Column("spec_hash", LargeBinary(32), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result_hash", LargeBinary(32)),
    Column("party_a", BigInteger, nullable=False),
    Column("last_event", BigInteger, nullable=False),
    Index("ix_web_stages_a_status", "party_a", "status", "last_event"),
)

#: Payments (application, voucher, key, request, release) by voucher id (VoucherStatus names); ``frozen_at`` and
#: ``expiry`` are block times (Unix seconds), for the expiring keys and the ageing of frozen funds.
payments = Table(
    "web_payments",
    metadata,
    Column("voucher_id", LargeBinary(32), primary_key=True),
    Column("contract_no", String(CONTRACT_NO_TEXT), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("party_a", BigInteger, nullable=False),
    Column("party_b", BigInteger, nullable=False),
    Column("asset", String(42), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("status", String(16), nullable=False),
    Column("beneficiary_org", BigInteger),
    Column("presenter_org", BigInteger),
    Column("expiry", BigInteger),
    Column("frozen_at", BigInteger),
    Column("requested_at", BigInteger),
    Column("paid_at", BigInteger),
    Column("last_event", BigInteger, nullable=False),
    UniqueConstraint("contract_no", "seq", name="uq_web_payments_contract_seq"),
    Index("ix_web_payments_status_a", "status", "party_a", "last_event"),
    Index("ix_web_payments_status_b", "status", "party_b", "last_event"),
    Index("ix_web_payments_status_presenter", "status", "presenter_org"),
    Index("ix_web_payments_status_expiry", "status", "expiry"),
    Index("ix_web_payments_last_event", "last_event"),
)

#: Accounts bound to departments (AccountBound), to name who sent each step of a timeline.
members = Table(
    "web_members",
    metadata,
    Column("account", String(42), primary_key=True),
    Column("org_id", BigInteger, nullable=False),
    Column("department", String(16), nullable=False),
)

#: Orgs as registered (OrgRegistered), for names in lists.
orgs = Table(
    "web_orgs",
    metadata,
    Column("org_id", BigInteger, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("active", Integer, nullable=False, default=1),
)

#: Block times the projection has looked up (Unix seconds), so that each block is asked for once.
block_times = Table(
    "web_block_times",
    metadata,
    Column("block_number", BigInteger, primary_key=True),
    Column("timestamp", BigInteger, nullable=False),
)
