"""S4–S5: business settlement, payment applications, payment vouchers and the freeze."""

from __future__ import annotations

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
from support import A_FUNDS, BANK_ACCOUNT, World, h, issued, settled, signed, vouched


def voucher_terms(
    world: World, voucher_id: bytes, expiry: int, amount: int = 1_00
) -> tuple[int, bytes, bytes, bytes, int, bytes]:
    """Payment voucher terms with a fresh secret, for calls made outside the services."""
    commitment = crypto.key_commitment(
        world.deployment.manifest.chain_id, world.deployment.escrow.address, voucher_id, crypto.new_secret()
    )
    return (amount, h("account"), b"\x01" * 97, commitment, expiry, b"\x02" * 200)


def now(world: World) -> int:
    return int(world.w3.eth.get_block("latest")["timestamp"])


def test_settlement_voucher_once_every_stage_is_vouched(world: World, flow: Flow, draft: ContractDraft) -> None:
    vouched(flow, world, draft)
    flow.business(world.b).apply_settlement(draft.number)
    business = flow.business(world.a)
    receipt = business.execute(business.prepare_approve_settlement(draft.number))
    registry = world.deployment.registry
    (event,) = registry.events.BusinessSettlementVoucherIssued().process_receipt(receipt, errors=DISCARD)
    assert (event.args.partyA, event.args.partyB, event.args.total) == (world.a.org_id, world.b.org_id, draft.total)
    assert registry.functions.agreementOf(draft.contract_no).call()[3] == ContractStatus.SETTLED


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


def test_payment_voucher_freezes_exactly_its_amount(world: World, flow: Flow, draft: ContractDraft) -> None:
    asset = world.deployment.asset.functions
    seq, _ = issued(flow, world, draft, amount=400_000_00)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert asset.balanceOf(world.deployment.escrow.address).call() == 400_000_00
    assert asset.balanceOf(world.a.treasury.address).call() == A_FUNDS - 400_000_00
    amount, status, expiry, beneficiary, presenter = world.deployment.escrow.functions.voucherOf(voucher_id).call()
    assert (amount, status, beneficiary, presenter) == (400_000_00, VoucherStatus.FROZEN, 0, 0)
    assert expiry > now(world)
    assert world.deployment.registry.functions.agreementOf(draft.contract_no).call()[9] == 400_000_00


