"""S3: stage results, their verification against the e-contract, and first vouchers."""

from __future__ import annotations

from typing import Any

import pytest
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

from collab_py.chain import eip712, errors
from collab_py.chain.enums import ContractStatus, Department, StageStatus
from collab_py.devnet.flow import Flow
from collab_py.domain.drafts import ContractDraft
from support import World, econtract, h, signed, stage_digest


def feedback_call(world: World, draft: ContractDraft, index: int, result: bytes, **overrides: Any) -> ContractFunction:
    """submitStageResult for stage ``index`` signed by B's BUSINESS, with any signed field or argument replaced
    (``call_index``, ``terms``, ``signed_hashes``: the call's; the others: the feedback's)."""
    signer = world.b.account(Department.BUSINESS)
    document = econtract(world, draft)
    spec_hash, amount = document.stage_terms()[index] if index < len(draft.stages) else (h("no stage"), 1)
    signed_fields: dict[str, Any] = {
        "contract_no": draft.contract_no,
        "org_id": world.b.org_id,
        "doc_hash": document.doc_hash,
        "stage_index": index,
        "spec_hash": spec_hash,
        "amount": amount,
        "result_hash": result,
    }
    signed_fields.update({key: value for key, value in overrides.items() if key in signed_fields})
    feedback = eip712.stage_feedback(
        world.deployment.manifest.chain_id, world.deployment.registry.address, **signed_fields
    )
    return world.deployment.registry.functions.submitStageResult(
        draft.contract_no,
        overrides.get("call_index", index),
        overrides.get("terms", (spec_hash, amount)),
        overrides.get("signed_hashes", (document.doc_hash, document.terms_hash)),
        result,
        signer.address,
        eip712.sign_typed(signer, feedback),
    )


def decision_call(
    world: World, draft: ContractDraft, index: int, result_hash: bytes, reason: bytes | None = None
) -> ContractFunction:
    """Party A's confirmStageResult, or rejectStageResult with ``reason``, naming the right stage and hashes."""
    document = econtract(world, draft)
    args = (draft.contract_no, index, document.stage_terms()[index], (document.doc_hash, document.terms_hash))
    registry = world.deployment.registry.functions
    if reason is None:
        return registry.confirmStageResult(*args, result_hash)
    return registry.rejectStageResult(*args, result_hash, reason)


def test_confirmed_result_issues_a_first_voucher(world: World, flow: Flow, draft: ContractDraft) -> None:
    document = signed(flow, world, draft)
    registry = world.deployment.registry
    result_hash = flow.business(world.b).submit_stage(draft.number, 1, b"prototype test report").result_hash
    assert result_hash == h("prototype test report")
    assert registry.functions.stageOf(draft.contract_no, 1).call()[1] == StageStatus.PENDING
    business = flow.business(world.a)
    receipt = business.execute(business.prepare_confirm_stage(document, 1, h("prototype test report")))
    (voucher,) = registry.events.FirstVoucherIssued().process_receipt(receipt, errors=DISCARD)
    assert voucher.args.contractNo == draft.contract_no
    assert voucher.args.stageIndex == 1
    assert voucher.args.resultHash == result_hash
    assert voucher.args.amount == draft.stages[1].amount
    assert voucher.args.confirmedBy == world.a.account(Department.BUSINESS).address
    digest, status = registry.functions.stageOf(draft.contract_no, 1).call()
    assert status == StageStatus.CONFIRMED
    assert digest == stage_digest(document.stage_terms()[1], document.doc_hash, document.terms_hash, result_hash)
    assert registry.functions.agreementOf(draft.contract_no).call()[0][5] == 1


