"""collab end to end on a real geth 1.13 Clique network (3 sealers and an RPC node, 1 s blocks), as a consortium runs
it: the demo from a funded key and on a zero-gas chain, the flow through the ``collab`` command line with the
accounting listeners and the institution's bot as processes (confirmations 2) while a sealer is killed and the RPC
node restarted, and a real reorg — a partition with our transactions on both sides, healed — that the listeners
reverse and post again exactly once; a reorg deeper than a listener's window halts it and fails its ``/healthz``.

Listeners are driven only as processes (``collab listen``), their books read with ``collab ledger`` and
``collab reconcile``. Run with ``make e2e``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import Department, VoucherStatus
from collab_py.chain.transactor import connect
from collab_py.devnet.clique import CliqueNetwork, Reorg
from collab_py.devnet.flow import Flow, delivered
from collab_py.devnet.parties import Funding
from collab_py.devnet.sandbox import B_BANK_ACCOUNT, Sandbox, bootstrap
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.services import InstitutionService
from collab_py.services.reader import ChainReader
from support.cli import COLLAB, Cli, ListenerProcess, party_settings, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cheap_keystores")]

ETHER = 10**18
CHAIN_ID = 1337
ROOT = Path(__file__).resolve().parents[2]
#: Seconds a listener with confirmations 2 may take to post what a block carried, on a loaded 2-core machine.
POSTING_TIMEOUT = 60.0


@pytest.fixture
def funder() -> LocalAccount:
    account: LocalAccount = Account.create()
    return account


def consortium(net: CliqueNetwork, funder: LocalAccount) -> Sandbox:
    """Deployed on ``net`` with Party A, B, C and the bank, their accounts funded by transfers from ``funder``."""
    return bootstrap(connect(net.rpc_url), funding=Funding(funder, wei_each=ETHER))


def collab(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``collab ARGS`` as a process."""
    return subprocess.run(
        [*COLLAB, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, check=False
    )


def journal(cli: Cli, who: str) -> list[dict[str, Any]]:
    """The journal entries of ``who``'s ledger, from ``collab ledger --format json``: one dict per entry with its
    lines' debits summed (``amount``, in currency units: the export's exact decimal strings)."""
    lines = json.loads(cli.result(who, "ledger", "--format", "json", json_out=False).stdout)
    entries: dict[int, dict[str, Any]] = {}
    for line in lines:
        entry = entries.setdefault(line["entry_id"], {key: line[key] for key in ("entry_id", "org_id", "kind",
                                   "contract_no", "seq", "reverses", "memo")} | {"amount": Decimal(0)})  # fmt: skip
        entry["amount"] += Decimal(line["debit"])
    return list(entries.values())


def settled_postings(entries: list[dict[str, Any]], kind: str) -> Counter[tuple[str, int]]:
    """Per (contract, seq): entries of ``kind`` less the reversals of them — what the books hold net."""
    kinds = {entry["entry_id"]: entry["kind"] for entry in entries}
    net: Counter[tuple[str, int]] = Counter()
    for entry in entries:
        if entry["kind"] == kind:
            net[entry["contract_no"], entry["seq"]] += 1
        elif entry["kind"] == "REVERSAL" and kinds.get(entry["reverses"]) == kind:
            net[entry["contract_no"], entry["seq"]] -= 1
    return +net


def reconciled(cli: Cli, who: str = "a") -> dict[str, Any]:
    """``collab reconcile`` of A's and B's ledgers against the chain."""
    a, b = cli.env["a"]["COLLAB_LEDGER_URL"], cli.env["b"]["COLLAB_LEDGER_URL"]
    result = cli.result(who, "reconcile", "--ledger-url", a, "--ledger-url", b)
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == (0 if report["clean"] else 3), result.stdout + result.stderr
    return report


# --------------------------------------------------------------------------------------------------- the demo


def test_the_demo_runs_on_clique_funded_by_transfers_from_one_key(funder: LocalAccount) -> None:
    with CliqueNetwork(sealers=3, chain_id=CHAIN_ID, prefund={funder.address: 100 * ETHER}) as net:
        run = collab("demo", "--rpc-url", net.rpc_url, env={"COLLAB_FUNDER_KEY": funder.key.hex(), "COLUMNS": "200"})
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-6000:]
        assert f"funding: transfers of 0.1 ether from {funder.address}" in run.stdout
        assert "Reconciliation (S8.4): clean" in run.stdout
        assert funder.key.hex() not in run.stdout + run.stderr
        w3 = connect(net.rpc_url)
        assert w3.eth.get_balance(funder.address) < 100 * ETHER - 10**17  # it paid for the accounts' ether


