"""``collab listen``, ``collab reconcile``, ``collab ledger``: the long-running services and the books (S6.2, S8)."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from collab_py.cli.context import InvalidInput, console, money, readable_errors, show, state, token_decimals
from collab_py.files import write_private
from collab_py.ledger.database import open_database
from collab_py.ledger.queries import JournalLine, export, journal
from collab_py.ledger.reconcile import Reconciliation, reconcile
from collab_py.listener.engine import ListenerConfig
from collab_py.listener.factory import ListenerSpec, Role, build_listener
from collab_py.listener.handlers.accounting import ChartOfAccounts
from collab_py.listener.handlers.invoicing import DEFAULT_TAX_RATE
from collab_py.listener.heads import HeadWatcher
from collab_py.listener.health import serve
from collab_py.listener.runtime import run_until_signalled
from collab_py.services import FinanceService, InstitutionService
from collab_py.services.reader import ChainReader


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.command()(listen)
    app.command("reconcile")(reconcile_command)
    app.command()(ledger)


def parse_rate(text: str) -> Decimal:
    """A tax rate such as 0.13; refuses what is no rate."""
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"malformed tax rate {text!r}: use a number such as 0.13") from None
    if not rate.is_finite() or not 0 <= rate < 1:
        raise InvalidInput(f"invalid tax rate {text!r}: from 0 to below 1")
    return rate


def _org(org: int | None) -> int:
    org_id = org if org is not None else state.settings.org_id
    if org_id is None:
        raise InvalidInput("which org? pass --org or set COLLAB_ORG_ID")
    return org_id


@readable_errors
def listen(
    org: Annotated[int | None, typer.Option(help="The org whose books or requests to handle (COLLAB_ORG_ID).")] = None,
    role: Annotated[
        Role,
        typer.Option(help="accounting: post the books; institution: release payments; invoicing: e-invoices."),
    ] = Role.accounting,
    tax_rate: Annotated[str, typer.Option(help="Tax rate included in invoiced amounts (invoicing).")] = str(
        DEFAULT_TAX_RATE
    ),
    chart: Annotated[Path | None, typer.Option(help="Chart of accounts (JSON) for accounting.")] = None,
    health_port: Annotated[int | None, typer.Option(help="Serve /healthz and /metrics on this port.")] = None,
    max_lag: Annotated[int, typer.Option(help="Blocks of lag after which /healthz fails.")] = 50,
    poll_interval: Annotated[float, typer.Option(help="Seconds between polls of the node.")] = 1.0,
    chunk_blocks: Annotated[int, typer.Option(help="Most blocks read and committed in one batch.", min=1)] = 5_000,
    ws_url: Annotated[
        str | None, typer.Option(help="WebSocket URL whose newHeads wake the listener (default: the RPC URL if ws).")
    ] = None,
    once: Annotated[bool, typer.Option(help="Catch up with the chain, then exit.")] = False,
) -> None:
    """Runs a listener until SIGTERM or Ctrl-C (COLLAB_LEDGER_URL, COLLAB_CONFIRMATIONS)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    org_id = _org(org)
    deployment = state.deployment  # the node and the manifest first: nothing is created for a listener that cannot run
    config = ListenerConfig(
        confirmations=state.settings.confirmations, poll_interval=poll_interval, chunk_blocks=chunk_blocks
    )
    spec = ListenerSpec(
        role,
        org_id,
        chart=ChartOfAccounts.load(chart) if role is Role.accounting else ChartOfAccounts(),
        tax_rate=parse_rate(tax_rate) if role is Role.invoicing else DEFAULT_TAX_RATE,
        config=config,
    )
    ws = ws_url or (state.settings.rpc_url if state.settings.rpc_url.startswith(("ws://", "wss://")) else None)
    heads = HeadWatcher(ws).start() if ws and not once else None
    listener = build_listener(
        spec,
        deployment,
        lambda: open_database(state.settings.ledger_url),
        finance=lambda: FinanceService(
            deployment, state.transactor("finance"), encryption_key=state.encryption_key(), org_id=org_id
        ),
        operator=lambda: InstitutionService(
            deployment, state.transactor("operator"), encryption_key=state.encryption_key(), org_id=org_id
        ),
        heads=heads,
    )
    if health_port is not None:
        serve(health_port, [listener.metrics], max_lag)
    if once:
        while not listener.step():
            pass
        show({"consumer": listener.consumer, "checkpoint": int(listener.metrics.checkpoint.value)})
        return
    run_until_signalled([listener])


@readable_errors
def reconcile_command(
    ledger_url: Annotated[
        list[str] | None, typer.Option("--ledger-url", help="Ledger database(s): payer's, then payee's.")
    ] = None,
) -> None:
    """Reconciles the chain's second vouchers with the payers' and payees' books, contract by contract (S8.4)."""
    urls = ledger_url or [state.settings.ledger_url]
    if len(urls) > 2:
        raise InvalidInput("give one ledger (a group ledger) or two (payer's, then payee's)")
    books = [open_database(url) for url in urls]
    report = reconcile(ChainReader(state.deployment).second_vouchers(), books[0], books[-1])
    if state.as_json:
        show({"clean": report.clean, "contracts": [c.model_dump() for c in report.contracts]})
    else:
        console.print(reconciliation_table(report, token_decimals()))
    if not report.clean:
        raise typer.Exit(3)


@readable_errors
def ledger(
    org: Annotated[int | None, typer.Option(help="Only this org's entries.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write the export here instead of printing it.")] = None,
) -> None:
    """Shows or exports the journal entries of the ledger database (COLLAB_LEDGER_URL)."""
    if fmt not in ("table", "csv", "json"):
        raise InvalidInput(f"unknown format {fmt!r}: table, csv or json")
    lines = journal(open_database(state.settings.ledger_url), org)
    if fmt == "table" and out is None:
        console.print(journal_table(lines, "Journal", token_decimals()))
        return
    text = export(lines, "json" if fmt == "table" else fmt)
    if out is None:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        write_private(out, text)  # mode 0600: the books are the org's alone
        show({"lines": len(lines), "written_to": str(out)})


def reconciliation_table(report: Reconciliation, decimals: int) -> Table:
    """The reconciliation, one row per contract, amounts in currency units."""
    table = Table(title="Reconciliation (S8.4): " + ("clean" if report.clean else "MISMATCHES"))
    for column in ("contract", "payer", "payee", "on chain", "payable", "receivable", "mismatches"):
        table.add_column(column, justify="left" if column in ("contract", "mismatches") else "right")
    for c in report.contracts:
        table.add_row(
            c.contract_no, str(c.payer_org), str(c.payee_org), money(c.on_chain, decimals),
            money(c.payable_posted, decimals), money(c.receivable_posted, decimals), "\n".join(c.mismatches) or "-",
        )  # fmt: skip
    return table


def journal_table(lines: list[JournalLine], title: str, decimals: int) -> Table:
    """Journal lines, one row each, amounts in currency units."""
    table = Table(title=title)
    for column in ("entry", "kind", "contract", "seq", "account", "debit", "credit"):
        table.add_column(column, justify="right" if column in ("debit", "credit", "entry", "seq") else "left")
    for line in lines:
        table.add_row(
            str(line.entry_id), line.kind, line.contract_no, str(line.seq), line.account,
            money(line.debit, decimals) if line.debit else "", money(line.credit, decimals) if line.credit else "",
        )  # fmt: skip
    return table
