"""Throughput of the whole flow S2–S7 on a live chain (geth Clique, Besu, any JSON-RPC node with its own blocks),
beside the chain's gas ceiling, with the accounting listeners posting at confirmations 2.

A flow is a 1-stage contract's ten transactions (propose, countersign, submit and confirm the stage, apply for and
approve business settlement, apply for payment, issue the payment voucher, redeem the key, release), each built by
the service of the department that owns it and sent once the flow's previous step is mined: a chain with
seconds-long blocks puts one step of a flow in a block, so throughput comes from many flows in flight. A conveyor
watches every new block (its receipts by ``eth_getBlockReceipts``), sends the next step of every flow whose step the
block carried, and admits new flows while the gas in flight is below what the next blocks hold (``fill`` gas limits).
Gas limits are each step's gas measured on warm-up flows plus :data:`GAS_MARGIN`: a block is packed by gas limits, so
generous limits would leave blocks part empty.

The ceiling is ``block gas limit / block period / gas per flow``; the period is measured from the chain's blocks. The
steady state is the blocks from the first release to the last admission (the pipeline full); flows per second there
are the gas those blocks used, in flows, over their time. (Not the releases they carry: the flows admitted together
at the start release together, a wave that counted as steady throughput would overstate it.) The accounting
listeners of Party A and Party B run as ``collab listen`` processes on ledgers of their own; the latency is from the
moment the redemption's block is seen to the moment both ledgers hold the posting.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from sqlalchemy import create_engine, text
from web3 import Web3

from collab_py.chain.enums import Department
from collab_py.chain.transactor import PendingTx, Transactor, rpc_request
from collab_py.devnet.flow import delivered
from collab_py.devnet.parties import Funding, Party
from collab_py.devnet.pipeline import (
    CallEncoder,
    Outbox,
    PipelinedTransactor,
    PipelineError,
    Rpc,
    receipts_of,
    ship,
)
from collab_py.devnet.sandbox import B_BANK_ACCOUNT, Sandbox, bootstrap
from collab_py.domain import crypto
from collab_py.domain.crypto import BankAccount
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.econtract import EContract
from collab_py.exceptions import CollabError
from collab_py.services import BusinessService, FinanceService, InstitutionService
from collab_py.services.base import PreparedStep, ServiceOptions
from collab_py.services.reader import ChainReader

#: The gas limit of a step: the most it used on the warm-up flows, plus this share.
GAS_MARGIN = 0.12
#: Warm-up flows (sent one step per block, gas estimated) that measure each step's gas.
WARMUP_FLOWS = 2
#: Seconds between two looks at the head.
POLL = 0.02
#: Blocks after which a step sent and not seen in any block read is looked up by its hash.
REPLACED_AFTER = 3
#: Amount of each flow's contract, in token units (cents).
FLOW_AMOUNT = 100_00
STEP_NAMES = (
    "proposeContract",
    "signContract",
    "submitStageResult",
    "confirmStageResult",
    "applyBusinessSettlement",
    "approveBusinessSettlement",
    "applyForPayment",
    "issuePaymentVoucher",
    "requestPayment",
    "release",
)
REDEEM = STEP_NAMES.index("requestPayment")


class BenchError(CollabError):
    """A step of a flow failed, or the chain stopped carrying the flows."""


@dataclass
class Desk:
    """One account of each department that a share of the flows uses (flow i: desk i mod k)."""

    business_a: BusinessService
    business_b: BusinessService
    finance_a: FinanceService
    finance_b: FinanceService
    operator: InstitutionService


@dataclass
class FlowState:
    """One flow on the conveyor."""

    index: int
    desk: Desk
    draft: ContractDraft
    econtract: EContract
    step: int = 0
    account: BankAccount | None = None
    sealed_key: bytes | None = None
    gas: int = 0
    redeem_seen: float | None = None
    release_block: int | None = None

    @property
    def contract_no(self) -> bytes:
        return self.econtract.contract_no


@dataclass
class BlockStat:
    number: int
    timestamp: int
    gas_used: int
    gas_limit: int
    transactions: int


@dataclass
class LiveResult:
    """What a run measured."""

    flows: int
    gas_limit: int
    period: float
    gas_per_flow: float
    steady_flows_per_s: float
    overall_flows_per_s: float
    steady_utilisation: float
    steady_blocks: int
    overall_utilisation: float
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_ms_per_step: float = 0.0

    @property
    def ceiling_flows_per_s(self) -> float:
        return self.gas_limit / self.period / self.gas_per_flow

    def summary(self) -> dict[str, Any]:
        """The figures as one JSON-ready dict."""
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None

        return {
            "flows_per_s": round(self.steady_flows_per_s, 2),
            "ceiling_flows_per_s": round(self.ceiling_flows_per_s, 2),
            "ratio": round(self.steady_flows_per_s / self.ceiling_flows_per_s, 3),
            "flows_per_s_whole_run": round(self.overall_flows_per_s, 2),
            "block_utilisation": round(self.steady_utilisation, 3),
            "block_utilisation_whole_run": round(self.overall_utilisation, 3),
            "steady_blocks": self.steady_blocks,
            "gas_limit": self.gas_limit,
            "period_s": round(self.period, 3),
            "gas_per_flow": round(self.gas_per_flow),
            "flows": self.flows,
            "latency_redeem_to_posted_s": {"p50": pct(0.5), "p95": pct(0.95), "max": pct(1.0)},
            "confirmations": 2,
            "conveyor_cpu_ms_per_transaction": round(self.cpu_ms_per_step, 2),
            "seconds": round(self.seconds, 1),
        }


def chain_period(w3: Web3, blocks: int = 20) -> float:
    """The median time between the chain's last ``blocks`` blocks (at least 1 s: block times are whole seconds)."""
    head = w3.eth.block_number
    numbers = range(max(0, head - blocks), head + 1)
    times = [int(rpc_request(w3, "eth_getBlockByNumber", [hex(n), False])["timestamp"], 16) for n in numbers]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return max(1.0, float(statistics.median(gaps))) if gaps else 1.0


