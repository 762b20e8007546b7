"""Adversarial suite: random sequences of every contract action, by right and wrong actors, checked against a model.

A hypothesis state machine drives the whole flow (S1–S8.3) of contracts v2 on one anvil node: proposals (in listed
and unlisted assets), countersignatures and cancellations, stage results, business settlement and its rejection,
payment applications (refused by the payer, withdrawn by the payee) and vouchers, redemption, assignment to a third
member, pinning a moved treasury, release, reclaim, settlement without the institution after the release deadline
(with the other party's consent, or alone when the other's org is suspended), e-invoices, pause/unpause, suspension
of orgs and moves of their treasuries by governance, and jumps of the chain clock past key expiries and release
deadlines. Each action is sent by the department that owns it or, at random, by a wrong one (another department,
another org, Party C, the institution's operator, governance, an account bound to no org), with right or wrong
signatures, documents, terms, accounts, secrets, amounts and indexes.

Each example starts with 1–3 contract drafts of 1–2 stages taken to random points of the flow; then rules run each
action with a random mix of right and wrong actor and terms, and ``advance`` rules take the next step of a contract's
flow (mostly right, sometimes with wrong terms or by a wrong actor, sometimes a detour: a refused application, a
cancelled proposal, a settlement without the institution) so that sequences reach deep states.

A Python model predicts every outcome. An action the model expects to succeed must succeed and updates the model; a
refused action must raise the named :mod:`collab_py.chain.errors` exception of one of the conditions the model finds
violated (never ``UnknownRevert``, ``Panic``, a plain reason string or a Python error) and must change nothing.
After each step the invariants compare the chain with the model:

1. the escrow's balance is the sum of its FROZEN, PRESENTED and REQUESTED payments;
2. every payment issued was paid, reclaimed or is still open, exactly once: paid + reclaimed + open = issued;
3. a contract's unpaid amount is its total less every application not refused, withdrawn or reclaimed;
4. money reaches only the treasury pinned for the beneficiary, or goes back to the payer; no token is elsewhere;
5. contract, stage and payment statuses only move along the allowed transitions;
6. every open payment has an exit that needs no operator while one of its parties' orgs is active: the exit
   available now is tried with ``eth_call`` from that party's account (and must not revert);
7. the rest of the state (orgs, treasuries, counters, stage digests, commitments, deadlines, invoices) is the model's.

Profiles: ``COLLAB_PROFILE=long`` runs at least 10,000 steps; the default (CI) at least 1,000. Each example starts from
an ``evm_snapshot`` of one deployment and is reverted afterwards; every transactor is made anew for each example, so
no nonce or fee survives a revert.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pytest
import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import collapse_if_tuple
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import RPCEndpoint, TxReceipt

from collab_py.chain import eip712, errors
from collab_py.chain.deploy import RELEASE_WINDOW, Deployment
from collab_py.chain.enums import ContractStatus, Department, StageStatus, VoucherStatus
from collab_py.chain.errors import default_decoder
from collab_py.chain.logs import EventCodec
from collab_py.chain.transactor import FeeOracle, Transactor
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode, rpc
from collab_py.devnet.parties import Party, fund_on_dev_node
from collab_py.devnet.sandbox import SANDBOX_MIN_KEY_LIFETIME, sample_contract
from collab_py.domain import crypto
from collab_py.domain.crypto import BankAccount
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.econtract import EContract
from collab_py.domain.types import payment_voucher_id
from collab_py.services import BusinessService, FinanceService, InstitutionService
from collab_py.services.reader import ChainReader
from support import BANK_ACCOUNT, C_BANK_ACCOUNT, World, issued, secret_of, stage_digest

# ---------------------------------------------------------------------------------------------------------- profiles
PROFILE = os.environ.get("COLLAB_PROFILE", "ci")
_COMMON: dict[str, Any] = {
    "deadline": None,
    "derandomize": False,
    "print_blob": True,
    "suppress_health_check": list(HealthCheck),
}
#: CI: about 3,500 steps in a few minutes on two cores. Long: about 20,000 steps.
settings.register_profile("collab-invariants-ci", max_examples=100, stateful_step_count=40, **_COMMON)
settings.register_profile("collab-invariants-long", max_examples=500, stateful_step_count=50, **_COMMON)
from hypothesis import Phase  # TEMP

settings.register_profile(
    "collab-invariants-dev",
    max_examples=int(os.environ.get("DEV_EXAMPLES", "8")),
    stateful_step_count=40,
    phases=[Phase.generate],
    **_COMMON,
)  # TEMP
#: Steps (rules run, the warm-up included) each profile must reach.
MIN_STEPS = 10_000 if PROFILE == "long" else 1_000
#: pytest-timeout's default (300 s) leaves no room for shrinking a failure (up to 5 minutes) or the long profile.
TIMEOUT = 4 * 3600 if PROFILE == "long" else 1200
#: Random unless given: printed with the report, ``COLLAB_SEED=<seed>`` runs the same examples again.
SEED = int(os.environ.get("COLLAB_SEED") or random.randrange(2**32))

# ---------------------------------------------------------------------------------------------------------- the world
A, B, C, BANK = 1, 2, 3, 900
UNKNOWN_ORG = 77
ENTERPRISES = (A, B, C)
ORGS = (A, B, C, BANK)
LETTER = {A: "A", B: "B", C: "C"}
BUSINESS, FINANCE, OPERATOR = Department.BUSINESS, Department.FINANCE, Department.OPERATOR

#: Every actor: both departments of A, B and C, the institution's operator, governance and an unbound account.
ACTORS = (
    "A.BUSINESS",
    "A.FINANCE",
    "B.BUSINESS",
    "B.FINANCE",
    "C.BUSINESS",
    "C.FINANCE",
    "OPERATOR",
    "GOVERNANCE",
    "OUTSIDER",
)
MEMBERS: dict[str, tuple[int, Department]] = {
    **{f"{LETTER[org]}.{dept.name}": (org, dept) for org in ENTERPRISES for dept in (BUSINESS, FINANCE)},
    "OPERATOR": (BANK, OPERATOR),
}

#: B's treasury can pay small contracts only (larger payments are refused by the token); C's never approves the escrow.
B_FUNDS = 1_500_00
C_FUNDS = 1_000_000_00
#: What each enterprise's second treasury (where governance may move it) holds; A's and B's approve the escrow.
MOVED_FUNDS = 2_000_00
UNLIMITED = 2**256 - 1
ZERO_ADDRESS = "0x" + "00" * 20

DAY = 24 * 3600
MAX_KEY_LIFETIME = 366 * DAY
#: Seconds a transaction may land after the latest block: closer deadlines are "can't tell" in the model.
MARGIN = 60
LIFETIMES = (0, 1, 300, 7 * DAY, MAX_KEY_LIFETIME, MAX_KEY_LIFETIME + 3600)
JUMPS = (30, 600, RELEASE_WINDOW + 120, 8 * DAY, 367 * DAY)
#: Gas limit of transactions sent without estimation (every third one): their refusals are mined and decoded.
GAS = 1_500_000

OPEN = frozenset({VoucherStatus.APPLIED, VoucherStatus.FROZEN, VoucherStatus.PRESENTED, VoucherStatus.REQUESTED})
LIVE = frozenset({VoucherStatus.FROZEN, VoucherStatus.PRESENTED, VoucherStatus.REQUESTED})
KEYED = frozenset({VoucherStatus.FROZEN, VoucherStatus.PRESENTED})
ISSUED = LIVE | {VoucherStatus.RELEASED, VoucherStatus.RECLAIMED}
#: Applications whose amount is committed: every one not refused, withdrawn or reclaimed.
COMMITTED = OPEN | {VoucherStatus.RELEASED}
_CS, _SS, _VS = ContractStatus, StageStatus, VoucherStatus
#: Allowed moves of one transaction; anything else (but staying) is a status going backwards or jumping.
CONTRACT_NEXT = {
    _CS.NONE: {_CS.PROPOSED},
    _CS.PROPOSED: {_CS.SIGNED, _CS.CANCELLED},
    _CS.SIGNED: {_CS.SETTLEMENT_REQUESTED},
    _CS.SETTLEMENT_REQUESTED: {_CS.SETTLED, _CS.SIGNED},  # approved, or rejected back to SIGNED
    _CS.SETTLED: set(),
    _CS.CANCELLED: set(),
}
STAGE_NEXT = {
    _SS.NONE: {_SS.OPEN},
    _SS.OPEN: {_SS.PENDING},
    _SS.PENDING: {_SS.CONFIRMED, _SS.REJECTED},
    _SS.REJECTED: {_SS.PENDING},  # a rejected result may be submitted again
    _SS.CONFIRMED: set(),
}
VOUCHER_NEXT = {
    _VS.NONE: {_VS.APPLIED},
    _VS.APPLIED: {_VS.FROZEN, _VS.REFUSED, _VS.WITHDRAWN},
    _VS.FROZEN: {_VS.PRESENTED, _VS.REQUESTED, _VS.RECLAIMED},
    _VS.PRESENTED: {_VS.REQUESTED, _VS.RECLAIMED},
    _VS.REQUESTED: {_VS.RELEASED, _VS.RECLAIMED},
    _VS.RELEASED: set(),
    _VS.RECLAIMED: set(),
    _VS.REFUSED: set(),
    _VS.WITHDRAWN: set(),
}


def reachable(moves: dict[Any, set[Any]]) -> dict[Any, set[Any]]:
    """Transitive closure of ``moves`` (for the warm-up step, which sends many transactions)."""
    closure = {state: set(targets) for state, targets in moves.items()}
    changed = True
    while changed:
        changed = False
        for targets in closure.values():
            extra = set().union(*(closure[target] for target in targets)) - targets
            if extra:
                targets |= extra
                changed = True
    return closure


REACHABLE = {"contract": reachable(CONTRACT_NEXT), "stage": reachable(STAGE_NEXT), "voucher": reachable(VOUCHER_NEXT)}
NEXT = {"contract": CONTRACT_NEXT, "stage": STAGE_NEXT, "voucher": VOUCHER_NEXT}

#: Refusals that are no named custom error: never acceptable.
UNNAMED = (errors.UnknownRevert, errors.Panic, errors.RevertedWithReason)

#: Per action: successes, refusals (and how many of them were mined), and totals of steps and transactions.
STATS: Counter[str] = Counter()
#: Per action: the named errors it was refused with.
REFUSALS: defaultdict[str, Counter[str]] = defaultdict(Counter)


@dataclass
class Env:
    """The session's deployment with B and C funded, a second treasury per enterprise, and every actor's account."""

    world: World
    node: AnvilNode
    w3: Web3
    session: requests.Session
    deployment: Deployment
    accounts: dict[str, LocalAccount]
    reader: ChainReader
    parties: dict[int, Party]
    moved: dict[int, LocalAccount]  # each enterprise's second treasury


@pytest.fixture(scope="module")
def env(node: AnvilNode, session_world: World) -> Iterator[Env]:
    """B's and C's treasuries funded (only B's approves the escrow), a second treasury per enterprise (A's and B's
    funded and approving), and an unbound account; undone afterwards.

    The machine uses its own client: the chain id is cached (web3 asks for it before every call otherwise) and the
    HTTP session skips reading proxy settings from the environment on every request.
    """
    snapshot = node.snapshot()
    world = session_world
    session = requests.Session()
    session.trust_env = False
    w3 = Web3(
        HTTPProvider(
            node.rpc_url,
            session=session,
            cache_allowed_requests=True,
            cacheable_requests={RPCEndpoint("eth_chainId")},
        )
    )
    deployment = Deployment.attach(w3, world.deployment.manifest)
    outsider = Account.create()
    moved = {org: Account.create() for org in ENTERPRISES}
    fund_on_dev_node(w3, [outsider, *moved.values()])
    operator = Transactor(w3, world.bank.account(OPERATOR))
    asset = deployment.asset.functions
    operator.transact(asset.mint(world.b.treasury.address, B_FUNDS))
    operator.transact(asset.mint(world.c.treasury.address, C_FUNDS))
    Transactor(w3, world.b.treasury).transact(asset.approve(deployment.escrow.address, UNLIMITED))
    for org in (A, B, C):
        operator.transact(asset.mint(moved[org].address, MOVED_FUNDS))
        if org != C:
            Transactor(w3, moved[org]).transact(asset.approve(deployment.escrow.address, UNLIMITED))
    parties = {party.org_id: party for party in world.parties}
    accounts = {name: parties[org].account(dept) for name, (org, dept) in MEMBERS.items()}
    accounts |= {"GOVERNANCE": world.admin.account, "OUTSIDER": outsider}
    yield Env(world, node, w3, session, deployment, accounts, ChainReader(deployment), parties, moved)
    node.revert(snapshot)
    world.admin.resync()


# ---------------------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class View:
    """A function called over raw JSON-RPC (``eth_call``): web3 spends milliseconds per call on ABI handling, the
    invariants read some fifty values after every step."""

    address: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @classmethod
    def of(cls, contract: Contract, name: str) -> View:
        (item,) = [item for item in contract.abi if item.get("type") == "function" and item["name"] == name]
        inputs = tuple(collapse_if_tuple(arg) for arg in item["inputs"])
        return cls(
            contract.address,
            keccak(text=f"{name}({','.join(inputs)})")[:4],
            inputs,
            tuple(collapse_if_tuple(arg) for arg in item["outputs"]),
        )

    def request(self, block: int, *args: Any, sender: str | None = None) -> tuple[str, list[Any]]:
        data = self.selector + abi_encode(list(self.inputs), list(args))
        call = {"to": self.address, "data": "0x" + data.hex()} | ({"from": sender} if sender else {})
        return "eth_call", [call, hex(block)]

    def decode(self, result: str) -> Any:
        values = abi_decode(list(self.outputs), bytes.fromhex(result.removeprefix("0x")))
        return values[0] if len(values) == 1 else values


def rpc_replies(session: requests.Session, url: str, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """The replies to ``calls`` sent as one JSON-RPC batch, in order."""
    body = [
        {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
        for index, (method, params) in enumerate(calls)
    ]
    return sorted(session.post(url, json=body, timeout=30).json(), key=lambda reply: reply["id"])


def rpc_batch(session: requests.Session, url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """The results of ``calls`` sent as one JSON-RPC batch; any error fails the test."""
    replies = rpc_replies(session, url, calls)
    failed = [reply for reply in replies if "error" in reply]
    assert not failed, f"reading the chain failed: {failed[:3]}"
    return [reply["result"] for reply in replies]


def raw_log(entry: dict[str, Any]) -> dict[str, Any]:
    """A raw ``eth_getLogs`` entry in the shape :class:`EventCodec` decodes."""
    return {
        "topics": [bytes.fromhex(topic[2:]) for topic in entry["topics"]],
        "data": bytes.fromhex(entry["data"][2:]),
        "blockNumber": int(entry["blockNumber"], 16),
        "blockHash": bytes.fromhex(entry["blockHash"][2:]),
        "transactionHash": bytes.fromhex(entry["transactionHash"][2:]),
        "logIndex": int(entry["logIndex"], 16),
    }


def revert_name(reply: dict[str, Any]) -> str:
    """The named error of a reverted ``eth_call``'s reply."""
    data = reply["error"].get("data") or "0x"
    data = data if isinstance(data, str) else data.get("data", "0x")
    return default_decoder().decode(data).error_name


