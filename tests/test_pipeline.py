"""The pipelined path of the load generator: the same transactions as the standard path, rounds mined as blocks,
and a refusal in a round raised by its name with the node's mining settings restored."""

from __future__ import annotations

import pytest

from collab_py.chain import errors
from collab_py.chain.enums import Department
from collab_py.chain.transactor import Transactor
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.pipeline import ManualMining, Outbox, PipelinedTransactor, PipelineError, Rpc, mine_round
from collab_py.devnet.sandbox import sample_contract
from collab_py.services import BusinessService, InstitutionService
from support import World, econtract, issued


def test_a_round_is_one_block_of_the_transactions_the_standard_path_signs(world: World, flow: Flow) -> None:
    account = world.b.account(Department.BUSINESS)
    outbox = Outbox()
    fast = BusinessService(world.deployment, PipelinedTransactor(world.w3, account, outbox=outbox))
    drafts = [sample_contract(f"PL-{index}") for index in range(5)]
    steps = [fast.prepare_propose(econtract(world, draft)) for draft in drafts]
    for step in steps:
        fast.send(step)
    pending = outbox.take()
    standard = Transactor(world.w3, account)
    for step, tx in zip(steps, pending, strict=True):  # what the standard transactor signs with the same fields
        params = {**tx.params, "data": step.call._encode_transaction_data()}
        assert standard.account.sign_transaction(params).raw_transaction == tx.signed.raw_transaction
    with Rpc(world.w3.provider.endpoint_uri) as rpc, ManualMining(rpc):  # type: ignore[attr-defined]
        before = world.w3.eth.block_number
        mine_round(rpc, pending, "propose")
        assert world.w3.eth.block_number == before + 1
    block = world.w3.eth.get_block(before + 1)
    assert [bytes(tx_hash) for tx_hash in block["transactions"]] == [bytes(tx.tx_hash) for tx in pending]
    assert [fast.reader.agreement(draft.number).contract_no for draft in drafts] == [d.number for d in drafts]


def test_a_refusal_in_a_round_is_raised_by_name_and_mining_is_restored(world: World, flow: Flow) -> None:
    draft = sample_contract("PL-R")
    seq, _ = issued(flow, world, draft)  # frozen, not requested: a release is refused
    outbox = Outbox()
    operator = InstitutionService(
        world.deployment,
        PipelinedTransactor(world.w3, world.bank.account(Department.OPERATOR), outbox=outbox),
        encryption_key=world.bank.encryption_key,
    )
    operator.send(operator.prepare_release(draft.contract_no, seq))
    gas_limit = world.w3.eth.get_block("latest")["gasLimit"]
    with Rpc(world.w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        with pytest.raises(errors.UnexpectedVoucherStatus), ManualMining(rpc):
            mine_round(rpc, outbox.take(), "release")
        assert rpc.call("anvil_getAutomine") is True
    assert world.w3.eth.get_block("latest")["gasLimit"] == gas_limit


def test_a_node_mining_at_an_interval_gets_its_interval_back() -> None:
    with AnvilNode(block_time=7) as node, Rpc(node.rpc_url) as rpc:
        with ManualMining(rpc):
            assert rpc.call("anvil_getAutomine") is False
            assert rpc.call("anvil_getIntervalMining") is None
        assert rpc.call("anvil_getIntervalMining") == 7


def test_batches_need_an_http_node() -> None:
    with pytest.raises(PipelineError, match="http://"):
        Rpc("ws://127.0.0.1:8545")
