"""Connecting to a node and sending transactions signed locally, with refusals decoded into named exceptions.

:class:`Transactor` sends for one account. It never uses ``eth_sendTransaction``: every transaction is signed here
with eth-account. Its nonce manager lets the account pipeline many transactions (:meth:`Transactor.send` returns at
once, :meth:`PendingTx.wait` collects the receipt) and recovers when another process used the account ("nonce too
low") or a node dropped a transaction from its pool (the same signed transaction, same nonce, is sent again).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import requests
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import HTTPProvider, LegacyWebSocketProvider, Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import Nonce, RPCEndpoint, TxParams, TxReceipt, Wei

from collab_py.chain.errors import ContractError, ErrorDecoder, default_decoder
from collab_py.exceptions import CollabError
from collab_py.redaction import mask_url, remember_url

#: Seconds to wait for a receipt before giving up.
RECEIPT_TIMEOUT = 120.0
#: Seconds without a receipt after which a transaction the node no longer knows is sent again.
RESEND_AFTER = 5.0
#: How long fee parameters read from the node are reused.
FEE_TTL = 2.0

#: How many times a transaction whose nonce another sender took is signed again with a fresh one.
NONCE_RETRIES = 5
#: What nodes (geth, Besu, anvil) answer when the very transaction is already in their pool or chain.
_ALREADY_SENT = ("already known", "already imported")
#: What they answer when a nonce is already used or pending.
_NONCE_TAKEN = ("nonce too low", *_ALREADY_SENT, "replacement transaction underpriced")
#: What they answer when the sender cannot pay for the gas (anvil estimating with a zero balance, geth, Besu).
_NO_FUNDS = ("gas required exceeds allowance: 0", "insufficient funds")

Call = ContractFunction | ContractConstructor


class TransactionFailed(CollabError):
    """A transaction was mined but reverted without revert data we could recover."""


class TransactionTimeout(CollabError):
    """No receipt arrived in time; the transaction may still be mined later."""


class TransactionReplaced(CollabError):
    """The transaction's nonce was used by another transaction of the same account (e.g. another process)."""


class NodeUnreachable(CollabError):
    """No Ethereum node answers at the given URL."""


class InsufficientFunds(CollabError):
    """The sending account has too little ether to pay for the gas."""


def connect(rpc_url: str, *, poa: bool | None = None, timeout: float = 30.0) -> Web3:
    """A Web3 client for ``rpc_url`` (``http(s)://`` or ``ws(s)://``) once the node answers.

    ``poa`` adds the extra-data middleware that geth Clique and Besu networks need; ``None`` detects it from the
    genesis block (extra data longer than 32 bytes). Without web3's validation and ENS middleware: transactions are
    signed here with the node's own chain id, and a call costs one request instead of two.

    The URL may carry credentials (``https://user:password@node/<api key>``): errors show it masked, and its secret
    parts are remembered so that any message quoting them is scrubbed (:mod:`collab_py.redaction`).
    """
    remember_url(rpc_url)
    if rpc_url.startswith(("ws://", "wss://")):
        w3 = Web3(LegacyWebSocketProvider(rpc_url, websocket_timeout=int(timeout)))
    elif rpc_url.startswith(("http://", "https://")):
        w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    else:
        raise NodeUnreachable(f"unsupported RPC URL {mask_url(rpc_url)}: use http(s):// or ws(s)://")
    try:
        connected = w3.is_connected()
    except Exception:  # the WebSocket provider raises on refused connections
        connected = False
    if not connected:
        raise NodeUnreachable(f"no Ethereum node answers at {mask_url(rpc_url)}")
    # web3's validation middleware asks the node for its chain id before every call and estimate (half of a bot's
    # requests), to check a chain id we take from the node anyway; ENS does not exist on a consortium chain
    w3.middleware_onion.remove("validation")
    w3.middleware_onion.remove("ens_name_to_address")
    if poa is None:
        poa = len(w3.eth.get_block(0)["extraData"]) > 32
    if poa:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def _says(error: Exception, texts: tuple[str, ...]) -> bool:
    """Whether the node's error message contains one of ``texts``."""
    message = str(error).lower()
    return any(text in message for text in texts)


def revert_data(error: ContractLogicError) -> str | None:
    """The raw revert data carried by a web3 contract error, if any."""
    data = error.data
    if isinstance(data, str) and data.startswith("0x"):
        return data
    return None


def decode_revert(error: ContractLogicError, decoder: ErrorDecoder | None = None) -> ContractError:
    """Turns a web3 contract error into the named exception of the contract's custom error."""
    return (decoder or default_decoder()).decode(revert_data(error))


class NonceManager:
    """Hands out consecutive nonces for one account, thread-safe; reads the node's count again on :meth:`resync`."""

    def __init__(self, w3: Web3, address: ChecksumAddress) -> None:
        self._w3 = w3
        self._address = address
        self._next: int | None = None
        self._lock = threading.Lock()

    def reserve(self) -> int:
        """The next nonce to use."""
        with self._lock:
            if self._next is None:
                self._next = self._w3.eth.get_transaction_count(self._address, "pending")
            nonce = self._next
            self._next += 1
            return nonce

    def release(self, nonce: int) -> None:
        """Gives back ``nonce`` when nothing was sent with it and it is the last one handed out."""
        with self._lock:
            if self._next == nonce + 1:
                self._next = nonce

    def resync(self) -> None:
        """Forgets the local count; the next :meth:`reserve` asks the node (pending transactions included)."""
        with self._lock:
            self._next = None


