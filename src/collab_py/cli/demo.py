"""``collab demo``: the main job on a development node, with a timeline of every step."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from collab_py.chain.transactor import connect
from collab_py.cli.books import journal_table, reconciliation_table
from collab_py.cli.context import console, money, readable_errors
from collab_py.devnet.demo import run_demo
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.sandbox import ASSET_DECIMALS
from collab_py.services import StepRecord


@readable_errors
def demo(
    rpc_url: Annotated[str | None, typer.Option(help="Use this development node instead of starting anvil.")] = None,
    manifest_out: Annotated[Path | None, typer.Option(help="Write the deployment manifest here.")] = None,
) -> None:
    """Starts anvil, deploys, and runs the whole flow: a 3-stage contract paid in two payments (one assigned to
    Party C, both released by the institution's bot) and an expired payment key reclaimed by Party A; prints the
    timeline, the balances, the books of A, B and C posted by their listeners, and the reconciliation."""
    started = time.perf_counter()
    timeline = Table(title="Timeline")
    for column in ("#", "step", "SPEC", "actor", "block", "transaction", "gas"):
        timeline.add_column(column, justify="right" if column in ("#", "block", "gas") else "left")

    def add(record: StepRecord) -> None:
        tx = f"{record.tx_hash[:10]}…{record.tx_hash[-4:]}"
        timeline.add_row(
            str(timeline.row_count + 1), record.step, record.requirement, record.actor, str(record.block), tx,
            f"{record.gas_used:,}",
        )  # fmt: skip

    with _node(rpc_url) as url, tempfile.TemporaryDirectory(prefix="collab-demo-") as workdir:
        with console.status("starting") as status:
            result = run_demo(connect(url), Path(workdir), on_step=add, on_phase=status.update)
        manifest = result.sandbox.deployment.manifest
        if manifest_out is not None:
            manifest.save(manifest_out)
        console.print(f"chain {manifest.chain_id}: registry {manifest.registry}, escrow {manifest.escrow}")
        timeline.add_row("", "total", "", "", "", "", f"{sum(r.gas_used for r in result.steps):,}", style="bold")
        console.print(timeline)

        vouchers = Table(title="Second vouchers (S7)")
        for column in ("contract", "seq", "payer", "payee", "beneficiary", "amount", "tx"):
            vouchers.add_column(column, justify="right" if column in ("seq", "amount") else "left")
        for v in result.second_vouchers:
            vouchers.add_row(
                v.contract_no, str(v.seq), str(v.payer_org), str(v.payee_org), str(v.beneficiary_org),
                money(v.amount, ASSET_DECIMALS), "0x" + v.evidence.tx_hash.hex()[:8] + "…",
            )  # fmt: skip
        console.print(vouchers)

        balances = Table(title="Balances (tokenised deposits)")
        balances.add_column("holder")
        balances.add_column("balance", justify="right")
        for name, amount in result.balances.items():
            balances.add_row(name, money(amount, ASSET_DECIMALS))
        console.print(balances)
        for name, lines in result.journals.items():
            console.print(journal_table(lines, f"{name}: journal (S8.1)", ASSET_DECIMALS))
        invoices = Table(title="E-invoices (S8.3)")
        for column in ("org", "direction", "status", "contract", "seq", "invoice", "amount", "tax"):
            invoices.add_column(column, justify="right" if column in ("amount", "tax", "seq") else "left")
        for row in result.invoices:
            invoices.add_row(
                str(row["org_id"]), row["direction"], row["status"], row["contract_no"], str(row["seq"]),
                row["invoice_no"], money(row["amount"], ASSET_DECIMALS), money(row["tax"], ASSET_DECIMALS),
            )  # fmt: skip
        console.print(invoices)
        assert result.reconciliation is not None
        console.print(reconciliation_table(result.reconciliation, ASSET_DECIMALS))
        if not result.reconciliation.clean:
            raise typer.Exit(3)
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s ({len(result.steps)} transactions)")


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
