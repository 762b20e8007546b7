"""Many transactions fast: signing without web3's per-call overhead, JSON-RPC batches, and rounds mined as blocks.

For load on a development node (the load generator, the benchmarks), where thousands of transactions go out at once.
:class:`PipelinedTransactor` signs exactly the transactions :class:`~collab_py.chain.transactor.Transactor` would
(the first calldata of each function and the first signature of each account are checked against web3's and
eth-account's) but leaves them in an :class:`Outbox` instead of sending each one; :class:`Rpc` ships them as
batches; :class:`ManualMining` switches the node's automine off so that :func:`mine_round` mines a whole round of
independent transactions as one block and checks every receipt. On a node that mines by itself (geth, Besu: no
``evm_*`` calls), :func:`await_round` sends a round and follows the chain's blocks until every receipt is checked;
:class:`Rounds` picks one or the other for the node it talks to.

The throughput benchmark (``bench/throughput.py``) runs complete flows on a conveyor: :class:`Workers`, processes
forked after setup, prepare and sign each flow's ten steps through the role services (:func:`prepare_flow`), a round
at a time; a :class:`Shipper` posts each round's batches, mines it as one block and checks its receipts while the
next round goes out (:func:`run_flows`). :func:`measure_raw` ships pre-signed transfers the same way, for anvil's own
rate; :func:`measure_throughput` runs both, verifies the payments on chain and profiles the Python cost of a flow.
"""

from __future__ import annotations

import contextlib
import cProfile
import http.client
import itertools
import json
import multiprocessing
import os
import pstats
import queue
import secrets
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Any, cast

import coincurve
from eth_abi.abi import decode as abi_decode
from eth_abi.encoding import TupleEncoder
from eth_abi.registry import registry as abi_registry
from eth_account import Account
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.providers.base import BaseProvider
from web3.types import RPCEndpoint, RPCResponse, TxParams

from collab_py.chain.enums import Department, VoucherStatus
from collab_py.chain.transactor import Call, FeeOracle, PendingTx, Transactor, connect, decode_revert
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import Party, fund_on_dev_node, is_dev_client
from collab_py.devnet.sandbox import B_BANK_ACCOUNT, Sandbox, bootstrap
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.presentation import money
from collab_py.domain.types import contract_number, payment_voucher_id
from collab_py.exceptions import CollabError
from collab_py.redaction import mask_url
from collab_py.services import BusinessService, FinanceService, InstitutionService, PreparedStep, Service
from collab_py.services.finance import KEY_LIFETIME_SECONDS
from collab_py.services.reader import ChainReader

#: Size of an ``eth_sendRawTransaction`` batch: anvil refuses request bodies of a few megabytes.
BATCH_BYTES = 1_000_000
#: Block gas limit while mining manually: a round is one block, and blocks far below the gas target keep the
#: base fee falling, so a max fee read once stays valid.
ROUND_GAS_LIMIT = 2_000_000_000
#: ``evm_mine`` calls without any of a round's transactions in the block before the round is declared stuck.
STUCK_BLOCKS = 3
#: Most requests in one JSON-RPC batch: geth refuses batches of more than 1,000.
BATCH_REQUESTS = 500
#: Transactions of a round on a development node (one block): anvil's pool slows down with thousands pending.
DEV_ROUND = 1_000
#: Block gas limits a round may fill on a live chain: a max fee of twice the base fee, read when the round is signed,
#: still pays after that many full blocks (the base fee grows by 1/8 a full block).
LIVE_ROUND_BLOCKS = 2
#: Most transactions of one account in flight on a live chain: geth's ``--txpool.accountqueue`` default. The RPC node
#: passes transactions on to the sealers in no particular order; a sealer keeps at most this many of an account's
#: transactions whose nonce is not yet due and drops the rest, which then wait in the RPC node's pool for ever
#: (seen on a 3-sealer Clique network with rounds of 300 transactions of one account).
LIVE_ACCOUNT_WINDOW = 64
#: Blocks of a live chain without any of a round's transactions, while some are pending, before it is declared stuck.
LIVE_STUCK_BLOCKS = 10
#: Seconds between two looks at a live chain's head.
LIVE_POLL = 0.05
#: Seconds a live chain's head may stand still before its latest block counts as settled: a chain that seals only
#: when transactions wait (anvil's automine, QBFT with a long empty-block period) puts no block on a round's last.
#: Longer than Clique's out-of-turn sealers take to replace a head (half a second per sealer, at random).
LIVE_SETTLE_S = 3.0
#: Seconds without a new block while some of a round's transactions wait, before the round is declared stuck.
LIVE_STUCK_S = 60.0


class PipelineError(CollabError):
    """The node refused a batch, or a round's transactions were not all mined."""


# ---------------------------------------------------------------------------------------------------- JSON-RPC
#: Seconds a JSON-RPC connection may sit idle before it is reopened (geth closes it after 120 s).
RPC_REOPEN_AFTER_S = 15.0


class Rpc:
    """JSON-RPC over one keep-alive HTTP connection, with batches; raises :class:`PipelineError` on any error.

    Servers close connections left idle (geth after 120 s, proxies sooner), and a request written to a closed one
    fails with a broken pipe: one idle for ``reopen_after`` seconds is reopened first, and a request the server
    reset before reading it whole is sent once more on a new one."""

    def __init__(self, url: str, timeout: float = 120.0, *, reopen_after: float = RPC_REOPEN_AFTER_S) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            raise PipelineError(f"batched JSON-RPC needs an http:// or https:// URL, not {mask_url(url)}")
        if parts.scheme == "https":
            self._conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port or 443, timeout=timeout
            )
        else:
            self._conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._ids = 0
        self._reopen_after = reopen_after
        self._used = time.monotonic()

    def post(self, body: bytes) -> Any:
        """Posts a ready JSON body (one request or a batch) and returns the decoded reply."""
        if time.monotonic() - self._used > self._reopen_after:
            self._conn.close()  # http.client opens a new one for the request
        try:
            self._conn.request("POST", self._path, body, {"Content-Type": "application/json"})
        except (BrokenPipeError, ConnectionResetError):  # closed by the server: it did not read the request
            self._conn.close()
            self._conn.request("POST", self._path, body, {"Content-Type": "application/json"})
        response = self._conn.getresponse()
        data = response.read()
        self._used = time.monotonic()
        if response.status != 200:
            raise PipelineError(f"HTTP {response.status} from the node: {data[:300]!r}")
        return json.loads(data)

    def call(self, method: str, *params: Any) -> Any:
        """One call; its result."""
        self._ids += 1
        reply = self.post(json.dumps({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}).encode())
        if "error" in reply:
            raise PipelineError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return reply["result"]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Rpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def raw_request(tx_hash: str, raw: str) -> bytes:
    """One ``eth_sendRawTransaction`` request of a batch; its id is the transaction's hash, which the node answers."""
    return b'{"jsonrpc":"2.0","id":"%s","method":"eth_sendRawTransaction","params":["%s"]}' % (
        tx_hash.encode(),
        raw.encode(),
    )


def check_sent(reply: Any, hashes: Sequence[str]) -> None:
    """Checks the reply to a batch of :func:`raw_request`: every transaction accepted under the hash we computed."""
    if not isinstance(reply, list) or len(reply) != len(hashes):
        raise PipelineError(f"{len(hashes)} transactions sent, reply {reply!r:.300}")
    for item in reply:
        if "error" in item:
            raise PipelineError(f"transaction {item.get('id')} refused: {item['error'].get('message', item['error'])}")
        if item["result"] != item["id"]:
            raise PipelineError(f"the node hashes {item['id']} as {item['result']}")


