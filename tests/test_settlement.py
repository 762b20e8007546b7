"""S4–S5: business settlement, payment applications, payment vouchers and the freeze."""

from __future__ import annotations

from dataclasses import replace

import pytest
from web3.logs import DISCARD

from collab_py.chain import errors
from collab_py.chain.deploy import deploy_contract
from collab_py.chain.enums import ContractStatus, Department, VoucherStatus
from collab_py.chain.transactor import Transactor
from collab_py.devnet.flow import Flow
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.types import payment_voucher_id
from support import A_FUNDS, BANK_ACCOUNT, World, applied, h, issued, now, settled, signed, vouched


def unpaid(world: World, draft: ContractDraft) -> int:
    return int(world.deployment.registry.functions.agreementOf(draft.contract_no).call()[0][7])


def voucher_terms(
    world: World, voucher_id: bytes, expiry: int, amount: int = 1_00, account_hash: bytes | None = None
) -> tuple[int, bytes, bytes, int, bytes]:
    """Payment voucher terms with a fresh secret, for calls made outside the services: by default for the account
    the application of ``voucher_id`` names."""
    commitment = crypto.key_commitment(
        world.deployment.manifest.chain_id, world.deployment.escrow.address, voucher_id, crypto.new_secret()
    )
    if account_hash is None:
        account_hash = bytes(world.deployment.escrow.functions.commitmentOf(voucher_id).call())
    return (amount, account_hash, commitment, expiry, b"\x02" * 200)


# ---------------------------------------------------------------------------------------------------- S4
def test_settlement_voucher_once_every_stage_is_vouched(world: World, flow: Flow, draft: ContractDraft) -> None:
    vouched(flow, world, draft)
    flow.business(world.b).apply_settlement(draft.number)
    business = flow.business(world.a)
    receipt = business.execute(business.prepare_approve_settlement(draft.number))
    registry = world.deployment.registry
    (event,) = registry.events.BusinessSettlementVoucherIssued().process_receipt(receipt, errors=DISCARD)
    assert (event.args.partyA, event.args.partyB, event.args.total) == (world.a.org_id, world.b.org_id, draft.total)
    assert registry.functions.agreementOf(draft.contract_no).call()[0][3] == ContractStatus.SETTLED


def test_settlement_with_a_stage_missing_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    signed(flow, world, draft)
    for index in (0, 1):
        flow.business(world.b).submit_stage(draft.number, index, b"done")
        flow.business(world.a).confirm_stage(draft.number, index)
    flow.business(world.b).submit_stage(draft.number, 2, b"pending, not confirmed")
    with pytest.raises(errors.StagesNotVouched) as refusal:
        flow.business(world.b).apply_settlement(draft.number)
    assert refusal.value.args_by_name == {"contractNo": draft.contract_no, "vouched": 2, "stages": 3}


def test_settlement_roles(world: World, flow: Flow, draft: ContractDraft) -> None:
    vouched(flow, world, draft)
    with pytest.raises(errors.UnexpectedContractStatus):
        flow.business(world.a).approve_settlement(draft.number)
    with pytest.raises(errors.WrongParty):
        flow.business(world.a).apply_settlement(draft.number)
    flow.business(world.b).apply_settlement(draft.number)
    with pytest.raises(errors.WrongParty):
        flow.business(world.b).approve_settlement(draft.number)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.FINANCE).transact(
            world.deployment.registry.functions.approveBusinessSettlement(draft.contract_no)
        )


def test_rejected_settlement_can_be_applied_for_again(world: World, flow: Flow, draft: ContractDraft) -> None:
    vouched(flow, world, draft)
    with pytest.raises(errors.UnexpectedContractStatus):
        flow.business(world.a).reject_settlement(draft.number, b"nothing to reject yet")
    flow.business(world.b).apply_settlement(draft.number)
    with pytest.raises(errors.WrongParty):
        flow.business(world.b).reject_settlement(draft.number, b"B cannot reject its own application")
    rejected = flow.business(world.a).reject_settlement(draft.number, b"series delivery incomplete")
    assert rejected.status is ContractStatus.SIGNED
    (event,) = world.deployment.registry.events.BusinessSettlementRejected().get_logs(from_block=0)
    assert (event.args.partyA, event.args.reasonHash) == (world.a.org_id, h("series delivery incomplete"))
    flow.business(world.b).apply_settlement(draft.number)
    assert flow.business(world.a).approve_settlement(draft.number).status is ContractStatus.SETTLED


