"""``collab listen``, ``collab reconcile``, ``collab ledger`` (and ``ledger verify``): the long-running services and
the books (S6.2, S8)."""

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
from collab_py.ledger.integrity import ChainEvidence, LedgerTampered, Verification, verify_journal
from collab_py.ledger.queries import JournalLine, export, journal
from collab_py.ledger.reconcile import Reconciliation, reconcile
from collab_py.ledger.store import sync_position
from collab_py.listener.factory import ListenerSpec, Role, build_engine
from collab_py.listener.handlers.accounting import ChartOfAccounts
from collab_py.listener.handlers.invoicing import DEFAULT_TAX_RATE
from collab_py.listener.heads import HeadWatcher
from collab_py.listener.health import bind, start
from collab_py.listener.runtime import run_until_signalled
from collab_py.listener.sync import ListenerConfig
from collab_py.redaction import mask_url
from collab_py.services import FinanceService, InstitutionService
from collab_py.services.reader import ChainReader

log = logging.getLogger("collab.listener")

ledger_app = typer.Typer(help="The journal of the ledger database (COLLAB_LEDGER_URL).")


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.command()(listen)
    app.command("reconcile")(reconcile_command)
    ledger_app.callback(invoke_without_command=True)(ledger)
    ledger_app.command("verify")(verify_command)
    app.add_typer(ledger_app, name="ledger")


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
        list[Role] | None,
        typer.Option(
            help="accounting: post the books; institution: release payments; invoicing: e-invoices. Repeat it to run "
            "several on one ledger in this process (one sync, one writer): --role accounting --role invoicing."
        ),
    ] = None,
    tax_rate: Annotated[str, typer.Option(help="Tax rate included in invoiced amounts (invoicing).")] = str(
        DEFAULT_TAX_RATE
    ),
    chart: Annotated[Path | None, typer.Option(help="Chart of accounts (JSON) for accounting.")] = None,
    health_port: Annotated[
        int | None, typer.Option(help="Serve /healthz and /metrics on this port.", min=1, max=65535)
    ] = None,
    max_lag: Annotated[int, typer.Option(help="Blocks of lag after which /healthz fails.")] = 50,
    poll_interval: Annotated[float, typer.Option(help="Seconds between polls of the node.")] = 1.0,
    chunk_blocks: Annotated[int, typer.Option(help="Most blocks read and committed in one batch.", min=1)] = 5_000,
    ws_url: Annotated[
        str | None, typer.Option(help="WebSocket URL whose newHeads wake the listener (default: the RPC URL if ws).")
    ] = None,
    once: Annotated[bool, typer.Option(help="Catch up with the chain, then exit.")] = False,
    forensics: Annotated[
        bool,
        typer.Option(
            help="Start even if the journal fails verification (to examine a tampered ledger; it posts on top of it)."
        ),
    ] = False,
) -> None:
    """Runs the org's listeners on its ledger until SIGTERM or Ctrl-C (COLLAB_LEDGER_URL, COLLAB_CONFIRMATIONS,
    COLLAB_REORG_WINDOW, COLLAB_SQLITE_CACHE_MIB): one sync of the chain into the ledger's event store and a consumer
    per role, stepped in turn. Refuses to start on a journal whose hash chain, balances or lines fail verification
    (LedgerTampered), unless --forensics."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.INFO if state.debug else logging.WARNING)  # a line per step
    org_id = _org(org)
    roles = list(dict.fromkeys(role or [Role.accounting]))
    deployment = state.deployment  # the node and the manifest first: nothing is created for a listener that cannot run
    health = bind(health_port) if health_port is not None else None  # and its port
    config = ListenerConfig(
        confirmations=state.settings.confirmations,
        poll_interval=poll_interval,
        chunk_blocks=chunk_blocks,
        window=state.settings.reorg_window,
    )
    specs = [
        ListenerSpec(
            each,
            org_id,
            chart=ChartOfAccounts.load(chart) if each is Role.accounting else ChartOfAccounts(),
            tax_rate=parse_rate(tax_rate) if each is Role.invoicing else DEFAULT_TAX_RATE,
            config=config,
        )
        for each in roles
    ]
    ws = ws_url or (state.settings.rpc_url if state.settings.rpc_url.startswith(("ws://", "wss://")) else None)
    heads = HeadWatcher(ws).start() if ws and not once else None
    engine = build_engine(
        specs,
        deployment,
        lambda: open_database(state.settings.ledger_url, cache_mib=state.settings.sqlite_cache_mib),
        finance=lambda: FinanceService(
            deployment, state.transactor("finance"), encryption_key=state.encryption_key(), org_id=org_id
        ),
        operator=lambda: InstitutionService(
            deployment, state.transactor("operator"), encryption_key=state.encryption_key(), org_id=org_id
        ),
        heads=heads,
        forensics=forensics,
    )
    with open_database(state.settings.ledger_url).connect() as connection:
        if sync_position(connection, deployment.manifest.chain_id) is None:
            ledger = mask_url(state.settings.ledger_url)
            log.warning("a new, empty ledger (%s): reading the chain from the deployment", ledger)
    if health is not None:
        start(health, engine.all_metrics, max_lag)
    if once:
        while not engine.step():
            pass
        checkpoint = min(int(consumer.metrics.checkpoint.value) for consumer in engine.consumers)
        quarantined = sum(int(consumer.metrics.quarantined.value) for consumer in engine.consumers)
        show({"consumer": engine.name, "checkpoint": checkpoint, "quarantined": quarantined})
        return
    run_until_signalled([engine])


@readable_errors
def reconcile_command(
    ledger_url: Annotated[
        list[str] | None, typer.Option("--ledger-url", help="Ledger database(s): payer's, then payee's.")
    ] = None,
) -> None:
    """Reconciles the chain's second vouchers with the payers' and payees' books, contract by contract, at line level
    (S8.4); clean only if each journal also passes ``collab ledger verify``. Amounts in currency units of the
    deployment's asset."""
    urls = ledger_url or [state.settings.ledger_url]
    if len(urls) > 2:
        raise InvalidInput("give one ledger (a group ledger) or two (payer's, then payee's)")
    books = [open_database(url) for url in urls]
    deployment, decimals = state.deployment, token_decimals()
    vouchers = ChainReader(deployment).second_vouchers()
    report = reconcile(vouchers, books[0], books[-1], ChainEvidence.of(deployment), decimals=decimals)
    if state.as_json:
        show(
            {
                "clean": report.clean,
                "contracts": [c.view(decimals) for c in report.contracts],
                "journals": [journal.model_dump() for journal in report.journals],
            }
        )
    else:
        console.print(reconciliation_table(report, decimals))
        for journal in report.journals:
            console.print(verification_line(journal))
    if not report.clean:
        raise typer.Exit(3)


