"""S6–S7: redeeming the payment key, assignment to a third party, release, reclaim and the second voucher."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from collab_py.chain import eip712, errors
from collab_py.chain.enums import ContractStatus, Department, VoucherStatus
from collab_py.devnet.flow import Flow
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.types import payment_voucher_id
from support import A_FUNDS, BANK_ACCOUNT, C_BANK_ACCOUNT, World, h, issued, secret_of


def balance(world: World, address: str) -> int:
    return int(world.deployment.asset.functions.balanceOf(address).call())


def advance(world: World, seconds: int) -> None:
    world.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def confirmation(
    world: World, voucher_id: bytes, assignee: int, signer: LocalAccount, account: str = C_BANK_ACCOUNT
) -> tuple[bytes, bytes]:
    """(bank account hash, signature) of the payee's assignment confirmation."""
    bank_hash = crypto.bank_account_hash(account, b"\x07" * 32)
    data = eip712.assignment_confirmation(
        world.deployment.manifest.chain_id, world.deployment.escrow.address, voucher_id, assignee, bank_hash
    )
    return bank_hash, eip712.sign_typed(signer, data)


def present(world: World, draft: ContractDraft, seq: int, secret: bytes) -> None:
    world.tx(world.c, Department.FINANCE).transact(
        world.deployment.escrow.functions.presentPaymentKey(draft.contract_no, seq, secret)
    )


def confirm_call(world: World, draft: ContractDraft, seq: int, assignee: int, signer: LocalAccount) -> object:
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    bank_hash, signature = confirmation(world, voucher_id, assignee, signer)
    return world.deployment.escrow.functions.confirmAssignment(
        draft.contract_no, seq, assignee, bank_hash, b"\x05" * 120, signer.address, signature
    )


