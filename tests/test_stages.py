"""S3: stage results, their verification against the e-contract, and first vouchers."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from collab_py.chain import eip712, errors
from collab_py.chain.enums import ContractStatus, Department, StageStatus
from collab_py.devnet.flow import Flow
from collab_py.domain.drafts import ContractDraft
from support import World, h, signed


def feedback_call(world: World, draft: ContractDraft, index: int, result_hash: bytes, **overrides: object) -> object:
    """submitStageResult for stage ``index`` signed by B's BUSINESS, with any signed field or argument replaced."""
    signer = world.b.account(Department.BUSINESS)
    stage = draft.stages[index]
    signed_fields: dict[str, object] = {
        "contract_no": draft.contract_no,
        "org_id": world.b.org_id,
        "doc_hash": draft.doc_hash,
        "stage_index": index,
        "spec_hash": stage.spec_hash,
        "result_hash": result_hash,
    }
    signed_fields.update({k: v for k, v in overrides.items() if k in signed_fields})
    feedback = eip712.stage_feedback(
        world.deployment.manifest.chain_id,
        world.deployment.registry.address,
        **signed_fields,  # type: ignore[arg-type]
    )
    return world.deployment.registry.functions.submitStageResult(
        draft.contract_no,
        overrides.get("call_index", index),
        overrides.get("terms", stage.terms()),
        result_hash,
        signer.address,
        eip712.sign_typed(signer, feedback),
    )


def test_confirmed_result_issues_a_first_voucher(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    registry = world.deployment.registry
    result_hash = flow.business(world.b).submit_stage(draft.number, 1, b"prototype test report").result_hash
    assert result_hash == h("prototype test report")
    assert registry.functions.stageOf(draft.contract_no, 1).call()[1] == StageStatus.PENDING
    business = flow.business(world.a)
    receipt = business.execute(business.prepare_confirm_stage(draft, 1, h("prototype test report")))
    (voucher,) = registry.events.FirstVoucherIssued().process_receipt(receipt, errors=DISCARD)
    assert voucher.args.contractNo == draft.contract_no
    assert voucher.args.stageIndex == 1
    assert voucher.args.resultHash == result_hash
    assert voucher.args.specHash == draft.stages[1].spec_hash
    assert voucher.args.amount == draft.stages[1].amount
    digest, status = registry.functions.stageOf(draft.contract_no, 1).call()
    assert status == StageStatus.CONFIRMED
    assert digest == registry.functions.resultDigest(draft.stages[1].terms(), result_hash).call()
    assert registry.functions.agreementOf(draft.contract_no).call()[5] == 1


def test_rejected_result_can_be_resubmitted(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    registry = world.deployment.registry.functions
    first = flow.business(world.b).submit_stage(draft.number, 0, b"draft design").result_hash
    reject = registry.rejectStageResult(draft.contract_no, 0, draft.stages[0].terms(), first, h("missing drawings"))
    world.tx(world.a, Department.BUSINESS).transact(reject)
    assert registry.stageOf(draft.contract_no, 0).call()[1] == StageStatus.REJECTED
    with pytest.raises(errors.StageNotPending):
        flow.business(world.a).confirm_stage(draft.number, 0, first)
    second = flow.business(world.b).submit_stage(draft.number, 0, b"final design").result_hash
    flow.business(world.a).confirm_stage(draft.number, 0, second)
    assert registry.stageOf(draft.contract_no, 0).call()[1] == StageStatus.CONFIRMED


def test_stage_out_of_range(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    call = feedback_call(world, draft, 0, h("r"), call_index=3, stage_index=3)
    with pytest.raises(errors.StageOutOfRange) as refusal:
        world.tx(world.b, Department.BUSINESS).transact(call)  # type: ignore[arg-type]
    assert refusal.value.args_by_name["stageIndex"] == 3


def test_specification_mismatch(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    wrong_spec = (h("something else"), draft.stages[0].amount)
    with pytest.raises(errors.StageSpecMismatch):
        world.tx(world.b, Department.BUSINESS).transact(
            feedback_call(world, draft, 0, h("r"), terms=wrong_spec, spec_hash=wrong_spec[0])  # type: ignore[arg-type]
        )
    wrong_amount = (draft.stages[0].spec_hash, draft.stages[0].amount + 1)
    with pytest.raises(errors.StageSpecMismatch):
        world.tx(world.b, Department.BUSINESS).transact(
            feedback_call(world, draft, 0, h("r"), terms=wrong_amount)  # type: ignore[arg-type]
        )


def test_feedback_bound_to_another_document_or_stage_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    b = world.tx(world.b, Department.BUSINESS)
    for wrong in ({"doc_hash": h("other document")}, {"stage_index": 2}, {"contract_no": b"\x09" * 32},
                  {"org_id": world.a.org_id}):  # fmt: skip
        with pytest.raises(errors.InvalidSignature):
            b.transact(feedback_call(world, draft, 0, h("r"), **wrong))  # type: ignore[arg-type]


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
    call = world.deployment.registry.functions.confirmStageResult(draft.contract_no, 0, draft.stages[0].terms(), result)
    with pytest.raises(errors.WrongParty):
        world.tx(world.b, Department.BUSINESS).transact(call)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.FINANCE).transact(call)
    with pytest.raises(errors.WrongParty):
        world.tx(world.c, Department.BUSINESS).transact(call)


def test_confirmation_must_name_the_pending_result(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    flow.business(world.b).submit_stage(draft.number, 0, b"design")
    with pytest.raises(errors.StageResultMismatch):
        flow.business(world.a).confirm_stage(draft.number, 0, h("a result never submitted"))
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
        world.tx(world.b, Department.BUSINESS).transact(feedback_call(world, draft, 0, b"\x00" * 32))  # type: ignore[arg-type]


def test_only_party_b_business_submits(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    call = feedback_call(world, draft, 0, h("r"))
    with pytest.raises(errors.WrongParty):
        world.tx(world.a, Department.BUSINESS).transact(call)  # type: ignore[arg-type]
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.b, Department.FINANCE).transact(call)  # type: ignore[arg-type]
