"""The pipelined path of the load generator: the same transactions as the standard path, rounds mined as blocks,
and a refusal in a round raised by its name with the node's mining settings restored; on a node that mines by itself,
rounds carried by its blocks without any development call."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from collab_py.chain import errors
from collab_py.chain.deploy import deploy_contract
from collab_py.chain.enums import Department
from collab_py.chain.transactor import Transactor, connect
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import fund_on_dev_node
from collab_py.devnet.pipeline import (
    LIVE_SETTLE_S,
    ManualMining,
    Outbox,
    PipelinedTransactor,
    PipelineError,
    Rounds,
    Rpc,
    await_round,
    mine_round,
)
from collab_py.devnet.sandbox import sample_contract
from collab_py.exceptions import CollabError
from collab_py.services import BusinessService, InstitutionService
from support import World, econtract, issued


def test_a_round_is_one_block_of_the_transactions_the_standard_path_signs(world: World, flow: Flow) -> None:
    account = world.b.account(Department.BUSINESS)
    outbox = Outbox()
    fast = BusinessService(world.deployment, PipelinedTransactor(world.w3, account, outbox=outbox))
    drafts = [sample_contract(f"PL-{index}") for index in range(5)]
    steps = [fast.prepare_propose(econtract(world, draft)) for draft in drafts]
    for step in steps:
        fast.send(step)
    pending = outbox.take()
    standard = Transactor(world.w3, account)
    for step, tx in zip(steps, pending, strict=True):  # what the standard transactor signs with the same fields
        params = {**tx.params, "data": step.call._encode_transaction_data()}
        assert standard.account.sign_transaction(params).raw_transaction == tx.signed.raw_transaction
    with Rpc(world.w3.provider.endpoint_uri) as rpc, ManualMining(rpc):  # type: ignore[attr-defined]
        before = world.w3.eth.block_number
        mine_round(rpc, pending, "propose")
        assert world.w3.eth.block_number == before + 1
    block = world.w3.eth.get_block(before + 1)
    assert [bytes(tx_hash) for tx_hash in block["transactions"]] == [bytes(tx.tx_hash) for tx in pending]
    assert [fast.reader.agreement(draft.number).contract_no for draft in drafts] == [d.number for d in drafts]


def test_a_refusal_in_a_round_is_raised_by_name_and_mining_is_restored(world: World, flow: Flow) -> None:
    draft = sample_contract("PL-R")
    seq, _ = issued(flow, world, draft)  # frozen, not requested: a release is refused
    outbox = Outbox()
    operator = InstitutionService(
        world.deployment,
        PipelinedTransactor(world.w3, world.bank.account(Department.OPERATOR), outbox=outbox),
        encryption_key=world.bank.encryption_key,
    )
    operator.send(operator.prepare_release(draft.contract_no, seq))
    gas_limit = world.w3.eth.get_block("latest")["gasLimit"]
    with Rpc(world.w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        with pytest.raises(errors.UnexpectedVoucherStatus), ManualMining(rpc):
            mine_round(rpc, outbox.take(), "release")
        assert rpc.call("anvil_getAutomine") is True
    assert world.w3.eth.get_block("latest")["gasLimit"] == gas_limit


def test_a_node_mining_at_an_interval_gets_its_interval_back() -> None:
    with AnvilNode(block_time=7) as node, Rpc(node.rpc_url) as rpc:
        with ManualMining(rpc):
            assert rpc.call("anvil_getAutomine") is False
            assert rpc.call("anvil_getIntervalMining") is None
        assert rpc.call("anvil_getIntervalMining") == 7


def test_batches_need_an_http_node() -> None:
    with pytest.raises(PipelineError, match="http://"):
        Rpc("ws://127.0.0.1:8545")


class _OneAnswerPerConnection(http.server.BaseHTTPRequestHandler):
    """Answers one JSON-RPC request per connection, then closes it without saying so, as a server closes an idle
    keep-alive connection."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_connection_the_server_closed_while_idle_is_reopened() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OneAnswerPerConnection)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Rpc(f"http://127.0.0.1:{server.server_port}", reopen_after=0.1) as rpc:
            assert rpc.call("eth_blockNumber") == "0x1"
            time.sleep(0.3)  # idle: the server has closed the connection
            assert rpc.call("eth_blockNumber") == "0x1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ticking() -> Iterator[AnvilNode]:
    """A node that mines a block every second by itself, as a live chain does."""
    with AnvilNode(block_time=1) as node:
        yield node


