"""Reading the chain's state and events of one deployment into :mod:`collab_py.domain.models` records.

State comes from calls (a key, at the latest block); events from a log source: the chain through the one capped
log reader (:class:`~collab_py.chain.logs.ChainLogSource`, from the deployment block: what a command without a
ledger does), or a ledger's event store (:class:`~collab_py.ledger.store.StoreLogSource`, indexed by voucher id and
contract number: what the services beside a ledger use, whose cost does not grow with the chain's history).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3.types import TxReceipt

from collab_py.chain.build import load_artifact
from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import ContractStatus, Department, OrgKind, StageStatus, VoucherStatus
from collab_py.chain.logs import EVENT_SOURCES, ChainEvent, ChainLogSource, EventCodec, LogSource
from collab_py.domain.models import (
    AgreementRecord,
    AssetRecord,
    Evidence,
    InvoiceRecord,
    MemberRecord,
    OrgRecord,
    PaymentRecord,
    SecondVoucherRecord,
    Signature,
    StageRecord,
)
from collab_py.domain.types import contract_number, contract_number_text, payment_voucher_id
from collab_py.exceptions import CollabError, ContractError


class NotFound(CollabError):
    """The chain holds no such org, contract or payment."""


class UnknownOrgError(NotFound):
    """No org with this id is registered."""


class UnknownContractError(NotFound):
    """No e-contract with this number is registered."""


class UnknownPaymentError(NotFound):
    """No payment application with this sequence number exists for the contract."""


class PaymentNotReleasedError(NotFound):
    """The payment has no second voucher: the institution has not released it (yet)."""


class UnknownInvoiceError(NotFound):
    """No e-invoice is anchored for this payment."""


def evidence(event: ChainEvent) -> Evidence:
    """Where ``event`` was logged."""
    return Evidence(
        tx_hash=event.tx_hash, block_number=event.block_number, block_hash=event.block_hash, log_index=event.log_index
    )


def chain_source(deployment: Deployment, max_range: int = 5_000) -> ChainLogSource:
    """The events of ``deployment``'s contracts on its chain, from its deployment block, through the capped reader."""
    return ChainLogSource(
        deployment.w3,
        [deployment.registry.address, deployment.escrow.address],
        [load_artifact(name).abi for name in EVENT_SOURCES],
        deployment.manifest.deployment_block,
        max_range,
    )


