"""``ape run demo --network ethereum:local:foundry``: the main job (see ``collab demo``) on Ape's anvil.

The same library code as ``collab demo``: deploys, registers Party A, B, C and a bank, runs the whole flow with an
assignment to Party C and an expired key reclaimed by Party A, and prints each step and the final balances.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from ape import networks

from collab_py.chain.transactor import connect
from collab_py.devnet.demo import run_demo
from collab_py.domain.presentation import money
from collab_py.services import StepRecord


def _echo(record: StepRecord) -> None:
    click.echo(
        f"{record.step:26s} {record.requirement:5s} {record.actor:28s} {record.tx_hash}  gas {record.gas_used:>9,}"
    )


def main() -> None:
    if not networks.provider.network.is_local:
        raise click.UsageError("the demo needs a development node (anvil): use --network ethereum:local:foundry")
    w3 = connect(networks.provider.http_uri)  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="collab-demo-") as workdir:
        result = run_demo(w3, Path(workdir), on_step=_echo, on_phase=lambda text: click.echo(f"-- {text}"))
    decimals = result.sandbox.deployment.decimals()
    for voucher in result.second_vouchers:
        amount = money(voucher.amount, decimals)
        click.echo(f"second voucher {voucher.contract_no}/{voucher.seq}: {amount} to org {voucher.beneficiary_org}")
    for holder, units in result.balances.items():
        click.echo(f"{holder:18s} {money(units, decimals):>16s}")
    assert result.reconciliation is not None
    click.echo("reconciliation: " + ("clean" if result.reconciliation.clean else "MISMATCHES"))
