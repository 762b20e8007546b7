"""Reading the chain's state and events of one deployment into :mod:`collab_py.models` records."""

from __future__ import annotations

from typing import Any

from eth_typing import ChecksumAddress
from web3.contract import Contract
from web3.types import EventData

from collab_py.deploy import Deployment
from collab_py.exceptions import CollabError
from collab_py.models import (
    AgreementRecord,
    Evidence,
    MemberRecord,
    OrgRecord,
    PaymentRecord,
    SecondVoucherRecord,
    Signature,
    StageRecord,
)
from collab_py.types import (
    ContractStatus,
    Department,
    OrgKind,
    StageStatus,
    VoucherStatus,
    contract_number,
    contract_number_text,
    payment_voucher_id,
)


class NotFound(CollabError):
    """The chain holds no such org, contract or payment."""


class UnknownOrgError(NotFound):
    """No org with this id is registered."""


class UnknownContractError(NotFound):
    """No e-contract with this number is registered."""


class UnknownPaymentError(NotFound):
    """No payment application with this sequence number exists for the contract."""


def evidence(event: EventData) -> Evidence:
    """Where ``event`` was logged."""
    return Evidence(
        tx_hash=bytes(event["transactionHash"]),
        block_number=event["blockNumber"],
        block_hash=bytes(event["blockHash"]),
        log_index=event["logIndex"],
    )


class ChainReader:
    """Reads orgs, members, e-contracts, payments and second vouchers of ``deployment``."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._registry = deployment.registry
        self._escrow = deployment.escrow

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

    # ------------------------------------------------------------------ S2–S4
    def agreement(self, number: str | bytes) -> AgreementRecord:
        """E-contract ``number`` with its stages and signatures; :class:`UnknownContractError` if there is none."""
        raw = contract_number(number) if isinstance(number, str) else number
        agreement = self._registry.functions.agreementOf(raw).call()
        (asset, party_a, party_b, status, stage_count, _vouched, payment_count, doc_hash, total, committed) = agreement
        if status == ContractStatus.NONE:
            raise UnknownContractError(f"no e-contract {contract_number_text(raw)!r} is registered")
        proposed = self._one(self._registry, "ContractProposed", contractNo=raw)["args"]
        signed = self._latest(self._registry, "ContractSigned", contractNo=raw)
        results: dict[int, bytes] = {
            event["args"]["stageIndex"]: bytes(event["args"]["resultHash"])
            for event in self._logs(self._registry, "StageResultSubmitted", contractNo=raw)
        }
        stages = []
        for index, terms in enumerate(proposed["stages"][:stage_count]):
            spec_hash, amount = terms["specHash"], terms["amount"]
            stage_status = StageStatus(self._registry.functions.stageOf(raw, index).call()[1])
            result = results.get(index) if stage_status in (StageStatus.PENDING, StageStatus.CONFIRMED) else None
            stages.append(
                StageRecord(index=index, spec_hash=spec_hash, amount=amount, status=stage_status, result_hash=result)
            )
        return AgreementRecord(
            contract_no=contract_number_text(raw),
            party_a=party_a,
            party_b=party_b,
            doc_hash=doc_hash,
            asset=asset,
            total=total,
            committed=committed,
            status=ContractStatus(status),
            stages=tuple(stages),
            payment_count=payment_count,
            signature_b=Signature(signer=proposed["signer"], signature=proposed["signature"]),
            signature_a=(
                None
                if signed is None
                else Signature(signer=signed["args"]["signer"], signature=signed["args"]["signature"])
            ),
            signed_at=None if signed is None else signed["args"]["signedAt"],
        )

    # ------------------------------------------------------------------ S5–S6
    def payment(self, number: str | bytes, seq: int) -> PaymentRecord:
        """Payment ``seq`` of e-contract ``number``; :class:`UnknownPaymentError` if it was never applied for."""
        raw = contract_number(number) if isinstance(number, str) else number
        voucher_id = payment_voucher_id(raw, seq)
        amount, status, expiry, beneficiary, presenter = self._escrow.functions.voucherOf(voucher_id).call()
        if status == VoucherStatus.NONE:
            raise UnknownPaymentError(f"e-contract {contract_number_text(raw)!r} has no payment {seq}")
        applied = self._one(self._registry, "PaymentApplied", voucherId=voucher_id)["args"]
        fields: dict[str, Any] = {
            "voucher_id": voucher_id,
            "contract_no": contract_number_text(raw),
            "seq": seq,
            "amount": amount,
            "status": VoucherStatus(status),
            "payee_account_ciphertext": applied["payeeAccountCiphertext"],
        }
        if status >= VoucherStatus.FROZEN:
            issued = self._one(self._registry, "PaymentVoucherIssued", voucherId=voucher_id)["args"]
            fields |= {
                "expiry": expiry,
                "bank_account_hash": issued["bankAccountHash"],
                "bank_account_ciphertext": issued["bankAccountCiphertext"],
                "key_commitment": issued["keyCommitment"],
                "key_ciphertext": issued["keyCiphertext"],
            }
        if presenter:
            fields["presenter_org"] = presenter
        if beneficiary:
            fields["beneficiary_org"] = beneficiary
            assignment = self._latest(self._escrow, "AssignmentConfirmed", voucherId=voucher_id)
            if assignment is not None:
                fields["assignee_account_hash"] = assignment["args"]["bankAccountHash"]
                fields["assignee_account_ciphertext"] = assignment["args"]["bankAccountCiphertext"]
        return PaymentRecord(**fields)

    # ------------------------------------------------------------------ S7
    def second_vouchers(
        self, from_block: int | None = None, to_block: int | str = "latest"
    ) -> list[SecondVoucherRecord]:
        """Every second voucher in the block range (default: since the deployment)."""
        start = self.deployment.manifest.deployment_block if from_block is None else from_block
        events = self._escrow.events.SecondVoucher().get_logs(from_block=start, to_block=to_block)
        return [second_voucher(event) for event in events]

    def _logs(self, contract: Contract, name: str, **filters: Any) -> list[EventData]:
        event = getattr(contract.events, name)()
        logs = event.get_logs(argument_filters=filters, from_block=self.deployment.manifest.deployment_block)
        return list(logs)

    def _latest(self, contract: Contract, name: str, **filters: Any) -> EventData | None:
        logs = self._logs(contract, name, **filters)
        return logs[-1] if logs else None

    def _one(self, contract: Contract, name: str, **filters: Any) -> EventData:
        found = self._latest(contract, name, **filters)
        if found is None:
            raise NotFound(f"no {name} event for {filters}")
        return found


def second_voucher(event: EventData) -> SecondVoucherRecord:
    """The record of one ``SecondVoucher`` log."""
    args = event["args"]
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
        operator=args["operator"],
        evidence=evidence(event),
    )
