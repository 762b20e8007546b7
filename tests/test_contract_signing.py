"""S2: Party B proposes and signs the e-contract, Party A countersigns the same document and terms."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

from collab_py.chain import eip712, errors
from collab_py.chain.deploy import deploy_contract
from collab_py.chain.enums import ContractStatus, Department, StageStatus
from collab_py.chain.transactor import Transactor
from collab_py.devnet.flow import Flow
from collab_py.devnet.parties import Party, fund_on_dev_node
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.types import InvalidContractNumber, contract_number
from support import World, econtract, h, proposed, signed, stage_digest


def propose_call(world: World, draft: ContractDraft, **overrides: Any) -> ContractFunction:
    """proposeContract for ``draft`` signed by B's BUSINESS, with any argument or signed field replaced.

    ``signer`` is the address named as signer, ``key`` the account that actually signs (default: B's BUSINESS);
    ``signed_*`` are what the digital code says where it differs from the call.
    """
    document = econtract(world, draft)
    key = overrides.pop("key", world.b.account(Department.BUSINESS))
    args: dict[str, Any] = {
        "signer": key.address,
        "contract_no": document.contract_no,
        "party_a": world.a.org_id,
        "doc_hash": document.doc_hash,
        "asset": world.deployment.asset.address,
        "stages": document.stage_terms(),
        "chain_id": world.deployment.manifest.chain_id,
        "registry": world.deployment.registry.address,
        "signed_org": world.b.org_id,
    }
    args.update(overrides)
    signed_terms = eip712.terms_message(
        args.get("signed_party_a", args["party_a"]),
        args["signed_org"],
        args.get("signed_asset", args["asset"]),
        args.get("signed_stages", args["stages"]),
    )
    code = eip712.digital_code(
        args["chain_id"],
        args["registry"],
        args.get("signed_no", args["contract_no"]),
        args["signed_org"],
        args.get("signed_doc_hash", args["doc_hash"]),
        signed_terms,
    )
    terms = (args["contract_no"], args["party_a"], args["doc_hash"], args["asset"], args["stages"])
    return world.deployment.registry.functions.proposeContract(terms, args["signer"], eip712.sign_typed(key, code))


def sign_call(world: World, draft: ContractDraft, party: Party, signer: LocalAccount | None = None) -> ContractFunction:
    """signContract for ``draft`` with ``party``'s digital code of the right document and terms, signed by ``signer``
    (default: ``party``'s BUSINESS)."""
    signer = signer or party.account(Department.BUSINESS)
    document, manifest = econtract(world, draft), world.deployment.manifest
    code = eip712.digital_code(
        manifest.chain_id, manifest.registry, document.contract_no, party.org_id, document.doc_hash, document.terms()
    )
    return world.deployment.registry.functions.signContract(
        document.contract_no,
        (document.doc_hash, document.terms_hash),
        document.stage_terms()[0],
        signer.address,
        eip712.sign_typed(signer, code),
    )


def as_b(world: World) -> Transactor:
    return world.tx(world.b, Department.BUSINESS)


def test_proposal_records_terms_and_signature(world: World, flow: Flow, draft: ContractDraft) -> None:
    business = flow.business(world.b)
    document = econtract(world, draft)
    receipt = business.execute(business.prepare_propose(document))
    registry = world.deployment.registry
    (_asset_id, party_a, party_b, status, stages, vouched, payments, unpaid), asset = registry.functions.agreementOf(
        draft.contract_no
    ).call()
    assert (party_a, party_b, status, stages, vouched, payments) == (1, 2, ContractStatus.PROPOSED, 3, 0, 0)
    assert (asset, unpaid) == (world.deployment.asset.address, draft.total)
    for index, stage in enumerate(document.stage_terms()):
        digest, stage_status = registry.functions.stageOf(draft.contract_no, index).call()
        assert stage_status == StageStatus.OPEN
        assert digest == stage_digest(stage, document.doc_hash, document.terms_hash)
    (event,) = registry.events.ContractProposed().process_receipt(receipt, errors=DISCARD)
    assert (event.args.partyA, event.args.partyB) == (world.a.org_id, world.b.org_id)
    assert (event.args.docHash, event.args.termsHash) == (document.doc_hash, document.terms_hash)
    assert (event.args.asset, event.args.total) == (world.deployment.asset.address, draft.total)
    assert [(stage.specHash, stage.amount) for stage in event.args.stages] == document.stage_terms()
    assert event.args.signer == world.b.account(Department.BUSINESS).address
    assert len(event.args.signature) == 65


def test_countersigning_makes_the_contract_signed_with_a_timestamp(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    document = proposed(flow, world, draft)
    business = flow.business(world.a)
    receipt = business.execute(business.prepare_countersign(document))
    registry = world.deployment.registry
    assert registry.functions.agreementOf(draft.contract_no).call()[0][3] == ContractStatus.SIGNED
    (event,) = registry.events.ContractSigned().process_receipt(receipt, errors=DISCARD)
    assert event.args.signedAt == world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert event.args.signer == world.a.account(Department.BUSINESS).address


def test_countersignature_over_another_document_is_refused_by_the_chain(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    """The registry's own check (the service checks the document first): A signs its digital code of a document B did
    not register, with the same terms."""
    proposed(flow, world, draft)
    tampered = econtract(world, replace(draft, text=draft.text + " (amended)"))
    business = flow.business(world.a)
    with pytest.raises(errors.DigitalCodeMismatch) as refusal:
        business.execute(business.prepare_countersign(tampered))
    assert refusal.value.args_by_name == {
        "contractNo": draft.contract_no,
        "docHash": tampered.doc_hash,
        "termsHash": tampered.terms_hash,
    }


def test_duplicate_contract_number_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    proposed(flow, world, draft)
    with pytest.raises(errors.DuplicateContractNumber) as refusal:
        proposed(flow, world, replace(draft, text="another document"))
    assert refusal.value.args_by_name["contractNo"] == draft.contract_no


@pytest.mark.parametrize(
    "signed_elsewhere",
    [
        {"signed_no": contract_number("HT-OTHER")},
        {"signed_doc_hash": h("another document")},
        {"signed_party_a": 3},
        {"signed_stages": [(h("design documents"), 1)]},
        {"chain_id": 1},  # anvil's is 31337
    ],
    ids=["contract number", "document", "party A", "stages", "chain"],
)
def test_signature_over_another_digital_code_is_refused(
    world: World, draft: ContractDraft, signed_elsewhere: dict[str, Any]
) -> None:
    with pytest.raises(errors.InvalidSignature):
        as_b(world).transact(propose_call(world, draft, **signed_elsewhere))


def test_signature_for_another_registry_is_refused(world: World, draft: ContractDraft) -> None:
    other_registry, _ = deploy_contract(world.admin, "CollabRegistry", world.admin.address)
    with pytest.raises(errors.InvalidSignature):
        as_b(world).transact(propose_call(world, draft, registry=other_registry.address))


def test_signature_of_the_other_party_is_not_replayable(world: World, flow: Flow, draft: ContractDraft) -> None:
    proposed(flow, world, draft)
    with pytest.raises(errors.UnauthorizedSigner):
        world.tx(world.a, Department.BUSINESS).transact(sign_call(world, draft, world.b))


def test_forged_signature_is_refused(world: World, draft: ContractDraft) -> None:
    impostor = Account.create()
    with pytest.raises(errors.UnauthorizedSigner):
        as_b(world).transact(propose_call(world, draft, key=impostor))
    forged = propose_call(world, draft, key=impostor, signer=world.b.account(Department.BUSINESS).address)
    with pytest.raises(errors.InvalidSignature):
        as_b(world).transact(forged)


def test_multisig_wallet_signs_through_erc1271(world: World, draft: ContractDraft) -> None:
    owner = Account.create()
    wallet, _ = deploy_contract(world.admin, "ERC1271Wallet", owner.address)
    world.admin.transact(
        world.deployment.registry.functions.bindAccount(wallet.address, world.b.org_id, Department.BUSINESS)
    )
    as_b(world).transact(propose_call(world, draft, key=owner, signer=wallet.address))
    assert world.deployment.registry.functions.agreementOf(draft.contract_no).call()[0][3] == ContractStatus.PROPOSED


def test_non_member_wrong_department_and_suspended_org_cannot_propose(world: World, draft: ContractDraft) -> None:
    call = propose_call(world, draft)
    outsider = Account.create()
    fund_on_dev_node(world.w3, [outsider])
    with pytest.raises(errors.NotAMember):
        Transactor(world.w3, outsider).transact(call)
    with pytest.raises(errors.WrongDepartment) as refusal:
        world.tx(world.b, Department.FINANCE).transact(call)
    assert refusal.value.args_by_name["expected"] == Department.BUSINESS
    assert refusal.value.args_by_name["actual"] == Department.FINANCE
    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.b.org_id, False))
    with pytest.raises(errors.OrgSuspended):
        as_b(world).transact(call)


def test_counterparty_must_be_another_active_enterprise(world: World, draft: ContractDraft) -> None:
    with pytest.raises(errors.InvalidCounterparty):
        as_b(world).transact(propose_call(world, draft, party_a=world.b.org_id))
    with pytest.raises(errors.UnknownOrg):
        as_b(world).transact(propose_call(world, draft, party_a=world.bank.org_id))
    with pytest.raises(errors.UnknownOrg):
        as_b(world).transact(propose_call(world, draft, party_a=77))
    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.a.org_id, False))
    with pytest.raises(errors.OrgSuspended):
        as_b(world).transact(propose_call(world, draft))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"contract_no": b"\x00" * 32}, errors.InvalidContractNumber),
        ({"doc_hash": b"\x00" * 32}, errors.InvalidDocumentHash),
        ({"asset": "0x" + "11" * 20}, errors.AssetNotAccepted),
        ({"stages": []}, errors.InvalidStageCount),
        ({"stages": [(h("s"), 1)] * 65}, errors.InvalidStageCount),
        ({"stages": [(h("s"), 1), (h("t"), 0)]}, errors.InvalidStage),
        ({"stages": [(b"\x00" * 32, 5)]}, errors.InvalidStage),
    ],
)
def test_malformed_proposals_are_refused(
    world: World, draft: ContractDraft, overrides: dict[str, Any], error: type[errors.ContractError]
) -> None:
    with pytest.raises(error):
        as_b(world).transact(propose_call(world, draft, **overrides))


