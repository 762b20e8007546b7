"""Steps that bring a contract to a given point of the flow, for tests of what comes next."""

from __future__ import annotations

from eth_utils import keccak

from collab_py.devnet.flow import ContractDraft, FlowDriver
from collab_py.domain import crypto
from collab_py.domain.types import payment_voucher_id
from support.world import World

BANK_ACCOUNT = "CN12 ICBC 6222 0200 0000 1234"


def signed(driver: FlowDriver, world: World, draft: ContractDraft) -> None:
    """Proposed by B and countersigned by A."""
    driver.propose(world.b, world.a, draft)
    driver.sign(world.a, draft)


def vouched(driver: FlowDriver, world: World, draft: ContractDraft) -> None:
    """Signed, and every stage confirmed by A."""
    signed(driver, world, draft)
    for index in range(len(draft.stages)):
        driver.confirm_stage(world.a, draft, index, driver.submit_stage(world.b, draft, index, f"result {index}"))


def settled(driver: FlowDriver, world: World, draft: ContractDraft) -> None:
    """Vouched, and business settlement approved."""
    vouched(driver, world, draft)
    driver.apply_settlement(world.b, draft)
    driver.approve_settlement(world.a, draft)


def issued(
    driver: FlowDriver, world: World, draft: ContractDraft, amount: int | None = None, lifetime: int = 3600
) -> tuple[int, bytes]:
    """Settled, applied for and issued: returns the payment's seq and the sealed payment key."""
    settled(driver, world, draft)
    amount = draft.total if amount is None else amount
    seq = driver.apply_payment(world.b, world.a, draft, amount, BANK_ACCOUNT)
    key = driver.issue_voucher(
        world.a, world.b, world.bank, draft, seq, amount=amount, bank_account=BANK_ACCOUNT, lifetime=lifetime
    )
    return seq, key


def secret_of(world: World, draft: ContractDraft, seq: int, sealed_key: bytes) -> bytes:
    """The payee opens its payment key and returns the secret."""
    binding = crypto.binding(
        world.deployment.manifest.chain_id,
        world.deployment.escrow.address,
        payment_voucher_id(draft.contract_no, seq),
    )
    key = crypto.open_sealed(world.b.encryption_key, sealed_key, crypto.PaymentKey, binding)
    return key.secret


def h(text: str) -> bytes:
    """keccak256 of a text, for hashes tests need."""
    return keccak(text=text)