def test_the_demo_runs_on_a_zero_gas_network_from_accounts_without_ether(tmp_path: Path) -> None:
    # the demo's largest blocks (a contract deployment) stay below half the gas limit: the base fee stays 0
    with CliqueNetwork(sealers=2, chain_id=CHAIN_ID, zero_gas=True, gas_limit=30_000_000) as net:
        manifest = tmp_path / "demo-manifest.json"
        run = collab("demo", "--rpc-url", net.rpc_url, "--manifest-out", str(manifest), env={"COLUMNS": "200"})
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-6000:]
        assert "funding: zero gas: transactions pay nothing" in run.stdout
        assert "Reconciliation (S8.4): clean" in run.stdout
        w3 = connect(net.rpc_url)
        head = w3.eth.block_number
        blocks = [w3.eth.get_block(number, full_transactions=True) for number in range(1, head + 1)]
        ours = [tx for block in blocks for tx in block["transactions"]]
        assert len(ours) >= 30
        assert {block["baseFeePerGas"] for block in blocks} == {0}
        for tx in ours:
            assert w3.eth.get_balance(tx["from"]) == 0, "an account of the demo held ether"
            assert w3.eth.get_transaction_receipt(tx["hash"])["effectiveGasPrice"] == 0
        assert json.loads(manifest.read_text())["evm_version"] == "paris"


# --------------------------------------------------------------------------------------------------- the CLI flow


