"""The chain a benchmark measures on when it is not its own anvil: a node given by URL, or a geth Clique network
started here — one set of command-line options and one way to fund the benchmark's fresh accounts, for every
``bench/*.py`` that runs on a real node (``bench/throughput.py``, ``bench/gas.py``, ``bench/history.py``).

``--rpc-url URL`` measures on that node: fresh accounts get ether by real transfers from ``--funder-keystore`` (or
``COLLAB_FUNDER_KEY``), or nothing on a zero-gas chain (:class:`~collab_py.devnet.parties.Funding`); PoA and fees
follow ``COLLAB_POA``, ``COLLAB_GAS_PRICE`` and ``COLLAB_ZERO_GAS``. ``--clique`` starts 3 geth sealers and an RPC
node here (:class:`~collab_py.devnet.clique.CliqueNetwork`, 1 s blocks) with a fresh funder in the genesis, and
pools that keep :data:`CLIQUE_ACCOUNT_WINDOW` transactions of one account, so that a benchmark's rounds may be that
big; ``--sealers 1`` halves the work of every block on a machine that runs all the nodes (long histories).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from web3 import Web3

from collab_py.devnet.clique import CliqueNetwork
from collab_py.devnet.parties import Funding, funder_account
from collab_py.devnet.pipeline import LIVE_ACCOUNT_WINDOW
from collab_py.settings import CollabSettings

#: Ether (wei) each fresh account of a benchmark gets from the funder: 1 ether, many flows' fees.
BENCH_FUND_EACH = 10**18
#: Ether (wei) of the funder in a ``--clique`` network's genesis.
CLIQUE_FUNDER_WEI = 10**24
#: Sealers of a ``--clique`` network: one may stop and the chain goes on.
CLIQUE_SEALERS = 3
#: Transactions of one account the pools of a ``--clique`` network keep out of order (geth's default: 64).
CLIQUE_ACCOUNT_WINDOW = 1024
#: The block gas limit of a ``--clique`` network unless a benchmark says otherwise (the harness's default).
CLIQUE_GAS_LIMIT = 30_000_000


@dataclass(frozen=True)
class LiveChain:
    """A running node to measure on, and how its fresh accounts get ether."""

    rpc_url: str
    ws_url: str | None
    funding: Funding
    #: Transactions of one account the node's pools keep out of order (:class:`~collab_py.devnet.pipeline.Rounds`).
    account_window: int = LIVE_ACCOUNT_WINDOW

    def connect(self, rpc_url: str | None = None) -> Web3:
        """A client for :attr:`rpc_url` (or ``rpc_url``: a proxy in front of it) honouring the settings (PoA, fees)
        of the environment."""
        return CollabSettings.load(rpc_url=rpc_url or self.rpc_url).connect()


def add_live_arguments(
    parser: argparse.ArgumentParser, *, gas_limit: int = CLIQUE_GAS_LIMIT, gas_limit_help: str = ""
) -> None:
    """The options of a benchmark that may run on a live chain: ``--rpc-url`` or ``--clique`` (not both),
    ``--ws-url``, ``--gas-limit`` (of ``--clique``) and ``--funder-keystore``."""
    live = parser.add_argument_group("a live chain (instead of an anvil started here)")
    where = live.add_mutually_exclusive_group()
    where.add_argument("--rpc-url", help="measure on this node (geth, Besu, ...): no anvil-only call is made")
    where.add_argument(
        "--clique",
        action="store_true",
        help="start a geth Clique network here (--sealers sealers, an RPC node, 1 s blocks)",
    )
    live.add_argument(
        "--sealers",
        type=int,
        choices=range(1, 8),
        default=CLIQUE_SEALERS,
        metavar="N",
        help=f"sealers of --clique, 1 to 7 (default {CLIQUE_SEALERS}: one may stop and the chain goes on; 1 halves "
        "the machine's work per block)",
    )
    live.add_argument("--ws-url", help="WebSocket endpoint of --rpc-url whose newHeads wake the listeners (optional)")
    live.add_argument(
        "--gas-limit",
        type=int,
        default=gas_limit,
        help=f"block gas limit of --clique (default {gas_limit / 1e6:g}M{gas_limit_help})",
    )
    live.add_argument(
        "--funder-keystore", type=Path, default=os.environ.get("COLLAB_FUNDER_KEYSTORE"),
        help="keystore of a funded account that gives the fresh accounts ether by transfers (passphrase: "
        "COLLAB_PASSPHRASE_FILE, COLLAB_PASSPHRASE or a prompt); else the key in COLLAB_FUNDER_KEY; neither on a "
        "zero-gas chain",
    )  # fmt: skip


def is_live(args: argparse.Namespace) -> bool:
    """Whether the options of :func:`add_live_arguments` ask for a live chain."""
    return bool(args.rpc_url or args.clique)


@contextmanager
def live_chain(args: argparse.Namespace, say: Callable[[str], None] = lambda _line: None) -> Iterator[LiveChain]:
    """The chain of ``--rpc-url`` with the funding of ``--funder-keystore`` / ``COLLAB_FUNDER_KEY``, or a Clique
    network started here (stopped after the ``with`` block) whose genesis funds a fresh funder."""
    if args.rpc_url:
        settings = CollabSettings.load(rpc_url=args.rpc_url)
        funder = funder_account(args.funder_keystore, settings.passphrase)
        yield LiveChain(args.rpc_url, args.ws_url, Funding(funder, BENCH_FUND_EACH))
        return
    funder = Account.create()
    say(
        f"starting a geth Clique network: {args.sealers} sealer(s), an RPC node, 1 s blocks, "
        f"gas limit {args.gas_limit:,}"
    )
    network = CliqueNetwork(
        sealers=args.sealers,
        gas_limit=args.gas_limit,
        prefund={funder.address: CLIQUE_FUNDER_WEI},
        account_window=CLIQUE_ACCOUNT_WINDOW,
    )
    with network as net:
        yield LiveChain(net.rpc_url, net.ws_url, Funding(funder, BENCH_FUND_EACH), CLIQUE_ACCOUNT_WINDOW)