# ---------------------------------------------------------------------------------------------------- signing
def _rlp_bytes(raw: bytes) -> bytes:
    if len(raw) == 1 and raw[0] < 0x80:
        return raw
    return _rlp_prefix(len(raw), 0x80) + raw


def _rlp_int(value: int) -> bytes:
    return _rlp_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big")) if value else b"\x80"


def _rlp_prefix(length: int, offset: int) -> bytes:
    if length <= 55:
        return bytes((offset + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(size),)) + size


def _rlp_list(encoded_items: bytes) -> bytes:
    return _rlp_prefix(len(encoded_items), 0xC0) + encoded_items


def sign_1559(
    key: coincurve.PrivateKey,
    *,
    chain_id: int,
    nonce: int,
    tip: int,
    max_fee: int,
    gas: int,
    to: bytes,
    data: bytes,
    value: int = 0,
) -> SignedTransaction:
    """An EIP-1559 transaction with an empty access list, signed with ``key`` exactly as eth-account signs it."""
    body = b"".join(
        (
            _rlp_int(chain_id),
            _rlp_int(nonce),
            _rlp_int(tip),
            _rlp_int(max_fee),
            _rlp_int(gas),
            _rlp_bytes(to),
            _rlp_int(value),
            _rlp_bytes(data),
            b"\xc0",
        )
    )
    signature = key.sign_recoverable(keccak(b"\x02" + _rlp_list(body)), hasher=None)
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    raw = b"\x02" + _rlp_list(body + _rlp_int(v) + _rlp_int(r) + _rlp_int(s))
    return SignedTransaction(HexBytes(raw), HexBytes(keccak(raw)), r, s, v)


class CallEncoder:
    """Calldata of bound contract calls with an encoder cached per function.

    web3's ``build_transaction`` looks the function up in the whole ABI again (validating every entry) on each call;
    here the first call of each function is encoded both ways and must match byte for byte.
    """

    def __init__(self) -> None:
        self._encoders: dict[tuple[str, str], tuple[bytes, TupleEncoder]] = {}
        self._lock = threading.Lock()

    def encode(self, call: ContractFunction) -> bytes:
        key = (str(call.address), str(call.abi_element_identifier))
        cached = self._encoders.get(key)
        if cached is not None:
            selector, encoder = cached
            return selector + encoder(call.arguments)
        selector = bytes.fromhex(str(call.selector).removeprefix("0x"))
        types = [collapse_if_tuple(param) for param in call.abi.get("inputs", [])]
        encoder = TupleEncoder(encoders=[abi_registry.get_encoder(kind) for kind in types])  # type: ignore[no-untyped-call]
        data = selector + encoder(call.arguments)
        if data != HexBytes(call._encode_transaction_data()):
            raise PipelineError(f"calldata of {call.abi_element_identifier} differs from web3's encoding")
        with self._lock:
            self._encoders[key] = (selector, encoder)
        return data


class Outbox:
    """Signed transactions waiting to go out in the next batch, in the order they were signed."""

    def __init__(self) -> None:
        self._pending: list[PendingTx] = []
        self._lock = threading.Lock()

    def put(self, pending: PendingTx) -> None:
        with self._lock:
            self._pending.append(pending)

    def take(self) -> list[PendingTx]:
        """Everything signed since the last call, in order."""
        with self._lock:
            taken, self._pending = self._pending, []
        return taken


@dataclass
class PipelinedTransactor(Transactor):
    """A :class:`Transactor` whose :meth:`send` signs at once and leaves the sending to a batch (an :class:`Outbox`).

    Signing needs an explicit gas limit, as the services' ``send`` gives. The transactions are the ones the base
    class would send: the first one of each account is compared with eth-account's signature of the same fields.
    The chain id and the account's nonce are read when it is made, so signing never talks to the node.
    """

    outbox: Outbox = field(default_factory=Outbox, repr=False)
    encoder: CallEncoder = field(default_factory=CallEncoder, repr=False)
    _key: coincurve.PrivateKey = field(init=False, repr=False)
    _checked: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._key = coincurve.PrivateKey(bytes(self.account.key))
        self._chain_id = self.w3.eth.chain_id
        self._nonces.release(self._nonces.reserve())

    def sign(self, call: Call, *, gas: int | None = None) -> PendingTx:
        if gas is None or not isinstance(call, ContractFunction):
            raise PipelineError("pipelined transactions are contract calls with an explicit gas limit")
        nonce = self._nonces.reserve()
        params = self._params(nonce, gas)
        data = self.encoder.encode(call)
        to = str(call.address)
        signed = sign_1559(
            self._key,
            chain_id=int(params["chainId"]),
            nonce=nonce,
            tip=int(params["maxPriorityFeePerGas"]),
            max_fee=int(params["maxFeePerGas"]),
            gas=gas,
            to=bytes.fromhex(to[2:]),
            data=data,
        )
        params.update({"to": to, "data": data, "value": 0})  # type: ignore[typeddict-item]
        if not self._checked:
            reference = self.account.sign_transaction(dict(params))  # type: ignore[arg-type]
            if reference.raw_transaction != signed.raw_transaction:
                raise PipelineError(f"the fast signer's transaction differs from eth-account's for {self.address}")
            self._checked = True
        return PendingTx(self, signed, params)

    def _broadcast(self, pending: PendingTx) -> None:
        self.outbox.put(pending)


# ---------------------------------------------------------------------------------------------------- rounds
class ManualMining:
    """Automine off and a block gas limit that holds a whole round, for the ``with`` block; the node's mining mode
    (automine, or blocks at an interval) and gas limit are restored after it, and one more block is mined for whatever
    other senders left in the pool meanwhile (anvil)."""

    def __init__(self, rpc: Rpc) -> None:
        self._rpc = rpc
        self._automine = True
        self._interval: int | None = None
        self._gas_limit = 0

    def __enter__(self) -> ManualMining:
        self._automine = bool(self._rpc.call("anvil_getAutomine"))
        self._interval = self._rpc.call("anvil_getIntervalMining")
        self._gas_limit = int(self._rpc.call("eth_getBlockByNumber", "latest", False)["gasLimit"], 16)
        self._rpc.call("evm_setBlockGasLimit", hex(max(self._gas_limit, ROUND_GAS_LIMIT)))
        if self._interval:
            self._rpc.call("evm_setIntervalMining", 0)
        self._rpc.call("evm_setAutomine", False)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._rpc.call("evm_setBlockGasLimit", hex(self._gas_limit))
        if self._interval:
            self._rpc.call("evm_setIntervalMining", self._interval)
        else:
            self._rpc.call("evm_setAutomine", self._automine)
        self._rpc.call("evm_mine")


def ship(rpc: Rpc, pending: Sequence[PendingTx]) -> None:
    """Sends ``pending`` in ``eth_sendRawTransaction`` batches (at most :data:`BATCH_BYTES` and :data:`BATCH_REQUESTS`
    each) and checks that the node took every one under the hash computed here."""
    sent: list[str] = []
    requests: list[bytes] = []
    size = 0
    for index, tx in enumerate(pending):
        tx_hash = tx.tx_hash.to_0x_hex()
        requests.append(raw_request(tx_hash, tx.signed.raw_transaction.to_0x_hex()))
        sent.append(tx_hash)
        size += len(requests[-1])
        if index == len(pending) - 1 or size >= BATCH_BYTES or len(requests) == BATCH_REQUESTS:
            check_sent(rpc.post(b"[" + b",".join(requests) + b"]"), sent)
            sent, requests, size = [], [], 0