def test_the_flow_through_the_cli_with_listener_processes_a_sealer_killed_and_the_rpc_node_restarted(
    funder: LocalAccount, tmp_path: Path
) -> None:
    with CliqueNetwork(sealers=3, chain_id=CHAIN_ID, prefund={funder.address: 100 * ETHER}) as net:
        sandbox = consortium(net, funder)
        env = party_settings(sandbox, tmp_path, net.rpc_url, COLLAB_CONFIRMATIONS="2")
        cli = Cli(env, tmp_path)
        listeners = [
            ListenerProcess("accounting-a", env["a"], tmp_path / "listen-a.log", "--role", "accounting"),
            ListenerProcess("accounting-b", env["b"], tmp_path / "listen-b.log", "--role", "accounting"),
            ListenerProcess("bot", env["bank"], tmp_path / "listen-bank.log", "--role", "institution"),
        ]
        try:
            for listener in listeners:
                listener.wait_healthy()
            number = "E2E-CLI-1"
            stages = [
                {"specification": "design", "amount": "1000.50"},
                {"specification": "delivery", "amount": "2,000"},
            ]
            terms_json = json.dumps({"number": number, "party_a": sandbox.a.org_id, "stages": stages})
            terms = cli.write(f"{number}.terms.json", terms_json)
            document = cli.write(f"{number}.txt", f"e-contract {number}: design, then delivery")
            econtract = cli("b", "contract", "propose", str(terms), str(document))["econtract_file"]
            assert cli("a", "contract", "sign", number, econtract)["status"] == "SIGNED"

            # a sealer dies (SIGKILL) mid-flow: the two others carry on sealing
            victim = net.sealers[1]
            net.stop_node(victim, kill=True)
            down_from = net.head().number
            for index in ("0", "1"):
                result = cli.write(f"result-{index}.txt", f"stage {index} done")
                assert cli("b", "stage", "submit", number, index, str(result))["status"] == "PENDING"
                assert cli("a", "stage", "confirm", number, index, "--result", str(result))["status"] == "CONFIRMED"
            assert cli("b", "settlement", "apply", number)["status"] == "SETTLEMENT_REQUESTED"
            up_to = net.head().number
            assert victim.address.lower() not in {net.signer_of(n) for n in range(down_from + 1, up_to + 1)}
            net.start_node(victim)
            assert cli("a", "settlement", "approve", number)["status"] == "SETTLED"

            account = cli.write("b.acct", B_BANK_ACCOUNT)
            first = cli("b", "payment", "apply", number, "1000.50", "--bank-account-file", str(account))["seq"]
            assert cli("a", "payment", "issue", number, str(first))["status"] == "FROZEN"
            assert cli("b", "payment", "redeem", number, str(first))["status"] == "REQUESTED"
            released(sandbox, number, first)  # by the bot, a process

            # the RPC node restarts under the running listeners: /healthz says so, then they resume
            statuses: list[int | None] = []
            watching = threading.Event()

            def watch() -> None:
                while not watching.is_set():
                    statuses.append(listeners[0].health()[0])
                    watching.wait(0.05)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            net.restart_rpc_node()
            wait_for(lambda: listeners[0].health()[0] == 200, 60, lambda: f"no recovery: {listeners[0].health()}")
            watching.set()
            watcher.join()
            assert 503 in statuses, f"/healthz never reported the outage: {Counter(statuses)}"

            second = cli("b", "payment", "apply", number, "2000", "--bank-account-file", str(account))["seq"]
            assert cli("a", "payment", "issue", number, str(second))["status"] == "FROZEN"
            assert cli("b", "payment", "redeem", number, str(second))["status"] == "REQUESTED"
            released(sandbox, number, second)

            def posted() -> bool:
                payable, receivable = settled_postings(journal(cli, "a"), "PAYMENT"), settled_postings(
                    journal(cli, "b"), "RECEIPT")  # fmt: skip
                return payable == receivable == Counter({(number, first): 1, (number, second): 1})

            wait_for(posted, POSTING_TIMEOUT, lambda: f"A: {journal(cli, 'a')}\nB: {journal(cli, 'b')}", every=0.5)
            report = reconciled(cli)
            assert report["clean"]
            (row,) = report["contracts"]
            figures = (Decimal(row[name]) for name in ("on_chain", "payable_posted", "receivable_posted"))
            assert (row["contract_no"], *figures) == (number, *(Decimal("3000.50"),) * 3)
            assert not [entry for entry in journal(cli, "a") + journal(cli, "b") if entry["kind"] == "REVERSAL"]
            for listener in listeners:
                assert listener.health()[0] == 200, listener.health()
        finally:
            codes = {listener.name: listener.stop() for listener in listeners}
            for listener in listeners:
                print(f"----- {listener.name} (exit {codes[listener.name]})\n{listener.output()[-3000:]}")
        assert codes == {"accounting-a": 0, "accounting-b": 0, "bot": 0}


def released(sandbox: Sandbox, number: str, seq: int, timeout: float = 60.0) -> None:
    """Waits until payment ``seq`` of ``number`` is released (by the institution's bot)."""
    reader = ChainReader(sandbox.deployment)
    wait_for(lambda: reader.payment(number, seq).status is VoucherStatus.RELEASED, timeout,
             lambda: f"payment {seq} of {number} not released: {reader.payment(number, seq).status}")  # fmt: skip


# --------------------------------------------------------------------------------------------------- reorgs