def test_total_overflowing_uint128_is_refused(world: World, draft: ContractDraft) -> None:
    stages = [(h("a"), 2**128 - 1), (h("b"), 2**128 - 1)]
    call = propose_call(world, draft, stages=stages, signed_stages=[(h("a"), 1)])  # no Terms over 2**128 to sign
    with pytest.raises(errors.SafeCastOverflowedUintDowncast):
        as_b(world).transact(call)


def test_only_party_a_business_countersigns(world: World, flow: Flow, draft: ContractDraft) -> None:
    proposed(flow, world, draft)
    with pytest.raises(errors.WrongParty) as refusal:
        world.tx(world.c, Department.BUSINESS).transact(sign_call(world, draft, world.c))
    assert refusal.value.args_by_name["expectedOrgId"] == world.a.org_id
    unknown = replace(draft, number="HT-UNKNOWN")
    with pytest.raises(errors.UnknownContract):
        world.tx(world.a, Department.BUSINESS).transact(sign_call(world, unknown, world.a))


def test_contract_is_signed_once(world: World, flow: Flow, draft: ContractDraft) -> None:
    document = signed(flow, world, draft)
    with pytest.raises(errors.UnexpectedContractStatus) as refusal:
        flow.business(world.a).countersign(draft.number, document.document())
    assert refusal.value.args_by_name["actual"] == ContractStatus.SIGNED


