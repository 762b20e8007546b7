"""Reading and steering the test chain: balances, the clock, proof that a refusal came before any transaction, and
the registry's stage digests."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from collab_py.services import Service
from support.world import World


def balance(world: World, address: str) -> int:
    """``address``'s balance of the deployment's asset."""
    return int(world.deployment.asset.functions.balanceOf(address).call())


def now(world: World) -> int:
    """The latest block's time (the next transaction's block is never earlier)."""
    return int(world.w3.eth.get_block("latest")["timestamp"])


def advance(world: World, seconds: int) -> None:
    """Moves the chain's clock ``seconds`` forward and mines a block at the new time (anvil)."""
    world.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def nonce(world: World, address: str) -> int:
    """How many transactions ``address`` has sent, pending ones included."""
    return int(world.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]


def forbid_sending(monkeypatch: pytest.MonkeyPatch, *services: Service) -> None:
    """Makes any transaction the services would send fail the test: a refusal must come before it."""

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("a transaction was sent")

    for service in services:
        monkeypatch.setattr(service, "execute", refuse)
        monkeypatch.setattr(service, "execute_all", refuse)
        monkeypatch.setattr(service, "send", refuse)


#: ``Stage`` of the registry's EIP-712 terms, whose struct hash its stage digests bind.
_STAGE_TYPEHASH = keccak(text="Stage(bytes32 specHash,uint128 amount)")


def stage_digest(
    stage: tuple[bytes, int], doc_hash: bytes, terms_hash: bytes, result_hash: bytes | None = None
) -> bytes:
    """The 31-byte digest the registry stores for a stage (``ContractRegistry._openDigest``): its terms bound to the
    signed document and terms hashes and, once a result is pending or confirmed, to that result
    (``StageVoucher._resultDigest``)."""
    stage_hash = keccak(abi_encode(["bytes32", "bytes32", "uint128"], [_STAGE_TYPEHASH, *stage]))
    code_hash = keccak(abi_encode(["bytes32", "bytes32"], [doc_hash, terms_hash]))
    digest = keccak(abi_encode(["bytes32", "bytes32"], [stage_hash, code_hash]))[:31]
    if result_hash is None:
        return digest
    return keccak(abi_encode(["bytes31", "bytes32"], [digest, result_hash]))[:31]
