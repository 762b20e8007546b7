"""Driving the on-chain flow S2–S7 step by step, with each transaction's gas recorded.

:class:`FlowDriver` is the thin Python layer over the contracts used by the demo, the gas benchmark and the tests.
Each method is one step of the SPEC, sent by the department that owns it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from collab_py import crypto, eip712
from collab_py.chain import Transactor
from collab_py.deploy import Deployment
from collab_py.parties import Party
from collab_py.types import Department, contract_number, payment_voucher_id

#: Default lifetime of a payment key.
KEY_LIFETIME_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class StepRecord:
    """One transaction of the flow: what it did, who sent it, and what it cost."""

    step: str
    requirement: str
    actor: str
    tx_hash: str
    gas_used: int
    block: int


@dataclass(frozen=True)
class StageDraft:
    """One stage of an e-contract document: its deliverable specification and amount (in token units)."""

    specification: str
    amount: int

    @property
    def spec_hash(self) -> bytes:
        """Hash of the deliverable specification, as registered on chain."""
        return keccak(text=self.specification)

    def terms(self) -> tuple[bytes, int]:
        """The ``StageTerms`` tuple the contracts take."""
        return (self.spec_hash, self.amount)


@dataclass(frozen=True)
class ContractDraft:
    """Party B's e-contract document (off chain) with its number and stages."""

    number: str
    text: str
    stages: tuple[StageDraft, ...]

    @property
    def contract_no(self) -> bytes:
        """The contract number as ``bytes32``."""
        return contract_number(self.number)

    @property
    def doc_hash(self) -> bytes:
        """Hash of the document: what both parties sign."""
        return keccak(text=self.text)

    @property
    def total(self) -> int:
        """Sum of the stage amounts."""
        return sum(stage.amount for stage in self.stages)