def _check_mined(receipts: Sequence[dict[str, Any]], waiting: dict[str, PendingTx], label: str) -> int:
    """Takes the receipts of ``waiting``'s transactions out of it; raises the decoded refusal of a reverted one.
    Returns how many of them the receipts held."""
    found = 0
    for receipt in receipts:
        tx = waiting.pop(receipt["transactionHash"], None)
        if tx is None:
            continue
        found += 1
        if receipt["status"] != "0x1":
            tx.wait()  # raises the decoded refusal
            raise PipelineError(f"{label}: {receipt['transactionHash']} reverted")
    return found


def mine_round(rpc: Rpc, pending: Sequence[PendingTx], label: str) -> None:
    """Sends ``pending`` in batches, mines them (one block, unless other senders filled it) and checks that every one
    was mined with success; a reverted one raises its decoded refusal. Needs :class:`ManualMining`."""
    waiting = {tx.tx_hash.to_0x_hex(): tx for tx in pending}
    checked = int(rpc.call("eth_blockNumber"), 16)
    ship(rpc, pending)
    idle = 0
    while waiting:
        rpc.call("evm_mine")
        head = int(rpc.call("eth_blockNumber"), 16)
        mined = 0
        for block in range(checked + 1, head + 1):  # ours, and any another miner made meanwhile
            receipts = rpc.call("eth_getBlockReceipts", hex(block))
            if receipts is None:
                raise PipelineError(f"{label}: block {block} has no receipts")
            mined += _check_mined(receipts, waiting, label)
        checked = head
        idle = 0 if mined else idle + 1
        if idle == STUCK_BLOCKS:
            pool = rpc.call("txpool_status")
            raise PipelineError(
                f"{label}: {len(waiting)} transactions not mined in {STUCK_BLOCKS} blocks, e.g. {next(iter(waiting))} "
                f"(pool: {pool})"
            )


def await_round(
    rpc: Rpc,
    pending: Sequence[PendingTx],
    label: str,
    *,
    stuck_blocks: int = LIVE_STUCK_BLOCKS,
    stuck_s: float = LIVE_STUCK_S,
    poll: float = LIVE_POLL,
    account_window: int = LIVE_ACCOUNT_WINDOW,
) -> None:
    """Sends ``pending`` in batches to a node that mines by itself and waits until every one was mined with success
    in a settled block; a reverted one raises its decoded refusal, and ``stuck_blocks`` new blocks without any of
    them mined while some wait, or ``stuck_s`` seconds without a new block, are a :class:`PipelineError` (which
    names ``account_window``, the likely cause on a chain that goes on).

    Each new head, the receipts of the transactions still waiting are asked for by hash (one batch): a chain whose
    sealers take turns (Clique, QBFT's round changes) replaces its latest block now and then, so a block read once
    may not be the one that ends up carrying a transaction. A block is settled once another is on top, so a round's
    successor never goes out on a block that is then replaced without it, or once the head has stood still for
    :data:`LIVE_SETTLE_S` (a chain that seals on demand)."""
    waiting = {tx.tx_hash.to_0x_hex(): tx for tx in pending}
    ship(rpc, pending)
    seen = progress = settled_below = int(rpc.call("eth_blockNumber"), 16)
    moved = time.monotonic()
    while waiting:
        time.sleep(poll)
        head = int(rpc.call("eth_blockNumber"), 16)
        if head != seen:
            seen, moved, settled_below = head, time.monotonic(), head
        elif settled_below == head and time.monotonic() - moved >= LIVE_SETTLE_S:
            settled_below = head + 1  # once per standing head, not at every poll
        elif time.monotonic() - moved < stuck_s:
            continue
        receipts = receipts_of(rpc, list(waiting))
        if _check_mined([r for r in receipts if int(r["blockNumber"], 16) < settled_below], waiting, label):
            progress = head
        elif head - progress >= stuck_blocks or time.monotonic() - moved >= stuck_s:
            with contextlib.suppress(PipelineError):  # a node without the txpool API
                label += f" (pool: {rpc.call('txpool_status')})"
            raise PipelineError(
                f"{label}: {len(waiting)} transactions not mined in {head - progress} blocks and "
                f"{time.monotonic() - moved:.0f} s without a new one, e.g. {next(iter(waiting))}; a node that holds "
                f"them may not have passed them on to the block producers (more than {account_window} of one "
                "account in flight?)"
            )