def requested(flow: Flow, sandbox: Sandbox, drafts: list[ContractDraft]) -> None:
    """Every draft proposed, signed, vouched, settled, applied for, issued and redeemed (REQUESTED), the drafts'
    steps sent together (a block per step for all of them)."""
    a, b, bank = sandbox.a, sandbox.b, sandbox.bank
    econtracts = [flow.econtract(a, b, draft) for draft in drafts]
    business_a, business_b = flow.business(a), flow.business(b)
    finance_a, finance_b = flow.finance(a), flow.finance(b)
    business_b.execute_all([business_b.prepare_propose(e) for e in econtracts])
    business_a.execute_all([business_a.prepare_countersign(e) for e in econtracts])
    for index in range(len(drafts[0].stages)):
        hashes = [keccak(delivered(draft, index)) for draft in drafts]
        business_b.execute_all(
            [business_b.prepare_submit_stage(e, index, h) for e, h in zip(econtracts, hashes, strict=True)]
        )
        business_a.execute_all(
            [business_a.prepare_confirm_stage(e, index, h) for e, h in zip(econtracts, hashes, strict=True)]
        )
    business_b.execute_all([business_b.prepare_apply_settlement(draft.contract_no) for draft in drafts])
    business_a.execute_all([business_a.prepare_approve_settlement(draft.contract_no) for draft in drafts])
    accounts = [finance_b.receiving_account(draft.contract_no, 1, B_BANK_ACCOUNT) for draft in drafts]
    payer_key, institution_key = a.encryption_key.public_key, bank.encryption_key.public_key
    finance_b.execute_all(
        [
            finance_b.prepare_apply_payment(
                draft.contract_no, 1, draft.total, account, payer_key=payer_key, institution_key=institution_key
            )
            for draft, account in zip(drafts, accounts, strict=True)
        ]
    )
    expiry = int(sandbox.w3.eth.get_block("latest")["timestamp"]) + 3600
    issued = [
        finance_a.prepare_issue_voucher(
            draft.contract_no, 1, amount=draft.total, account=account, expiry=expiry,
            payee_key=b.encryption_key.public_key,
        )
        for draft, account in zip(drafts, accounts, strict=True)
    ]  # fmt: skip
    finance_a.execute_all([step for step, _ in issued])
    keys = [
        crypto.open_sealed(b.encryption_key, sealed, crypto.PaymentKey, finance_b.binding(draft.contract_no, 1))
        for draft, (_, sealed) in zip(drafts, issued, strict=True)
    ]
    finance_b.execute_all(
        [finance_b.prepare_redeem(draft.contract_no, 1, key.secret) for draft, key in zip(drafts, keys, strict=True)]
    )


def one_stage(number: str, amount: int) -> ContractDraft:
    return ContractDraft(number, f"e-contract {number}: one delivery", (StageDraft(f"{number} goods", amount),))


def operator_on(sandbox: Sandbox, rpc_url: str) -> InstitutionService:
    """The institution's operator talking to the node at ``rpc_url`` (one side of a partition)."""
    w3 = connect(rpc_url)
    deployment = Deployment.attach(w3, sandbox.deployment.manifest)
    return InstitutionService(deployment, sandbox.bank.account(Department.OPERATOR),
                              encryption_key=sandbox.bank.encryption_key, org_id=sandbox.bank.org_id)  # fmt: skip