#: Makes the desks' services, each account's transactor made by the function given (None: a plain Transactor).
DeskMaker = Callable[[Callable[[LocalAccount], Transactor] | None], list[Desk]]


def extra_desks(sandbox: Sandbox, count: int, funding: Funding) -> DeskMaker:
    """``count`` desks: the parties' own accounts, and ``count - 1`` more per department, funded and bound now;
    returns what makes the desks' services (made again after the warm-up, so that each transactor reads its
    account's nonce then)."""
    w3, deployment = sandbox.w3, sandbox.deployment
    a, b, bank = sandbox.a, sandbox.b, sandbox.bank
    more: dict[tuple[int, Department], list[LocalAccount]] = {
        (party.org_id, department): [Account.create() for _ in range(count - 1)]
        for party, department in (
            (a, Department.BUSINESS),
            (a, Department.FINANCE),
            (b, Department.BUSINESS),
            (b, Department.FINANCE),
            (bank, Department.OPERATOR),
        )
    }
    funding.fund(w3, [account for accounts in more.values() for account in accounts])
    registry = deployment.registry.functions
    binds = [
        sandbox.admin.send(registry.bindAccount(account.address, org_id, int(department)))
        for (org_id, department), accounts in more.items()
        for account in accounts
    ]
    for pending in binds:
        pending.wait()
    reader = ChainReader(deployment)

    def options(party: Party, department: Department) -> ServiceOptions:
        return {"org_id": party.org_id, "reader": reader, "label": f"{party.name}/{department.name}"}

    def pick(i: int, party: Party, department: Department) -> LocalAccount:
        return party.account(department) if i == 0 else more[party.org_id, department][i - 1]

    def desk(i: int, make: Callable[[LocalAccount], Transactor]) -> Desk:
        def service_options(party: Party, department: Department) -> dict[str, Any]:
            return {**options(party, department), "account": make(pick(i, party, department))}

        return Desk(
            business_a=BusinessService(deployment, **service_options(a, Department.BUSINESS)),
            business_b=BusinessService(deployment, **service_options(b, Department.BUSINESS)),
            finance_a=FinanceService(
                deployment, encryption_key=a.encryption_key, **service_options(a, Department.FINANCE)
            ),
            finance_b=FinanceService(
                deployment, encryption_key=b.encryption_key, **service_options(b, Department.FINANCE)
            ),
            operator=InstitutionService(
                deployment, encryption_key=bank.encryption_key, **service_options(bank, Department.OPERATOR)
            ),
        )

    def desks(make: Callable[[LocalAccount], Transactor] | None) -> list[Desk]:
        return [desk(i, make or (lambda account: Transactor(w3, account))) for i in range(count)]

    return desks


