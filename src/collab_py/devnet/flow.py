"""Driving the whole flow S2–S7 for a set of parties, each step sent by the service of the department that owns it.

:class:`FlowDriver` is used by the demo, the gas benchmark and the tests: it takes
:class:`~collab_py.devnet.parties.Party` objects (keys in memory) and returns each step's receipt, where the role
services return records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.types import TxReceipt

from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import Department
from collab_py.chain.transactor import Transactor
from collab_py.devnet.parties import Party
from collab_py.domain import crypto
from collab_py.domain.documents import DocumentStore
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.services import BusinessService, FinanceService, InstitutionService, StepObserver, StepRecord
from collab_py.services.base import ServiceOptions
from collab_py.services.finance import KEY_LIFETIME_SECONDS

__all__ = ["KEY_LIFETIME_SECONDS", "ContractDraft", "FlowDriver", "StageDraft", "StepRecord"]


@dataclass
class FlowDriver:
    """Sends each step of S2–S7 as the department that owns it; ``on_step`` sees every transaction.

    With ``documents``, each org's business department keeps its e-contracts in a store below that folder.
    """

    deployment: Deployment
    on_step: StepObserver | None = None
    documents: Path | None = None
    records: list[StepRecord] = field(default_factory=list)
    _services: dict[tuple[int, Department], BusinessService | FinanceService | InstitutionService] = field(
        default_factory=dict
    )

    @property
    def chain_id(self) -> int:
        """Chain id of the deployment."""
        return self.deployment.manifest.chain_id

    def transactor(self, account: LocalAccount) -> Transactor:
        """The transactor of ``account`` if one of the parties' services uses it, else a new one."""
        for service in self._services.values():
            if service.address == account.address:
                return service.tx
        return Transactor(self.deployment.w3, account)

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

    def propose(self, b: Party, a: Party, draft: ContractDraft) -> TxReceipt:
        """S2.1–S2.2: Party B registers the contract with its signed digital code."""
        business = self.business(b)
        return business.execute(business.prepare_propose(draft, a.org_id))

    def sign(self, a: Party, draft: ContractDraft, document: str | None = None) -> TxReceipt:
        """S2.3–S2.4: Party A recomputes the document hash from what it received and countersigns."""
        business = self.business(a)
        text = draft.text if document is None else document
        return business.execute(business.prepare_countersign(draft.contract_no, text.encode()))

    def submit_stage(self, b: Party, draft: ContractDraft, index: int, result: str) -> bytes:
        """S3.1–S3.2: Party B submits a stage result with its signed feedback; returns the result hash."""
        business = self.business(b)
        result_hash = keccak(text=result)
        business.execute(business.prepare_submit_stage(draft, index, result_hash))
        return result_hash

    def confirm_stage(self, a: Party, draft: ContractDraft, index: int, result_hash: bytes) -> TxReceipt:
        """S3.3: Party A confirms a stage result; its first voucher is issued."""
        business = self.business(a)
        return business.execute(business.prepare_confirm_stage(draft, index, result_hash))

    def apply_settlement(self, b: Party, draft: ContractDraft) -> TxReceipt:
        """S4.1: Party B applies for business settlement."""
        business = self.business(b)
        return business.execute(business.prepare_apply_settlement(draft.contract_no))

    def approve_settlement(self, a: Party, draft: ContractDraft) -> TxReceipt:
        """S4.2: Party A approves; the business settlement voucher is issued."""
        business = self.business(a)
        return business.execute(business.prepare_approve_settlement(draft.contract_no))

    def apply_payment(self, b: Party, a: Party, draft: ContractDraft, amount: int, bank_account: str) -> int:
        """S5.1: Party B's finance applies for payment, its bank account encrypted to Party A; returns the seq."""
        finance = self.finance(b)
        seq = int(self.deployment.registry.functions.agreementOf(draft.contract_no).call()[6]) + 1
        payer_key = a.encryption_key.public_key
        finance.execute(finance.prepare_apply_payment(draft.contract_no, seq, amount, bank_account, payer_key))
        return seq

    def issue_voucher(
        self,
        a: Party,
        b: Party,
        institution: Party,
        draft: ContractDraft,
        seq: int,
        *,
        amount: int,
        bank_account: str,
        lifetime: int = KEY_LIFETIME_SECONDS,
    ) -> bytes:
        """S5.2–S5.4: Party A's finance issues the payment voucher and freezes the funds; returns the sealed key."""
        finance = self.finance(a)
        prepared, sealed_key = finance.prepare_issue_voucher(
            draft.contract_no,
            seq,
            amount=amount,
            bank_account=bank_account,
            expiry=int(self.deployment.w3.eth.get_block("latest")["timestamp"]) + lifetime,
            payee_key=b.encryption_key.public_key,
            institution_key=institution.encryption_key.public_key,
        )
        finance.execute(prepared)
        return sealed_key

    def request_payment(self, b: Party, draft: ContractDraft, seq: int, sealed_key: bytes) -> TxReceipt:
        """S6.1: Party B's finance opens the payment key and redeems it before expiry."""
        finance = self.finance(b)
        key = crypto.open_sealed(
            b.encryption_key, sealed_key, crypto.PaymentKey, finance.binding(draft.contract_no, seq)
        )
        return finance.execute(finance.prepare_redeem(draft.contract_no, seq, key.secret))

    def release(self, institution: Party, draft: ContractDraft, seq: int) -> TxReceipt:
        """S6.2, S7.1: the institution's operator pays the beneficiary; the second voucher is emitted."""
        operator = self.institution(institution)
        return operator.execute(operator.prepare_release(draft.contract_no, seq))

    def run_to_settlement(self, a: Party, b: Party, draft: ContractDraft) -> None:
        """Runs S2–S4 for ``draft``: signed by both, every stage vouched, business settlement approved."""
        self.propose(b, a, draft)
        self.sign(a, draft)
        for index in range(len(draft.stages)):
            result_hash = self.submit_stage(b, draft, index, f"{draft.number} stage {index} delivered")
            self.confirm_stage(a, draft, index, result_hash)
        self.apply_settlement(b, draft)
        self.approve_settlement(a, draft)

    def run(self, a: Party, b: Party, institution: Party, draft: ContractDraft, bank_account: str) -> int:
        """Runs S2–S7 for ``draft`` in full, paying the total in one payment; returns the payment's seq."""
        self.run_to_settlement(a, b, draft)
        seq = self.apply_payment(b, a, draft, draft.total, bank_account)
        sealed_key = self.issue_voucher(a, b, institution, draft, seq, amount=draft.total, bank_account=bank_account)
        self.request_payment(b, draft, seq, sealed_key)
        self.release(institution, draft, seq)
        return seq

    def _service(self, party: Party, department: Department) -> BusinessService | FinanceService | InstitutionService:
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
