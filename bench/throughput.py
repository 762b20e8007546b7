"""Throughput of the whole flow S2–S7, driven through the role services against one anvil started here, or against
a live chain (``--rpc-url URL``, or ``--clique`` for a geth Clique network started here) beside its gas ceiling.

Run: ``.venv/bin/python bench/throughput.py [--flows 500]`` (``--help`` for the knobs).

On a live chain (:mod:`collab_py.devnet.livebench`): ``bench/throughput.py --rpc-url URL`` deploys there (the accounts
funded by transfers from ``--funder-keystore`` or ``COLLAB_FUNDER_KEY``, or nothing on a zero-gas chain), starts the
accounting listeners of Party A and B as ``collab listen`` processes with confirmations 2, runs the flows on a
conveyor — each step sent once the block carrying the flow's previous step is seen — and ends with one JSON line
``{"flows_per_s": F, "ceiling_flows_per_s": C, "ratio": F / C, "block_utilisation": U,
"latency_redeem_to_posted_s": {...}, ...}`` where the ceiling is the block gas limit / the block period / the gas of a
flow and F is measured on the steady state (blocks from the first release to the last admission).
``bench/throughput.py --clique`` does the same on 3 geth sealers and an RPC node started here (1 s blocks).

On anvil: Runs N complete flows of a
1-stage contract, ten transactions each (propose, countersign, submit and confirm the stage, apply for and approve
business settlement, apply for payment, issue the payment voucher, redeem the payment key, release), checks every
receipt, verifies on chain that every payment was released, and measures in the same run anvil's raw ingest rate of
pre-signed ETH transfers, shipped the same way. Ends with one JSON line
``{"flows_per_s": F, "tx_per_s": T, "node_raw_tx_per_s": R, ...}`` on stdout; the tables go to stderr.
This script is the command line; the conveyor, the checks and the report are :mod:`collab_py.devnet.pipeline`'s.

How the flows are driven:

* Every step is built by the service of the department that owns it (``prepare_*``: the contract call, EIP-712
  signatures, ECIES payloads) and sent with ``service.send(prepared)``: its fixed gas limit, no estimation, the
  nonce from the transactor's nonce manager. No step needs a chain read: every contract is new, so its payment is
  seq 1, and Party B's finance opens the payment key Party A sealed to it, as ``FinanceService.redeem`` does.
* The services' transactor is :class:`~collab_py.devnet.pipeline.PipelinedTransactor`, a
  :class:`~collab_py.chain.transactor.Transactor` whose ``send`` signs and queues instead of posting one
  ``eth_sendRawTransaction`` each. It signs the same EIP-1559 transactions without web3's ABI lookup on every call
  and eth-account's dict checks (1.3 ms -> 0.1 ms a transaction): the first calldata of each function is compared
  byte for byte with web3's, the first transaction of each account with eth-account's, and every hash with the one
  the node answers.
* A conveyor of chunks of flows: round r carries step r - c of every chunk c on the belt and is mined as one block
  (automine is switched off after setup, each round ends with ``evm_mine``). The steps of a round never depend on
  one another, and each step's predecessor was mined one round earlier.
* Two worker processes, forked after setup, prepare and sign the flows (the GIL would hold one process to one core);
  each owns half of the desks, so each account's nonces come from one process. The coordinator posts each worker's
  share of a round as soon as it arrives, on its own keep-alive connection (anvil recovers the senders of
  concurrent batches on several threads), mines the round, and a checker thread fetches the block's receipts
  (``eth_getBlockReceipts``) and checks them while the next round is being shipped.
* Each department has several accounts (``--accounts``, bound by governance); flow i uses desk i mod k.

Why not automine: anvil's auto-miner can leave ready transactions unmined when many arrive at once
(foundry-rs/foundry#10122), and a block per transaction costs more than a block per round.

Where the time goes is printed after the run: the workers' and the coordinator's wall time by phase, anvil's CPU by
phase, and a cProfile breakdown of the Python cost of a flow. On this 2-vCPU machine the CPU is the limit: about
5 ms of Python and 3 ms of anvil per flow, anvil's share mostly secp256k1 sender recovery; CPU used by other
processes during the run is reported too, as it lowers every rate.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Sequence

# keccak through safe-pysha3 when installed (eth-hash's pysha3 backend; this venv has it): same digests, ~7x faster
# than pycryptodome's. eth-hash picks its backend at the first hash, so this comes before anything hashes.
if importlib.util.find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

from rich.console import Console
from rich.table import Table

from collab_py.devnet.livebench import LiveResult, run_live
from collab_py.devnet.livechain import add_live_arguments, is_live, live_chain
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.pipeline import ROUND_GAS_LIMIT, Plan, measure_throughput, report
from collab_py.exceptions import CollabError


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=500, help="complete flows to run (default 500)")
    parser.add_argument("--chunk", type=int, default=10, help="flows per chunk of the conveyor (default 10)")
    parser.add_argument(
        "--taper", type=int, default=4, help="smaller chunks at the start and the end of the conveyor (default 4)"
    )
    parser.add_argument("--accounts", type=int, default=4, help="accounts per department (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="processes preparing the flows (default 2)")
    parser.add_argument(
        "--profile-flows", type=int, default=40, help="flows profiled after the run for the breakdown (0: none)"
    )
    add_live_arguments(parser, gas_limit=6_000_000, gas_limit_help=": what one conveyor on 2 cores fills")
    parser.add_argument(
        "--fill",
        type=float,
        default=3.0,
        help="on a live chain: gas in flight, in block gas limits (default 3: steps queue)",
    )
    args = parser.parse_args(argv)
    if min(args.flows, args.chunk, args.accounts, args.workers) < 1 or min(args.profile_flows, args.taper) < 0:
        parser.error(
            "--flows, --chunk, --accounts and --workers must be positive, --taper and --profile-flows not negative"
        )
    if args.accounts % args.workers:
        parser.error("--accounts must be a multiple of --workers: each worker has its own accounts")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    if not console.is_terminal:
        console.width = 120
    if is_live(args):
        return live_main(args, console)
    plan = Plan(flows=args.flows, chunk=args.chunk, desks=args.accounts, workers=args.workers, taper=args.taper)
    try:
        with AnvilNode(extra_args=["--gas-limit", str(ROUND_GAS_LIMIT)]) as node:
            outcome = measure_throughput(console, node, plan, args.profile_flows)
    except CollabError as error:
        console.print(f"[bold red]error:[/] {error}")
        for note in getattr(error, "__notes__", ()):
            console.print(note)
        return 1
    flows, raw = outcome.flows, outcome.raw
    report(console, plan, flows, raw, outcome.profile)
    console.print(f"[green]verified[/]: {outcome.verified}")
    result = {
        "flows_per_s": round(plan.flows / flows.seconds, 1),
        "tx_per_s": round(flows.tx_per_s, 1),
        "node_raw_tx_per_s": round(raw.tx_per_s, 1),
        "ratio": round(flows.tx_per_s / raw.tx_per_s, 3),
        "flows": plan.flows,
        "transactions": flows.transactions,
        "seconds": round(flows.seconds, 3),
        "workers": plan.workers,
        "accounts_per_department": plan.desks,
        "chunk": plan.chunk,
        "taper": plan.taper,
    }
    sys.stderr.flush()
    print(json.dumps(result), flush=True)
    return 0


def live_main(args: argparse.Namespace, console: Console) -> int:
    def say(line: str) -> None:
        console.print(line, highlight=False)

    try:
        with live_chain(args, say) as chain:
            result = run_live(
                chain.connect(), rpc_url=chain.rpc_url, ws_url=chain.ws_url, funding=chain.funding,
                flows=args.flows, desks=args.accounts, fill=args.fill, say=say,
            )  # fmt: skip
    except CollabError as error:
        console.print(f"[bold red]error:[/] {error}")
        return 1
    live_report(console, result)
    sys.stderr.flush()
    print(json.dumps(result.summary()), flush=True)
    return 0


def live_report(console: Console, result: LiveResult) -> None:
    summary = result.summary()
    table = Table(title="Throughput on a live chain (S2–S7, 10 transactions a flow)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("flows/s, steady state", f"{summary['flows_per_s']:.2f}"),
        ("gas ceiling, flows/s", f"{summary['ceiling_flows_per_s']:.2f}"),
        ("ratio to the ceiling", f"{summary['ratio']:.1%}"),
        ("block utilisation, steady state", f"{summary['block_utilisation']:.1%} of {result.gas_limit:,} gas"),
        ("steady-state blocks", str(result.steady_blocks)),
        ("flows/s, whole run (fill and drain)", f"{summary['flows_per_s_whole_run']:.2f}"),
        ("block period", f"{result.period:.2f} s"),
        ("gas per flow", f"{result.gas_per_flow:,.0f}"),
    ]
    latency = summary["latency_redeem_to_posted_s"]
    spread = f"{latency['p50']} / {latency['p95']} / {latency['max']} s"
    rows.append(("redeemed -> posted (conf. 2), p50 / p95 / max", spread))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