class Conveyor:
    """Builds and signs the steps of many flows, each step once the flow's previous one is mined; the signed
    transactions of one look at the chain go out in one JSON-RPC batch."""

    def __init__(self, sandbox: Sandbox, run: str) -> None:
        self.sandbox = sandbox
        self.w3 = sandbox.w3
        self.run = run
        self.expiry = int(self.w3.eth.get_block("latest")["timestamp"]) + 7 * 24 * 3600
        self.payer_key = sandbox.a.encryption_key.public_key
        self.institution_key = sandbox.bank.encryption_key.public_key
        self.payee_key = sandbox.b.encryption_key.public_key
        self.gas_limits: dict[str, int] = {}

    def new_flow(self, index: int, desks: Sequence[Desk]) -> FlowState:
        desk = desks[index % len(desks)]
        number = f"{self.run}-{index:05d}" if index >= 0 else f"{self.run}-WARM-{-index}"
        draft = ContractDraft(number, f"bench e-contract {number}", (StageDraft(f"{number} goods", FLOW_AMOUNT),))
        econtract = draft.econtract(
            party_a=self.sandbox.a.org_id, party_b=self.sandbox.b.org_id, asset=self.sandbox.deployment.asset.address
        )
        return FlowState(index, desk, draft, econtract)

    def prepare(self, flow: FlowState) -> tuple[Transactor, PreparedStep]:
        """The next step of ``flow`` and the transactor of the department that sends it."""
        desk, no, e = flow.desk, flow.contract_no, flow.econtract
        step = flow.step
        if step in (2, 3):
            result = keccak(delivered(flow.draft, 0))
            if step == 2:
                return desk.business_b.tx, desk.business_b.prepare_submit_stage(e, 0, result)
            return desk.business_a.tx, desk.business_a.prepare_confirm_stage(e, 0, result)
        if step == 0:
            return desk.business_b.tx, desk.business_b.prepare_propose(e)
        if step == 1:
            return desk.business_a.tx, desk.business_a.prepare_countersign(e)
        if step == 4:
            return desk.business_b.tx, desk.business_b.prepare_apply_settlement(no)
        if step == 5:
            return desk.business_a.tx, desk.business_a.prepare_approve_settlement(no)
        if step == 6:
            flow.account = desk.finance_b.receiving_account(no, 1, B_BANK_ACCOUNT)
            return desk.finance_b.tx, desk.finance_b.prepare_apply_payment(
                no, 1, FLOW_AMOUNT, flow.account, payer_key=self.payer_key, institution_key=self.institution_key
            )
        if step == 7:
            assert flow.account is not None
            prepared, flow.sealed_key = desk.finance_a.prepare_issue_voucher(
                no, 1, amount=FLOW_AMOUNT, account=flow.account, expiry=self.expiry, payee_key=self.payee_key
            )
            return desk.finance_a.tx, prepared
        if step == 8:
            assert flow.sealed_key is not None
            key = crypto.open_sealed(
                self.sandbox.b.encryption_key, flow.sealed_key, crypto.PaymentKey, desk.finance_b.binding(no, 1)
            )
            return desk.finance_b.tx, desk.finance_b.prepare_redeem(no, 1, key.secret)
        return desk.operator.tx, desk.operator.prepare_release(no, 1)

    def send(self, flow: FlowState, *, estimate: bool = False) -> tuple[PendingTx, int]:
        """Signs ``flow``'s next step (with the measured gas limit, or estimated for the warm-up) and hands it to its
        transactor: sent at once by a plain one, queued for the next batch by a :class:`PipelinedTransactor`."""
        tx, prepared = self.prepare(flow)
        gas = None if estimate else self.gas_limits[prepared.step]
        pending = tx.send(prepared.call, gas=gas)
        return pending, int(pending.params["gas"])

    def warm_up(self, flows: int, desks: Sequence[Desk]) -> None:
        """Runs ``flows`` flows with estimated gas, their steps sent together, and sets each step's gas limit."""
        states = [self.new_flow(-1 - i, desks) for i in range(flows)]
        used: dict[str, int] = {}
        for step in range(len(STEP_NAMES)):
            sent = [self.send(flow, estimate=True)[0] for flow in states]
            for flow, pending in zip(states, sent, strict=True):
                receipt = pending.wait()
                used[STEP_NAMES[step]] = max(used.get(STEP_NAMES[step], 0), int(receipt["gasUsed"]))
                flow.step += 1
        self.gas_limits = {name: math.ceil(gas * (1 + GAS_MARGIN)) for name, gas in used.items()}


