"""The role services (S1–S7): each step sent by the department that owns it, asserted on the records read back."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from collab_py.chain import errors
from collab_py.chain.deploy import RELEASE_WINDOW
from collab_py.chain.enums import ContractStatus, Department, OrgKind, StageStatus, VoucherStatus
from collab_py.devnet.parties import Party, fund_on_dev_node
from collab_py.devnet.sandbox import sample_contract
from collab_py.domain import crypto
from collab_py.domain.documents import DocumentNotFound, DocumentStore
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.models import AgreementRecord, PaymentRecord
from collab_py.domain.types import contract_number, payment_voucher_id
from collab_py.services import (
    AdminService,
    BusinessService,
    FinanceService,
    InstitutionService,
    PaymentKeyMismatch,
    ReleaseRefused,
    StepRecord,
    WrongRole,
)
from collab_py.services.finance import KEY_LIFETIME_SECONDS
from collab_py.services.reader import UnknownOrgError, UnknownPaymentError
from support import (
    A_FUNDS,
    BANK_ACCOUNT,
    C_BANK_ACCOUNT,
    World,
    advance,
    balance,
    econtract,
    forbid_sending,
    nonce,
    now,
)


@dataclass
class Actors:
    """Every department's service, built fresh for one test (the chain was reverted, nonces too)."""

    world: World
    a_business: BusinessService
    b_business: BusinessService
    a_finance: FinanceService
    b_finance: FinanceService
    c_finance: FinanceService
    bank: InstitutionService
    a_docs: DocumentStore
    b_docs: DocumentStore
    steps: list[StepRecord] = field(default_factory=list)


@pytest.fixture
def actors(world: World, tmp_path: Path) -> Actors:
    deployment = world.deployment
    a_docs, b_docs = DocumentStore(tmp_path / "a-docs"), DocumentStore(tmp_path / "b-docs")
    steps: list[StepRecord] = []
    return Actors(
        world=world,
        a_business=BusinessService(deployment, world.a.account(Department.BUSINESS), documents=a_docs),
        b_business=BusinessService(deployment, world.b.account(Department.BUSINESS), documents=b_docs),
        a_finance=FinanceService(
            deployment, world.a.account(Department.FINANCE), encryption_key=world.a.encryption_key
        ),
        b_finance=FinanceService(
            deployment, world.b.account(Department.FINANCE), encryption_key=world.b.encryption_key
        ),
        c_finance=FinanceService(
            deployment, world.c.account(Department.FINANCE), encryption_key=world.c.encryption_key
        ),
        bank=InstitutionService(
            deployment,
            world.bank.account(Department.OPERATOR),
            encryption_key=world.bank.encryption_key,
            observer=steps.append,
        ),
        a_docs=a_docs,
        b_docs=b_docs,
        steps=steps,
    )


def signed(actors: Actors, draft: ContractDraft) -> AgreementRecord:
    """B proposes; A countersigns the document B sent it (from B's store)."""
    proposed = actors.b_business.propose(draft, actors.world.a.org_id)
    return actors.a_business.countersign(draft.number, actors.b_docs.get(proposed.doc_hash))


def settled(actors: Actors, draft: ContractDraft) -> AgreementRecord:
    signed(actors, draft)
    for index in range(len(draft.stages)):
        actors.b_business.submit_stage(draft.number, index, f"result {index}".encode())
        actors.a_business.confirm_stage(draft.number, index)
    actors.b_business.apply_settlement(draft.number)
    return actors.a_business.approve_settlement(draft.number)


def issued(actors: Actors, draft: ContractDraft, *, amount: int | None = None, lifetime: int = 3600) -> PaymentRecord:
    settled(actors, draft)
    applied = actors.b_finance.apply_payment(draft.number, draft.total if amount is None else amount, BANK_ACCOUNT)
    return actors.a_finance.issue_voucher(draft.number, applied.seq, lifetime=lifetime)


# ---------------------------------------------------------------------------------------------------- S1 governance


