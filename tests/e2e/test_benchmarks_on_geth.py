"""The benchmarks' load generator on a real geth Clique network (issue 10): the released payments that
``bench/history.py --clique`` makes as history, in rounds the chain's own 1 s blocks carry — accounts funded by
transfers from one key, no ``anvil_*`` or ``evm_*`` call (geth answers none) — with rounds bigger than a block and
several a step. The benchmarks themselves (minutes each) are run by hand: docs/benchmarks.md has the commands and
the figures."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from collab_py.chain.transactor import connect
from collab_py.devnet.clique import CliqueNetwork
from collab_py.devnet.load import released_payments
from collab_py.devnet.parties import Funding
from collab_py.devnet.pipeline import Rounds, Rpc
from collab_py.devnet.sandbox import bootstrap
from collab_py.services.reader import ChainReader

pytestmark = pytest.mark.e2e

#: A small block gas limit, so that a round of the load spans two blocks.
GAS_LIMIT = 4_000_000
#: More than a round: each step of the payments goes out in two rounds.
PAYMENTS = 60


def test_released_and_invoiced_payments_on_clique_in_rounds_its_blocks_carry() -> None:
    funder: LocalAccount = Account.create()
    with CliqueNetwork(sealers=3, gas_limit=GAS_LIMIT, prefund={funder.address: 10**24}) as net:
        sandbox = bootstrap(connect(net.rpc_url), funding=Funding(funder, 10**18))
        with Rpc(net.rpc_url) as rpc, Rounds(rpc) as rounds:
            assert rounds.live
            assert rounds.size(150_000) < PAYMENTS
            assert rounds.size(150_000) * 150_000 > GAS_LIMIT  # a round of the load is more than a block
        before = sandbox.w3.eth.block_number
        started = time.monotonic()
        payments = released_payments(sandbox, PAYMENTS, per_contract=PAYMENTS // 2, invoiced=True)
        seconds = time.monotonic() - started
        blocks = sandbox.w3.eth.block_number - before
        vouchers = ChainReader(sandbox.deployment).second_vouchers()
    assert len(payments) == PAYMENTS
    assert sorted((v.contract_no, v.seq) for v in vouchers) == sorted((p.draft.number, p.seq) for p in payments)
    print(f"{PAYMENTS} payments released and invoiced in {seconds:.1f} s, {blocks} blocks")