def measure(
    sandbox: Sandbox,
    make_desks: DeskMaker,
    *,
    rpc_url: str,
    flows: int,
    fill: float = 3.0,
    ledgers: tuple[Path, Path] | None = None,
    say: Callable[[str], None] = lambda _line: None,
    run: str = "LIVE",
    timeout: float = 900.0,
) -> LiveResult:
    """Runs ``flows`` flows through the conveyor (after warming up) and measures them; ``ledgers`` are the SQLite
    files of the payer's and payee's accounting listeners, read for the latency of each posting."""
    w3 = sandbox.w3
    conveyor = Conveyor(sandbox, run)
    say(f"warming up: {WARMUP_FLOWS} flows with estimated gas")
    conveyor.warm_up(WARMUP_FLOWS, make_desks(None)[:1])
    say("gas limits per step: " + ", ".join(f"{k} {v:,}" for k, v in conveyor.gas_limits.items()))
    outbox, encoder = Outbox(), CallEncoder()
    desks = make_desks(lambda account: PipelinedTransactor(w3, account, outbox=outbox, encoder=encoder))
    gas_limit = int(w3.eth.get_block("latest")["gasLimit"])
    period = chain_period(w3)
    cap = fill * gas_limit

    watcher = _PostingWatcher(ledgers) if ledgers is not None else None
    states = [conveyor.new_flow(i, desks) for i in range(flows)]
    inflight: dict[bytes, tuple[FlowState, int]] = {}
    sent_in: dict[bytes, int] = {}  # the head when each step was sent
    pending_gas = 0
    admitted = 0
    done: list[FlowState] = []
    blocks: list[BlockStat] = []
    last_admission_block: int | None = None
    seen = int(w3.eth.block_number)
    started = time.monotonic()
    ready: list[FlowState] = []
    cpu = 0.0

    def send(flow: FlowState) -> None:
        nonlocal pending_gas
        pending, gas = conveyor.send(flow)
        inflight[bytes(pending.tx_hash)] = (flow, gas)
        sent_in[bytes(pending.tx_hash)] = seen
        pending_gas += gas

    def settle(receipt: dict[str, Any], number: int) -> None:
        """Moves the flow whose step ``receipt`` is (if one in flight) on: done, or ready for its next step."""
        nonlocal pending_gas
        tx_hash = bytes.fromhex(receipt["transactionHash"][2:])
        entry = inflight.pop(tx_hash, None)
        if entry is None:
            return
        del sent_in[tx_hash]
        flow, gas = entry
        pending_gas -= gas
        if int(receipt["status"], 16) != 1:
            raise BenchError(
                f"{STEP_NAMES[flow.step]} of flow {flow.draft.number} failed in block {number} "
                f"(gas used {int(receipt['gasUsed'], 16):,} of {gas:,})"
            )
        flow.gas += int(receipt["gasUsed"], 16)
        if flow.step == REDEEM:
            flow.redeem_seen = time.monotonic()
        flow.step += 1
        if flow.step == len(STEP_NAMES):
            flow.release_block = number
            done.append(flow)
        else:
            ready.append(flow)

    def recover_replaced(rpc: Rpc, head: int) -> None:
        """Steps sent :data:`REPLACED_AFTER` blocks ago and not seen mined: their receipts by hash. Sealers that take
        turns replace the latest block now and then, and the block read once may not be the one that carried them;
        the blocks that did are read again for their figures."""
        stale = [tx_hash for tx_hash in inflight if sent_in[tx_hash] < head - REPLACED_AFTER]
        if not stale:
            return
        replaced = set()
        for receipt in receipts_of(rpc, ["0x" + tx_hash.hex() for tx_hash in stale]):
            number = int(receipt["blockNumber"], 16)
            if number < head:
                settle(receipt, number)
                replaced.add(number)
        for number in sorted(replaced):
            mined = _block(rpc, number)
            if mined is not None:
                blocks.append(mined[0])

    with Rpc(rpc_url) as shipper:
        while len(done) < flows:
            head = int(shipper.call("eth_blockNumber"), 16)
            if head > seen:
                busy = time.process_time()
                for number in range(seen + 1, head + 1):
                    mined = _block(shipper, number)
                    if mined is None:  # not served yet: again at the next look
                        break
                    seen = number
                    stat, receipts = mined
                    blocks.append(stat)
                    for receipt in receipts:
                        settle(receipt, number)
                recover_replaced(shipper, seen)
                for flow in ready:
                    send(flow)
                ready.clear()
                while admitted < flows and pending_gas + conveyor.gas_limits["proposeContract"] <= cap:
                    send(states[admitted])
                    admitted += 1
                    if admitted == flows:
                        last_admission_block = seen
                _ship(shipper, outbox.take())
                cpu += time.process_time() - busy
                say(f"block {seen}: {len(done)} flows done, {admitted} admitted, {len(inflight)} in flight")
            if time.monotonic() - started > timeout:
                raise BenchError(f"{len(done)} of {flows} flows done in {timeout} s")
            time.sleep(POLL)
    seconds = time.monotonic() - started
    per_step = cpu / max(1, len(done) * len(STEP_NAMES)) * 1000
    say(f"the conveyor used {cpu:.1f} s of CPU in {seconds:.1f} s ({per_step:.1f} ms a transaction)")

    latencies: list[float] = []
    if watcher is not None:
        latencies = watcher.wait_all(done, timeout=120)

    by_number = {stat.number: stat for stat in blocks}
    first_release = min(flow.release_block for flow in done if flow.release_block is not None)
    steady_end = last_admission_block if last_admission_block is not None else max(by_number)
    steady = [by_number[n] for n in range(first_release, steady_end + 1) if n in by_number]
    if len(steady) < 3:
        raise BenchError(
            f"only {len(steady)} blocks of steady state (first release in block {first_release}, last admission in "
            f"block {steady_end}): run more flows (--flows)"
        )
    before = by_number.get(first_release - 1)
    span = steady[-1].timestamp - (before.timestamp if before else steady[0].timestamp - period)
    last_release = max(flow.release_block or 0 for flow in done)
    whole = [by_number[n] for n in sorted(by_number) if n <= last_release]  # a block read again counts once
    whole_span = whole[-1].timestamp - (whole[0].timestamp - period)
    gas_per_flow = statistics.mean(flow.gas for flow in done)
    return LiveResult(
        flows=flows,
        gas_limit=gas_limit,
        period=period,
        gas_per_flow=gas_per_flow,
        steady_flows_per_s=sum(stat.gas_used for stat in steady) / gas_per_flow / span,
        overall_flows_per_s=flows / whole_span,
        steady_utilisation=statistics.mean(stat.gas_used / stat.gas_limit for stat in steady),
        steady_blocks=len(steady),
        overall_utilisation=statistics.mean(stat.gas_used / stat.gas_limit for stat in whole),
        latencies=latencies,
        seconds=seconds,
        cpu_ms_per_step=cpu / max(1, len(done) * len(STEP_NAMES)) * 1000,
    )