def test_admin_registers_an_org_and_binds_its_accounts(world: World) -> None:
    admin = AdminService(world.deployment, world.admin)
    assert admin.org_id == 0
    d = Party.generate(4, "Party D Trading")
    fund_on_dev_node(world.w3, d.all_accounts)
    org = admin.register_org(4, d.name, OrgKind.ENTERPRISE, d.treasury.address, d.encryption_key.public_key)
    assert (org.org_id, org.name, org.kind, org.active) == (4, "Party D Trading", OrgKind.ENTERPRISE, True)
    assert org.treasury == d.treasury.address
    assert org.encryption_key == d.encryption_key.public_key

    business, finance = d.account(Department.BUSINESS), d.account(Department.FINANCE)
    member = admin.bind_account(business.address, 4, Department.BUSINESS)
    assert (member.account, member.org_id, member.department) == (business.address, 4, Department.BUSINESS)
    assert admin.bind_account(finance.address, 4, Department.FINANCE).department is Department.FINANCE
    assert BusinessService(world.deployment, business).org_id == 4  # read from the chain
    with pytest.raises(errors.AccountAlreadyBound) as refusal:
        admin.bind_account(business.address, 1, Department.FINANCE)
    assert refusal.value.args_by_name == {"account": business.address, "orgId": 4}
    with pytest.raises(errors.OrgAlreadyRegistered):
        admin.register_org(4, "again", OrgKind.ENTERPRISE, d.treasury.address, d.encryption_key.public_key)
    with pytest.raises(errors.InvalidDepartment):
        admin.bind_account(Account.create().address, 4, Department.OPERATOR)  # an enterprise has no operators


def test_admin_suspends_and_reinstates_an_org(world: World, tmp_path: Path) -> None:
    admin = AdminService(world.deployment, world.admin)
    b_business = BusinessService(world.deployment, world.b.account(Department.BUSINESS))
    suspended = admin.set_org_active(world.b.org_id, False)
    assert (suspended.org_id, suspended.active) == (world.b.org_id, False)
    assert suspended.name == world.b.name
    draft = sample_contract("HT-SUSPENDED")
    with pytest.raises(errors.OrgSuspended) as refusal:
        b_business.propose(draft, world.a.org_id)
    assert refusal.value.args_by_name["orgId"] == world.b.org_id
    assert admin.set_org_active(world.b.org_id, True).active is True
    assert b_business.propose(draft, world.a.org_id).status is ContractStatus.PROPOSED


def test_admin_unbinds_an_account(world: World) -> None:
    admin = AdminService(world.deployment, world.admin)
    account = world.c.account(Department.FINANCE)
    assert FinanceService(world.deployment, account, encryption_key=world.c.encryption_key).org_id == world.c.org_id
    member = admin.unbind_account(account.address)
    assert (member.account, member.org_id, member.department) == (account.address, 0, Department.NONE)
    with pytest.raises(WrongRole):
        FinanceService(world.deployment, account, encryption_key=world.c.encryption_key)
    with pytest.raises(errors.NotAMember):
        admin.unbind_account(account.address)


def test_admin_moves_treasury_and_sets_department_keys(world: World) -> None:
    admin = AdminService(world.deployment, world.admin)
    treasury = Account.create().address
    assert admin.set_treasury(world.c.org_id, treasury).treasury == treasury
    key = crypto.EncryptionKey().public_key
    org = admin.set_encryption_key(world.c.org_id, Department.FINANCE, key)
    assert org.encryption_key == world.c.encryption_key.public_key  # the org's own key is unchanged
    assert admin.reader.encryption_key(world.c.org_id, Department.FINANCE) == key
    assert admin.reader.encryption_key(world.c.org_id, Department.BUSINESS) == world.c.encryption_key.public_key