def test_rejected_result_can_be_resubmitted(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    registry = world.deployment.registry.functions
    first = flow.business(world.b).submit_stage(draft.number, 0, b"draft design").result_hash
    world.tx(world.a, Department.BUSINESS).transact(decision_call(world, draft, 0, first, h("missing drawings")))
    assert registry.stageOf(draft.contract_no, 0).call()[1] == StageStatus.REJECTED
    with pytest.raises(errors.StageNotPending):
        flow.business(world.a).confirm_stage(draft.number, 0, first)
    second = flow.business(world.b).submit_stage(draft.number, 0, b"final design").result_hash
    flow.business(world.a).confirm_stage(draft.number, 0, second)
    assert registry.stageOf(draft.contract_no, 0).call()[1] == StageStatus.CONFIRMED


def test_stage_out_of_range(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    call = feedback_call(world, draft, 3, h("r"))
    with pytest.raises(errors.StageOutOfRange) as refusal:
        world.tx(world.b, Department.BUSINESS).transact(call)
    assert refusal.value.args_by_name["stageIndex"] == 3


@pytest.mark.parametrize(
    "mismatch",
    [
        {"terms": (h("something else"), 100_000_00), "spec_hash": h("something else")},
        {"terms": (h("design documents"), 100_000_01), "amount": 100_000_01},
        {"terms": (h("prototype delivered and tested"), 250_000_00)},  # stage 1's terms for stage 0
        {"signed_hashes": (h("another document"), h("other terms")), "doc_hash": h("another document")},
    ],
    ids=["specification", "amount", "another stage", "another document"],
)
def test_submission_must_name_the_stage_and_the_signed_hashes(
    world: World, flow: Flow, draft: ContractDraft, mismatch: dict[str, Any]
) -> None:
    """The stage's terms and the contract's document and terms hashes are checked against the stage's digest, even
    when B's feedback signs the same (wrong) values."""
    signed(flow, world, draft)
    with pytest.raises(errors.StageSpecMismatch):
        world.tx(world.b, Department.BUSINESS).transact(feedback_call(world, draft, 0, h("r"), **mismatch))


def test_feedback_bound_to_another_document_or_stage_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    b = world.tx(world.b, Department.BUSINESS)
    for wrong in ({"doc_hash": h("other document")}, {"stage_index": 2}, {"contract_no": b"\x09" * 32},
                  {"org_id": world.a.org_id}, {"amount": 1}, {"spec_hash": h("other")},
                  {"result_hash": h("other result")}):  # fmt: skip
        with pytest.raises(errors.InvalidSignature):
            b.transact(feedback_call(world, draft, 0, h("r"), **wrong))


def test_double_submission_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    result = flow.business(world.b).submit_stage(draft.number, 0, b"first").result_hash
    with pytest.raises(errors.StageAlreadySubmitted):
        flow.business(world.b).submit_stage(draft.number, 0, b"second")
    flow.business(world.a).confirm_stage(draft.number, 0, result)
    with pytest.raises(errors.StageAlreadyVouched):
        flow.business(world.b).submit_stage(draft.number, 0, b"third")


def test_confirmation_by_the_wrong_party_or_department(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    result = flow.business(world.b).submit_stage(draft.number, 0, b"design").result_hash
    call = decision_call(world, draft, 0, result)
    with pytest.raises(errors.WrongParty):
        world.tx(world.b, Department.BUSINESS).transact(call)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.FINANCE).transact(call)
    with pytest.raises(errors.WrongParty):
        world.tx(world.c, Department.BUSINESS).transact(call)


def test_confirmation_must_name_the_pending_result(world: World, flow: Flow, draft: ContractDraft) -> None:
    document = signed(flow, world, draft)
    result = flow.business(world.b).submit_stage(draft.number, 0, b"design").result_hash
    with pytest.raises(errors.StageResultMismatch):
        flow.business(world.a).confirm_stage(draft.number, 0, h("a result never submitted"))
    other_terms = world.deployment.registry.functions.confirmStageResult(
        draft.contract_no, 0, (document.stage_terms()[0][0], 1), (document.doc_hash, document.terms_hash), result
    )
    with pytest.raises(errors.StageResultMismatch):
        world.tx(world.a, Department.BUSINESS).transact(other_terms)
    with pytest.raises(errors.StageNotPending):
        flow.business(world.a).confirm_stage(draft.number, 1, h("nothing submitted"))


def test_results_need_a_signed_contract(world: World, flow: Flow, draft: ContractDraft) -> None:
    flow.business(world.b).propose(draft, world.a.org_id)
    with pytest.raises(errors.UnexpectedContractStatus) as refusal:
        flow.business(world.b).submit_stage(draft.number, 0, b"too early")
    assert refusal.value.args_by_name["expected"] == ContractStatus.SIGNED
    assert refusal.value.args_by_name["actual"] == ContractStatus.PROPOSED


def test_zero_result_hash_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    with pytest.raises(errors.InvalidResultHash):
        world.tx(world.b, Department.BUSINESS).transact(feedback_call(world, draft, 0, b"\x00" * 32))


def test_only_party_b_business_submits(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    call = feedback_call(world, draft, 0, h("r"))
    with pytest.raises(errors.WrongParty):
        world.tx(world.a, Department.BUSINESS).transact(call)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.b, Department.FINANCE).transact(call)