class FeeOracle:
    """EIP-1559 fees when the chain has a base fee, a legacy gas price otherwise (many PoA networks).

    Reads the node at most every :data:`FEE_TTL` seconds; the max fee allows the base fee to double meanwhile.
    """

    def __init__(self, w3: Web3, ttl: float = FEE_TTL) -> None:
        self._w3 = w3
        self._ttl = ttl
        self._cached: tuple[float, TxParams] | None = None
        self._lock = threading.Lock()

    def params(self) -> TxParams:
        """Fee fields for a new transaction."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self._ttl:
                self._cached = (now, self._read())
            return dict(self._cached[1])  # type: ignore[return-value]

    def _read(self) -> TxParams:
        base_fee = self._w3.eth.get_block("latest").get("baseFeePerGas")
        if base_fee is None:
            return {"gasPrice": self._w3.eth.gas_price}
        priority = self._w3.eth.max_priority_fee
        return {"maxFeePerGas": Wei(2 * base_fee + priority), "maxPriorityFeePerGas": priority}


@dataclass
class PendingTx:
    """A transaction sent and not yet known to be mined."""

    transactor: Transactor
    signed: SignedTransaction
    params: TxParams

    @property
    def tx_hash(self) -> HexBytes:
        """The transaction hash."""
        return HexBytes(self.signed.hash)

    @property
    def nonce(self) -> int:
        """The nonce the transaction uses."""
        return int(self.params["nonce"])

    def wait(self, timeout: float | None = None) -> TxReceipt:
        """The receipt once mined; raises the decoded refusal if the transaction reverted."""
        return self.transactor.wait(self, timeout)


@dataclass
class Transactor:
    """Sends transactions for one account, signing them locally (never ``eth_sendTransaction``).

    Every refusal surfaces as the named :class:`~collab_py.chain.errors.ContractError` subclass of the contract's custom
    error: raised before anything is sent when the gas is estimated (estimation replays the call), or recovered by
    replaying a mined, reverted transaction at its block. Give ``gas`` to send without estimating, e.g. to pipeline
    transactions that depend on earlier ones still pending.
    """

    w3: Web3
    account: LocalAccount = field(repr=False)
    decoder: ErrorDecoder = field(default_factory=default_decoder, repr=False)
    receipt_timeout: float = RECEIPT_TIMEOUT
    fees: FeeOracle | None = field(default=None, repr=False)
    _nonces: NonceManager = field(init=False, repr=False)
    _chain_id: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._nonces = NonceManager(self.w3, self.account.address)
        if self.fees is None:
            self.fees = FeeOracle(self.w3)

    @property
    def address(self) -> ChecksumAddress:
        """The account's address."""
        return self.account.address

    def transact(self, call: Call, *, gas: int | None = None) -> TxReceipt:
        """Signs, sends and waits for ``call``; returns the receipt or raises the decoded refusal, or
        :class:`NodeUnreachable` when the node cannot be reached (the transaction may or may not have been sent:
        read the chain before sending it again)."""
        return self.send(call, gas=gas).wait()

    def send(self, call: Call, *, gas: int | None = None) -> PendingTx:
        """Signs and sends ``call`` without waiting for it to be mined; :class:`NodeUnreachable` if the node
        cannot be reached."""
        with self._reaching_node():
            pending = self.sign(call, gas=gas)
            self._broadcast(pending)
        return pending

    def sign(self, call: Call, *, gas: int | None = None) -> PendingTx:
        """Builds and signs ``call`` with the next nonce, without sending it (see :meth:`send_signed`)."""
        nonce = self._nonces.reserve()
        params = self._params(nonce, gas)
        try:
            tx = call.build_transaction(params)
        except ContractLogicError as error:
            self._nonces.release(nonce)
            raise decode_revert(error, self.decoder) from None
        except Web3RPCError as error:
            self._nonces.release(nonce)
            if _says(error, _NO_FUNDS):
                raise InsufficientFunds(f"{self.address} has no ether to pay for the gas") from None
            raise
        except BaseException:
            self._nonces.release(nonce)
            raise
        return PendingTx(self, self.account.sign_transaction(cast(dict[str, Any], tx)), tx)

    def _broadcast(self, pending: PendingTx) -> None:
        """Sends ``pending``; when another sender (a second process with this key) took its nonce — the node says
        the nonce is too low, the identical transaction is already known, or a replacement is underpriced — reads
        the account's nonce again and signs it anew, a few times."""
        for attempt in range(NONCE_RETRIES + 1):
            try:
                self.w3.eth.send_raw_transaction(pending.signed.raw_transaction)
                return
            except Web3RPCError as error:
                self._nonces.resync()
                if attempt == NONCE_RETRIES or not _says(error, _NONCE_TAKEN):
                    raise
            fresh = self.sign_again(pending)
            pending.signed, pending.params = fresh.signed, fresh.params

    def sign_again(self, pending: PendingTx) -> PendingTx:
        """The same transaction signed with a fresh nonce."""
        params = cast(TxParams, {**pending.params, "nonce": Nonce(self._nonces.reserve())})
        return PendingTx(self, self.account.sign_transaction(cast(dict[str, Any], params)), params)

    def wait(self, pending: PendingTx, timeout: float | None = None) -> TxReceipt:
        """Waits for ``pending``'s receipt; sends it again if the node dropped it from its pool;
        :class:`NodeUnreachable` if the node cannot be reached."""
        with self._reaching_node():
            return self._wait(pending, timeout)

    @contextlib.contextmanager
    def _reaching_node(self) -> Iterator[None]:
        """A connection error inside is :class:`NodeUnreachable`; the nonce is read again from the node next time."""
        try:
            yield
        except requests.exceptions.ConnectionError as error:
            self._nonces.resync()
            raise NodeUnreachable(f"the node stopped answering ({type(error).__name__})") from None

    def _wait(self, pending: PendingTx, timeout: float | None) -> TxReceipt:
        deadline = time.monotonic() + (timeout if timeout is not None else self.receipt_timeout)
        resend_at = time.monotonic() + RESEND_AFTER
        delay = 0.005
        while True:
            try:
                receipt = self.w3.eth.get_transaction_receipt(pending.tx_hash)
            except TransactionNotFound:
                receipt = None
            if receipt is not None:
                if receipt["status"] != 1:
                    raise self._mined_revert(pending.params, receipt)
                return receipt
            now = time.monotonic()
            if now >= deadline:
                raise TransactionTimeout(f"no receipt for {pending.tx_hash.to_0x_hex()} yet; it may still be mined")
            if now >= resend_at:
                self._resend_if_dropped(pending)
                resend_at = now + RESEND_AFTER
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _resend_if_dropped(self, pending: PendingTx) -> None:
        try:
            self.w3.eth.get_transaction(pending.tx_hash)
            return  # still in the pool
        except TransactionNotFound:
            pass
        mined = self.w3.eth.get_transaction_count(self.address, "latest")
        if mined > pending.nonce:  # the nonce was used, but not by our transaction
            try:
                self.w3.eth.get_transaction_receipt(pending.tx_hash)
            except TransactionNotFound:
                raise TransactionReplaced(
                    f"nonce {pending.nonce} of {self.address} was used by another transaction"
                ) from None
            return
        try:
            self.w3.eth.send_raw_transaction(pending.signed.raw_transaction)
        except Web3RPCError as error:
            if not _says(error, _ALREADY_SENT):
                raise

    def resync(self) -> None:
        """Forgets the cached nonce and reads it from the node again (after a chain revert, say)."""
        self._nonces.resync()

    def call(self, call: ContractFunction) -> Any:
        """Runs a read-only call as this account, raising the decoded refusal if it reverts."""
        try:
            return call.call({"from": self.address})
        except ContractLogicError as error:
            raise decode_revert(error, self.decoder) from None

    def _params(self, nonce: int, gas: int | None) -> TxParams:
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        assert self.fees is not None
        params: TxParams = {"from": self.address, "nonce": Nonce(nonce), "chainId": self._chain_id}
        if gas is not None:
            params["gas"] = gas
        params.update(self.fees.params())
        return params

    def _mined_revert(self, tx: TxParams, receipt: TxReceipt) -> CollabError:
        """The refusal of a mined, reverted transaction: its revert data from a trace of the transaction where the
        node offers ``debug_traceTransaction`` (exact: the mined block's time and the transactions before it), else
        from replaying the call on the state before its block."""
        traced = self._traced_revert_data(receipt["transactionHash"])
        if traced is not None:
            return self.decoder.decode(traced)
        replay = cast(TxParams, {key: tx[key] for key in ("from", "to", "data", "value", "gas") if key in tx})
        try:
            self.w3.eth.call(replay, receipt["blockNumber"] - 1)
        except ContractLogicError as error:
            return decode_revert(error, self.decoder)
        except Web3RPCError as error:  # a node without that block's state: the revert stands, its reason unknown
            return TransactionFailed(
                f"transaction {receipt['transactionHash'].to_0x_hex()} reverted (the node could not replay it: {error})"
            )
        return TransactionFailed(f"transaction {receipt['transactionHash'].to_0x_hex()} reverted")

    def _traced_revert_data(self, tx_hash: HexBytes) -> str | None:
        try:
            reply = self.w3.provider.make_request(
                RPCEndpoint("debug_traceTransaction"), [tx_hash.to_0x_hex(), {"tracer": "callTracer"}]
            )
        except Exception:  # a node without the debug API, or one that refuses the tracer
            return None
        result: Any = reply.get("result")
        output = result.get("output") if isinstance(result, dict) else None
        return output if isinstance(output, str) and len(output) >= 10 else None
