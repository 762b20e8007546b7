"""Connecting to a node and sending transactions signed locally, with refusals decoded into named exceptions.

:class:`Transactor` sends for one account. It never uses ``eth_sendTransaction``: every transaction is signed here
with eth-account. Its nonce manager lets the account pipeline many transactions (:meth:`Transactor.send` returns at
once, :meth:`PendingTx.wait` collects the receipt) and recovers when another process used the account ("nonce too
low") or a node dropped a transaction from its pool (the same signed transaction, same nonce, is sent again).

Any JSON-RPC node, not only anvil: :func:`connect` detects a proof-of-authority chain (geth Clique, Besu QBFT/IBFT:
extra data longer than 32 bytes) from raw answers, before web3's formatters can choke on it; fees are read without
the "pending" block some nodes refuse (:class:`FeeOracle`), a chain with gas price 0 is used from accounts without
ether (:class:`FeePolicy`), a receipt query answered with an error means "not mined yet", and a nonce is read from
the "latest" block where "pending" is refused.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
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
from web3.providers import JSONBaseProvider
from web3.types import Nonce, RPCEndpoint, RPCResponse, TxParams, TxReceipt, Wei

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

#: What nodes answer when a transaction pays less than they accept (geth, Besu, Nethermind); never a replacement.
_UNDERPRICED = ("transaction underpriced", "below configured minimum", "gas price too low", "feetoolow", "tip needed")
#: The fee fields of a transaction, replaced together when its fees change.
_FEE_FIELDS = ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "type")
#: Blocks of ``eth_feeHistory`` a priority fee is taken from, and the percentile of their tips.
FEE_HISTORY_BLOCKS, FEE_HISTORY_PERCENTILE = 10, 50.0

Call = ContractFunction | ContractConstructor
log = logging.getLogger("collab.chain")


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


class FeeError(CollabError):
    """No gas price could be determined: the node offers no fee lookup, or zero gas was asked of a chain with fees."""


def rpc_request(w3: Web3, method: str, params: Sequence[Any] = ()) -> Any:
    """One JSON-RPC request through ``w3``'s provider, its result as the node sent it (no web3 formatter);
    :class:`~web3.exceptions.Web3RPCError` when the node answers with an error."""
    return _result(method, w3.provider.make_request(RPCEndpoint(method), list(params)))


def rpc_batch(w3: Web3, method: str, params: Sequence[Sequence[Any]]) -> list[Any]:
    """``method`` with each of ``params`` in one JSON-RPC batch (one round trip): the results in order, as the node
    sent them; :class:`~web3.exceptions.Web3RPCError` when the node refuses the batch or answers one with an error."""
    provider = cast(JSONBaseProvider, w3.provider)  # HTTP or WebSocket: what connect() makes
    replies = provider.make_batch_request([(RPCEndpoint(method), list(each)) for each in params])
    return [_result(method, reply) for reply in (replies if isinstance(replies, list) else [replies])]


def _result(method: str, reply: RPCResponse) -> Any:
    if "error" in reply:
        error = reply["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise Web3RPCError(f"{method}: {message}", rpc_response=reply)
    return reply.get("result")


def is_poa_chain(w3: Web3) -> bool:
    """Whether the chain's blocks carry more than 32 bytes of extra data (geth Clique's signer list and seal, Besu's
    QBFT/IBFT RLP), read from the genesis and the latest block as the node sends them: web3's block formatter refuses
    such blocks until the proof-of-authority middleware is in place."""
    for block in ("0x0", "latest"):
        raw = rpc_request(w3, "eth_getBlockByNumber", [block, False])
        extra = raw.get("extraData") if isinstance(raw, dict) else None
        if isinstance(extra, str) and len(extra.removeprefix("0x")) > 64:
            return True
    return False


@dataclass(frozen=True)
class FeePolicy:
    """How a connection's transactions pay for gas (settings ``COLLAB_GAS_PRICE``, ``COLLAB_ZERO_GAS``).

    ``gas_price``: every transaction pays this legacy gas price in wei (a node without fee lookups, or 0 on a
    zero-gas chain); None reads the fees from the node. ``zero_gas``: True pays nothing (gas price 0, or EIP-1559 fees
    0 on a chain whose base fee is 0; :class:`FeeError` on a chain with a base fee), False never assumes it, None
    (auto) pays nothing when the latest block's base fee is 0 (or, on a chain without base fee, the node suggests a gas
    price of 0) until a node refuses a zero-priced transaction as underpriced, then what the node suggests.
    """

    gas_price: int | None = None
    zero_gas: bool | None = None

    def __post_init__(self) -> None:
        if self.gas_price is not None and self.gas_price < 0:
            raise ValueError("a gas price is not negative")
        if self.zero_gas is True and self.gas_price:
            raise ValueError(f"zero gas and a gas price of {self.gas_price} wei contradict each other")


class SerialWebSocketProvider(LegacyWebSocketProvider):
    """web3's WebSocket provider with one request on its connection at a time. The connection is shared by threads
    (the sync reads ahead on a second one, the platform answers on many), and web3's provider lets two requests
    wait for their answers at once, which fails ("cannot call recv while another coroutine is already waiting")."""

    def __init__(self, endpoint_uri: str, websocket_timeout: int) -> None:
        super().__init__(endpoint_uri, websocket_timeout=websocket_timeout)
        self._one_at_a_time = threading.RLock()  # re-entrant: a middleware may ask again inside a request

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._one_at_a_time:
            return super().make_request(method, params)

    def make_batch_request(self, requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse]:
        with self._one_at_a_time:
            return super().make_batch_request(requests)


def connect(rpc_url: str, *, poa: bool | None = None, fees: FeePolicy | None = None, timeout: float = 30.0) -> Web3:
    """A Web3 client for ``rpc_url`` (``http(s)://`` or ``ws(s)://``) once the node answers.

    ``poa`` adds the extra-data middleware that geth Clique and Besu networks need; ``None`` detects it with
    :func:`is_poa_chain`. ``fees`` is how every :class:`Transactor` on this client pays for gas (default: read from
    the node, zero gas detected). Without web3's validation and ENS middleware: transactions are signed here with the
    node's own chain id, and a call costs one request instead of two.

    The URL may carry credentials (``https://user:password@node/<api key>``): errors show it masked, and its secret
    parts are remembered so that any message quoting them is scrubbed (:mod:`collab_py.redaction`).
    """
    remember_url(rpc_url)
    if rpc_url.startswith(("ws://", "wss://")):
        w3 = Web3(SerialWebSocketProvider(rpc_url, websocket_timeout=int(timeout)))
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
        poa = is_poa_chain(w3)
    if poa:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    _oracles[w3] = FeeOracle(w3, fees or FeePolicy())
    return w3


_oracles: weakref.WeakKeyDictionary[Web3, FeeOracle] = weakref.WeakKeyDictionary()
_oracles_lock = threading.Lock()


def fee_oracle(w3: Web3) -> FeeOracle:
    """The fee oracle every transactor on ``w3`` shares: the policy given to :func:`connect`, else the default."""
    with _oracles_lock:
        oracle = _oracles.get(w3)
        if oracle is None:
            oracle = _oracles[w3] = FeeOracle(w3)
        return oracle


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
                self._next = self._count()
            nonce = self._next
            self._next += 1
            return nonce

    def _count(self) -> int:
        """The account's transaction count with its pending transactions, or as of the latest block on a node that
        refuses "pending" (its pool is then invisible: a nonce taken there is recovered when sending)."""
        try:
            return self._w3.eth.get_transaction_count(self._address, "pending")
        except Web3RPCError as error:
            if "pending" not in str(error).lower():
                raise
            return self._w3.eth.get_transaction_count(self._address, "latest")

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
    """Fee fields for new transactions, by the connection's :class:`FeePolicy`.

    EIP-1559 fees when the chain has a base fee (max fee: twice the base fee plus the tip, so that the base fee may
    double meanwhile), a legacy gas price otherwise (many PoA networks). Every read is a raw request on the latest
    block, never "pending" (refused by some nodes): the tip from ``eth_maxPriorityFeePerGas``, else the median tip of
    the last blocks by ``eth_feeHistory`` up to "latest", else ``eth_gasPrice`` less the base fee; without any, a
    :class:`FeeError` that names ``COLLAB_GAS_PRICE``. Reads the node at most every ``ttl`` seconds.
    """

    def __init__(self, w3: Web3, policy: FeePolicy | None = None, ttl: float = FEE_TTL) -> None:
        self._w3 = w3
        self.policy = policy or FeePolicy()
        self._ttl = ttl
        self._cached: tuple[float, TxParams] | None = None
        self._zero_refused = False
        self._lock = threading.Lock()

    def params(self) -> TxParams:
        """Fee fields for a new transaction."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self._ttl:
                self._cached = (now, self._read())
            return dict(self._cached[1])  # type: ignore[return-value]

    def pays_nothing(self) -> bool:
        """Whether transactions currently pay no fees (zero gas configured or detected)."""
        return _zero_fees(self.params())

    def refuse_zero(self, params: TxParams) -> bool:
        """After a node refused a transaction with ``params`` as underpriced: True if zero gas was only detected
        (policy auto), which is then given up for the node's suggested fees; False if the fees were not zero or zero
        gas was configured (the refusal stands)."""
        if self.policy.zero_gas is not None or self.policy.gas_price is not None or not _zero_fees(params):
            return False
        with self._lock:
            if not self._zero_refused:
                log.warning("the node refused a transaction with zero fees: paying the fees it suggests from now on")
            self._zero_refused = True
            self._cached = None
        return True

    def _read(self) -> TxParams:
        policy = self.policy
        if policy.gas_price is not None:
            return {"gasPrice": Wei(policy.gas_price)}
        latest = rpc_request(self._w3, "eth_getBlockByNumber", ["latest", False])
        base_fee = _quantity(latest.get("baseFeePerGas")) if isinstance(latest, dict) else None
        if policy.zero_gas:
            if base_fee:
                raise FeeError(f"zero gas is configured (COLLAB_ZERO_GAS) but the chain's base fee is {base_fee} wei")
            return _zero_params(base_fee)
        if base_fee is None:
            price = self._first(self._gas_price)
            if price == 0 and policy.zero_gas is None and not self._zero_refused:
                return _zero_params(None)
            return {"gasPrice": Wei(price)}
        if base_fee == 0 and policy.zero_gas is None and not self._zero_refused:
            return _zero_params(0)
        tip = self._first(self._max_priority_fee, self._fee_history_tip, lambda: self._gas_price() - base_fee)
        return {"maxFeePerGas": Wei(2 * base_fee + tip), "maxPriorityFeePerGas": Wei(tip)}

    def _first(self, *sources: Callable[[], int]) -> int:
        """The first source that answers with a usable figure."""
        failures = []
        for source in sources:
            try:
                value = source()
            except (Web3RPCError, ValueError, KeyError, TypeError, IndexError) as error:
                failures.append(f"{type(error).__name__}: {error}")
                continue
            if value >= 0:
                return value
            failures.append(f"negative figure {value}")
        raise FeeError(
            "the node suggests no fee (" + "; ".join(failures) + "): set the gas price to pay (COLLAB_GAS_PRICE, wei)"
        )

    def _gas_price(self) -> int:
        return _quantity(rpc_request(self._w3, "eth_gasPrice"))

    def _max_priority_fee(self) -> int:
        return _quantity(rpc_request(self._w3, "eth_maxPriorityFeePerGas"))

    def _fee_history_tip(self) -> int:
        history = rpc_request(self._w3, "eth_feeHistory", [hex(FEE_HISTORY_BLOCKS), "latest", [FEE_HISTORY_PERCENTILE]])
        tips = [_quantity(block[0]) for block in history.get("reward") or [] if block]
        tips = [tip for tip in tips if tip > 0]  # empty blocks report 0
        if not tips:
            raise ValueError("no tips in the recent blocks")
        return int(statistics.median(tips))


def _quantity(value: Any) -> int:
    """A JSON-RPC quantity ("0x1a") or a number as an int; ValueError if it is neither."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16)
    raise ValueError(f"not a quantity: {value!r}")


def _zero_params(base_fee: int | None) -> TxParams:
    if base_fee is None:
        return {"gasPrice": Wei(0)}
    return {"maxFeePerGas": Wei(0), "maxPriorityFeePerGas": Wei(0)}


def _zero_fees(params: TxParams) -> bool:
    fees = [params.get(key) for key in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas") if key in params]
    return bool(fees) and all(fee == 0 for fee in fees)


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
            self.fees = fee_oracle(self.w3)

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

    def transfer(self, to: ChecksumAddress, value: int) -> PendingTx:
        """Sends ``value`` wei to ``to`` (a plain transfer, 21,000 gas) without waiting for it to be mined."""
        with self._reaching_node():
            nonce = self._nonces.reserve()
            try:
                params = self._params(nonce, 21_000)
            except BaseException:
                self._nonces.release(nonce)
                raise
            params.update({"to": to, "value": Wei(value)})
            pending = PendingTx(self, self.account.sign_transaction(cast(dict[str, Any], params)), params)
            self._broadcast(pending)
        return pending

    def sign(self, call: Call, *, gas: int | None = None) -> PendingTx:
        """Builds and signs ``call`` with the next nonce, without sending it (see :meth:`send_signed`)."""
        nonce = self._nonces.reserve()
        try:
            tx = call.build_transaction(self._params(nonce, gas))
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
        the account's nonce again and signs it anew, a few times. A transaction with zero fees that were only
        detected (:class:`FeePolicy` auto) and that the node refuses as underpriced is signed again, same nonce, with
        the fees the node suggests."""
        assert self.fees is not None
        for attempt in range(NONCE_RETRIES + 1):
            try:
                self.w3.eth.send_raw_transaction(pending.signed.raw_transaction)
                return
            except Web3RPCError as error:
                underpriced = _says(error, _UNDERPRICED) and not _says(error, ("replacement",))
                if underpriced and self.fees.refuse_zero(pending.params):
                    priced = cast(TxParams, {k: v for k, v in pending.params.items() if k not in _FEE_FIELDS})
                    priced.update(self.fees.params())
                    pending.params = priced
                    pending.signed = self.account.sign_transaction(cast(dict[str, Any], priced))
                    continue
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
        answered: Web3RPCError | None = None
        while True:
            receipt = None
            try:
                receipt = self.w3.eth.get_transaction_receipt(pending.tx_hash)
            except TransactionNotFound:
                pass
            except Web3RPCError as error:  # "not yet": a transaction still pending, or "indexing is in progress"
                answered = error
            if receipt is not None and self.w3.eth.block_number < receipt["blockNumber"]:
                # geth writes a block's receipts a moment before it makes the block its head: until then a read of
                # "latest" would not see what the transaction did
                receipt = None
            if receipt is not None:
                if receipt["status"] != 1:
                    raise self._mined_revert(pending.params, receipt)
                return receipt
            now = time.monotonic()
            if now >= deadline:
                said = f" (the node last answered: {answered})" if answered is not None else ""
                raise TransactionTimeout(
                    f"no receipt for {pending.tx_hash.to_0x_hex()} yet; it may still be mined{said}"
                )
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
        except Web3RPCError:
            pass  # the node would not say: send it again below (a node that has it answers "already known")
        mined = self.w3.eth.get_transaction_count(self.address, "latest")
        if mined > pending.nonce:  # the nonce was used, perhaps not by our transaction
            try:
                self.w3.eth.get_transaction_receipt(pending.tx_hash)
            except TransactionNotFound:
                raise TransactionReplaced(
                    f"nonce {pending.nonce} of {self.address} was used by another transaction"
                ) from None
            except Web3RPCError:
                pass  # a node that answers receipts with errors: keep waiting for ours
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
