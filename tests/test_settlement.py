"""S4–S5: business settlement, payment applications, payment vouchers and the freeze."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from collab_py.chain import errors
from collab_py.chain.deploy import deploy_contract
from collab_py.chain.enums import ContractStatus, Department, VoucherStatus
from collab_py.chain.transactor import Transactor
from collab_py.devnet.flow import ContractDraft, FlowDriver, StageDraft
from collab_py.domain import crypto
from collab_py.domain.types import payment_voucher_id
from support import A_FUNDS, BANK_ACCOUNT, World, h, issued, settled, signed, vouched


def voucher_terms(
    world: World, voucher_id: bytes, expiry: int, amount: int = 1_00
) -> tuple[int, bytes, bytes, bytes, int, bytes]:
    """Payment voucher terms with a fresh secret, for calls made outside the driver."""
    commitment = crypto.key_commitment(
        world.deployment.manifest.chain_id, world.deployment.escrow.address, voucher_id, crypto.new_secret()
    )
    return (amount, h("account"), b"\x01" * 97, commitment, expiry, b"\x02" * 200)


def now(world: World) -> int:
    return int(world.w3.eth.get_block("latest")["timestamp"])


def test_settlement_voucher_once_every_stage_is_vouched(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    vouched(driver, world, draft)
    driver.apply_settlement(world.b, draft)
    receipt = driver.approve_settlement(world.a, draft)
    registry = world.deployment.registry
    (event,) = registry.events.BusinessSettlementVoucherIssued().process_receipt(receipt, errors=DISCARD)
    assert (event.args.partyA, event.args.partyB, event.args.total) == (world.a.org_id, world.b.org_id, draft.total)
    assert registry.functions.agreementOf(draft.contract_no).call()[3] == ContractStatus.SETTLED


def test_settlement_with_a_stage_missing_is_refused(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    signed(driver, world, draft)
    for index in (0, 1):
        driver.confirm_stage(world.a, draft, index, driver.submit_stage(world.b, draft, index, "done"))
    driver.submit_stage(world.b, draft, 2, "pending, not confirmed")
    with pytest.raises(errors.StagesNotVouched) as refusal:
        driver.apply_settlement(world.b, draft)
    assert refusal.value.args_by_name == {"contractNo": draft.contract_no, "vouched": 2, "stages": 3}


def test_settlement_roles(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    vouched(driver, world, draft)
    with pytest.raises(errors.UnexpectedContractStatus):
        driver.approve_settlement(world.a, draft)
    with pytest.raises(errors.WrongParty):
        driver.apply_settlement(world.a, draft)
    driver.apply_settlement(world.b, draft)
    with pytest.raises(errors.WrongParty):
        driver.approve_settlement(world.b, draft)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.FINANCE).transact(
            world.deployment.registry.functions.approveBusinessSettlement(draft.contract_no)
        )


def test_payment_voucher_freezes_exactly_its_amount(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    asset = world.deployment.asset.functions
    seq, _ = issued(driver, world, draft, amount=400_000_00)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert asset.balanceOf(world.deployment.escrow.address).call() == 400_000_00
    assert asset.balanceOf(world.a.treasury.address).call() == A_FUNDS - 400_000_00
    amount, status, expiry, beneficiary, presenter = world.deployment.escrow.functions.voucherOf(voucher_id).call()
    assert (amount, status, beneficiary, presenter) == (400_000_00, VoucherStatus.FROZEN, 0, 0)
    assert expiry > now(world)
    assert world.deployment.registry.functions.agreementOf(draft.contract_no).call()[9] == 400_000_00


def test_voucher_event_carries_only_ciphertexts_and_commitments(
    world: World, driver: FlowDriver, draft: ContractDraft
) -> None:
    settled(driver, world, draft)
    seq = driver.apply_payment(world.b, world.a, draft, draft.total, BANK_ACCOUNT)
    driver.issue_voucher(world.a, world.b, world.bank, draft, seq, amount=draft.total, bank_account=BANK_ACCOUNT)
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


def test_payment_over_the_unpaid_amount_is_refused(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    settled(driver, world, draft)
    with pytest.raises(errors.PaymentExceedsUnpaid) as refusal:
        driver.apply_payment(world.b, world.a, draft, draft.total + 1, BANK_ACCOUNT)
    assert refusal.value.args_by_name["unpaid"] == draft.total
    first = driver.apply_payment(world.b, world.a, draft, 600_000_00, BANK_ACCOUNT)
    second = driver.apply_payment(world.b, world.a, draft, 600_000_00, BANK_ACCOUNT)
    driver.issue_voucher(world.a, world.b, world.bank, draft, first, amount=600_000_00, bank_account=BANK_ACCOUNT)
    with pytest.raises(errors.PaymentExceedsUnpaid) as refusal:
        driver.issue_voucher(world.a, world.b, world.bank, draft, second, amount=600_000_00, bank_account=BANK_ACCOUNT)
    assert refusal.value.args_by_name["unpaid"] == 400_000_00
    with pytest.raises(errors.InvalidAmount):
        driver.apply_payment(world.b, world.a, draft, 0, BANK_ACCOUNT)


def test_one_payment_voucher_per_application(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    seq, _ = issued(driver, world, draft, amount=100_00)
    with pytest.raises(errors.PaymentAlreadyIssued):
        driver.issue_voucher(world.a, world.b, world.bank, draft, seq, amount=100_00, bank_account=BANK_ACCOUNT)
    with pytest.raises(errors.UnknownVoucher):
        driver.issue_voucher(world.a, world.b, world.bank, draft, seq + 1, amount=100_00, bank_account=BANK_ACCOUNT)


def test_voucher_amount_must_be_the_applications(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    settled(driver, world, draft)
    seq = driver.apply_payment(world.b, world.a, draft, 100_00, BANK_ACCOUNT)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert world.deployment.escrow.functions.voucherOf(voucher_id).call()[:2] == (100_00, VoucherStatus.APPLIED)
    with pytest.raises(errors.PaymentAmountMismatch) as refusal:
        driver.issue_voucher(world.a, world.b, world.bank, draft, seq, amount=200_00, bank_account=BANK_ACCOUNT)
    assert refusal.value.args_by_name == {"voucherId": voucher_id, "applied": 100_00, "issued": 200_00}


def test_payment_needs_business_settlement(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    vouched(driver, world, draft)
    with pytest.raises(errors.UnexpectedContractStatus) as refusal:
        driver.apply_payment(world.b, world.a, draft, 1, BANK_ACCOUNT)
    assert refusal.value.args_by_name["expected"] == ContractStatus.SETTLED


def test_payment_roles(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    settled(driver, world, draft)
    registry = world.deployment.registry.functions
    apply = registry.applyForPayment(draft.contract_no, 1_00, b"")
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.b, Department.BUSINESS).transact(apply)
    with pytest.raises(errors.WrongParty):
        world.tx(world.a, Department.FINANCE).transact(apply)
    seq = driver.apply_payment(world.b, world.a, draft, 1_00, BANK_ACCOUNT)
    issue = registry.issuePaymentVoucher(
        draft.contract_no, seq, voucher_terms(world, payment_voucher_id(draft.contract_no, seq), now(world) + 600)
    )
    with pytest.raises(errors.WrongParty):
        world.tx(world.b, Department.FINANCE).transact(issue)
    with pytest.raises(errors.WrongDepartment):
        world.tx(world.a, Department.BUSINESS).transact(issue)


@pytest.mark.parametrize("offset", [0, -10, 366 * 24 * 3600 + 60])
def test_invalid_key_expiry_is_refused(world: World, driver: FlowDriver, draft: ContractDraft, offset: int) -> None:
    settled(driver, world, draft)
    seq = driver.apply_payment(world.b, world.a, draft, 1_00, BANK_ACCOUNT)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    expiry = now(world) + offset  # the transaction's block is never earlier than the latest one
    call = world.deployment.registry.functions.issuePaymentVoucher(
        draft.contract_no, seq, voucher_terms(world, voucher_id, expiry)
    )
    with pytest.raises(errors.InvalidExpiry):
        world.tx(world.a, Department.FINANCE).transact(call)


def test_missing_key_commitment_is_refused(world: World, driver: FlowDriver, draft: ContractDraft) -> None:
    settled(driver, world, draft)
    seq = driver.apply_payment(world.b, world.a, draft, 1_00, BANK_ACCOUNT)
    terms = (1_00, h("account"), b"", b"\x00" * 32, now(world) + 600, b"")
    with pytest.raises(errors.InvalidPaymentKey):
        world.tx(world.a, Department.FINANCE).transact(
            world.deployment.registry.functions.issuePaymentVoucher(draft.contract_no, seq, terms)
        )


def test_missing_allowance_or_balance_leaves_nothing_half_done(
    world: World, driver: FlowDriver, draft: ContractDraft
) -> None:
    settled(driver, world, draft)
    seq = driver.apply_payment(world.b, world.a, draft, 1_000_00, BANK_ACCOUNT)
    treasury = Transactor(world.w3, world.a.treasury)
    treasury.transact(world.deployment.asset.functions.approve(world.deployment.escrow.address, 999_99))
    with pytest.raises(errors.ERC20InsufficientAllowance):
        driver.issue_voucher(world.a, world.b, world.bank, draft, seq, amount=1_000_00, bank_account=BANK_ACCOUNT)
    treasury.transact(world.deployment.asset.functions.approve(world.deployment.escrow.address, 2**256 - 1))
    treasury.transact(world.deployment.asset.functions.transfer(world.c.treasury.address, A_FUNDS - 999_99))
    with pytest.raises(errors.ERC20InsufficientBalance):
        driver.issue_voucher(world.a, world.b, world.bank, draft, seq, amount=1_000_00, bank_account=BANK_ACCOUNT)
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    assert world.deployment.registry.functions.agreementOf(draft.contract_no).call()[9] == 0
    assert world.deployment.escrow.functions.voucherOf(voucher_id).call()[1] == VoucherStatus.APPLIED


def test_fee_on_transfer_token_is_refused(world: World, driver: FlowDriver) -> None:
    fee_token, _ = deploy_contract(world.admin, "FeeOnTransferToken")
    world.admin.transact(fee_token.functions.mint(world.a.treasury.address, 10_000))
    treasury = Transactor(world.w3, world.a.treasury)
    treasury.transact(fee_token.functions.approve(world.deployment.escrow.address, 2**256 - 1))
    draft = ContractDraft("HT-FEE", "paid in a fee token", (StageDraft("goods", 1_000),))
    # the driver pays with the manifest's asset; propose this contract with the fee token instead
    driver.deployment = type(world.deployment)(
        world.w3, world.deployment.manifest, world.deployment.registry, world.deployment.escrow, fee_token
    )
    settled(driver, world, draft)
    seq = driver.apply_payment(world.b, world.a, draft, 1_000, BANK_ACCOUNT)
    with pytest.raises(errors.UnsupportedToken) as refusal:
        driver.issue_voucher(world.a, world.b, world.bank, draft, seq, amount=1_000, bank_account=BANK_ACCOUNT)
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
