"""``collab quarantine``: the events a listener could not process (each consumer carried on without them), and
asking for them to be processed again."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from collab_py.cli.context import console, readable_errors, show, state
from collab_py.ledger.database import open_database
from collab_py.ledger.store import Quarantined, quarantined, request_retry

app = typer.Typer(help="Events the listeners could not process (COLLAB_LEDGER_URL).", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    """Adds ``collab quarantine`` to ``parent``."""
    parent.add_typer(app, name="quarantine")


@app.command("list")
@readable_errors
def list_command(
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's (e.g. accounting-1).")] = None,
    all_events: Annotated[bool, typer.Option("--all", help="Include the events processed since.")] = False,
) -> None:
    """Lists the quarantined events: consumer, event, block, error, attempts."""
    found = quarantined(open_database(state.settings.ledger_url), consumer, include_resolved=all_events)
    if state.as_json:
        show([_record(item) for item in found])
        return
    console.print(quarantine_table(found))


@app.command("retry")
@readable_errors
def retry_command(
    event_ids: Annotated[list[int] | None, typer.Argument(help="Store ids of the events (default: all).")] = None,
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's.")] = None,
) -> None:
    """Asks the running listeners to process quarantined events again at their next step (after the cause was
    fixed: a token repaired, an asset accepted, a chart corrected); an event that fails again stays quarantined."""
    asked = request_retry(open_database(state.settings.ledger_url), consumer, event_ids or ())
    show({"retry_requested": asked})


def _record(item: Quarantined) -> dict[str, object]:
    return {
        "consumer": item.consumer,
        "event_id": item.event_id,
        "event": item.event,
        "block": item.block_number,
        "error": f"{item.error_type}: {item.error}",
        "attempts": item.attempts,
        "retry_requested": item.retry,
        "first_seen": str(item.first_seen),
        "resolved_at": None if item.resolved_at is None else str(item.resolved_at),
    }


def quarantine_table(found: list[Quarantined]) -> Table:
    """The quarantined events, one row each."""
    table = Table(title=f"Quarantine: {len(found)} events")
    for column in ("consumer", "event id", "event", "block", "error", "attempts", "resolved"):
        table.add_column(column, justify="right" if column in ("event id", "block", "attempts") else "left")
    for item in found:
        table.add_row(
            item.consumer, str(item.event_id), item.event, str(item.block_number), f"{item.error_type}: {item.error}",
            str(item.attempts), "-" if item.resolved_at is None else str(item.resolved_at),
        )  # fmt: skip
    return table
