"""Gas of the on-chain flow S2–S7: per step and in total, for a 1-stage and a 5-stage contract.

Run: ``make gas`` (or ``.venv/bin/python bench/gas.py``). Starts its own anvil. ``--check bench/gas-baseline.json``
fails (exit code 1) when a step's gas grew by more than 1 % over the committed baseline (``make test`` runs it);
``--write`` rewrites the baseline after an intended change. Ends with one JSON line:
``{"full_flow_1_stage": N, "per_extra_stage": M, "steps": {...}}`` where N is the gas of the ten transactions of a
single-stage contract in steady state and M the gas each further stage adds. Steady state is a deployment in use:
the payee already holds deposits and the escrow holds other frozen vouchers, so neither balance goes from zero to
non-zero (that costs 2 x 17,100 more gas, shown in the "first flow" column).

On a live chain (:mod:`collab_py.devnet.livechain`): ``bench/gas.py --rpc-url URL`` deploys there (the contracts
compiled for what the chain runs: ``paris`` on a chain without Shanghai's PUSH0; the accounts funded by transfers
from ``--funder-keystore`` or ``COLLAB_FUNDER_KEY``, or nothing on a zero-gas chain) and measures the same flows
from their receipts; ``--clique`` does it on 3 geth sealers and an RPC node started here. Then, for comparison, the
same flows on an anvil started here with the contracts compiled for the same EVM version. The JSON line adds
``"evm_version"``, ``"node"``, ``"anvil_same_evm"`` (that anvil's figures) and the differences, live minus anvil,
to it (``"difference_same_evm"``: same semantics, so only calldata noise — each run's keys, signatures and
ciphertexts are random, and a zero byte of calldata costs 4 gas, any other 16) and to the committed baseline
(``"difference_baseline"``: the compiled EVM version too). ``--check`` compares the live figures with the baseline;
``--write`` is for the anvil baseline only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from collab_py.chain.transactor import connect, rpc_request
from collab_py.devnet.flow import Flow
from collab_py.devnet.livechain import add_live_arguments, is_live, live_chain
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.sandbox import B_BANK_ACCOUNT, Sandbox, bootstrap
from collab_py.domain.drafts import ContractDraft, StageDraft

#: Targets of issue 8 (lower is better): the full flow of a 1-stage contract, and each further stage.
TARGET_FLOW = 560_000
TARGET_PER_STAGE = 110_000
#: How much a step may grow over the baseline before ``--check`` fails.
TOLERANCE = 0.01
#: The committed baseline (anvil, the compiler's default EVM version).
BASELINE = Path(__file__).with_name("gas-baseline.json")


def flow_gas(sandbox: Sandbox, number: str, stages: int) -> dict[str, int]:
    """Runs one full flow and returns the gas of each step (summed over stages for per-stage steps)."""
    draft = ContractDraft(
        number=number,
        text=f"e-contract {number} with {stages} stage(s)",
        stages=tuple(StageDraft(f"{number} deliverable {i}", 1_000_00 * (i + 1)) for i in range(stages)),
    )
    flow = Flow(sandbox.deployment)
    flow.run(sandbox.a, sandbox.b, sandbox.bank, draft, B_BANK_ACCOUNT)
    gas: dict[str, int] = defaultdict(int)
    for record in flow.records:
        gas[record.step] += record.gas_used
    return dict(gas)


def leave_a_voucher_frozen(sandbox: Sandbox) -> None:
    """Issues a payment voucher that stays unredeemed, as in a deployment with payments in flight."""
    draft = ContractDraft("GAS-IN-FLIGHT", "a contract whose payment is in flight", (StageDraft("goods", 1_00),))
    Flow(sandbox.deployment).issue(sandbox.a, sandbox.b, sandbox.bank, draft, bank_account=B_BANK_ACCOUNT)


#: The gas of each step of the three measured flows: the first flow of a deployment, then 1 and 5 stages in steady
#: state.
Measured = tuple[dict[str, int], dict[str, int], dict[str, int]]


def measure(sandbox: Sandbox) -> Measured:
    """The first flow of the deployment, then (with a voucher left frozen) a 1-stage and a 5-stage flow."""
    cold = flow_gas(sandbox, "GAS-COLD-1", 1)
    leave_a_voucher_frozen(sandbox)
    return cold, flow_gas(sandbox, "GAS-1", 1), flow_gas(sandbox, "GAS-5", 5)


def figures_of(one: dict[str, int], five: dict[str, int]) -> dict[str, Any]:
    """The figures of the JSON line: the steady 1-stage flow, the gas per extra stage, each step."""
    total_one, total_five = sum(one.values()), sum(five.values())
    return {"full_flow_1_stage": total_one, "per_extra_stage": (total_five - total_one) // 4, "steps": one}


def difference(live: dict[str, Any], other: dict[str, Any]) -> dict[str, int]:
    """``live`` minus ``other``, for the totals and every step."""
    flat = {**live["steps"], "full_flow_1_stage": live["full_flow_1_stage"], "per_extra_stage": live["per_extra_stage"]}
    theirs = {
        **other["steps"], "full_flow_1_stage": other["full_flow_1_stage"], "per_extra_stage": other["per_extra_stage"]
    }  # fmt: skip
    return {name: gas - theirs[name] for name, gas in flat.items() if name in theirs}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", type=Path, help="baseline JSON: fail if a step grew by more than 1 %%")
    parser.add_argument("--write", type=Path, help="write the measured figures as the new baseline (anvil only)")
    add_live_arguments(parser)
    args = parser.parse_args(argv)
    if args.write is not None and is_live(args):
        parser.error("--write records the anvil baseline: not with --rpc-url or --clique")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    console = Console(stderr=True)
    if not console.is_terminal:
        console.width = 120
    extra: dict[str, Any] = {}
    if is_live(args):
        with live_chain(args, lambda line: console.print(line, highlight=False)) as chain:
            w3 = chain.connect()
            console.print(f"node {rpc_request(w3, 'web3_clientVersion')}; funding: {chain.funding.describe(w3)}")
            sandbox = bootstrap(w3, funding=chain.funding)
            cold, one, five = measure(sandbox)
            evm_version = sandbox.deployment.manifest.evm_version
            extra["node"] = str(rpc_request(w3, "web3_clientVersion"))
        console.print(f"for comparison: the same flows on anvil, contracts compiled for {evm_version or 'the default'}")
        with AnvilNode() as node:
            _, anvil_one, anvil_five = measure(bootstrap(connect(node.rpc_url), evm_version=evm_version))
        extra["evm_version"] = evm_version
        extra["anvil_same_evm"] = figures_of(anvil_one, anvil_five)
    else:
        with AnvilNode() as node:
            cold, one, five = measure(bootstrap(connect(node.rpc_url)))

    table = Table(title="Gas per step (S2–S7)" + (f" on {extra['node']}" if extra else ""))
    for column in ("step", "1 stage, first flow", "1 stage, steady", "5 stages, steady"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step in one:
        table.add_row(step, f"{cold[step]:,}", f"{one[step]:,}", f"{five[step]:,}")
    total_one, total_five, total_cold = sum(one.values()), sum(five.values()), sum(cold.values())
    table.add_row("total", f"{total_cold:,}", f"{total_one:,}", f"{total_five:,}", style="bold")
    console.print(table)

    figures = figures_of(one, five)
    per_extra_stage = figures["per_extra_stage"]
    console.print(
        f"full flow, 1 stage: {total_one:,} gas, {_versus(total_one, TARGET_FLOW)} "
        f"(first flow of a deployment: {total_cold:,})"
    )
    console.print(f"per extra stage:    {per_extra_stage:,} gas, {_versus(per_extra_stage, TARGET_PER_STAGE)}")
    if args.write is not None:
        args.write.write_text(json.dumps(figures, indent=2) + "\n")
    if extra:
        baseline = json.loads((args.check or BASELINE).read_text())
        extra["difference_same_evm"] = difference(figures, extra["anvil_same_evm"])
        extra["difference_baseline"] = difference(figures, baseline)
        _compare(console, figures, extra, baseline)
    grown = _grown(figures, json.loads(args.check.read_text())) if args.check is not None else []
    for line in grown:
        console.print(f"[red]gas grew:[/] {line}")
    print(json.dumps({**figures, **extra}))
    if grown:
        sys.exit(1)


def _compare(console: Console, figures: dict[str, Any], extra: dict[str, Any], baseline: dict[str, Any]) -> None:
    """The live figures beside anvil's with the same EVM version and beside the committed (anvil) baseline."""
    anvil = extra["anvil_same_evm"]
    evm = extra["evm_version"] or "default"
    table = Table(title="Live chain against anvil (1 stage, steady; live minus anvil)")
    for column in ("step", "live", f"anvil, {evm}", "difference", "baseline", "difference"):
        table.add_column(column, justify="left" if column == "step" else "right")
    names = [*figures["steps"], "full_flow_1_stage", "per_extra_stage"]
    same, base = extra["difference_same_evm"], extra["difference_baseline"]

    def gas(of: dict[str, Any], name: str) -> int:
        return int(of["steps"][name] if name in of["steps"] else of[name])

    for name in names:
        table.add_row(
            name, f"{gas(figures, name):,}", f"{gas(anvil, name):,}", f"{same[name]:+,}", f"{gas(baseline, name):,}",
            f"{base[name]:+,}",
        )  # fmt: skip
    console.print(table)


def _versus(gas: int, target: int) -> str:
    """How a figure stands against its target, lower being better."""
    if gas <= target:
        return f"within the target of {target:,} (lower is better)"
    return f"{(gas - target) / target:.1%} over the target of {target:,} (lower is better)"


def _grown(figures: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """The steps (and totals) whose gas grew by more than :data:`TOLERANCE` over ``baseline``."""
    now: dict[str, int] = {**figures["steps"], "full_flow_1_stage": figures["full_flow_1_stage"]}
    before: dict[str, int] = {**baseline["steps"], "full_flow_1_stage": baseline["full_flow_1_stage"]}
    return [
        f"{name}: {before[name]:,} -> {gas:,}"
        for name, gas in now.items()
        if name in before and gas > before[name] * (1 + TOLERANCE)
    ]


if __name__ == "__main__":
    main()