def test_governance_steps_by_a_non_owner_are_refused(world: World) -> None:
    intruder = world.a.account(Department.BUSINESS)
    not_admin = AdminService(world.deployment, intruder)
    d = Party.generate(5, "Party E")
    calls = (
        lambda: not_admin.register_org(5, d.name, OrgKind.ENTERPRISE, d.treasury.address, d.encryption_key.public_key),
        lambda: not_admin.set_org_active(world.b.org_id, False),
        lambda: not_admin.bind_account(d.account(Department.BUSINESS).address, world.a.org_id, Department.BUSINESS),
        lambda: not_admin.unbind_account(world.b.account(Department.FINANCE).address),
        lambda: not_admin.set_treasury(world.a.org_id, intruder.address),
    )
    for call in calls:
        with pytest.raises(errors.OwnableUnauthorizedAccount) as refusal:
            call()
        assert refusal.value.args_by_name == {"account": intruder.address}
    reader = not_admin.reader
    assert reader.org(world.b.org_id).active is True
    assert reader.org(world.a.org_id).treasury == world.a.treasury.address
    assert reader.member(world.b.account(Department.FINANCE).address).org_id == world.b.org_id
    with pytest.raises(UnknownOrgError):
        reader.org(5)


def test_service_of_another_department_is_the_wrong_role(world: World) -> None:
    deployment = world.deployment
    with pytest.raises(WrongRole, match="FINANCE"):
        BusinessService(deployment, world.b.account(Department.FINANCE))
    with pytest.raises(WrongRole):
        FinanceService(deployment, world.a.account(Department.BUSINESS), encryption_key=world.a.encryption_key)
    with pytest.raises(WrongRole):
        InstitutionService(deployment, world.a.account(Department.FINANCE), encryption_key=world.bank.encryption_key)
    with pytest.raises(WrongRole):
        FinanceService(deployment, world.bank.account(Department.OPERATOR), encryption_key=world.bank.encryption_key)
    with pytest.raises(WrongRole, match="org 0"):
        BusinessService(deployment, Account.create())
    # with an explicit org id nothing is read, and the right department is accepted
    assert BusinessService(deployment, world.b.account(Department.FINANCE), org_id=2).org_id == 2
    assert BusinessService(deployment, world.b.account(Department.BUSINESS)).org_id == world.b.org_id
    operator = InstitutionService(
        deployment, world.bank.account(Department.OPERATOR), encryption_key=world.bank.encryption_key
    )
    assert operator.org_id == world.bank.org_id


# ---------------------------------------------------------------------------------------------------- S2–S7 flow


