"""The platform's read model: a consumer of the org's event store that keeps contracts, stages, payments, orgs and
members as the chain's events leave them, in the consumer's transaction (exactly once, with its cursor).

Lists, the inbox and the dashboard then read small indexed tables instead of replaying events. A reorg's
``Orphaned`` markers rebuild each contract they touch from its events still on the chain (the store's index on
contract number), so nothing orphaned stays in the read model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from collab_py.chain.enums import ContractStatus, Department, OrgKind, StageStatus, VoucherStatus
from collab_py.chain.logs import ChainEvent, EventCodec
from collab_py.domain.types import contract_number_text
from collab_py.ledger.schema import chain_log
from collab_py.ledger.store import rows_by_id
from collab_py.listener.consumer import StoredEvent
from collab_py.web.schema import block_times, contracts, members, orgs, payments, stages

#: The events that change the read model.
CONTRACT_EVENTS = (
    "ContractProposed",
    "ContractSigned",
    "ContractCancelled",
    "StageResultSubmitted",
    "FirstVoucherIssued",
    "StageResultRejected",
    "BusinessSettlementRequested",
    "BusinessSettlementRejected",
    "BusinessSettlementVoucherIssued",
    "PaymentApplied",
    "PaymentApplicationClosed",
    "PaymentVoucherIssued",
    "PaymentKeyPresented",
    "PaymentRequested",
    "AssignmentConfirmed",
    "SecondVoucher",
    "PaymentReclaimed",
)
MEMBER_EVENTS = ("OrgRegistered", "OrgStatusChanged", "AccountBound", "AccountUnbound")

#: A block's time (Unix seconds) by number.
BlockClock = Callable[[int], int]


class Projection:
    """The read model's handler on the event store (see :class:`collab_py.listener.consumer.Handler`)."""

    events: tuple[str, ...] = CONTRACT_EVENTS + MEMBER_EVENTS

    def __init__(self, codec: EventCodec, block_time: BlockClock) -> None:
        self.codec = codec
        self._block_time = block_time

    # ---------------------------------------------------------------------------------------------- consumer
    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Applies each event to the read model; returns how many it applied."""
        for stored in events:
            self._apply(connection, stored.id, stored.event)
        return len(events)

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Rebuilds every contract an orphaned event touched from the events of it still on the chain; members
        and orgs are rebuilt from all of theirs."""
        numbers = {_raw_no(stored.event) for stored in events} - {None}
        for raw in numbers:
            assert raw is not None
            self.rebuild(connection, raw)
        if any(stored.event.name in MEMBER_EVENTS for stored in events):
            connection.execute(delete(members))
            connection.execute(delete(orgs))
            self._replay(connection, chain_log.c.event.in_(MEMBER_EVENTS))
        return len(events)

    def rebuild(self, connection: Connection, contract_no: bytes) -> None:
        """Forgets one contract and applies its stored events again, in store order."""
        text = contract_number_text(contract_no)
        for table in (contracts, stages, payments):
            connection.execute(delete(table).where(table.c.contract_no == text))
        self._replay(connection, (chain_log.c.contract_no == contract_no) & chain_log.c.event.in_(CONTRACT_EVENTS))

    def _replay(self, connection: Connection, where: Any) -> None:
        ids = connection.execute(
            select(chain_log.c.id).where(where, chain_log.c.orphaned.is_(False)).order_by(chain_log.c.id)
        ).scalars()
        rows = rows_by_id(connection, list(ids))
        for row_id in sorted(rows):
            self._apply(connection, row_id, rows[row_id].chain_event(self.codec))

    # ---------------------------------------------------------------------------------------------- events
    def _apply(self, connection: Connection, row_id: int, event: ChainEvent) -> None:
        handler = getattr(self, f"_on_{event.name}", None)
        if handler is not None:
            handler(connection, row_id, event, event.args)

    def block_time(self, connection: Connection, number: int) -> int:
        """A block's time, asked of the chain once and kept."""
        found = connection.execute(select(block_times.c.timestamp).where(block_times.c.block_number == number)).first()
        if found is not None:
            return int(found[0])
        stamp = int(self._block_time(number))
        connection.execute(insert(block_times).values(block_number=number, timestamp=stamp))
        return stamp

    def _contract(self, connection: Connection, text: str, row_id: int, event: ChainEvent, **values: Any) -> None:
        connection.execute(
            update(contracts)
            .where(contracts.c.contract_no == text)
            .values(last_event=row_id, updated_block=event.block_number, **values)
        )

    def _contract_status(self, status: ContractStatus) -> Callable[[Connection, int, ChainEvent, dict[str, Any]], None]:
        def handle(connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]) -> None:
            self._contract(connection, _text(args["contractNo"]), row_id, event, status=status.name)

        return handle

    def _on_ContractProposed(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        text = _text(args["contractNo"])
        terms = [_stage_terms(item) for item in args["stages"]]
        connection.execute(delete(contracts).where(contracts.c.contract_no == text))
        connection.execute(delete(stages).where(stages.c.contract_no == text))
        connection.execute(
            insert(contracts).values(
                contract_no=text, party_a=int(args["partyA"]), party_b=int(args["partyB"]), asset=str(args["asset"]),
                total=int(args["total"]), paid=0, status=ContractStatus.PROPOSED.name, stage_count=len(terms),
                vouched=0, pending=0, payment_count=0, proposed_block=event.block_number,
                updated_block=event.block_number, last_event=row_id,
            )
        )  # fmt: skip
        if terms:
            connection.execute(
                insert(stages),
                [
                    {"contract_no": text, "stage_index": index, "spec_hash": spec, "amount": amount,
                     "status": StageStatus.OPEN.name, "result_hash": None, "party_a": int(args["partyA"]),
                     "last_event": row_id}
                    for index, (spec, amount) in enumerate(terms)
                ],
            )  # fmt: skip

    def _on_ContractSigned(self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]) -> None:
        self._contract_status(ContractStatus.SIGNED)(connection, row_id, event, args)

    def _on_ContractCancelled(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._contract_status(ContractStatus.CANCELLED)(connection, row_id, event, args)

    def _on_BusinessSettlementRequested(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._contract_status(ContractStatus.SETTLEMENT_REQUESTED)(connection, row_id, event, args)

    def _on_BusinessSettlementRejected(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._contract_status(ContractStatus.SIGNED)(connection, row_id, event, args)

    def _on_BusinessSettlementVoucherIssued(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._contract_status(ContractStatus.SETTLED)(connection, row_id, event, args)

    def _stage(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any], status: StageStatus
    ) -> str | None:
        """Moves a stage to ``status``; returns the status it had."""
        text, index = _text(args["contractNo"]), int(args["stageIndex"])
        where = (stages.c.contract_no == text) & (stages.c.stage_index == index)
        before = connection.execute(select(stages.c.status).where(where)).scalar()
        connection.execute(
            update(stages).where(where).values(status=status.name, result_hash=args["resultHash"], last_event=row_id)
        )
        return before

    def _counts(self, connection: Connection, text: str, row_id: int, event: ChainEvent) -> None:
        found = {
            status: count
            for status, count in connection.execute(
                select(stages.c.status, func.count()).where(stages.c.contract_no == text).group_by(stages.c.status)
            )
        }
        self._contract(
            connection, text, row_id, event,
            vouched=found.get(StageStatus.CONFIRMED.name, 0), pending=found.get(StageStatus.PENDING.name, 0),
        )  # fmt: skip

    def _on_StageResultSubmitted(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._stage(connection, row_id, event, args, StageStatus.PENDING)
        self._counts(connection, _text(args["contractNo"]), row_id, event)

    def _on_FirstVoucherIssued(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._stage(connection, row_id, event, args, StageStatus.CONFIRMED)
        self._counts(connection, _text(args["contractNo"]), row_id, event)

    def _on_StageResultRejected(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._stage(connection, row_id, event, args, StageStatus.REJECTED)
        self._counts(connection, _text(args["contractNo"]), row_id, event)

    def _payment(self, connection: Connection, row_id: int, args: dict[str, Any], **values: Any) -> None:
        connection.execute(
            update(payments)
            .where(payments.c.voucher_id == bytes(args["voucherId"]))
            .values(last_event=row_id, **values)
        )

    def _on_PaymentApplied(self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]) -> None:
        text, seq = _text(args["contractNo"]), int(args["seq"])
        parties = connection.execute(
            select(contracts.c.party_a, contracts.c.party_b, contracts.c.asset, contracts.c.payment_count).where(
                contracts.c.contract_no == text
            )
        ).first()
        if parties is None:  # an application for a contract the store has not seen: nothing to attach it to
            return
        connection.execute(delete(payments).where(payments.c.voucher_id == bytes(args["voucherId"])))
        connection.execute(
            insert(payments).values(
                voucher_id=bytes(args["voucherId"]), contract_no=text, seq=seq, party_a=parties.party_a,
                party_b=parties.party_b, asset=parties.asset, amount=int(args["amount"]),
                status=VoucherStatus.APPLIED.name, last_event=row_id,
            )
        )  # fmt: skip
        self._contract(connection, text, row_id, event, payment_count=max(int(parties.payment_count), seq))

    def _on_PaymentApplicationClosed(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._payment(connection, row_id, args, status=VoucherStatus(int(args["status"])).name)

    def _on_PaymentVoucherIssued(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._payment(
            connection, row_id, args, status=VoucherStatus.FROZEN.name, expiry=int(args["expiry"]),
            frozen_at=self.block_time(connection, event.block_number),
        )  # fmt: skip

    def _on_PaymentKeyPresented(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._payment(
            connection, row_id, args, status=VoucherStatus.PRESENTED.name, presenter_org=int(args["presenterOrg"])
        )

    def _requested(self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]) -> None:
        self._payment(
            connection, row_id, args, status=VoucherStatus.REQUESTED.name,
            beneficiary_org=int(args["beneficiaryOrg"]), requested_at=self.block_time(connection, event.block_number),
        )  # fmt: skip

    def _on_PaymentRequested(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._requested(connection, row_id, event, args)

    def _on_AssignmentConfirmed(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._requested(connection, row_id, event, args)

    def _on_SecondVoucher(self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]) -> None:
        voucher = bytes(args["voucherId"])
        row = connection.execute(
            select(payments.c.contract_no, payments.c.status).where(payments.c.voucher_id == voucher)
        ).first()
        if row is None or row.status == VoucherStatus.RELEASED.name:
            return
        self._payment(
            connection, row_id, args, status=VoucherStatus.RELEASED.name, paid_at=int(args["paidAt"]),
            beneficiary_org=int(args["beneficiaryOrg"]),
        )  # fmt: skip
        paid = connection.execute(select(contracts.c.paid).where(contracts.c.contract_no == row.contract_no)).scalar()
        self._contract(connection, row.contract_no, row_id, event, paid=int(paid or 0) + int(args["amount"]))

    def _on_PaymentReclaimed(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        self._payment(connection, row_id, args, status=VoucherStatus.RECLAIMED.name)

    # ------------------------------------------------------------------------------------------------ members
    def _on_OrgRegistered(self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]) -> None:
        org_id = int(args["orgId"])
        connection.execute(delete(orgs).where(orgs.c.org_id == org_id))
        connection.execute(
            insert(orgs).values(org_id=org_id, name=str(args["name"]), kind=OrgKind(int(args["kind"])).name, active=1)
        )

    def _on_OrgStatusChanged(
        self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]
    ) -> None:
        connection.execute(
            update(orgs).where(orgs.c.org_id == int(args["orgId"])).values(active=1 if args["active"] else 0)
        )

    def _on_AccountBound(self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]) -> None:
        account = str(args["account"])
        connection.execute(delete(members).where(members.c.account == account))
        connection.execute(
            insert(members).values(
                account=account, org_id=int(args["orgId"]), department=Department(int(args["department"])).name
            )
        )

    def _on_AccountUnbound(self, connection: Connection, row_id: int, event: ChainEvent, args: dict[str, Any]) -> None:
        connection.execute(delete(members).where(members.c.account == str(args["account"])))


def _text(raw: Any) -> str:
    return contract_number_text(bytes(raw))


def _raw_no(event: ChainEvent) -> bytes | None:
    raw = event.args.get("contractNo")
    return bytes(raw) if raw is not None else None


def _stage_terms(item: Any) -> tuple[bytes, int]:
    if isinstance(item, dict):
        return bytes(item["specHash"]), int(item["amount"])
    spec, amount = item
    return bytes(spec), int(amount)


def event_names() -> Iterable[str]:
    """Every event the projection reads."""
    return Projection.events
