"""``collab demo``: the main job on anvil or on any node, with a timeline of every step."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from collab_py.chain.manifest import refuse_existing
from collab_py.cli.books import journal_table, reconciliation_table
from collab_py.cli.context import Force, InvalidInput, console, money, readable_errors, state
from collab_py.devnet.demo import run_demo
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import FUND_EACH, FUNDER_KEY_ENV, Funding, ether, funder_account
from collab_py.redaction import mask_url
from collab_py.services import StepRecord


@readable_errors
def demo(
    rpc_url: Annotated[
        str | None,
        typer.Option(
            help="Run on this node (any JSON-RPC node: geth, Besu, anvil) instead of starting anvil; PoA and fees "
            "follow COLLAB_POA, COLLAB_GAS_PRICE and COLLAB_ZERO_GAS."
        ),
    ] = None,
    manifest_out: Annotated[Path | None, typer.Option(help="Write the deployment manifest here.")] = None,
    funder_keystore: Annotated[
        Path | None,
        typer.Option(
            envvar="COLLAB_FUNDER_KEYSTORE",
            help="Encrypted keystore (v3 JSON: ours, Ape's or geth's) of a funded account that gives the demo's fresh "
            "accounts their ether by transfers (passphrase: COLLAB_PASSPHRASE_FILE, COLLAB_PASSPHRASE or a prompt). "
            f"Or the account's private key in the environment variable {FUNDER_KEY_ENV}. Not needed on anvil or on "
            "a zero-gas chain.",
        ),
    ] = None,
    fund_each: Annotated[str, typer.Option(help="Ether the funder gives each fresh account.")] = ether(FUND_EACH),
    force: Force = False,
) -> None:
    """Deploys and runs the whole flow on anvil (started here) or on any node (--rpc-url): a 3-stage contract paid in
    two payments (one assigned to Party C, both released by the institution's bot) and a payment key that expires
    (the escrow's shortest lifetime, waited for) and that Party A reclaims; prints the timeline, the balances, the
    books of A, B and C posted by their listeners, and the reconciliation. An existing --manifest-out file is refused
    before the demo starts, unless --force."""
    started = time.perf_counter()
    if manifest_out is not None and not force:
        refuse_existing(manifest_out)
    funding = Funding(funder_account(funder_keystore, state.settings.passphrase), _wei(fund_each))
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
        w3 = state.settings.connect(url)
        console.print(f"node {mask_url(url)}, chain {w3.eth.chain_id}; funding: {funding.describe(w3)}")
        with console.status("starting") as status:
            result = run_demo(w3, Path(workdir), on_step=add, on_phase=status.update, funding=funding)
        manifest, decimals = result.sandbox.deployment.manifest, result.sandbox.deployment.decimals()
        if manifest_out is not None:
            manifest.save(manifest_out, overwrite=force)
        console.print(f"chain {manifest.chain_id}: registry {manifest.registry}, escrow {manifest.escrow}")
        timeline.add_row("", "total", "", "", "", "", f"{sum(r.gas_used for r in result.steps):,}", style="bold")
        console.print(timeline)

        vouchers = Table(title="Second vouchers (S7)")
        for column in ("contract", "seq", "payer", "payee", "beneficiary", "amount", "tx"):
            vouchers.add_column(column, justify="right" if column in ("seq", "amount") else "left")
        for v in result.second_vouchers:
            vouchers.add_row(
                v.contract_no, str(v.seq), str(v.payer_org), str(v.payee_org), str(v.beneficiary_org),
                money(v.amount, decimals), "0x" + v.evidence.tx_hash.hex()[:8] + "…",
            )  # fmt: skip
        console.print(vouchers)

        balances = Table(title="Balances (tokenised deposits)")
        balances.add_column("holder")
        balances.add_column("balance", justify="right")
        for name, amount in result.balances.items():
            balances.add_row(name, money(amount, decimals))
        console.print(balances)
        for name, lines in result.journals.items():
            console.print(journal_table(lines, f"{name}: journal (S8.1)", decimals))
        invoices = Table(title="E-invoices (S8.3)")
        for column in ("org", "direction", "status", "contract", "seq", "invoice", "amount", "tax"):
            invoices.add_column(column, justify="right" if column in ("amount", "tax", "seq") else "left")
        for row in result.invoices:
            invoices.add_row(
                str(row["org_id"]), row["direction"], row["status"], row["contract_no"], str(row["seq"]),
                row["invoice_no"], money(row["amount"], decimals), money(row["tax"], decimals),
            )  # fmt: skip
        console.print(invoices)
        assert result.reconciliation is not None
        console.print(reconciliation_table(result.reconciliation, decimals))
        if not result.reconciliation.clean:
            raise typer.Exit(3)
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s ({len(result.steps)} transactions)")


def _wei(text: str) -> int:
    try:
        amount = Decimal(text).scaleb(18)
    except InvalidOperation:
        raise InvalidInput(f"malformed ether amount {text!r}: use a number such as 0.1") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.to_integral_value():
        raise InvalidInput(f"invalid ether amount {text!r}: positive, at most 18 decimals")
    return int(amount)


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