def test_full_flow_through_the_services(actors: Actors) -> None:
    world, draft = actors.world, sample_contract()
    number = draft.number

    # S2.1: B proposes; the document lands in B's store
    proposed = actors.b_business.propose(draft, world.a.org_id)
    assert proposed.contract_no == number
    assert (proposed.party_a, proposed.party_b) == (world.a.org_id, world.b.org_id)
    assert proposed.status is ContractStatus.PROPOSED
    document = econtract(world, draft).document()
    assert proposed.doc_hash == keccak(document)
    assert proposed.terms_hash == econtract(world, draft).terms_hash
    assert (proposed.total, proposed.unpaid, proposed.committed, proposed.payment_count) == (
        draft.total,
        draft.total,
        0,
        0,
    )
    assert proposed.asset == world.deployment.asset.address
    assert [(s.index, s.amount, s.status) for s in proposed.stages] == [
        (i, stage.amount, StageStatus.OPEN) for i, stage in enumerate(draft.stages)
    ]
    assert [s.spec_hash for s in proposed.stages] == [stage.spec_hash for stage in draft.stages]
    assert proposed.signature_b.signer == world.b.account(Department.BUSINESS).address
    assert proposed.signature_a is None
    assert proposed.signed_at is None
    assert actors.b_docs.get(proposed.doc_hash) == document

    # S2.3: A receives the bytes and countersigns; the document lands in A's store too
    countersigned = actors.a_business.countersign(number, document)
    assert countersigned.status is ContractStatus.SIGNED
    assert countersigned.signature_a is not None
    assert countersigned.signature_a.signer == world.a.account(Department.BUSINESS).address
    assert countersigned.signed_at is not None
    assert countersigned.signed_at > 0
    assert actors.a_docs.get(proposed.doc_hash) == document

    # S3: stage 0 rejected and resubmitted, every stage confirmed
    first = actors.b_business.submit_stage(number, 0, b"design v1")
    assert (first.index, first.status, first.result_hash) == (0, StageStatus.PENDING, keccak(b"design v1"))
    assert first.amount == draft.stages[0].amount
    rejected = actors.a_business.reject_stage(number, 0, b"drawings incomplete")
    assert (rejected.status, rejected.result_hash) == (StageStatus.REJECTED, None)
    again = actors.b_business.submit_stage(number, 0, b"design v2")
    assert (again.status, again.result_hash) == (StageStatus.PENDING, keccak(b"design v2"))
    confirmed = actors.a_business.confirm_stage(number, 0)
    assert (confirmed.status, confirmed.result_hash) == (StageStatus.CONFIRMED, keccak(b"design v2"))
    for index in (1, 2):
        assert actors.b_business.submit_stage(number, index, b"done %d" % index).status is StageStatus.PENDING
        stage = actors.a_business.confirm_stage(number, index, keccak(b"done %d" % index))
        assert (stage.status, stage.result_hash) == (StageStatus.CONFIRMED, keccak(b"done %d" % index))

    # S4: business settlement
    assert actors.b_business.apply_settlement(number).status is ContractStatus.SETTLEMENT_REQUESTED
    settled_record = actors.a_business.approve_settlement(number)
    assert settled_record.status is ContractStatus.SETTLED
    assert all(stage.status is StageStatus.CONFIRMED for stage in settled_record.stages)

    # S5.1: B applies; A opens where B wants to be paid
    applied = actors.b_finance.apply_payment(number, draft.total, BANK_ACCOUNT)
    voucher_id = payment_voucher_id(draft.contract_no, 1)
    assert (applied.voucher_id, applied.contract_no, applied.seq) == (voucher_id, number, 1)
    assert (applied.amount, applied.status) == (draft.total, VoucherStatus.APPLIED)
    assert applied.expiry is None
    assert applied.key_ciphertext is None
    assert applied.beneficiary_org is None
    assert BANK_ACCOUNT.encode() not in applied.account_for_payer + applied.account_for_institution
    assert actors.a_business.reader.agreement(number).unpaid == 0  # the application reserves its amount
    application = actors.a_finance.open_application(number, 1)
    assert application.account == BANK_ACCOUNT
    assert application.binding == actors.a_finance.binding(draft.contract_no, 1)
    assert crypto.bank_account_hash(application.account, application.salt) == applied.account_hash

    # S5.2–S5.4: A issues the voucher; the amount is frozen
    before = now(world)
    frozen = actors.a_finance.issue_voucher(number, 1)
    assert frozen.status is VoucherStatus.FROZEN
    assert frozen.expiry == before + KEY_LIFETIME_SECONDS
    assert frozen.key_ciphertext is not None
    assert frozen.account_hash == applied.account_hash
    assert balance(world, world.a.treasury.address) == A_FUNDS - draft.total
    assert balance(world, world.deployment.escrow.address) == draft.total
    assert actors.a_business.reader.agreement(number).committed == draft.total

    # S6.1: B opens its payment key and redeems it
    key = actors.b_finance.open_payment_key(number, 1)
    assert (key.amount, key.payer_org, key.contract_no) == (draft.total, world.a.org_id, draft.contract_no)
    assert (key.expiry, key.bank_account, key.salt) == (frozen.expiry, BANK_ACCOUNT, application.salt)
    requested = actors.b_finance.redeem(number, 1)
    assert (requested.status, requested.beneficiary_org) == (VoucherStatus.REQUESTED, world.b.org_id)
    assert requested.beneficiary == world.b.treasury.address  # pinned at the request
    assert requested.release_deadline == requested.requested_at + RELEASE_WINDOW  # type: ignore[operator]

    # S6.2, S7.1: the institution opens the bank account and releases
    account = actors.bank.bank_account(number, 1)
    assert account.account == BANK_ACCOUNT
    assert crypto.bank_account_hash(account.account, account.salt) == frozen.account_hash
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the asset's Transfer log in the receipt is no cause for alarm
        second = actors.bank.release(number, 1)
    assert (second.voucher_id, second.contract_no, second.seq) == (voucher_id, number, 1)
    assert (second.payer_org, second.payee_org, second.beneficiary_org) == (1, 2, 2)
    assert second.beneficiary == world.b.treasury.address
    assert second.asset == world.deployment.asset.address
    assert second.amount == draft.total
    assert second.released_by == world.bank.account(Department.OPERATOR).address
    (step,) = actors.steps
    assert (step.step, step.requirement) == ("release", "S6.2")
    assert step.tx_hash == "0x" + second.evidence.tx_hash.hex()
    assert step.block == second.evidence.block_number
    receipt = world.w3.eth.get_transaction_receipt(step.tx_hash)  # type: ignore[arg-type]
    assert bytes(receipt["blockHash"]) == second.evidence.block_hash
    assert second.paid_at == world.w3.eth.get_block(second.evidence.block_number)["timestamp"]
    assert actors.bank.reader.second_vouchers() == [second]

    assert balance(world, world.b.treasury.address) == draft.total
    assert balance(world, world.a.treasury.address) == A_FUNDS - draft.total
    assert balance(world, world.deployment.escrow.address) == 0
    assert actors.bank.reader.payment(number, 1).status is VoucherStatus.RELEASED


