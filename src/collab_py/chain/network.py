"""Genesis files and node keys of a consortium chain: geth 1.13 Clique and Besu QBFT.

Both genesis files have every fork through London at block 0 and no Shanghai or Cancun time (multi-node Clique stalls
at Shanghai, go-ethereum #29319; the contracts are compiled for ``paris`` either way). Used by ``collab network init``
(:mod:`collab_py.cli.network`) and by the test harness (:mod:`collab_py.devnet.clique`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import coincurve
import rlp

FORK_BLOCKS = (
    "homesteadBlock",
    "eip150Block",
    "eip155Block",
    "eip158Block",
    "byzantiumBlock",
    "constantinopleBlock",
    "petersburgBlock",
    "istanbulBlock",
    "muirGlacierBlock",
    "berlinBlock",
    "londonBlock",
    "arrowGlacierBlock",
    "grayGlacierBlock",
)
#: The ``mixHash`` Besu's documentation gives every QBFT genesis (and QBFT requires of every block).
QBFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
VANITY = bytes(32)


@dataclass(frozen=True)
class NodeKey:
    """A secp256k1 key a node identifies itself with on the p2p network (and, on Besu QBFT, validates with)."""

    secret: bytes

    @classmethod
    def generate(cls) -> NodeKey:
        """A fresh random key."""
        return cls(coincurve.PrivateKey().secret)

    @property
    def hex(self) -> str:
        """The private key as 64 hex digits (geth's ``nodekey`` file)."""
        return self.secret.hex()

    @property
    def public_hex(self) -> str:
        """The uncompressed public key without its 04 prefix, as in enode URLs."""
        return coincurve.PrivateKey(self.secret).public_key.format(compressed=False)[1:].hex()

    def enode(self, host: str, port: int) -> str:
        """The node's enode URL at ``host:port``."""
        return f"enode://{self.public_hex}@{host}:{port}"

    def __repr__(self) -> str:
        return f"NodeKey(enode id {self.public_hex[:8]}…)"


def _addresses(validators: Iterable[str]) -> list[str]:
    addresses = [address.lower().removeprefix("0x") for address in validators]
    if not addresses:
        raise ValueError("a proof-of-authority network needs at least one validator")
    return addresses


def _genesis(
    *,
    chain_id: int,
    consensus: Mapping[str, Any],
    extra_data: str,
    gas_limit: int,
    base_fee: int | None,
    alloc: Mapping[str, int] | None,
    timestamp: int | None,
) -> dict[str, Any]:
    genesis: dict[str, Any] = {
        "config": {"chainId": chain_id, **dict.fromkeys(FORK_BLOCKS, 0), **consensus},
        "nonce": "0x0",
        "timestamp": hex(int(time.time()) if timestamp is None else timestamp),
        "difficulty": "0x1",
        "gasLimit": hex(gas_limit),
        "extraData": extra_data,
        "alloc": {address.lower(): {"balance": hex(wei)} for address, wei in (alloc or {}).items()},
    }
    if base_fee is not None:
        genesis["baseFeePerGas"] = hex(base_fee)
    return genesis


def clique_genesis(
    *,
    chain_id: int,
    signers: Iterable[str],
    period: int = 1,
    epoch: int = 30_000,
    gas_limit: int = 30_000_000,
    base_fee: int | None = None,
    alloc: Mapping[str, int] | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A geth Clique genesis: the sealer set in ``extraData`` (32 vanity bytes, the signer addresses in ascending
    order, 65 zero bytes for the seal); ``base_fee`` None for London's initial 1 gwei; ``alloc`` maps addresses to
    balances in wei; ``timestamp`` defaults to now."""
    addresses = sorted(_addresses(signers))
    return _genesis(
        chain_id=chain_id,
        consensus={"clique": {"period": period, "epoch": epoch}},
        extra_data="0x" + VANITY.hex() + "".join(addresses) + "00" * 65,
        gas_limit=gas_limit,
        base_fee=base_fee,
        alloc=alloc,
        timestamp=timestamp,
    )


def qbft_extra_data(validators: Iterable[str]) -> str:
    """Besu's QBFT genesis ``extraData``: RLP of [32 zero vanity bytes, [validator addresses, in the order given],
    [] (no vote), 0 (the round), [] (no committer seals)], as in Besu's "Configure QBFT consensus" page."""
    addresses = [bytes.fromhex(address) for address in _addresses(validators)]
    encoded: bytes = rlp.encode([VANITY, addresses, [], 0, []])
    return "0x" + encoded.hex()


def qbft_validators(extra_data: str) -> list[str]:
    """The validator addresses (0x, lower case) in a QBFT ``extraData``, in order."""
    _, addresses, _, _, _ = rlp.decode(bytes.fromhex(extra_data.removeprefix("0x")))
    return ["0x" + bytes(address).hex() for address in addresses]


def qbft_genesis(
    *,
    chain_id: int,
    validators: Iterable[str],
    period: int = 2,
    epoch: int = 30_000,
    request_timeout: int = 10,
    gas_limit: int = 30_000_000,
    zero_base_fee: bool = False,
    alloc: Mapping[str, int] | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A Besu QBFT genesis with block-header validator selection (Besu's "Configure QBFT consensus"): ``config.qbft``
    with ``blockperiodseconds``, ``epochlength`` and ``requesttimeoutseconds``, the validators in ``extraData``
    (:func:`qbft_extra_data`), QBFT's ``mixHash``; ``zero_base_fee`` sets Besu's ``config.zeroBaseFee`` (its free
    gas networks) and a genesis base fee of 0. ``request_timeout`` must exceed ``period``."""
    if request_timeout <= period:
        raise ValueError(
            f"the QBFT round timeout ({request_timeout} s) must be longer than the block period ({period} s)"
        )
    consensus: dict[str, Any] = {
        "qbft": {"blockperiodseconds": period, "epochlength": epoch, "requesttimeoutseconds": request_timeout}
    }
    if zero_base_fee:
        consensus["zeroBaseFee"] = True
    genesis = _genesis(
        chain_id=chain_id,
        consensus=consensus,
        extra_data=qbft_extra_data(validators),
        gas_limit=gas_limit,
        base_fee=0 if zero_base_fee else None,
        alloc=alloc,
        timestamp=timestamp,
    )
    genesis |= {"mixHash": QBFT_MIX_HASH, "coinbase": "0x" + "00" * 20}
    return genesis