def _block(rpc: Rpc, number: int) -> tuple[BlockStat, list[dict[str, Any]]] | None:
    """Block ``number``'s figures and receipts, or None while the node does not serve them yet (geth answers a new
    head's number, then the block, then its receipts, each a moment after the other)."""
    block = rpc.call("eth_getBlockByNumber", hex(number), False)
    receipts = rpc.call("eth_getBlockReceipts", hex(number)) if block is not None and block["transactions"] else []
    if block is None or receipts is None:
        return None
    stat = BlockStat(
        number, int(block["timestamp"], 16), int(block["gasUsed"], 16), int(block["gasLimit"], 16),
        len(block["transactions"]),
    )  # fmt: skip
    return stat, receipts


def _ship(rpc: Rpc, pending: Sequence[PendingTx]) -> None:
    """Sends ``pending`` in batches (:func:`~collab_py.devnet.pipeline.ship`); a refusal is a :class:`BenchError`."""
    try:
        ship(rpc, pending)
    except PipelineError as error:
        raise BenchError(str(error)) from None


class _PostingWatcher:
    """Reads the payer's and payee's ledgers every 0.1 s and notes when each flow's payment and receipt are posted
    (their ``journal_entries`` rows)."""

    def __init__(self, ledgers: tuple[Path, Path]) -> None:
        self.engines = [create_engine(f"sqlite:///{path}") for path in ledgers]
        self.posted: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="posting-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        query = text("SELECT contract_no FROM journal_entries WHERE kind IN ('PAYMENT', 'RECEIPT')")
        while not self._stop.wait(0.1):
            now = time.monotonic()
            for side, engine in enumerate(self.engines):
                try:
                    with engine.connect() as connection:
                        rows = connection.execute(query).all()
                except Exception:  # not created yet, or locked by the writer: next time
                    continue
                with self._lock:
                    for (contract_no,) in rows:
                        self.posted.setdefault((side, contract_no), now)

    def wait_all(self, flows: Sequence[FlowState], timeout: float) -> list[float]:
        """The latency of each flow, redemption seen to both postings; waits for them up to ``timeout``."""
        deadline = time.monotonic() + timeout
        names = [flow.draft.number for flow in flows]
        while True:
            with self._lock:
                missing = [n for n in names if (0, n) not in self.posted or (1, n) not in self.posted]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self._stop.set()
        self._thread.join()
        if missing:
            raise BenchError(f"{len(missing)} flows not posted by both listeners in {timeout} s, e.g. {missing[0]}")
        return [
            max(self.posted[0, flow.draft.number], self.posted[1, flow.draft.number]) - (flow.redeem_seen or 0)
            for flow in flows
        ]