def test_countersign_finds_the_document_in_its_store(actors: Actors) -> None:
    draft = sample_contract()
    proposed = actors.b_business.propose(draft, actors.world.a.org_id)
    with pytest.raises(DocumentNotFound):
        actors.a_business.countersign(draft.number)  # nothing received yet
    actors.a_docs.put(actors.b_docs.get(proposed.doc_hash))  # B sends the document off chain
    countersigned = actors.a_business.countersign(draft.number)
    assert countersigned.status is ContractStatus.SIGNED
    assert countersigned.doc_hash == proposed.doc_hash


def test_countersign_without_document_or_store_is_refused(actors: Actors) -> None:
    draft = sample_contract()
    actors.b_business.propose(draft, actors.world.a.org_id)
    storeless = BusinessService(actors.world.deployment, actors.world.a.account(Department.BUSINESS))
    with pytest.raises(DocumentNotFound):
        storeless.countersign(draft.number)
    document = econtract(actors.world, draft).document()
    assert storeless.countersign(draft.number, document).status is ContractStatus.SIGNED


@pytest.mark.parametrize("sender", ["assignee", "payee"])
def test_assignment_to_a_third_member(actors: Actors, sender: str) -> None:
    world, draft = actors.world, sample_contract()
    frozen = issued(actors, draft)
    number, seq = draft.number, frozen.seq

    sealed = actors.b_finance.assign_key(number, seq, world.c.org_id)
    with pytest.raises(crypto.DecryptionError):
        actors.b_finance.open_payment_key(number, seq, sealed)  # sealed to C, not to B
    presented = actors.c_finance.present_key(number, seq, sealed)
    assert (presented.status, presented.presenter_org) == (VoucherStatus.PRESENTED, world.c.org_id)
    assert presented.beneficiary_org is None

    account = actors.c_finance.assignee_account(number, seq, C_BANK_ACCOUNT)
    assert C_BANK_ACCOUNT.encode() not in account.ciphertext
    signature = actors.b_finance.sign_assignment(number, seq, world.c.org_id, account.account_hash)
    confirming = actors.c_finance if sender == "assignee" else actors.b_finance
    confirmed = confirming.confirm_assignment(
        number, seq, world.c.org_id, account, signer=actors.b_finance.address, signature=signature
    )
    assert (confirmed.status, confirmed.beneficiary_org) == (VoucherStatus.REQUESTED, world.c.org_id)
    assert confirmed.assignee_account_hash == account.account_hash
    assert confirmed.assignee_account_ciphertext == account.ciphertext
    assert confirmed.beneficiary == world.c.treasury.address

    opened = actors.bank.bank_account(number, seq)
    assert opened.account == C_BANK_ACCOUNT
    assert crypto.bank_account_hash(opened.account, opened.salt) == account.account_hash
    second = actors.bank.release(number, seq)
    assert (second.payer_org, second.payee_org, second.beneficiary_org) == (1, 2, world.c.org_id)
    assert second.beneficiary == world.c.treasury.address
    assert second.amount == draft.total
    assert balance(world, world.c.treasury.address) == draft.total
    assert balance(world, world.b.treasury.address) == 0
    assert balance(world, world.a.treasury.address) == A_FUNDS - draft.total


