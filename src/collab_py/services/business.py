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
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.econtract import EContract
from collab_py.domain.models import AgreementRecord, StageRecord
from collab_py.domain.types import as_contract_no, contract_number, new_contract_number
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
    def econtract(self, draft: ContractDraft, party_a: int) -> EContract:
        """The e-contract this org (Party B) registers for ``draft`` with ``party_a``, paid in the deployment's
        asset: the document Party A receives."""
        return draft.econtract(party_a=party_a, party_b=self.org_id, asset=self.deployment.asset.address)

    def sign_digital_code(self, econtract: EContract) -> bytes:
        """This org's EIP-712 signature of the digital code of ``econtract``: its number, this org, the document hash
        and the terms it is bound by (S2.1, S2.3, S2.5)."""
        code = eip712.digital_code(
            self.chain_id,
            self.deployment.registry.address,
            econtract.contract_no,
            self.org_id,
            econtract.doc_hash,
            econtract.terms(),
        )
        return eip712.sign_typed(self.tx.account, code)

    def prepare_propose(self, econtract: EContract) -> PreparedStep:
        """S2.1–S2.2: registers ``econtract``, signing its digital code (document hash and terms, S2.5)."""
        terms = (
            new_contract_number(econtract.number),
            econtract.party_a,
            econtract.doc_hash,
            econtract.asset,
            econtract.stage_terms(),
        )
        call = self.deployment.registry.functions.proposeContract(
            terms, self.address, self.sign_digital_code(econtract)
        )
        return PreparedStep("proposeContract", "S2.1", call, 110_000 + 40_000 * len(econtract.stages))

    def propose(self, draft: ContractDraft | EContract, party_a: int | None = None) -> AgreementRecord:
        """Party B registers and signs an e-contract (S2.1): a draft with ``party_a``, or an e-contract document
        built already. The document goes to the document store; send it to Party A as it is."""
        econtract = draft if isinstance(draft, EContract) else self.econtract(draft, _required(party_a))
        if self.documents is not None:
            self.documents.put(econtract.document())
        self.execute(self.prepare_propose(econtract))
        return self.reader.agreement(econtract.contract_no)

    def prepare_countersign(self, econtract: EContract) -> PreparedStep:
        """S2.3: Party A's signature of the digital code of the e-contract it received (document hash and terms)."""
        call = self.deployment.registry.functions.signContract(
            econtract.contract_no,
            (econtract.doc_hash, econtract.terms_hash),
            econtract.stage_terms()[0],
            self.address,
            self.sign_digital_code(econtract),
        )
        return PreparedStep("signContract", "S2.3", call, 80_000)

    def countersign(self, number: str | bytes, document: bytes | None = None) -> AgreementRecord:
        """Party A checks the e-contract document it received against the chain and countersigns (S2.3–S2.5).

        ``document`` defaults to the document store's copy of the registered hash. Party A signs the terms it derives
        from the document, never the chain's: a document or terms that differ from what Party B registered (another
        document, amount, asset, stage count, specification or order) are refused here, before anything is signed,
        with :class:`~collab_py.domain.econtract.TermsMismatch` naming the field.
        """
        agreement = self.reader.agreement(as_contract_no(number))
        if document is None:
            if self.documents is None:
                raise DocumentNotFound("no document given and no document store to find it in")
            document = self.documents.get(agreement.doc_hash)
        econtract = EContract.from_document(document)
        econtract.check_against(
            contract_no=as_contract_no(number),
            party_a=agreement.party_a,
            party_b=agreement.party_b,
            asset=agreement.asset,
            stages=[(stage.spec_hash, stage.amount) for stage in agreement.stages],
            doc_hash=agreement.doc_hash,
            terms_hash=agreement.terms_hash,
        )
        if self.documents is not None:
            self.documents.put(document)
        self.execute(self.prepare_countersign(econtract))
        return self.reader.agreement(as_contract_no(number))

    def cancel(self, number: str | bytes, reason: bytes) -> AgreementRecord:
        """Party B withdraws, or Party A declines, a contract not signed yet, with the hash of ``reason``."""
        call = self.deployment.registry.functions.cancelProposal(as_contract_no(number), keccak(reason))
        self.execute(PreparedStep("cancelProposal", "S2.4", call, 70_000))
        return self.reader.agreement(as_contract_no(number))

    # ------------------------------------------------------------------ S3
    def prepare_submit_stage(self, source: EContract | AgreementRecord, index: int, result_hash: bytes) -> PreparedStep:
        """S3.1: Party B's signed feedback binding ``result_hash`` to stage ``index`` of the contract."""
        raw, signed, stages = _terms(source)
        if not 0 <= index < len(stages):
            raise stage_out_of_range(raw, index)
        spec_hash, amount = stages[index]
        signer = self.tx.account
        feedback = eip712.stage_feedback(
            self.chain_id,
            self.deployment.registry.address,
            contract_no=raw,
            org_id=self.org_id,
            doc_hash=signed[0],
            stage_index=index,
            spec_hash=spec_hash,
            amount=amount,
            result_hash=result_hash,
        )
        call = self.deployment.registry.functions.submitStageResult(
            raw, index, stages[index], signed, result_hash, signer.address, eip712.sign_typed(signer, feedback)
        )
        return PreparedStep("submitStageResult", "S3.1", call, 90_000)

    def submit_stage(self, number: str | bytes, index: int, result: bytes) -> StageRecord:
        """Party B submits the delivered ``result`` of stage ``index`` with its signed feedback (S3.1–S3.2)."""
        agreement = self.reader.agreement(as_contract_no(number))
        self.execute(self.prepare_submit_stage(agreement, index, keccak(result)))
        return self.reader.agreement(as_contract_no(number)).stages[index]

    def prepare_confirm_stage(
        self, source: EContract | AgreementRecord, index: int, result_hash: bytes
    ) -> PreparedStep:
        """S3.3: Party A's confirmation of the pending result ``result_hash`` of stage ``index``."""
        raw, signed, stages = _terms(source)
        call = self.deployment.registry.functions.confirmStageResult(raw, index, stages[index], signed, result_hash)
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
        raw, signed, stages = _terms(agreement)
        stage = _stage(agreement, index)
        call = self.deployment.registry.functions.rejectStageResult(
            raw, index, stages[index], signed, stage.result_hash or b"\x00" * 32, keccak(reason)
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

    def reject_settlement(self, number: str | bytes, reason: bytes) -> AgreementRecord:
        """Party A rejects Party B's application for business settlement with the hash of ``reason``; the contract
        is SIGNED again."""
        call = self.deployment.registry.functions.rejectBusinessSettlement(as_contract_no(number), keccak(reason))
        self.execute(PreparedStep("rejectBusinessSettlement", "S4.2", call, 70_000))
        return self.reader.agreement(as_contract_no(number))


def _terms(source: EContract | AgreementRecord) -> tuple[bytes, tuple[bytes, bytes], list[tuple[bytes, int]]]:
    """Contract number, signed hashes (document, terms) and stage terms, from the e-contract or the chain's record."""
    if isinstance(source, EContract):
        return source.contract_no, (source.doc_hash, source.terms_hash), source.stage_terms()
    stages = [(stage.spec_hash, stage.amount) for stage in source.stages]
    return contract_number(source.contract_no), (source.doc_hash, source.terms_hash), stages


def _required(party_a: int | None) -> int:
    if party_a is None:
        raise TypeError("propose(draft, party_a): a draft needs Party A's org id")
    return party_a


def _stage(agreement: AgreementRecord, index: int) -> StageRecord:
    if not 0 <= index < len(agreement.stages):
        raise stage_out_of_range(contract_number(agreement.contract_no), index)
    return agreement.stages[index]


def stage_out_of_range(contract_no: bytes, index: int) -> StageOutOfRange:
    """The contract's own refusal for a stage it does not have, raised before anything is sent."""
    return StageOutOfRange({"contractNo": contract_no, "stageIndex": index})
