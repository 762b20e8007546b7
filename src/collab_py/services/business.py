"""The BUSINESS department of a member org: e-contracts (S2), stage results (S3) and business settlement (S4)."""

from __future__ import annotations

from typing import Unpack

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from collab_py.chain import eip712
from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import Department
from collab_py.chain.errors import StageOutOfRange
from collab_py.chain.transactor import Transactor
from collab_py.domain.documents import DocumentNotFound, DocumentStore
from collab_py.domain.documents import verify as verify_document
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.models import AgreementRecord, StageRecord
from collab_py.domain.types import as_contract_no, contract_number
from collab_py.services.base import PreparedStep, Service, ServiceOptions


class BusinessService(Service):
    """Party A's or Party B's business department. ``documents`` keeps the e-contracts it creates or receives."""

    department = Department.BUSINESS

    def __init__(
        self,
        deployment: Deployment,
        account: LocalAccount | Transactor,
        *,
        documents: DocumentStore | None = None,
        **options: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(deployment, account, **options)
        self.documents = documents

    # ------------------------------------------------------------------ S2
    def prepare_propose(self, draft: ContractDraft, party_a: int) -> PreparedStep:
        """S2.1–S2.2: registers ``draft`` with Party A ``party_a``, signing the digital code."""
        signer = self.tx.account
        code = eip712.digital_code(
            self.chain_id, self.deployment.registry.address, draft.contract_no, self.org_id, draft.doc_hash
        )
        terms = (
            draft.contract_no,
            party_a,
            draft.doc_hash,
            self.deployment.asset.address,
            [stage.terms() for stage in draft.stages],
        )
        call = self.deployment.registry.functions.proposeContract(
            terms, signer.address, eip712.sign_typed(signer, code)
        )
        return PreparedStep("proposeContract", "S2.1", call, 130_000 + 120_000 * len(draft.stages))

    def propose(self, draft: ContractDraft, party_a: int) -> AgreementRecord:
        """Party B registers and signs e-contract ``draft`` (S2.1); the document goes to the document store."""
        if self.documents is not None:
            self.documents.put(draft.text.encode())
        self.execute(self.prepare_propose(draft, party_a))
        return self.reader.agreement(draft.contract_no)

    def prepare_countersign(self, number: str | bytes, document: bytes) -> PreparedStep:
        """S2.3: Party A's signature of the digital code over its own hash of ``document``."""
        raw = as_contract_no(number)
        doc_hash = keccak(document)
        signer = self.tx.account
        code = eip712.digital_code(self.chain_id, self.deployment.registry.address, raw, self.org_id, doc_hash)
        call = self.deployment.registry.functions.signContract(
            raw, doc_hash, signer.address, eip712.sign_typed(signer, code)
        )
        return PreparedStep("signContract", "S2.3", call, 80_000)

    def countersign(self, number: str | bytes, document: bytes | None = None) -> AgreementRecord:
        """Party A checks the document it received against the chain and countersigns (S2.3–S2.4).

        ``document`` defaults to the document store's copy of the registered hash. A document whose hash differs
        from Party B's is refused here with :class:`DocumentHashMismatch`, before anything is signed.
        """
        agreement = self.reader.agreement(as_contract_no(number))
        if document is None:
            if self.documents is None:
                raise DocumentNotFound("no document given and no document store to find it in")
            document = self.documents.get(agreement.doc_hash)
        verify_document(document, agreement.doc_hash)
        if self.documents is not None:
            self.documents.put(document)
        self.execute(self.prepare_countersign(number, document))
        return self.reader.agreement(as_contract_no(number))

    # ------------------------------------------------------------------ S3
    def prepare_submit_stage(
        self, draft_or_agreement: ContractDraft | AgreementRecord, index: int, result_hash: bytes
    ) -> PreparedStep:
        """S3.1: Party B's signed feedback binding ``result_hash`` to stage ``index`` of the contract."""
        raw, doc_hash, stages = _terms(draft_or_agreement)
        if not 0 <= index < len(stages):
            raise stage_out_of_range(raw, index)
        spec_hash, amount = stages[index]
        signer = self.tx.account
        feedback = eip712.stage_feedback(
            self.chain_id,
            self.deployment.registry.address,
            contract_no=raw,
            org_id=self.org_id,
            doc_hash=doc_hash,
            stage_index=index,
            spec_hash=spec_hash,
            result_hash=result_hash,
        )
        call = self.deployment.registry.functions.submitStageResult(
            raw, index, (spec_hash, amount), result_hash, signer.address, eip712.sign_typed(signer, feedback)
        )
        return PreparedStep("submitStageResult", "S3.1", call, 90_000)

    def submit_stage(self, number: str | bytes, index: int, result: bytes) -> StageRecord:
        """Party B submits the delivered ``result`` of stage ``index`` with its signed feedback (S3.1–S3.2)."""
        agreement = self.reader.agreement(as_contract_no(number))
        self.execute(self.prepare_submit_stage(agreement, index, keccak(result)))
        return self.reader.agreement(as_contract_no(number)).stages[index]

    def prepare_confirm_stage(
        self, draft_or_agreement: ContractDraft | AgreementRecord, index: int, result_hash: bytes
    ) -> PreparedStep:
        """S3.3: Party A's confirmation of the pending result ``result_hash`` of stage ``index``."""
        raw, _, stages = _terms(draft_or_agreement)
        call = self.deployment.registry.functions.confirmStageResult(raw, index, stages[index], result_hash)
        return PreparedStep("confirmStageResult", "S3.3", call, 80_000)

    def confirm_stage(self, number: str | bytes, index: int, result_hash: bytes | None = None) -> StageRecord:
        """Party A confirms stage ``index``'s pending result: its first voucher is issued (S3.3)."""
        agreement = self.reader.agreement(as_contract_no(number))
        pending = _stage(agreement, index).result_hash
        self.execute(self.prepare_confirm_stage(agreement, index, result_hash or pending or b"\x00" * 32))
        return self.reader.agreement(as_contract_no(number)).stages[index]

    def reject_stage(self, number: str | bytes, index: int, reason: bytes) -> StageRecord:
        """Party A rejects stage ``index``'s pending result with the hash of ``reason`` (S3.3)."""
        agreement = self.reader.agreement(as_contract_no(number))
        stage = _stage(agreement, index)
        call = self.deployment.registry.functions.rejectStageResult(
            as_contract_no(number),
            index,
            (stage.spec_hash, stage.amount),
            stage.result_hash or b"\x00" * 32,
            keccak(reason),
        )
        self.execute(PreparedStep("rejectStageResult", "S3.3", call, 80_000))
        return self.reader.agreement(as_contract_no(number)).stages[index]

    # ------------------------------------------------------------------ S4
    def prepare_apply_settlement(self, number: str | bytes) -> PreparedStep:
        """S4.1: Party B's application for business settlement."""
        call = self.deployment.registry.functions.applyBusinessSettlement(as_contract_no(number))
        return PreparedStep("applyBusinessSettlement", "S4.1", call, 70_000)

    def apply_settlement(self, number: str | bytes) -> AgreementRecord:
        """Party B applies for business settlement once every stage is vouched (S4.1)."""
        self.execute(self.prepare_apply_settlement(number))
        return self.reader.agreement(as_contract_no(number))

    def prepare_approve_settlement(self, number: str | bytes) -> PreparedStep:
        """S4.2: Party A's approval, issuing the business settlement voucher."""
        call = self.deployment.registry.functions.approveBusinessSettlement(as_contract_no(number))
        return PreparedStep("approveBusinessSettlement", "S4.2", call, 70_000)

    def approve_settlement(self, number: str | bytes) -> AgreementRecord:
        """Party A approves business settlement: the business settlement voucher is issued (S4.2)."""
        self.execute(self.prepare_approve_settlement(number))
        return self.reader.agreement(as_contract_no(number))


def _terms(source: ContractDraft | AgreementRecord) -> tuple[bytes, bytes, list[tuple[bytes, int]]]:
    """Contract number, document hash and stage terms, from a draft or from what the chain holds."""
    if isinstance(source, ContractDraft):
        return source.contract_no, source.doc_hash, [stage.terms() for stage in source.stages]
    return contract_number(source.contract_no), source.doc_hash, [(s.spec_hash, s.amount) for s in source.stages]


def _stage(agreement: AgreementRecord, index: int) -> StageRecord:
    if not 0 <= index < len(agreement.stages):
        raise stage_out_of_range(contract_number(agreement.contract_no), index)
    return agreement.stages[index]


def stage_out_of_range(contract_no: bytes, index: int) -> StageOutOfRange:
    """The contract's own refusal for a stage it does not have, raised before anything is sent."""
    return StageOutOfRange({"contractNo": contract_no, "stageIndex": index})