def test_expired_payment_is_reclaimed_by_the_payer(actors: Actors) -> None:
    world, draft = actors.world, sample_contract()
    frozen = issued(actors, draft, amount=300_000_00, lifetime=600)
    assert balance(world, world.a.treasury.address) == A_FUNDS - 300_000_00
    with pytest.raises(errors.PaymentKeyNotExpired):
        actors.a_finance.reclaim(draft.number, frozen.seq)
    advance(world, 600)
    reclaimed = actors.a_finance.reclaim(draft.number, frozen.seq)
    assert (reclaimed.status, reclaimed.amount) == (VoucherStatus.RECLAIMED, 300_000_00)
    assert reclaimed.beneficiary_org is None
    assert balance(world, world.a.treasury.address) == A_FUNDS
    assert balance(world, world.deployment.escrow.address) == 0
    assert actors.a_finance.reader.agreement(draft.number).committed == 0
    with pytest.raises(errors.UnexpectedVoucherStatus):
        actors.a_finance.reclaim(draft.number, frozen.seq)


# ---------------------------------------------------------------------------------------------------- refusals


def test_confirm_by_the_payee_is_refused(actors: Actors) -> None:
    draft = sample_contract()
    signed(actors, draft)
    actors.b_business.submit_stage(draft.number, 0, b"design")
    with pytest.raises(errors.WrongParty) as refusal:
        actors.b_business.confirm_stage(draft.number, 0)
    assert refusal.value.args_by_name["expectedOrgId"] == actors.world.a.org_id
    assert actors.a_business.reader.agreement(draft.number).stages[0].status is StageStatus.PENDING


def test_redeem_after_expiry_is_refused(actors: Actors) -> None:
    draft = sample_contract()
    frozen = issued(actors, draft, lifetime=600)
    advance(actors.world, 601)
    with pytest.raises(errors.PaymentKeyExpired) as refusal:
        actors.b_finance.redeem(draft.number, frozen.seq)
    assert refusal.value.args_by_name["expiry"] == frozen.expiry
    assert actors.b_finance.reader.payment(draft.number, frozen.seq).status is VoucherStatus.FROZEN


def test_release_twice_is_refused_before_sending(actors: Actors, monkeypatch: pytest.MonkeyPatch) -> None:
    """The institution's checks refuse a payment that is not REQUESTED (the chain's own refusal: test_escrow)."""
    draft = sample_contract()
    frozen = issued(actors, draft)
    with pytest.raises(ReleaseRefused, match="payment is FROZEN, not REQUESTED") as refusal:
        actors.bank.release(draft.number, frozen.seq)  # not requested yet
    assert refusal.value.temporary is False
    actors.b_finance.redeem(draft.number, frozen.seq)
    actors.bank.release(draft.number, frozen.seq)
    sent = nonce(actors.world, actors.bank.address)
    forbid_sending(monkeypatch, actors.bank)
    with pytest.raises(ReleaseRefused, match="payment is RELEASED, not REQUESTED"):
        actors.bank.release(draft.number, frozen.seq)
    assert nonce(actors.world, actors.bank.address) == sent
    assert balance(actors.world, actors.world.b.treasury.address) == draft.total


def test_payments_read_in_one_batch_equal_those_read_one_by_one(actors: Actors) -> None:
    drafts = [sample_contract(f"HT-PB-{index}") for index in range(3)]
    frozen = [issued(actors, draft, amount=100_00) for draft in drafts]
    actors.b_finance.redeem(drafts[1].number, frozen[1].seq)
    keys = [(draft.contract_no, payment.seq) for draft, payment in zip(drafts, frozen, strict=True)]
    reader = actors.bank.reader
    together = reader.payments(keys)
    assert together == [reader.payment(*key) for key in keys]
    assert [payment.status for payment in together] == [
        VoucherStatus.FROZEN, VoucherStatus.REQUESTED, VoucherStatus.FROZEN
    ]  # fmt: skip
    with pytest.raises(UnknownPaymentError):
        reader.payments([*keys, (drafts[0].contract_no, 9)])


