"""S6–S7: redeeming the payment key, assignment to a third party, release, reclaim, the second voucher, the pause,
and the refusals of a settlement without the institution (S6.5; its outcomes are in test_outsider_cases)."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

from collab_py.chain import eip712, errors
from collab_py.chain.deploy import RELEASE_WINDOW
from collab_py.chain.enums import Department, OrgKind, VoucherStatus
from collab_py.devnet.flow import Flow
from collab_py.devnet.parties import Party, fund_on_dev_node, register_party
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.types import payment_voucher_id
from support import (
    A_FUNDS,
    C_BANK_ACCOUNT,
    World,
    advance,
    applied,
    balance,
    h,
    issued,
    now,
    requested,
    secret_of,
)


def confirm_call(
    world: World, draft: ContractDraft, seq: int, assignee: int, signer: LocalAccount, named: str | None = None
) -> ContractFunction:
    """confirmAssignment naming ``assignee`` into Party C's account, signed by ``signer`` (named as ``named``,
    default: the signer)."""
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    bank_hash = crypto.bank_account_hash(C_BANK_ACCOUNT, b"\x07" * 32)
    data = eip712.assignment_confirmation(
        world.deployment.manifest.chain_id, world.deployment.escrow.address, voucher_id, assignee, bank_hash
    )
    return world.deployment.escrow.functions.confirmAssignment(
        draft.contract_no,
        seq,
        assignee,
        bank_hash,
        b"\x05" * 120,
        named or signer.address,
        eip712.sign_typed(signer, data),
    )


def present(world: World, draft: ContractDraft, seq: int, secret: bytes, by: Party | None = None) -> None:
    world.tx(by or world.c, Department.FINANCE).transact(
        world.deployment.escrow.functions.presentPaymentKey(draft.contract_no, seq, secret)
    )


def b_finance(world: World) -> LocalAccount:
    return world.b.account(Department.FINANCE)


def party_d(world: World) -> Party:
    """A fourth member, registered now."""
    d = Party.generate(4, "Party D Trading")
    fund_on_dev_node(world.w3, d.all_accounts)
    register_party(world.admin, world.deployment, d)
    return d


def test_redeemed_key_pays_the_payee_and_emits_the_second_voucher(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq = requested(flow, world, draft)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    escrow = world.deployment.escrow
    amount, status, requested_at, payee, beneficiary = escrow.functions.voucherOf(voucher_id).call()
    assert (amount, status, payee, beneficiary) == (draft.total, VoucherStatus.REQUESTED, 2, 2)
    assert escrow.functions.releaseDeadlineOf(voucher_id).call() == requested_at + RELEASE_WINDOW
    assert escrow.functions.commitmentOf(voucher_id).call() == bytes(12) + bytes.fromhex(world.b.treasury.address[2:])
    operator = flow.institution(world.bank)
    receipt = operator.execute(operator.prepare_release(draft.contract_no, seq))
    (second,) = escrow.events.SecondVoucher().process_receipt(receipt, errors=DISCARD)
    assert second.args.voucherId == voucher_id
    assert (second.args.contractNo, second.args.seq) == (draft.contract_no, seq)
    assert (second.args.payerOrg, second.args.payeeOrg, second.args.beneficiaryOrg) == (1, 2, 2)
    assert second.args.beneficiary == world.b.treasury.address
    assert (second.args.asset, second.args.amount) == (world.deployment.asset.address, draft.total)
    assert second.args.paidAt == world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert second.args.releasedBy == world.bank.account(Department.OPERATOR).address
    assert balance(world, world.b.treasury.address) == draft.total
    assert balance(world, world.a.treasury.address) == A_FUNDS - draft.total
    assert balance(world, escrow.address) == 0
    assert escrow.functions.voucherOf(voucher_id).call()[1] == VoucherStatus.RELEASED
    assert escrow.functions.commitmentOf(voucher_id).call() == b"\x00" * 32
    assert escrow.functions.releaseDeadlineOf(voucher_id).call() == 0


def test_key_is_bound_to_its_voucher(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, key = issued(flow, world, draft)
    wrong = crypto.binding(world.deployment.manifest.chain_id, world.deployment.escrow.address, b"\x00" * 32)
    with pytest.raises(crypto.PayloadBindingError):
        crypto.open_sealed(world.b.encryption_key, key, crypto.PaymentKey, wrong)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(world.a.encryption_key, key, crypto.PaymentKey, wrong)
    escrow = world.deployment.escrow.functions
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    commitment = escrow.keyCommitmentFor(voucher_id, secret_of(world, draft, seq, key)).call()
    assert escrow.commitmentOf(voucher_id).call() == commitment


def test_wrong_secret_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft)
    call = world.deployment.escrow.functions.requestPayment(draft.contract_no, seq, h("guess"))
    with pytest.raises(errors.WrongSecret):
        world.tx(world.b, Department.FINANCE).transact(call)


def test_expired_key_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft, lifetime=600)
    advance(world, 601)
    with pytest.raises(errors.PaymentKeyExpired):
        flow.finance(world.b).redeem(draft.number, seq)


def test_redemption_by_a_non_payee_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, key = issued(flow, world, draft)
    call = world.deployment.escrow.functions.requestPayment(draft.contract_no, seq, secret_of(world, draft, seq, key))
    for party, department, error in (
        (world.c, Department.FINANCE, errors.WrongParty),
        (world.a, Department.FINANCE, errors.WrongParty),
        (world.b, Department.BUSINESS, errors.WrongDepartment),
    ):
        with pytest.raises(error):
            world.tx(party, department).transact(call)
    with pytest.raises(errors.UnknownVoucher):
        world.tx(world.b, Department.FINANCE).transact(
            world.deployment.escrow.functions.requestPayment(draft.contract_no, seq + 1, h("x"))
        )


def test_key_is_redeemable_once(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = requested(flow, world, draft)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        flow.finance(world.b).redeem(draft.number, seq)
    assert refusal.value.args_by_name["status"] == VoucherStatus.REQUESTED


# ---------------------------------------------------------------------------------------------------- S6.3
def test_assignment_to_a_third_member_pays_it(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, key = issued(flow, world, draft)
    present(world, draft, seq, secret_of(world, draft, seq, key))
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    escrow = world.deployment.escrow
    _, status, _, payee, presenter = escrow.functions.voucherOf(voucher_id).call()
    assert (status, payee, presenter) == (VoucherStatus.PRESENTED, world.b.org_id, world.c.org_id)
    receipt = world.tx(world.c, Department.FINANCE).transact(
        confirm_call(world, draft, seq, world.c.org_id, b_finance(world))
    )
    (confirmed,) = escrow.events.AssignmentConfirmed().process_receipt(receipt, errors=DISCARD)
    assert (confirmed.args.beneficiaryOrg, confirmed.args.seq) == (world.c.org_id, seq)
    assert (confirmed.args.beneficiary, confirmed.args.signer) == (world.c.treasury.address, b_finance(world).address)
    operator = flow.institution(world.bank)
    release = operator.execute(operator.prepare_release(draft.contract_no, seq))
    (second,) = escrow.events.SecondVoucher().process_receipt(release, errors=DISCARD)
    assert (second.args.payeeOrg, second.args.beneficiaryOrg) == (world.b.org_id, world.c.org_id)
    assert second.args.beneficiary == world.c.treasury.address
    assert balance(world, world.c.treasury.address) == draft.total
    assert balance(world, world.b.treasury.address) == 0


def test_payee_assigns_without_a_presentation_or_to_another_member_than_the_presenter(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    """The payee's signature decides: it may name a member that never presented the key, overriding C's presentation."""
    d = party_d(world)
    seq, key = issued(flow, world, draft, amount=100_00)
    present(world, draft, seq, secret_of(world, draft, seq, key))
    world.tx(world.b, Department.FINANCE).transact(confirm_call(world, draft, seq, d.org_id, b_finance(world)))
    voucher = world.deployment.escrow.functions.voucherOf(payment_voucher_id(draft.contract_no, seq)).call()
    assert (voucher[1], voucher[4]) == (VoucherStatus.REQUESTED, d.org_id)
    second = applied(flow, world, draft, 100_00)
    flow.finance(world.a).issue_voucher(draft.number, second)
    world.tx(d, Department.FINANCE).transact(confirm_call(world, draft, second, d.org_id, b_finance(world)))
    flow.institution(world.bank).release_all([(draft.contract_no, seq), (draft.contract_no, second)])
    assert balance(world, d.treasury.address) == 200_00
    assert balance(world, world.c.treasury.address) == 0


def test_assignment_confirmed_without_the_payees_signature_is_refused(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq, key = issued(flow, world, draft)
    present(world, draft, seq, secret_of(world, draft, seq, key))
    c = world.tx(world.c, Department.FINANCE)
    with pytest.raises(errors.UnauthorizedSigner):  # C signs its own assignment
        c.transact(confirm_call(world, draft, seq, world.c.org_id, world.c.account(Department.FINANCE)))
    with pytest.raises(errors.UnauthorizedSigner):  # B's business department is not its finance
        c.transact(confirm_call(world, draft, seq, world.c.org_id, world.b.account(Department.BUSINESS)))
    forged = confirm_call(
        world, draft, seq, world.c.org_id, world.c.account(Department.FINANCE), named=b_finance(world).address
    )
    with pytest.raises(errors.InvalidSignature):
        c.transact(forged)
    with pytest.raises(errors.WrongParty):  # neither the payee nor the assignee sends it
        world.tx(world.a, Department.FINANCE).transact(
            confirm_call(world, draft, seq, world.c.org_id, b_finance(world))
        )


@pytest.mark.parametrize(("assignee", "error"), [(1, errors.InvalidAssignee), (2, errors.InvalidAssignee),
                                                  (900, errors.UnknownOrg), (77, errors.UnknownOrg)])  # fmt: skip
def test_assignee_must_be_another_enterprise_than_payer_and_payee(
    world: World, flow: Flow, draft: ContractDraft, assignee: int, error: type[errors.ContractError]
) -> None:
    seq, _ = issued(flow, world, draft)
    with pytest.raises(error):
        world.tx(world.b, Department.FINANCE).transact(confirm_call(world, draft, seq, assignee, b_finance(world)))


def test_suspended_assignee_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft)
    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.c.org_id, False))
    with pytest.raises(errors.OrgSuspended) as refusal:
        world.tx(world.b, Department.FINANCE).transact(
            confirm_call(world, draft, seq, world.c.org_id, b_finance(world))
        )
    assert refusal.value.args_by_name == {"orgId": world.c.org_id}


def test_presenting_needs_a_third_party_and_the_secret(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, key = issued(flow, world, draft)
    secret = secret_of(world, draft, seq, key)
    with pytest.raises(errors.InvalidAssignee):
        present(world, draft, seq, secret, by=world.b)
    with pytest.raises(errors.InvalidAssignee):
        present(world, draft, seq, secret, by=world.a)
    with pytest.raises(errors.WrongSecret):
        present(world, draft, seq, h("guess"))
    present(world, draft, seq, secret)
    with pytest.raises(errors.UnexpectedVoucherStatus):
        present(world, draft, seq, secret)


def test_payee_overrides_a_presentation_and_the_revealed_secret_pays_only_the_payee(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq, key = issued(flow, world, draft)
    present(world, draft, seq, secret_of(world, draft, seq, key))
    flow.finance(world.b).redeem(draft.number, seq)
    with pytest.raises(errors.UnexpectedVoucherStatus):
        world.tx(world.c, Department.FINANCE).transact(
            confirm_call(world, draft, seq, world.c.org_id, b_finance(world))
        )
    flow.institution(world.bank).release(draft.number, seq)
    assert balance(world, world.b.treasury.address) == draft.total
    assert balance(world, world.c.treasury.address) == 0


# ---------------------------------------------------------------------------------------------------- S6.2, S6.4
def test_double_release_and_release_by_a_non_operator(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft)
    operator = flow.institution(world.bank)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        operator.execute(operator.prepare_release(draft.contract_no, seq))
    assert refusal.value.args_by_name["status"] == VoucherStatus.FROZEN
    flow.finance(world.b).redeem(draft.number, seq)
    release = world.deployment.escrow.functions.release(draft.contract_no, seq)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.FINANCE).transact(release)
    operator.release(draft.number, seq)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        operator.execute(operator.prepare_release(draft.contract_no, seq))
    assert refusal.value.args_by_name["status"] == VoucherStatus.RELEASED


def test_release_by_another_institution_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    other_bank = Party.generate(901, "Other Bank", OrgKind.PAYMENT_INSTITUTION)
    fund_on_dev_node(world.w3, other_bank.all_accounts)
    register_party(world.admin, world.deployment, other_bank)
    seq = requested(flow, world, draft)
    operator = flow.institution(other_bank)
    with pytest.raises(errors.WrongParty):
        operator.execute(operator.prepare_release(draft.contract_no, seq))


def test_expired_key_is_reclaimed_by_the_payer(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft, amount=300_000_00, lifetime=600)
    escrow = world.deployment.escrow
    reclaim = escrow.functions.reclaim(draft.contract_no, seq)
    a_finance = world.tx(world.a, Department.FINANCE)
    with pytest.raises(errors.PaymentKeyNotExpired):
        a_finance.transact(reclaim)
    advance(world, 600)
    with pytest.raises(errors.WrongParty):
        world.tx(world.b, Department.FINANCE).transact(reclaim)
    receipt = a_finance.transact(reclaim)
    (event,) = escrow.events.PaymentReclaimed().process_receipt(receipt, errors=DISCARD)
    assert (event.args.payerOrg, event.args.seq, event.args.amount) == (world.a.org_id, seq, 300_000_00)
    assert event.args.payerTreasury == world.a.treasury.address
    assert balance(world, world.a.treasury.address) == A_FUNDS
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert escrow.functions.voucherOf(voucher_id).call()[1] == VoucherStatus.RECLAIMED
    assert world.deployment.registry.functions.agreementOf(draft.contract_no).call()[0][7] == draft.total
    with pytest.raises(errors.UnexpectedVoucherStatus):
        a_finance.transact(reclaim)
    # the amount is unpaid again: B can apply for it anew
    applied(flow, world, draft, draft.total)


def test_reclaim_after_a_request_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = requested(flow, world, draft, lifetime=600)
    advance(world, 601)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        world.tx(world.a, Department.FINANCE).transact(
            world.deployment.escrow.functions.reclaim(draft.contract_no, seq)
        )
    assert refusal.value.args_by_name["status"] == VoucherStatus.REQUESTED
    flow.institution(world.bank).release(draft.number, seq)
    assert balance(world, world.b.treasury.address) == draft.total


def test_unconfirmed_presentation_expires_to_the_payer(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, key = issued(flow, world, draft, lifetime=600)
    present(world, draft, seq, secret_of(world, draft, seq, key))
    advance(world, 601)
    with pytest.raises(errors.PaymentKeyExpired):
        world.tx(world.c, Department.FINANCE).transact(
            confirm_call(world, draft, seq, world.c.org_id, b_finance(world))
        )
    world.tx(world.a, Department.FINANCE).transact(world.deployment.escrow.functions.reclaim(draft.contract_no, seq))
    assert balance(world, world.a.treasury.address) == A_FUNDS


def test_pause_stops_only_freezing_and_releasing(world: World, flow: Flow, draft: ContractDraft) -> None:
    """A pause delays payments; it never decides who gets them: redeeming, assigning and reclaiming stay open."""
    first, key = issued(flow, world, draft, amount=500_00, lifetime=600)
    second, third = applied(flow, world, draft, 500_00), applied(flow, world, draft, 500_00)
    flow.finance(world.a).issue_voucher(draft.number, second, lifetime=600)
    escrow = world.deployment.escrow.functions
    operator = flow.institution(world.bank)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.FINANCE).transact(escrow.pause())
    assert operator.pause() is True
    with pytest.raises(errors.EnforcedPause):
        flow.finance(world.a).issue_voucher(draft.number, third)
    flow.finance(world.b).redeem(draft.number, second)
    with pytest.raises(errors.EnforcedPause):
        operator.execute(operator.prepare_release(draft.contract_no, second))
    present(world, draft, first, secret_of(world, draft, first, key))
    advance(world, 601)
    flow.finance(world.a).reclaim(draft.number, first)  # the presented key expired: the payer takes it back
    assert operator.unpause() is False
    operator.release(draft.number, second)
    flow.finance(world.a).issue_voucher(draft.number, third)
    assert balance(world, world.b.treasury.address) == 500_00
    assert balance(world, world.a.treasury.address) == A_FUNDS - 2 * 500_00


# ---------------------------------------------------------------------------------------------------- S6.5 refusals
def test_pinning_is_for_the_beneficiary_of_a_requested_payment(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft)
    with pytest.raises(errors.UnexpectedVoucherStatus):
        flow.finance(world.b).pin_treasury(draft.number, seq)
    flow.finance(world.b).redeem(draft.number, seq)
    for party in (world.a, world.c):
        with pytest.raises(errors.WrongParty):
            flow.finance(party).pin_treasury(draft.number, seq)
    pinned = flow.finance(world.b).pin_treasury(draft.number, seq)  # the same treasury: nothing moved
    assert pinned.beneficiary == world.b.treasury.address


def test_settlement_without_the_institution_waits_for_the_deadline(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq = requested(flow, world, draft)
    payment = flow.finance(world.b).reader.payment(draft.number, seq)
    signature = flow.finance(world.a).sign_settlement(draft.number, seq, to_beneficiary=True)
    settle = {"to_beneficiary": True, "cosigner": flow.finance(world.a).address, "signature": signature}
    with pytest.raises(errors.ReleaseDeadlineNotReached) as refusal:
        flow.finance(world.b).settle_without_institution(draft.number, seq, **settle)
    assert refusal.value.args_by_name["deadline"] == payment.release_deadline
    assert payment.release_deadline == payment.requested_at + RELEASE_WINDOW  # type: ignore[operator]
    advance(world, payment.release_deadline - now(world))  # type: ignore[operator]
    assert (
        flow.finance(world.b).settle_without_institution(draft.number, seq, **settle).status is VoucherStatus.RELEASED
    )


def test_settlement_without_the_institution_needs_the_other_partys_consent(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq = requested(flow, world, draft)
    advance(world, RELEASE_WINDOW)
    a, b, c = (flow.finance(party) for party in (world.a, world.b, world.c))
    own = b.sign_settlement(draft.number, seq, to_beneficiary=True)
    consent = a.sign_settlement(draft.number, seq, to_beneficiary=True)
    for cosigner, signature, error in (
        (None, b"", errors.UnauthorizedSigner),  # alone, while the payer is active
        (b.address, own, errors.UnauthorizedSigner),  # its own signature
        (c.address, c.sign_settlement(draft.number, seq, to_beneficiary=True), errors.UnauthorizedSigner),
        (a.address, own, errors.InvalidSignature),  # B's signature named as A's
        (a.address, a.sign_settlement(draft.number, seq, to_beneficiary=False), errors.InvalidSignature),
    ):
        with pytest.raises(error):
            b.settle_without_institution(draft.number, seq, to_beneficiary=True, cosigner=cosigner, signature=signature)
    with pytest.raises(errors.WrongParty):  # a third member holding the payer's consent
        c.settle_without_institution(draft.number, seq, to_beneficiary=True, cosigner=a.address, signature=consent)
    assert b.reader.payment(draft.number, seq).status is VoucherStatus.REQUESTED


@pytest.mark.parametrize(("suspended", "caller", "refused_direction"), [("a", "b", False), ("b", "a", True)])
def test_a_party_settling_alone_only_settles_in_its_own_favour(
    world: World, flow: Flow, draft: ContractDraft, suspended: str, caller: str, refused_direction: bool
) -> None:
    seq = requested(flow, world, draft)
    advance(world, RELEASE_WINDOW)
    world.admin.transact(world.deployment.registry.functions.setOrgActive(getattr(world, suspended).org_id, False))
    with pytest.raises(errors.SettlementDirectionRefused) as refusal:
        flow.finance(getattr(world, caller)).settle_without_institution(
            draft.number, seq, to_beneficiary=refused_direction
        )
    assert refusal.value.args_by_name["toBeneficiary"] is refused_direction
    with pytest.raises(errors.OrgSuspended):  # and the suspended party takes no step at all
        flow.finance(getattr(world, suspended)).settle_without_institution(
            draft.number, seq, to_beneficiary=not refused_direction
        )


def test_only_a_requested_payment_is_settled_without_the_institution(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq, _ = issued(flow, world, draft)
    a = flow.finance(world.a)
    consent = a.sign_settlement(draft.number, seq, to_beneficiary=True)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        flow.finance(world.b).settle_without_institution(
            draft.number, seq, to_beneficiary=True, cosigner=a.address, signature=consent
        )
    assert refusal.value.args_by_name["status"] == VoucherStatus.FROZEN