@pytest.mark.xdist_group("reorgs")  # one network, in order: the first test heals it for the second
class TestReorgs:
    """One network and deployment for both reorg tests (the first heals the network for the second)."""

    @pytest.fixture(scope="class")
    def net(self) -> Iterator[CliqueNetwork]:
        funder: LocalAccount = Account.create()
        with CliqueNetwork(sealers=3, chain_id=CHAIN_ID, prefund={funder.address: 100 * ETHER}) as net:
            net.funder = funder  # type: ignore[attr-defined]
            yield net

    @pytest.fixture(scope="class")
    def sandbox(self, net: CliqueNetwork) -> Sandbox:
        return consortium(net, net.funder)  # type: ignore[attr-defined]

    def test_listeners_reverse_what_a_reorg_orphaned_and_post_the_surviving_history_once(
        self, net: CliqueNetwork, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        flow = Flow(sandbox.deployment)
        kept, lost = one_stage("E2E-REORG-KEPT", 1_234_00), one_stage("E2E-REORG-LOST", 5_678_00)
        requested(flow, sandbox, [kept, lost])
        env = party_settings(sandbox, tmp_path, net.rpc_url, COLLAB_CONFIRMATIONS="2")
        cli = Cli(env, tmp_path)
        listeners = [
            ListenerProcess("accounting-a", env["a"], tmp_path / "listen-a.log", "--role", "accounting"),
            ListenerProcess("accounting-b", env["b"], tmp_path / "listen-b.log", "--role", "accounting"),
        ]
        try:
            for listener in listeners:
                listener.wait_healthy()
            s0, s1, s2 = net.sealers
            # the RPC node (the listeners' node) and sealer 2 on one side, with a twin sealing with 0's or 1's key
            partition = net.partition([s0, s1], [s2, net.rpc_node])
            losing, winning = operator_on(sandbox, net.rpc_url), operator_on(sandbox, s0.rpc_url)
            # the listeners' side releases both payments (operator nonces n, n+1); the other side releases the
            # second one only, with nonce n: the double spend of a partitioned validator set
            lost_release = losing.execute(losing.prepare_release(lost.contract_no, 1))
            kept_on_losing = losing.execute(losing.prepare_release(kept.contract_no, 1))
            kept_release = winning.execute(winning.prepare_release(kept.contract_no, 1))
            net.wait_for_block(kept_on_losing["blockNumber"] + 3, net.rpc_node)

            def posted_on_losing_side() -> bool:
                return settled_postings(journal(cli, "a"), "PAYMENT") == Counter(
                    {(kept.number, 1): 1, (lost.number, 1): 1})  # fmt: skip

            wait_for(posted_on_losing_side, POSTING_TIMEOUT, lambda: str(journal(cli, "a")), every=0.5)

            reorg = net.heal(winner=[s0, s1])
            report_reorg(reorg, partition.fork_block)
            assert reorg.depth >= 3
            orphaned = {receipt["transactionHash"].to_0x_hex() for receipt in (lost_release, kept_on_losing)}
            assert orphaned <= set(reorg.dropped_transactions)
            w3 = connect(net.rpc_url)
            kept_now = w3.eth.get_transaction_receipt(kept_release["transactionHash"])
            assert kept_now["blockHash"] == kept_release["blockHash"]
            reader = ChainReader(Deployment.attach(w3, sandbox.deployment.manifest))
            assert reader.payment(lost.number, 1).status is VoucherStatus.REQUESTED  # its release was orphaned
            assert reader.payment(kept.number, 1).status is VoucherStatus.RELEASED

            def reposted() -> bool:
                payable = settled_postings(journal(cli, "a"), "PAYMENT")
                receivable = settled_postings(journal(cli, "b"), "RECEIPT")
                return payable == receivable == Counter({(kept.number, 1): 1})

            wait_for(reposted, POSTING_TIMEOUT, lambda: f"A: {journal(cli, 'a')}\nB: {journal(cli, 'b')}", every=0.5)
            for who, kind in (("a", "PAYMENT"), ("b", "RECEIPT")):
                entries = journal(cli, who)
                ids = {entry["entry_id"]: entry for entry in entries}
                reversals = [entry for entry in entries if entry["kind"] == "REVERSAL"]
                # both postings of the orphaned branch reversed, once each; the kept payment posted again
                assert sorted((ids[r["reverses"]]["contract_no"], ids[r["reverses"]]["kind"]) for r in reversals) == [
                    (kept.number, kind), (lost.number, kind)]  # fmt: skip
                assert Counter(e["contract_no"] for e in entries if e["kind"] == kind) == Counter(
                    {kept.number: 2, lost.number: 1})  # fmt: skip
            assert reconciled(cli)["clean"]

            # the orphaned release is done again on the one chain: posted once more, nothing twice
            operator = operator_on(sandbox, net.rpc_url)
            operator.tx.resync()
            operator.execute(operator.prepare_release(lost.contract_no, 1))

            def all_posted() -> bool:
                payable = settled_postings(journal(cli, "a"), "PAYMENT")
                receivable = settled_postings(journal(cli, "b"), "RECEIPT")
                return payable == receivable == Counter({(kept.number, 1): 1, (lost.number, 1): 1})

            wait_for(all_posted, POSTING_TIMEOUT, lambda: f"A: {journal(cli, 'a')}\nB: {journal(cli, 'b')}", every=0.5)
            report = reconciled(cli)
            assert report["clean"]
            assert {row["contract_no"]: Decimal(row["on_chain"]) for row in report["contracts"]} == {
                kept.number: Decimal("1234.00"), lost.number: Decimal("5678.00")}  # fmt: skip
            for listener in listeners:
                assert listener.health()[0] == 200, listener.health()
        finally:
            codes = {listener.name: listener.stop() for listener in listeners}
            for listener in listeners:
                print(f"----- {listener.name} (exit {codes[listener.name]})\n{listener.output()[-4000:]}")
        assert set(codes.values()) == {0}

    def test_a_reorg_deeper_than_the_window_halts_the_listener_and_fails_its_healthz(
        self, net: CliqueNetwork, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        window = 3
        env = party_settings(sandbox, tmp_path, net.rpc_url, COLLAB_CONFIRMATIONS="1",
                             COLLAB_REORG_WINDOW=str(window))  # fmt: skip
        listener = ListenerProcess("accounting-a", env["a"], tmp_path / "listen-a.log", "--role", "accounting")
        try:
            listener.wait_healthy()
            s0, s1, s2 = net.sealers
            partition = net.partition([s0, s1], [s2, net.rpc_node])
            # the listener follows the RPC node's side for more than its window past the fork
            net.wait_for_block(partition.fork_block + window + 6, net.rpc_node)
            wait_for(lambda: listener.health()[0] == 200, 30, lambda: str(listener.health()))
            seen: list[tuple[int | None, str]] = []
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    seen.append(listener.health())
                    stop.wait(0.02)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            reorg = net.heal(winner=[s0, s1])
            report_reorg(reorg, partition.fork_block)
            assert reorg.depth > window + 1
            wait_for(lambda: listener.exit_code is not None, 60, lambda: f"still running: {listener.health()}")
            stop.set()
            watcher.join()
            assert listener.exit_code == 1
            assert "ReorgTooDeep" in listener.output()
            assert "operator action needed" in listener.output()
            statuses = [status for status, _ in seen]
            # once halted, never healthy again: 503 while the process drains, then nothing answers
            after_halt = statuses[next(i for i, s in enumerate(statuses) if s != 200) :]
            assert after_halt
            assert 200 not in after_halt
            assert listener.health()[0] is None
            halted = [body for status, body in seen if status == 503]
            assert not halted or any("halted" in body for body in halted), halted
        finally:
            listener.stop()
            print(f"----- {listener.name}\n{listener.output()[-4000:]}")


def report_reorg(reorg: Reorg, fork_block: int) -> None:
    """What the RPC node went through, for the test's output (and the issue's note)."""
    print(
        f"reorg: depth {reorg.depth} on the RPC node (fork at block {fork_block}, common ancestor "
        f"{reorg.common_ancestor}, head {reorg.old_head.number} -> {reorg.new_head.number}), "
        f"{len(reorg.dropped_transactions)} transactions dropped; depth by node {reorg.depth_by_node}"
    )