#: What the invariants call over raw JSON-RPC: views, and the exits of open payments (sent as ``eth_call``).
TOKEN_CALLS = ("balanceOf", "totalSupply")
ESCROW_CALLS = ("paused", "voucherOf", "commitmentOf", "releaseDeadlineOf", "invoiceOf", "requestPayment", "reclaim",
                "settleWithoutInstitution")  # fmt: skip
#: The events the invariants read, of the registry and the escrow.
EVENTS = ("PaymentVoucherIssued", "SecondVoucher", "PaymentReclaimed", "SettledWithoutInstitution")
REGISTRY_CALLS = ("orgOf", "agreementOf", "stageOf", "refusePaymentApplication", "withdrawPaymentApplication")


# ---------------------------------------------------------------------------------------------------------- the model
@dataclass
class VoucherModel:
    """One payment: its application, then its voucher and frozen funds, as the escrow records them."""

    seq: int
    amount: int
    account: BankAccount  # the payee's, whose salted hash the application names
    status: VoucherStatus = VoucherStatus.APPLIED
    time: int = 0  # the key's expiry while FROZEN or PRESENTED; the request's time from REQUESTED on
    secret: bytes | None = None
    payee: int = 0  # recorded by the escrow with the voucher
    org: int = 0  # the presenter while PRESENTED, the beneficiary from REQUESTED on (never cleared)
    pinned: str | None = None  # the beneficiary's treasury pinned while REQUESTED
    pulled: int = 0  # amount taken from the payer's treasury when the voucher was issued
    paid_to: str | None = None  # where the funds went when the payment was released or reclaimed
    invoice: bytes | None = None
    repinned: bool = False  # its beneficiary pinned its treasury again
    settled: bool = False  # settled by payer and beneficiary without the institution

    @property
    def account_hash(self) -> bytes:
        return crypto.bank_account_hash(self.account.account, self.account.salt)


@dataclass
class StageModel:
    status: StageStatus = StageStatus.OPEN
    result: bytes | None = None


@dataclass
class ContractModel:
    document: EContract
    payer: int
    payee: int
    status: ContractStatus = ContractStatus.PROPOSED
    stages: list[StageModel] = field(default_factory=list)
    payments: dict[int, VoucherModel] = field(default_factory=dict)
    unpaid: int = 0
    rejected: bool = False  # its business settlement was rejected once

    @property
    def total(self) -> int:
        return self.document.total

    @property
    def vouched(self) -> int:
        return sum(stage.status is StageStatus.CONFIRMED for stage in self.stages)


@dataclass
class Model:
    balances: dict[str, int]
    allowances: dict[str, int]  # of each treasury, to the escrow
    supply: int
    treasuries: dict[int, str]  # each org's current treasury
    active: dict[int, bool] = field(default_factory=lambda: dict.fromkeys(ORGS, True))
    paused: bool = False
    contracts: dict[bytes, ContractModel] = field(default_factory=dict)
    #: every treasury each org has had: where its reclaimed funds may have gone
    former: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))


@dataclass
class Observation:
    """What the chain holds after a step."""

    balances: dict[str, int]
    supply: int
    agreements: dict[bytes, tuple[Any, ...]]
    stages: dict[tuple[bytes, int], StageStatus]
    vouchers: dict[tuple[bytes, int], tuple[int, VoucherStatus, int, int, int]]
    paused: bool
    orgs: dict[int, tuple[str, bool]]  # treasury, active
    events: dict[str, list[Any]]
    digests: dict[tuple[bytes, int], bytes]  # of each stage's terms and pending or confirmed result
    commitments: dict[tuple[bytes, int], bytes]  # what each payment's next step must match
    deadlines: dict[tuple[bytes, int], int]  # each requested payment's release deadline
    invoices: dict[tuple[bytes, int], bytes]  # hash of each payment's anchored e-invoice


def make_draft(index: int, amounts: list[int]) -> ContractDraft:
    number = f"INV-{index}"
    stages = tuple(StageDraft(f"deliverable {index}.{j}", amount) for j, amount in enumerate(amounts))
    text = f"Intercompany agreement {number}: " + "; ".join(f"{s.specification} for {s.amount}" for s in stages)
    return ContractDraft(number=number, text=text, stages=stages)


def other_department(name: str) -> str:
    """Another account of the same org (its other department), or Party C's finance for non-enterprise actors."""
    if name.endswith(".BUSINESS"):
        return name.replace(".BUSINESS", ".FINANCE")
    if name.endswith(".FINANCE"):
        return name.replace(".FINANCE", ".BUSINESS")
    return "C.FINANCE"


def right_actor(how: str) -> bool:
    return how in ("right", "wrong terms")


def right_terms(how: str) -> bool:
    return how in ("right", "wrong actor")


def named(org: int, dept: Department) -> str:
    return f"{LETTER[org]}.{dept.name}" if org in LETTER else "OPERATOR"


def address_word(address: str) -> bytes:
    """An address as the escrow stores it in a ``bytes32`` (the pinned treasury)."""
    return bytes(12) + bytes.fromhex(address[2:])


# ---------------------------------------------------------------------------------------------------------- strategies
Point = Callable[["InvariantMachine", "ContractModel | None"], bool]


def _any_payment(*statuses: VoucherStatus) -> Point:
    return lambda _, c: c is not None and any(v.status in statuses for v in c.payments.values())


def _contract_in(status: ContractStatus) -> Callable[[ContractModel | None], bool]:
    return lambda c: c is not None and c.status is status


def _any_requested(wanted: Callable[[InvariantMachine, VoucherModel], bool]) -> Point:
    return lambda m, c: (
        c is not None and any(v.status is VoucherStatus.REQUESTED and wanted(m, v) for v in c.payments.values())
    )


#: Points of the flow the warm-up takes a contract to, so that every step of it is tried from the start: whether a
#: contract (its model; None if not proposed) has reached one. The advance steps aim at the points of :data:`AIMS`,
#: detours they take only now and then otherwise.
WARM_UP: dict[str, Point] = {
    "draft": lambda m, c: True,
    "proposed": lambda m, c: c is not None,
    "cancelled": lambda m, c: _contract_in(ContractStatus.CANCELLED)(c),
    "signed": lambda m, c: _contract_in(ContractStatus.SIGNED)(c),
    "stage pending": lambda m, c: c is not None and any(s.status is StageStatus.PENDING for s in c.stages),
    "settlement requested": lambda m, c: _contract_in(ContractStatus.SETTLEMENT_REQUESTED)(c),
    "settlement rejected": lambda m, c: c is not None and c.rejected,
    "settled": lambda m, c: _contract_in(ContractStatus.SETTLED)(c),
    "applied": _any_payment(VoucherStatus.APPLIED),
    "application refused": _any_payment(VoucherStatus.REFUSED),
    "application withdrawn": _any_payment(VoucherStatus.WITHDRAWN),
    "frozen": _any_payment(VoucherStatus.FROZEN),
    "presented": _any_payment(VoucherStatus.PRESENTED, VoucherStatus.REQUESTED),
    "requested": _any_payment(VoucherStatus.REQUESTED),
    "moved in flight": _any_requested(lambda m, v: v.pinned != m.model.treasuries[v.org]),
    "repinned": lambda m, c: c is not None and any(v.repinned for v in c.payments.values()),
    "deadline passed": _any_requested(lambda m, v: m.passed(v.time + RELEASE_WINDOW) is True),
    "settled without the institution": lambda m, c: c is not None and any(v.settled for v in c.payments.values()),
    "released": _any_payment(VoucherStatus.RELEASED),
}
AIMS = frozenset({
    "cancelled", "settlement rejected", "application refused", "application withdrawn", "moved in flight", "repinned",
    "deadline passed", "settled without the institution",
})  # fmt: skip

PICK = st.integers(0, 5)
SEQ = st.integers(0, 4)
#: How a rule picks its actor and terms: all right; a random actor with the right terms; the right actor with random
#: terms; both random (and any contract or payment, not one in the state the action needs).
ANYTHING = "anything"
HOW = st.sampled_from(("right", "wrong actor", "wrong terms", ANYTHING))
ACTOR = st.sampled_from(ACTORS)
#: Signatures: the right signer's over the right data; another department's; an outsider's named as the right
#: signer's; the right signer's over other terms (another amount).
SIG = st.sampled_from(("own", "foreign", "forged", "other terms"))
INDEX = st.integers(0, 2)
AMOUNTS = st.lists(st.lists(st.integers(1, 3_000_00), min_size=1, max_size=2), min_size=1, max_size=3)
CHOICE = st.integers(0, 59)


