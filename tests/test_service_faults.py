"""Faults under the services' transactions: a transaction dropped from the node's pool is sent again with the same
nonce, and two senders sharing one account (two bot processes) never corrupt each other's nonces."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from collab_py.chain import transactor as chain
from collab_py.chain.enums import ContractStatus, Department, VoucherStatus
from collab_py.chain.transactor import NodeUnreachable, Transactor, connect
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode, free_port, rpc
from collab_py.devnet.sandbox import bootstrap, sample_contract
from collab_py.services.reader import ChainReader
from support import World, proposed

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


def test_node_stopped_in_the_middle_of_a_flow(tmp_path: Path) -> None:
    """The step in hand fails with NodeUnreachable naming it; once the node is back, the chain says what was done
    and the flow resumes from there."""
    state, port = tmp_path / "anvil-state.json", free_port()
    node = AnvilNode(port=port, extra_args=["--state", str(state)]).start()
    try:
        sandbox = bootstrap(connect(node.rpc_url))
        flow = Flow(sandbox.deployment)
        draft = sample_contract("N-1")
        document = proposed(flow, sandbox, draft)
        countersign = flow.business(sandbox.a).prepare_countersign(document)
        node.stop()
        with pytest.raises(NodeUnreachable, match=r"^signContract \(S2\.3\) of Party A Holdings/BUSINESS"):
            flow.business(sandbox.a).execute(countersign)
        node = AnvilNode(port=port, extra_args=["--state", str(state)]).start()
        reader = ChainReader(sandbox.deployment)
        assert reader.agreement(draft.number).status is ContractStatus.PROPOSED  # the failed step did not happen
        # resumed where the chain says it stopped
        flow.business(sandbox.a).countersign(draft.number, document.document())
        assert reader.agreement(draft.number).status is ContractStatus.SIGNED
    finally:
        node.stop()


def test_node_stopped_before_a_batch_of_releases(tmp_path: Path) -> None:
    """A pipelined batch (the institution bot's releases) fails with NodeUnreachable naming its step and sends
    nothing more; once the node is back the same batch goes through, its nonces read again from the chain."""
    state, port = tmp_path / "anvil-state.json", free_port()
    node = AnvilNode(port=port, extra_args=["--state", str(state)]).start()
    try:
        sandbox = bootstrap(connect(node.rpc_url))
        flow = Flow(sandbox.deployment)
        requested = []
        for number in ("N-2", "N-3"):
            draft = sample_contract(number)
            flow.settle(sandbox.a, sandbox.b, draft)
            seq = flow.finance(sandbox.b).apply_payment(draft.number, 100_00, "CN12 BANK 0001").seq
            flow.finance(sandbox.a).issue_voucher(draft.number, seq)
            flow.finance(sandbox.b).redeem(draft.number, seq)
            requested.append((draft.contract_no, seq))
        operator = flow.institution(sandbox.bank)
        node.stop()
        with pytest.raises(NodeUnreachable, match=r"^release \(S6\.2\) of Group Treasury Bank/OPERATOR"):
            operator.release_all(requested)
        node = AnvilNode(port=port, extra_args=["--state", str(state)]).start()
        vouchers = operator.release_all(requested)
        assert [voucher.amount for voucher in vouchers] == [100_00, 100_00]
        assert {ChainReader(sandbox.deployment).payment(raw, seq).status for raw, seq in requested} == {
            VoucherStatus.RELEASED
        }
    finally:
        node.stop()