def _minting(rpc_url: str, holders: int) -> tuple[Contract, list[str], PipelinedTransactor]:
    """A token deployed on ``rpc_url``, and its admin's mints to ``holders`` fresh addresses signed into the admin's
    outbox, not sent."""
    w3 = connect(rpc_url)
    admin: LocalAccount = Account.create()
    fund_on_dev_node(w3, [admin])  # the test's setup; the rounds make no anvil_* or evm_* call
    token, _ = deploy_contract(Transactor(w3, admin), "DepositToken", "T", "T", admin.address)
    outbox = Outbox()
    fast = PipelinedTransactor(w3, admin, outbox=outbox)
    addresses = [Account.create().address for _ in range(holders)]
    for holder in addresses:
        fast.send(token.functions.mint(holder, 5), gas=100_000)
    return token, addresses, fast


def test_a_round_on_a_node_that_mines_by_itself_waits_for_its_blocks(ticking: AnvilNode) -> None:
    token, holders, admin = _minting(ticking.rpc_url, 3)
    with Rpc(ticking.rpc_url) as rpc:
        await_round(rpc, admin.outbox.take(), "mint")
        assert rpc.call("anvil_getAutomine") is False  # the node's mining was left alone
    assert [token.functions.balanceOf(holder).call() for holder in holders] == [5, 5, 5]

    admin.send(token.functions.transfer(holders[0], 10**9), gas=100_000)  # more than the admin holds
    with Rpc(ticking.rpc_url) as rpc, pytest.raises(CollabError, match="ERC20InsufficientBalance"):
        await_round(rpc, admin.outbox.take(), "transfer")


def test_a_round_on_a_node_that_seals_on_demand_settles_once_the_head_stands_still() -> None:
    with AnvilNode() as node:  # automine: a block per transaction, none after the last
        token, holders, admin = _minting(node.rpc_url, 3)
        with Rpc(node.rpc_url) as rpc:
            started = time.monotonic()
            await_round(rpc, admin.outbox.take(), "mint", stuck_s=30)
            assert time.monotonic() - started < LIVE_SETTLE_S + 2
        assert [token.functions.balanceOf(holder).call() for holder in holders] == [5, 5, 5]


def test_a_round_whose_chain_makes_no_block_fails_by_name_instead_of_waiting_for_ever() -> None:
    with AnvilNode() as node:
        _, _, admin = _minting(node.rpc_url, 2)
        with Rpc(node.rpc_url) as rpc:
            rpc.call("evm_setAutomine", False)  # the chain stops: nothing will mine the round
            with pytest.raises(PipelineError, match=r"mint .*2 transactions not mined in 0 blocks and \d+ s"):
                await_round(rpc, admin.outbox.take(), "mint", stuck_s=1)


class _FakeRpc:
    """A node's answers to what :class:`Rounds` asks when it starts."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.methods: list[str] = []

    def call(self, method: str, *params: object) -> object:
        self.methods.append(method)
        if method == "web3_clientVersion":
            return self.version
        if method == "eth_getBlockByNumber":
            return {"gasLimit": hex(30_000_000)}
        raise AssertionError(f"{method} called")


def test_rounds_on_a_live_node_fit_the_sealers_pools_and_two_blocks_and_make_no_development_call() -> None:
    rpc = _FakeRpc("Geth/v1.13.15-stable/linux-amd64/go1.22")
    with Rounds(rpc) as rounds:  # type: ignore[arg-type]
        assert rounds.live
        assert rounds.size(100_000) == 64  # what a sealer keeps of one account's transactions not yet due
        assert rounds.size(2_000_000) == 30  # two blocks of 30M gas
        assert rounds.size(90_000_000) == 1
    with Rounds(rpc, account_window=1_024) as rounds:  # type: ignore[arg-type]
        assert rounds.size(21_000) == 1_024  # pools sized for it (our own --clique network)
        assert rounds.size(100_000) == 600  # then two blocks of 30M gas bound it
    assert rpc.methods == ["web3_clientVersion", "eth_getBlockByNumber"] * 2


def test_rounds_on_anvil_are_mined_on_request(ticking: AnvilNode) -> None:
    with Rpc(ticking.rpc_url) as rpc:
        with Rounds(rpc) as rounds:
            assert not rounds.live
            assert rpc.call("anvil_getAutomine") is False
            assert rpc.call("anvil_getIntervalMining") is None
            assert rounds.size(100_000) == 1_000
        assert rpc.call("anvil_getIntervalMining") == 1