def test_release_all_pipelines_and_raises_the_first_refusal_once_every_release_is_mined(actors: Actors) -> None:
    drafts = [sample_contract(f"HT-RA-{index}") for index in range(3)]
    frozen = [issued(actors, draft, amount=100_00) for draft in drafts]
    for draft, payment in zip(drafts, frozen, strict=True):
        actors.b_finance.redeem(draft.number, payment.seq)
    first, second, third = ((draft.contract_no, payment.seq) for draft, payment in zip(drafts, frozen, strict=True))
    vouchers = actors.bank.release_all([first, second])
    assert [voucher.voucher_id for voucher in vouchers] == [payment_voucher_id(*first), payment_voucher_id(*second)]
    assert [voucher.amount for voucher in vouchers] == [100_00, 100_00]
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        actors.bank.release_all([first, third])  # the first is paid already; the third still goes through
    assert refusal.value.args_by_name["status"] == VoucherStatus.RELEASED
    assert actors.bank.reader.payment(drafts[2].number, frozen[2].seq).status is VoucherStatus.RELEASED
    assert balance(actors.world, actors.world.b.treasury.address) == 3 * 100_00


def test_paused_escrow_refuses_release_not_redemption(actors: Actors) -> None:
    draft = sample_contract()
    frozen = issued(actors, draft)
    assert actors.bank.pause() is True
    assert actors.b_finance.redeem(draft.number, frozen.seq).status is VoucherStatus.REQUESTED
    with pytest.raises(errors.EnforcedPause):
        actors.bank.release(draft.number, frozen.seq)
    assert actors.b_finance.reader.payment(draft.number, frozen.seq).status is VoucherStatus.REQUESTED
    with pytest.raises(errors.WrongDepartment):
        InstitutionService(
            actors.world.deployment,
            actors.world.b.account(Department.FINANCE),
            encryption_key=actors.world.bank.encryption_key,
            org_id=actors.world.bank.org_id,
        ).unpause()
    assert actors.bank.unpause() is False
    assert actors.bank.release(draft.number, frozen.seq).amount == draft.total