@pytest.mark.parametrize("number", ["HT/2026/1", "..", ".", "0x" + b"A/B".hex().ljust(64, "0")])
def test_a_number_that_is_not_one_url_segment_is_refused_before_proposing(
    world: World, flow: Flow, draft: ContractDraft, number: str
) -> None:
    with pytest.raises(InvalidContractNumber, match="URL segment"):
        flow.business(world.b).propose(replace(draft, number=number), world.a.org_id)
    assert world.deployment.registry.functions.agreementOf(contract_number(number)).call()[0][3] == ContractStatus.NONE


def test_single_stage_contract(world: World, flow: Flow) -> None:
    one = ContractDraft("HT-ONE", "one-stage contract", (StageDraft("everything", 5_00),))
    signed(flow, world, one)
    assert world.deployment.registry.functions.agreementOf(one.contract_no).call()[0][4] == 1


# ---------------------------------------------------------------------------------------------------- cancellation
@pytest.mark.parametrize("party", ["a", "b"])
def test_a_proposal_is_cancelled_by_either_party_and_its_number_stays_used(
    world: World, flow: Flow, draft: ContractDraft, party: str
) -> None:
    document = proposed(flow, world, draft)
    cancelled = flow.business(getattr(world, party)).cancel(draft.number, b"terms withdrawn")
    assert cancelled.status is ContractStatus.CANCELLED
    (event,) = world.deployment.registry.events.ContractCancelled().get_logs(from_block=0)
    assert (event.args.orgId, event.args.reasonHash) == (getattr(world, party).org_id, h("terms withdrawn"))
    with pytest.raises(errors.UnexpectedContractStatus) as refusal:
        flow.business(world.a).countersign(draft.number, document.document())
    assert refusal.value.args_by_name["actual"] == ContractStatus.CANCELLED
    with pytest.raises(errors.DuplicateContractNumber):
        proposed(flow, world, draft)


def test_only_the_parties_business_cancel_a_proposal_not_yet_signed(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    proposed(flow, world, draft)
    cancel = world.deployment.registry.functions.cancelProposal(draft.contract_no, h("reason"))
    with pytest.raises(errors.WrongParty):
        world.tx(world.c, Department.BUSINESS).transact(cancel)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.FINANCE).transact(cancel)
    flow.business(world.a).countersign(draft.number, econtract(world, draft).document())
    with pytest.raises(errors.UnexpectedContractStatus) as refusal:
        flow.business(world.b).cancel(draft.number, b"too late")
    assert refusal.value.args_by_name["actual"] == ContractStatus.SIGNED
