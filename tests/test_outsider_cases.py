"""The outsider's cases of issue 8, each through the services on anvil, each asserting the outcome the contracts v2
promise (SECURITY.md cites these tests by name):

(a) mismatched terms: Party A's client refuses, naming the field, before it sends anything; a signature over other
    terms sent anyway is refused by the chain.
(b) an application over the total is refused when it is made; a refused or withdrawn application frees its amount
    and can no longer be issued.
(c) a suspended beneficiary is not paid: the institution's checks say why, the chain refuses a release sent anyway.
(d) a treasury moved by governance after the request: the chain pays the treasury pinned at the request; the
    institution waits until the beneficiary pins its new one, then pays that.
(e) an operator that never releases: after the release deadline payer and beneficiary settle without it, in either
    direction (alone when the other's org is suspended), and the books follow.
(f) an asset governance did not list is refused at proposal.
(g) an account swapped by the payer: the chain refuses a voucher for another account than the application's, and the
    payee's client refuses a payment key naming another account before it redeems.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import Engine

from collab_py.chain import eip712, errors
from collab_py.chain.deploy import deploy_contract
from collab_py.chain.enums import ContractStatus, VoucherStatus
from collab_py.devnet.flow import Flow
from collab_py.devnet.parties import Party
from collab_py.devnet.sandbox import sample_contract
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.econtract import EContract, EContractStage, TermsMismatch
from collab_py.domain.types import payment_voucher_id
from collab_py.ledger.database import open_database
from collab_py.ledger.schema import FREEZE, PAYMENT, RECEIPT, RECLAIM
from collab_py.listener.handlers.institution import DEFERRED, RELEASED
from collab_py.services import AdminService, FinanceService, KeyAccountMismatch, ReleaseRefused
from support import (
    A_FUNDS,
    World,
    accounting,
    advance,
    applied,
    assigned,
    balance,
    bot_actions,
    catch_up,
    econtract,
    entries,
    forbid_sending,
    institution_bot,
    issued,
    nonce,
    now,
    proposed,
    requested,
    settled,
)


def admin(world: World) -> AdminService:
    return AdminService(world.deployment, world.admin)


def listed_token(world: World, *args: object, name: str = "DepositToken") -> str:
    """A new token, listed by governance for new contracts: its address."""
    token, _ = deploy_contract(world.admin, name, *args)
    world.admin.transact(world.deployment.registry.functions.setAssetAccepted(token.address, True))
    return str(token.address)


# ---------------------------------------------------------------------------------------------------- (a)
def _with_stages(document: EContract, stages: list[EContractStage]) -> EContract:
    return document.model_copy(update={"stages": tuple(stages)})


def _amounts_100x(document: EContract, _: World) -> EContract:
    return _with_stages(
        document, [stage.model_copy(update={"amount": stage.amount * 100}) for stage in document.stages]
    )


def _other_asset(document: EContract, world: World) -> EContract:
    return document.model_copy(update={"asset": listed_token(world, "Other", "OTH", world.admin.address)})


def _extra_stage(document: EContract, _: World) -> EContract:
    return _with_stages(document, [*document.stages, EContractStage(specification="extra works", amount=1_00)])


def _other_specification(document: EContract, _: World) -> EContract:
    first, second, third = document.stages
    return _with_stages(document, [first, second.model_copy(update={"specification": "one prototype"}), third])


def _stages_swapped(document: EContract, _: World) -> EContract:
    first, second, third = document.stages
    return _with_stages(document, [second, first, third])


def _other_text(document: EContract, _: World) -> EContract:
    return document.model_copy(update={"text": document.text + " Payment on delivery."})


#: What the outsider registered instead of the document Party A received, and the field A's client names.
MISMATCHES: dict[str, tuple[Callable[[EContract, World], EContract], str]] = {
    "other amount": (_amounts_100x, "stages[0].amount"),
    "other asset": (_other_asset, "asset"),
    "other stage count": (_extra_stage, "stages"),
    "other specification": (_other_specification, "stages[1].specification"),
    "other stage order": (_stages_swapped, "stages[0].specification"),
    "other document": (_other_text, "document hash"),
}


def register_instead(flow: Flow, world: World, draft: ContractDraft, mismatch: str) -> tuple[EContract, EContract]:
    """B registers the outsider's version of ``draft``: returns (what A received, what the chain holds)."""
    received = econtract(world, draft)
    registered = MISMATCHES[mismatch][0](received, world)
    flow.business(world.b).propose(registered)
    return received, registered


