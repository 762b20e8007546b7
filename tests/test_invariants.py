"""Adversarial suite: random sequences of every contract action, by right and wrong actors, checked against a model.

A hypothesis state machine drives the whole flow (S1–S8.3) on one anvil node: proposals, countersignatures, stage
results, business settlement, payment applications and vouchers, redemption, assignment to Party C, release, reclaim,
e-invoices, pause/unpause, suspension of orgs by governance and jumps of the chain clock past key expiries. Each action
is sent by the department that owns it or, at random, by a wrong one (another department, another org, Party C, the
institution's operator, governance, an account bound to no org), with right or wrong signatures, documents, secrets,
amounts and indexes.

Each example starts with 1–3 contract drafts of 1–2 stages taken to random points of the flow; then rules run each
action with a random mix of right and wrong actor and terms, and an ``advance`` rule takes the next step of a
contract's flow (mostly right, sometimes with wrong terms or by a wrong actor) so that sequences reach deep states.

A Python model predicts every outcome. An action the model expects to succeed must succeed and updates the model; a
refused action must raise the named :mod:`collab_py.chain.errors` exception of one of the conditions the model finds
violated (never ``UnknownRevert``, ``Panic``, a plain reason string or a Python error) and must change nothing.
After each step the invariants compare the chain with the model.

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
from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import ContractStatus, Department, StageStatus, VoucherStatus
from collab_py.chain.logs import EventCodec
from collab_py.chain.transactor import FeeOracle, Transactor
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode, rpc
from collab_py.devnet.parties import Party, fund_on_dev_node
from collab_py.devnet.sandbox import sample_contract
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.types import payment_voucher_id
from collab_py.services import BusinessService, FinanceService, InstitutionService
from collab_py.services.reader import ChainReader
from support import BANK_ACCOUNT, C_BANK_ACCOUNT, World, issued, secret_of

# ---------------------------------------------------------------------------------------------------------- profiles
PROFILE = os.environ.get("COLLAB_PROFILE", "ci")
_COMMON: dict[str, Any] = {
    "deadline": None,
    "derandomize": False,
    "print_blob": True,
    "suppress_health_check": list(HealthCheck),
}
#: CI: about 3,500 steps in 1–2 minutes on two cores. Long: about 20,000 steps.
settings.register_profile("collab-invariants-ci", max_examples=100, stateful_step_count=40, **_COMMON)
settings.register_profile("collab-invariants-long", max_examples=500, stateful_step_count=50, **_COMMON)
#: Steps (rules run, the warm-up included) each profile must reach.
MIN_STEPS = 10_000 if PROFILE == "long" else 1_000
#: pytest-timeout's default (300 s) leaves no room for shrinking a failure (up to 5 minutes) or the long profile.
TIMEOUT = 4 * 3600 if PROFILE == "long" else 900
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
UNLIMITED = 2**256 - 1

DAY = 24 * 3600
MAX_KEY_LIFETIME = 366 * DAY
#: Seconds a transaction may land after the latest block: closer expiries are "can't tell" in the model.
MARGIN = 60
LIFETIMES = (0, 300, 7 * DAY, MAX_KEY_LIFETIME, MAX_KEY_LIFETIME + 3600)
JUMPS = (30, 600, 8 * DAY, 367 * DAY)
#: Gas limit of transactions sent without estimation (every third one): their refusals are mined and decoded.
GAS = 1_500_000

LIVE = frozenset({VoucherStatus.FROZEN, VoucherStatus.PRESENTED, VoucherStatus.REQUESTED})
ISSUED = LIVE | {VoucherStatus.RELEASED, VoucherStatus.RECLAIMED}
_CS, _SS, _VS = ContractStatus, StageStatus, VoucherStatus
#: Allowed moves of one transaction; anything else (but staying) is a status going backwards or jumping.
CONTRACT_NEXT = {
    _CS.NONE: {_CS.PROPOSED},
    _CS.PROPOSED: {_CS.SIGNED},
    _CS.SIGNED: {_CS.SETTLEMENT_REQUESTED},
    _CS.SETTLEMENT_REQUESTED: {_CS.SETTLED},
    _CS.SETTLED: set(),
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
    _VS.APPLIED: {_VS.FROZEN},
    _VS.FROZEN: {_VS.PRESENTED, _VS.REQUESTED, _VS.RECLAIMED},
    _VS.PRESENTED: {_VS.REQUESTED, _VS.RECLAIMED},
    _VS.REQUESTED: {_VS.RELEASED},
    _VS.RELEASED: set(),
    _VS.RECLAIMED: set(),
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
    """The session's deployment with B and C funded, and the accounts of every actor."""

    world: World
    node: AnvilNode
    w3: Web3
    session: requests.Session
    deployment: Deployment
    accounts: dict[str, LocalAccount]
    reader: ChainReader
    parties: dict[int, Party]


