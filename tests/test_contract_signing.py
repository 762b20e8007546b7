"""S2: Party B proposes and signs the e-contract, Party A countersigns the same document."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from collab_py.chain import eip712, errors
from collab_py.chain.deploy import deploy_contract
from collab_py.chain.enums import ContractStatus, Department, StageStatus
from collab_py.chain.transactor import Transactor
from collab_py.devnet.flow import Flow
from collab_py.devnet.parties import Party, fund_on_dev_node
from collab_py.domain.drafts import ContractDraft, StageDraft
from support import World, h, signed


def propose_call(world: World, draft: ContractDraft, **overrides: object) -> object:
    """proposeContract for ``draft`` signed by B's BUSINESS, with any argument replaced.

    ``signer`` is the address named as signer, ``key`` the account that actually signs (default: B's BUSINESS).
    """
    key = overrides.pop("key", world.b.account(Department.BUSINESS))
    signer = overrides.pop("signer", key.address)  # type: ignore[attr-defined]
    args: dict[str, object] = {
        "contract_no": draft.contract_no,
        "party_a": world.a.org_id,
        "doc_hash": draft.doc_hash,
        "asset": world.deployment.asset.address,
        "stages": [stage.terms() for stage in draft.stages],
        "chain_id": world.deployment.manifest.chain_id,
        "registry": world.deployment.registry.address,
        "signed_no": draft.contract_no,
        "signed_org": world.b.org_id,
    }
    args.update(overrides)
    code = eip712.digital_code(
        args["chain_id"], args["registry"], args["signed_no"], args["signed_org"], args["doc_hash"]
    )  # type: ignore[arg-type]
    terms = (args["contract_no"], args["party_a"], args["doc_hash"], args["asset"], args["stages"])
    return world.deployment.registry.functions.proposeContract(terms, signer, eip712.sign_typed(key, code))  # type: ignore[arg-type]


def sign_call(world: World, draft: ContractDraft, party: Party, signer: LocalAccount | None = None) -> object:
    """signContract for ``draft`` with ``party``'s digital code, signed by ``signer`` (default: its BUSINESS)."""
    signer = signer or party.account(Department.BUSINESS)
    manifest = world.deployment.manifest
    code = eip712.digital_code(manifest.chain_id, manifest.registry, draft.contract_no, party.org_id, draft.doc_hash)
    return world.deployment.registry.functions.signContract(
        draft.contract_no, draft.doc_hash, signer.address, eip712.sign_typed(signer, code)
    )


def test_proposal_records_terms_and_signature(world: World, flow: Flow, draft: ContractDraft) -> None:
    business = flow.business(world.b)
    receipt = business.execute(business.prepare_propose(draft, world.a.org_id))
    registry = world.deployment.registry
    agreement = registry.functions.agreementOf(draft.contract_no).call()
    assert agreement == (
        world.deployment.asset.address, world.a.org_id, world.b.org_id, ContractStatus.PROPOSED, 3, 0, 0,
        draft.doc_hash, draft.total, 0,
    )  # fmt: skip
    for index, stage in enumerate(draft.stages):
        digest, status = registry.functions.stageOf(draft.contract_no, index).call()
        assert status == StageStatus.OPEN
        assert digest == registry.functions.stageDigest(stage.terms()).call()
    (event,) = registry.events.ContractProposed().process_receipt(receipt, errors=DISCARD)
    assert event.args.signer == world.b.account(Department.BUSINESS).address
    assert len(event.args.signature) == 65
    assert [(stage.specHash, stage.amount) for stage in event.args.stages] == [stage.terms() for stage in draft.stages]
    assert event.args.total == draft.total


def test_countersigning_makes_the_contract_signed_with_a_timestamp(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    flow.business(world.b).propose(draft, world.a.org_id)
    business = flow.business(world.a)
    receipt = business.execute(business.prepare_countersign(draft.number, draft.text.encode()))
    registry = world.deployment.registry
    assert registry.functions.agreementOf(draft.contract_no).call()[3] == ContractStatus.SIGNED
    (event,) = registry.events.ContractSigned().process_receipt(receipt, errors=DISCARD)
    assert event.args.signedAt == world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert event.args.signer == world.a.account(Department.BUSINESS).address


def test_tampered_document_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    flow.business(world.b).propose(draft, world.a.org_id)
    business = flow.business(world.a)  # the service checks the document first: here the registry's own check
    with pytest.raises(errors.DocumentHashMismatch):
        business.execute(business.prepare_countersign(draft.number, (draft.text + " (amended)").encode()))


def test_duplicate_contract_number_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    flow.business(world.b).propose(draft, world.a.org_id)
    other = replace(draft, text="another document")
    with pytest.raises(errors.DuplicateContractNumber) as refusal:
        flow.business(world.b).propose(other, world.a.org_id)
    assert refusal.value.args_by_name["contractNo"] == draft.contract_no


def test_signature_for_another_contract_number_is_refused(world: World, draft: ContractDraft) -> None:
    call = propose_call(world, draft, signed_no=replace(draft, number="HT-OTHER").contract_no)
    with pytest.raises(errors.InvalidSignature):
        world.tx(world.b, Department.BUSINESS).transact(call)  # type: ignore[arg-type]


def test_signature_for_another_chain_is_refused(world: World, draft: ContractDraft) -> None:
    call = propose_call(world, draft, chain_id=world.deployment.manifest.chain_id + 1)
    with pytest.raises(errors.InvalidSignature):
        world.tx(world.b, Department.BUSINESS).transact(call)  # type: ignore[arg-type]


def test_signature_for_another_registry_is_refused(world: World, draft: ContractDraft) -> None:
    other_registry, _ = deploy_contract(world.admin, "CollabRegistry", world.admin.address)
    call = propose_call(world, draft, registry=other_registry.address)
    with pytest.raises(errors.InvalidSignature):
        world.tx(world.b, Department.BUSINESS).transact(call)  # type: ignore[arg-type]


def test_signature_of_the_other_party_is_not_replayable(world: World, flow: Flow, draft: ContractDraft) -> None:
    flow.business(world.b).propose(draft, world.a.org_id)
    with pytest.raises(errors.UnauthorizedSigner):
        world.tx(world.a, Department.BUSINESS).transact(sign_call(world, draft, world.b))  # type: ignore[arg-type]


def test_forged_signature_is_refused(world: World, draft: ContractDraft) -> None:
    impostor = Account.create()
    b = world.tx(world.b, Department.BUSINESS)
    with pytest.raises(errors.UnauthorizedSigner):
        b.transact(propose_call(world, draft, key=impostor))  # type: ignore[arg-type]
    forged = propose_call(world, draft, key=impostor, signer=world.b.account(Department.BUSINESS).address)
    with pytest.raises(errors.InvalidSignature):
        b.transact(forged)  # type: ignore[arg-type]


def test_multisig_wallet_signs_through_erc1271(world: World, draft: ContractDraft) -> None:
    owner = Account.create()
    wallet, _ = deploy_contract(world.admin, "ERC1271Wallet", owner.address)
    world.admin.transact(
        world.deployment.registry.functions.bindAccount(wallet.address, world.b.org_id, Department.BUSINESS)
    )
    world.tx(world.b, Department.BUSINESS).transact(propose_call(world, draft, key=owner, signer=wallet.address))  # type: ignore[arg-type]
    assert world.deployment.registry.functions.agreementOf(draft.contract_no).call()[3] == ContractStatus.PROPOSED


def test_non_member_wrong_department_and_suspended_org_cannot_propose(world: World, draft: ContractDraft) -> None:
    call = propose_call(world, draft)
    outsider = Account.create()
    fund_on_dev_node(world.w3, [outsider])
    with pytest.raises(errors.NotAMember):
        Transactor(world.w3, outsider).transact(call)  # type: ignore[arg-type]
    with pytest.raises(errors.WrongDepartment) as refusal:
        world.tx(world.b, Department.FINANCE).transact(call)  # type: ignore[arg-type]
    assert refusal.value.args_by_name["expected"] == Department.BUSINESS
    assert refusal.value.args_by_name["actual"] == Department.FINANCE
    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.b.org_id, False))
    with pytest.raises(errors.OrgSuspended):
        world.tx(world.b, Department.BUSINESS).transact(call)  # type: ignore[arg-type]


