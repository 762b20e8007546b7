"""The client on nodes other than anvil, each fault played by a JSON-RPC proxy in front of anvil (issue 10): a Clique
chain's 97-byte extra data, fee lookups without "pending", zero-gas chains, receipts answered with errors, a
``toBlock`` past the head. The same client runs on a real geth Clique network in ``tests/e2e``."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner
from web3 import Web3
from web3.exceptions import Web3RPCError

from collab_py.chain.deploy import AUTO_EVM, chain_evm_version, resolve_evm_version
from collab_py.chain.logs import LogReader
from collab_py.chain.transactor import (
    FeeError,
    FeeOracle,
    FeePolicy,
    TransactionTimeout,
    Transactor,
    connect,
    fee_oracle,
    is_poa_chain,
)
from collab_py.cli import app
from collab_py.devnet.node import AnvilNode, rpc
from collab_py.devnet.parties import Funding, FundingError, fund_on_dev_node, is_dev_node
from collab_py.devnet.proxy import RpcProxy
from collab_py.settings import CollabSettings, SettingsError

#: Clique's extra data: 32 vanity bytes, one signer, a 65-byte seal (97 bytes).
CLIQUE_EXTRA = "0x" + "00" * 32 + "11" * 20 + "00" * 65
#: The init code of an empty contract: RETURN(0, 0).
EMPTY_CONTRACT = "0x60006000f3"


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    with AnvilNode() as node:
        yield node


@pytest.fixture
def proxy(anvil: AnvilNode) -> Iterator[RpcProxy]:
    with RpcProxy(anvil.rpc_url) as proxy:
        yield proxy


@pytest.fixture
def rich(anvil: AnvilNode) -> LocalAccount:
    account: LocalAccount = Account.create()
    fund_on_dev_node(connect(anvil.rpc_url), [account])
    return account


def deploy_empty(w3: Web3, account: LocalAccount) -> Any:
    """Deploys an empty contract from ``account`` through a transactor; returns the receipt."""
    return Transactor(w3, account).transact(w3.eth.contract(abi=[], bytecode=EMPTY_CONTRACT).constructor())


def sent_transaction(w3: Web3, receipt: Any) -> Any:
    return w3.eth.get_transaction(receipt["transactionHash"])


# ---------------------------------------------------------------------------------------------------- PoA


def with_clique_extra(_params: list[Any], block: Any) -> Any:
    return {**block, "extraData": CLIQUE_EXTRA} if isinstance(block, dict) else block


def test_connect_detects_proof_of_authority_from_the_raw_blocks(proxy: RpcProxy) -> None:
    proxy.rewrite("eth_getBlockByNumber", with_clique_extra)
    w3 = connect(proxy.url)  # web3's formatter alone refuses 97 bytes of extra data: the middleware is in place
    assert is_poa_chain(w3)
    block = w3.eth.get_block("latest")
    assert block["proofOfAuthorityData"] == bytes.fromhex(CLIQUE_EXTRA[2:])
    with pytest.raises(ValueError, match="extraData"):
        connect(proxy.url, poa=False).eth.get_block("latest")  # what COLLAB_POA=false does on such a chain
    assert not is_poa_chain(connect(proxy.upstream))


def test_a_chain_whose_later_blocks_carry_long_extra_data_is_detected(proxy: RpcProxy) -> None:
    proxy.rewrite("eth_getBlockByNumber", lambda params, block: with_clique_extra(params, block)
                  if params[0] == "latest" else block)  # fmt: skip
    assert is_poa_chain(connect(proxy.url))


# ---------------------------------------------------------------------------------------------------- fees


def refuse_pending(proxy: RpcProxy) -> None:
    """A node that knows no "pending" block (the message of the node that failed in issue 10)."""
    for method in ("eth_feeHistory", "eth_getBlockByNumber", "eth_getTransactionCount", "eth_call", "eth_estimateGas"):
        proxy.refuse(method, '"pending" is not yet supported', when=lambda params: "pending" in params)


def test_fees_are_read_without_the_pending_block(proxy: RpcProxy, rich: LocalAccount) -> None:
    refuse_pending(proxy)
    proxy.refuse("eth_maxPriorityFeePerGas", "the method eth_maxPriorityFeePerGas does not exist", code=-32601)
    w3 = connect(proxy.url)
    receipt = deploy_empty(w3, rich)
    assert receipt["status"] == 1
    tx = sent_transaction(w3, receipt)
    assert tx["type"] == 2
    assert tx["maxPriorityFeePerGas"] > 0
    assert proxy.calls["eth_feeHistory"] >= 1
    assert proxy.refused["eth_maxPriorityFeePerGas"] >= 1
    assert proxy.refused["eth_getTransactionCount"] >= 1  # the nonce came from "latest"


def test_without_fee_history_the_tip_is_the_gas_price_over_the_base_fee(proxy: RpcProxy, rich: LocalAccount) -> None:
    proxy.refuse("eth_maxPriorityFeePerGas", "method not found", code=-32601)
    proxy.refuse("eth_feeHistory", "method not found", code=-32601)
    w3 = connect(proxy.url)
    base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"])
    params = FeeOracle(w3).params()
    assert params["maxPriorityFeePerGas"] == w3.eth.gas_price - base_fee
    assert params["maxFeePerGas"] == 2 * base_fee + params["maxPriorityFeePerGas"]
    assert deploy_empty(w3, rich)["status"] == 1


def test_a_node_without_fee_lookups_needs_a_configured_gas_price(proxy: RpcProxy, rich: LocalAccount) -> None:
    for method in ("eth_maxPriorityFeePerGas", "eth_feeHistory", "eth_gasPrice"):
        proxy.refuse(method, "method not found", code=-32601)
    with pytest.raises(FeeError, match="COLLAB_GAS_PRICE"):
        deploy_empty(connect(proxy.url), rich)
    w3 = connect(proxy.url, fees=FeePolicy(gas_price=3 * 10**9))
    receipt = deploy_empty(w3, rich)
    tx = sent_transaction(w3, receipt)
    assert (tx["type"], tx["gasPrice"], receipt["effectiveGasPrice"]) == (0, 3 * 10**9, 3 * 10**9)


def test_transactors_of_one_connection_share_its_fee_policy(anvil: AnvilNode) -> None:
    w3 = connect(anvil.rpc_url, fees=FeePolicy(gas_price=7))
    first, second = Transactor(w3, Account.create()), Transactor(w3, Account.create())
    assert first.fees is second.fees is fee_oracle(w3)
    assert first.fees.params() == {"gasPrice": 7}
    assert fee_oracle(connect(anvil.rpc_url)).policy == FeePolicy()


def test_a_websocket_connection_serves_many_threads_at_once(anvil: AnvilNode) -> None:
    w3 = connect(anvil.ws_url)  # the sync reads ahead on a second thread, the platform answers on many

    def ask(_: int) -> list[int]:
        return [w3.eth.block_number for _ in range(25)] + [len(w3.eth.get_block("latest")["transactions"])]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert [len(answer) for answer in answers] == [26] * 8


def test_fee_policies_that_contradict_themselves_are_refused() -> None:
    with pytest.raises(ValueError, match="contradict"):
        FeePolicy(gas_price=10, zero_gas=True)
    with pytest.raises(ValueError, match="negative"):
        FeePolicy(gas_price=-1)


# ---------------------------------------------------------------------------------------------------- zero gas


@pytest.fixture(scope="module")
def zero_gas_anvil() -> Iterator[AnvilNode]:
    """A chain with base fee 0 (a Besu "free gas" network, a geth chain with base fee 0 and minimum price 0)."""
    with AnvilNode(extra_args=["--base-fee", "0"]) as node:
        yield node


def test_a_zero_gas_chain_is_detected_and_used_from_an_account_without_ether(zero_gas_anvil: AnvilNode) -> None:
    w3 = connect(zero_gas_anvil.rpc_url)
    poor: LocalAccount = Account.create()
    assert w3.eth.get_block("latest")["baseFeePerGas"] == 0
    assert w3.eth.max_priority_fee > 0  # the node still suggests a tip
    receipt = deploy_empty(w3, poor)
    tx = sent_transaction(w3, receipt)
    assert (tx["maxFeePerGas"], tx["maxPriorityFeePerGas"], receipt["effectiveGasPrice"]) == (0, 0, 0)
    assert w3.eth.get_balance(poor.address) == 0


@pytest.mark.parametrize(
    ("policy", "fields"),
    [
        (FeePolicy(zero_gas=True), {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0}),
        (FeePolicy(gas_price=0), {"gasPrice": 0}),
    ],
)
def test_zero_gas_by_setting(zero_gas_anvil: AnvilNode, policy: FeePolicy, fields: dict[str, int]) -> None:
    w3 = connect(zero_gas_anvil.rpc_url, fees=policy)
    receipt = deploy_empty(w3, Account.create())
    tx = sent_transaction(w3, receipt)
    assert {key: tx[key] for key in fields} == fields
    assert receipt["effectiveGasPrice"] == 0


def test_zero_gas_configured_on_a_chain_with_a_base_fee_is_refused(anvil: AnvilNode) -> None:
    w3 = connect(anvil.rpc_url, fees=FeePolicy(zero_gas=True))
    with pytest.raises(FeeError, match="base fee is"):
        deploy_empty(w3, Account.create())


def test_zero_gas_is_given_up_when_the_node_refuses_it(zero_gas_anvil: AnvilNode) -> None:
    """A chain with base fee 0 whose nodes still want a tip (geth without ``miner_setGasPrice 0``): the first
    zero-priced transaction is refused as underpriced and sent again, same nonce, with the suggested fees."""
    rich: LocalAccount = Account.create()
    fund_on_dev_node(connect(zero_gas_anvil.rpc_url), [rich])
    with RpcProxy(zero_gas_anvil.rpc_url) as proxy:
        proxy.refuse("eth_sendRawTransaction", "transaction underpriced: tip needed 1, tip permitted 0", times=1)
        w3 = connect(proxy.url)
        receipt = deploy_empty(w3, rich)
        tx = sent_transaction(w3, receipt)
        assert tx["nonce"] == 0
        assert tx["maxPriorityFeePerGas"] > 0
        assert proxy.refused["eth_sendRawTransaction"] == 1
        assert fee_oracle(w3).params()["maxPriorityFeePerGas"] > 0  # and from then on
        # configured zero gas is not given up: the refusal stands
        proxy.refuse("eth_sendRawTransaction", "transaction underpriced", times=1)
        with pytest.raises(Web3RPCError, match="underpriced"):
            deploy_empty(connect(proxy.url, fees=FeePolicy(zero_gas=True)), Account.create())


# ---------------------------------------------------------------------------------------------------- receipts


def test_a_receipt_answered_with_an_error_means_not_yet(proxy: RpcProxy, rich: LocalAccount) -> None:
    proxy.refuse("eth_getTransactionReceipt", "transaction indexing is in progress", times=3)
    assert deploy_empty(connect(proxy.url), rich)["status"] == 1
    assert proxy.refused["eth_getTransactionReceipt"] == 3


def test_receipts_that_never_come_time_out_saying_what_the_node_answered(proxy: RpcProxy, rich: LocalAccount) -> None:
    proxy.refuse("eth_getTransactionReceipt", "unknown transaction")
    transactor = Transactor(connect(proxy.url), rich, receipt_timeout=0.5)
    with pytest.raises(TransactionTimeout, match=r"the node last answered: .*unknown transaction"):
        transactor.transact(transactor.w3.eth.contract(abi=[], bytecode=EMPTY_CONTRACT).constructor())


# ---------------------------------------------------------------------------------------------------- logs


def test_get_logs_past_the_head_is_clamped_to_the_head(proxy: RpcProxy, rich: LocalAccount, anvil: AnvilNode) -> None:
    def past_head(params: list[Any]) -> bool:
        return int(params[0]["toBlock"], 16) > int(rpc(anvil.rpc_url, "eth_blockNumber"), 16)

    proxy.refuse("eth_getLogs", "block range extends beyond current head block", when=past_head)
    w3 = connect(proxy.url)
    topic = bytes.fromhex("ab" * 32)
    # init code: LOG1(0, 0, topic), then RETURN(0, 0)
    emitting = w3.eth.contract(abi=[], bytecode="0x7f" + topic.hex() + "60006000a160006000f3")
    receipt = Transactor(w3, rich).transact(emitting.constructor())
    head = w3.eth.block_number
    reader = LogReader(w3, [receipt["contractAddress"]], [topic], max_range=4)
    found = reader.fetch(max(0, head - 5), head + 50)
    assert [int(entry["blockNumber"], 16) for entry in found] == [receipt["blockNumber"]]
    assert proxy.refused["eth_getLogs"] >= 1


# ---------------------------------------------------------------------------------------------------- settings


def test_settings_carry_the_node_profile_to_every_connection(proxy: RpcProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_GAS_PRICE", "0")
    monkeypatch.setenv("COLLAB_POA", "true")
    settings = CollabSettings.load(rpc_url=proxy.url, _env_file=None)
    assert (settings.gas_price, settings.zero_gas, settings.poa) == (0, None, True)
    w3 = settings.connect()
    assert fee_oracle(w3).params() == {"gasPrice": 0}
    proxy.rewrite("eth_getBlockByNumber", with_clique_extra)
    assert w3.eth.get_block("latest")["proofOfAuthorityData"] == bytes.fromhex(CLIQUE_EXTRA[2:])

    monkeypatch.delenv("COLLAB_GAS_PRICE")
    for text, value in (("auto", None), ("true", True), ("false", False)):
        monkeypatch.setenv("COLLAB_ZERO_GAS", text)
        assert CollabSettings.load(_env_file=None).fee_policy() == FeePolicy(zero_gas=value)
    monkeypatch.setenv("COLLAB_ZERO_GAS", "true")
    monkeypatch.setenv("COLLAB_GAS_PRICE", "5")
    with pytest.raises(SettingsError, match="contradict"):
        CollabSettings.load(_env_file=None)
    monkeypatch.setenv("COLLAB_GAS_PRICE", "-1")
    with pytest.raises(SettingsError, match="COLLAB_GAS_PRICE: must be >= 0"):
        CollabSettings.load(_env_file=None)
    monkeypatch.setenv("COLLAB_REORG_WINDOW", "0")
    with pytest.raises(SettingsError, match="COLLAB_REORG_WINDOW: must be >= 1"):
        CollabSettings.load(_env_file=None, gas_price=1)


# ---------------------------------------------------------------------------------------------------- EVM version


@pytest.mark.parametrize(("hardfork", "expected"), [("paris", "paris"), ("shanghai", "paris"), ("cancun", None)])
def test_the_evm_version_to_deploy_is_what_the_chain_runs(hardfork: str, expected: str | None) -> None:
    with AnvilNode(extra_args=["--hardfork", hardfork]) as node:
        w3 = connect(node.rpc_url)
        assert chain_evm_version(w3) == expected
        assert resolve_evm_version(w3, AUTO_EVM) == expected
        assert resolve_evm_version(w3, "london") == "london"
        assert resolve_evm_version(w3, None) is None


def test_a_configured_evm_version_wins_over_detection(anvil: AnvilNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_EVM_VERSION", "paris")
    assert resolve_evm_version(connect(anvil.rpc_url), AUTO_EVM) == "paris"


# ---------------------------------------------------------------------------------------------------- funding


def pretend_geth(proxy: RpcProxy) -> None:
    """A node that is no development node: another client version, no anvil_setBalance."""
    proxy.rewrite("web3_clientVersion", lambda _params, _version: "Geth/v1.13.15-stable/linux-amd64/go1.26.8")
    proxy.refuse("anvil_setBalance", "the method anvil_setBalance does not exist/is not available", code=-32601)


def test_fresh_accounts_are_funded_by_transfers_on_a_node_that_sets_no_balances(
    proxy: RpcProxy, rich: LocalAccount
) -> None:
    pretend_geth(proxy)
    w3 = connect(proxy.url)
    fresh = [Account.create() for _ in range(3)]
    assert not is_dev_node(w3)
    with pytest.raises(FundingError, match="--funder-keystore"):
        Funding().fund(w3, fresh)
    with pytest.raises(FundingError, match="not a development node"):
        fund_on_dev_node(w3, fresh)
    Funding(rich, wei_each=12345).fund(w3, fresh)
    assert [w3.eth.get_balance(account.address) for account in fresh] == [12345] * 3
    Funding(rich, wei_each=12345).fund(w3, fresh)  # those that hold enough are left alone
    assert [w3.eth.get_balance(account.address) for account in fresh] == [12345] * 3
    assert "transfers of 0.0000000000000123 ether" in Funding(rich, wei_each=123 * 10**2).describe(w3)
    with pytest.raises(FundingError, match="holds 0 ether"):
        Funding(Account.create()).fund(w3, [Account.create()])


def test_accounts_get_no_ether_on_a_zero_gas_chain(zero_gas_anvil: AnvilNode) -> None:
    w3 = connect(zero_gas_anvil.rpc_url)
    fresh = Account.create()
    Funding().fund(w3, [fresh])
    assert w3.eth.get_balance(fresh.address) == 0
    assert Funding().describe(w3).startswith("zero gas")


def test_the_demo_refuses_a_funder_key_that_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_FUNDER_KEY", "not-a-key")
    result = CliRunner().invoke(app, ["demo", "--rpc-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "COLLAB_FUNDER_KEY is not a private key" in result.stderr
    assert "not-a-key" not in result.stdout + result.stderr


def test_a_receipt_counts_once_its_block_is_the_nodes_head(proxy: RpcProxy, rich: LocalAccount) -> None:
    """geth writes a block's receipts a moment before the block becomes its head: a transaction is not taken as mined
    (and the state read after it) until the node's head has reached the receipt's block."""
    behind = {"times": 3}

    def lagging(_params: list[Any], number: str) -> str:
        if behind["times"] > 0:
            behind["times"] -= 1
            return hex(int(number, 16) - 1)
        return number

    proxy.rewrite("eth_blockNumber", lagging)
    receipt = deploy_empty(connect(proxy.url), rich)
    assert receipt["status"] == 1
    assert behind["times"] == 0
