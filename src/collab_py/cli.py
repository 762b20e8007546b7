"""The ``collab`` command line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from collab_py.chain import connect
from collab_py.exceptions import CollabError
from collab_py.flow import FlowDriver, StepRecord
from collab_py.node import AnvilNode
from collab_py.sandbox import bootstrap, sample_contract
from collab_py.types import Department

app = typer.Typer(help="collab: intercompany transactions on a permissioned Ethereum chain.", no_args_is_help=True)
console = Console()

DEMO_BANK_ACCOUNT = "CN12 ICBC 6222 0200 0000 1234"


@app.callback()
def main() -> None:
    """collab: e-contracts, stage vouchers, settlement and escrowed payment between group companies."""


@contextmanager
def _readable_errors(debug: bool) -> Iterator[None]:
    """Turns collab errors into one readable line and exit code 1 (a traceback only with --debug)."""
    try:
        yield
    except CollabError as error:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {type(error).__name__}: {error}")
        raise typer.Exit(1) from None


@app.command()
def demo(
    rpc_url: Annotated[str | None, typer.Option(help="Use this development node instead of starting anvil.")] = None,
    manifest_out: Annotated[Path | None, typer.Option(help="Write the deployment manifest here.")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Starts anvil, deploys, and runs S1–S7 once for a 3-stage contract, printing every step and its gas."""
    started = time.perf_counter()
    with _readable_errors(debug), _node(rpc_url) as url:
        with console.status("deploying contracts and registering Party A, B, C and the bank"):
            sandbox = bootstrap(connect(url))
        if manifest_out is not None:
            sandbox.deployment.manifest.save(manifest_out)
        console.print(f"deployed on chain {sandbox.deployment.manifest.chain_id}: {sandbox.deployment.manifest}")
        table = Table(title="Flow S2–S7: contract HT-DEMO-001 (3 stages)")
        for column in ("step", "SPEC", "actor", "transaction", "gas"):
            table.add_column(column, justify="right" if column == "gas" else "left")
        draft = sample_contract("HT-DEMO-001")

        def show(record: StepRecord) -> None:
            tx = f"{record.tx_hash[:10]}…{record.tx_hash[-4:]}"
            table.add_row(record.step, record.requirement, record.actor, tx, f"{record.gas_used:,}")

        driver = FlowDriver(sandbox.deployment, on_step=show)
        with console.status("running the flow"):
            driver.run(sandbox.a, sandbox.b, sandbox.bank, draft, DEMO_BANK_ACCOUNT)
        table.add_row("total", "", "", "", f"{sum(r.gas_used for r in driver.records):,}", style="bold")
        console.print(table)

        balances = Table(title="Balances (tokenised deposits)")
        for column in ("holder", "balance"):
            balances.add_column(column, justify="right" if column == "balance" else "left")
        asset = sandbox.deployment.asset.functions
        for name, address in (
            ("Party A treasury", sandbox.a.treasury.address),
            ("Party B treasury", sandbox.b.treasury.address),
            ("escrow", sandbox.deployment.escrow.address),
        ):
            balances.add_row(name, f"{asset.balanceOf(address).call() / 100:,.2f}")
        console.print(balances)
        operator = sandbox.bank.account(Department.OPERATOR).address
        console.print(f"second voucher released by the bank's operator {operator}")
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s")


@contextmanager
def _node(rpc_url: str | None) -> Iterator[str]:
    if rpc_url is not None:
        yield rpc_url
        return
    node = AnvilNode()
    with console.status("starting anvil"):
        node.start()
    try:
        yield node.rpc_url
    finally:
        node.stop()


if __name__ == "__main__":
    app()