def test_counterparty_must_be_another_active_enterprise(world: World, draft: ContractDraft) -> None:
    b = world.tx(world.b, Department.BUSINESS)
    with pytest.raises(errors.InvalidCounterparty):
        b.transact(propose_call(world, draft, party_a=world.b.org_id))  # type: ignore[arg-type]
    with pytest.raises(errors.UnknownOrg):
        b.transact(propose_call(world, draft, party_a=world.bank.org_id))  # type: ignore[arg-type]
    with pytest.raises(errors.UnknownOrg):
        b.transact(propose_call(world, draft, party_a=77))  # type: ignore[arg-type]
    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.a.org_id, False))
    with pytest.raises(errors.OrgSuspended):
        b.transact(propose_call(world, draft))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"contract_no": b"\x00" * 32, "signed_no": b"\x00" * 32}, errors.InvalidContractNumber),
        ({"doc_hash": b"\x00" * 32}, errors.InvalidDocumentHash),
        ({"asset": "0x" + "11" * 20}, errors.InvalidAsset),
        ({"stages": []}, errors.InvalidStageCount),
        ({"stages": [(h("s"), 1)] * 65}, errors.InvalidStageCount),
        ({"stages": [(h("s"), 1), (h("t"), 0)]}, errors.InvalidStage),
        ({"stages": [(b"\x00" * 32, 5)]}, errors.InvalidStage),
    ],
)
def test_malformed_proposals_are_refused(
    world: World, draft: ContractDraft, overrides: dict[str, object], error: type[errors.ContractError]
) -> None:
    with pytest.raises(error):
        world.tx(world.b, Department.BUSINESS).transact(propose_call(world, draft, **overrides))  # type: ignore[arg-type]