class ChainReader:
    """Reads orgs, members, e-contracts, payments and second vouchers of ``deployment``; events from ``source``
    (default: the chain, through the capped log reader)."""

    def __init__(self, deployment: Deployment, source: LogSource | None = None) -> None:
        self.deployment = deployment
        self._registry = deployment.registry
        self._escrow = deployment.escrow
        self.source: LogSource = source or chain_source(deployment)
        self._abis = [load_artifact(name).abi for name in EVENT_SOURCES]
        self._codecs: dict[tuple[str, ...], EventCodec] = {}
        self._release_window: int | None = None

    # ------------------------------------------------------------------ S1
    def org(self, org_id: int) -> OrgRecord:
        """Org ``org_id``; :class:`UnknownOrgError` if it is not registered."""
        (treasury, kind, active), name = self._registry.functions.orgOf(org_id).call()
        if kind == OrgKind.NONE:
            raise UnknownOrgError(f"no org {org_id} is registered")
        key = self._registry.functions.encryptionKeyOf(org_id, int(Department.NONE)).call()
        return OrgRecord(
            org_id=org_id, name=name, kind=OrgKind(kind), treasury=treasury, active=active, encryption_key=key
        )

    def encryption_key(self, org_id: int, department: Department = Department.NONE) -> bytes:
        """The public key to encrypt to ``department`` of ``org_id`` (the org's key if the department has none)."""
        key = bytes(self._registry.functions.encryptionKeyOf(org_id, int(department)).call())
        if not key:
            raise UnknownOrgError(f"no org {org_id} is registered")
        return key

    def member(self, account: ChecksumAddress) -> MemberRecord:
        """The org and department ``account`` acts for (org 0 when unbound)."""
        org_id, department = self._registry.functions.memberOf(account).call()
        return MemberRecord(account=account, org_id=org_id, department=Department(department))

    def asset(self, asset: ChecksumAddress) -> AssetRecord:
        """Whether new contracts may be paid in ``asset``."""
        return AssetRecord(asset=asset, accepted=self._registry.functions.isAssetAccepted(asset).call())

    def assets(self) -> list[AssetRecord]:
        """Every asset governance ever listed (``AssetAcceptanceChanged``), in the order first listed, and whether it
        is accepted now."""
        events = self.source.query(["AssetAcceptanceChanged"])
        return [self.asset(asset) for asset in dict.fromkeys(event.args["asset"] for event in events)]

    def decimals_for(self, refusal: ContractError) -> int | None:
        """Decimals of the asset of the contract a refusal names (its ``contractNo``), to show its amounts; None when
        it names none or they cannot be read (an unknown contract, the node gone)."""
        raw = refusal.args_by_name.get("contractNo")
        if not isinstance(raw, bytes):
            return None
        try:
            return self.deployment.decimals(self.agreement(raw).asset)
        except Exception:  # said while showing another error: it must not fail in turn
            return None

    # ------------------------------------------------------------------ S2–S4
    def agreement(self, number: str | bytes) -> AgreementRecord:
        """E-contract ``number`` with its stages and signatures; :class:`UnknownContractError` if there is none."""
        raw = contract_number(number) if isinstance(number, str) else number
        agreement, asset = self._registry.functions.agreementOf(raw).call()
        (_asset_id, party_a, party_b, status, stage_count, _vouched, payment_count, unpaid) = agreement
        if status == ContractStatus.NONE:
            raise UnknownContractError(f"no e-contract {contract_number_text(raw)!r} is registered")
        events = self._events(raw, "ContractProposed", "ContractSigned", "StageResultSubmitted")
        proposed = _one(events, "ContractProposed")
        signed = events["ContractSigned"][-1].args if events["ContractSigned"] else None
        results = {event.args["stageIndex"]: event.args["resultHash"] for event in events["StageResultSubmitted"]}
        stages = []
        for index, (spec_hash, amount) in enumerate(proposed["stages"][:stage_count]):
            stage_status = StageStatus(self._registry.functions.stageOf(raw, index).call()[1])
            result = results.get(index) if stage_status in (StageStatus.PENDING, StageStatus.CONFIRMED) else None
            stages.append(
                StageRecord(index=index, spec_hash=spec_hash, amount=amount, status=stage_status, result_hash=result)
            )
        return AgreementRecord(
            contract_no=contract_number_text(raw),
            party_a=party_a,
            party_b=party_b,
            doc_hash=proposed["docHash"],
            terms_hash=proposed["termsHash"],
            asset=asset,
            total=proposed["total"],
            unpaid=unpaid,
            status=ContractStatus(status),
            stages=tuple(stages),
            payment_count=payment_count,
            signature_b=Signature(signer=proposed["signer"], signature=proposed["signature"]),
            signature_a=None if signed is None else Signature(signer=signed["signer"], signature=signed["signature"]),
            signed_at=None if signed is None else signed["signedAt"],
        )

    # ------------------------------------------------------------------ S5–S6
    def payment(self, number: str | bytes, seq: int) -> PaymentRecord:
        """Payment ``seq`` of e-contract ``number``; :class:`UnknownPaymentError` if it was never applied for."""
        raw = contract_number(number) if isinstance(number, str) else number
        (record,) = self.payments([(raw, seq)])
        return record

    def payments(self, keys: Sequence[tuple[bytes, int]]) -> list[PaymentRecord]:
        """Many payments ``(contract_no, seq)`` at once, in order: one JSON-RPC batch of ``voucherOf`` and
        ``commitmentOf`` calls and one read of their events from the log source; :class:`UnknownPaymentError` if one
        was never applied for."""
        ids = [payment_voucher_id(raw, seq) for raw, seq in keys]
        calls = [self._escrow.functions.voucherOf(voucher_id) for voucher_id in ids]
        calls += [self._escrow.functions.commitmentOf(voucher_id) for voucher_id in ids]
        if len(ids) == 1:
            answers = [call.call() for call in calls]
        else:
            with self.deployment.w3.batch_requests() as batch:
                for call in calls:
                    batch.add(call)
                answers = list(batch.execute())
        states, commitments = answers[: len(ids)], answers[len(ids) :]
        names = ("PaymentApplied", "PaymentVoucherIssued", "AssignmentConfirmed")
        events: dict[bytes, dict[str, list[ChainEvent]]] = {voucher_id: {n: [] for n in names} for voucher_id in ids}
        for event in self.source.query(names, ids):
            events[event.args["voucherId"]][event.name].append(event)
        records = []
        for (raw, seq), voucher_id, state, commitment in zip(keys, ids, states, commitments, strict=True):
            if state[1] == VoucherStatus.NONE:
                raise UnknownPaymentError(f"e-contract {contract_number_text(raw)!r} has no payment {seq}")
            payee = state[3] or self._registry.functions.partiesOf(raw).call()[2]  # set once a voucher is issued
            records.append(
                _payment(raw, seq, voucher_id, state, bytes(commitment), payee, self.release_window, events[voucher_id])
            )
        return records

    @property
    def release_window(self) -> int:
        """Seconds the institution alone has to release a requested payment (the escrow's ``releaseWindow``)."""
        if self._release_window is None:
            self._release_window = int(self._escrow.functions.releaseWindow().call())
        return self._release_window

    # ------------------------------------------------------------------ S7
    def second_vouchers(self, from_block: int | None = None, to_block: int | None = None) -> list[SecondVoucherRecord]:
        """Every second voucher in the block range (default: from the deployment to the head)."""
        return [second_voucher(event) for event in self.source.query(["SecondVoucher"], None, from_block, to_block)]

    def second_voucher_in(self, receipt: TxReceipt, voucher_id: bytes) -> SecondVoucherRecord:
        """The second voucher of ``voucher_id`` that the transaction of ``receipt`` emitted."""
        event = self._escrow_event_in(receipt, "SecondVoucher", voucher_id)
        if event is not None:
            return second_voucher(event)
        raise PaymentNotReleasedError(f"the transaction emitted no second voucher for 0x{voucher_id.hex()}")

    def invoice_in(self, receipt: TxReceipt, voucher_id: bytes) -> InvoiceRecord:
        """The e-invoice of ``voucher_id`` that the transaction of ``receipt`` anchored."""
        event = self._escrow_event_in(receipt, "InvoiceAnchored", voucher_id)
        if event is not None:
            return invoice_record(event)
        raise UnknownInvoiceError(f"the transaction anchored no e-invoice for 0x{voucher_id.hex()}")

    def _escrow_event_in(self, receipt: TxReceipt, name: str, voucher_id: bytes) -> ChainEvent | None:
        """The escrow's event ``name`` about ``voucher_id`` among the logs of ``receipt``, if it emitted one."""
        codec = self._codec(name)
        topic = codec.topics[0]
        for entry in receipt["logs"]:
            if entry["topics"] and bytes(entry["topics"][0]) == topic and entry["address"] == self._escrow.address:
                event = codec.decode(entry)
                if event.args["voucherId"] == voucher_id:
                    return event
        return None

    def second_voucher_of(self, number: str | bytes, seq: int) -> SecondVoucherRecord:
        """The second voucher of payment ``seq`` of e-contract ``number``; :class:`PaymentNotReleasedError` if none."""
        raw = contract_number(number) if isinstance(number, str) else number
        found = self._events(payment_voucher_id(raw, seq), "SecondVoucher")["SecondVoucher"]
        if not found:
            raise PaymentNotReleasedError(f"payment {seq} of e-contract {contract_number_text(raw)!r} is not released")
        return second_voucher(found[-1])

    # ------------------------------------------------------------------ S8.3
    def invoice(self, number: str | bytes, seq: int) -> InvoiceRecord:
        """The e-invoice anchored for payment ``seq`` of e-contract ``number``; :class:`UnknownInvoiceError` if none."""
        raw = contract_number(number) if isinstance(number, str) else number
        voucher_id = payment_voucher_id(raw, seq)
        anchored = self.anchored_invoice(voucher_id) is not None
        found = self._events(voucher_id, "InvoiceAnchored")["InvoiceAnchored"] if anchored else []
        if not found:
            raise UnknownInvoiceError(f"no e-invoice is anchored for payment {seq} of {contract_number_text(raw)!r}")
        return invoice_record(found[-1])

    def anchored_invoice(self, voucher_id: bytes) -> bytes | None:
        """The hash of the e-invoice the escrow holds for ``voucher_id`` now, None if none: one key read."""
        anchored = bytes(self._escrow.functions.invoiceOf(voucher_id).call())
        return anchored if any(anchored) else None

    def _events(self, first_topic: bytes, *names: str) -> dict[str, list[ChainEvent]]:
        """The named events of the registry and escrow whose first indexed argument is ``first_topic``, by name,
        in chain order: one read of the log source for all of them."""
        found: dict[str, list[ChainEvent]] = {name: [] for name in names}
        for event in self.source.query(names, [first_topic]):
            found[event.name].append(event)
        return found

    def _codec(self, *names: str) -> EventCodec:
        if names not in self._codecs:
            self._codecs[names] = EventCodec(self._abis, names)
        return self._codecs[names]