@pytest.mark.parametrize("index", [3, 7, -1])
def test_stage_out_of_range_is_refused_before_sending(
    actors: Actors, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, draft = actors.world, sample_contract()
    signed(actors, draft)
    sent_b, sent_a = nonce(world, actors.b_business.address), nonce(world, actors.a_business.address)
    forbid_sending(monkeypatch, actors.a_business, actors.b_business)
    with pytest.raises(errors.StageOutOfRange) as refusal:
        actors.b_business.submit_stage(draft.number, index, b"result")
    assert refusal.value.args_by_name == {"contractNo": draft.contract_no, "stageIndex": index}
    with pytest.raises(errors.StageOutOfRange):
        actors.a_business.confirm_stage(draft.number, index)
    with pytest.raises(errors.StageOutOfRange):
        actors.a_business.reject_stage(draft.number, index, b"no")
    assert (nonce(world, actors.b_business.address), nonce(world, actors.a_business.address)) == (sent_b, sent_a)


def test_payment_key_opening_errors(actors: Actors) -> None:
    world, draft = actors.world, sample_contract()
    frozen = issued(actors, draft)
    number, seq = draft.number, frozen.seq
    key = actors.b_finance.open_payment_key(number, seq)

    other_voucher = key.model_copy(update={"binding": actors.b_finance.binding(draft.contract_no, seq + 1)})
    with pytest.raises(crypto.PayloadBindingError):
        actors.b_finance.open_payment_key(number, seq, crypto.seal(world.b.encryption_key.public_key, other_voucher))
    with pytest.raises(crypto.DecryptionError):
        actors.b_finance.open_payment_key(number, seq, b"\x04" + b"\x00" * 200)
    with pytest.raises(errors.WrongParty):
        actors.c_finance.open_payment_key(number, seq)  # the key on chain is sealed to B: refused before opening
    assert frozen.key_ciphertext is not None
    with pytest.raises(crypto.DecryptionError):
        actors.c_finance.open_payment_key(number, seq, frozen.key_ciphertext)

    wrong_secret = key.model_copy(update={"secret": crypto.new_secret()})
    with pytest.raises(PaymentKeyMismatch):
        actors.b_finance.open_payment_key(number, seq, crypto.seal(world.b.encryption_key.public_key, wrong_secret))
    wrong_amount = key.model_copy(update={"amount": key.amount - 1})
    with pytest.raises(PaymentKeyMismatch):
        actors.b_finance.open_payment_key(number, seq, crypto.seal(world.b.encryption_key.public_key, wrong_amount))
    # the genuine key, passed on as ciphertext, opens
    assert actors.b_finance.open_payment_key(number, seq, crypto.seal(world.b.encryption_key.public_key, key)) == key


def test_key_commitment_matches_the_escrow(actors: Actors) -> None:
    world, draft = actors.world, sample_contract()
    escrow = world.deployment.escrow
    chain_id = world.deployment.manifest.chain_id
    for seq in (1, 2):
        voucher_id = payment_voucher_id(draft.contract_no, seq)
        secret = crypto.new_secret()
        assert crypto.key_commitment(chain_id, escrow.address, voucher_id, secret) == bytes(
            escrow.functions.keyCommitmentFor(voucher_id, secret).call()
        )
    frozen = issued(actors, draft)
    key = actors.b_finance.open_payment_key(draft.number, frozen.seq)
    on_chain = bytes(escrow.functions.keyCommitmentFor(frozen.voucher_id, key.secret).call())
    assert on_chain == frozen.key_commitment
    assert on_chain == bytes(escrow.functions.commitmentOf(frozen.voucher_id).call())


def test_records_serialise_to_json(actors: Actors) -> None:
    world, draft = actors.world, sample_contract()
    frozen = issued(actors, draft)

    payment = frozen.model_dump(mode="json")
    assert payment["status"] == "FROZEN"
    assert payment["voucher_id"] == "0x" + payment_voucher_id(draft.contract_no, 1).hex()
    assert payment["key_commitment"] == "0x" + (frozen.key_commitment or b"").hex()
    assert payment["account_for_institution"].startswith("0x")
    assert payment["assignee_account_hash"] is None
    assert PaymentRecord.model_validate({**payment, "status": VoucherStatus.FROZEN}) == frozen  # hex parses back

    agreement = actors.a_business.reader.agreement(draft.number).model_dump(mode="json")
    assert agreement["status"] == "SETTLED"
    assert agreement["doc_hash"] == "0x" + econtract(world, draft).doc_hash.hex()
    assert [stage["status"] for stage in agreement["stages"]] == ["CONFIRMED"] * 3
    assert agreement["signature_b"]["signature"].startswith("0x")
    assert agreement["signature_b"]["signer"] == world.b.account(Department.BUSINESS).address

    org = actors.bank.reader.org(world.bank.org_id).model_dump(mode="json")
    assert (org["kind"], org["encryption_key"]) == (
        "PAYMENT_INSTITUTION",
        "0x" + world.bank.encryption_key.public_key.hex(),
    )
    member = actors.bank.reader.member(world.bank.account(Department.OPERATOR).address).model_dump(mode="json")
    assert member["department"] == "OPERATOR"

    actors.b_finance.redeem(draft.number, 1)
    second = actors.bank.release(draft.number, 1).model_dump(mode="json")
    assert second["evidence"]["tx_hash"] == actors.steps[-1].tx_hash
    assert second["evidence"]["block_hash"].startswith("0x")
    assert len(second["evidence"]["block_hash"]) == 66
    assert second["contract_no"] == draft.number
    text = json.dumps([payment, agreement, org, member, second])
    assert "b'" not in text
    assert "VoucherStatus" not in text
    assert contract_number(second["contract_no"]) == draft.contract_no
