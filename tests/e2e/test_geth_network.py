"""End to end on a real geth 1.13 Clique network: sealing, collab's deployment, a reorg, faults, zero gas, cleanup.

Run with ``make e2e`` (``pytest -m e2e tests/e2e``); the default ``make test`` deselects these tests.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets.sync.client
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TimeExhausted, TransactionNotFound
from web3.types import TxReceipt

from collab_py.chain.deploy import OrgRegistration, chain_evm_version, deploy
from collab_py.chain.transactor import FeePolicy, Transactor, connect, is_poa_chain
from collab_py.devnet.clique import CliqueNetwork
from collab_py.devnet.geth import TEMP_PREFIX, sweep_stale
from collab_py.domain.crypto import EncryptionKey

pytestmark = pytest.mark.e2e

ETHER = 10**18
CHAIN_ID = 1337
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="class")
def funded() -> LocalAccount:
    account: LocalAccount = Account.create()
    return account


@pytest.fixture(scope="class")
def network(funded: LocalAccount) -> Iterator[CliqueNetwork]:
    """3 sealers and the RPC node, period 1 s, for the tests of one class."""
    with CliqueNetwork(sealers=3, chain_id=CHAIN_ID, prefund={funded.address: 1000 * ETHER}) as net:
        yield net


def transfer(w3: Web3, sender: LocalAccount, to: str, value: int, *, nonce: int | None = None, **fees: int) -> HexBytes:
    """Signs and sends a plain transfer; EIP-1559 fees of 10 / 1 gwei unless ``fees`` says otherwise."""
    tx: dict[str, Any] = {
        "to": to,
        "value": value,
        "gas": 21_000,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending") if nonce is None else nonce,
        "chainId": CHAIN_ID,
        **(fees or {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}),
    }
    return HexBytes(w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))


def mined(w3: Web3, tx_hash: HexBytes, timeout: float = 30.0, net: CliqueNetwork | None = None) -> TxReceipt:
    """The receipt once mined; on a timeout, what each node of ``net`` was doing."""
    try:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.1)
    except TimeExhausted:
        if net is None:
            raise
        heads = [
            f"{node.name}: {net.head(node)}, txpool {node.call('txpool_status')}, peers {len(node.peer_keys())}"
            if node.running
            else f"{node.name}: stopped"
            for node in net.nodes
        ]
        report = [f"{tx_hash.to_0x_hex()} not mined in {timeout} s", *heads, net.log_tails(30)]
        raise AssertionError("\n".join(report)) from None
    assert receipt["status"] == 1
    return receipt


def sealed_by(net: CliqueNetwork, address: str, after: int, timeout: float = 30.0) -> int:
    """Waits for a block after ``after`` sealed by ``address``; returns its number."""
    deadline = time.monotonic() + timeout
    number = after + 1
    while time.monotonic() < deadline:
        if net.head().number >= number:
            if net.signer_of(number) == address.lower():
                return number
            number += 1
        else:
            time.sleep(0.2)
    raise AssertionError(f"{address} sealed no block after {after} within {timeout} s")


def receipt_or_none(w3: Web3, tx_hash: HexBytes) -> TxReceipt | None:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return None


# --- a healthy network -----------------------------------------------------------------------------------------


@pytest.mark.xdist_group("one-network")  # one network for the class, on one worker
class TestOneNetwork:
    """Tests that share one network and leave it as they found it (stopped before the fault tests start)."""

    def test_sealers_seal_every_period_and_a_transfer_is_mined_on_the_rpc_node(
        self, network: CliqueNetwork, funded: LocalAccount
    ) -> None:
        w3 = connect(network.rpc_url, poa=True)
        head = network.wait_for_block(8)
        blocks = [w3.eth.get_block(number) for number in range(2, head.number + 1)]
        gaps = [later["timestamp"] - earlier["timestamp"] for earlier, later in itertools.pairwise(blocks)]
        assert min(gaps) >= 1, gaps
        assert sorted(gaps)[len(gaps) // 2] == 1, f"period 1 s, block gaps {gaps}"
        signers = {network.signer_of(block["hash"].to_0x_hex()) for block in blocks}
        assert signers <= {address.lower() for address in network.sealer_addresses}
        assert len(signers) >= 2
        network.wait_peered(timeout=30)  # every node with the other three (geth redials a static peer it dropped)
        assert all(len(node.peer_keys()) == 3 for node in network.nodes)
        assert w3.eth.chain_id == CHAIN_ID

        recipient = Account.create().address
        receipt = mined(w3, transfer(w3, funded, recipient, 12345), net=network)
        assert w3.eth.get_balance(recipient) == 12345
        # under load two sealers may seal siblings at one height for a moment (out-of-turn blocks): compare once the
        # nodes agree on a block above the transfer's
        network.wait_in_sync(receipt["blockNumber"] + 2)
        final = w3.eth.get_transaction_receipt(receipt["transactionHash"])
        for node in network.sealers:
            seen = connect(node.rpc_url, poa=True).eth.get_transaction_receipt(receipt["transactionHash"])
            assert (seen["blockHash"], seen["status"]) == (final["blockHash"], 1)

    def test_websocket_endpoint_streams_new_heads(self, network: CliqueNetwork) -> None:
        with websockets.sync.client.connect(network.ws_url, open_timeout=10) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            assert json.loads(ws.recv(timeout=10))["result"].startswith("0x")
            head = json.loads(ws.recv(timeout=10))["params"]["result"]
        assert int(head["number"], 16) >= 2

    def test_contracts_compiled_for_paris_deploy_with_collab(
        self, network: CliqueNetwork, funded: LocalAccount, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        compiled = subprocess.run(
            [sys.executable, "-m", "collab_py.chain.build", "--evm-version", "paris"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert compiled.returncode == 0, compiled.stderr
        monkeypatch.delenv("COLLAB_EVM_VERSION", raising=False)
        w3 = connect(network.rpc_url)
        assert chain_evm_version(w3) == "paris"  # no PUSH0, no MCOPY before Shanghai
        bank = OrgRegistration(900, "Bank", funded.address, EncryptionKey().public_key)
        deployment = deploy(Transactor(w3, funded), institution=bank)
        assert deployment.manifest.evm_version == "paris"
        assert deployment.manifest.chain_id == CHAIN_ID
        for address in (deployment.manifest.registry, deployment.manifest.escrow, deployment.manifest.asset):
            assert len(w3.eth.get_code(address)) > 0
        assert deployment.registry.functions.escrow().call() == deployment.manifest.escrow

    def test_connect_detects_a_clique_chain(self, network: CliqueNetwork) -> None:
        # web3's formatter alone refuses Clique's 97 bytes of extraData; connect() reads raw blocks first (issue 10)
        w3 = connect(network.rpc_url)
        assert is_poa_chain(w3)
        block = w3.eth.get_block("latest")
        assert len(block["proofOfAuthorityData"]) == 32 + 65  # vanity and seal (the signer list is in block 0 only)
        assert len(w3.eth.get_block(0)["proofOfAuthorityData"]) == 32 + 3 * 20 + 65


# --- a reorg ---------------------------------------------------------------------------------------------------


def test_a_partition_reorganises_the_losing_sides_blocks_away() -> None:
    alice = Account.create()
    with CliqueNetwork(sealers=3, chain_id=CHAIN_ID, prefund={alice.address: 10 * ETHER}) as net:
        s0, s1, s2 = net.sealers
        partition = net.partition([s0, s1], [s2, net.rpc_node])
        # s2 alone could seal one block in two: its side gets a twin sealing with s0's or s1's key
        (twin,) = partition.twins
        assert twin.address in {s0.address, s1.address}

        losing = connect(net.rpc_url, poa=True)
        winning = connect(s0.rpc_url, poa=True)
        x, y = Account.create().address, Account.create().address
        lost_1 = mined(losing, transfer(losing, alice, x, 1, nonce=0), net=net)
        lost_2 = mined(losing, transfer(losing, alice, x, 2, nonce=1), net=net)
        kept = mined(winning, transfer(winning, alice, y, 5, nonce=0), net=net)  # the same nonce: a double spend
        assert losing.eth.get_balance(x) == 3
        assert winning.eth.get_balance(y) == 5

        reorg = net.heal(winner=[s0, s1])

        assert reorg.depth >= 2
        assert reorg.depth_by_node["sealer-2"] >= 2
        assert reorg.depth_by_node["sealer-0"] == reorg.depth_by_node["sealer-1"] == 0
        assert reorg.common_ancestor >= partition.fork_block - 1
        assert {lost_1["blockHash"].to_0x_hex(), lost_2["blockHash"].to_0x_hex()} <= set(reorg.dropped_blocks)
        assert {lost_1["transactionHash"].to_0x_hex(), lost_2["transactionHash"].to_0x_hex()} <= set(
            reorg.dropped_transactions
        )
        assert any("Chain reorg detected" in line for line in reorg.log)
        for lost in (lost_1, lost_2):
            assert losing.eth.get_block(lost["blockNumber"])["hash"] != lost["blockHash"]
        # the double spend won; the transfer with nonce 1 went back to the pool and is mined on the new chain
        assert receipt_or_none(losing, lost_1["transactionHash"]) is None
        assert losing.eth.get_balance(y) == 5
        again = mined(losing, lost_2["transactionHash"], net=net)
        assert again["blockHash"] != lost_2["blockHash"]
        assert losing.eth.get_balance(x) == 2
        assert losing.eth.get_transaction_receipt(kept["transactionHash"])["blockHash"] == kept["blockHash"]
        assert twin.pid is None
        assert twin not in net.nodes

        # s2 stopped sealing to lose; it seals again on the one chain
        sealed_by(net, s2.address, net.head().number)


# --- faults ----------------------------------------------------------------------------------------------------


def test_a_killed_sealer_restarts_and_the_rpc_node_restarts() -> None:
    alice = Account.create()
    with CliqueNetwork(sealers=3, chain_id=CHAIN_ID, prefund={alice.address: 10 * ETHER}) as net:
        victim = net.sealers[1]
        w3 = connect(net.rpc_url, poa=True)
        bob = Account.create().address
        before = [mined(w3, transfer(w3, alice, bob, 1), net=net) for _ in range(2)]

        net.stop_node(victim, kill=True)
        down_at = net.head().number
        during = mined(w3, transfer(w3, alice, bob, 1), net=net)
        head = net.wait_for_block(down_at + 3)
        sealed_while_down = {net.signer_of(number) for number in range(down_at + 1, head.number + 1)}
        assert victim.address.lower() not in sealed_while_down

        net.start_node(victim)
        assert net.head(victim).number >= head.number
        sealed_by(net, victim.address, net.head().number)

        url = net.rpc_url
        net.restart_rpc_node()
        assert net.rpc_url == url
        w3 = connect(net.rpc_url, poa=True)
        after = mined(w3, transfer(w3, alice, bob, 1), net=net)
        assert w3.eth.get_balance(bob) == 4
        for receipt in (*before, during):
            assert w3.eth.get_transaction_receipt(receipt["transactionHash"])["blockHash"] == receipt["blockHash"]
        assert after["blockNumber"] > during["blockNumber"]


# --- zero gas --------------------------------------------------------------------------------------------------


def test_zero_gas_network_mines_transactions_from_accounts_without_ether() -> None:
    poor = Account.create()
    # gas limit 1,000,000: one large transaction goes over the 500,000 gas target (see the end of the test)
    with CliqueNetwork(sealers=2, chain_id=CHAIN_ID, zero_gas=True, gas_limit=1_000_000) as net:
        w3 = connect(net.rpc_url, poa=True)
        assert w3.eth.get_block("latest")["baseFeePerGas"] == 0
        legacy = mined(w3, transfer(w3, poor, poor.address, 0, gasPrice=0), net=net)
        dynamic = mined(w3, transfer(w3, poor, poor.address, 0, maxFeePerGas=0, maxPriorityFeePerGas=0), net=net)
        assert legacy["effectiveGasPrice"] == dynamic["effectiveGasPrice"] == 0
        assert w3.eth.get_balance(poor.address) == 0
        # the node's fee suggestions do not know: 1 gwei (geth's default, not changed by miner_setGasPrice)
        assert w3.eth.max_priority_fee == 10**9

        # London: a block over half its gas limit raises the base fee by at least 1 wei, and below 8 wei it never
        # falls again (the decrease rounds to 0) — a zero-gas geth chain needs a gas limit no block fills halfway
        big = {"to": poor.address, "gas": 800_000, "gasPrice": 0, "nonce": 2, "chainId": CHAIN_ID}
        signed = poor.sign_transaction({**big, "data": b"\1" * 40_000})
        receipt = mined(w3, HexBytes(w3.eth.send_raw_transaction(signed.raw_transaction)), net=net)
        assert receipt["gasUsed"] > 500_000
        head = net.wait_for_block(receipt["blockNumber"] + 4)
        fees = [w3.eth.get_block(n)["baseFeePerGas"] for n in range(receipt["blockNumber"], head.number + 1)]
        assert fees == [0] + [1] * (len(fees) - 1)
        stuck = transfer(w3, poor, poor.address, 0, gasPrice=0)  # accepted into the pool, never mined
        net.wait_blocks(2)
        assert receipt_or_none(w3, stuck) is None


def test_collab_transactor_on_a_zero_gas_network() -> None:
    poor = Account.create()
    with CliqueNetwork(sealers=1, chain_id=CHAIN_ID, zero_gas=True) as net:
        w3 = connect(net.rpc_url)  # PoA and zero gas detected (base fee 0; geth still suggests a 1 gwei tip)
        empty_contract = w3.eth.contract(abi=[], bytecode="0x60006000f3")  # init code: RETURN(0, 0)
        receipt = Transactor(w3, poor).transact(empty_contract.constructor())
        assert receipt["status"] == 1
        assert receipt["effectiveGasPrice"] == 0
        assert w3.eth.get_balance(poor.address) == 0
        # the same by setting, a legacy gas price of 0 (COLLAB_GAS_PRICE=0)
        legacy = connect(net.rpc_url, fees=FeePolicy(gas_price=0))
        receipt = Transactor(legacy, poor).transact(empty_contract.constructor())
        assert legacy.eth.get_transaction(receipt["transactionHash"])["type"] == 0
        assert receipt["effectiveGasPrice"] == 0


# --- interrupted runs --------------------------------------------------------------------------------------------

_CHILD = """
import json, time
from collab_py.devnet.clique import CliqueNetwork
with CliqueNetwork(sealers=1) as net:
    print(json.dumps({"root": str(net.root), "pids": [node.pid for node in net.nodes]}), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_interrupted_runs_leave_no_geth_and_no_data() -> None:
    """Ctrl-C (SIGINT), SIGTERM and SIGKILL of the process that owns a network: its geth processes end, and the
    data folders go at once (SIGINT, SIGTERM) or at the next start of a network (SIGKILL: sweep_stale)."""
    children = {
        signum: subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            # Ctrl-C as at a terminal, also when this run was started in the background of a script (which
            # starts it with SIGINT ignored, and a child inherits that)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
    }
    try:
        started = {}
        for signum, child in children.items():
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line, f"the child for {signum!r} did not start its network"
            started[signum] = json.loads(line)
        for signum, child in children.items():
            assert all(_alive(pid) for pid in started[signum]["pids"])
            child.send_signal(signum)
        for child in children.values():
            child.wait(timeout=30)
        deadline = time.monotonic() + 15
        pids = [pid for info in started.values() for pid in info["pids"]]
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in pids if _alive(pid)]
        assert not Path(started[signal.SIGINT]["root"]).exists()
        assert not Path(started[signal.SIGTERM]["root"]).exists()
        killed_root = Path(started[signal.SIGKILL]["root"])
        assert killed_root.exists()  # nobody was left to remove it...
        assert killed_root in sweep_stale()  # ...until the next network starts
        assert not killed_root.exists()
        assert os.path.basename(killed_root).startswith(TEMP_PREFIX)
    finally:
        # whatever failed above, no child and none of its nodes outlive the test
        for child in children.values():
            if child.poll() is None:
                child.kill()
            _, errors = child.communicate()
            print(f"child exited with {child.returncode}: {errors[-3000:]}", file=sys.stderr)  # shown on failure
        sweep_stale()