# ---------------------------------------------------------------------------------------------------- S5.1
def test_application_names_the_account_and_reserves_its_amount(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    payment = flow.finance(world.b).apply_payment(draft.number, 400_000_00, BANK_ACCOUNT)
    assert (payment.seq, payment.amount, payment.status) == (1, 400_000_00, VoucherStatus.APPLIED)
    assert unpaid(world, draft) == draft.total - 400_000_00
    for key, ciphertext in (
        (world.a.encryption_key, payment.account_for_payer),
        (world.bank.encryption_key, payment.account_for_institution),
    ):
        opened = crypto.open_sealed(
            key, ciphertext, crypto.BankAccount, flow.finance(world.b).binding(draft.contract_no, 1)
        )
        assert opened.account == BANK_ACCOUNT
        assert crypto.bank_account_hash(opened.account, opened.salt) == payment.account_hash
    voucher_id = payment_voucher_id(draft.contract_no, 1)
    assert world.deployment.escrow.functions.voucherOf(voucher_id).call()[:2] == (400_000_00, VoucherStatus.APPLIED)
    assert bytes(world.deployment.escrow.functions.commitmentOf(voucher_id).call()) == payment.account_hash


def test_events_carry_only_ciphertexts_hashes_and_commitments(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft)
    registry = world.deployment.registry
    (application,) = registry.events.PaymentApplied().get_logs(from_block=0)
    (voucher,) = registry.events.PaymentVoucherIssued().get_logs(from_block=0)
    assert application.args.voucherId == voucher.args.voucherId == payment_voucher_id(draft.contract_no, seq)
    assert voucher.args.bankAccountHash == application.args.accountHash
    opened = crypto.open_sealed(
        world.bank.encryption_key,
        application.args.accountForInstitution,
        crypto.BankAccount,
        crypto.binding(world.deployment.manifest.chain_id, world.deployment.escrow.address, voucher.args.voucherId),
    )
    assert crypto.bank_account_hash(opened.account, opened.salt) == voucher.args.bankAccountHash
    for event in (application, voucher):
        logs = world.w3.eth.get_transaction_receipt(event.transactionHash)["logs"]
        assert all(BANK_ACCOUNT.encode() not in bytes(log["data"]) for log in logs)


def test_payment_over_the_unpaid_amount_is_refused_at_application(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    settled(flow, world, draft)
    with pytest.raises(errors.PaymentExceedsUnpaid) as refusal:
        applied(flow, world, draft, draft.total + 1)
    assert refusal.value.args_by_name["unpaid"] == draft.total
    applied(flow, world, draft, 600_000_00)
    with pytest.raises(errors.PaymentExceedsUnpaid) as refusal:
        applied(flow, world, draft, 600_000_00)  # the first application holds its amount, issued or not
    assert refusal.value.args_by_name == {"contractNo": draft.contract_no, "amount": 600_000_00, "unpaid": 400_000_00}
    with pytest.raises(errors.InvalidAmount):
        applied(flow, world, draft, 0)
    assert flow.finance(world.b).reader.agreement(draft.number).payment_count == 1


@pytest.mark.parametrize("amount", [-5, "100", 2**128, True, 1.5])
def test_an_amount_the_registry_cannot_take_is_refused_by_name_before_anything_is_sealed(
    world: World, flow: Flow, draft: ContractDraft, amount: object
) -> None:
    settled(flow, world, draft)
    with pytest.raises(errors.InvalidAmount) as refusal:
        flow.finance(world.b).apply_payment(draft.number, amount, BANK_ACCOUNT)  # type: ignore[arg-type]
    assert str(refusal.value) == "InvalidAmount()"  # not web3's MismatchedABI, which prints every argument
    assert flow.finance(world.b).reader.agreement(draft.number).payment_count == 0


def test_application_without_an_account_hash_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    call = world.deployment.registry.functions.applyForPayment(draft.contract_no, 1_00, b"\x00" * 32, b"", b"")
    with pytest.raises(errors.InvalidAccountHash):
        world.tx(world.b, Department.FINANCE).transact(call)


def test_payment_needs_business_settlement(world: World, flow: Flow, draft: ContractDraft) -> None:
    vouched(flow, world, draft)
    with pytest.raises(errors.UnexpectedContractStatus) as refusal:
        applied(flow, world, draft, 1)
    assert refusal.value.args_by_name["expected"] == ContractStatus.SETTLED


def test_payment_roles(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    registry = world.deployment.registry.functions
    apply = registry.applyForPayment(draft.contract_no, 1_00, h("account"), b"", b"")
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.b, Department.BUSINESS).transact(apply)
    with pytest.raises(errors.WrongParty):
        world.tx(world.a, Department.FINANCE).transact(apply)
    seq = applied(flow, world, draft, 1_00)
    issue = registry.issuePaymentVoucher(
        draft.contract_no, seq, voucher_terms(world, payment_voucher_id(draft.contract_no, seq), now(world) + 600)
    )
    with pytest.raises(errors.WrongParty):
        world.tx(world.b, Department.FINANCE).transact(issue)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.BUSINESS).transact(issue)
    for close, party in (
        (registry.withdrawPaymentApplication(draft.contract_no, seq), world.a),
        (registry.refusePaymentApplication(draft.contract_no, seq, h("no")), world.b),
    ):
        with pytest.raises(errors.WrongParty):
            world.tx(party, Department.FINANCE).transact(close)


@pytest.mark.parametrize("status", [VoucherStatus.WITHDRAWN, VoucherStatus.REFUSED])
def test_a_closed_application_cannot_be_closed_again(
    world: World, flow: Flow, draft: ContractDraft, status: VoucherStatus
) -> None:
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 1_00)
    closing = {
        VoucherStatus.WITHDRAWN: lambda: flow.finance(world.b).withdraw_application(draft.number, seq),
        VoucherStatus.REFUSED: lambda: flow.finance(world.a).refuse_application(draft.number, seq, b"disputed"),
    }
    assert closing[status]().status is status
    (event,) = world.deployment.registry.events.PaymentApplicationClosed().get_logs(from_block=0)
    assert (event.args.seq, event.args.status) == (seq, status)
    for close in closing.values():
        with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
            close()
        assert refusal.value.args_by_name["status"] == status
    with pytest.raises(errors.UnknownVoucher):
        flow.finance(world.b).withdraw_application(draft.number, seq + 1)


