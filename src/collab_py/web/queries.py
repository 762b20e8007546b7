"""What the platform reads from the read model and the store: lists with filters and keyset pagination, each
department's inbox, a contract's timeline, and the group finance figures. Every query is bounded (a page, a
section of the inbox, one contract's events) and runs on an index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select

from collab_py.chain.enums import VoucherStatus
from collab_py.domain.types import contract_number
from collab_py.ledger.schema import chain_log
from collab_py.web.accounts import Role
from collab_py.web.schema import audit_log, contracts, members, orgs, payments, stages

#: Most rows of one page or inbox section.
MAX_LIMIT = 200
#: Counts of an inbox section stop here (shown as "1000+"): a bounded read however long the backlog.
COUNT_CAP = 1_000
#: Keys that expire within this many seconds are "expiring".
EXPIRING_WINDOW = 24 * 3600
#: Statuses of payments whose funds are frozen in the escrow.
FROZEN = (VoucherStatus.FROZEN.name, VoucherStatus.PRESENTED.name, VoucherStatus.REQUESTED.name)
#: Ageing buckets of frozen funds: (label, from seconds, to seconds).
AGEING = (("< 1 day", 0, 86_400), ("1–7 days", 86_400, 7 * 86_400), ("7–30 days", 7 * 86_400, 30 * 86_400),
          ("> 30 days", 30 * 86_400, None))  # fmt: skip


@dataclass(frozen=True)
class Page:
    """A page of rows and the cursor of the next (None on the last page)."""

    items: list[dict[str, Any]]
    next_cursor: int | None


def _page(connection: Connection, query: Select[Any], key: Any, limit: int, cursor: int | None) -> Page:
    """Keyset pagination on ``key`` (newest first): rows with ``key < cursor``."""
    if cursor is not None:
        query = query.where(key < cursor)
    rows = [dict(row._mapping) for row in connection.execute(query.order_by(key.desc()).limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, int(rows[-1]["last_event"]) if more and rows else None)


def list_contracts(
    connection: Connection,
    org_id: int,
    *,
    scope: str = "mine",
    status: str | None = None,
    counterparty: int | None = None,
    number_prefix: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> Page:
    """Contracts, newest change first: those the org is a party to (``scope="mine"``) or all; by status,
    counterparty and number prefix."""
    c = contracts.c
    query = select(contracts)
    if scope == "mine":
        query = query.where(or_(c.party_a == org_id, c.party_b == org_id))
    if status:
        query = query.where(c.status == status)
    if counterparty is not None:
        query = query.where(or_(and_(c.party_a == org_id, c.party_b == counterparty),
                                and_(c.party_b == org_id, c.party_a == counterparty)))  # fmt: skip
    if number_prefix:
        query = query.where(c.contract_no.startswith(number_prefix, autoescape=True))
    return _page(connection, query, c.last_event, limit, cursor)


def list_payments(
    connection: Connection,
    org_id: int,
    *,
    scope: str = "mine",
    status: str | None = None,
    contract_no: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> Page:
    """Payments, newest change first: the org's (payer, payee or presenter) or all; by status and contract."""
    p = payments.c
    query = select(payments)
    if scope == "mine":
        query = query.where(or_(p.party_a == org_id, p.party_b == org_id, p.presenter_org == org_id,
                                p.beneficiary_org == org_id))  # fmt: skip
    if status:
        query = query.where(p.status == status)
    if contract_no:
        query = query.where(p.contract_no == contract_no)
    return _page(connection, query, p.last_event, limit, cursor)


def contract_row(connection: Connection, number: str) -> dict[str, Any] | None:
    """One contract of the read model."""
    row = connection.execute(select(contracts).where(contracts.c.contract_no == number)).first()
    return None if row is None else dict(row._mapping)


def payments_of(connection: Connection, number: str) -> list[dict[str, Any]]:
    """A contract's payments, by sequence number."""
    query = select(payments).where(payments.c.contract_no == number).order_by(payments.c.seq)
    return [dict(row._mapping) for row in connection.execute(query)]


@dataclass
class Inbox:
    """What waits for one department: each section's first rows and how many there are in all."""

    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


