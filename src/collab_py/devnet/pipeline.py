"""Many transactions fast: signing without web3's per-call overhead, JSON-RPC batches, and rounds mined as blocks.

For load on a development node (the load generator, the benchmarks), where thousands of transactions go out at once.
:class:`PipelinedTransactor` signs exactly the transactions :class:`~collab_py.chain.transactor.Transactor` would
(the first calldata of each function and the first signature of each account are checked against web3's and
eth-account's) but leaves them in an :class:`Outbox` instead of sending each one; :class:`Rpc` ships them as
batches; :class:`ManualMining` switches the node's automine off so that :func:`mine_round` mines a whole round of
independent transactions as one block and checks every receipt.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import coincurve
from eth_abi.encoding import TupleEncoder
from eth_abi.registry import registry as abi_registry
from eth_account.datastructures import SignedTransaction
from eth_utils.abi import collapse_if_tuple
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3.contract.contract import ContractFunction

from collab_py.chain.transactor import Call, PendingTx, Transactor
from collab_py.exceptions import CollabError

#: Size of an ``eth_sendRawTransaction`` batch: anvil refuses request bodies of a few megabytes.
BATCH_BYTES = 1_000_000
#: Block gas limit while mining manually: a round is one block, and blocks far below the gas target keep the
#: base fee falling, so a max fee read once stays valid.
ROUND_GAS_LIMIT = 2_000_000_000
#: ``evm_mine`` calls without any of a round's transactions in the block before the round is declared stuck.
STUCK_BLOCKS = 3


class PipelineError(CollabError):
    """The node refused a batch, or a round's transactions were not all mined."""


# ---------------------------------------------------------------------------------------------------- JSON-RPC
class Rpc:
    """JSON-RPC over one keep-alive HTTP connection, with batches; raises :class:`PipelineError` on any error."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise PipelineError(f"batched JSON-RPC needs an http:// URL, not {url!r}")
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        self._path = parts.path or "/"
        self._ids = 0

    def post(self, body: bytes) -> Any:
        """Posts a ready JSON body (one request or a batch) and returns the decoded reply."""
        self._conn.request("POST", self._path, body, {"Content-Type": "application/json"})
        response = self._conn.getresponse()
        data = response.read()
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


def mine_round(rpc: Rpc, pending: Sequence[PendingTx], label: str) -> None:
    """Sends ``pending`` in batches, mines them (one block, unless other senders filled it) and checks that every one
    was mined with success; a reverted one raises its decoded refusal. Needs :class:`ManualMining`."""
    hashes = {tx.tx_hash.to_0x_hex(): tx for tx in pending}
    checked = int(rpc.call("eth_blockNumber"), 16)
    sent: list[str] = []
    requests: list[bytes] = []
    size = 0
    for index, (tx_hash, tx) in enumerate(hashes.items()):
        requests.append(raw_request(tx_hash, tx.signed.raw_transaction.to_0x_hex()))
        sent.append(tx_hash)
        size += len(requests[-1])
        if index == len(hashes) - 1 or size >= BATCH_BYTES:
            check_sent(rpc.post(b"[" + b",".join(requests) + b"]"), sent)
            sent, requests, size = [], [], 0
    idle = 0
    while hashes:
        rpc.call("evm_mine")
        head = int(rpc.call("eth_blockNumber"), 16)
        mined = []
        for block in range(checked + 1, head + 1):  # ours, and any another miner made meanwhile
            receipts = rpc.call("eth_getBlockReceipts", hex(block))
            if receipts is None:
                raise PipelineError(f"{label}: block {block} has no receipts")
            mined += [receipt for receipt in receipts if receipt["transactionHash"] in hashes]
        checked = head
        idle = 0 if mined else idle + 1
        if idle == STUCK_BLOCKS:
            pool = rpc.call("txpool_status")
            raise PipelineError(
                f"{label}: {len(hashes)} transactions not mined in {STUCK_BLOCKS} blocks, e.g. {next(iter(hashes))} "
                f"(pool: {pool})"
            )
        for receipt in mined:
            tx = hashes.pop(receipt["transactionHash"])
            if receipt["status"] != "0x1":
                tx.wait()  # raises the decoded refusal
                raise PipelineError(f"{label}: {receipt['transactionHash']} reverted")