@dataclass
class ListenerRun:
    """The accounting listeners of Party A and Party B as ``collab listen`` processes, confirmations 2."""

    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def ledgers(self) -> tuple[Path, Path]:
        return self.folder / "ledger-a.db", self.folder / "ledger-b.db"

    def start(self, sandbox: Sandbox, rpc_url: str, ws_url: str | None) -> ListenerRun:
        manifest = sandbox.deployment.manifest.save(self.folder / "manifest.json")
        for party, ledger in zip((sandbox.a, sandbox.b), self.ledgers, strict=True):
            settings = {
                **os.environ,
                "COLLAB_RPC_URL": rpc_url,
                "COLLAB_MANIFEST": str(manifest),
                "COLLAB_LEDGER_URL": f"sqlite:///{ledger}",
                "COLLAB_CONFIRMATIONS": "2",
                "COLLAB_ORG_ID": str(party.org_id),
            }
            args = [sys.executable, "-m", "collab_py.cli", "listen", "--role", "accounting", "--poll-interval", "0.1"]
            if ws_url:
                args += ["--ws-url", ws_url]
            with (self.folder / f"listener-{party.org_id}.log").open("ab") as log:
                self.processes.append(
                    subprocess.Popen(args, env=settings, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                )
        return self

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_live(
    w3: Web3,
    *,
    rpc_url: str,
    ws_url: str | None,
    funding: Funding,
    flows: int,
    desks: int,
    fill: float,
    say: Callable[[str], None],
) -> LiveResult:
    """Deploys on ``w3``'s chain, starts the listeners, and measures ``flows`` flows."""
    say("deploying and registering the parties")
    sandbox = bootstrap(w3, funding=funding)
    make_desks = extra_desks(sandbox, desks, funding)
    with tempfile.TemporaryDirectory(prefix="collab-livebench-") as folder:
        listeners = ListenerRun(Path(folder)).start(sandbox, rpc_url, ws_url)
        try:
            return measure(
                sandbox, make_desks, rpc_url=rpc_url, flows=flows, fill=fill, ledgers=listeners.ledgers, say=say
            )
        finally:
            listeners.stop()