#: Sections of each role's inbox, in the order shown.
SECTIONS: dict[Role, tuple[str, ...]] = {
    Role.BUSINESS: ("contracts_to_countersign", "stages_to_confirm", "settlements_to_approve",
                    "ready_for_settlement", "expiring_keys"),
    Role.FINANCE: ("applications_to_issue", "keys_to_redeem", "assignments_to_confirm", "keys_to_reclaim",
                   "expiring_keys"),
    Role.OPERATOR: ("requests_to_release", "expiring_keys"),
}  # fmt: skip
SECTIONS[Role.AUDITOR] = SECTIONS[Role.ADMIN] = tuple(
    dict.fromkeys(name for role in (Role.BUSINESS, Role.FINANCE, Role.OPERATOR) for name in SECTIONS[role])
)
#: What each section is, in words (the UI's headings, the API's documentation).
SECTION_TITLES = {
    "contracts_to_countersign": "Contracts to countersign (Party A, S2.3)",
    "stages_to_confirm": "Stage results to confirm (Party A, S3.3)",
    "settlements_to_approve": "Settlements to approve (Party A, S4.2)",
    "ready_for_settlement": "Contracts ready for settlement (Party B, S4.1)",
    "applications_to_issue": "Payment applications to issue (Party A, S5.2)",
    "keys_to_redeem": "Payment keys to redeem (Party B, S6.1)",
    "assignments_to_confirm": "Assignments to confirm (S6.3)",
    "keys_to_reclaim": "Expired keys to reclaim (Party A, S6.4)",
    "requests_to_release": "Payment requests to release (institution, S6.2)",
    "expiring_keys": "Payment keys expiring within 24 hours",
}


def _section(connection: Connection, name: str, org_id: int, institution: bool, now: int) -> Select[Any]:
    c, s, p = contracts.c, stages.c, payments.c
    keys = (VoucherStatus.FROZEN.name, VoucherStatus.PRESENTED.name)
    if name == "contracts_to_countersign":
        return select(contracts).where(c.party_a == org_id, c.status == "PROPOSED")
    if name == "settlements_to_approve":
        return select(contracts).where(c.party_a == org_id, c.status == "SETTLEMENT_REQUESTED")
    if name == "ready_for_settlement":
        return select(contracts).where(c.party_b == org_id, c.status == "SIGNED", c.vouched == c.stage_count)
    if name == "stages_to_confirm":
        return select(stages).where(s.party_a == org_id, s.status == "PENDING")
    if name == "applications_to_issue":
        return select(payments).where(p.status == VoucherStatus.APPLIED.name, p.party_a == org_id)
    if name == "keys_to_redeem":
        return select(payments).where(p.status == VoucherStatus.FROZEN.name, p.party_b == org_id, p.expiry > now)
    if name == "assignments_to_confirm":
        return select(payments).where(
            p.status == VoucherStatus.PRESENTED.name, or_(p.party_b == org_id, p.presenter_org == org_id)
        )
    if name == "keys_to_reclaim":
        return select(payments).where(p.status.in_(keys), p.party_a == org_id, p.expiry <= now)
    if name == "requests_to_release":
        query = select(payments).where(p.status == VoucherStatus.REQUESTED.name)
        return query if institution else query.where(p.beneficiary_org == org_id)
    if name == "expiring_keys":
        query = select(payments).where(p.status.in_(keys), p.expiry > now, p.expiry <= now + EXPIRING_WINDOW)
        if institution:
            return query
        return query.where(or_(p.party_a == org_id, p.party_b == org_id, p.presenter_org == org_id))
    raise KeyError(name)


def inbox(connection: Connection, org_id: int, role: Role, now: int, *, institution: bool, limit: int = 20) -> Inbox:
    """What waits for ``role`` of org ``org_id`` at time ``now``: each section's newest ``limit`` rows, and its
    count."""
    found = Inbox()
    for name in SECTIONS[role]:
        query = _section(connection, name, org_id, institution, now)
        key = query.selected_columns.last_event
        rows = connection.execute(query.order_by(key.desc()).limit(limit)).all()
        found.sections[name] = [dict(row._mapping) for row in rows]
        if len(rows) < limit:
            found.counts[name] = len(rows)
        else:
            capped = query.with_only_columns(query.selected_columns.last_event).limit(COUNT_CAP).subquery()
            found.counts[name] = int(connection.execute(select(func.count()).select_from(capped)).scalar_one())
    return found


#: Who sends each step (the contracts' table of the README), to show a timeline's actors.
ACTOR_FIELDS = ("signer", "cancelledBy", "requestedBy", "rejectedBy", "approvedBy", "appliedBy", "closedBy",
                "confirmedBy", "presentedBy", "releasedBy", "caller", "beneficiary")  # fmt: skip