def test_total_overflowing_uint128_is_refused(world: World, draft: ContractDraft) -> None:
    stages = [(h("a"), 2**128 - 1), (h("b"), 2**128 - 1)]
    with pytest.raises(errors.SafeCastOverflowedUintDowncast):
        world.tx(world.b, Department.BUSINESS).transact(propose_call(world, draft, stages=stages))  # type: ignore[arg-type]


def test_only_party_a_business_countersigns(world: World, flow: Flow, draft: ContractDraft) -> None:
    flow.business(world.b).propose(draft, world.a.org_id)
    with pytest.raises(errors.WrongParty) as refusal:
        world.tx(world.c, Department.BUSINESS).transact(sign_call(world, draft, world.c))  # type: ignore[arg-type]
    assert refusal.value.args_by_name["expectedOrgId"] == world.a.org_id
    unknown = replace(draft, number="HT-UNKNOWN")
    with pytest.raises(errors.UnknownContract):
        world.tx(world.a, Department.BUSINESS).transact(sign_call(world, unknown, world.a))  # type: ignore[arg-type]


def test_contract_is_signed_once(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    with pytest.raises(errors.UnexpectedContractStatus) as refusal:
        flow.business(world.a).countersign(draft.number, draft.text.encode())
    assert refusal.value.args_by_name["actual"] == ContractStatus.SIGNED


def test_single_stage_contract(world: World, flow: Flow) -> None:
    one = ContractDraft("HT-ONE", "one-stage contract", (StageDraft("everything", 5_00),))
    signed(flow, world, one)
    assert world.deployment.registry.functions.agreementOf(one.contract_no).call()[4] == 1