@pytest.mark.parametrize("mismatch", sorted(MISMATCHES))
def test_countersign_refuses_mismatched_terms_before_any_transaction(
    world: World, draft: ContractDraft, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mismatch: str
) -> None:
    flow = Flow(world.deployment, documents=tmp_path)  # A's business keeps what it countersigns in its store
    received, _ = register_instead(flow, world, draft, mismatch)
    a_business = flow.business(world.a)
    sent = nonce(world, a_business.address)
    forbid_sending(monkeypatch, a_business)
    with pytest.raises(TermsMismatch) as refusal:
        a_business.countersign(draft.number, received.document())
    assert refusal.value.field == MISMATCHES[mismatch][1]
    assert str(refusal.value).startswith(f"{refusal.value.field}: the document says")
    assert nonce(world, a_business.address) == sent
    agreement = a_business.reader.agreement(draft.number)
    assert (agreement.status, agreement.signature_a) == (ContractStatus.PROPOSED, None)
    assert a_business.documents is not None
    assert not a_business.documents.has(received.doc_hash)


@pytest.mark.parametrize("hashes", ["its own hashes", "the chain's hashes"])
@pytest.mark.parametrize("mismatch", sorted(MISMATCHES))
def test_countersignature_over_other_terms_sent_anyway_is_refused_by_the_chain(
    world: World, flow: Flow, draft: ContractDraft, mismatch: str, hashes: str
) -> None:
    """A client without the check signs the terms it received: with their hashes the registry finds they are not
    the registered ones; with the registered hashes, the signature is not over them."""
    received, registered = register_instead(flow, world, draft, mismatch)
    a_business = flow.business(world.a)
    if hashes == "its own hashes":
        with pytest.raises(errors.DigitalCodeMismatch) as refusal:
            a_business.execute(a_business.prepare_countersign(received))
        assert refusal.value.args_by_name["termsHash"] == received.terms_hash
    else:
        manifest = world.deployment.manifest
        code = eip712.digital_code(
            manifest.chain_id,
            manifest.registry,
            received.contract_no,
            world.a.org_id,
            received.doc_hash,
            received.terms(),
        )
        call = world.deployment.registry.functions.signContract(
            registered.contract_no,
            (registered.doc_hash, registered.terms_hash),
            registered.stage_terms()[0],
            a_business.address,
            eip712.sign_typed(a_business.tx.account, code),
        )
        with pytest.raises(errors.InvalidSignature):
            a_business.tx.transact(call)
    assert a_business.reader.agreement(draft.number).status is ContractStatus.PROPOSED


# ---------------------------------------------------------------------------------------------------- (b)
def test_application_over_the_unpaid_amount_is_refused_at_application(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    settled(flow, world, draft)
    first = applied(flow, world, draft, 600_000_00)
    with pytest.raises(errors.PaymentExceedsUnpaid) as refusal:
        applied(flow, world, draft, 600_000_00)  # v1 recorded it, APPLIED forever
    assert refusal.value.args_by_name == {"contractNo": draft.contract_no, "amount": 600_000_00, "unpaid": 400_000_00}
    agreement = flow.finance(world.b).reader.agreement(draft.number)
    assert (agreement.payment_count, agreement.unpaid) == (first, 400_000_00)


CLOSINGS: dict[str, tuple[Callable[[Flow, World, ContractDraft, int], object], VoucherStatus]] = {
    "refused by the payer": (
        lambda flow, world, draft, seq: flow.finance(world.a).refuse_application(draft.number, seq, b"not ordered"),
        VoucherStatus.REFUSED,
    ),
    "withdrawn by the payee": (
        lambda flow, world, draft, seq: flow.finance(world.b).withdraw_application(draft.number, seq),
        VoucherStatus.WITHDRAWN,
    ),
}


@pytest.mark.parametrize("closing", sorted(CLOSINGS))
def test_closed_application_returns_its_amount_and_can_no_longer_be_issued(
    world: World, flow: Flow, draft: ContractDraft, closing: str
) -> None:
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 600_000_00)
    close, status = CLOSINGS[closing]
    close(flow, world, draft, seq)
    payment = flow.finance(world.a).reader.payment(draft.number, seq)
    assert payment.status is status
    assert flow.finance(world.a).reader.agreement(draft.number).unpaid == draft.total
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        flow.finance(world.a).issue_voucher(draft.number, seq)
    assert refusal.value.args_by_name["status"] == status
    assert balance(world, world.a.treasury.address) == A_FUNDS
    again = applied(flow, world, draft, draft.total)  # the whole total can be applied for again
    assert flow.finance(world.a).issue_voucher(draft.number, again).status is VoucherStatus.FROZEN