def timeline(connection: Connection, number: str) -> list[dict[str, Any]]:
    """Every step of a contract on chain, in order: event, block, transaction, the account that sent it with its
    org and department, and the platform user whose action sent it (when it was sent from here)."""
    raw = contract_number(number)
    log = chain_log.c
    rows = connection.execute(
        select(log.id, log.event, log.block_number, log.tx_hash, log.log_index, log.args, log.seq)
        .where(log.contract_no == raw, log.orphaned.is_(False))
        .order_by(log.id)
        .limit(1_000)
    ).all()
    accounts = set()
    steps = []
    for row in rows:
        args = row.args if isinstance(row.args, dict) else {}
        actor = next((str(args[name]) for name in ACTOR_FIELDS if isinstance(args.get(name), str)), None)
        if actor:
            accounts.add(actor)
        tx_hash = "0x" + bytes(row.tx_hash).hex() if row.tx_hash else None
        steps.append({"id": row.id, "event": row.event, "block": row.block_number, "tx_hash": tx_hash,
                      "log_index": row.log_index, "seq": row.seq, "actor": actor})  # fmt: skip
    bound = {
        row.account.lower(): (row.org_id, row.department)
        for row in connection.execute(
            select(members).where(func.lower(members.c.account).in_([a.lower() for a in accounts]))
        )
    } if accounts else {}  # fmt: skip
    hashes = [step["tx_hash"] for step in steps if step["tx_hash"]]
    users = _users_by_tx(connection, hashes)
    for step in steps:
        org, department = bound.get((step["actor"] or "").lower(), (None, None))
        step["actor_org"], step["actor_department"] = org, department
        step["user"] = users.get(step["tx_hash"])
    return steps


def _users_by_tx(connection: Connection, hashes: list[str]) -> dict[str, str]:
    """The platform user whose audited action sent each transaction (of this org's platform only)."""
    if not hashes:
        return {}
    found: dict[str, str] = {}
    query = select(audit_log.c.principal, audit_log.c.tx_hashes).where(
        or_(*(audit_log.c.tx_hashes.contains(tx_hash) for tx_hash in hashes[:200]))
    )
    for principal, sent in connection.execute(query):
        for tx_hash in str(sent).split():
            found[tx_hash] = principal
    return found


def org_names(connection: Connection) -> dict[int, str]:
    """Every registered org's name."""
    return {int(org_id): name for org_id, name in connection.execute(select(orgs.c.org_id, orgs.c.name))}


def frozen_ageing(connection: Connection, org_id: int | None, now: int) -> list[dict[str, Any]]:
    """Funds frozen in the escrow (vouchers not yet released or reclaimed) per age bucket and asset: of the org
    as payer (or all orgs when ``org_id`` is None)."""
    p = payments.c
    buckets = []
    for label, start, end in AGEING:
        query = select(p.asset, func.count(), func.coalesce(func.sum(_amount(p.amount)), 0)).where(
            p.status.in_(FROZEN), p.frozen_at <= now - start
        )
        if end is not None:
            query = query.where(p.frozen_at > now - end)
        if org_id is not None:
            query = query.where(p.party_a == org_id)
        for asset, count, total in connection.execute(query.group_by(p.asset)):
            buckets.append({"bucket": label, "asset": asset, "count": int(count), "amount": int(total)})
        if not any(bucket["bucket"] == label for bucket in buckets):
            buckets.append({"bucket": label, "asset": None, "count": 0, "amount": 0})
    return buckets


def pair_totals(connection: Connection) -> list[dict[str, Any]]:
    """Per payer and payee org and asset: contracts, their total, and what the chain has paid (second vouchers)."""
    c = contracts.c
    query = (
        select(c.party_a, c.party_b, c.asset, func.count(), func.sum(_amount(c.total)), func.sum(_amount(c.paid)))
        .where(c.status != "CANCELLED")
        .group_by(c.party_a, c.party_b, c.asset)
        .order_by(c.party_a, c.party_b)
    )
    return [
        {"payer_org": int(a), "payee_org": int(b), "asset": asset, "contracts": int(count), "total": int(total or 0),
         "paid": int(paid or 0)}
        for a, b, asset, count, total, paid in connection.execute(query)
    ]  # fmt: skip


def _amount(column: Any) -> Any:
    """An amount column as a number in SQL (SQLite keeps amounts as zero-padded text)."""
    from sqlalchemy import Numeric, cast

    return cast(column, Numeric(40, 0))