# ---------------------------------------------------------------------------------------------------- S5.2–S5.4
def test_payment_voucher_freezes_exactly_its_amount(world: World, flow: Flow, draft: ContractDraft) -> None:
    asset = world.deployment.asset.functions
    seq, _ = issued(flow, world, draft, amount=400_000_00)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert asset.balanceOf(world.deployment.escrow.address).call() == 400_000_00
    assert asset.balanceOf(world.a.treasury.address).call() == A_FUNDS - 400_000_00
    amount, status, expiry, payee, beneficiary = world.deployment.escrow.functions.voucherOf(voucher_id).call()
    assert (amount, status, payee, beneficiary) == (400_000_00, VoucherStatus.FROZEN, world.b.org_id, 0)
    assert expiry > now(world)
    assert unpaid(world, draft) == draft.total - 400_000_00


def test_one_payment_voucher_per_application(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft, amount=100_00)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        flow.finance(world.a).issue_voucher(draft.number, seq)
    assert refusal.value.args_by_name["status"] == VoucherStatus.FROZEN
    finance = flow.finance(world.a)  # the service reads the application first: here the registry's own check
    voucher, _ = finance.prepare_issue_voucher(
        draft.contract_no,
        seq + 1,
        amount=100_00,
        account=flow.finance(world.b).receiving_account(draft.contract_no, seq + 1, BANK_ACCOUNT),
        expiry=now(world) + 600,
        payee_key=world.b.encryption_key.public_key,
    )
    with pytest.raises(errors.UnknownVoucher):
        finance.execute(voucher)


def test_voucher_amount_must_be_the_applications(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 100_00)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    with pytest.raises(errors.PaymentAmountMismatch) as refusal:
        flow.finance(world.a).issue_voucher(draft.number, seq, amount=200_00)
    assert refusal.value.args_by_name == {"voucherId": voucher_id, "applied": 100_00, "issued": 200_00}


@pytest.mark.parametrize("offset", [0, -10, 1, 366 * 24 * 3600 + 60])
def test_invalid_key_expiry_is_refused(world: World, flow: Flow, draft: ContractDraft, offset: int) -> None:
    """Before now, shorter than the sandbox's shortest key lifetime (2 s) or longer than 366 days."""
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 1_00)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    expiry = now(world) + offset  # the transaction's block is never earlier than the latest one
    call = world.deployment.registry.functions.issuePaymentVoucher(
        draft.contract_no, seq, voucher_terms(world, voucher_id, expiry)
    )
    with pytest.raises(errors.InvalidExpiry) as refusal:
        world.tx(world.a, Department.FINANCE).transact(call)
    assert refusal.value.args_by_name["expiry"] == expiry