def test_redeemed_key_pays_the_payee_and_emits_the_second_voucher(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq, _ = issued(flow, world, draft)
    flow.finance(world.b).redeem(draft.number, seq)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    escrow = world.deployment.escrow
    assert escrow.functions.voucherOf(voucher_id).call()[1] == VoucherStatus.REQUESTED
    operator = flow.institution(world.bank)
    receipt = operator.execute(operator.prepare_release(draft.contract_no, seq))
    (second,) = escrow.events.SecondVoucher().process_receipt(receipt, errors=DISCARD)
    assert second.args.voucherId == voucher_id
    assert second.args.contractNo == draft.contract_no
    assert second.args.seq == seq
    assert (second.args.payerOrg, second.args.payeeOrg, second.args.beneficiaryOrg) == (1, 2, 2)
    assert second.args.beneficiary == world.b.treasury.address
    assert second.args.asset == world.deployment.asset.address
    assert second.args.amount == draft.total
    assert second.args.paidAt == world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert second.args.operator == world.bank.account(Department.OPERATOR).address
    assert balance(world, world.b.treasury.address) == draft.total
    assert balance(world, world.a.treasury.address) == A_FUNDS - draft.total
    assert balance(world, escrow.address) == 0
    assert escrow.functions.voucherOf(voucher_id).call()[1] == VoucherStatus.RELEASED


def test_key_is_bound_to_its_voucher(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, key = issued(flow, world, draft)
    wrong = crypto.binding(world.deployment.manifest.chain_id, world.deployment.escrow.address, b"\x00" * 32)
    with pytest.raises(crypto.PayloadBindingError):
        crypto.open_sealed(world.b.encryption_key, key, crypto.PaymentKey, wrong)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(world.a.encryption_key, key, crypto.PaymentKey, wrong)
    secret = secret_of(world, draft, seq, key)
    assert world.deployment.escrow.functions.keyCommitmentOf(payment_voucher_id(draft.contract_no, seq)).call() == (
        world.deployment.escrow.functions.commitmentOf(payment_voucher_id(draft.contract_no, seq), secret).call()
    )


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
    seq, _ = issued(flow, world, draft)
    flow.finance(world.b).redeem(draft.number, seq)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        flow.finance(world.b).redeem(draft.number, seq)
    assert refusal.value.args_by_name["status"] == VoucherStatus.REQUESTED


def test_assignment_to_a_third_member_pays_it(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, key = issued(flow, world, draft)
    present(world, draft, seq, secret_of(world, draft, seq, key))
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    escrow = world.deployment.escrow
    _, status, _, beneficiary, presenter = escrow.functions.voucherOf(voucher_id).call()
    assert (status, beneficiary, presenter) == (VoucherStatus.PRESENTED, 0, world.c.org_id)
    receipt = world.tx(world.c, Department.FINANCE).transact(
        confirm_call(world, draft, seq, world.c.org_id, world.b.account(Department.FINANCE))  # type: ignore[arg-type]
    )
    (confirmed,) = escrow.events.AssignmentConfirmed().process_receipt(receipt, errors=DISCARD)
    assert confirmed.args.beneficiaryOrg == world.c.org_id
    operator = flow.institution(world.bank)
    release = operator.execute(operator.prepare_release(draft.contract_no, seq))
    (second,) = escrow.events.SecondVoucher().process_receipt(release, errors=DISCARD)
    assert (second.args.payeeOrg, second.args.beneficiaryOrg) == (world.b.org_id, world.c.org_id)
    assert second.args.beneficiary == world.c.treasury.address
    assert balance(world, world.c.treasury.address) == draft.total
    assert balance(world, world.b.treasury.address) == 0


def test_assignment_confirmed_by_a_non_payee_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, key = issued(flow, world, draft)
    present(world, draft, seq, secret_of(world, draft, seq, key))
    c = world.tx(world.c, Department.FINANCE)
    with pytest.raises(errors.WrongParty):
        c.transact(confirm_call(world, draft, seq, world.c.org_id, world.c.account(Department.FINANCE)))  # type: ignore[arg-type]
    with pytest.raises(errors.WrongDepartment):
        c.transact(confirm_call(world, draft, seq, world.c.org_id, world.b.account(Department.BUSINESS)))  # type: ignore[arg-type]
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    bank_hash, signature = confirmation(world, voucher_id, world.c.org_id, world.c.account(Department.FINANCE))
    forged = world.deployment.escrow.functions.confirmAssignment(
        draft.contract_no, seq, world.c.org_id, bank_hash, b"", world.b.account(Department.FINANCE).address, signature
    )
    with pytest.raises(errors.InvalidSignature):
        c.transact(forged)
    with pytest.raises(errors.WrongParty):
        world.tx(world.a, Department.FINANCE).transact(
            confirm_call(world, draft, seq, world.c.org_id, world.b.account(Department.FINANCE))  # type: ignore[arg-type]
        )
    with pytest.raises(errors.AssigneeMismatch):
        c.transact(confirm_call(world, draft, seq, world.a.org_id, world.b.account(Department.FINANCE)))  # type: ignore[arg-type]


def test_presenting_needs_a_third_party_and_the_secret(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, key = issued(flow, world, draft)
    secret = secret_of(world, draft, seq, key)
    escrow = world.deployment.escrow.functions
    with pytest.raises(errors.InvalidAssignee):
        world.tx(world.b, Department.FINANCE).transact(escrow.presentPaymentKey(draft.contract_no, seq, secret))
    with pytest.raises(errors.InvalidAssignee):
        world.tx(world.a, Department.FINANCE).transact(escrow.presentPaymentKey(draft.contract_no, seq, secret))
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
            confirm_call(world, draft, seq, world.c.org_id, world.b.account(Department.FINANCE))  # type: ignore[arg-type]
        )
    flow.institution(world.bank).release(draft.number, seq)
    assert balance(world, world.b.treasury.address) == draft.total
    assert balance(world, world.c.treasury.address) == 0


def test_double_release_and_release_by_a_non_operator(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        flow.institution(world.bank).release(draft.number, seq)
    assert refusal.value.args_by_name["status"] == VoucherStatus.FROZEN
    flow.finance(world.b).redeem(draft.number, seq)
    release = world.deployment.escrow.functions.release(draft.contract_no, seq)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.FINANCE).transact(release)
    flow.institution(world.bank).release(draft.number, seq)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        flow.institution(world.bank).release(draft.number, seq)
    assert refusal.value.args_by_name["status"] == VoucherStatus.RELEASED


def test_release_by_another_institution_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    from collab_py.chain.enums import OrgKind
    from collab_py.devnet.parties import Party, fund_on_dev_node, register_party

    other_bank = Party.generate(901, "Other Bank", OrgKind.PAYMENT_INSTITUTION)
    fund_on_dev_node(world.w3, other_bank.all_accounts)
    register_party(world.admin, world.deployment, other_bank)
    seq, _ = issued(flow, world, draft)
    flow.finance(world.b).redeem(draft.number, seq)
    with pytest.raises(errors.WrongParty):
        flow.institution(other_bank).release(draft.number, seq)


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
    assert (event.args.payerOrg, event.args.amount) == (world.a.org_id, 300_000_00)
    assert balance(world, world.a.treasury.address) == A_FUNDS
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert escrow.functions.voucherOf(voucher_id).call()[1] == VoucherStatus.RECLAIMED
    agreement = world.deployment.registry.functions.agreementOf(draft.contract_no).call()
    assert (agreement[3], agreement[9]) == (ContractStatus.SETTLED, 0)
    with pytest.raises(errors.UnexpectedVoucherStatus):
        a_finance.transact(reclaim)
    # the amount is unpaid again: B can apply for it anew
    flow.finance(world.b).apply_payment(draft.number, draft.total, BANK_ACCOUNT)


def test_reclaim_after_a_request_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft, lifetime=600)
    flow.finance(world.b).redeem(draft.number, seq)
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
            confirm_call(world, draft, seq, world.c.org_id, world.b.account(Department.FINANCE))  # type: ignore[arg-type]
        )
    world.tx(world.a, Department.FINANCE).transact(world.deployment.escrow.functions.reclaim(draft.contract_no, seq))
    assert balance(world, world.a.treasury.address) == A_FUNDS


def test_pause_stops_every_movement_of_funds(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft, amount=500_00)
    escrow = world.deployment.escrow.functions
    operator = world.tx(world.bank, Department.OPERATOR)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.FINANCE).transact(escrow.pause())
    operator.transact(escrow.pause())
    with pytest.raises(errors.EnforcedPause):
        flow.finance(world.b).redeem(draft.number, seq)
    second = flow.finance(world.b).apply_payment(draft.number, 500_00, BANK_ACCOUNT).seq
    with pytest.raises(errors.EnforcedPause):
        flow.finance(world.a).issue_voucher(draft.number, second, amount=500_00, bank_account=BANK_ACCOUNT)
    with pytest.raises(errors.EnforcedPause):
        world.tx(world.a, Department.FINANCE).transact(escrow.reclaim(draft.contract_no, seq))
    operator.transact(escrow.unpause())
    flow.finance(world.b).redeem(draft.number, seq)
    operator.transact(escrow.pause())
    with pytest.raises(errors.EnforcedPause):
        flow.institution(world.bank).release(draft.number, seq)
    operator.transact(escrow.unpause())
    flow.institution(world.bank).release(draft.number, seq)
    assert balance(world, world.b.treasury.address) == 500_00