# ---------------------------------------------------------------------------------------------------- (c)
def requested_for(flow: Flow, world: World, draft: ContractDraft, beneficiary: str) -> tuple[int, Party]:
    """A payment requested by B itself, or assigned to C: its seq and its beneficiary."""
    if beneficiary == "payee":
        return requested(flow, world, draft), world.b
    seq, _ = issued(flow, world, draft)
    assigned(flow, world, draft, seq)
    return seq, world.c


@pytest.mark.parametrize("beneficiary", ["payee", "assignee"])
def test_release_to_a_suspended_beneficiary_is_refused(
    world: World, flow: Flow, draft: ContractDraft, beneficiary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seq, party = requested_for(flow, world, draft, beneficiary)
    admin(world).set_org_active(party.org_id, False)
    operator = flow.institution(world.bank)
    with monkeypatch.context() as patch:
        forbid_sending(patch, operator)
        with pytest.raises(ReleaseRefused) as refusal:
            operator.release(draft.number, seq)
    assert refusal.value.reason == f"beneficiary org {party.org_id} is suspended"
    assert refusal.value.temporary
    with pytest.raises(errors.OrgSuspended) as chain_refusal:
        operator.execute(operator.prepare_release(draft.contract_no, seq))
    assert chain_refusal.value.args_by_name == {"orgId": party.org_id}
    assert operator.reader.payment(draft.number, seq).status is VoucherStatus.REQUESTED
    admin(world).set_org_active(party.org_id, True)  # temporary: reinstated, it is paid
    assert operator.release(draft.number, seq).beneficiary == party.treasury.address
    assert balance(world, party.treasury.address) == draft.total


def test_bot_defers_a_suspended_beneficiary_with_the_reason(world: World, flow: Flow, ledger_url: str) -> None:
    """A temporary refusal: deferred, nothing sent (test_poison_events releases it once the org is reinstated)."""
    draft = sample_contract("OUT-C")
    seq = requested(flow, world, draft)
    admin(world).set_org_active(world.b.org_id, False)
    database = open_database(ledger_url)
    catch_up(institution_bot(world, flow, database))
    assert bot_actions(database) == [("OUT-C", seq, DEFERRED, f"beneficiary org {world.b.org_id} is suspended")]
    assert balance(world, world.b.treasury.address) == 0


# ---------------------------------------------------------------------------------------------------- (d)
def moved_after_the_request(flow: Flow, world: World, draft: ContractDraft) -> tuple[int, str]:
    """B's payment requested (its treasury pinned), then governance moves B's treasury: the seq and the new one."""
    seq = requested(flow, world, draft)
    new_treasury = Account.create().address
    admin(world).set_treasury(world.b.org_id, new_treasury)
    return seq, new_treasury


def test_treasury_moved_after_the_request_the_chain_pays_the_pinned_treasury(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq, new_treasury = moved_after_the_request(flow, world, draft)
    pinned = flow.finance(world.b).reader.payment(draft.number, seq).beneficiary
    assert pinned == world.b.treasury.address
    operator = flow.institution(world.bank)  # an operator that skips the checks
    second = operator.reader.second_voucher_in(
        operator.execute(operator.prepare_release(draft.contract_no, seq)), payment_voucher_id(draft.contract_no, seq)
    )
    assert second.beneficiary == world.b.treasury.address
    assert (balance(world, world.b.treasury.address), balance(world, new_treasury)) == (draft.total, 0)


def test_treasury_moved_after_the_request_the_institution_pays_the_new_one_once_pinned(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq, new_treasury = moved_after_the_request(flow, world, draft)
    operator = flow.institution(world.bank)
    with pytest.raises(ReleaseRefused, match="moved its treasury after the request") as refusal:
        operator.release(draft.number, seq)
    assert refusal.value.temporary
    pinned = flow.finance(world.b).pin_treasury(draft.number, seq)
    assert (pinned.status, pinned.beneficiary) == (VoucherStatus.REQUESTED, new_treasury)
    assert operator.release(draft.number, seq).beneficiary == new_treasury
    assert (balance(world, world.b.treasury.address), balance(world, new_treasury)) == (0, draft.total)


def test_bot_releases_to_the_new_treasury_once_the_beneficiary_pins_it(
    world: World, flow: Flow, ledger_url: str
) -> None:
    draft = sample_contract("OUT-D")
    seq, new_treasury = moved_after_the_request(flow, world, draft)
    database = open_database(ledger_url)
    bot = institution_bot(world, flow, database)
    catch_up(bot)
    ((_, _, action, reason),) = bot_actions(database)
    assert (action, "moved its treasury after the request" in reason) == (DEFERRED, True)
    flow.finance(world.b).pin_treasury(draft.number, seq)
    catch_up(bot)
    # released once: by the pinned event's check or the deferred request's recheck, whichever runs first
    assert {(number, action) for number, _, action, _ in bot_actions(database)} == {("OUT-D", RELEASED)}
    assert balance(world, new_treasury) == draft.total


# ---------------------------------------------------------------------------------------------------- (e)
def past_the_release_deadline(flow: Flow, world: World, draft: ContractDraft) -> int:
    """B's payment requested, and the institution silent until its release deadline: the seq."""
    seq = requested(flow, world, draft)
    deadline = flow.finance(world.b).reader.payment(draft.number, seq).release_deadline
    assert deadline is not None
    advance(world, deadline - now(world))
    return seq


#: Per direction: the party that sends, the one that consents, the status and what each one's books say.
DIRECTIONS = {
    "to the beneficiary": ("b", "a", True, VoucherStatus.RELEASED, [FREEZE, PAYMENT], [RECEIPT]),
    "back to the payer": ("a", "b", False, VoucherStatus.RECLAIMED, [FREEZE, RECLAIM], []),
}


def books(world: World, ledger_url: str) -> tuple[Engine, list[str], list[str]]:
    """A's and B's accounting listeners caught up: the database, and the kinds of A's and B's entries."""
    database = open_database(ledger_url)
    for party in (world.a, world.b):
        catch_up(accounting(world, database, party.org_id))
    return (
        database,
        [kind for kind, *_ in entries(database, world.a.org_id)],
        [kind for kind, *_ in entries(database, world.b.org_id)],
    )


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_operator_that_never_releases_payer_and_beneficiary_settle_without_it(
    world: World, flow: Flow, ledger_url: str, direction: str
) -> None:
    draft = sample_contract("OUT-E")
    sender, consenting, to_beneficiary, status, a_books, b_books = DIRECTIONS[direction]
    seq = past_the_release_deadline(flow, world, draft)
    other = flow.finance(getattr(world, consenting))
    consent = other.sign_settlement(draft.number, seq, to_beneficiary=to_beneficiary)
    settler = flow.finance(getattr(world, sender))
    payment = settler.settle_without_institution(
        draft.number, seq, to_beneficiary=to_beneficiary, cosigner=other.address, signature=consent
    )
    assert payment.status is status
    (event,) = world.deployment.escrow.events.SettledWithoutInstitution().get_logs(from_block=0)
    assert (event.args.seq, event.args.toBeneficiary) == (seq, to_beneficiary)
    assert (event.args.caller, event.args.cosigner) == (settler.address, other.address)
    assert_settled(world, flow, draft, seq, settler, to_beneficiary)
    _, a_kinds, b_kinds = books(world, ledger_url)
    assert (a_kinds, b_kinds) == (a_books, b_books)


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_operator_that_never_releases_a_party_settles_alone_when_the_other_is_suspended(
    world: World, flow: Flow, ledger_url: str, direction: str
) -> None:
    draft = sample_contract("OUT-E")
    sender, suspended, to_beneficiary, status, a_books, b_books = DIRECTIONS[direction]
    seq = past_the_release_deadline(flow, world, draft)
    admin(world).set_org_active(getattr(world, suspended).org_id, False)
    settler = flow.finance(getattr(world, sender))
    assert settler.settle_without_institution(draft.number, seq, to_beneficiary=to_beneficiary).status is status
    (event,) = world.deployment.escrow.events.SettledWithoutInstitution().get_logs(from_block=0)
    assert (event.args.caller, event.args.cosigner) == (settler.address, "0x" + "00" * 20)
    assert_settled(world, flow, draft, seq, settler, to_beneficiary)
    _, a_kinds, b_kinds = books(world, ledger_url)
    assert (a_kinds, b_kinds) == (a_books, b_books)


def assert_settled(
    world: World, flow: Flow, draft: ContractDraft, seq: int, settler: FinanceService, to_beneficiary: bool
) -> None:
    """The money went to the beneficiary's pinned treasury (a second voucher the settler released) or back to the
    payer (the amount unpaid again), and nowhere else."""
    reader = flow.finance(world.a).reader
    assert balance(world, world.deployment.escrow.address) == 0
    if to_beneficiary:
        second = reader.second_voucher_of(draft.number, seq)
        assert (second.beneficiary, second.released_by) == (world.b.treasury.address, settler.address)
        assert balance(world, world.b.treasury.address) == draft.total
        assert reader.agreement(draft.number).unpaid == 0
    else:
        assert balance(world, world.a.treasury.address) == A_FUNDS
        assert reader.agreement(draft.number).unpaid == draft.total


# ---------------------------------------------------------------------------------------------------- (f)
def test_proposal_in_an_unlisted_asset_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    """An outsider's token whose transfers always fail, never listed by governance."""
    token, _ = deploy_contract(world.admin, "SwitchableToken")
    world.admin.transact(token.functions.setBroken(True))
    document = econtract(world, draft).model_copy(update={"asset": token.address})
    with pytest.raises(errors.AssetNotAccepted) as refusal:
        flow.business(world.b).propose(document)
    assert refusal.value.args_by_name == {"asset": token.address}


def test_asset_withdrawn_by_governance_is_refused_for_new_contracts_only(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq, _ = issued(flow, world, draft, amount=100_00)  # a contract already paid in the asset
    asset = world.deployment.asset.address
    world.admin.transact(world.deployment.registry.functions.setAssetAccepted(asset, False))
    assert world.deployment.registry.functions.isAssetAccepted(asset).call() is False
    with pytest.raises(errors.AssetNotAccepted):
        proposed(flow, world, sample_contract("OUT-F"))
    flow.finance(world.b).redeem(draft.number, seq)
    assert flow.institution(world.bank).release(draft.number, seq).amount == 100_00
    assert flow.finance(world.a).issue_voucher(draft.number, applied(flow, world, draft, 100_00)).status is (
        VoucherStatus.FROZEN
    )


# ---------------------------------------------------------------------------------------------------- (g)
SWAPPED = "CN99 PAYER'S CHOICE 0000"


def test_voucher_for_another_account_than_the_application_is_refused(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 100_00)
    swapped = flow.finance(world.a).receiving_account(draft.contract_no, seq, SWAPPED)
    with pytest.raises(errors.PaymentAccountMismatch) as refusal:
        flow.finance(world.a).issue_voucher(draft.number, seq, account=swapped)
    payment = flow.finance(world.a).reader.payment(draft.number, seq)
    assert refusal.value.args_by_name == {
        "voucherId": payment.voucher_id,
        "applied": payment.account_hash,
        "issued": crypto.bank_account_hash(SWAPPED, swapped.salt),
    }
    assert payment.status is VoucherStatus.APPLIED
    assert balance(world, world.a.treasury.address) == A_FUNDS


def test_payment_key_naming_another_account_is_refused_by_the_payee_before_redeeming(
    world: World, flow: Flow, draft: ContractDraft, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The voucher carries the application's account hash (the chain checks that), but the payment key inside names
    the payer's choice: the payee's client compares the key's account with the application's and refuses."""
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 100_00)
    a, b = flow.finance(world.a), flow.finance(world.b)
    applied_hash = a.reader.payment(draft.number, seq).account_hash
    prepared, _ = a.prepare_issue_voucher(
        draft.contract_no,
        seq,
        amount=100_00,
        account=a.receiving_account(draft.contract_no, seq, SWAPPED),
        expiry=now(world) + 3600,
        payee_key=world.b.encryption_key.public_key,
    )
    amount, _, commitment, expiry, sealed_key = prepared.call.args[2]
    a.tx.transact(
        world.deployment.registry.functions.issuePaymentVoucher(
            draft.contract_no, seq, (amount, applied_hash, commitment, expiry, sealed_key)
        )
    )
    sent = nonce(world, b.address)
    forbid_sending(monkeypatch, b)
    with pytest.raises(KeyAccountMismatch):
        b.redeem(draft.number, seq)
    assert nonce(world, b.address) == sent
    assert b.reader.payment(draft.number, seq).status is VoucherStatus.FROZEN