@pytest.mark.parametrize("lifetime", [1, 366 * 24 * 3600 + 1])
def test_a_key_lifetime_out_of_the_escrow_s_bounds_is_refused_naming_them(
    world: World, flow: Flow, draft: ContractDraft, lifetime: int
) -> None:
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 1_00)
    with pytest.raises(errors.InvalidExpiry, match=f"a key lives 2 to 31622400 s, not {lifetime} s"):
        flow.finance(world.a).issue_voucher(draft.number, seq, lifetime=lifetime)
    assert flow.finance(world.a).reader.payment(draft.number, seq).status is VoucherStatus.APPLIED  # nothing sent


def test_another_org_s_finance_is_refused_by_name_not_by_a_ciphertext_it_cannot_open(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 1_00)
    with pytest.raises(errors.WrongParty) as refusal:  # the application is sealed to Party A's finance
        flow.finance(world.b).issue_voucher(draft.number, seq)
    assert refusal.value.args_by_name["expectedOrgId"] == world.a.org_id
    flow.finance(world.a).issue_voucher(draft.number, seq)
    with pytest.raises(errors.WrongParty) as refusal:  # the payment key is sealed to Party B's finance
        flow.finance(world.c).redeem(draft.number, seq)
    assert refusal.value.args_by_name["expectedOrgId"] == world.b.org_id
    assert flow.finance(world.b).redeem(draft.number, seq).status is VoucherStatus.REQUESTED


def test_missing_key_commitment_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 1_00)
    terms = (1_00, h("account"), b"\x00" * 32, now(world) + 600, b"")
    with pytest.raises(errors.InvalidPaymentKey):
        world.tx(world.a, Department.FINANCE).transact(
            world.deployment.registry.functions.issuePaymentVoucher(draft.contract_no, seq, terms)
        )


def test_missing_allowance_or_balance_leaves_nothing_half_done(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 1_000_00)
    treasury = Transactor(world.w3, world.a.treasury)
    treasury.transact(world.deployment.asset.functions.approve(world.deployment.escrow.address, 999_99))
    with pytest.raises(errors.ERC20InsufficientAllowance):
        flow.finance(world.a).issue_voucher(draft.number, seq)
    treasury.transact(world.deployment.asset.functions.approve(world.deployment.escrow.address, 2**256 - 1))
    treasury.transact(world.deployment.asset.functions.transfer(world.c.treasury.address, A_FUNDS - 999_99))
    with pytest.raises(errors.ERC20InsufficientBalance):
        flow.finance(world.a).issue_voucher(draft.number, seq)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert unpaid(world, draft) == draft.total - 1_000_00  # reserved by the application, nothing frozen
    assert world.deployment.escrow.functions.voucherOf(voucher_id).call()[1] == VoucherStatus.APPLIED


def test_fee_on_transfer_token_is_refused(world: World) -> None:
    fee_token, _ = deploy_contract(world.admin, "FeeOnTransferToken")
    world.admin.transact(fee_token.functions.mint(world.a.treasury.address, 10_000))
    world.admin.transact(world.deployment.registry.functions.setAssetAccepted(fee_token.address, True))
    Transactor(world.w3, world.a.treasury).transact(
        fee_token.functions.approve(world.deployment.escrow.address, 2**256 - 1)
    )
    draft = ContractDraft("HT-FEE", "paid in a fee token", (StageDraft("goods", 1_000),))
    flow = Flow(replace(world.deployment, asset=fee_token))  # the services' contracts are paid in the fee token
    settled(flow, world, draft)
    seq = applied(flow, world, draft, 1_000)
    with pytest.raises(errors.UnsupportedToken) as refusal:
        flow.finance(world.a).issue_voucher(draft.number, seq)
    assert refusal.value.args_by_name == {"asset": fee_token.address, "expected": 1_000, "received": 990}


def test_only_the_registry_records_and_freezes_and_only_the_escrow_releases_commitments(world: World) -> None:
    escrow = world.deployment.escrow.functions
    voucher_id = b"\x01" * 32
    for call in (
        escrow.freeze(
            voucher_id, world.deployment.asset.address, world.a.treasury.address, 2, 1, h("a"), h("k"), now(world) + 60
        ),
        escrow.recordApplication(voucher_id, 1, h("account")),
        escrow.closeApplication(voucher_id, VoucherStatus.REFUSED),
    ):
        with pytest.raises(errors.UnauthorizedCaller):
            world.tx(world.a, Department.FINANCE).transact(call)
    with pytest.raises(errors.UnauthorizedCaller):
        world.admin.transact(world.deployment.registry.functions.releaseCommitment(voucher_id, 1))
    with pytest.raises(errors.EscrowAlreadySet):
        world.admin.transact(world.deployment.registry.functions.setEscrow(world.deployment.escrow.address))
