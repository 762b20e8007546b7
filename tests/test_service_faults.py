"""Faults under the services' transactions: a transaction dropped from the node's pool is sent again with the same
nonce, and two senders sharing one account (two bot processes) never corrupt each other's nonces."""

from __future__ import annotations

import threading

import pytest

from collab_py import chain
from collab_py.chain import Transactor
from collab_py.node import AnvilNode, rpc
from collab_py.types import Department
from conftest import World

pytestmark = pytest.mark.slow


def test_transaction_dropped_from_the_pool_is_sent_again_with_its_nonce(
    world: World, node: AnvilNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chain, "RESEND_AFTER", 0.5)
    sender = Transactor(world.w3, world.a.treasury)
    asset = world.deployment.asset.functions
    before = int(asset.balanceOf(world.b.treasury.address).call())
    rpc(node.rpc_url, "evm_setAutomine", [False])
    try:
        pending = sender.send(asset.transfer(world.b.treasury.address, 1_00), gas=100_000)
        assert rpc(node.rpc_url, "anvil_dropTransaction", [pending.tx_hash.to_0x_hex()]) is not None
        assert world.w3.eth.get_transaction_count(sender.address, "pending") == pending.nonce  # gone from the pool

        def mine_after_the_resend() -> None:
            threading.Event().wait(1.5)
            rpc(node.rpc_url, "evm_mine")

        miner = threading.Thread(target=mine_after_the_resend)
        miner.start()
        receipt = pending.wait(timeout=30)
        miner.join()
    finally:
        rpc(node.rpc_url, "evm_setAutomine", [True])
    assert receipt["status"] == 1
    assert world.w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == pending.nonce
    assert int(asset.balanceOf(world.b.treasury.address).call()) == before + 1_00


def test_two_senders_sharing_one_account_keep_every_transaction(world: World) -> None:
    """Two bot processes with the same key: each has its own nonce manager; "nonce too low" makes one re-read the
    account's nonce and sign again, so every transfer lands exactly once."""
    account = world.a.treasury
    asset = world.deployment.asset.functions
    target = world.c.account(Department.FINANCE).address
    senders = [Transactor(world.w3, account), Transactor(world.w3, account)]
    errors: list[BaseException] = []

    def send_many(sender: Transactor) -> None:
        try:
            for _ in range(15):
                sender.transact(asset.transfer(target, 1))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=send_many, args=(sender,)) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert int(asset.balanceOf(target).call()) == 30