def test_voucher_event_carries_only_ciphertexts_and_commitments(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    seq = flow.finance(world.b).apply_payment(draft.number, draft.total, BANK_ACCOUNT).seq
    flow.finance(world.a).issue_voucher(draft.number, seq, amount=draft.total, bank_account=BANK_ACCOUNT)
    logs = world.deployment.registry.events.PaymentVoucherIssued().get_logs(from_block=0)
    (event,) = logs
    opened = crypto.open_sealed(
        world.bank.encryption_key,
        event.args.bankAccountCiphertext,
        crypto.BankAccount,
        crypto.binding(world.deployment.manifest.chain_id, world.deployment.escrow.address, event.args.voucherId),
    )
    assert opened.account == BANK_ACCOUNT
    assert event.args.bankAccountHash == crypto.bank_account_hash(BANK_ACCOUNT, opened.salt)
    raw = world.w3.eth.get_transaction_receipt(event.transactionHash)["logs"]
    assert all(BANK_ACCOUNT.encode() not in bytes(log["data"]) for log in raw)


def test_payment_over_the_unpaid_amount_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    with pytest.raises(errors.PaymentExceedsUnpaid) as refusal:
        flow.finance(world.b).apply_payment(draft.number, draft.total + 1, BANK_ACCOUNT)
    assert refusal.value.args_by_name["unpaid"] == draft.total
    first = flow.finance(world.b).apply_payment(draft.number, 600_000_00, BANK_ACCOUNT).seq
    second = flow.finance(world.b).apply_payment(draft.number, 600_000_00, BANK_ACCOUNT).seq
    flow.finance(world.a).issue_voucher(draft.number, first, amount=600_000_00, bank_account=BANK_ACCOUNT)
    with pytest.raises(errors.PaymentExceedsUnpaid) as refusal:
        flow.finance(world.a).issue_voucher(draft.number, second, amount=600_000_00, bank_account=BANK_ACCOUNT)
    assert refusal.value.args_by_name["unpaid"] == 400_000_00
    with pytest.raises(errors.InvalidAmount):
        flow.finance(world.b).apply_payment(draft.number, 0, BANK_ACCOUNT)


def test_one_payment_voucher_per_application(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft, amount=100_00)
    with pytest.raises(errors.PaymentAlreadyIssued):
        flow.finance(world.a).issue_voucher(draft.number, seq, amount=100_00, bank_account=BANK_ACCOUNT)
    finance = flow.finance(world.a)  # the service reads the application first: here the registry's own check
    voucher, _ = finance.prepare_issue_voucher(
        draft.contract_no,
        seq + 1,
        amount=100_00,
        bank_account=BANK_ACCOUNT,
        expiry=now(world) + 600,
        payee_key=world.b.encryption_key.public_key,
        institution_key=world.bank.encryption_key.public_key,
    )
    with pytest.raises(errors.UnknownVoucher):
        finance.execute(voucher)


def test_voucher_amount_must_be_the_applications(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    seq = flow.finance(world.b).apply_payment(draft.number, 100_00, BANK_ACCOUNT).seq
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert world.deployment.escrow.functions.voucherOf(voucher_id).call()[:2] == (100_00, VoucherStatus.APPLIED)
    with pytest.raises(errors.PaymentAmountMismatch) as refusal:
        flow.finance(world.a).issue_voucher(draft.number, seq, amount=200_00, bank_account=BANK_ACCOUNT)
    assert refusal.value.args_by_name == {"voucherId": voucher_id, "applied": 100_00, "issued": 200_00}


def test_payment_needs_business_settlement(world: World, flow: Flow, draft: ContractDraft) -> None:
    vouched(flow, world, draft)
    with pytest.raises(errors.UnexpectedContractStatus) as refusal:
        flow.finance(world.b).apply_payment(draft.number, 1, BANK_ACCOUNT)
    assert refusal.value.args_by_name["expected"] == ContractStatus.SETTLED


def test_payment_roles(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    registry = world.deployment.registry.functions
    apply = registry.applyForPayment(draft.contract_no, 1_00, b"")
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.b, Department.BUSINESS).transact(apply)
    with pytest.raises(errors.WrongParty):
        world.tx(world.a, Department.FINANCE).transact(apply)
    seq = flow.finance(world.b).apply_payment(draft.number, 1_00, BANK_ACCOUNT).seq
    issue = registry.issuePaymentVoucher(
        draft.contract_no, seq, voucher_terms(world, payment_voucher_id(draft.contract_no, seq), now(world) + 600)
    )
    with pytest.raises(errors.WrongParty):
        world.tx(world.b, Department.FINANCE).transact(issue)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.BUSINESS).transact(issue)


@pytest.mark.parametrize("offset", [0, -10, 366 * 24 * 3600 + 60])
def test_invalid_key_expiry_is_refused(world: World, flow: Flow, draft: ContractDraft, offset: int) -> None:
    settled(flow, world, draft)
    seq = flow.finance(world.b).apply_payment(draft.number, 1_00, BANK_ACCOUNT).seq
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    expiry = now(world) + offset  # the transaction's block is never earlier than the latest one
    call = world.deployment.registry.functions.issuePaymentVoucher(
        draft.contract_no, seq, voucher_terms(world, voucher_id, expiry)
    )
    with pytest.raises(errors.InvalidExpiry):
        world.tx(world.a, Department.FINANCE).transact(call)


def test_missing_key_commitment_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    seq = flow.finance(world.b).apply_payment(draft.number, 1_00, BANK_ACCOUNT).seq
    terms = (1_00, h("account"), b"", b"\x00" * 32, now(world) + 600, b"")
    with pytest.raises(errors.InvalidPaymentKey):
        world.tx(world.a, Department.FINANCE).transact(
            world.deployment.registry.functions.issuePaymentVoucher(draft.contract_no, seq, terms)
        )


def test_missing_allowance_or_balance_leaves_nothing_half_done(world: World, flow: Flow, draft: ContractDraft) -> None:
    settled(flow, world, draft)
    seq = flow.finance(world.b).apply_payment(draft.number, 1_000_00, BANK_ACCOUNT).seq
    treasury = Transactor(world.w3, world.a.treasury)
    treasury.transact(world.deployment.asset.functions.approve(world.deployment.escrow.address, 999_99))
    with pytest.raises(errors.ERC20InsufficientAllowance):
        flow.finance(world.a).issue_voucher(draft.number, seq, amount=1_000_00, bank_account=BANK_ACCOUNT)
    treasury.transact(world.deployment.asset.functions.approve(world.deployment.escrow.address, 2**256 - 1))
    treasury.transact(world.deployment.asset.functions.transfer(world.c.treasury.address, A_FUNDS - 999_99))
    with pytest.raises(errors.ERC20InsufficientBalance):
        flow.finance(world.a).issue_voucher(draft.number, seq, amount=1_000_00, bank_account=BANK_ACCOUNT)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert world.deployment.registry.functions.agreementOf(draft.contract_no).call()[9] == 0
    assert world.deployment.escrow.functions.voucherOf(voucher_id).call()[1] == VoucherStatus.APPLIED


def test_fee_on_transfer_token_is_refused(world: World, flow: Flow) -> None:
    fee_token, _ = deploy_contract(world.admin, "FeeOnTransferToken")
    world.admin.transact(fee_token.functions.mint(world.a.treasury.address, 10_000))
    treasury = Transactor(world.w3, world.a.treasury)
    treasury.transact(fee_token.functions.approve(world.deployment.escrow.address, 2**256 - 1))
    draft = ContractDraft("HT-FEE", "paid in a fee token", (StageDraft("goods", 1_000),))
    # the services pay with the manifest's asset; propose this contract with the fee token instead
    flow.deployment = type(world.deployment)(
        world.w3, world.deployment.manifest, world.deployment.registry, world.deployment.escrow, fee_token
    )
    settled(flow, world, draft)
    seq = flow.finance(world.b).apply_payment(draft.number, 1_000, BANK_ACCOUNT).seq
    with pytest.raises(errors.UnsupportedToken) as refusal:
        flow.finance(world.a).issue_voucher(draft.number, seq, amount=1_000, bank_account=BANK_ACCOUNT)
    assert refusal.value.args_by_name == {"asset": fee_token.address, "expected": 1_000, "received": 990}


def test_only_the_registry_freezes_and_only_the_escrow_releases_commitments(world: World) -> None:
    escrow = world.deployment.escrow.functions
    freeze = escrow.freeze(
        b"\x01" * 32, world.deployment.asset.address, world.a.treasury.address, 1, b"\x02" * 32, now(world) + 60
    )
    with pytest.raises(errors.UnauthorizedCaller):
        world.tx(world.a, Department.FINANCE).transact(freeze)
    with pytest.raises(errors.UnauthorizedCaller):
        world.tx(world.b, Department.FINANCE).transact(escrow.recordApplication(b"\x01" * 32, 1))
    with pytest.raises(errors.UnauthorizedCaller):
        world.admin.transact(world.deployment.registry.functions.releaseCommitment(b"\x01" * 32, 1))
    with pytest.raises(errors.EscrowAlreadySet):
        world.admin.transact(world.deployment.registry.functions.setEscrow(world.deployment.escrow.address))