def receipts_of(rpc: Rpc, hashes: Sequence[str]) -> list[dict[str, Any]]:
    """The receipts of the transactions ``hashes`` that are mined, in batches of :data:`BATCH_REQUESTS`."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(hashes), BATCH_REQUESTS):
        requests = [
            b'{"jsonrpc":"2.0","id":"%s","method":"eth_getTransactionReceipt","params":["%s"]}'
            % (tx_hash.encode(), tx_hash.encode())
            for tx_hash in hashes[start : start + BATCH_REQUESTS]
        ]
        reply = rpc.post(b"[" + b",".join(requests) + b"]")
        if not isinstance(reply, list):
            raise PipelineError(f"receipts asked for, reply {reply!r:.300}")
        for item in reply:
            if "error" in item:
                raise PipelineError(f"receipt of {item.get('id')}: {item['error'].get('message', item['error'])}")
            if item.get("result") is not None:
                found.append(item["result"])
    return found


class Rounds:
    """Rounds of independent transactions on whichever node ``rpc`` talks to, for the ``with`` block: on a
    development node (anvil, Hardhat) automine is off (:class:`ManualMining`) and each round is mined as one block
    (:func:`mine_round`); on any other node the chain's own blocks carry each round (:func:`await_round`), no
    ``anvil_*`` or ``evm_*`` call made. :meth:`size` says how many transactions of one account a round takes: on a
    live chain few enough that the sealers get every one (``account_window``: how many of one account's
    transactions the sealers' pools keep out of order) and that their fees still pay when the last is mined."""

    def __init__(self, rpc: Rpc, *, account_window: int = LIVE_ACCOUNT_WINDOW) -> None:
        self._rpc = rpc
        self.account_window = account_window
        self._manual: ManualMining | None = None
        self.block_gas_limit = 0

    @property
    def live(self) -> bool:
        """Whether the node mines by itself (no development node)."""
        return self._manual is None

    def __enter__(self) -> Rounds:
        try:
            version = str(self._rpc.call("web3_clientVersion"))
        except PipelineError:  # a node without web3_clientVersion is no development node we know
            version = ""
        if is_dev_client(version):
            self._manual = ManualMining(self._rpc).__enter__()
        self.block_gas_limit = int(self._rpc.call("eth_getBlockByNumber", "latest", False)["gasLimit"], 16)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._manual is not None:
            self._manual.__exit__(kind, error, traceback)

    def size(self, gas_limit: int) -> int:
        """Transactions of one account with gas limit ``gas_limit`` in one round: :data:`DEV_ROUND` on a development
        node; on a live chain what :data:`LIVE_ROUND_BLOCKS` blocks hold, at most :attr:`account_window`."""
        if not self.live:
            return DEV_ROUND
        return max(1, min(self.account_window, LIVE_ROUND_BLOCKS * self.block_gas_limit // max(1, gas_limit)))

    def mine(self, pending: Sequence[PendingTx], label: str) -> None:
        """Sends one round and returns once every transaction of it is mined with success."""
        if self.live:
            await_round(self._rpc, pending, label, account_window=self.account_window)
        else:
            mine_round(self._rpc, pending, label)


# ---------------------------------------------------------------------------------------------------- throughput
TARGET_FLOWS_PER_S = 200
STEPS_PER_FLOW = 10
AMOUNT = 100_00  # 100.00 per flow, paid in one payment


class Reverted(PipelineError):
    """A transaction of the run was mined with status 0."""

    def __init__(self, index: int, tx_hash: str, block: int, label: str) -> None:
        super().__init__(f"round {index}: {label} ({tx_hash}) reverted in block {block}")
        self.tx_hash, self.block = tx_hash, block


def explain(w3: Web3, error: Reverted) -> str:
    """Why a mined transaction reverted: replayed at the state before its block, the contract's error decoded.

    The transactions of one block never depend on each other, so that state is the one it ran against.
    """
    tx = w3.eth.get_transaction(HexBytes(error.tx_hash))
    replay: TxParams = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}
    try:
        w3.eth.call(replay, error.block - 1)
    except ContractLogicError as revert:
        decoded = decode_revert(revert)
        return f"{type(decoded).__name__}: {decoded}"
    return "the replay does not revert"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from ``/proc`` (0 when unavailable)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time all processes of this machine have used (``/proc/stat``: everything but idle and iowait)."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    except (OSError, ValueError):
        return 0.0
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------------- the parties
@dataclass
class Desk:
    """The services of one flow: one account of each department involved."""

    b_business: BusinessService
    a_business: BusinessService
    b_finance: FinanceService
    a_finance: FinanceService
    operator: InstitutionService


@dataclass
class Consortium:
    """The sandbox plus ``k`` desks: extra department accounts bound by governance, each with its services."""

    sandbox: Sandbox
    desks: list[Desk]
    outbox: Outbox
    expiry: int

    @classmethod
    def build(cls, sandbox: Sandbox, accounts_per_department: int) -> Consortium:
        deployment = sandbox.deployment
        a, b, bank = sandbox.a, sandbox.b, sandbox.bank
        roles = [(a, Department.BUSINESS), (b, Department.BUSINESS), (a, Department.FINANCE), (b, Department.FINANCE)]
        roles.append((bank, Department.OPERATOR))
        extra: dict[tuple[int, Department], list[LocalAccount]] = {
            (party.org_id, department): [Account.create() for _ in range(accounts_per_department - 1)]
            for party, department in roles
        }
        fund_on_dev_node(sandbox.w3, [account for accounts in extra.values() for account in accounts])
        binds = [
            sandbox.admin.send(
                deployment.registry.functions.bindAccount(account.address, org_id, int(department)), gas=100_000
            )
            for (org_id, department), accounts in extra.items()
            for account in accounts
        ]
        for pending in binds:
            pending.wait()

        outbox, encoder, reader = Outbox(), CallEncoder(), ChainReader(deployment)
        # one fee reading for the whole run: the blocks stay far below the gas target, so the base fee only falls
        # and the max fee read now stays valid (20 oracles refreshing every 2 s would each wait on the busy node)
        fees = FeeOracle(sandbox.w3, ttl=float("inf"))
        fees.params()

        def service(party: Party, department: Department, index: int) -> Any:
            account = party.account(department) if index == 0 else extra[(party.org_id, department)][index - 1]
            tx = PipelinedTransactor(sandbox.w3, account, fees=fees, outbox=outbox, encoder=encoder)
            options: dict[str, Any] = {"org_id": party.org_id, "label": f"{party.name}/{department.name}#{index}"}
            if department is Department.BUSINESS:
                return BusinessService(deployment, tx, reader=reader, **options)
            if department is Department.FINANCE:
                return FinanceService(deployment, tx, encryption_key=party.encryption_key, reader=reader, **options)
            return InstitutionService(deployment, tx, encryption_key=party.encryption_key, reader=reader, **options)

        desks = [
            Desk(
                b_business=service(b, Department.BUSINESS, index),
                a_business=service(a, Department.BUSINESS, index),
                b_finance=service(b, Department.FINANCE, index),
                a_finance=service(a, Department.FINANCE, index),
                operator=service(bank, Department.OPERATOR, index),
            )
            for index in range(accounts_per_department)
        ]
        expiry = int(sandbox.w3.eth.get_block("latest")["timestamp"]) + KEY_LIFETIME_SECONDS
        return cls(sandbox=sandbox, desks=desks, outbox=outbox, expiry=expiry)

    @property
    def accounts(self) -> int:
        return 5 * len(self.desks)


# ---------------------------------------------------------------------------------------------------- one flow
Step = tuple[Service, PreparedStep]


class Stopwatch:
    """Wall seconds spent per label, from any thread."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def add(self, label: str, seconds: float) -> None:
        with self._lock:
            self.seconds[label] += seconds

    @contextlib.contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(label, time.perf_counter() - start)


def contract_text(number: str) -> str:
    return f"Supply agreement {number}: Party B Supplies delivers one lot of goods to Party A Holdings."


def prepare_flow(consortium: Consortium, desk: Desk, number: str) -> list[Step]:
    """The ten steps of one flow, each built by the service of the department that owns it (as in Flow.run)."""
    sandbox = consortium.sandbox
    draft = ContractDraft(number, contract_text(number), (StageDraft(f"{number}: one lot of goods", AMOUNT),))
    raw = draft.contract_no
    b_business, a_business, b_finance, a_finance = desk.b_business, desk.a_business, desk.b_finance, desk.a_finance
    result_hash = keccak(text=f"{number} stage 0 delivered")
    seq = 1  # the first payment of a new contract
    econtract = b_business.econtract(draft, sandbox.a.org_id)
    account = b_finance.receiving_account(raw, seq, B_BANK_ACCOUNT)
    voucher, sealed_key = a_finance.prepare_issue_voucher(
        raw,
        seq,
        amount=AMOUNT,
        account=account,
        expiry=consortium.expiry,
        payee_key=sandbox.b.encryption_key.public_key,
    )
    # Party B's finance opens the payment key it receives, as FinanceService.redeem does
    key = crypto.open_sealed(b_finance.encryption_key, sealed_key, crypto.PaymentKey, b_finance.binding(raw, seq))
    return [
        (b_business, b_business.prepare_propose(econtract)),
        (a_business, a_business.prepare_countersign(econtract)),
        (b_business, b_business.prepare_submit_stage(econtract, 0, result_hash)),
        (a_business, a_business.prepare_confirm_stage(econtract, 0, result_hash)),
        (b_business, b_business.prepare_apply_settlement(raw)),
        (a_business, a_business.prepare_approve_settlement(raw)),
        (
            b_finance,
            b_finance.prepare_apply_payment(
                raw,
                seq,
                AMOUNT,
                account,
                payer_key=sandbox.a.encryption_key.public_key,
                institution_key=sandbox.bank.encryption_key.public_key,
            ),
        ),
        (a_finance, voucher),
        (b_finance, b_finance.prepare_redeem(raw, seq, key.secret)),
        (desk.operator, desk.operator.prepare_release(raw, seq)),
    ]


# ---------------------------------------------------------------------------------------------------- the conveyor
@dataclass(frozen=True)
class Plan:
    """Which chunk each flow is in, which flows each round carries, and which worker process prepares each flow.

    Round r carries step r - c of every chunk c on the belt, so a step is always one round (one block) after the
    step it depends on, and the steps of one round never depend on one another. The first and the last chunks are
    smaller (``taper``), so that anvil starts early and the rounds after the last chunk is prepared are short.
    """

    flows: int
    chunk: int
    desks: int
    workers: int
    taper: int = 4

    @cached_property
    def chunks(self) -> list[range]:
        starts = [0]
        for size in self._sizes():
            starts.append(starts[-1] + size)
        return [range(start, end) for start, end in itertools.pairwise(starts)]

    def _sizes(self) -> list[int]:
        ramp = [max(1, self.chunk * (step + 1) // (self.taper + 1)) for step in range(self.taper)]
        middle = self.flows - 2 * sum(ramp)
        if middle < self.chunk:  # a short run: no taper
            ramp, middle = [], self.flows
        full, rest = divmod(middle, self.chunk)
        return ramp + [self.chunk] * full + ([rest] if rest else []) + ramp[::-1]

    @property
    def rounds(self) -> int:
        return len(self.chunks) + STEPS_PER_FLOW - 1

    def belt(self, index: int) -> range:
        """The chunks in round ``index``: chunk c at step ``index - c``."""
        return range(max(0, index - STEPS_PER_FLOW + 1), min(len(self.chunks), index + 1))

    def desk_of(self, flow: int) -> int:
        return flow % self.desks

    def worker_of(self, flow: int) -> int:
        """Each desk (and so each account and nonce stream) belongs to one worker."""
        return self.desk_of(flow) % self.workers

    def round_sizes(self) -> list[int]:
        chunks = self.chunks
        return [sum(len(chunks[c]) for c in self.belt(index)) for index in range(self.rounds)]

    def flows_done(self, index: int) -> int:
        """Flows whose last step is in round ``index``."""
        last = index - STEPS_PER_FLOW + 1
        return len(self.chunks[last]) if 0 <= last < len(self.chunks) else 0


@dataclass
class Piece:
    """A worker's transactions of one round: their hashes and their batch requests, comma-separated."""

    worker: int
    round: int
    hashes: list[str]
    requests: bytes
    labels: list[str]  # flow and step of each transaction, for error messages


@dataclass
class WorkerReport:
    """What a worker did, sent when it is done (or failed)."""

    worker: int
    seconds: dict[str, float]
    cpu: float
    error: str | None = None


class Offline(BaseProvider):
    """The provider of a worker process: refuses every request (everything it needs was read during setup)."""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        raise PipelineError(f"a worker process tried to call {method} on the node")


def work(consortium: Consortium, numbers: list[str], plan: Plan, worker: int, out: Any, go: Any) -> None:
    """A worker process: prepares its flows through the services and signs their steps, round by round.

    Forked after setup, so it holds the services of its desks; it never talks to the node.
    """
    watch = Stopwatch()
    cpu = 0.0
    consortium.sandbox.w3.provider = Offline()  # the parent's HTTP connection is not ours to use
    try:
        go.wait()
        cpu = time.process_time()
        chunks = [[flow for flow in chunk if plan.worker_of(flow) == worker] for chunk in plan.chunks]
        steps: dict[int, list[Step]] = {}
        for index in range(plan.rounds):
            if index < len(chunks):
                with watch("prepare_* (services: calls, EIP-712, ECIES)"):
                    for flow in chunks[index]:
                        steps[flow] = prepare_flow(consortium, consortium.desks[plan.desk_of(flow)], numbers[flow])
            labels = []
            with watch("service.send (nonce, calldata, signature)"):
                for position in plan.belt(index):
                    step = index - position
                    for flow in chunks[position]:
                        service, prepared = steps[flow][step]
                        service.send(prepared)
                        labels.append(f"flow {numbers[flow]} step {step + 1} {prepared.requirement} {prepared.step}")
                        if step == STEPS_PER_FLOW - 1:
                            del steps[flow]
                batch = consortium.outbox.take()
            with watch("JSON requests, hand-over"):
                hashes = [pending.signed.hash.to_0x_hex() for pending in batch]
                raws = [pending.signed.raw_transaction.to_0x_hex() for pending in batch]
                out.put(Piece(worker, index, hashes, b",".join(map(raw_request, hashes, raws)), labels))
        out.put(WorkerReport(worker, dict(watch.seconds), time.process_time() - cpu))
    except BaseException as error:
        out.put(
            WorkerReport(worker, dict(watch.seconds), time.process_time() - cpu, f"{type(error).__name__}: {error}")
        )


class Workers:
    """The worker processes, forked once setup is done and started together by :meth:`go`."""

    def __init__(self, consortium: Consortium, numbers: list[str], plan: Plan) -> None:
        context = multiprocessing.get_context("fork")
        self.out = context.Queue()
        self._go = context.Event()
        self.processes = [
            context.Process(
                target=work,
                args=(consortium, numbers, plan, worker, self.out, self._go),
                name=f"flow-worker-{worker}",
                daemon=True,
            )
            for worker in range(plan.workers)
        ]
        for process in self.processes:
            process.start()

    def go(self) -> None:
        self._go.set()

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(5)


INGEST = "ingest (mostly sender recovery), with the previous block's receipts"
EXECUTION = "execution: evm_mine"


class Shipper:
    """Ships rounds to the node and has every receipt checked.

    A round's pieces go out as concurrent ``eth_sendRawTransaction`` batches, one connection per lane (anvil recovers
    the senders of concurrent batches on several threads), as soon as each piece is there; once all are in, the
    round is mined as one block (``evm_mine``). A checker thread meanwhile fetches each mined block's receipts
    (``eth_getBlockReceipts``) and checks that it holds every transaction of the round with status 1, while the
    next round is already being shipped: it only needs its predecessors mined, which they are once ``evm_mine``
    returns.
    """

    def __init__(self, node: AnvilNode, lanes: int) -> None:
        self.url = node.rpc_url
        self.anvil_pid = node.pid or 0
        self.rpc = Rpc(node.rpc_url)
        self.block = int(self.rpc.call("eth_blockNumber"), 16)
        self._local = threading.local()
        self._connections: list[Rpc] = []
        self._lanes = ThreadPoolExecutor(lanes, thread_name_prefix="lane")
        self._mined: queue.Queue[tuple[int, int, set[str]] | None] = queue.Queue()
        self._checker = threading.Thread(target=self._check_blocks, name="receipt-checker", daemon=True)
        self._checker.start()
        self.error: BaseException | None = None
        self.watch = Stopwatch()
        self.anvil_cpu: dict[str, float] = defaultdict(float)
        self.transactions = 0
        self.blocks = 0
        self._round: tuple[int, list[Future[None]], set[str]] | None = None
        self._round_cpu = 0.0  # anvil's CPU time when the round's first piece went out
        self._labels: dict[str, str] = {}

    def send(self, index: int, hashes: list[str], requests: bytes, labels: Sequence[str] = ()) -> None:
        """Sends a piece of round ``index`` (comma-separated requests) on a free lane."""
        if not hashes:
            return
        self._labels.update(zip(hashes, labels, strict=False))
        if self._round is None:
            self._round = (index, [], set())
            self._round_cpu = cpu_seconds(self.anvil_pid)
        self._round[1].append(self._lanes.submit(self._post, index, hashes, b"[" + requests + b"]"))
        self._round[2].update(hashes)

    def mine(self) -> None:
        """Waits for the round's pieces to be in the pool, mines them as one block and has the block checked."""
        if self._round is None:
            raise PipelineError("a round without transactions")
        index, posts, hashes = self._round
        self._round = None
        with self.watch("waiting for the round's batches to be in"):
            for post in posts:
                post.result()
        cpu = cpu_seconds(self.anvil_pid)
        self.anvil_cpu[INGEST] += cpu - self._round_cpu
        with self.watch("evm_mine"):
            self.rpc.call("evm_mine")
        self.anvil_cpu[EXECUTION] += cpu_seconds(self.anvil_pid) - cpu
        self.block += 1
        self.blocks += 1
        self.transactions += len(hashes)
        self._mined.put((index, self.block, hashes))
        self._raise()

    def ship(self, index: int, pieces: Sequence[tuple[list[str], bytes]]) -> None:
        """Sends and mines a whole round."""
        for hashes, requests in pieces:
            self.send(index, hashes, requests)
        self.mine()

    def finish(self) -> None:
        """Waits until every mined block is checked; raises the first failure."""
        self._mined.put(None)
        with self.watch("waiting for the last receipts"):
            self._checker.join()
        self._raise()

    def _raise(self) -> None:
        if isinstance(self.error, PipelineError):
            raise self.error
        if self.error is not None:
            raise PipelineError(f"{type(self.error).__name__}: {self.error}") from self.error

    def close(self) -> None:
        self._mined.put(None)
        self._lanes.shutdown(wait=True, cancel_futures=True)
        self.rpc.close()
        for connection in self._connections:
            connection.close()

    def _post(self, index: int, hashes: list[str], body: bytes) -> None:
        rpc = getattr(self._local, "rpc", None)
        if rpc is None:
            rpc = self._local.rpc = Rpc(self.url)
            self._connections.append(rpc)
        with self.watch("lanes: eth_sendRawTransaction batches (summed)"):
            reply = rpc.post(body)
        try:
            check_sent(reply, hashes)
        except PipelineError as error:
            raise PipelineError(f"round {index}: {error}") from None

    def _check_blocks(self) -> None:
        rpc = Rpc(self.url)
        try:
            while (item := self._mined.get()) is not None:
                index, block, hashes = item
                with self.watch("checker: eth_getBlockReceipts"):
                    receipts = rpc.call("eth_getBlockReceipts", hex(block))
                for receipt in receipts or ():
                    tx_hash = receipt["transactionHash"]
                    if receipt["status"] != "0x1":
                        raise Reverted(index, tx_hash, block, self._labels.get(tx_hash, "transaction"))
                    hashes.discard(tx_hash)
                if hashes:
                    raise PipelineError(
                        f"round {index}: {len(hashes)} transactions not in block {block}, e.g. {min(hashes)}"
                    )
        except BaseException as error:
            self.error = error
        finally:
            rpc.close()


@dataclass
class RunResult:
    """What one timed run did and where its time went."""

    transactions: int
    seconds: float
    blocks: int
    anvil_cpu: float
    coordinator_cpu: float = 0.0
    worker_cpu: float = 0.0
    machine_cpu: float = 0.0  # all processes of the machine, ours included
    workers: dict[str, float] = field(default_factory=dict)
    coordinator: dict[str, float] = field(default_factory=dict)
    anvil: dict[str, float] = field(default_factory=dict)

    @property
    def tx_per_s(self) -> float:
        return self.transactions / self.seconds


def run_flows(workers: Workers, node: AnvilNode, plan: Plan, progress: Progress) -> RunResult:
    """Starts the workers and ships their pieces as they come; the clock runs from the start to the last receipt."""
    task = progress.add_task("flows", total=plan.flows)
    shipper = Shipper(node, plan.workers)
    early: dict[int, list[Piece]] = defaultdict(list)  # pieces of rounds not yet shippable
    reports: dict[int, WorkerReport] = {}

    def receive() -> Piece | None:
        with shipper.watch("waiting for the workers"):
            message: Piece | WorkerReport = workers.out.get(timeout=120)
        if isinstance(message, WorkerReport):
            if message.error is not None:
                raise PipelineError(f"worker {message.worker} failed: {message.error}")
            reports[message.worker] = message
            return None
        return message

    coordinator_cpu, anvil_cpu, machine_cpu = time.process_time(), cpu_seconds(node.pid or 0), machine_cpu_seconds()
    start = time.perf_counter()
    workers.go()
    try:
        for index in range(plan.rounds):
            pieces = early.pop(index, [])
            for piece in pieces:
                shipper.send(index, piece.hashes, piece.requests, piece.labels)
            while len(pieces) < plan.workers:
                received = receive()
                if received is None:
                    continue
                if received.round != index:
                    early[received.round].append(received)
                    continue
                pieces.append(received)
                shipper.send(index, received.hashes, received.requests, received.labels)
            shipper.mine()
            progress.advance(task, plan.flows_done(index))
        shipper.finish()
        seconds = time.perf_counter() - start
        machine_cpu = machine_cpu_seconds() - machine_cpu
        anvil_cpu = cpu_seconds(node.pid or 0) - anvil_cpu
        coordinator_cpu = time.process_time() - coordinator_cpu
        while len(reports) < plan.workers:
            receive()
    except queue.Empty:
        raise PipelineError("the workers sent nothing for 120 s") from None
    finally:
        shipper.close()
    worker_seconds: Counter[str] = Counter()
    for report in reports.values():
        worker_seconds.update(report.seconds)
    return RunResult(
        transactions=shipper.transactions,
        seconds=seconds,
        blocks=shipper.blocks,
        anvil_cpu=anvil_cpu,
        coordinator_cpu=coordinator_cpu,
        worker_cpu=sum(report.cpu for report in reports.values()),
        machine_cpu=machine_cpu,
        workers=dict(worker_seconds),
        coordinator=dict(shipper.watch.seconds),
        anvil=dict(shipper.anvil_cpu),
    )


# ---------------------------------------------------------------------------------------------------- the node alone
def measure_raw(w3: Web3, node: AnvilNode, plan: Plan, senders: int, progress: Progress) -> RunResult:
    """anvil's rate for pre-signed ETH transfers from ``senders`` accounts, shipped like the flows' rounds.

    Each round has the size of the flows' round and is split into one piece per lane by sender, as the flows' rounds
    are split by worker. Everything is signed and encoded before the clock starts; timed is only shipping the rounds
    (concurrent batches, ``evm_mine``) until every receipt is checked, exactly as for the flows.
    """
    accounts = [Account.create() for _ in range(senders)]
    fund_on_dev_node(w3, accounts)
    chain_id = w3.eth.chain_id
    tip = int(w3.eth.max_priority_fee)
    max_fee = 2 * int(w3.eth.get_block("latest").get("baseFeePerGas", 0)) + tip
    keys = [coincurve.PrivateKey(bytes(account.key)) for account in accounts]
    nonces = [0] * senders
    rounds: list[list[tuple[list[str], bytes]]] = []
    sent = 0
    for size in plan.round_sizes():
        unjoined: list[tuple[list[str], list[bytes]]] = [([], []) for _ in range(plan.workers)]
        for _ in range(size):
            who, to = sent % senders, accounts[(sent + 1) % senders].address
            tx = sign_1559(
                keys[who],
                chain_id=chain_id,
                nonce=nonces[who],
                tip=tip,
                max_fee=max_fee,
                gas=21_000,
                to=bytes.fromhex(to[2:]),
                data=b"",
                value=1,
            )
            if sent == 0:
                fields: dict[str, Any] = {"chainId": chain_id, "nonce": 0, "maxPriorityFeePerGas": tip}
                fields |= {"maxFeePerGas": max_fee, "gas": 21_000, "to": to, "value": 1, "data": b""}
                if accounts[who].sign_transaction(fields).raw_transaction != tx.raw_transaction:
                    raise PipelineError("the fast signer's transfer differs from eth-account's")
            hashes, requests = unjoined[who % plan.workers]
            hashes.append(tx.hash.to_0x_hex())
            requests.append(raw_request(hashes[-1], tx.raw_transaction.to_0x_hex()))
            nonces[who] += 1
            sent += 1
        rounds.append([(hashes, b",".join(requests)) for hashes, requests in unjoined])
    task = progress.add_task("raw transfers", total=sent)
    shipper = Shipper(node, plan.workers)
    anvil_cpu = cpu_seconds(node.pid or 0)
    start = time.perf_counter()
    try:
        for index, pieces in enumerate(rounds):
            shipper.ship(index, pieces)
            progress.advance(task, sum(len(hashes) for hashes, _ in pieces))
        shipper.finish()
        seconds = time.perf_counter() - start
    finally:
        shipper.close()
    return RunResult(
        transactions=shipper.transactions,
        seconds=seconds,
        blocks=shipper.blocks,
        anvil_cpu=cpu_seconds(node.pid or 0) - anvil_cpu,
        coordinator=dict(shipper.watch.seconds),
        anvil=dict(shipper.anvil_cpu),
    )


# ---------------------------------------------------------------------------------------------------- checks
def verify(consortium: Consortium, url: str, numbers: list[str], from_block: int, b_balance_before: int) -> str:
    """Checks on chain that every flow's payment was released to Party B; returns a summary (amounts in currency
    units)."""
    sandbox = consortium.sandbox
    deployment, w3 = sandbox.deployment, sandbox.w3
    decimals = deployment.decimals()
    each = money(AMOUNT, decimals)
    paid = int(deployment.asset.functions.balanceOf(sandbox.b.treasury.address).call()) - b_balance_before
    if paid != len(numbers) * AMOUNT:
        raise PipelineError(f"Party B's treasury received {money(paid, decimals)}, expected {len(numbers)} x {each}")
    event = deployment.escrow.events.SecondVoucher()
    logs = w3.eth.get_logs(
        {
            "address": deployment.escrow.address,
            "topics": [HexBytes(event_abi_to_log_topic(event.abi))],
            "fromBlock": from_block,
        }
    )
    expected = {payment_voucher_id(contract_number(number), 1) for number in numbers}
    vouchers = {bytes(log["topics"][1]) for log in logs}
    if len(logs) != len(numbers) or vouchers != expected:
        raise PipelineError(f"{len(logs)} SecondVoucher events for {len(vouchers & expected)} of {len(numbers)} flows")
    for log in logs:
        args = event.process_log(log)["args"]
        if args["amount"] != AMOUNT or args["beneficiary"] != sandbox.b.treasury.address:
            voucher, shown = bytes(args["voucherId"]).hex(), money(args["amount"], decimals)
            raise PipelineError(f"second voucher 0x{voucher} pays {shown} elsewhere")
    # every payment's state, read in one batch of eth_call: voucherOf(id) = (amount, status, expiry, ...)
    view = deployment.escrow.functions.voucherOf
    outputs = [collapse_if_tuple(output) for output in view(next(iter(expected))).abi["outputs"]]
    calls = [
        {
            "to": deployment.escrow.address,
            "data": view(payment_voucher_id(contract_number(number), 1))._encode_transaction_data(),
        }
        for number in numbers
    ]
    rpc = Rpc(url)
    try:
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": index, "method": "eth_call", "params": [call, "latest"]}
                for index, call in enumerate(calls)
            ]
        ).encode()
        reply = rpc.post(body)
    finally:
        rpc.close()
    if not isinstance(reply, list) or len(reply) != len(numbers):
        raise PipelineError(f"voucherOf batch: {len(numbers)} calls, reply {reply!r:.300}")
    for item in reply:
        if "error" in item:
            raise PipelineError(f"voucherOf of {numbers[item['id']]}: {item['error'].get('message', item['error'])}")
        ((amount, status, *_),) = abi_decode(outputs, bytes.fromhex(item["result"][2:]))
        if status != VoucherStatus.RELEASED or amount != AMOUNT:
            shown = money(amount, decimals)
            raise PipelineError(f"payment of {numbers[item['id']]} is {VoucherStatus(status).name} for {shown}")
    # and through the project's reader, for the first and the last flow
    reader = ChainReader(deployment)
    for number in {numbers[0], numbers[-1]}:
        if (status := reader.payment(number, 1).status) is not VoucherStatus.RELEASED:
            raise PipelineError(f"the reader sees the payment of {number} as {status.name}")
    return (
        f"all {len(numbers)} payments RELEASED (voucherOf of each), Party B's treasury received {len(numbers)} x "
        f"{each}, {len(logs)} SecondVoucher events, one per flow, with the right amount and beneficiary"
    )


