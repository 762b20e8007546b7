"""Gas of the on-chain flow S2–S7: per step and in total, for a 1-stage and a 5-stage contract.

Run: ``make gas`` (or ``.venv/bin/python bench/gas.py``). Starts its own anvil. ``--check bench/gas-baseline.json``
fails (exit code 1) when a step's gas grew by more than 1 % over the committed baseline (``make test`` runs it);
``--write`` rewrites the baseline after an intended change. Ends with one JSON line:
``{"full_flow_1_stage": N, "per_extra_stage": M, "steps": {...}}`` where N is the gas of the ten transactions of a
single-stage contract in steady state and M the gas each further stage adds. Steady state is a deployment in use:
the payee already holds deposits and the escrow holds other frozen vouchers, so neither balance goes from zero to
non-zero (that costs 2 x 17,100 more gas, shown in the "first flow" column).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from collab_py.chain.transactor import connect
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.sandbox import B_BANK_ACCOUNT, Sandbox, bootstrap
from collab_py.domain.drafts import ContractDraft, StageDraft

#: Targets of issue 8 (lower is better): the full flow of a 1-stage contract, and each further stage.
TARGET_FLOW = 560_000
TARGET_PER_STAGE = 110_000
#: How much a step may grow over the baseline before ``--check`` fails.
TOLERANCE = 0.01


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, help="baseline JSON: fail if a step grew by more than 1 %%")
    parser.add_argument("--write", type=Path, help="write the measured figures as the new baseline")
    args = parser.parse_args()
    console = Console(stderr=True)
    with AnvilNode() as node:
        sandbox = bootstrap(connect(node.rpc_url))
        cold = flow_gas(sandbox, "GAS-COLD-1", 1)
        leave_a_voucher_frozen(sandbox)
        one = flow_gas(sandbox, "GAS-1", 1)
        five = flow_gas(sandbox, "GAS-5", 5)

    table = Table(title="Gas per step (S2–S7)")
    for column in ("step", "1 stage, first flow", "1 stage, steady", "5 stages, steady"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step in one:
        table.add_row(step, f"{cold[step]:,}", f"{one[step]:,}", f"{five[step]:,}")
    total_one, total_five, total_cold = sum(one.values()), sum(five.values()), sum(cold.values())
    table.add_row("total", f"{total_cold:,}", f"{total_one:,}", f"{total_five:,}", style="bold")
    console.print(table)

    per_extra_stage = (total_five - total_one) // 4
    console.print(
        f"full flow, 1 stage: {total_one:,} gas, {_versus(total_one, TARGET_FLOW)} "
        f"(first flow of a deployment: {total_cold:,})"
    )
    console.print(f"per extra stage:    {per_extra_stage:,} gas, {_versus(per_extra_stage, TARGET_PER_STAGE)}")
    figures = {"full_flow_1_stage": total_one, "per_extra_stage": per_extra_stage, "steps": one}
    if args.write is not None:
        args.write.write_text(json.dumps(figures, indent=2) + "\n")
    grown = _grown(figures, json.loads(args.check.read_text())) if args.check is not None else []
    for line in grown:
        console.print(f"[red]gas grew:[/] {line}")
    print(json.dumps(figures))
    if grown:
        sys.exit(1)


def _versus(gas: int, target: int) -> str:
    """How a figure stands against its target, lower being better."""
    if gas <= target:
        return f"within the target of {target:,} (lower is better)"
    return f"{(gas - target) / target:.1%} over the target of {target:,} (lower is better)"


def _grown(figures: dict[str, object], baseline: dict[str, object]) -> list[str]:
    """The steps (and totals) whose gas grew by more than :data:`TOLERANCE` over ``baseline``."""
    now = {**figures["steps"], "full_flow_1_stage": figures["full_flow_1_stage"]}  # type: ignore[dict-item]
    before = {**baseline["steps"], "full_flow_1_stage": baseline["full_flow_1_stage"]}  # type: ignore[dict-item]
    return [
        f"{name}: {before[name]:,} -> {gas:,}"
        for name, gas in now.items()
        if name in before and gas > before[name] * (1 + TOLERANCE)
    ]


if __name__ == "__main__":
    main()
