"""S6.2: the payment institution's bot releases the requests that pass its checks and records the others."""

from __future__ import annotations

from sqlalchemy import select

from collab_py.chain.enums import VoucherStatus
from collab_py.devnet.flow import Flow
from collab_py.devnet.sandbox import sample_contract
from collab_py.domain import crypto
from collab_py.domain.crypto import EncryptionKey
from collab_py.domain.types import payment_voucher_id
from collab_py.ledger.database import open_database
from collab_py.ledger.schema import institution_actions
from collab_py.listener.handlers.institution import REFUSED, RELEASED
from support import BANK_ACCOUNT, World, assigned, balance, bot_actions, catch_up, institution_bot, issued, settled


def test_redeemed_key_is_released_by_the_bot(world: World, flow: Flow, ledger_url: str) -> None:
    draft = sample_contract("I-1")
    seq, _ = issued(flow, world, draft)
    flow.finance(world.b).redeem(draft.number, seq)
    database = open_database(ledger_url)
    listener = institution_bot(world, flow, database)
    catch_up(listener)
    assert bot_actions(database) == [("I-1", seq, RELEASED, "")]
    assert balance(world, world.b.treasury.address) == draft.total
    catch_up(listener)  # the release's own block brings nothing new to decide
    assert len(bot_actions(database)) == 1


def test_assignment_is_released_to_the_assignee(world: World, flow: Flow, ledger_url: str) -> None:
    draft = sample_contract("I-2")
    seq, _ = issued(flow, world, draft, amount=700_00)
    assigned(flow, world, draft, seq)
    database = open_database(ledger_url)
    catch_up(institution_bot(world, flow, database))
    assert bot_actions(database) == [("I-2", seq, RELEASED, "")]
    assert balance(world, world.c.treasury.address) == 700_00


def test_bank_account_not_matching_its_hash_is_refused(world: World, flow: Flow, ledger_url: str) -> None:
    """A payee whose application encrypts another account to the institution than the one its salted hash names (the
    payer sees the hashed one, so the voucher and the payment key carry it)."""
    draft = sample_contract("I-3")
    settled(flow, world, draft)
    b = flow.finance(world.b)
    seq = 1
    named = b.receiving_account(draft.contract_no, seq, "CN99 SOMEONE ELSE")
    sent = named.model_copy(update={"account": BANK_ACCOUNT})
    b.tx.transact(
        world.deployment.registry.functions.applyForPayment(
            draft.contract_no,
            100_00,
            crypto.bank_account_hash(named.account, named.salt),
            crypto.seal(world.a.encryption_key.public_key, named),
            crypto.seal(world.bank.encryption_key.public_key, sent),
        )
    )
    flow.finance(world.a).issue_voucher("I-3", seq)
    b.redeem("I-3", seq)
    database = open_database(ledger_url)
    catch_up(institution_bot(world, flow, database))
    ((number, recorded_seq, action, reason),) = bot_actions(database)
    assert (number, recorded_seq, action) == ("I-3", seq, REFUSED)
    assert reason.startswith("bank account: BankAccountMismatch")
    voucher = world.deployment.escrow.functions.voucherOf(payment_voucher_id(draft.contract_no, seq)).call()
    assert voucher[1] == VoucherStatus.REQUESTED  # the money stays frozen
    assert BANK_ACCOUNT not in reason


def test_bank_account_for_another_institution_key_is_refused(world: World, flow: Flow, ledger_url: str) -> None:
    draft = sample_contract("I-4")
    settled(flow, world, draft)
    b = flow.finance(world.b)
    seq = 1
    b.execute(
        b.prepare_apply_payment(
            draft.contract_no,
            seq,
            100_00,
            b.receiving_account(draft.contract_no, seq, BANK_ACCOUNT),
            payer_key=world.a.encryption_key.public_key,
            institution_key=EncryptionKey().public_key,
        )
    )
    flow.finance(world.a).issue_voucher("I-4", seq)
    b.redeem("I-4", seq)
    database = open_database(ledger_url)
    catch_up(institution_bot(world, flow, database))
    ((_, _, action, reason),) = bot_actions(database)
    assert action == REFUSED
    assert reason.startswith("bank account: DecryptionError")


def test_request_already_released_by_hand_is_recorded_not_paid_twice(world: World, flow: Flow, ledger_url: str) -> None:
    draft = sample_contract("I-5")
    seq, _ = issued(flow, world, draft)
    flow.finance(world.b).redeem(draft.number, seq)
    # an operator released it before the bot looked (or the bot crashed)
    flow.institution(world.bank).release(draft.number, seq)
    database = open_database(ledger_url)
    catch_up(institution_bot(world, flow, database))
    assert bot_actions(database) == [("I-5", seq, RELEASED, "already released")]
    assert balance(world, world.b.treasury.address) == draft.total


def test_a_batch_of_requests_is_released_together_and_each_decision_recorded(
    world: World, flow: Flow, ledger_url: str
) -> None:
    drafts = [sample_contract(f"I-6-{index}") for index in range(3)]
    requested = []
    for draft in drafts:
        seq, _ = issued(flow, world, draft)
        flow.finance(world.b).redeem(draft.number, seq)
        requested.append(seq)
    flow.institution(world.bank).release(drafts[1].number, requested[1])  # released by hand before the bot's batch
    database = open_database(ledger_url)
    catch_up(institution_bot(world, flow, database))
    assert bot_actions(database) == [
        ("I-6-0", requested[0], RELEASED, ""),
        ("I-6-1", requested[1], RELEASED, "already released"),
        ("I-6-2", requested[2], RELEASED, ""),
    ]
    with database.connect() as connection:
        hashes = connection.execute(select(institution_actions.c.tx_hash).order_by(institution_actions.c.id)).scalars()
        released_in = [None if tx_hash is None else world.w3.eth.get_transaction_receipt(tx_hash) for tx_hash in hashes]
    assert released_in[1] is None
    assert [receipt["status"] for receipt in (released_in[0], released_in[2])] == [1, 1]  # type: ignore[index]
    assert balance(world, world.b.treasury.address) == 3 * drafts[0].total