def _payment(
    raw: bytes,
    seq: int,
    voucher_id: bytes,
    state: Sequence[Any],
    commitment: bytes,
    payee: int,
    release_window: int,
    events: dict[str, list[ChainEvent]],
) -> PaymentRecord:
    """A payment's record from its escrow state (``voucherOf``, ``commitmentOf``) and its events."""
    amount, status_value, time, _, org = state
    status = VoucherStatus(status_value)
    applied = _one(events, "PaymentApplied")
    fields: dict[str, Any] = {
        "voucher_id": voucher_id,
        "contract_no": contract_number_text(raw),
        "seq": seq,
        "amount": amount,
        "status": status,
        "payee_org": payee,
        "account_hash": applied["accountHash"],
        "account_for_payer": applied["accountForPayer"],
        "account_for_institution": applied["accountForInstitution"],
    }
    if events["PaymentVoucherIssued"]:
        issued = events["PaymentVoucherIssued"][-1].args
        fields |= {
            "expiry": issued["expiry"],
            "key_commitment": issued["keyCommitment"],
            "key_ciphertext": issued["keyCiphertext"],
        }
    if status is VoucherStatus.PRESENTED:
        fields["presenter_org"] = org
    elif org:  # REQUESTED, or final after a request
        fields["beneficiary_org"] = org
        fields["requested_at"] = time
    if status is VoucherStatus.REQUESTED:
        fields["beneficiary"] = to_checksum_address(commitment[12:])
        fields["release_deadline"] = time + release_window
    if org and events["AssignmentConfirmed"] and status is not VoucherStatus.PRESENTED:
        assignment = events["AssignmentConfirmed"][-1].args
        if assignment["beneficiaryOrg"] == org:
            fields["assignee_account_hash"] = assignment["bankAccountHash"]
            fields["assignee_account_ciphertext"] = assignment["bankAccountCiphertext"]
    return PaymentRecord(**fields)


