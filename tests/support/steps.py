"""Steps that bring a contract to a given point of the flow, for tests of what comes next: each through the role
services of :class:`~collab_py.devnet.flow.Flow`."""

from __future__ import annotations

from eth_utils import keccak

from collab_py.devnet.flow import Flow
from collab_py.devnet.sandbox import B_BANK_ACCOUNT as BANK_ACCOUNT
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.types import payment_voucher_id
from support.world import World


def signed(flow: Flow, world: World, draft: ContractDraft) -> None:
    """Proposed by B and countersigned by A."""
    flow.sign(world.a, world.b, draft)


def vouched(flow: Flow, world: World, draft: ContractDraft) -> None:
    """Signed, and every stage submitted by B and confirmed by A."""
    flow.vouch(world.a, world.b, draft)


def settled(flow: Flow, world: World, draft: ContractDraft) -> None:
    """Vouched, and business settlement approved."""
    flow.settle(world.a, world.b, draft)


def issued(
    flow: Flow, world: World, draft: ContractDraft, amount: int | None = None, lifetime: int = 3600
) -> tuple[int, bytes]:
    """Settled, applied for (into :data:`BANK_ACCOUNT`) and issued: returns the payment's seq and its payment key,
    sealed to Party B."""
    return flow.issue(world.a, world.b, world.bank, draft, amount, bank_account=BANK_ACCOUNT, lifetime=lifetime)


def released(flow: Flow, world: World, draft: ContractDraft, amount: int | None = None) -> int:
    """Issued, redeemed by B and released by the bank (the contract total unless ``amount``): returns the seq."""
    seq, _ = issued(flow, world, draft, amount)
    flow.finance(world.b).redeem(draft.number, seq)
    flow.institution(world.bank).release(draft.number, seq)
    return seq


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