@pytest.fixture(scope="module")
def env(node: AnvilNode, session_world: World) -> Iterator[Env]:
    """B's and C's treasuries funded (only B's approves the escrow) and an unbound account; undone afterwards.

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
    fund_on_dev_node(w3, [outsider])
    operator = Transactor(w3, world.bank.account(OPERATOR))
    asset = deployment.asset.functions
    operator.transact(asset.mint(world.b.treasury.address, B_FUNDS))
    operator.transact(asset.mint(world.c.treasury.address, C_FUNDS))
    Transactor(w3, world.b.treasury).transact(asset.approve(deployment.escrow.address, UNLIMITED))
    parties = {party.org_id: party for party in world.parties}
    accounts = {name: parties[org].account(dept) for name, (org, dept) in MEMBERS.items()}
    accounts |= {"GOVERNANCE": world.admin.account, "OUTSIDER": outsider}
    yield Env(world, node, w3, session, deployment, accounts, ChainReader(deployment), parties)
    node.revert(snapshot)
    world.admin.resync()


# ---------------------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class View:
    """A view function called over raw JSON-RPC: web3 spends milliseconds per call on ABI handling, the invariants
    read some thirty values after every step."""

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

    def request(self, block: int, *args: Any) -> tuple[str, list[Any]]:
        data = self.selector + abi_encode(list(self.inputs), list(args))
        return "eth_call", [{"to": self.address, "data": "0x" + data.hex()}, hex(block)]

    def decode(self, result: str) -> Any:
        values = abi_decode(list(self.outputs), bytes.fromhex(result.removeprefix("0x")))
        return values[0] if len(values) == 1 else values


def rpc_batch(session: requests.Session, url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """The results of ``calls`` sent as one JSON-RPC batch."""
    body = [
        {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
        for index, (method, params) in enumerate(calls)
    ]
    replies = sorted(session.post(url, json=body, timeout=30).json(), key=lambda reply: reply["id"])
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


# ---------------------------------------------------------------------------------------------------------- the model
@dataclass
class VoucherModel:
    """One payment: its application, then its voucher and frozen funds."""

    seq: int
    amount: int
    status: VoucherStatus = VoucherStatus.APPLIED
    expiry: int = 0
    secret: bytes | None = None
    beneficiary: int = 0
    presenter: int = 0
    pulled: int = 0  # amount taken from the payer's treasury when the voucher was issued
    invoice: bytes | None = None


@dataclass
class StageModel:
    status: StageStatus = StageStatus.OPEN
    result: bytes | None = None


@dataclass
class ContractModel:
    draft: ContractDraft
    payer: int
    payee: int
    status: ContractStatus = ContractStatus.PROPOSED
    stages: list[StageModel] = field(default_factory=list)
    payments: dict[int, VoucherModel] = field(default_factory=dict)
    committed: int = 0

    @property
    def total(self) -> int:
        return self.draft.total

    @property
    def unpaid(self) -> int:
        return self.total - self.committed

    @property
    def vouched(self) -> int:
        return sum(stage.status is StageStatus.CONFIRMED for stage in self.stages)


@dataclass
class Model:
    balances: dict[str, int]
    allowances: dict[int, int]
    supply: int
    active: dict[int, bool] = field(default_factory=lambda: dict.fromkeys(ORGS, True))
    paused: bool = False
    contracts: dict[bytes, ContractModel] = field(default_factory=dict)


@dataclass
class Observation:
    """What the chain holds after a step."""

    balances: dict[str, int]
    supply: int
    agreements: dict[bytes, tuple[Any, ...]]
    stages: dict[tuple[bytes, int], StageStatus]
    vouchers: dict[tuple[bytes, int], tuple[int, VoucherStatus, int, int, int]]
    paused: bool
    active: dict[int, bool]
    events: dict[str, list[Any]]
    digests: dict[tuple[bytes, int], bytes]  # of each stage's terms and pending or confirmed result
    commitments: dict[tuple[bytes, int], bytes]  # of each payment key's secret
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


# ---------------------------------------------------------------------------------------------------------- strategies
def _any_payment(*statuses: VoucherStatus) -> Callable[[ContractModel | None], bool]:
    return lambda c: c is not None and any(v.status in statuses for v in c.payments.values())


#: Points of the flow the warm-up takes a contract to, so that every step of it is tried from the start.
WARM_UP: dict[str, Callable[[ContractModel | None], bool]] = {
    "draft": lambda c: True,
    "proposed": lambda c: c is not None,
    "signed": lambda c: c is not None and c.status is ContractStatus.SIGNED,
    "stage pending": lambda c: c is not None and any(s.status is StageStatus.PENDING for s in c.stages),
    "settlement requested": lambda c: c is not None and c.status is ContractStatus.SETTLEMENT_REQUESTED,
    "settled": lambda c: c is not None and c.status is ContractStatus.SETTLED,
    "applied": _any_payment(VoucherStatus.APPLIED),
    "frozen": _any_payment(VoucherStatus.FROZEN),
    "presented": _any_payment(VoucherStatus.PRESENTED, VoucherStatus.REQUESTED),
    "released": _any_payment(VoucherStatus.RELEASED),
}

PICK = st.integers(0, 5)
SEQ = st.integers(0, 4)
#: How a rule picks its actor and terms: all right; a random actor with the right terms; the right actor with random
#: terms; both random (and any contract or payment, not one in the state the action needs).
ANYTHING = "anything"
HOW = st.sampled_from(("right", "wrong actor", "wrong terms", ANYTHING))
ACTOR = st.sampled_from(ACTORS)
SIG = st.sampled_from(("own", "foreign", "forged"))
INDEX = st.integers(0, 2)
AMOUNTS = st.lists(st.lists(st.integers(1, 3_000_00), min_size=1, max_size=2), min_size=1, max_size=3)


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
        self.treasury = {org: party.treasury.address for org, party in env.parties.items()}
        self.tracked = {**{f"treasury {org}": address for org, address in self.treasury.items()}}
        self.tracked["escrow"] = self.escrow.address
        token = self.token.functions
        self.model = Model(
            balances={address: token.balanceOf(address).call() for address in self.tracked.values()},
            allowances={org: token.allowance(self.treasury[org], self.escrow.address).call() for org in ENTERPRISES},
            supply=token.totalSupply().call(),
        )
        self.drafts: list[ContractDraft] = []
        self.start_block = self.w3.eth.block_number + 1
        self.steps = 0
        self.sent = 0
        self.warming_up = False
        self._observed: tuple[int, Observation] | None = None
        self.previous: dict[tuple[Any, ...], Any] = {}
        self.codec = EventCodec([self.escrow.abi], ["FundsFrozen", "SecondVoucher", "PaymentReclaimed"])
        self.views = {
            name: View.of(contract, name)
            for contract, names in (
                (self.token, ("balanceOf", "totalSupply")),
                (self.escrow, ("paused", "voucherOf", "keyCommitmentOf", "invoiceOf")),
                (self.registry, ("orgOf", "agreementOf", "stageOf")),
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
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def expired(self, expiry: int) -> bool | None:
        """Whether the next transaction runs at or after ``expiry``; None when it is too close to tell."""
        latest = self.latest_time()
        if latest >= expiry:
            return True
        if latest + MARGIN < expiry:
            return False
        return None

    # ------------------------------------------------------------------ conditions, as the contracts check them
    def department_errors(self, name: str, dept: Department) -> tuple[set[str], int | None]:
        """``requireDepartment``: the refusals for ``name`` acting for ``dept``, and the org it acts for."""
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
        """``_requireSignature``: ``signer`` bound to ``dept`` of ``org`` and the signature its own."""
        if MEMBERS.get(signer) != (org, dept):
            return {"UnauthorizedSigner"}
        return set() if by == signer else {"InvalidSignature"}

    @staticmethod
    def signature_by(expected: str, variant: str) -> tuple[str, str]:
        """(signer named in the call, account that really signs) for the signature ``expected`` should give."""
        if variant == "own":
            return expected, expected
        if variant == "forged":
            return expected, "OUTSIDER"
        return other_department(expected), other_department(expected)

    def key_time_errors(self, voucher: VoucherModel, violated: set[str], maybe: set[str]) -> None:
        if voucher.status not in LIVE:
            return
        expired = self.expired(voucher.expiry)
        if expired:
            violated.add("PaymentKeyExpired")
        elif expired is None:
            maybe.add("PaymentKeyExpired")

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
            preferred = [(d, seq) for d, seq in candidates if prefer is not None and prefer(self.voucher(d, seq))]
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

    def voucher(self, draft: ContractDraft, seq: int) -> VoucherModel | None:
        contract = self.contract(draft)
        return None if contract is None else contract.payments.get(seq)

    # ------------------------------------------------------------------ S2: propose and countersign
    def do_propose(self, draft: ContractDraft, actor: str, party_a: int, sig: str) -> None:
        no = draft.contract_no
        violated, party_b = self.department_errors(actor, BUSINESS)
        claimed = party_b if party_b is not None else B
        if no in self.model.contracts:
            violated.add("DuplicateContractNumber")
        if party_a == claimed:
            violated.add("InvalidCounterparty")
        if party_a not in ENTERPRISES:
            violated.add("UnknownOrg")
        elif not self.model.active[party_a]:
            violated.add("OrgSuspended")
        signer, by = self.signature_by(actor, sig)
        violated |= self.signer_errors(signer, by, claimed, BUSINESS)
        if sig == "own" and MEMBERS.get(actor) == (claimed, BUSINESS):
            call = self.business[claimed].prepare_propose(draft, party_a).call
        else:
            code = eip712.digital_code(self.chain_id, self.registry.address, no, claimed, draft.doc_hash)
            terms = (no, party_a, draft.doc_hash, self.token.address, [stage.terms() for stage in draft.stages])
            call = self.registry.functions.proposeContract(terms, self.address(signer), self.sign(by, code))
        if self.attempt("proposeContract", actor, call, violated) is not None:
            self.model.contracts[no] = ContractModel(
                draft, payer=party_a, payee=claimed, stages=[StageModel() for _ in draft.stages]
            )

    def do_countersign(self, draft: ContractDraft, actor: str, tampered: bool, sig: str) -> None:
        no = draft.contract_no
        contract = self.contract(draft)
        payer = contract.payer if contract is not None else A
        signer, by = self.signature_by(named(payer, BUSINESS), sig)
        document = draft.text + (" (amended by hand)" if tampered else "")
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, payer, BUSINESS)
            if contract.status is not ContractStatus.PROPOSED:
                violated.add("UnexpectedContractStatus")
            if tampered:
                violated.add("DocumentHashMismatch")
            violated |= self.signer_errors(signer, by, payer, BUSINESS)
        if sig == "own":
            call = self.business[payer].prepare_countersign(no, document.encode()).call
        else:
            doc_hash = keccak(text=document)
            code = eip712.digital_code(self.chain_id, self.registry.address, no, payer, doc_hash)
            call = self.registry.functions.signContract(no, doc_hash, self.address(signer), self.sign(by, code))
        if self.attempt("signContract", actor, call, violated) is not None:
            assert contract is not None
            contract.status = ContractStatus.SIGNED

    # ------------------------------------------------------------------ S3: stages
    @staticmethod
    def stage_terms(draft: ContractDraft, index: int) -> tuple[bytes, int]:
        if index < len(draft.stages):
            return draft.stages[index].terms()
        return keccak(text=f"no stage {index}"), 1

    def do_submit(
        self, draft: ContractDraft, index: int, actor: str, wrong_spec: bool, sig: str, result_no: int
    ) -> None:
        no = draft.contract_no
        contract = self.contract(draft)
        payee = contract.payee if contract is not None else B
        spec_hash, amount = self.stage_terms(draft, index)
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
        if sig == "own" and not wrong_spec and index < len(draft.stages):
            call = self.business[payee].prepare_submit_stage(draft, index, result_hash).call
        else:
            feedback = eip712.stage_feedback(
                self.chain_id,
                self.registry.address,
                contract_no=no,
                org_id=payee,
                doc_hash=draft.doc_hash,
                stage_index=index,
                spec_hash=spec_hash,
                result_hash=result_hash,
            )
            call = self.registry.functions.submitStageResult(
                no, index, (spec_hash, amount), result_hash, self.address(signer), self.sign(by, feedback)
            )
        if self.attempt("submitStageResult", actor, call, violated) is not None:
            assert contract is not None
            contract.stages[index] = StageModel(StageStatus.PENDING, result_hash)

    def do_decide(self, draft: ContractDraft, index: int, actor: str, result_ok: bool, confirm: bool) -> None:
        """Party A confirms (first voucher) or rejects a pending stage result."""
        no = draft.contract_no
        contract = self.contract(draft)
        payer = contract.payer if contract is not None else A
        terms = self.stage_terms(draft, index)
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
        if confirm and index < len(draft.stages):
            call = self.business[payer].prepare_confirm_stage(draft, index, result_hash).call
        elif confirm:
            call = self.registry.functions.confirmStageResult(no, index, terms, result_hash)
        else:
            call = self.registry.functions.rejectStageResult(no, index, terms, result_hash, keccak(text="late"))
        action = "confirmStageResult" if confirm else "rejectStageResult"
        if self.attempt(action, actor, call, violated) is not None:
            assert contract is not None
            if confirm:
                contract.stages[index].status = StageStatus.CONFIRMED
            else:
                contract.stages[index] = StageModel(StageStatus.REJECTED, None)

    # ------------------------------------------------------------------ S4: business settlement
    def do_apply_settlement(self, draft: ContractDraft, actor: str) -> None:
        contract = self.contract(draft)
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, contract.payee, BUSINESS)
            if contract.status is not ContractStatus.SIGNED:
                violated.add("UnexpectedContractStatus")
            if contract.vouched != len(contract.stages):
                violated.add("StagesNotVouched")
        call = self.business[B].prepare_apply_settlement(draft.contract_no).call
        if self.attempt("applyBusinessSettlement", actor, call, violated) is not None:
            assert contract is not None
            contract.status = ContractStatus.SETTLEMENT_REQUESTED

    def do_approve_settlement(self, draft: ContractDraft, actor: str) -> None:
        contract = self.contract(draft)
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, contract.payer, BUSINESS)
            if contract.status is not ContractStatus.SETTLEMENT_REQUESTED:
                violated.add("UnexpectedContractStatus")
        call = self.business[A].prepare_approve_settlement(draft.contract_no).call
        if self.attempt("approveBusinessSettlement", actor, call, violated) is not None:
            assert contract is not None
            contract.status = ContractStatus.SETTLED

    # ------------------------------------------------------------------ S5: payment application and voucher
    def do_apply_payment(self, draft: ContractDraft, actor: str, kind: str, percent: int) -> None:
        no = draft.contract_no
        contract = self.contract(draft)
        payer, payee = (contract.payer, contract.payee) if contract is not None else (A, B)
        unpaid = contract.unpaid if contract is not None else draft.total
        amount = {"part": max(1, unpaid * percent // 100), "all": unpaid, "over": unpaid + 1, "zero": 0}[kind]
        seq = len(contract.payments) + 1 if contract is not None else 1
        if contract is None:
            violated = {"UnknownContract"}
        else:
            violated = self.member_errors(actor, payee, FINANCE)
            if contract.status is not ContractStatus.SETTLED:
                violated.add("UnexpectedContractStatus")
            if amount == 0:
                violated.add("InvalidAmount")
            if amount > unpaid:
                violated.add("PaymentExceedsUnpaid")
        payer_key = self.env.parties[payer].encryption_key.public_key
        call = self.finance[payee].prepare_apply_payment(no, seq, amount, BANK_ACCOUNT, payer_key).call
        receipt = self.attempt("applyForPayment", actor, call, violated)
        if receipt is not None:
            assert contract is not None
            (applied,) = self.registry.events.PaymentApplied().process_receipt(receipt, errors=DISCARD)
            assert (applied.args.seq, applied.args.amount) == (seq, amount)
            assert applied.args.voucherId == payment_voucher_id(no, seq)
            contract.payments[seq] = VoucherModel(seq, amount)

    def do_issue(self, draft: ContractDraft, seq: int, actor: str, lifetime: int, variant: str) -> None:
        no = draft.contract_no
        contract = self.contract(draft)
        voucher = self.voucher(draft, seq)
        payer, payee = (contract.payer, contract.payee) if contract is not None else (A, B)
        applied = voucher.amount if voucher is not None else 1
        amount = {"applied": applied, "zero_key": applied, "more": applied + 1, "less": applied - 1}[variant]
        latest = self.latest_time()
        expiry = latest + lifetime
        violated: set[str] = set()
        maybe: set[str] = set()
        if contract is None:
            violated.add("UnknownContract")
        else:
            violated |= self.member_errors(actor, payer, FINANCE)
            if amount > contract.unpaid:
                violated.add("PaymentExceedsUnpaid")
            if variant == "zero_key":
                violated.add("InvalidPaymentKey")
            # valid iff now < expiry <= now + MAX, now being the next block's time in [latest, latest + MARGIN]
            if lifetime <= 0 or lifetime > MAX_KEY_LIFETIME + MARGIN:
                violated.add("InvalidExpiry")
            elif lifetime <= MARGIN:
                maybe.add("InvalidExpiry")
            if self.model.paused:
                violated.add("EnforcedPause")
            if voucher is None:
                violated.add("UnknownVoucher")
            elif voucher.status is not VoucherStatus.APPLIED:
                violated.add("PaymentAlreadyIssued")
            elif amount != voucher.amount:
                violated.add("PaymentAmountMismatch")
            if self.model.allowances[payer] < amount:
                violated.add("ERC20InsufficientAllowance")
            if self.model.balances[self.treasury[payer]] < amount:
                violated.add("ERC20InsufficientBalance")
        prepared, sealed = self.finance[payer].prepare_issue_voucher(
            no,
            seq,
            amount=max(amount, 1),  # the service refuses to seal a key for nothing: the zero is patched in below
            bank_account=BANK_ACCOUNT,
            expiry=expiry,
            payee_key=self.env.parties[payee].encryption_key.public_key,
            institution_key=self.env.parties[BANK].encryption_key.public_key,
        )
        call = prepared.call
        if variant == "zero_key" or amount == 0:
            terms = list(call.args[2])
            terms[0] = amount
            if variant == "zero_key":
                terms[3] = b"\x00" * 32
            call = self.registry.functions.issuePaymentVoucher(no, seq, tuple(terms))
        receipt = self.attempt("issuePaymentVoucher", actor, call, violated, maybe)
        if receipt is None:
            return
        assert contract is not None
        assert voucher is not None
        (frozen,) = self.escrow.events.FundsFrozen().process_receipt(receipt, errors=DISCARD)
        assert (frozen.args.amount, frozen.args.payerTreasury) == (amount, self.treasury[payer])
        binding = crypto.binding(self.chain_id, self.escrow.address, payment_voucher_id(no, seq))
        key = crypto.open_sealed(self.env.parties[payee].encryption_key, sealed, crypto.PaymentKey, binding)
        voucher.status = VoucherStatus.FROZEN
        voucher.expiry = expiry
        voucher.secret = key.secret
        voucher.pulled = amount
        contract.committed += amount
        self.model.balances[self.treasury[payer]] -= amount
        self.model.balances[self.escrow.address] += amount

    # ------------------------------------------------------------------ S6: redeem, present, assign, release, reclaim
    def secret_for(self, voucher: VoucherModel | None, secret_ok: bool) -> bytes:
        if secret_ok and voucher is not None and voucher.secret is not None:
            return voucher.secret
        return keccak(text="a guessed secret")

    def voucher_errors(self, voucher: VoucherModel | None) -> set[str]:
        """``whenNotPaused`` and ``_voucher`` (steps of the escrow that move funds)."""
        violated = set()
        if self.model.paused:
            violated.add("EnforcedPause")
        if voucher is None:
            violated.add("UnknownVoucher")
        return violated

    def do_redeem(self, draft: ContractDraft, seq: int, actor: str, secret_ok: bool) -> None:
        contract = self.contract(draft)
        voucher = self.voucher(draft, seq)
        secret = self.secret_for(voucher, secret_ok)
        violated = self.voucher_errors(voucher)
        maybe: set[str] = set()
        if contract is not None and voucher is not None:
            violated |= self.member_errors(actor, contract.payee, FINANCE)
            if voucher.status not in (VoucherStatus.FROZEN, VoucherStatus.PRESENTED):
                violated.add("UnexpectedVoucherStatus")
            self.key_time_errors(voucher, violated, maybe)
            if secret != voucher.secret:
                violated.add("WrongSecret")
        call = self.finance[B].prepare_redeem(draft.contract_no, seq, secret).call
        if self.attempt("requestPayment", actor, call, violated, maybe) is not None:
            assert contract is not None
            assert voucher is not None
            voucher.status = VoucherStatus.REQUESTED
            voucher.beneficiary = contract.payee

    def do_present(self, draft: ContractDraft, seq: int, actor: str, secret_ok: bool) -> None:
        contract = self.contract(draft)
        voucher = self.voucher(draft, seq)
        secret = self.secret_for(voucher, secret_ok)
        violated = self.voucher_errors(voucher)
        maybe: set[str] = set()
        presenter = None
        if contract is not None and voucher is not None:
            found, presenter = self.department_errors(actor, FINANCE)
            violated |= found
            if presenter in (contract.payer, contract.payee):
                violated.add("InvalidAssignee")
            if voucher.status is not VoucherStatus.FROZEN:
                violated.add("UnexpectedVoucherStatus")
            self.key_time_errors(voucher, violated, maybe)
            if secret != voucher.secret:
                violated.add("WrongSecret")
        call = self.escrow.functions.presentPaymentKey(draft.contract_no, seq, secret)
        if self.attempt("presentPaymentKey", actor, call, violated, maybe) is not None:
            assert voucher is not None
            assert presenter is not None
            voucher.status = VoucherStatus.PRESENTED
            voucher.presenter = presenter

    def do_confirm_assignment(
        self, draft: ContractDraft, seq: int, actor: str, signer_kind: str, assignee_kind: str
    ) -> None:
        no = draft.contract_no
        contract = self.contract(draft)
        voucher = self.voucher(draft, seq)
        payee = contract.payee if contract is not None else B
        presenter = voucher.presenter if voucher is not None else 0
        outsider_org = next(
            (org for org in ENTERPRISES if contract is not None and org not in (contract.payer, payee, presenter)),
            UNKNOWN_ORG,
        )
        assignee = {"presenter": presenter, "payee": payee, "other": outsider_org}[assignee_kind]
        payee_finance = named(payee, FINANCE)
        signer, by = {
            "payee": (payee_finance, payee_finance),
            "presenter": (named(presenter, FINANCE), named(presenter, FINANCE)) if presenter else ("C.FINANCE",) * 2,
            "payee_business": (named(payee, BUSINESS), named(payee, BUSINESS)),
            "forged": (payee_finance, "OUTSIDER"),
        }[signer_kind]
        voucher_id = payment_voucher_id(no, seq)
        bank_hash = crypto.bank_account_hash(C_BANK_ACCOUNT, b"\x07" * 32)
        data = eip712.assignment_confirmation(self.chain_id, self.escrow.address, voucher_id, assignee, bank_hash)
        violated = self.voucher_errors(voucher)
        maybe: set[str] = set()
        if contract is not None and voucher is not None:
            found, caller = self.department_errors(actor, FINANCE)
            violated |= found
            if caller is not None and caller not in (payee, presenter):
                violated.add("WrongParty")
            if voucher.status is not VoucherStatus.PRESENTED:
                violated.add("UnexpectedVoucherStatus")
            self.key_time_errors(voucher, violated, maybe)
            if assignee != presenter:
                violated.add("AssigneeMismatch")
            violated |= self.member_errors(signer, payee, FINANCE)
            if by != signer:
                violated.add("InvalidSignature")
        call = self.escrow.functions.confirmAssignment(
            no, seq, assignee, bank_hash, b"\x05" * 96, self.address(signer), self.sign(by, data)
        )
        if self.attempt("confirmAssignment", actor, call, violated, maybe) is not None:
            assert voucher is not None
            voucher.status = VoucherStatus.REQUESTED
            voucher.beneficiary = assignee

    def do_release(self, draft: ContractDraft, seq: int, actor: str) -> None:
        no = draft.contract_no
        contract = self.contract(draft)
        voucher = self.voucher(draft, seq)
        violated = self.member_errors(actor, BANK, OPERATOR) | self.voucher_errors(voucher)
        if voucher is not None and voucher.status is not VoucherStatus.REQUESTED:
            violated.add("UnexpectedVoucherStatus")
        receipt = self.attempt("release", actor, self.operator.prepare_release(no, seq).call, violated)
        if receipt is None:
            return
        assert contract is not None
        assert voucher is not None
        (second,) = self.escrow.events.SecondVoucher().process_receipt(receipt, errors=DISCARD)
        beneficiary = self.treasury[voucher.beneficiary]
        assert second.args.voucherId == payment_voucher_id(no, seq)
        assert (second.args.contractNo, second.args.seq, second.args.amount) == (no, seq, voucher.amount)
        assert (second.args.payerOrg, second.args.payeeOrg) == (contract.payer, contract.payee)
        assert (second.args.beneficiaryOrg, second.args.beneficiary) == (voucher.beneficiary, beneficiary)
        voucher.status = VoucherStatus.RELEASED
        self.model.balances[self.escrow.address] -= voucher.amount
        self.model.balances[beneficiary] += voucher.amount

    def do_reclaim(self, draft: ContractDraft, seq: int, actor: str) -> None:
        no = draft.contract_no
        contract = self.contract(draft)
        voucher = self.voucher(draft, seq)
        violated = self.voucher_errors(voucher)
        maybe: set[str] = set()
        if contract is not None and voucher is not None:
            violated |= self.member_errors(actor, contract.payer, FINANCE)
            if voucher.status not in (VoucherStatus.FROZEN, VoucherStatus.PRESENTED):
                violated.add("UnexpectedVoucherStatus")
            else:
                expired = self.expired(voucher.expiry)
                if expired is False:
                    violated.add("PaymentKeyNotExpired")
                elif expired is None:
                    maybe.add("PaymentKeyNotExpired")
        receipt = self.attempt("reclaim", actor, self.escrow.functions.reclaim(no, seq), violated, maybe)
        if receipt is None:
            return
        assert contract is not None
        assert voucher is not None
        (reclaimed,) = self.escrow.events.PaymentReclaimed().process_receipt(receipt, errors=DISCARD)
        payer_treasury = self.treasury[contract.payer]
        assert (reclaimed.args.payerTreasury, reclaimed.args.amount) == (payer_treasury, voucher.amount)
        voucher.status = VoucherStatus.RECLAIMED
        contract.committed -= voucher.amount
        self.model.balances[self.escrow.address] -= voucher.amount
        self.model.balances[payer_treasury] += voucher.amount

    # ------------------------------------------------------------------ S8.3: e-invoice
    def do_anchor_invoice(self, draft: ContractDraft, seq: int, actor: str, signer_kind: str, zero: bool) -> None:
        no = draft.contract_no
        contract = self.contract(draft)
        voucher = self.voucher(draft, seq)
        payee = contract.payee if contract is not None else B
        invoice_hash = b"\x00" * 32 if zero else keccak(text=f"invoice of {draft.number} payment {seq}")
        payee_finance = named(payee, FINANCE)
        signer, by = {
            "payee": (payee_finance, payee_finance),
            "forged": (payee_finance, "OUTSIDER"),
            "foreign": (other_department(payee_finance),) * 2,
        }[signer_kind]
        violated = set() if voucher is not None else {"UnknownVoucher"}
        if contract is not None and voucher is not None:
            violated |= self.member_errors(actor, payee, FINANCE)
            if voucher.status is not VoucherStatus.RELEASED:
                violated.add("UnexpectedVoucherStatus")
            if voucher.invoice is not None:
                violated.add("InvoiceAlreadyAnchored")
            if zero:
                violated.add("InvalidInvoiceHash")
            if MEMBERS.get(signer) != (payee, FINANCE) or not self.model.active[payee]:
                violated.add("UnauthorizedSigner")
            elif by != signer:
                violated.add("InvalidSignature")
        data = eip712.invoice(self.chain_id, self.escrow.address, payment_voucher_id(no, seq), invoice_hash)
        call = (
            self.finance[payee]
            .prepare_anchor_invoice(
                no,
                seq,
                invoice_hash=invoice_hash,
                ciphertext=b"\x09" * 64,
                signature=self.sign(by, data),
                signer=self.address(signer),
            )
            .call
        )
        if self.attempt("anchorInvoice", actor, call, violated) is not None:
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

    def do_time_jump(self, seconds: int) -> None:
        self.env.node.increase_time(seconds)
        STATS["time jump"] += 1

    # ------------------------------------------------------------------ the next right step of a contract
    def advance_contract(self, draft: ContractDraft, choice: int) -> None:
        """Takes the next step of the flow for ``draft`` (depth for the search).

        Four times in six the department that owns the step sends it right; once its terms are wrong (a forged or
        foreign signature, a tampered document, a wrong spec, result, secret, amount, lifetime or assignee); once
        another actor sends it. The next advance then takes the step again.
        """
        twist = ("right", "right", "right", "right", "wrong terms", "wrong actor")[choice % 6]
        wrong = twist == "wrong terms"
        odd = choice % 12 >= 6  # which wrong terms

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
            if wrong and odd:
                party_a = proposer  # InvalidCounterparty
            return self.do_propose(
                draft, by(named(proposer, BUSINESS)), party_a, "forged" if wrong and not odd else "own"
            )
        payer_business, payee_business = named(contract.payer, BUSINESS), named(contract.payee, BUSINESS)
        payer_finance, payee_finance = named(contract.payer, FINANCE), named(contract.payee, FINANCE)
        if contract.status is ContractStatus.PROPOSED:
            tampered = wrong and odd
            return self.do_countersign(draft, by(payer_business), tampered, "forged" if wrong and not odd else "own")
        if contract.status is ContractStatus.SIGNED:
            for index, stage in enumerate(contract.stages):
                if stage.status in (StageStatus.OPEN, StageStatus.REJECTED):
                    wrong_spec = wrong and odd
                    sig = "forged" if wrong and not odd else "own"
                    return self.do_submit(draft, index, by(payee_business), wrong_spec, sig, choice)
                if stage.status is StageStatus.PENDING:
                    return self.do_decide(draft, index, by(payer_business), not wrong, confirm=choice % 5 != 0)
            return self.do_apply_settlement(draft, by(payee_business))
        if contract.status is ContractStatus.SETTLEMENT_REQUESTED:
            return self.do_approve_settlement(draft, by(payer_business))
        payments = contract.payments.values()
        third = next(org for org in ENTERPRISES if org not in (contract.payer, contract.payee))
        for voucher in payments:
            if voucher.status is VoucherStatus.REQUESTED:
                return self.do_release(draft, voucher.seq, by("OPERATOR"))
        for voucher in payments:
            if voucher.status in (VoucherStatus.FROZEN, VoucherStatus.PRESENTED):
                expired = self.expired(voucher.expiry)
                if expired:
                    return self.do_reclaim(draft, voucher.seq, by(payer_finance))
                if expired is None:
                    return self.do_time_jump(2 * MARGIN)
                if choice % 5 == 4:  # let the key lapse: the payer reclaims next
                    return self.do_time_jump(voucher.expiry - self.latest_time() + 1)
                if voucher.status is VoucherStatus.PRESENTED:
                    sender = named(voucher.presenter, FINANCE) if choice % 2 else payee_finance
                    signer, assignee = ("presenter", "presenter") if odd else ("payee", "payee")
                    if not wrong:
                        signer, assignee = "payee", "presenter"
                    return self.do_confirm_assignment(draft, voucher.seq, by(sender), signer, assignee)
                if choice % 3 == 0:
                    presenter = named(contract.payee if wrong and odd else third, FINANCE)  # InvalidAssignee
                    return self.do_present(draft, voucher.seq, by(presenter), secret_ok=not (wrong and not odd))
                return self.do_redeem(draft, voucher.seq, by(payee_finance), secret_ok=not wrong)
        payable = min(self.model.allowances[contract.payer], self.model.balances[self.treasury[contract.payer]])
        for voucher in payments:
            # a payer whose treasury cannot pay is refused by the token; try it now and then only, or the flow stalls
            affordable = voucher.amount <= payable or choice % 4 == 0
            if voucher.status is VoucherStatus.APPLIED and voucher.amount <= contract.unpaid and affordable:
                lifetime = (300, 7 * DAY, MAX_KEY_LIFETIME)[choice % 3]
                variant = "applied"
                if wrong:
                    variant, lifetime = ("more", lifetime) if odd else ("applied", MAX_KEY_LIFETIME + 3600)
                return self.do_issue(draft, voucher.seq, by(payer_finance), lifetime, variant)
        if contract.unpaid > 0:
            kind = ("over" if odd else "zero") if wrong else ("all" if choice % 2 else "part")
            return self.do_apply_payment(draft, by(payee_finance), kind, 50)
        for voucher in payments:
            if voucher.status is VoucherStatus.RELEASED and voucher.invoice is None:
                signer = ("foreign" if odd else "forged") if wrong else "payee"
                return self.do_anchor_invoice(draft, voucher.seq, by(payee_finance), signer, zero=False)
        return self.do_time_jump(8 * DAY)

    def unfinished(self) -> list[ContractDraft]:
        """Drafts whose flow still has a step to take."""

        def open_(draft: ContractDraft) -> bool:
            contract = self.contract(draft)
            if contract is None or contract.status is not ContractStatus.SETTLED or contract.unpaid > 0:
                return True
            return any(
                v.status in LIVE or (v.status is VoucherStatus.RELEASED and not v.invoice)
                for v in contract.payments.values()
            )

        return [draft for draft in self.drafts if open_(draft)] or self.drafts

    # ------------------------------------------------------------------ rules
    @initialize(
        amounts=AMOUNTS,
        points=st.lists(st.sampled_from(list(WARM_UP)), min_size=3, max_size=3),
        choice=st.integers(0, 29),
    )
    def warm_up(self, amounts: list[list[int]], points: list[str], choice: int) -> None:
        """1–3 contract drafts of 1–2 stages, each taken down the flow (:meth:`advance_contract`) to a point of it."""
        self.step()
        self.drafts = [make_draft(index, stage_amounts) for index, stage_amounts in enumerate(amounts)]
        self.warming_up = True
        for draft, point in zip(self.drafts, points, strict=False):
            reached = WARM_UP[point]
            for k in range(24):
                if reached(self.contract(draft)):
                    break
                self.advance_contract(draft, choice=choice + k)

    def advance_unfinished(self, pick: int, choice: int) -> None:
        self.step()
        drafts = self.unfinished()
        self.advance_contract(drafts[pick % len(drafts)], choice)

    @rule(pick=PICK, choice=st.integers(0, 29))
    def advance(self, pick: int, choice: int) -> None:
        """The next step of an unfinished contract's flow (:meth:`advance_contract`)."""
        self.advance_unfinished(pick, choice)

    @rule(pick=PICK, choice=st.integers(0, 29))
    def advance_again(self, pick: int, choice: int) -> None:
        """A copy of :meth:`advance`: hypothesis picks rules uniformly, this doubles the weight of progress."""
        self.advance_unfinished(pick, choice)

    @rule(pick=PICK, how=HOW, actor=ACTOR, party_a=st.sampled_from((A, B, C, BANK, UNKNOWN_ORG)), sig=SIG)
    def propose(self, pick: int, how: str, actor: str, party_a: int, sig: str) -> None:
        self.step()
        draft = self.contract_for(pick, how != ANYTHING, lambda c: c is None)
        if right_actor(how):
            actor = "B.BUSINESS"
        if right_terms(how):
            party_a, sig = A, "own"
        self.do_propose(draft, actor, party_a, sig)

    @rule(pick=PICK, how=HOW, actor=ACTOR, tampered=st.booleans(), sig=SIG)
    def countersign(self, pick: int, how: str, actor: str, tampered: bool, sig: str) -> None:
        self.step()
        wanted = ContractStatus.PROPOSED
        draft = self.contract_for(pick, how != ANYTHING, lambda c: c is not None and c.status is wanted)
        actor = self.acting(draft, how, actor, "payer", BUSINESS)
        if right_terms(how):
            tampered, sig = False, "own"
        self.do_countersign(draft, actor, tampered, sig)

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
        wanted = ContractStatus.SIGNED
        draft = self.contract_for(pick, how != ANYTHING, lambda c: c is not None and c.status is wanted)
        actor = self.acting(draft, how, actor, "payee", BUSINESS)
        self.do_apply_settlement(draft, actor)

    @rule(pick=PICK, how=HOW, actor=ACTOR)
    def approve_settlement(self, pick: int, how: str, actor: str) -> None:
        self.step()
        wanted = ContractStatus.SETTLEMENT_REQUESTED
        draft = self.contract_for(pick, how != ANYTHING, lambda c: c is not None and c.status is wanted)
        actor = self.acting(draft, how, actor, "payer", BUSINESS)
        self.do_approve_settlement(draft, actor)

    @rule(
        pick=PICK,
        how=HOW,
        actor=ACTOR,
        kind=st.sampled_from(("part", "all", "over", "zero")),
        percent=st.integers(1, 100),
    )
    def apply_payment(self, pick: int, how: str, actor: str, kind: str, percent: int) -> None:
        """Apply for payment of part or all of the unpaid amount (or more, or nothing)."""
        self.step()
        wanted = ContractStatus.SETTLED
        draft = self.contract_for(pick, how != ANYTHING, lambda c: c is not None and c.status is wanted)
        actor = self.acting(draft, how, actor, "payee", FINANCE)
        if right_terms(how) and kind not in ("part", "all"):
            kind = "part"
        self.do_apply_payment(draft, actor, kind, percent)

    @rule(
        pick=PICK,
        seq=SEQ,
        how=HOW,
        actor=ACTOR,
        lifetime=st.sampled_from(LIFETIMES),
        variant=st.sampled_from(("applied", "more", "less", "zero_key")),
    )
    def issue_voucher(self, pick: int, seq: int, how: str, actor: str, lifetime: int, variant: str) -> None:
        """Issue a payment voucher: short, long, too short or too long key lifetimes; the applied or another amount."""
        self.step()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, {VoucherStatus.APPLIED})
        actor = self.acting(draft, how, actor, "payer", FINANCE)
        if right_terms(how):
            variant = "applied"
            lifetime = lifetime if 0 < lifetime <= MAX_KEY_LIFETIME else 7 * DAY
        self.do_issue(draft, seq, actor, lifetime, variant)

    @rule(pick=PICK, seq=SEQ, how=HOW, actor=ACTOR, secret_ok=st.booleans())
    def redeem(self, pick: int, seq: int, how: str, actor: str, secret_ok: bool) -> None:
        """The payee's request for payment with the key's secret (or a wrong one)."""
        self.step()
        now = self.latest_time()
        draft, seq = self.voucher_for(
            pick, seq, how != ANYTHING, {VoucherStatus.FROZEN, VoucherStatus.PRESENTED}, lambda v: v.expiry > now
        )
        actor = self.acting(draft, how, actor, "payee", FINANCE)
        if right_terms(how):
            secret_ok = True
        self.do_redeem(draft, seq, actor, secret_ok)

    @rule(pick=PICK, seq=SEQ, how=HOW, actor=ACTOR, secret_ok=st.booleans())
    def present_key(self, pick: int, seq: int, how: str, actor: str, secret_ok: bool) -> None:
        """A third member presents the key; the payer and payee are refused."""
        self.step()
        now = self.latest_time()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, {VoucherStatus.FROZEN}, lambda v: v.expiry > now)
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
        signer=st.sampled_from(("payee", "presenter", "payee_business", "forged")),
        assignee=st.sampled_from(("presenter", "payee", "other")),
    )
    def confirm_assignment(self, pick: int, seq: int, how: str, actor: str, signer: str, assignee: str) -> None:
        """The payee's signed confirmation naming the presenter, sent by the payee or the presenter."""
        self.step()
        draft, seq = self.voucher_for(pick, seq, how != ANYTHING, {VoucherStatus.PRESENTED})
        voucher = self.voucher(draft, seq)
        contract = self.contract(draft)
        if right_actor(how) and contract is not None and voucher is not None and voucher.presenter:
            actor = named(voucher.presenter if pick % 2 else contract.payee, FINANCE)
        if right_terms(how):
            signer, assignee = "payee", "presenter"
        self.do_confirm_assignment(draft, seq, actor, signer, assignee)

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
        draft, seq = self.voucher_for(
            pick, seq, how != ANYTHING, {VoucherStatus.FROZEN, VoucherStatus.PRESENTED}, lambda v: v.expiry <= now
        )
        actor = self.acting(draft, how, actor, "payer", FINANCE)
        self.do_reclaim(draft, seq, actor)

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

    # ------------------------------------------------------------------ observing the chain
    def observe(self) -> Observation:
        """The chain's state after this step: one batch of calls per step, shared by the invariants."""
        if self._observed is not None and self._observed[0] == self.steps:
            return self._observed[1]
        head = self.w3.eth.block_number
        views = self.views
        addresses = list(self.tracked.values())
        calls = [views["balanceOf"].request(head, address) for address in addresses]
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
                    views[name].request(head, voucher_id) for name in ("voucherOf", "keyCommitmentOf", "invoiceOf")
                ]
        if head >= self.start_block:
            query = {"address": self.escrow.address, "fromBlock": hex(self.start_block), "toBlock": hex(head)}
            calls.append(("eth_getLogs", [query]))
        results = iter(rpc_batch(self.env.session, self.env.node.rpc_url, calls))
        balances = {address: views["balanceOf"].decode(next(results)) for address in addresses}
        supply, paused = views["totalSupply"].decode(next(results)), views["paused"].decode(next(results))
        active = {org: views["orgOf"].decode(next(results))[0][2] for org in ORGS}
        agreements, stages, vouchers, digests, commitments, invoices = {}, {}, {}, {}, {}, {}
        for draft in self.drafts:
            no = draft.contract_no
            agreements[no] = tuple(views["agreementOf"].decode(next(results)))
            for index in range(len(draft.stages)):
                digests[no, index], status = views["stageOf"].decode(next(results))
                stages[no, index] = StageStatus(status)
            for seq in seqs[no]:
                amount, status, expiry, beneficiary, presenter = views["voucherOf"].decode(next(results))
                vouchers[no, seq] = (amount, VoucherStatus(status), expiry, beneficiary, presenter)
                commitments[no, seq] = views["keyCommitmentOf"].decode(next(results))
                invoices[no, seq] = views["invoiceOf"].decode(next(results))
        events: dict[str, list[Any]] = {"FundsFrozen": [], "SecondVoucher": [], "PaymentReclaimed": []}
        for entry in next(results, []):
            if bytes.fromhex(entry["topics"][0][2:]) in self.codec.topics:
                event = self.codec.decode(raw_log(entry))  # type: ignore[arg-type]
                events[event.name].append(event.args)
        observation = Observation(
            balances, supply, agreements, stages, vouchers, paused, active, events, digests, commitments, invoices
        )
        self._observed = (self.steps, observation)
        return observation

    def model_vouchers(self) -> Iterator[tuple[ContractModel, VoucherModel]]:
        for contract in self.model.contracts.values():
            for voucher in contract.payments.values():
                yield contract, voucher

    # ------------------------------------------------------------------ invariants
    @invariant()
    def inv1_escrow_holds_exactly_the_frozen_funds(self) -> None:
        """1. The escrow's balance is the sum of the vouchers frozen and neither paid nor reclaimed."""
        seen = self.observe()
        live = sum(amount for amount, status, *_ in seen.vouchers.values() if status in LIVE)
        assert seen.balances[self.escrow.address] == live, (
            f"escrow holds {seen.balances[self.escrow.address]}, its live vouchers {live}"
        )
        assert live == sum(v.amount for _, v in self.model_vouchers() if v.status in LIVE)

    @invariant()
    def inv2_no_voucher_without_its_frozen_funds(self) -> None:
        """2. Every issued voucher had exactly its amount pulled from the payer's treasury, once."""
        seen = self.observe()
        frozen = Counter(bytes(args["voucherId"]) for args in seen.events["FundsFrozen"])
        pulled = {
            bytes(args["voucherId"]): (args["amount"], args["payerTreasury"]) for args in seen.events["FundsFrozen"]
        }
        for (no, seq), (amount, status, *_) in seen.vouchers.items():
            voucher_id = payment_voucher_id(no, seq)
            contract = self.model.contracts.get(no)
            voucher = contract.payments.get(seq) if contract is not None else None
            if status in ISSUED:
                assert voucher is not None
                assert contract is not None
                assert voucher.pulled == amount, f"voucher {seq} of {no!r} is {status.name} but pulled {voucher.pulled}"
                assert frozen[voucher_id] == 1, (
                    f"voucher {seq} of {no!r} is {status.name}, frozen {frozen[voucher_id]}x"
                )
                assert pulled[voucher_id] == (amount, self.treasury[contract.payer])
            else:
                assert frozen[voucher_id] == 0, f"voucher {seq} of {no!r} is {status.name} but was frozen"
                assert voucher is None or voucher.pulled == 0

    @invariant()
    def inv3_paid_or_reclaimed_at_most_once(self) -> None:
        """3. At most one SecondVoucher or PaymentReclaimed per voucher, and one exactly when it is closed."""
        seen = self.observe()
        paid = Counter(bytes(args["voucherId"]) for args in seen.events["SecondVoucher"])
        reclaimed = Counter(bytes(args["voucherId"]) for args in seen.events["PaymentReclaimed"])
        for voucher_id in paid | reclaimed:
            assert paid[voucher_id] + reclaimed[voucher_id] <= 1, f"voucher 0x{voucher_id.hex()} closed twice"
        for (no, seq), (_, status, *_) in seen.vouchers.items():
            voucher_id = payment_voucher_id(no, seq)
            assert paid[voucher_id] == (status is VoucherStatus.RELEASED)
            assert reclaimed[voucher_id] == (status is VoucherStatus.RECLAIMED)

    @invariant()
    def inv4_money_reaches_only_the_beneficiary_or_returns_to_the_payer(self) -> None:
        """4. Every treasury's and the escrow's balance is the model's; no token is anywhere else."""
        seen = self.observe()
        for label, address in self.tracked.items():
            assert seen.balances[address] == self.model.balances[address], (
                f"{label} holds {seen.balances[address]}, the model says {self.model.balances[address]}"
            )
        assert seen.supply == self.model.supply
        assert sum(seen.balances.values()) == seen.supply, "tokens reached an address that is no treasury"
        for args in seen.events["SecondVoucher"]:
            contract = self.model.contracts[args["contractNo"]]
            voucher = contract.payments[args["seq"]]
            assert args["beneficiaryOrg"] == voucher.beneficiary
            assert args["beneficiaryOrg"] in (contract.payee, voucher.presenter)
            assert args["beneficiary"] == self.treasury[voucher.beneficiary]
        for args in seen.events["PaymentReclaimed"]:
            assert args["payerTreasury"] == self.treasury[args["payerOrg"]]

    @invariant()
    def inv5_committed_never_exceeds_the_total(self) -> None:
        """5. Released plus frozen (the registry's ``committed``) never exceeds the contract's total."""
        seen = self.observe()
        for draft in self.drafts:
            no = draft.contract_no
            agreement = seen.agreements[no]
            total, committed = agreement[8], agreement[9]
            assert committed <= total, f"{draft.number}: committed {committed} > total {total}"
            paid_or_frozen = sum(
                amount
                for (number, _), (amount, status, *_) in seen.vouchers.items()
                if number == no and status in LIVE | {VoucherStatus.RELEASED}
            )
            assert committed == paid_or_frozen, f"{draft.number}: committed {committed}, vouchers {paid_or_frozen}"
            contract = self.contract(draft)
            assert committed == (contract.committed if contract is not None else 0)
            if contract is not None:
                assert total == contract.total

    @invariant()
    def inv6_statuses_only_move_forward(self) -> None:
        """6. Contract, stage and voucher statuses move only along the allowed transitions, and are the model's."""
        seen = self.observe()
        current: dict[tuple[Any, ...], Any] = {}
        expected: dict[tuple[Any, ...], Any] = {}
        for draft in self.drafts:
            no = draft.contract_no
            contract = self.contract(draft)
            current["contract", no] = ContractStatus(seen.agreements[no][3])
            expected["contract", no] = contract.status if contract is not None else ContractStatus.NONE
            for index in range(len(draft.stages)):
                current["stage", no, index] = seen.stages[no, index]
                expected["stage", no, index] = contract.stages[index].status if contract else StageStatus.NONE
        for (no, seq), (_, status, *_) in seen.vouchers.items():
            contract = self.model.contracts.get(no)
            voucher = contract.payments.get(seq) if contract is not None else None
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

    @invariant()
    def inv7_chain_matches_model(self) -> None:
        """The rest of the state: pause, orgs, counters, stage results, voucher terms, key commitments, invoices."""
        seen = self.observe()
        assert seen.paused == self.model.paused
        assert seen.active == self.model.active
        for draft in self.drafts:
            no = draft.contract_no
            contract = self.contract(draft)
            if contract is None:
                assert all(digest == b"\x00" * 31 for (number, _), digest in seen.digests.items() if number == no)
                continue
            asset, party_a, party_b, _, stage_count, vouched, payments, doc_hash, *_ = seen.agreements[no]
            assert (asset.lower(), doc_hash) == (self.token.address.lower(), draft.doc_hash)
            assert (party_a, party_b) == (contract.payer, contract.payee)
            assert (stage_count, vouched, payments) == (len(contract.stages), contract.vouched, len(contract.payments))
            for index, stage in enumerate(contract.stages):
                terms = draft.stages[index].terms()
                result = [stage.result] if stage.status in (StageStatus.PENDING, StageStatus.CONFIRMED) else []
                types = ["bytes32", "uint128", "bytes32"][: 2 + len(result)]
                assert seen.digests[no, index] == keccak(abi_encode(types, [*terms, *result]))[:31], (
                    f"{draft.number} stage {index}: the digest is not that of its terms and result"
                )
            for seq, voucher in contract.payments.items():
                amount, _, expiry, beneficiary, presenter = seen.vouchers[no, seq]
                assert (amount, expiry) == (voucher.amount, voucher.expiry)
                assert (beneficiary, presenter) == (voucher.beneficiary, voucher.presenter)
                voucher_id = payment_voucher_id(no, seq)
                commitment = b"\x00" * 32
                if voucher.secret is not None:
                    commitment = crypto.key_commitment(self.chain_id, self.escrow.address, voucher_id, voucher.secret)
                assert seen.commitments[no, seq] == commitment
                assert seen.invoices[no, seq] == (voucher.invoice or b"\x00" * 32)


def machine() -> InvariantMachine:
    return InvariantMachine()


def report(elapsed: float) -> str:
    lines = [
        f"[invariants] profile {PROFILE}, seed {SEED}: {STATS['steps']} steps, {STATS['transactions']} transactions, "
        f"{STATS['time jump']} time jumps in {elapsed:.1f} s"
    ]
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
    """Random action sequences keep invariants 1–6 and the model (``COLLAB_PROFILE=long`` for 10,000+ steps)."""
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