class InvariantMachine(RuleBasedStateMachine):
    """Random actions by random actors against the deployment, checked against :class:`Model` after every step."""

    env: ClassVar[Env]

    def __init__(self) -> None:
        super().__init__()
        env = self.env
        self.w3 = env.w3
        self.deployment = env.deployment
        self.registry = self.deployment.registry
        self.escrow = self.deployment.escrow
        self.token = self.deployment.asset
        self.chain_id = self.deployment.manifest.chain_id
        self.snapshot = env.node.snapshot()
        fees = FeeOracle(self.w3)  # fresh: the fees read before the revert may be below the base fee now
        self.tx = {name: Transactor(self.w3, account, fees=fees) for name, account in env.accounts.items()}
        options = {"reader": env.reader}
        self.business = {
            org: BusinessService(self.deployment, self.tx[named(org, BUSINESS)], org_id=org, **options)
            for org in ENTERPRISES
        }
        self.finance = {
            org: FinanceService(
                self.deployment,
                self.tx[named(org, FINANCE)],
                org_id=org,
                encryption_key=env.parties[org].encryption_key,
                **options,
            )
            for org in ENTERPRISES
        }
        self.operator = InstitutionService(
            self.deployment,
            self.tx["OPERATOR"],
            org_id=BANK,
            encryption_key=env.parties[BANK].encryption_key,
            **options,
        )
        treasuries = {org: party.treasury.address for org, party in env.parties.items()}
        #: each enterprise's two treasuries (the registered one and the one governance may move it to)
        self.choices = {org: (treasuries[org], env.moved[org].address) for org in ENTERPRISES}
        self.tracked = [*treasuries.values(), *(account.address for account in env.moved.values())]
        self.tracked.append(self.escrow.address)
        token = self.token.functions
        self.model = Model(
            balances={address: token.balanceOf(address).call() for address in self.tracked},
            allowances={address: token.allowance(address, self.escrow.address).call() for address in self.tracked},
            supply=token.totalSupply().call(),
            treasuries=treasuries,
        )
        for org, address in treasuries.items():
            self.model.former[org].add(address)
        self.drafts: list[ContractDraft] = []
        self.start_block = self.w3.eth.block_number + 1
        self.steps = 0
        self.sent = 0
        self.warming_up = False
        self._observed: tuple[int, Observation] | None = None
        self._latest: int | None = None
        self.previous: dict[tuple[Any, ...], Any] = {}
        self.codec = EventCodec([self.registry.abi, self.escrow.abi], EVENTS)
        self.views = {
            name: View.of(contract, name)
            for contract, names in (
                (self.token, TOKEN_CALLS),
                (self.escrow, ESCROW_CALLS),
                (self.registry, REGISTRY_CALLS),
            )
            for name in names
        }

    def teardown(self) -> None:
        self.env.node.revert(self.snapshot)

    # ------------------------------------------------------------------ sending and judging
    def step(self) -> None:
        self.steps += 1
        STATS["steps"] += 1

    def attempt(
        self,
        action: str,
        actor: str,
        call: ContractFunction,
        violated: set[str],
        maybe: set[str] | None = None,
    ) -> TxReceipt | None:
        """Sends ``call`` as ``actor``: the receipt on success, None on a refusal the model allows."""
        maybe = maybe or set()
        self._latest = None
        self.sent += 1
        STATS["transactions"] += 1
        mined = self.sent % 3 == 0  # every third without estimation: a refusal is mined, then decoded
        refusal: errors.ContractError | None = None
        try:
            receipt = self.tx[actor].transact(call, gas=GAS if mined else None)
        except errors.ContractError as error:  # anything else (a Python error, TransactionFailed) fails the test
            refusal = error
        if refusal is not None:
            assert not isinstance(refusal, UNNAMED), f"{action} by {actor} was refused without a named error: {refusal}"
            assert violated or maybe, f"{action} by {actor} was refused with {refusal}; the model expected success"
            assert refusal.error_name in violated | maybe, (
                f"{action} by {actor} was refused with {refusal}; the model expected one of {sorted(violated | maybe)}"
            )
            STATS[f"{action}: refused"] += 1
            STATS[f"{action}: refused (mined)"] += mined
            REFUSALS[action][refusal.error_name] += 1
            return None
        assert not violated, f"{action} by {actor} succeeded; the model expected a refusal: {sorted(violated)}"
        STATS[f"{action}: ok"] += 1
        return receipt

    def sign(self, by: str, data: dict[str, Any]) -> bytes:
        return eip712.sign_typed(self.env.accounts[by], data)

    def address(self, name: str) -> str:
        return self.env.accounts[name].address

    def latest_time(self) -> int:
        """The latest block's time, read once until a transaction or a time jump mines another block."""
        if self._latest is None:
            self._latest = int(self.w3.eth.get_block("latest")["timestamp"])
        return self._latest

    def block_time(self, receipt: TxReceipt) -> int:
        return int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def passed(self, moment: int) -> bool | None:
        """Whether the next transaction runs at or after ``moment``; None when it is too close to tell."""
        latest = self.latest_time()
        if latest >= moment:
            return True
        if latest + MARGIN < moment:
            return False
        return None

    def time_errors(self, moment: int, error: str, when: bool, violated: set[str], maybe: set[str]) -> None:
        """``error`` when the next block is at or after ``moment`` (``when`` True) or before it (False)."""
        passed = self.passed(moment)
        if passed is None:
            maybe.add(error)
        elif passed is when:
            violated.add(error)

    # ------------------------------------------------------------------ conditions, as the contracts check them
    def department_errors(self, name: str, dept: Department) -> tuple[set[str], int | None]:
        """``requireDepartment`` (and ``accountOrg``): the refusals for ``name`` acting for ``dept``, and its org."""
        member = MEMBERS.get(name)
        if member is None:
            return {"NotAMember"}, None
        org, actual = member
        found = set()
        if actual != dept:
            found.add("WrongDepartment")
        if not self.model.active[org]:
            found.add("OrgSuspended")
        return found, org

    def member_errors(self, name: str, org: int, dept: Department) -> set[str]:
        """``requireMember``: ``name`` must act for ``dept`` of active org ``org``."""
        found, actual = self.department_errors(name, dept)
        if actual is not None and actual != org:
            found.add("WrongParty")
        return found

    @staticmethod
    def signer_errors(signer: str, by: str, org: int, dept: Department) -> set[str]:
        """The registry's ``_requireSignature``: ``signer`` bound to ``dept`` of ``org`` and the signature its own."""
        if MEMBERS.get(signer) != (org, dept):
            return {"UnauthorizedSigner"}
        return set() if by == signer else {"InvalidSignature"}

    def escrow_signer_errors(self, signer: str, by: str, org: int) -> set[str]:
        """The escrow's ``_checkSignature``: ``signer`` in the (active) FINANCE of ``org``, the signature its own."""
        if self.member_errors(signer, org, FINANCE):
            return {"UnauthorizedSigner"}
        return set() if by == signer else {"InvalidSignature"}

    @staticmethod
    def signature_by(expected: str, variant: str) -> tuple[str, str]:
        """(signer named in the call, account that really signs) for the signature ``expected`` should give."""
        if variant in ("own", "other terms"):
            return expected, expected
        if variant == "forged":
            return expected, "OUTSIDER"
        return other_department(expected), other_department(expected)

    def key_errors(self, voucher: VoucherModel, violated: set[str], maybe: set[str]) -> None:
        """``_requireRedeemable``: FROZEN or PRESENTED, and the key not expired."""
        if voucher.status not in KEYED:
            violated.add("UnexpectedVoucherStatus")
        else:
            self.time_errors(voucher.time, "PaymentKeyExpired", True, violated, maybe)

    # ------------------------------------------------------------------ targets
    def draft(self, pick: int) -> ContractDraft:
        return self.drafts[pick % len(self.drafts)]

    def contract_for(self, pick: int, right: bool, wanted: Callable[[ContractModel | None], bool]) -> ContractDraft:
        """With ``right``, preferably a contract in the state the action needs."""
        if right:
            candidates = [d for d in self.drafts if wanted(self.model.contracts.get(d.contract_no))]
            if candidates:
                return candidates[pick % len(candidates)]
        return self.draft(pick)

    def voucher_for(
        self,
        pick: int,
        seq_pick: int,
        right: bool,
        statuses: set[VoucherStatus],
        prefer: Callable[[VoucherModel], bool] | None = None,
    ) -> tuple[ContractDraft, int]:
        """With ``right``, preferably a payment in one of ``statuses`` (and ``prefer``red), else any payment applied
        for; without, any seq of any contract (0 and the next one are never applied for)."""
        if right:
            candidates = [
                (d, seq)
                for d in self.drafts
                if (c := self.model.contracts.get(d.contract_no)) is not None
                for seq, voucher in c.payments.items()
                if voucher.status in statuses
            ]
            preferred = [(d, seq) for d, seq in candidates if prefer is not None and prefer(self.payment(d, seq))]
            existing = [
                (d, seq)
                for d in self.drafts
                if (c := self.model.contracts.get(d.contract_no)) is not None
                for seq in c.payments
            ]
            candidates = preferred or candidates or existing
            if candidates:
                return candidates[(pick + seq_pick) % len(candidates)]
        draft = self.draft(pick)
        contract = self.model.contracts.get(draft.contract_no)
        count = len(contract.payments) if contract is not None else 0
        return draft, seq_pick % (count + 2)

    def contract(self, draft: ContractDraft) -> ContractModel | None:
        return self.model.contracts.get(draft.contract_no)

    def document(self, draft: ContractDraft) -> EContract:
        """The e-contract registered for ``draft``, or the one B would register with A."""
        contract = self.contract(draft)
        if contract is not None:
            return contract.document
        return draft.econtract(party_a=A, party_b=B, asset=self.token.address)

    def acting(
        self, draft: ContractDraft, how: str, actor: str, side: Literal["payer", "payee"], dept: Department
    ) -> str:
        """The contract's payer or payee in ``dept`` when the rule wants the right actor, else the drawn ``actor``."""
        contract = self.contract(draft)
        if right_actor(how) and contract is not None:
            return named(contract.payer if side == "payer" else contract.payee, dept)
        return actor

    def stages_in(self, statuses: set[StageStatus], status: ContractStatus) -> list[tuple[ContractDraft, int]]:
        """(draft, index) of every stage in one of ``statuses`` of a contract in ``status``."""
        return [
            (draft, index)
            for draft in self.drafts
            if (contract := self.contract(draft)) is not None and contract.status is status
            for index, stage in enumerate(contract.stages)
            if stage.status in statuses
        ]

    def payment(self, draft: ContractDraft, seq: int) -> VoucherModel | None:
        contract = self.contract(draft)
        return None if contract is None else contract.payments.get(seq)

    def parties(self, draft: ContractDraft) -> tuple[ContractModel | None, int, int]:
        """The contract (if registered), its payer and payee (A and B for one that is not)."""
        contract = self.contract(draft)
        return (contract, contract.payer, contract.payee) if contract is not None else (None, A, B)

    # ------------------------------------------------------------------ S2: propose, countersign, cancel
    def do_propose(self, draft: ContractDraft, actor: str, party_a: int, sig: str, listed: bool = True) -> None:
        no = draft.contract_no
        violated, party_b = self.department_errors(actor, BUSINESS)
        claimed = party_b if party_b is not None else B
        asset = self.token.address if listed else self.escrow.address  # a contract, never listed as an asset
        document = draft.econtract(party_a=party_a, party_b=claimed, asset=asset)
        if no in self.model.contracts:
            violated.add("DuplicateContractNumber")
        if not listed:
            violated.add("AssetNotAccepted")
        if party_a == claimed:
            violated.add("InvalidCounterparty")
        if party_a not in ENTERPRISES:
            violated.add("UnknownOrg")
        elif not self.model.active[party_a]:
            violated.add("OrgSuspended")
        signer, by = self.signature_by(actor, sig)
        violated |= self.signer_errors(signer, by, claimed, BUSINESS)
        if sig == "other terms":
            violated.add("InvalidSignature")
        if sig == "own" and MEMBERS.get(actor) == (claimed, BUSINESS):
            call = self.business[claimed].prepare_propose(document).call
        else:
            signed_terms = self.other_terms(document) if sig == "other terms" else document.terms()
            code = eip712.digital_code(
                self.chain_id, self.registry.address, no, claimed, document.doc_hash, signed_terms
            )
            terms = (no, party_a, document.doc_hash, asset, document.stage_terms())
            call = self.registry.functions.proposeContract(terms, self.address(signer), self.sign(by, code))
        if self.attempt("proposeContract", actor, call, violated) is not None:
            self.model.contracts[no] = ContractModel(
                document, party_a, claimed, stages=[StageModel() for _ in draft.stages], unpaid=document.total
            )

    @staticmethod
    def other_terms(document: EContract) -> dict[str, Any]:
        """Terms that differ from ``document``'s in one amount: what a party is never bound by."""
        stages = document.stage_terms()
        stages[0] = (stages[0][0], stages[0][1] + 1)
        return eip712.terms_message(document.party_a, document.party_b, document.asset, stages)

    def do_countersign(self, draft: ContractDraft, actor: str, tampered: bool, sig: str) -> None:
        no = draft.contract_no
        contract, payer, _ = self.parties(draft)
        document = self.document(draft)
        if tampered:  # another document than B's, with the same terms
            document = document.model_copy(update={"text": document.text + " (amended by hand)"})
        signer, by = self.signature_by(named(payer, BUSINESS), sig)
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, payer, BUSINESS)
            if contract.status is not ContractStatus.PROPOSED:
                violated.add("UnexpectedContractStatus")
            if tampered:
                violated.add("DigitalCodeMismatch")
            violated |= self.signer_errors(signer, by, payer, BUSINESS)
            if sig == "other terms":
                violated.add("InvalidSignature")
        if sig == "own":
            call = self.business[payer].prepare_countersign(document).call
        else:
            signed_terms = self.other_terms(document) if sig == "other terms" else document.terms()
            code = eip712.digital_code(self.chain_id, self.registry.address, no, payer, document.doc_hash, signed_terms)
            call = self.registry.functions.signContract(
                no,
                (document.doc_hash, document.terms_hash),
                document.stage_terms()[0],
                self.address(signer),
                self.sign(by, code),
            )
        if self.attempt("signContract", actor, call, violated) is not None:
            assert contract is not None
            contract.status = ContractStatus.SIGNED

    def do_cancel(self, draft: ContractDraft, actor: str) -> None:
        """Party B withdraws, or Party A declines, a proposal."""
        contract, payer, payee = self.parties(draft)
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated, caller = self.department_errors(actor, BUSINESS)
            if caller is not None and caller not in (payer, payee):
                violated.add("WrongParty")
            if contract.status is not ContractStatus.PROPOSED:
                violated.add("UnexpectedContractStatus")
        call = self.registry.functions.cancelProposal(draft.contract_no, keccak(text="withdrawn"))
        if self.attempt("cancelProposal", actor, call, violated) is not None:
            assert contract is not None
            contract.status = ContractStatus.CANCELLED

    # ------------------------------------------------------------------ S3: stages
    @staticmethod
    def stage_terms(document: EContract, index: int) -> tuple[bytes, int]:
        if index < len(document.stages):
            return document.stage_terms()[index]
        return keccak(text=f"no stage {index}"), 1

    def do_submit(
        self, draft: ContractDraft, index: int, actor: str, wrong_spec: bool, sig: str, result_no: int
    ) -> None:
        no = draft.contract_no
        contract, _, payee = self.parties(draft)
        document = self.document(draft)
        spec_hash, amount = self.stage_terms(document, index)
        if wrong_spec:
            amount += 1
        result_hash = keccak(text=f"{draft.number} stage {index} result {result_no}")
        signer, by = self.signature_by(named(payee, BUSINESS), sig)
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, payee, BUSINESS)
            if contract.status is not ContractStatus.SIGNED:
                violated.add("UnexpectedContractStatus")
            if index >= len(contract.stages):
                violated.add("StageOutOfRange")
            else:
                status = contract.stages[index].status
                if status is StageStatus.PENDING:
                    violated.add("StageAlreadySubmitted")
                if status is StageStatus.CONFIRMED:
                    violated.add("StageAlreadyVouched")
                if wrong_spec:
                    violated.add("StageSpecMismatch")
            violated |= self.signer_errors(signer, by, payee, BUSINESS)
            if sig == "other terms":
                violated.add("InvalidSignature")
        if sig == "own" and not wrong_spec and index < len(draft.stages):
            call = self.business[payee].prepare_submit_stage(document, index, result_hash).call
        else:
            feedback = eip712.stage_feedback(
                self.chain_id,
                self.registry.address,
                contract_no=no,
                org_id=payee,
                doc_hash=document.doc_hash,
                stage_index=index,
                spec_hash=spec_hash,
                amount=amount + (sig == "other terms"),
                result_hash=result_hash,
            )
            call = self.registry.functions.submitStageResult(
                no,
                index,
                (spec_hash, amount),
                (document.doc_hash, document.terms_hash),
                result_hash,
                self.address(signer),
                self.sign(by, feedback),
            )
        if self.attempt("submitStageResult", actor, call, violated) is not None:
            assert contract is not None
            contract.stages[index] = StageModel(StageStatus.PENDING, result_hash)

    def do_decide(self, draft: ContractDraft, index: int, actor: str, result_ok: bool, confirm: bool) -> None:
        """Party A confirms (first voucher) or rejects a pending stage result."""
        no = draft.contract_no
        contract, payer, _ = self.parties(draft)
        document = self.document(draft)
        terms = self.stage_terms(document, index)
        pending = None
        if contract is not None and index < len(contract.stages):
            pending = contract.stages[index].result
        result_hash = pending if (result_ok and pending is not None) else keccak(text="a result never submitted")
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, payer, BUSINESS)
            if contract.status is not ContractStatus.SIGNED:
                violated.add("UnexpectedContractStatus")
            if index >= len(contract.stages):
                violated.add("StageOutOfRange")
            elif contract.stages[index].status is not StageStatus.PENDING:
                violated.add("StageNotPending")
            elif result_hash != pending:
                violated.add("StageResultMismatch")
        signed = (document.doc_hash, document.terms_hash)
        if confirm and index < len(draft.stages):
            call = self.business[payer].prepare_confirm_stage(document, index, result_hash).call
        elif confirm:
            call = self.registry.functions.confirmStageResult(no, index, terms, signed, result_hash)
        else:
            call = self.registry.functions.rejectStageResult(no, index, terms, signed, result_hash, keccak(text="late"))
        action = "confirmStageResult" if confirm else "rejectStageResult"
        if self.attempt(action, actor, call, violated) is not None:
            assert contract is not None
            if confirm:
                contract.stages[index].status = StageStatus.CONFIRMED
            else:
                contract.stages[index] = StageModel(StageStatus.REJECTED, None)

    # ------------------------------------------------------------------ S4: business settlement
    def do_apply_settlement(self, draft: ContractDraft, actor: str) -> None:
        contract, _, payee = self.parties(draft)
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, payee, BUSINESS)
            if contract.status is not ContractStatus.SIGNED:
                violated.add("UnexpectedContractStatus")
            if contract.vouched != len(contract.stages):
                violated.add("StagesNotVouched")
        call = self.business[B].prepare_apply_settlement(draft.contract_no).call
        if self.attempt("applyBusinessSettlement", actor, call, violated) is not None:
            assert contract is not None
            contract.status = ContractStatus.SETTLEMENT_REQUESTED

    def do_decide_settlement(self, draft: ContractDraft, actor: str, approve: bool) -> None:
        """Party A approves business settlement (its voucher) or rejects it (the contract is SIGNED again)."""
        contract, payer, _ = self.parties(draft)
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, payer, BUSINESS)
            if contract.status is not ContractStatus.SETTLEMENT_REQUESTED:
                violated.add("UnexpectedContractStatus")
        if approve:
            call = self.business[A].prepare_approve_settlement(draft.contract_no).call
        else:
            call = self.registry.functions.rejectBusinessSettlement(draft.contract_no, keccak(text="incomplete"))
        action = "approveBusinessSettlement" if approve else "rejectBusinessSettlement"
        if self.attempt(action, actor, call, violated) is not None:
            assert contract is not None
            contract.status = ContractStatus.SETTLED if approve else ContractStatus.SIGNED
            contract.rejected |= not approve

    # ------------------------------------------------------------------ S5: payment application and voucher
    def do_apply_payment(self, draft: ContractDraft, actor: str, kind: str, percent: int) -> None:
        no = draft.contract_no
        contract, payer, payee = self.parties(draft)
        unpaid = contract.unpaid if contract is not None else draft.total
        part = max(1, unpaid * percent // 100)
        amount = {"part": part, "all": unpaid, "over": unpaid + 1, "zero": 0, "no account": part}[kind]
        seq = len(contract.payments) + 1 if contract is not None else 1
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, payee, FINANCE)
            if contract.status is not ContractStatus.SETTLED:
                violated.add("UnexpectedContractStatus")
            if amount == 0:
                violated.add("InvalidAmount")
            if kind == "no account":
                violated.add("InvalidAccountHash")
            if amount > unpaid:
                violated.add("PaymentExceedsUnpaid")
        service = self.finance[payee]
        account = service.receiving_account(no, seq, BANK_ACCOUNT)
        if kind == "no account":
            call = self.registry.functions.applyForPayment(no, amount, b"\x00" * 32, b"", b"")
        else:
            call = service.prepare_apply_payment(
                no,
                seq,
                amount,
                account,
                payer_key=self.env.parties[payer].encryption_key.public_key,
                institution_key=self.env.parties[BANK].encryption_key.public_key,
            ).call
        receipt = self.attempt("applyForPayment", actor, call, violated)
        if receipt is not None:
            assert contract is not None
            (applied,) = self.registry.events.PaymentApplied().process_receipt(receipt, errors=DISCARD)
            payment = VoucherModel(seq, amount, account)
            assert (applied.args.seq, applied.args.amount) == (seq, amount)
            assert (applied.args.voucherId, applied.args.accountHash) == (
                payment_voucher_id(no, seq),
                payment.account_hash,
            )
            contract.payments[seq] = payment
            contract.unpaid -= amount

    def do_close_application(self, draft: ContractDraft, seq: int, actor: str, refuse: bool) -> None:
        """The payer refuses, or the payee withdraws, an application: its amount is unpaid again."""
        no = draft.contract_no
        contract, payer, payee = self.parties(draft)
        voucher = self.payment(draft, seq)
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, payer if refuse else payee, FINANCE)
            if voucher is None:
                violated.add("UnknownVoucher")
            elif voucher.status is not VoucherStatus.APPLIED:
                violated.add("UnexpectedVoucherStatus")
        functions = self.registry.functions
        call = (
            functions.refusePaymentApplication(no, seq, keccak(text="disputed"))
            if refuse
            else (functions.withdrawPaymentApplication(no, seq))
        )
        action = "refusePaymentApplication" if refuse else "withdrawPaymentApplication"
        if self.attempt(action, actor, call, violated) is not None:
            assert contract is not None
            assert voucher is not None
            voucher.status = VoucherStatus.REFUSED if refuse else VoucherStatus.WITHDRAWN
            contract.unpaid += voucher.amount

    def do_issue(self, draft: ContractDraft, seq: int, actor: str, lifetime: int, variant: str) -> None:
        no = draft.contract_no
        contract, payer, payee = self.parties(draft)
        voucher = self.payment(draft, seq)
        applied = voucher.amount if voucher is not None else 1
        amount = {"applied": applied, "zero key": applied, "other account": applied, "more": applied + 1,
                  "less": applied - 1}[variant]  # fmt: skip
        expiry = self.latest_time() + lifetime
        violated: set[str] = set()
        maybe: set[str] = set()
        if contract is None:
            violated.add("UnknownContract")
        else:
            violated |= self.member_errors(actor, payer, FINANCE)
            if variant == "zero key":
                violated.add("InvalidPaymentKey")
            if self.model.paused:
                violated.add("EnforcedPause")
            if voucher is None:
                violated.add("UnknownVoucher")
            elif voucher.status is not VoucherStatus.APPLIED:
                violated.add("UnexpectedVoucherStatus")
            else:
                if amount != voucher.amount:
                    violated.add("PaymentAmountMismatch")
                if variant == "other account":
                    violated.add("PaymentAccountMismatch")
            # valid iff now + minKeyLifetime <= expiry <= now + MAX, now the next block's time in [latest, +MARGIN]
            if lifetime < SANDBOX_MIN_KEY_LIFETIME or lifetime > MAX_KEY_LIFETIME + MARGIN:
                violated.add("InvalidExpiry")
            elif lifetime < SANDBOX_MIN_KEY_LIFETIME + MARGIN or lifetime > MAX_KEY_LIFETIME:
                maybe.add("InvalidExpiry")
            treasury = self.model.treasuries[payer]
            if self.model.allowances[treasury] < amount:
                violated.add("ERC20InsufficientAllowance")
            if self.model.balances[treasury] < amount:
                violated.add("ERC20InsufficientBalance")
        account = voucher.account if voucher is not None else self.finance[payee].receiving_account(no, seq, "x")
        if variant == "other account":
            account = self.finance[payee].receiving_account(no, seq, "CN99 PAYER'S CHOICE")
        prepared, sealed = self.finance[payer].prepare_issue_voucher(
            no,
            seq,
            amount=max(amount, 1),  # the service refuses to seal a key for nothing: the zero is patched in below
            account=account,
            expiry=expiry,
            payee_key=self.env.parties[payee].encryption_key.public_key,
        )
        call = prepared.call
        if variant == "zero key" or amount == 0:
            terms = list(call.args[2])
            terms[0] = amount
            if variant == "zero key":
                terms[2] = b"\x00" * 32
            call = self.registry.functions.issuePaymentVoucher(no, seq, tuple(terms))
        receipt = self.attempt("issuePaymentVoucher", actor, call, violated, maybe)
        if receipt is None:
            return
        assert contract is not None
        assert voucher is not None
        (event,) = self.registry.events.PaymentVoucherIssued().process_receipt(receipt, errors=DISCARD)
        assert (event.args.seq, event.args.amount, event.args.expiry) == (seq, amount, expiry)
        assert event.args.bankAccountHash == voucher.account_hash
        binding = crypto.binding(self.chain_id, self.escrow.address, payment_voucher_id(no, seq))
        key = crypto.open_sealed(self.env.parties[payee].encryption_key, sealed, crypto.PaymentKey, binding)
        treasury = self.model.treasuries[payer]
        voucher.status = VoucherStatus.FROZEN
        voucher.time = expiry
        voucher.secret = key.secret
        voucher.payee = payee
        voucher.pulled = amount
        self.model.balances[treasury] -= amount
        self.model.balances[self.escrow.address] += amount
        if self.model.allowances[treasury] != UNLIMITED:
            self.model.allowances[treasury] -= amount

    # ------------------------------------------------------------------ S6: redeem, present, assign, pin, release
    def secret_for(self, voucher: VoucherModel | None, secret_ok: bool) -> bytes:
        if secret_ok and voucher is not None and voucher.secret is not None:
            return voucher.secret
        return keccak(text="a guessed secret")

    def requested(self, voucher: VoucherModel, beneficiary: int, receipt: TxReceipt) -> None:
        """The payment is REQUESTED for ``beneficiary``, whose current treasury is pinned."""
        voucher.status = VoucherStatus.REQUESTED
        voucher.org = beneficiary
        voucher.pinned = self.model.treasuries[beneficiary]
        voucher.time = self.block_time(receipt)

    def do_redeem(self, draft: ContractDraft, seq: int, actor: str, secret_ok: bool) -> None:
        voucher = self.payment(draft, seq)
        secret = self.secret_for(voucher, secret_ok)
        violated: set[str] = set()
        maybe: set[str] = set()
        if voucher is None:
            violated.add("UnknownVoucher")
        else:
            found, caller = self.department_errors(actor, FINANCE)
            violated |= found
            if caller is not None and caller != voucher.payee:
                violated.add("WrongParty")
            self.key_errors(voucher, violated, maybe)
            if voucher.status in KEYED and secret != voucher.secret:
                violated.add("WrongSecret")
        call = self.finance[B].prepare_redeem(draft.contract_no, seq, secret).call
        receipt = self.attempt("requestPayment", actor, call, violated, maybe)
        if receipt is not None:
            assert voucher is not None
            self.requested(voucher, voucher.payee, receipt)
            (event,) = self.escrow.events.PaymentRequested().process_receipt(receipt, errors=DISCARD)
            assert (event.args.seq, event.args.beneficiaryOrg, event.args.beneficiary) == (
                seq, voucher.org, voucher.pinned
            )  # fmt: skip

    def do_present(self, draft: ContractDraft, seq: int, actor: str, secret_ok: bool) -> None:
        _, payer, _ = self.parties(draft)
        voucher = self.payment(draft, seq)
        secret = self.secret_for(voucher, secret_ok)
        violated: set[str] = set()
        maybe: set[str] = set()
        presenter = None
        if voucher is None:
            violated.add("UnknownVoucher")
        else:
            found, presenter = self.department_errors(actor, FINANCE)
            violated |= found
            if presenter in (payer, voucher.payee):
                violated.add("InvalidAssignee")
            if voucher.status is not VoucherStatus.FROZEN:
                violated.add("UnexpectedVoucherStatus")
            else:
                self.time_errors(voucher.time, "PaymentKeyExpired", True, violated, maybe)
                if secret != voucher.secret:
                    violated.add("WrongSecret")
        call = self.escrow.functions.presentPaymentKey(draft.contract_no, seq, secret)
        if self.attempt("presentPaymentKey", actor, call, violated, maybe) is not None:
            assert voucher is not None
            assert presenter is not None
            voucher.status = VoucherStatus.PRESENTED
            voucher.org = presenter

    def do_confirm_assignment(
        self, draft: ContractDraft, seq: int, actor: str, signer_kind: str, assignee_kind: str
    ) -> None:
        no = draft.contract_no
        _, payer, contract_payee = self.parties(draft)
        voucher = self.payment(draft, seq)
        payee = voucher.payee if voucher is not None else 0  # the escrow's record, set with the voucher
        third = next(org for org in ENTERPRISES if org not in (payer, contract_payee))
        presenter = voucher.org if voucher is not None and voucher.status is VoucherStatus.PRESENTED else 0
        assignee = {"presenter": presenter or third, "third": third, "payee": contract_payee, "payer": payer,
                    "bank": BANK, "unknown": UNKNOWN_ORG}[assignee_kind]  # fmt: skip
        payee_finance = named(contract_payee, FINANCE)
        assignee_finance = named(assignee, FINANCE) if assignee in ENTERPRISES else "C.FINANCE"
        signer, by = {
            "payee": (payee_finance, payee_finance),
            "assignee": (assignee_finance, assignee_finance),
            "payee business": (named(contract_payee, BUSINESS), named(contract_payee, BUSINESS)),
            "forged": (payee_finance, "OUTSIDER"),
        }[signer_kind]
        bank_hash = crypto.bank_account_hash(C_BANK_ACCOUNT, b"\x07" * 32)
        data = eip712.assignment_confirmation(
            self.chain_id, self.escrow.address, payment_voucher_id(no, seq), assignee, bank_hash
        )
        violated: set[str] = set()
        maybe: set[str] = set()
        if voucher is None:
            violated.add("UnknownVoucher")
        else:
            found, caller = self.department_errors(actor, FINANCE)
            violated |= found
            if caller is not None and caller not in (payee, assignee):
                violated.add("WrongParty")
            self.key_errors(voucher, violated, maybe)
            if assignee in (payer, payee):
                violated.add("InvalidAssignee")
            violated |= self.escrow_signer_errors(signer, by, payee)
            if assignee not in ENTERPRISES:
                violated.add("UnknownOrg")
            elif not self.model.active[assignee]:
                violated.add("OrgSuspended")
        call = self.escrow.functions.confirmAssignment(
            no, seq, assignee, bank_hash, b"\x05" * 96, self.address(signer), self.sign(by, data)
        )
        receipt = self.attempt("confirmAssignment", actor, call, violated, maybe)
        if receipt is not None:
            assert voucher is not None
            self.requested(voucher, assignee, receipt)
            (event,) = self.escrow.events.AssignmentConfirmed().process_receipt(receipt, errors=DISCARD)
            assert (event.args.beneficiaryOrg, event.args.beneficiary) == (assignee, voucher.pinned)

    def do_pin(self, draft: ContractDraft, seq: int, actor: str) -> None:
        """The beneficiary pins its current treasury (after governance moved it)."""
        voucher = self.payment(draft, seq)
        violated: set[str] = set()
        caller = None
        if voucher is None:
            violated.add("UnknownVoucher")
        else:
            if voucher.status is not VoucherStatus.REQUESTED:
                violated.add("UnexpectedVoucherStatus")
            found, caller = self.department_errors(actor, FINANCE)
            violated |= found
            if caller is not None and caller != voucher.org:
                violated.add("WrongParty")
        call = self.escrow.functions.pinBeneficiaryTreasury(draft.contract_no, seq)
        if self.attempt("pinBeneficiaryTreasury", actor, call, violated) is not None:
            assert voucher is not None
            assert caller is not None
            voucher.pinned = self.model.treasuries[caller]
            voucher.repinned = True

    def paid(self, contract: ContractModel, voucher: VoucherModel, receipt: TxReceipt, released_by: str) -> None:
        """Checks the second voucher ``receipt`` emitted and moves the model's funds to the pinned treasury."""
        (second,) = self.escrow.events.SecondVoucher().process_receipt(receipt, errors=DISCARD)
        assert second.args.voucherId == payment_voucher_id(contract.document.contract_no, voucher.seq)
        assert (second.args.seq, second.args.amount, second.args.releasedBy) == (
            voucher.seq,
            voucher.amount,
            released_by,
        )
        assert (second.args.payerOrg, second.args.payeeOrg) == (contract.payer, contract.payee)
        assert (second.args.beneficiaryOrg, second.args.beneficiary) == (voucher.org, voucher.pinned)
        assert voucher.pinned is not None
        voucher.status = VoucherStatus.RELEASED
        voucher.paid_to = voucher.pinned
        self.model.balances[self.escrow.address] -= voucher.amount
        self.model.balances[voucher.pinned] += voucher.amount

    def returned(self, contract: ContractModel, voucher: VoucherModel, receipt: TxReceipt) -> None:
        """Checks the reclaim ``receipt`` emitted and moves the model's funds back to the payer's treasury."""
        (reclaimed,) = self.escrow.events.PaymentReclaimed().process_receipt(receipt, errors=DISCARD)
        treasury = self.model.treasuries[contract.payer]
        assert (reclaimed.args.seq, reclaimed.args.amount) == (voucher.seq, voucher.amount)
        assert (reclaimed.args.payerOrg, reclaimed.args.payerTreasury) == (contract.payer, treasury)
        voucher.status = VoucherStatus.RECLAIMED
        voucher.paid_to = treasury
        contract.unpaid += voucher.amount
        self.model.balances[self.escrow.address] -= voucher.amount
        self.model.balances[treasury] += voucher.amount

    def do_release(self, draft: ContractDraft, seq: int, actor: str) -> None:
        contract = self.contract(draft)
        voucher = self.payment(draft, seq)
        violated = self.member_errors(actor, BANK, OPERATOR)
        if self.model.paused:
            violated.add("EnforcedPause")
        if voucher is None:
            violated.add("UnknownVoucher")
        elif voucher.status is not VoucherStatus.REQUESTED:
            violated.add("UnexpectedVoucherStatus")
        elif not self.model.active[voucher.org]:
            violated.add("OrgSuspended")  # the beneficiary
        call = self.escrow.functions.release(draft.contract_no, seq)
        receipt = self.attempt("release", actor, call, violated)
        if receipt is not None:
            assert contract is not None
            assert voucher is not None
            self.paid(contract, voucher, receipt, self.address(actor))

    def do_reclaim(self, draft: ContractDraft, seq: int, actor: str) -> None:
        contract, payer, _ = self.parties(draft)
        voucher = self.payment(draft, seq)
        violated: set[str] = set()
        maybe: set[str] = set()
        if voucher is None:
            violated.add("UnknownVoucher")
        else:
            found, caller = self.department_errors(actor, FINANCE)
            violated |= found
            if caller is not None and caller != payer:
                violated.add("WrongParty")
            if voucher.status not in KEYED:
                violated.add("UnexpectedVoucherStatus")
            else:
                self.time_errors(voucher.time, "PaymentKeyNotExpired", False, violated, maybe)
        receipt = self.attempt("reclaim", actor, self.escrow.functions.reclaim(draft.contract_no, seq), violated, maybe)
        if receipt is not None:
            assert contract is not None
            assert voucher is not None
            self.returned(contract, voucher, receipt)

    # ------------------------------------------------------------------ S6.5: settling without the institution
    def do_settle(self, draft: ContractDraft, seq: int, actor: str, to_beneficiary: bool, consent: str) -> None:
        """Payer or beneficiary settles a requested payment after its release deadline: with the other's signature
        (``consent``: ``other``, ``other direction``, ``own``, ``forged`` or ``none``), alone when the other's org is
        suspended."""
        no = draft.contract_no
        contract, payer, _ = self.parties(draft)
        voucher = self.payment(draft, seq)
        beneficiary = voucher.org if voucher is not None else 0
        caller_org = MEMBERS.get(actor, (0, FINANCE))[0]
        other = beneficiary if caller_org == payer else payer
        cosigner, by = {
            "other": (named(other, FINANCE),) * 2,
            "other direction": (named(other, FINANCE),) * 2,
            "own": (actor, actor),
            "forged": (named(other, FINANCE), "OUTSIDER"),
            "none": (None, None),
        }[consent]
        violated: set[str] = set()
        maybe: set[str] = set()
        if voucher is None:
            violated.add("UnknownVoucher")
        else:
            if voucher.status is not VoucherStatus.REQUESTED:
                violated.add("UnexpectedVoucherStatus")
            else:
                deadline = voucher.time + RELEASE_WINDOW
                self.time_errors(deadline, "ReleaseDeadlineNotReached", False, violated, maybe)
            found, caller = self.department_errors(actor, FINANCE)
            violated |= found
            if caller is not None and caller not in (payer, beneficiary):
                violated.add("WrongParty")
            elif caller is not None and self.model.active.get(other, False):
                if cosigner is None or by is None:
                    violated.add("UnauthorizedSigner")
                else:
                    violated |= self.escrow_signer_errors(cosigner, by, other)
                    if consent == "other direction":
                        violated.add("InvalidSignature")
            elif caller is not None and to_beneficiary != (caller == beneficiary):
                violated.add("SettlementDirectionRefused")
        signature = b""
        if by is not None:
            signed_direction = to_beneficiary != (consent == "other direction")
            data = eip712.joint_settlement(
                self.chain_id, self.escrow.address, payment_voucher_id(no, seq), signed_direction
            )
            signature = self.sign(by, data)
        cosigner_address = self.address(cosigner) if cosigner is not None else ZERO_ADDRESS
        call = self.escrow.functions.settleWithoutInstitution(no, seq, to_beneficiary, cosigner_address, signature)
        receipt = self.attempt("settleWithoutInstitution", actor, call, violated, maybe)
        if receipt is None:
            return
        assert contract is not None
        assert voucher is not None
        (settled,) = self.escrow.events.SettledWithoutInstitution().process_receipt(receipt, errors=DISCARD)
        alone = not self.model.active[other]
        assert (settled.args.seq, settled.args.toBeneficiary) == (seq, to_beneficiary)
        assert (settled.args.caller, settled.args.cosigner) == (
            self.address(actor), ZERO_ADDRESS if alone else cosigner_address
        )  # fmt: skip
        voucher.settled = True
        if to_beneficiary:
            self.paid(contract, voucher, receipt, self.address(actor))
        else:
            self.returned(contract, voucher, receipt)

    # ------------------------------------------------------------------ S8.3: e-invoice
    def do_anchor_invoice(self, draft: ContractDraft, seq: int, actor: str, signer_kind: str, zero: bool) -> None:
        no = draft.contract_no
        _, _, contract_payee = self.parties(draft)
        voucher = self.payment(draft, seq)
        payee = voucher.payee if voucher is not None else 0
        invoice_hash = b"\x00" * 32 if zero else keccak(text=f"invoice of {draft.number} payment {seq}")
        payee_finance = named(contract_payee, FINANCE)
        signer, by = {
            "payee": (payee_finance, payee_finance),
            "forged": (payee_finance, "OUTSIDER"),
            "foreign": (other_department(payee_finance),) * 2,
        }[signer_kind]
        violated = set() if voucher is not None else {"UnknownVoucher"}
        if voucher is not None:
            found, caller = self.department_errors(actor, FINANCE)
            violated |= found
            if caller is not None and caller != payee:
                violated.add("WrongParty")
            if voucher.status is not VoucherStatus.RELEASED:
                violated.add("UnexpectedVoucherStatus")
            if voucher.invoice is not None:
                violated.add("InvoiceAlreadyAnchored")
            if zero:
                violated.add("InvalidInvoiceHash")
            violated |= self.escrow_signer_errors(signer, by, payee)
        data = eip712.invoice(self.chain_id, self.escrow.address, payment_voucher_id(no, seq), invoice_hash)
        prepared = self.finance[contract_payee].prepare_anchor_invoice(
            no, seq, invoice_hash=invoice_hash, ciphertext=b"\x09" * 64, signature=self.sign(by, data),
            signer=self.address(signer),
        )  # fmt: skip
        if self.attempt("anchorInvoice", actor, prepared.call, violated) is not None:
            assert voucher is not None
            voucher.invoice = invoice_hash

    # ------------------------------------------------------------------ the institution and governance
    def do_pause(self, actor: str, pause: bool) -> None:
        violated = self.member_errors(actor, BANK, OPERATOR)
        if pause and self.model.paused:
            violated.add("EnforcedPause")
        if not pause and not self.model.paused:
            violated.add("ExpectedPause")
        call = self.escrow.functions.pause() if pause else self.escrow.functions.unpause()
        if self.attempt("pause" if pause else "unpause", actor, call, violated) is not None:
            self.model.paused = pause

    def do_set_active(self, org: int, active: bool, actor: str) -> None:
        violated = set() if actor == "GOVERNANCE" else {"OwnableUnauthorizedAccount"}
        if org not in ORGS:
            violated.add("UnknownOrg")
        call = self.registry.functions.setOrgActive(org, active)
        if self.attempt("setOrgActive", actor, call, violated) is not None:
            self.model.active[org] = active

    def do_move_treasury(self, org: int, target: str, actor: str) -> None:
        """Governance moves an enterprise's treasury to its other one (or, refused, into the consortium's contracts)."""
        violated = set() if actor == "GOVERNANCE" else {"OwnableUnauthorizedAccount"}
        current = self.model.treasuries.get(org)
        registered, moved = self.choices.get(org, (self.choices[A][0], self.choices[A][1]))
        address = {
            "other": moved if current == registered else registered,
            "escrow": self.escrow.address,
            "registry": self.registry.address,
            "zero": ZERO_ADDRESS,
        }[target]
        if target != "other":
            violated.add("InvalidTreasury")
        if org not in ORGS:
            violated.add("UnknownOrg")
        call = self.registry.functions.setTreasury(org, address)
        if self.attempt("setTreasury", actor, call, violated) is not None:
            self.model.treasuries[org] = address
            self.model.former[org].add(address)

    def do_time_jump(self, seconds: int) -> None:
        self._latest = None
        self.env.node.increase_time(seconds)
        STATS["time jump"] += 1

    # ------------------------------------------------------------------ the next right step of a contract
    def advance_contract(self, draft: ContractDraft, choice: int, aim: str | None = None) -> None:
        """Takes the next step of the flow for ``draft`` (depth for the search).

        Four times in six the department that owns the step sends it right; once its terms are wrong (a forged or
        foreign signature, a signature over other terms, a tampered document, an unlisted asset, a wrong spec,
        result, secret, amount, account, lifetime, assignee or consent); once another actor sends it. One time in
        ten a step takes the other way out of its state: a proposal cancelled, a settlement rejected, an application
        refused or withdrawn, an assignment without a presentation, a requested payment left to its deadline and
        settled without the institution. The next advance then takes the step again. With ``aim`` (one of
        :data:`AIMS`), the step is the one that leads to that point.
        """
        twist = ("right", "right", "right", "right", "wrong terms", "wrong actor")[choice % 6]
        wrong = twist == "wrong terms"
        variant = (choice // 6) % 3  # which wrong terms
        detour = choice % 10 == 9

        def by(name: str) -> str:
            return ACTORS[(choice // 6) % len(ACTORS)] if twist == "wrong actor" else name

        model = self.model
        if model.paused:
            return self.do_pause(by("OPERATOR"), pause=False)
        suspended = [org for org in ORGS if not model.active[org]]
        if suspended:
            return self.do_set_active(suspended[0], True, by("GOVERNANCE"))
        contract = self.contract(draft)
        if contract is None:
            proposer, party_a = ((B, A), (B, A), (B, A), (A, B), (C, A), (B, C))[(choice // 5) % 6]
            sig = "own"
            if wrong and variant == 0:
                party_a = proposer  # InvalidCounterparty
            elif wrong:
                sig = ("forged", "other terms")[variant - 1]
            listed = not (wrong and choice % 4 == 0)
            return self.do_propose(draft, by(named(proposer, BUSINESS)), party_a, sig, listed)
        payer_business, payee_business = named(contract.payer, BUSINESS), named(contract.payee, BUSINESS)
        if contract.status is ContractStatus.PROPOSED:
            if detour or aim == "cancelled":
                return self.do_cancel(draft, by(payer_business if choice % 2 else payee_business))
            sig = ("own", "forged", "other terms")[variant] if wrong else "own"
            return self.do_countersign(draft, by(payer_business), wrong and variant == 0, sig)
        if contract.status is ContractStatus.SIGNED:
            for index, stage in enumerate(contract.stages):
                if stage.status in (StageStatus.OPEN, StageStatus.REJECTED):
                    sig = ("own", "forged", "other terms")[variant] if wrong else "own"
                    return self.do_submit(draft, index, by(payee_business), wrong and variant == 0, sig, choice)
                if stage.status is StageStatus.PENDING:
                    return self.do_decide(draft, index, by(payer_business), not wrong, confirm=choice % 5 != 0)
            return self.do_apply_settlement(draft, by(payee_business))
        if contract.status is ContractStatus.SETTLEMENT_REQUESTED:
            return self.do_decide_settlement(
                draft, by(payer_business), approve=not (detour or aim == "settlement rejected")
            )
        if contract.status is ContractStatus.CANCELLED:
            return self.do_time_jump(30)
        return self.advance_payments(draft, contract, choice, by, wrong, variant, detour, aim)

    def advance_payments(
        self,
        draft: ContractDraft,
        contract: ContractModel,
        choice: int,
        by: Callable[[str], str],
        wrong: bool,
        variant: int,
        detour: bool,
        aim: str | None,
    ) -> None:
        """The next step of a settled contract's payments (see :meth:`advance_contract`)."""
        payer_finance, payee_finance = named(contract.payer, FINANCE), named(contract.payee, FINANCE)
        payments = contract.payments.values()
        third = next(org for org in ENTERPRISES if org not in (contract.payer, contract.payee))
        for voucher in payments:
            if voucher.status is not VoucherStatus.REQUESTED:
                continue
            moved = voucher.pinned != self.model.treasuries[voucher.org]
            if moved and (aim == "repinned" or (aim is None and choice % 2 == 0)):  # (or it is paid at the old one)
                return self.do_pin(draft, voucher.seq, by(named(voucher.org, FINANCE)))
            if not moved and (aim in ("moved in flight", "repinned") or (aim is None and choice % 3 == 1)):
                return self.do_move_treasury(voucher.org, "other", by("GOVERNANCE"))  # with the money in flight
            if aim in ("deadline passed", "settled without the institution") or detour or choice % 3 == 0:
                passed = self.passed(voucher.time + RELEASE_WINDOW)  # no release: the parties settle themselves
                if not passed:
                    return self.do_time_jump(voucher.time + RELEASE_WINDOW - self.latest_time() + MARGIN + 1)
                sender = payer_finance if choice % 2 else named(voucher.org, FINANCE)
                consent = ("own", "forged", "other direction")[variant] if wrong else "other"
                return self.do_settle(draft, voucher.seq, by(sender), (choice // 2) % 2 == 0, consent)
            return self.do_release(draft, voucher.seq, by("OPERATOR"))
        for voucher in payments:
            if voucher.status not in KEYED:
                continue
            expired = self.passed(voucher.time)
            if expired:
                return self.do_reclaim(draft, voucher.seq, by(payer_finance))
            if expired is None:
                return self.do_time_jump(2 * MARGIN)
            if choice % 5 == 4:  # let the key lapse: the payer reclaims next
                return self.do_time_jump(voucher.time - self.latest_time() + 1)
            if voucher.status is VoucherStatus.PRESENTED or (detour and choice % 2):
                # the presenter (or, without a presentation, the payee) sends the payee's confirmation
                presented = voucher.status is VoucherStatus.PRESENTED
                sender = named(voucher.org, FINANCE) if presented and choice % 2 else payee_finance
                signer, assignee = ("payee", "presenter" if presented else "third")
                if wrong:
                    signer, assignee = (("forged", assignee), ("payee", "payer"), ("payee", "bank"))[variant]
                return self.do_confirm_assignment(draft, voucher.seq, by(sender), signer, assignee)
            if choice % 3 == 0:
                presenter = named(contract.payee if wrong and variant == 0 else third, FINANCE)  # InvalidAssignee
                return self.do_present(draft, voucher.seq, by(presenter), secret_ok=not (wrong and variant > 0))
            return self.do_redeem(draft, voucher.seq, by(payee_finance), secret_ok=not wrong)
        treasury = self.model.treasuries[contract.payer]
        payable = min(self.model.allowances[treasury], self.model.balances[treasury])
        for voucher in payments:
            if voucher.status is not VoucherStatus.APPLIED:
                continue
            if detour or aim in ("application refused", "application withdrawn"):
                refuse = aim == "application refused" if aim else choice % 2 == 1
                return self.do_close_application(
                    draft, voucher.seq, by(payer_finance if refuse else payee_finance), refuse
                )
            # a payer whose treasury cannot pay is refused by the token; try it now and then, or the flow stalls
            if voucher.amount <= payable or choice % 4 == 0:
                lifetime = (300, 7 * DAY, MAX_KEY_LIFETIME)[choice % 3]
                issue = "applied"
                if wrong:
                    issue, lifetime = (("more", lifetime), ("other account", lifetime), ("applied", 1))[variant]
                return self.do_issue(draft, voucher.seq, by(payer_finance), lifetime, issue)
            if treasury != self.choices[contract.payer][0]:  # the payer's treasury moved to one that cannot pay
                return self.do_move_treasury(contract.payer, "other", by("GOVERNANCE"))
            refuse = choice % 2 == 1  # the payer cannot pay it: the application is closed
            return self.do_close_application(draft, voucher.seq, by(payer_finance if refuse else payee_finance), refuse)
        if contract.unpaid > 0:
            kind = ("over", "zero", "no account")[variant] if wrong else ("all" if choice % 2 else "part")
            return self.do_apply_payment(draft, by(payee_finance), kind, 50)
        for voucher in payments:
            if voucher.status is VoucherStatus.RELEASED and voucher.invoice is None:
                signer = ("foreign", "forged", "foreign")[variant] if wrong else "payee"
                return self.do_anchor_invoice(draft, voucher.seq, by(payee_finance), signer, zero=False)
        return self.do_time_jump(8 * DAY)

    def has_next_step(self, draft: ContractDraft) -> bool:
        """Whether ``draft``'s flow still has a step to take."""
        contract = self.contract(draft)
        if contract is None:
            return True
        if contract.status is ContractStatus.CANCELLED:
            return False
        if contract.status is not ContractStatus.SETTLED or contract.unpaid > 0:
            return True
        return any(
            v.status in OPEN or (v.status is VoucherStatus.RELEASED and not v.invoice)
            for v in contract.payments.values()
        )

    def unfinished(self) -> list[ContractDraft]:
        """Drafts whose flow still has a step to take (all of them if none has)."""
        return [draft for draft in self.drafts if self.has_next_step(draft)] or self.drafts

    # ------------------------------------------------------------------ rules
    @initialize(amounts=AMOUNTS, draw=st.integers(0, 2**32 - 1), choice=CHOICE)
    def warm_up(self, amounts: list[list[int]], draw: int, choice: int) -> None:
        """1–3 contract drafts of 1–2 stages, each taken down the flow (:meth:`advance_contract`) to a point of it.

        The points are drawn uniformly from ``draw`` (hypothesis draws values near its simplest ones more often, and
        the deepest points are the rarest to reach otherwise)."""
        self.step()
        self.drafts = [make_draft(index, stage_amounts) for index, stage_amounts in enumerate(amounts)]
        self.warming_up = True
        points = random.Random(draw).choices(list(WARM_UP), k=len(self.drafts))
        for draft, point in zip(self.drafts, points, strict=True):
            STATS[f"warm-up to {point}"] += 1
            for k in range(40):
                if WARM_UP[point](self, self.contract(draft)) or not self.has_next_step(draft):
                    break
                self.advance_contract(draft, choice=choice + k, aim=point if point in AIMS else None)
            STATS[f"warm-up to {point} (reached)"] += WARM_UP[point](self, self.contract(draft))

    def advance_unfinished(self, pick: int, choice: int) -> None:
        self.step()
        drafts = self.unfinished()
        self.advance_contract(drafts[pick % len(drafts)], choice)

    @rule(pick=PICK, choice=CHOICE)
    def advance(self, pick: int, choice: int) -> None:
        """The next step of an unfinished contract's flow (:meth:`advance_contract`)."""
        self.advance_unfinished(pick, choice)

    @rule(pick=PICK, choice=CHOICE)
    def advance_again(self, pick: int, choice: int) -> None:
        """A copy of :meth:`advance`: hypothesis picks rules uniformly, copies weigh progress against the other
        rules."""
        self.advance_unfinished(pick, choice)

    @rule(pick=PICK, choice=CHOICE, count=st.integers(2, 5))
    def advance_several(self, pick: int, choice: int, count: int) -> None:
        """Several steps of one contract's flow in a row (the invariants then allow every move they made)."""
        draft = self.unfinished()[pick % len(self.unfinished())]
        self.warming_up = True
        for k in range(count):
            self.step()
            self.advance_contract(draft, choice + k)

    @rule(
        pick=PICK,
        how=HOW,
        actor=ACTOR,
        party_a=st.sampled_from((A, B, C, BANK, UNKNOWN_ORG)),
        sig=SIG,
        listed=st.booleans(),
    )
    def propose(self, pick: int, how: str, actor: str, party_a: int, sig: str, listed: bool) -> None:
        self.step()
        draft = self.contract_for(pick, how != ANYTHING, lambda c: c is None)
        if right_actor(how):
            actor = "B.BUSINESS"
        if right_terms(how):
            party_a, sig, listed = A, "own", True
        self.do_propose(draft, actor, party_a, sig, listed)

    @rule(pick=PICK, how=HOW, actor=ACTOR, tampered=st.booleans(), sig=SIG)
    def countersign(self, pick: int, how: str, actor: str, tampered: bool, sig: str) -> None:
        self.step()
        draft = self.contract_for(pick, how != ANYTHING, _contract_in(ContractStatus.PROPOSED))
        actor = self.acting(draft, how, actor, "payer", BUSINESS)
        if right_terms(how):
            tampered, sig = False, "own"
        self.do_countersign(draft, actor, tampered, sig)

    @rule(pick=PICK, how=HOW, actor=ACTOR, side=st.sampled_from(("payer", "payee")))
    def cancel_proposal(self, pick: int, how: str, actor: str, side: Literal["payer", "payee"]) -> None:
        """Party B withdraws, or Party A declines, a proposal (once it is signed: refused)."""
        self.step()
        draft = self.contract_for(pick, how != ANYTHING, _contract_in(ContractStatus.PROPOSED))
        self.do_cancel(draft, self.acting(draft, how, actor, side, BUSINESS))

    @rule(pick=PICK, index=INDEX, how=HOW, actor=ACTOR, wrong_spec=st.booleans(), sig=SIG, result=st.integers(0, 2))
    def submit_stage(
        self, pick: int, index: int, how: str, actor: str, wrong_spec: bool, sig: str, result: int
    ) -> None:
        self.step()
        open_stages = self.stages_in({StageStatus.OPEN, StageStatus.REJECTED}, ContractStatus.SIGNED)
        draft = self.draft(pick)
        if how != ANYTHING and open_stages:
            draft, target = open_stages[pick % len(open_stages)]
            index = target if right_terms(how) else index  # wrong terms: any index, out of range included
        actor = self.acting(draft, how, actor, "payee", BUSINESS)
        if right_terms(how):
            wrong_spec, sig = False, "own"
        self.do_submit(draft, index, actor, wrong_spec, sig, result)

    @rule(pick=PICK, index=INDEX, how=HOW, actor=ACTOR, result_ok=st.booleans(), confirm=st.booleans())
    def decide_stage(self, pick: int, index: int, how: str, actor: str, result_ok: bool, confirm: bool) -> None:
        """Confirm (first voucher) or reject a stage result."""
        self.step()
        pending = self.stages_in({StageStatus.PENDING}, ContractStatus.SIGNED)
        draft = self.draft(pick)
        if how != ANYTHING and pending:
            draft, target = pending[pick % len(pending)]
            index = target if right_terms(how) else index
        actor = self.acting(draft, how, actor, "payer", BUSINESS)
        if right_terms(how):
            result_ok = True
        self.do_decide(draft, index, actor, result_ok, confirm)

    @rule(pick=PICK, how=HOW, actor=ACTOR)
    def apply_settlement(self, pick: int, how: str, actor: str) -> None:
        self.step()
        draft = self.contract_for(pick, how != ANYTHING, _contract_in(ContractStatus.SIGNED))
        self.do_apply_settlement(draft, self.acting(draft, how, actor, "payee", BUSINESS))

    @rule(pick=PICK, how=HOW, actor=ACTOR, approve=st.booleans())
    def decide_settlement(self, pick: int, how: str, actor: str, approve: bool) -> None:
        """Party A approves business settlement or rejects it back to SIGNED."""
        self.step()
        draft = self.contract_for(pick, how != ANYTHING, _contract_in(ContractStatus.SETTLEMENT_REQUESTED))
        self.do_decide_settlement(draft, self.acting(draft, how, actor, "payer", BUSINESS), approve)

    @rule(
        pick=PICK,
        how=HOW,
        actor=ACTOR,
        kind=st.sampled_from(("part", "all", "over", "zero", "no account")),
        percent=st.integers(1, 100),
    )
    def apply_payment(self, pick: int, how: str, actor: str, kind: str, percent: int) -> None:
        """Apply for payment of part or all of the unpaid amount (or more, nothing, or into no account)."""
        self.step()
        draft = self.contract_for(pick, how != ANYTHING, _contract_in(ContractStatus.SETTLED))
        actor = self.acting(draft, how, actor, "payee", FINANCE)
        if right_terms(how) and kind not in ("part", "all"):
            kind = "part"
        self.do_apply_payment(draft, actor, kind, percent)

    @rule(pick=PICK, seq=SEQ, how=HOW, actor=ACTOR, refuse=st.booleans())
    def close_application(self, pick: int, seq: int, how: str, actor: str, refuse: bool) -> None:
        """The payer refuses, or the payee withdraws, an application (one issued or closed: refused)."""
        self.step()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, {VoucherStatus.APPLIED})
        self.do_close_application(
            draft, seq, self.acting(draft, how, actor, "payer" if refuse else "payee", FINANCE), refuse
        )

    @rule(
        pick=PICK,
        seq=SEQ,
        how=HOW,
        actor=ACTOR,
        lifetime=st.sampled_from(LIFETIMES),
        variant=st.sampled_from(("applied", "more", "less", "zero key", "other account")),
    )
    def issue_voucher(self, pick: int, seq: int, how: str, actor: str, lifetime: int, variant: str) -> None:
        """Issue a payment voucher: short, long, too short or too long key lifetimes; the applied or another amount
        or account."""
        self.step()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, {VoucherStatus.APPLIED})
        actor = self.acting(draft, how, actor, "payer", FINANCE)
        if right_terms(how):
            variant = "applied"
            lifetime = lifetime if SANDBOX_MIN_KEY_LIFETIME + MARGIN <= lifetime <= MAX_KEY_LIFETIME else 7 * DAY
        self.do_issue(draft, seq, actor, lifetime, variant)

    @rule(pick=PICK, seq=SEQ, how=HOW, actor=ACTOR, secret_ok=st.booleans())
    def redeem(self, pick: int, seq: int, how: str, actor: str, secret_ok: bool) -> None:
        """The payee's request for payment with the key's secret (or a wrong one)."""
        self.step()
        now = self.latest_time()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, set(KEYED), lambda v: v.time > now)
        actor = self.acting(draft, how, actor, "payee", FINANCE)
        if right_terms(how):
            secret_ok = True
        self.do_redeem(draft, seq, actor, secret_ok)

    @rule(pick=PICK, seq=SEQ, how=HOW, actor=ACTOR, secret_ok=st.booleans())
    def present_key(self, pick: int, seq: int, how: str, actor: str, secret_ok: bool) -> None:
        """A third member presents the key; the payer and payee are refused."""
        self.step()
        now = self.latest_time()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, {VoucherStatus.FROZEN}, lambda v: v.time > now)
        contract = self.contract(draft)
        if right_actor(how) and contract is not None:
            third = next(org for org in ENTERPRISES if org not in (contract.payer, contract.payee))
            actor = named(third, FINANCE)
        elif how == "wrong actor" and contract is not None and pick % 2:  # the payer or the payee presents
            actor = named(contract.payer if pick % 4 == 1 else contract.payee, FINANCE)
        if right_terms(how):
            secret_ok = True
        self.do_present(draft, seq, actor, secret_ok)

    @rule(
        pick=PICK,
        seq=SEQ,
        how=HOW,
        actor=ACTOR,
        signer=st.sampled_from(("payee", "assignee", "payee business", "forged")),
        assignee=st.sampled_from(("presenter", "third", "payee", "payer", "bank", "unknown")),
    )
    def confirm_assignment(self, pick: int, seq: int, how: str, actor: str, signer: str, assignee: str) -> None:
        """The payee's signed confirmation naming a third member (the presenter or not), sent by the payee or the
        assignee."""
        self.step()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, set(KEYED))
        voucher = self.payment(draft, seq)
        contract = self.contract(draft)
        if right_terms(how):
            signer, assignee = "payee", "presenter"
        if right_actor(how) and contract is not None and voucher is not None:
            third = next(org for org in ENTERPRISES if org not in (contract.payer, contract.payee))
            target = voucher.org if voucher.status is VoucherStatus.PRESENTED else third
            actor = named(target if pick % 2 else contract.payee, FINANCE)
        self.do_confirm_assignment(draft, seq, actor, signer, assignee)

    @rule(pick=PICK, seq=SEQ, how=HOW, actor=ACTOR)
    def pin_treasury(self, pick: int, seq: int, how: str, actor: str) -> None:
        """The beneficiary of a requested payment pins its current treasury."""
        self.step()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, {VoucherStatus.REQUESTED})
        voucher = self.payment(draft, seq)
        if right_actor(how) and voucher is not None and voucher.org in ENTERPRISES:
            actor = named(voucher.org, FINANCE)
        self.do_pin(draft, seq, actor)

    @rule(pick=PICK, seq=SEQ, how=HOW, actor=ACTOR)
    def release(self, pick: int, seq: int, how: str, actor: str) -> None:
        """The operator pays a requested payment (again, if it was paid already)."""
        self.step()
        statuses = {VoucherStatus.REQUESTED} if pick % 4 else {VoucherStatus.RELEASED}  # double release
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, statuses)
        if right_actor(how):
            actor = "OPERATOR"
        self.do_release(draft, seq, actor)

    @rule(pick=PICK, seq=SEQ, how=HOW, actor=ACTOR)
    def reclaim(self, pick: int, seq: int, how: str, actor: str) -> None:
        """The payer takes back the funds of an expired key (before expiry: refused)."""
        self.step()
        now = self.latest_time()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, set(KEYED), lambda v: v.time <= now)
        self.do_reclaim(draft, seq, self.acting(draft, how, actor, "payer", FINANCE))

    @rule(
        pick=PICK,
        seq=SEQ,
        how=HOW,
        actor=ACTOR,
        side=st.sampled_from(("payer", "beneficiary")),
        to_beneficiary=st.booleans(),
        consent=st.sampled_from(("other", "other direction", "own", "forged", "none")),
    )
    def settle_without_institution(
        self, pick: int, seq: int, how: str, actor: str, side: str, to_beneficiary: bool, consent: str
    ) -> None:
        """Payer or beneficiary settles a requested payment after its deadline, with the other's consent or alone."""
        self.step()
        now = self.latest_time()
        draft, seq = self.voucher_for(
            pick, seq, how != ANYTHING, {VoucherStatus.REQUESTED}, lambda v: v.time + RELEASE_WINDOW <= now
        )
        contract, voucher = self.contract(draft), self.payment(draft, seq)
        if right_actor(how) and contract is not None and voucher is not None and voucher.org in ENTERPRISES:
            actor = named(contract.payer if side == "payer" else voucher.org, FINANCE)
        if right_terms(how):
            consent = "other"
        self.do_settle(draft, seq, actor, to_beneficiary, consent)

    @rule(
        pick=PICK,
        seq=SEQ,
        how=HOW,
        actor=ACTOR,
        signer=st.sampled_from(("payee", "forged", "foreign")),
        zero=st.booleans(),
    )
    def anchor_invoice(self, pick: int, seq: int, how: str, actor: str, signer: str, zero: bool) -> None:
        """The payee anchors the e-invoice of a released payment (once)."""
        self.step()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, {VoucherStatus.RELEASED})
        actor = self.acting(draft, how, actor, "payee", FINANCE)
        if right_terms(how):
            signer, zero = "payee", False
        self.do_anchor_invoice(draft, seq, actor, signer, zero)

    @rule(seconds=st.sampled_from(JUMPS))
    def time_jump(self, seconds: int) -> None:
        """The chain's clock moves forward (and a block is mined)."""
        self.step()
        self.do_time_jump(seconds)

    @rule(how=HOW, actor=ACTOR, pause=st.booleans())
    def pause_or_unpause(self, how: str, actor: str, pause: bool) -> None:
        self.step()
        self.do_pause("OPERATOR" if right_actor(how) else actor, pause)

    @rule(org=st.sampled_from((A, B, C, BANK, UNKNOWN_ORG)), active=st.booleans(), how=HOW, actor=ACTOR)
    def suspend_or_reinstate(self, org: int, active: bool, how: str, actor: str) -> None:
        """Governance suspends or reinstates an org (anyone else is refused)."""
        self.step()
        if right_terms(how) and org == UNKNOWN_ORG:
            org = BANK
        self.do_set_active(org, active, "GOVERNANCE" if right_actor(how) else actor)

    @rule(
        org=st.sampled_from((A, B, C, UNKNOWN_ORG)),
        to=st.sampled_from(("other", "escrow", "registry", "zero")),
        how=HOW,
        actor=ACTOR,
    )
    def move_treasury(self, org: int, to: str, how: str, actor: str) -> None:
        """Governance moves an enterprise's treasury, money in flight or not (anyone else, or into the consortium's
        own contracts: refused)."""
        self.step()
        if right_terms(how):
            org, to = (org if org in ENTERPRISES else B), "other"
        self.do_move_treasury(org, to, "GOVERNANCE" if right_actor(how) else actor)

    # ------------------------------------------------------------------ observing the chain
    def observe(self) -> Observation:
        """The chain's state after this step: one batch of calls per step, shared by the invariants."""
        if self._observed is not None and self._observed[0] == self.steps:
            return self._observed[1]
        head = self.w3.eth.block_number
        views = self.views
        calls = [views["balanceOf"].request(head, address) for address in self.tracked]
        calls += [views["totalSupply"].request(head), views["paused"].request(head)]
        calls += [views["orgOf"].request(head, org) for org in ORGS]
        seqs = {}
        for draft in self.drafts:
            no = draft.contract_no
            contract = self.contract(draft)
            # one more than the model knows: it must not exist (inv7 also compares the chain's payment count)
            seqs[no] = range(1, (len(contract.payments) if contract is not None else 0) + 2)
            calls.append(views["agreementOf"].request(head, no))
            calls += [views["stageOf"].request(head, no, index) for index in range(len(draft.stages))]
            for seq in seqs[no]:
                voucher_id = payment_voucher_id(no, seq)
                calls += [
                    views[name].request(head, voucher_id)
                    for name in ("voucherOf", "commitmentOf", "releaseDeadlineOf", "invoiceOf")
                ]
        if head >= self.start_block:
            addresses = [self.registry.address, self.escrow.address]
            query = {"address": addresses, "fromBlock": hex(self.start_block), "toBlock": hex(head)}
            calls.append(("eth_getLogs", [query]))
        results = iter(rpc_batch(self.env.session, self.env.node.rpc_url, calls))
        balances = {address: views["balanceOf"].decode(next(results)) for address in self.tracked}
        supply, paused = views["totalSupply"].decode(next(results)), views["paused"].decode(next(results))
        orgs = {}
        for org in ORGS:
            (treasury, _kind, active), _name = views["orgOf"].decode(next(results))
            orgs[org] = (Web3.to_checksum_address(treasury), active)
        agreements, stages, vouchers, digests, commitments, deadlines, invoices = {}, {}, {}, {}, {}, {}, {}
        for draft in self.drafts:
            no = draft.contract_no
            agreements[no] = tuple(views["agreementOf"].decode(next(results)))
            for index in range(len(draft.stages)):
                digests[no, index], status = views["stageOf"].decode(next(results))
                stages[no, index] = StageStatus(status)
            for seq in seqs[no]:
                amount, status, moment, payee, org = views["voucherOf"].decode(next(results))
                vouchers[no, seq] = (amount, VoucherStatus(status), moment, payee, org)
                commitments[no, seq] = views["commitmentOf"].decode(next(results))
                deadlines[no, seq] = views["releaseDeadlineOf"].decode(next(results))
                invoices[no, seq] = views["invoiceOf"].decode(next(results))
        events: dict[str, list[Any]] = {name: [] for name in EVENTS}
        for entry in next(results, []):
            if bytes.fromhex(entry["topics"][0][2:]) in self.codec.topics:
                event = self.codec.decode(raw_log(entry))  # type: ignore[arg-type]
                events[event.name].append(event.args)
        observation = Observation(
            balances, supply, agreements, stages, vouchers, paused, orgs, events, digests, commitments, deadlines,
            invoices,
        )  # fmt: skip
        self._observed = (self.steps, observation)
        return observation

    def model_vouchers(self) -> Iterator[tuple[ContractModel, VoucherModel]]:
        for contract in self.model.contracts.values():
            for voucher in contract.payments.values():
                yield contract, voucher

    def modelled(self, no: bytes, seq: int) -> tuple[ContractModel | None, VoucherModel | None]:
        contract = self.model.contracts.get(no)
        return contract, (contract.payments.get(seq) if contract is not None else None)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def inv1_escrow_holds_exactly_the_open_payments(self) -> None:
        """1. The escrow's balance is the sum of its FROZEN, PRESENTED and REQUESTED payments."""
        seen = self.observe()
        live = sum(amount for amount, status, *_ in seen.vouchers.values() if status in LIVE)
        assert seen.balances[self.escrow.address] == live, (
            f"escrow holds {seen.balances[self.escrow.address]}, its live vouchers {live}"
        )
        assert live == sum(v.amount for _, v in self.model_vouchers() if v.status in LIVE)

    @invariant()
    def inv2_paid_reclaimed_and_open_add_up_to_what_was_issued(self) -> None:
        """2. Every payment voucher issued froze its amount from the payer's treasury once, and was paid or reclaimed
        at most once and exactly when final: paid + reclaimed + open = issued, payment by payment and in sum."""
        seen = self.observe()
        issued = Counter(bytes(args["voucherId"]) for args in seen.events["PaymentVoucherIssued"])
        paid = Counter(bytes(args["voucherId"]) for args in seen.events["SecondVoucher"])
        reclaimed = Counter(bytes(args["voucherId"]) for args in seen.events["PaymentReclaimed"])
        for (no, seq), (amount, status, *_) in seen.vouchers.items():
            voucher_id = payment_voucher_id(no, seq)
            _, voucher = self.modelled(no, seq)
            assert issued[voucher_id] == (status in ISSUED), f"payment {seq} of {no!r} is {status.name}, issued?"
            assert paid[voucher_id] == (status is VoucherStatus.RELEASED), f"payment {seq} of {no!r} paid twice?"
            assert reclaimed[voucher_id] == (status is VoucherStatus.RECLAIMED)
            assert voucher is None or voucher.pulled == (amount if status in ISSUED else 0)
        total = {
            name: sum(args["amount"] for args in seen.events[name])
            for name in ("PaymentVoucherIssued", "SecondVoucher", "PaymentReclaimed")
        }
        still_open = sum(amount for amount, status, *_ in seen.vouchers.values() if status in LIVE)
        assert total["SecondVoucher"] + total["PaymentReclaimed"] + still_open == total["PaymentVoucherIssued"]

    @invariant()
    def inv3_unpaid_is_the_total_less_every_application_standing(self) -> None:
        """3. A contract's unpaid amount is its total less every application not refused, withdrawn or reclaimed."""
        seen = self.observe()
        for draft in self.drafts:
            no = draft.contract_no
            unpaid = seen.agreements[no][0][7]
            contract = self.contract(draft)
            if contract is None:
                assert unpaid == 0
                continue
            standing = sum(
                amount for (number, _), (amount, status, *_) in seen.vouchers.items()
                if number == no and status in COMMITTED
            )  # fmt: skip
            assert unpaid == contract.total - standing, f"{draft.number}: unpaid {unpaid}, standing {standing}"
            assert unpaid == contract.unpaid
            assert 0 <= unpaid <= contract.total

    @invariant()
    def inv4_money_reaches_only_the_pinned_treasury_or_returns_to_the_payer(self) -> None:
        """4. Every tracked balance is the model's and no token is anywhere else; each second voucher paid the
        treasury pinned for its beneficiary, each reclaim went to a treasury of the payer."""
        seen = self.observe()
        for address in self.tracked:
            assert seen.balances[address] == self.model.balances[address], (
                f"{address} holds {seen.balances[address]}, the model says {self.model.balances[address]}"
            )
        assert seen.supply == self.model.supply
        assert sum(seen.balances.values()) == seen.supply, "tokens reached an address that is no treasury"
        for args in seen.events["SecondVoucher"]:
            contract, voucher = self.modelled(args["contractNo"], args["seq"])
            assert contract is not None
            assert voucher is not None
            assert (args["beneficiaryOrg"], args["beneficiary"]) == (voucher.org, voucher.paid_to)
            assert args["beneficiaryOrg"] != contract.payer
            assert args["beneficiary"] in self.model.former[voucher.org]
        for args in seen.events["PaymentReclaimed"]:
            _, voucher = self.modelled(args["contractNo"], args["seq"])
            assert voucher is not None
            assert args["payerTreasury"] == voucher.paid_to
            assert args["payerTreasury"] in self.model.former[args["payerOrg"]]
        for args in seen.events["SettledWithoutInstitution"]:
            _, voucher = self.modelled(args["contractNo"], args["seq"])
            assert voucher is not None
            final = VoucherStatus.RELEASED if args["toBeneficiary"] else VoucherStatus.RECLAIMED
            assert voucher.status is final

    @invariant()
    def inv5_statuses_only_move_forward(self) -> None:
        """5. Contract, stage and voucher statuses move only along the allowed transitions, and are the model's."""
        seen = self.observe()
        current: dict[tuple[Any, ...], Any] = {}
        expected: dict[tuple[Any, ...], Any] = {}
        for draft in self.drafts:
            no = draft.contract_no
            contract = self.contract(draft)
            current["contract", no] = ContractStatus(seen.agreements[no][0][3])
            expected["contract", no] = contract.status if contract is not None else ContractStatus.NONE
            for index in range(len(draft.stages)):
                current["stage", no, index] = seen.stages[no, index]
                expected["stage", no, index] = contract.stages[index].status if contract else StageStatus.NONE
        for (no, seq), (_, status, *_) in seen.vouchers.items():
            _, voucher = self.modelled(no, seq)
            current["voucher", no, seq] = status
            expected["voucher", no, seq] = voucher.status if voucher is not None else VoucherStatus.NONE
        moves = REACHABLE if self.warming_up else NEXT
        for key, status in current.items():
            before = self.previous.get(key, type(status)(0))
            assert status == before or status in moves[key[0]][before], (
                f"{key[0]} {key[1:]} moved from {before.name} to {status.name}"
            )
            assert status == expected[key], f"{key[0]} {key[1:]} is {status.name}, the model says {expected[key].name}"
        self.previous = current
        self.warming_up = False

    def exits(
        self, contract: ContractModel, voucher: VoucherModel, head: int
    ) -> tuple[bool, list[tuple[str, str, Any]]]:
        """Whether open payment ``voucher`` has an exit without the operator, now or once time passes, and the
        calls (label, sender, request at block ``head``) that take one now."""
        no, seq, active = contract.document.contract_no, voucher.seq, self.model.active
        payer, views = contract.payer, self.views

        def call(label: str, org: int, view: str, *args: Any) -> tuple[str, str, Any]:
            sender = named(org, FINANCE)
            return label, sender, views[view].request(head, *args, sender=self.address(sender))

        if voucher.status is VoucherStatus.APPLIED:
            now = (
                [call("refuse", payer, "refusePaymentApplication", no, seq, keccak(text="exit"))]
                if active[payer]
                else []
            )
            if active[contract.payee]:
                now.append(call("withdraw", contract.payee, "withdrawPaymentApplication", no, seq))
            return bool(now), now
        if voucher.status in KEYED:
            expired = self.passed(voucher.time)
            if expired is False and active[voucher.payee]:
                return True, [call("redeem", voucher.payee, "requestPayment", no, seq, voucher.secret)]
            if expired and active[payer]:
                return True, [call("reclaim", payer, "reclaim", no, seq)]
            # the payer reclaims once the key expires; an expired key of a suspended payer waits for reinstatement
            return bool(active[payer] and expired is not True), []
        passed = self.passed(voucher.time + RELEASE_WINDOW)
        parties = [org for org in (payer, voucher.org) if active[org]]
        if passed is not True:
            return bool(parties), []
        now = []
        for org in parties:
            other = voucher.org if org == payer else payer
            to_beneficiary = org == voucher.org  # in its own favour: valid with or without the other's consent
            cosigner, signature = ZERO_ADDRESS, b""
            if active[other]:
                cosigner = self.address(named(other, FINANCE))
                data = eip712.joint_settlement(
                    self.chain_id, self.escrow.address, payment_voucher_id(no, seq), to_beneficiary
                )
                signature = self.sign(named(other, FINANCE), data)
            now.append(call("settle", org, "settleWithoutInstitution", no, seq, to_beneficiary, cosigner, signature))
        return bool(now), now

    @invariant()
    def inv6_every_open_payment_has_an_exit_without_the_operator(self) -> None:
        """6. While one of its parties' orgs is active, every open payment can be closed without the operator: the
        exits available now are sent as ``eth_call`` from the party's account and must not revert; otherwise the
        exit is a deadline away (the key's expiry, the release deadline)."""
        self.observe()  # the model is the chain's (inv5, inv7): the exits are judged on it
        head = self.w3.eth.block_number
        tries: list[tuple[str, str, Any]] = []
        for contract, voucher in self.model_vouchers():
            if voucher.status not in OPEN:
                continue
            beneficiary = voucher.org if voucher.status is VoucherStatus.REQUESTED else contract.payee
            if not (self.model.active[contract.payer] or self.model.active[beneficiary]):
                STATS["open payments with both parties suspended"] += 1
                continue
            exists, now = self.exits(contract, voucher, head)
            if not exists:
                # the one state an active party cannot leave alone: an expired key while the payer is suspended
                assert voucher.status in KEYED
                assert not self.model.active[contract.payer]
                STATS["expired keys waiting for the payer's reinstatement"] += 1
            tries += [(f"{label} of payment {voucher.seq} of {contract.document.number}", sender, request)
                      for label, sender, request in now]  # fmt: skip
        if not tries:
            return
        replies = rpc_replies(self.env.session, self.env.node.rpc_url, [request for _, _, request in tries])
        for (label, sender, _), reply in zip(tries, replies, strict=True):
            assert "error" not in reply, f"the exit '{label}' by {sender} reverts: {revert_name(reply)}"
            STATS["exits tried"] += 1

    @invariant()
    def inv7_chain_matches_model(self) -> None:
        """7. The rest of the state: pause, orgs and treasuries, counters, stage digests, payment records,
        commitments, release deadlines and invoices."""
        seen = self.observe()
        assert seen.paused == self.model.paused
        assert {org: active for org, (_, active) in seen.orgs.items()} == self.model.active
        assert {org: seen.orgs[org][0] for org in ENTERPRISES} == {
            org: self.model.treasuries[org] for org in ENTERPRISES
        }
        for draft in self.drafts:
            no = draft.contract_no
            contract = self.contract(draft)
            (_, party_a, party_b, _, stage_count, vouched, payments, _), asset = seen.agreements[no]
            if contract is None:
                assert all(digest == b"\x00" * 31 for (number, _), digest in seen.digests.items() if number == no)
                continue
            document = contract.document
            assert (Web3.to_checksum_address(asset), party_a, party_b) == (
                document.asset,
                contract.payer,
                contract.payee,
            )
            assert (stage_count, vouched, payments) == (len(contract.stages), contract.vouched, len(contract.payments))
            for index, stage in enumerate(contract.stages):
                result = stage.result if stage.status in (StageStatus.PENDING, StageStatus.CONFIRMED) else None
                expected = stage_digest(document.stage_terms()[index], document.doc_hash, document.terms_hash, result)
                assert seen.digests[no, index] == expected, f"{draft.number} stage {index}: not its terms and result"
            for seq, voucher in contract.payments.items():
                amount, _, moment, payee, org = seen.vouchers[no, seq]
                assert (amount, moment, payee, org) == (voucher.amount, voucher.time, voucher.payee, voucher.org)
                assert seen.commitments[no, seq] == self.commitment(no, voucher)
                deadline = voucher.time + RELEASE_WINDOW if voucher.status is VoucherStatus.REQUESTED else 0
                assert seen.deadlines[no, seq] == deadline
                assert seen.invoices[no, seq] == (voucher.invoice or b"\x00" * 32)

    def commitment(self, no: bytes, voucher: VoucherModel) -> bytes:
        """What the escrow keeps for the payment's next step: the account hash while APPLIED, the key commitment
        while FROZEN or PRESENTED, the pinned treasury while REQUESTED, nothing once final."""
        if voucher.status is VoucherStatus.APPLIED:
            return voucher.account_hash
        if voucher.status in KEYED:
            assert voucher.secret is not None
            voucher_id = payment_voucher_id(no, voucher.seq)
            return crypto.key_commitment(self.chain_id, self.escrow.address, voucher_id, voucher.secret)
        if voucher.status is VoucherStatus.REQUESTED:
            assert voucher.pinned is not None
            return address_word(voucher.pinned)
        return b"\x00" * 32