# ---------------------------------------------------------------------------------------------------- profile
#: (label, file suffix, function name): the cumulative time of these (never nested in one another) splits the profile.
PROFILE_PARTS = [
    ("web3: binding call arguments (ABI lookup, checks)", "web3/contract/base_contract.py", "__call__"),
    ("EIP-712 signatures (digest, coincurve)", "collab_py/chain/eip712.py", "sign_typed"),
    ("ECIES seal (eciespy)", "collab_py/domain/crypto.py", "seal"),
    ("ECIES open (eciespy)", "collab_py/domain/crypto.py", "open_sealed"),
    ("calldata (eth-abi, cached encoders)", "collab_py/devnet/pipeline.py", "encode"),
    ("transaction signing (RLP, keccak, secp256k1)", "collab_py/devnet/pipeline.py", "sign_1559"),
    ("nonce and fee fields", "collab_py/chain/transactor.py", "_params"),
]


@dataclass
class Profile:
    flows: int
    per_flow: float  # seconds of one flow prepared and signed, unprofiled
    parts: list[tuple[str, float]]  # share of each part, from cProfile
    standard_per_tx: float  # web3 build_transaction + eth-account signing, unprofiled
    fast_per_tx: float  # the pipeline's calldata + signing, unprofiled


def profile_python(consortium: Consortium, flows: int) -> Profile:
    """Python's cost of a flow, by part: ``flows`` more flows prepared and signed (never sent), timed, then the
    same again under cProfile for the shares of each part."""
    desks = consortium.desks

    def run(tag: str, count: int) -> None:
        for index in range(count):
            for service, prepared in prepare_flow(consortium, desks[index % len(desks)], f"{tag}-{index:06d}"):
                service.send(prepared)
        consortium.outbox.take()

    run("WARM-UP", len(desks))  # the first transaction of each account is also signed by eth-account, as a check
    started = time.process_time()
    run("TIMED", flows)
    per_flow = (time.process_time() - started) / flows
    profiler = cProfile.Profile(time.process_time)  # CPU time: other processes do not blur the shares
    profiler.enable()
    run("PROFILED", flows)
    profiler.disable()
    stats = pstats.Stats(profiler)
    cumulative: defaultdict[tuple[str, str], float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        cumulative[(filename.replace(os.sep, "/"), name)] += ct
    parts: list[tuple[str, float]] = []
    for label, suffix, name in PROFILE_PARTS:
        seconds = sum(ct for (filename, fn), ct in cumulative.items() if fn == name and filename.endswith(suffix))
        parts.append((label, seconds))
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    parts.append(("the rest (drafts, keccak, pydantic payloads, dataclasses)", total - sum(s for _, s in parts)))
    parts = [(label, seconds / total) for label, seconds in parts]

    # the standard path for comparison: web3's build_transaction and eth-account's signing
    steps = prepare_flow(consortium, desks[0], "PROFILE-STANDARD")
    standard = fast = 0.0
    for service, prepared in steps:
        params = service.tx._params(0, prepared.gas_limit)
        started = time.perf_counter()
        service.tx.account.sign_transaction(cast(dict[str, Any], prepared.call.build_transaction(params)))
        standard += time.perf_counter() - started
        started = time.perf_counter()
        service.tx.sign(prepared.call, gas=prepared.gas_limit)
        fast += time.perf_counter() - started
    consortium.outbox.take()
    return Profile(flows, per_flow, parts, standard / len(steps), fast / len(steps))


# ---------------------------------------------------------------------------------------------------- report
def seconds_table(title: str, rows: dict[str, float], flows: int, wall: float, share: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("s", justify="right")
    table.add_column("ms/flow", justify="right")
    table.add_column(share, justify="right")
    for label, seconds in sorted(rows.items(), key=lambda item: -item[1]):
        table.add_row(label, f"{seconds:.2f}", f"{1000 * seconds / flows:.2f}", f"{100 * seconds / wall:.0f}")
    return table


def report(console: Console, plan: Plan, flows: RunResult, raw: RunResult, profile: Profile | None) -> None:
    n = plan.flows
    flows_per_s = n / flows.seconds
    table = Table(title="Throughput", title_justify="left")
    for column in ("", "transactions", "blocks", "seconds", "rate", "anvil CPU s"):
        table.add_column(column, justify="right" if column else "left")
    rate = f"{flows_per_s:,.0f} flows/s = {flows.tx_per_s:,.0f} tx/s"
    table.add_row(
        "flows, 10 tx each",
        f"{flows.transactions:,}",
        f"{flows.blocks}",
        f"{flows.seconds:.2f}",
        rate,
        f"{flows.anvil_cpu:.2f}",
    )
    table.add_row(
        "raw ETH transfers, pre-signed",
        f"{raw.transactions:,}",
        f"{raw.blocks}",
        f"{raw.seconds:.2f}",
        f"{raw.tx_per_s:,.0f} tx/s",
        f"{raw.anvil_cpu:.2f}",
    )
    console.print(table)
    verdict = "[green]meets[/]" if flows_per_s >= TARGET_FLOWS_PER_S else "[red]misses[/]"
    console.print(
        f"{flows_per_s:,.0f} flows/s {verdict} the target of {TARGET_FLOWS_PER_S}; "
        f"tx/s ÷ raw tx/s = [bold]{flows.tx_per_s / raw.tx_per_s:.2f}[/]"
    )
    capacity = flows.seconds * (os.cpu_count() or 1)
    ours = flows.worker_cpu + flows.coordinator_cpu + flows.anvil_cpu
    others = max(0.0, flows.machine_cpu - ours)
    console.print(
        f"CPU during the flows, {flows.seconds:.2f} s x {os.cpu_count()} cores = {capacity:.2f} core-s: "
        f"{plan.workers} workers {flows.worker_cpu:.2f}, coordinator {flows.coordinator_cpu:.2f}, anvil "
        f"{flows.anvil_cpu:.2f} ({100 * ours / capacity:.0f}%); other processes {others:.2f} "
        f"({100 * others / capacity:.0f}%)"
    )
    if others > 0.1 * capacity:
        console.print(
            "[yellow]other processes used this machine's CPU during the run: "
            "the rates are lower than on an idle machine[/]"
        )
    console.print(
        seconds_table(
            f"Workers, wall time ({plan.workers} processes, summed)", flows.workers, n, flows.seconds, "% of run"
        )
    )
    console.print(
        seconds_table(
            "Coordinator, wall time by activity (its threads overlap)", flows.coordinator, n, flows.seconds, "% of run"
        )
    )
    anvil = dict(flows.anvil)
    if (rest := flows.anvil_cpu - sum(anvil.values())) >= 0.01:
        anvil["between rounds"] = rest
    console.print(seconds_table("anvil CPU, by what the coordinator was doing", anvil, n, flows.seconds, "% of run"))
    if profile is not None:
        table = Table(
            title=f"Python CPU of a flow, prepared and signed ({profile.flows} flows timed, then shares from cProfile)",
            title_justify="left",
        )
        table.add_column("")
        table.add_column("ms/flow", justify="right")
        table.add_column("%", justify="right")
        for label, share in profile.parts:
            table.add_row(label, f"{1000 * share * profile.per_flow:.2f}", f"{100 * share:.0f}")
        table.add_row("total", f"{1000 * profile.per_flow:.2f}", "100", style="bold")
        console.print(table)
        console.print(
            f"per transaction, unprofiled: web3 build_transaction + eth-account signing "
            f"{1000 * profile.standard_per_tx:.2f} ms; the pipeline's calldata + signing "
            f"{1000 * profile.fast_per_tx:.2f} ms"
        )


# ---------------------------------------------------------------------------------------------------- the run
@dataclass
class Outcome:
    """What :func:`measure_throughput` measured."""

    flows: RunResult
    raw: RunResult
    verified: str
    profile: Profile | None


def measure_throughput(console: Console, node: AnvilNode, plan: Plan, profile_flows: int = 0) -> Outcome:
    """Setup, the raw transfers, the flows, the checks and (with ``profile_flows``) the profile, on one node started
    with a block gas limit of :data:`ROUND_GAS_LIMIT`."""
    numbers = [f"TP-{secrets.token_hex(3)}-{index:06d}" for index in range(plan.flows)]
    w3 = connect(node.rpc_url)
    with console.status("deploying, registering Party A, B, C and the bank, binding the desks' accounts"):
        sandbox = bootstrap(w3)
        consortium = Consortium.build(sandbox, plan.desks)
        w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
        from_block = w3.eth.block_number + 1
        before = int(sandbox.deployment.asset.functions.balanceOf(sandbox.b.treasury.address).call())
    workers = Workers(consortium, numbers, plan)  # forked before any other thread starts
    try:
        progress = Progress(
            TextColumn("{task.description:>14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        with progress:
            raw = measure_raw(w3, node, plan, consortium.accounts, progress)
            flows = run_flows(workers, node, plan, progress)
    except Reverted as error:
        with contextlib.suppress(Exception):
            error.add_note(f"replayed at the state before its block, it fails with {explain(w3, error)}")
        raise
    finally:
        workers.stop()
    with console.status("verifying on chain"):
        verified = verify(consortium, node.rpc_url, numbers, from_block, before)
    profile = None
    if profile_flows:
        with console.status("profiling"):
            profile = profile_python(consortium, profile_flows)
    return Outcome(flows, raw, verified, profile)
