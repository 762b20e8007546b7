"""Steps that bring a contract to a given point of the flow, for tests of what comes next: each through the role
services of :class:`~collab_py.devnet.flow.Flow`."""

from __future__ import annotations

from eth_utils import keccak

from collab_py.devnet.flow import Flow
from collab_py.devnet.sandbox import B_BANK_ACCOUNT as BANK_ACCOUNT
from collab_py.devnet.sandbox import C_BANK_ACCOUNT
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.econtract import EContract
from collab_py.domain.types import payment_voucher_id
from support.world import World


def econtract(world: World, draft: ContractDraft) -> EContract:
    """``draft`` as the e-contract B registers with A, paid in the deployment's asset."""
    return draft.econtract(party_a=world.a.org_id, party_b=world.b.org_id, asset=world.deployment.asset.address)


def proposed(flow: Flow, world: World, draft: ContractDraft) -> EContract:
    """Proposed and signed by B (its business service keeps the document, if it has a store)."""
    document = econtract(world, draft)
    flow.business(world.b).propose(document)
    return document


def signed(flow: Flow, world: World, draft: ContractDraft) -> EContract:
    """Proposed by B and countersigned by A."""
    return flow.sign(world.a, world.b, draft)


def vouched(flow: Flow, world: World, draft: ContractDraft) -> EContract:
    """Signed, and every stage submitted by B and confirmed by A."""
    flow.vouch(world.a, world.b, draft)
    return econtract(world, draft)


def settled(flow: Flow, world: World, draft: ContractDraft) -> EContract:
    """Vouched, and business settlement approved."""
    flow.settle(world.a, world.b, draft)
    return econtract(world, draft)


def issued(
    flow: Flow, world: World, draft: ContractDraft, amount: int | None = None, lifetime: int = 3600
) -> tuple[int, bytes]:
    """Settled, applied for (into :data:`BANK_ACCOUNT`) and issued: returns the payment's seq and its payment key,
    sealed to Party B."""
    return flow.issue(world.a, world.b, world.bank, draft, amount, bank_account=BANK_ACCOUNT, lifetime=lifetime)


def applied(flow: Flow, world: World, draft: ContractDraft, amount: int, account: str = BANK_ACCOUNT) -> int:
    """B's FINANCE applies for ``amount`` of a settled contract into ``account``: returns the seq."""
    return flow.finance(world.b).apply_payment(draft.number, amount, account).seq


def requested(flow: Flow, world: World, draft: ContractDraft, amount: int | None = None, lifetime: int = 3600) -> int:
    """Issued and redeemed by B: the payment waits for the institution. Returns the seq."""
    seq, _ = issued(flow, world, draft, amount, lifetime)
    flow.finance(world.b).redeem(draft.number, seq)
    return seq


def assigned(flow: Flow, world: World, draft: ContractDraft, seq: int) -> None:
    """B passes the payment key of issued payment ``seq`` to Party C, which presents it and sends B's signed
    confirmation naming C's account (S6.3): the payment waits for the institution to pay C."""
    b, c = flow.finance(world.b), flow.finance(world.c)
    c.present_key(draft.number, seq, b.assign_key(draft.number, seq, world.c.org_id))
    account = c.assignee_account(draft.number, seq, C_BANK_ACCOUNT)
    signature = b.sign_assignment(draft.number, seq, world.c.org_id, account.account_hash)
    c.confirm_assignment(draft.number, seq, world.c.org_id, account, signer=b.address, signature=signature)


def released(flow: Flow, world: World, draft: ContractDraft, amount: int | None = None) -> int:
    """Issued, redeemed by B and released by the bank (the contract total unless ``amount``): returns the seq."""
    seq = requested(flow, world, draft, amount)
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