@dataclass
class FlowDriver:
    """Sends each step of S2–S7 as the department that owns it; ``on_step`` sees every transaction."""

    deployment: Deployment
    on_step: Callable[[StepRecord], None] | None = None
    records: list[StepRecord] = field(default_factory=list)
    _transactors: dict[str, Transactor] = field(default_factory=dict)

    @property
    def chain_id(self) -> int:
        """Chain id of the deployment."""
        return self.deployment.manifest.chain_id

    def transactor(self, account: LocalAccount) -> Transactor:
        """The (cached) transactor of ``account``."""
        if account.address not in self._transactors:
            self._transactors[account.address] = Transactor(self.deployment.w3, account)
        return self._transactors[account.address]

    def propose(self, b: Party, a: Party, draft: ContractDraft) -> TxReceipt:
        """S2.1–S2.2: Party B registers the contract with its signed digital code."""
        signer = b.account(Department.BUSINESS)
        code = eip712.digital_code(
            self.chain_id, self.deployment.registry.address, draft.contract_no, b.org_id, draft.doc_hash
        )
        terms = (
            draft.contract_no,
            a.org_id,
            draft.doc_hash,
            self.deployment.asset.address,
            [stage.terms() for stage in draft.stages],
        )
        call = self.deployment.registry.functions.proposeContract(
            terms, signer.address, eip712.sign_typed(signer, code)
        )
        return self._send("proposeContract", "S2.1", b, Department.BUSINESS, call)

    def sign(self, a: Party, draft: ContractDraft, document: str | None = None) -> TxReceipt:
        """S2.3–S2.4: Party A recomputes the document hash from what it received and countersigns."""
        doc_hash = keccak(text=draft.text if document is None else document)
        signer = a.account(Department.BUSINESS)
        code = eip712.digital_code(
            self.chain_id, self.deployment.registry.address, draft.contract_no, a.org_id, doc_hash
        )
        call = self.deployment.registry.functions.signContract(
            draft.contract_no, doc_hash, signer.address, eip712.sign_typed(signer, code)
        )
        return self._send("signContract", "S2.3", a, Department.BUSINESS, call)

    def submit_stage(self, b: Party, draft: ContractDraft, index: int, result: str) -> bytes:
        """S3.1–S3.2: Party B submits a stage result with its signed feedback; returns the result hash."""
        stage = draft.stages[index]
        result_hash = keccak(text=result)
        signer = b.account(Department.BUSINESS)
        feedback = eip712.stage_feedback(
            self.chain_id,
            self.deployment.registry.address,
            contract_no=draft.contract_no,
            org_id=b.org_id,
            doc_hash=draft.doc_hash,
            stage_index=index,
            spec_hash=stage.spec_hash,
            result_hash=result_hash,
        )
        call = self.deployment.registry.functions.submitStageResult(
            draft.contract_no, index, stage.terms(), result_hash, signer.address, eip712.sign_typed(signer, feedback)
        )
        self._send("submitStageResult", "S3.1", b, Department.BUSINESS, call)
        return result_hash

    def confirm_stage(self, a: Party, draft: ContractDraft, index: int, result_hash: bytes) -> TxReceipt:
        """S3.3: Party A confirms a stage result; its first voucher is issued."""
        call = self.deployment.registry.functions.confirmStageResult(
            draft.contract_no, index, draft.stages[index].terms(), result_hash
        )
        return self._send("confirmStageResult", "S3.3", a, Department.BUSINESS, call)

    def apply_settlement(self, b: Party, draft: ContractDraft) -> TxReceipt:
        """S4.1: Party B applies for business settlement."""
        call = self.deployment.registry.functions.applyBusinessSettlement(draft.contract_no)
        return self._send("applyBusinessSettlement", "S4.1", b, Department.BUSINESS, call)

    def approve_settlement(self, a: Party, draft: ContractDraft) -> TxReceipt:
        """S4.2: Party A approves; the business settlement voucher is issued."""
        call = self.deployment.registry.functions.approveBusinessSettlement(draft.contract_no)
        return self._send("approveBusinessSettlement", "S4.2", a, Department.BUSINESS, call)

    def apply_payment(self, b: Party, a: Party, draft: ContractDraft, amount: int, bank_account: str) -> int:
        """S5.1: Party B's finance applies for payment, its bank account encrypted to Party A; returns the seq."""
        seq = int(self.deployment.registry.functions.agreementOf(draft.contract_no).call()[6]) + 1
        account = crypto.BankAccount(binding=self._binding(draft, seq), salt=crypto.new_salt(), account=bank_account)
        call = self.deployment.registry.functions.applyForPayment(
            draft.contract_no, amount, crypto.seal(a.encryption_key.public_key, account)
        )
        self._send("applyForPayment", "S5.1", b, Department.FINANCE, call)
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
        bind = self._binding(draft, seq)
        salt = crypto.new_salt()
        secret = crypto.new_secret()
        expiry = int(self.deployment.w3.eth.get_block("latest")["timestamp"]) + lifetime
        account = crypto.BankAccount(binding=bind, salt=salt, account=bank_account)
        key = crypto.PaymentKey(
            binding=bind,
            contract_no=draft.contract_no,
            amount=amount,
            payer_org=a.org_id,
            expiry=expiry,
            secret=secret,
            bank_account=bank_account,
        )
        sealed_key = crypto.seal(b.encryption_key.public_key, key)
        terms = (
            amount,
            crypto.bank_account_hash(bank_account, salt),
            crypto.seal(institution.encryption_key.public_key, account),
            crypto.key_commitment(self.chain_id, self.deployment.escrow.address, self._voucher_id(draft, seq), secret),
            expiry,
            sealed_key,
        )
        call = self.deployment.registry.functions.issuePaymentVoucher(draft.contract_no, seq, terms)
        self._send("issuePaymentVoucher", "S5.2", a, Department.FINANCE, call)
        return sealed_key

    def request_payment(self, b: Party, draft: ContractDraft, seq: int, sealed_key: bytes) -> TxReceipt:
        """S6.1: Party B's finance opens the payment key and redeems it before expiry."""
        key = crypto.open_sealed(b.encryption_key, sealed_key, crypto.PaymentKey, self._binding(draft, seq))
        call = self.deployment.escrow.functions.requestPayment(draft.contract_no, seq, key.secret)
        return self._send("requestPayment", "S6.1", b, Department.FINANCE, call)

    def release(self, institution: Party, draft: ContractDraft, seq: int) -> TxReceipt:
        """S6.2, S7.1: the institution's operator pays the beneficiary; the second voucher is emitted."""
        call = self.deployment.escrow.functions.release(draft.contract_no, seq)
        return self._send("release", "S6.2", institution, Department.OPERATOR, call)

    def run(self, a: Party, b: Party, institution: Party, draft: ContractDraft, bank_account: str) -> int:
        """Runs S2–S7 for ``draft`` in full, paying the total in one payment; returns the payment's seq."""
        self.propose(b, a, draft)
        self.sign(a, draft)
        for index in range(len(draft.stages)):
            result_hash = self.submit_stage(b, draft, index, f"{draft.number} stage {index} delivered")
            self.confirm_stage(a, draft, index, result_hash)
        self.apply_settlement(b, draft)
        self.approve_settlement(a, draft)
        seq = self.apply_payment(b, a, draft, draft.total, bank_account)
        sealed_key = self.issue_voucher(a, b, institution, draft, seq, amount=draft.total, bank_account=bank_account)
        self.request_payment(b, draft, seq, sealed_key)
        self.release(institution, draft, seq)
        return seq

    def _binding(self, draft: ContractDraft, seq: int) -> crypto.VoucherBinding:
        return crypto.binding(self.chain_id, self.deployment.escrow.address, self._voucher_id(draft, seq))

    @staticmethod
    def _voucher_id(draft: ContractDraft, seq: int) -> bytes:
        return payment_voucher_id(draft.contract_no, seq)

    def _send(
        self, step: str, requirement: str, party: Party, department: Department, call: ContractFunction
    ) -> TxReceipt:
        receipt = self.transactor(party.account(department)).transact(call)
        record = StepRecord(
            step=step,
            requirement=requirement,
            actor=f"{party.name}/{department.name}",
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            gas_used=int(receipt["gasUsed"]),
            block=int(receipt["blockNumber"]),
        )
        self.records.append(record)
        if self.on_step is not None:
            self.on_step(record)
        return receipt