def _one(events: dict[str, list[ChainEvent]], name: str) -> dict[str, Any]:
    """The args of the latest ``name`` event; :class:`NotFound` if there is none."""
    if not events[name]:
        raise NotFound(f"no {name} event on chain")
    return events[name][-1].args


def invoice_record(event: ChainEvent) -> InvoiceRecord:
    """The record of one ``InvoiceAnchored`` event."""
    args = event.args
    return InvoiceRecord(
        voucher_id=args["voucherId"],
        contract_no=contract_number_text(args["contractNo"]),
        seq=args["seq"],
        payee_org=args["payeeOrg"],
        invoice_hash=args["invoiceHash"],
        ciphertext=args["invoiceCiphertext"],
        signature=Signature(signer=args["signer"], signature=args["signature"]),
        evidence=evidence(event),
    )


def second_voucher(event: ChainEvent) -> SecondVoucherRecord:
    """The record of one ``SecondVoucher`` event."""
    args = event.args
    return SecondVoucherRecord(
        voucher_id=args["voucherId"],
        contract_no=contract_number_text(args["contractNo"]),
        seq=args["seq"],
        payer_org=args["payerOrg"],
        payee_org=args["payeeOrg"],
        beneficiary_org=args["beneficiaryOrg"],
        beneficiary=args["beneficiary"],
        asset=args["asset"],
        amount=args["amount"],
        paid_at=args["paidAt"],
        released_by=args["releasedBy"],
        evidence=evidence(event),
    )
