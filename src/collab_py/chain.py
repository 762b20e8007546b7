"""Connecting to a node and sending transactions signed locally, with refusals decoded into named exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import Nonce, TxParams, TxReceipt, Wei

from collab_py.errors import ContractError, ErrorDecoder, default_decoder
from collab_py.exceptions import CollabError

#: Seconds to wait for a receipt before giving up.
RECEIPT_TIMEOUT = 120.0


class TransactionFailed(CollabError):
    """A transaction was mined but reverted without revert data we could recover."""


class NodeUnreachable(CollabError):
    """No Ethereum node answers at the given URL."""


def connect(rpc_url: str, *, poa: bool = False, timeout: float = 30.0) -> Web3:
    """Returns a Web3 client for ``rpc_url`` once the node answers; ``poa`` adds the extra-data middleware that
    geth Clique and Besu networks need."""
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    if poa:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    if not w3.is_connected():
        raise NodeUnreachable(f"no Ethereum node answers at {rpc_url}")
    return w3


def revert_data(error: ContractLogicError) -> str | None:
    """The raw revert data carried by a web3 contract error, if any."""
    data = error.data
    if isinstance(data, str) and data.startswith("0x"):
        return data
    return None


def decode_revert(error: ContractLogicError, decoder: ErrorDecoder | None = None) -> ContractError:
    """Turns a web3 contract error into the named exception of the contract's custom error."""
    return (decoder or default_decoder()).decode(revert_data(error))


@dataclass
class Transactor:
    """Sends transactions for one account, signing them locally (never ``eth_sendTransaction``).

    Every refusal surfaces as the named :class:`~collab_py.errors.ContractError` subclass of the contract's custom
    error, raised before anything is sent (gas estimation replays the call) or, for a transaction that reverts once
    mined, recovered by replaying it at its block.
    """

    w3: Web3
    account: LocalAccount
    decoder: ErrorDecoder = field(default_factory=default_decoder)
    _nonce: int | None = field(default=None, init=False, repr=False)
    _chain_id: int | None = field(default=None, init=False, repr=False)

    @property
    def address(self) -> ChecksumAddress:
        """The account's address."""
        return self.account.address

    def transact(self, call: ContractFunction | ContractConstructor, *, gas: int | None = None) -> TxReceipt:
        """Signs, sends and waits for ``call``; returns the receipt or raises the decoded refusal."""
        try:
            tx_hash, tx = self._send(call, gas)
        except Web3RPCError as error:
            if "nonce too low" not in str(error):
                raise
            self.resync()  # another sender used this account: read the nonce again and retry once
            tx_hash, tx = self._send(call, gas)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT, poll_latency=0.05)
        if receipt["status"] != 1:
            raise self._mined_revert(tx, receipt)
        return receipt

    def _send(self, call: ContractFunction | ContractConstructor, gas: int | None) -> tuple[HexBytes, TxParams]:
        params = self._params(gas)
        try:
            tx = call.build_transaction(params)
        except ContractLogicError as error:
            raise decode_revert(error, self.decoder) from None
        signed = self.account.sign_transaction(cast(dict[str, Any], tx))
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        self._nonce = int(tx["nonce"]) + 1
        return tx_hash, tx

    def resync(self) -> None:
        """Forgets the cached nonce and reads it from the node again (after a chain revert, say)."""
        self._nonce = None

    def call(self, call: ContractFunction) -> Any:
        """Runs a read-only call as this account, raising the decoded refusal if it reverts."""
        try:
            return call.call({"from": self.address})
        except ContractLogicError as error:
            raise decode_revert(error, self.decoder) from None

    def _params(self, gas: int | None) -> TxParams:
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        if self._nonce is None:
            self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        params: TxParams = {"from": self.address, "nonce": Nonce(self._nonce), "chainId": self._chain_id}
        if gas is not None:
            params["gas"] = gas
        params.update(_fee_params(self.w3))
        return params

    def _mined_revert(self, tx: TxParams, receipt: TxReceipt) -> CollabError:
        replay = cast(TxParams, {key: tx[key] for key in ("from", "to", "data", "value") if key in tx})
        try:
            self.w3.eth.call(replay, receipt["blockNumber"] - 1)
        except ContractLogicError as error:
            return decode_revert(error, self.decoder)
        return TransactionFailed(f"transaction {HexStr(receipt['transactionHash'].hex())} reverted")


def _fee_params(w3: Web3) -> TxParams:
    """EIP-1559 fees when the chain has a base fee, a legacy gas price otherwise (many PoA networks)."""
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    if base_fee is None:
        return {"gasPrice": w3.eth.gas_price}
    priority = w3.eth.max_priority_fee
    return {"maxFeePerGas": Wei(2 * base_fee + priority), "maxPriorityFeePerGas": priority}