@readable_errors
def ledger(
    context: typer.Context,
    org: Annotated[int | None, typer.Option(help="Only this org's entries.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write the export here instead of printing it.")] = None,
) -> None:
    """Shows or exports the journal entries of the ledger database (COLLAB_LEDGER_URL): debit and credit in currency
    units of the deployment's asset (in an export, exact decimal strings such as "1000.50")."""
    if context.invoked_subcommand is not None:
        return
    if fmt not in ("table", "csv", "json"):
        raise InvalidInput(f"unknown format {fmt!r}: table, csv or json")
    lines = journal(open_database(state.settings.ledger_url), org)
    decimals = token_decimals()
    if fmt == "table" and out is None:
        console.print(journal_table(lines, "Journal", decimals))
        return
    text = export(lines, "json" if fmt == "table" else fmt, decimals)
    if out is None:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        write_private(out, text)  # mode 0600: the books are the org's alone
        show({"lines": len(lines), "written_to": str(out)})


@readable_errors
def verify_command(
    local: Annotated[
        bool, typer.Option(help="Only the hash chains, balances and lines: no chain evidence read from the node.")
    ] = False,
) -> None:
    """Verifies the journal: recomputes each org's hash chain, checks every entry balances and its lines sum to it,
    and that its chain evidence (block hash, tx hash, log index) is on chain; names the first entry that fails
    (LedgerTampered, exit 1)."""
    database = open_database(state.settings.ledger_url)
    verification = verify_journal(database, None if local else ChainEvidence.of(state.deployment))
    if state.as_json:
        show(verification.model_dump())
    else:
        console.print(verification_line(verification))
    if verification.failure is not None:
        raise LedgerTampered(verification.failure)


def verification_line(verification: Verification) -> str:
    """One line on a journal's verification."""
    evidence = "with" if verification.evidence_checked else "without"
    heads = ", ".join(f"org {org} {digest}" for org, digest in verification.heads.items()) or "no entries"
    state_text = "FAILS" if verification.failure else "verified"
    return f"journal {state_text} ({verification.entries} entries {evidence} chain evidence; heads: {heads})"


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
