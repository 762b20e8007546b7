"""Gas of the on-chain flow S2–S7: per step and in total, for a 1-stage and a 5-stage contract.

Run: ``make gas`` (or ``.venv/bin/python bench/gas.py``). Starts its own anvil. Ends with one JSON line:
``{"full_flow_1_stage": N, "per_extra_stage": M, "steps": {...}}`` where N is the gas of the ten transactions of a
single-stage contract in steady state and M the gas each further stage adds. Steady state is a deployment in use:
the payee already holds deposits and the escrow holds other frozen vouchers, so neither balance goes from zero to
non-zero (that costs 2 x 17,100 more gas, shown in the "first flow" column).
"""

from __future__ import annotations

import json
from collections import defaultdict

from rich.console import Console
from rich.table import Table

from collab_py.chain.transactor import connect
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.sandbox import B_BANK_ACCOUNT, Sandbox, bootstrap
from collab_py.domain.drafts import ContractDraft, StageDraft

TARGET_FLOW = 600_000
TARGET_PER_STAGE = 120_000


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
        f"full flow, 1 stage: {total_one:,} gas = {total_one / TARGET_FLOW:.2f} x target {TARGET_FLOW:,} "
        f"(first flow of a deployment: {total_cold:,})"
    )
    console.print(
        f"per extra stage:    {per_extra_stage:,} gas = {per_extra_stage / TARGET_PER_STAGE:.2f} x target "
        f"{TARGET_PER_STAGE:,}"
    )
    print(json.dumps({"full_flow_1_stage": total_one, "per_extra_stage": per_extra_stage, "steps": one}))


if __name__ == "__main__":
    main()
