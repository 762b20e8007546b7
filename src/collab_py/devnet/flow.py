"""The role services of a development deployment's parties, made once each: how the demo, the benchmarks and the
tests drive the flow S2–S7 — every step through the service of the department that owns it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import Department
from collab_py.devnet.parties import Party
from collab_py.domain.documents import DocumentStore
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.models import AgreementRecord
from collab_py.services import BusinessService, FinanceService, InstitutionService, Service, StepObserver, StepRecord
from collab_py.services.base import ServiceOptions


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

    def settle(self, a: Party, b: Party, draft: ContractDraft) -> AgreementRecord:
        """S2–S4 for ``draft``: proposed by B, countersigned by A with the document it received, every stage
        delivered by B and confirmed by A, business settlement applied for and approved."""
        business_a, business_b = self.business(a), self.business(b)
        business_b.propose(draft, a.org_id)
        business_a.countersign(draft.number, draft.text.encode())
        for index in range(len(draft.stages)):
            business_b.submit_stage(draft.number, index, f"{draft.number} stage {index} delivered".encode())
            business_a.confirm_stage(draft.number, index)
        business_b.apply_settlement(draft.number)
        return business_a.approve_settlement(draft.number)

    def run(self, a: Party, b: Party, institution: Party, draft: ContractDraft, bank_account: str) -> int:
        """S2–S7 for ``draft`` in full, the total paid in one payment that B redeems and the institution releases;
        returns the payment's seq."""
        self.settle(a, b, draft)
        seq = self.finance(b).apply_payment(draft.number, draft.total, bank_account).seq
        self.finance(a).issue_voucher(draft.number, seq)
        self.finance(b).redeem(draft.number, seq)
        self.institution(institution).release(draft.number, seq)
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
