"""The role services of a development deployment's parties, made once each: how the demo, the benchmarks and the
tests drive the flow S2–S7 — every step through the service of the department that owns it, and the steps to a
point of the flow (signed, vouched, settled, issued, paid) sent as the services prepare them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eth_utils.crypto import keccak

from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import Department
from collab_py.devnet.parties import Party
from collab_py.domain import crypto
from collab_py.domain.documents import DocumentStore
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.econtract import EContract
from collab_py.services import BusinessService, FinanceService, InstitutionService, Service, StepObserver, StepRecord
from collab_py.services.base import ServiceOptions
from collab_py.services.finance import KEY_LIFETIME_SECONDS


def delivered(draft: ContractDraft, index: int) -> bytes:
    """What Party B delivers for stage ``index`` of ``draft``: the result its first voucher is for."""
    return f"{draft.number} stage {index} delivered".encode()


@dataclass
class Flow:
    """Each party's business, finance or operator service, made on first use; ``on_step`` and :attr:`records` see
    every transaction they send.

    With ``documents``, each org's business department keeps its e-contracts in a store below that folder.
    """

    deployment: Deployment
    on_step: StepObserver | None = None
    documents: Path | None = None
    records: list[StepRecord] = field(default_factory=list)
    _services: dict[tuple[int, Department], Service] = field(default_factory=dict)

    def business(self, party: Party) -> BusinessService:
        """``party``'s business department."""
        service = self._service(party, Department.BUSINESS)
        assert isinstance(service, BusinessService)
        return service

    def finance(self, party: Party) -> FinanceService:
        """``party``'s finance department."""
        service = self._service(party, Department.FINANCE)
        assert isinstance(service, FinanceService)
        return service

    def institution(self, party: Party) -> InstitutionService:
        """The payment institution's operator."""
        service = self._service(party, Department.OPERATOR)
        assert isinstance(service, InstitutionService)
        return service

    # The steps to a point of the flow, for the tests, the benchmarks and the demo: each the prepared transaction of
    # the department's service, sent as it is (no record read back after each), with the keys the parties hold.
    def econtract(self, a: Party, b: Party, draft: ContractDraft) -> EContract:
        """``draft`` as the e-contract B registers with A, paid in the deployment's asset."""
        return draft.econtract(party_a=a.org_id, party_b=b.org_id, asset=self.deployment.asset.address)

    def sign(self, a: Party, b: Party, draft: ContractDraft) -> EContract:
        """S2: ``draft`` proposed by B and countersigned by A over the same document and terms."""
        econtract = self.econtract(a, b, draft)
        business_a, business_b = self.business(a), self.business(b)
        business_b.execute(business_b.prepare_propose(econtract))
        business_a.execute(business_a.prepare_countersign(econtract))
        return econtract

    def vouch(self, a: Party, b: Party, draft: ContractDraft) -> None:
        """S2–S3: signed, and every stage delivered by B and confirmed by A (its first voucher)."""
        econtract = self.sign(a, b, draft)
        business_a, business_b = self.business(a), self.business(b)
        for index in range(len(draft.stages)):
            result_hash = keccak(delivered(draft, index))
            business_b.execute(business_b.prepare_submit_stage(econtract, index, result_hash))
            business_a.execute(business_a.prepare_confirm_stage(econtract, index, result_hash))

    def settle(self, a: Party, b: Party, draft: ContractDraft) -> None:
        """S2–S4: vouched, and business settlement applied for by B and approved by A."""
        self.vouch(a, b, draft)
        business_a, business_b = self.business(a), self.business(b)
        business_b.execute(business_b.prepare_apply_settlement(draft.contract_no))
        business_a.execute(business_a.prepare_approve_settlement(draft.contract_no))

    def issue(
        self,
        a: Party,
        b: Party,
        institution: Party,
        draft: ContractDraft,
        amount: int | None = None,
        *,
        bank_account: str,
        lifetime: int = KEY_LIFETIME_SECONDS,
    ) -> tuple[int, bytes]:
        """S2–S5: settled, a payment of ``amount`` (the total by default) applied for by B into ``bank_account`` and
        its voucher issued by A, the funds frozen; returns the payment's seq and its payment key sealed to B."""
        self.settle(a, b, draft)
        finance_a, finance_b = self.finance(a), self.finance(b)
        amount = draft.total if amount is None else amount
        seq = int(self.deployment.registry.functions.agreementOf(draft.contract_no).call()[0][6]) + 1
        account = finance_b.receiving_account(draft.contract_no, seq, bank_account)
        finance_b.execute(
            finance_b.prepare_apply_payment(
                draft.contract_no,
                seq,
                amount,
                account,
                payer_key=a.encryption_key.public_key,
                institution_key=institution.encryption_key.public_key,
            )
        )
        voucher, sealed_key = finance_a.prepare_issue_voucher(
            draft.contract_no,
            seq,
            amount=amount,
            account=account,
            expiry=int(self.deployment.w3.eth.get_block("latest")["timestamp"]) + lifetime,
            payee_key=b.encryption_key.public_key,
        )
        finance_a.execute(voucher)
        return seq, sealed_key

    def run(self, a: Party, b: Party, institution: Party, draft: ContractDraft, bank_account: str) -> int:
        """S2–S7 for ``draft`` in full: the total paid in one payment that B redeems and the institution releases;
        returns the payment's seq."""
        seq, sealed_key = self.issue(a, b, institution, draft, bank_account=bank_account)
        finance_b, operator = self.finance(b), self.institution(institution)
        key = crypto.open_sealed(
            b.encryption_key, sealed_key, crypto.PaymentKey, finance_b.binding(draft.contract_no, seq)
        )
        finance_b.execute(finance_b.prepare_redeem(draft.contract_no, seq, key.secret))
        operator.execute(operator.prepare_release(draft.contract_no, seq))
        return seq

    def _service(self, party: Party, department: Department) -> Service:
        key = (party.org_id, department)
        if key not in self._services:
            options: ServiceOptions = {
                "org_id": party.org_id,
                "label": f"{party.name}/{department.name}",
                "observer": self._record,
            }
            account = party.account(department)
            if department is Department.BUSINESS:
                store = None if self.documents is None else DocumentStore(self.documents / f"org-{party.org_id}")
                self._services[key] = BusinessService(self.deployment, account, documents=store, **options)
            elif department is Department.FINANCE:
                self._services[key] = FinanceService(
                    self.deployment, account, encryption_key=party.encryption_key, **options
                )
            else:
                self._services[key] = InstitutionService(
                    self.deployment, account, encryption_key=party.encryption_key, **options
                )
        return self._services[key]

    def _record(self, record: StepRecord) -> None:
        self.records.append(record)
        if self.on_step is not None:
            self.on_step(record)