def machine() -> InvariantMachine:
    return InvariantMachine()


def report(elapsed: float) -> str:
    lines = [
        f"[invariants] profile {PROFILE}, seed {SEED}: {STATS['steps']} steps, {STATS['transactions']} transactions, "
        f"{STATS['time jump']} time jumps, {STATS['exits tried']} exits tried in {elapsed:.1f} s"
    ]
    for waiting in ("expired keys waiting for the payer's reinstatement", "open payments with both parties suspended"):
        lines.append(f"[invariants]   {waiting}: {STATS[waiting]} (steps)")
    points = ", ".join(
        f"{point} {STATS[f'warm-up to {point} (reached)']}/{STATS[f'warm-up to {point}']}" for point in WARM_UP
    )
    lines.append(f"[invariants]   warm-up points reached: {points}")
    for action in sorted({key.split(":")[0] for key in STATS if ":" in key}):
        refusals = ", ".join(f"{name} {count}" for name, count in REFUSALS[action].most_common())
        lines.append(
            f"[invariants]   {action}: ok {STATS[f'{action}: ok']}, refused {STATS[f'{action}: refused']} "
            f"({STATS[f'{action}: refused (mined)']} mined){': ' + refusals if refusals else ''}"
        )
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT)
def test_invariants_hold_under_random_actions(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """Random action sequences keep invariants 1–7 and the model (``COLLAB_PROFILE=long`` for 10,000+ steps)."""
    InvariantMachine.env = env
    STATS.clear()
    REFUSALS.clear()
    started = time.monotonic()
    try:
        run_state_machine_as_test(seed(SEED)(machine), settings=settings.get_profile(f"collab-invariants-{PROFILE}"))
    finally:
        with capsys.disabled():
            print("\n" + report(time.monotonic() - started))
    assert STATS["steps"] >= MIN_STEPS, f"only {STATS['steps']} steps ran, the profile needs {MIN_STEPS}"
    for action in ("settleWithoutInstitution", "refusePaymentApplication", "withdrawPaymentApplication",
                   "cancelProposal", "rejectBusinessSettlement", "pinBeneficiaryTreasury", "setTreasury"):  # fmt: skip
        assert STATS[f"{action}: ok"] > 0, f"no {action} succeeded: the machine no longer reaches it"


def test_refusal_mined_at_the_key_expiry_is_named(env: Env) -> None:
    """A redemption mined exactly at the key's expiry, sent without estimation, must raise ``PaymentKeyExpired``."""
    snapshot = env.node.snapshot()
    try:
        world = env.world
        flow = Flow(env.deployment)
        draft = sample_contract("INV-EXPIRY")
        seq, key = issued(flow, world, draft, lifetime=600)
        voucher_id = payment_voucher_id(draft.contract_no, seq)
        expiry = env.deployment.escrow.functions.voucherOf(voucher_id).call()[2]
        rpc(env.node.rpc_url, "evm_setNextBlockTimestamp", [expiry - 1])
        env.node.mine()
        rpc(env.node.rpc_url, "evm_setNextBlockTimestamp", [expiry])  # the redemption's block: the key just expired
        call = env.deployment.escrow.functions.requestPayment(draft.contract_no, seq, secret_of(world, draft, seq, key))
        with pytest.raises(errors.PaymentKeyExpired):
            Transactor(env.w3, world.b.account(FINANCE)).transact(call, gas=GAS)
    finally:
        env.node.revert(snapshot)
        env.world.admin.resync()
