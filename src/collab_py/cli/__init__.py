"""The ``collab`` command line: a command for every SPEC step and for reading any state (``--json`` for machines).

Keys come from the keystore folder (``--keys``, ``COLLAB_KEYSTORE_DIR``): ``governance``, ``business``,
``finance``, ``operator`` and the org's ``encryption`` key, each an encrypted JSON keystore whose passphrase comes
from ``COLLAB_PASSPHRASE_FILE``, the variable ``COLLAB_PASSPHRASE`` or a prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from collab_py.cli import (
    admin,
    books,
    contract,
    demo,
    deposits,
    dev,
    invoices,
    network,
    payment,
    quarantine,
    serve,
)
from collab_py.cli.context import state

#: The root's flags a user may also write after the command (``collab contract show HT-1 --json``).
ANYWHERE = ("--json", "--debug")


class FlagsAnywhere(TyperGroup):
    """The root group, taking :data:`ANYWHERE` flags wherever they stand before a ``--``."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        end = args.index("--") if "--" in args else len(args)
        flags = [arg for arg in args[:end] if arg in ANYWHERE]
        rest = [arg for arg in args[:end] if arg not in ANYWHERE]
        return super().parse_args(ctx, [*flags, *rest, *args[end:]])


app = typer.Typer(
    cls=FlagsAnywhere,
    help="collab: intercompany transactions on a permissioned Ethereum chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    rpc_url: Annotated[str | None, typer.Option(help="Node JSON-RPC URL (COLLAB_RPC_URL).")] = None,
    manifest: Annotated[Path | None, typer.Option(help="Deployment manifest (COLLAB_MANIFEST).")] = None,
    keys: Annotated[Path | None, typer.Option(help="Keystore folder (COLLAB_KEYSTORE_DIR).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print records as JSON.")] = False,
    debug: Annotated[
        bool, typer.Option(help="Show tracebacks, and the listeners' database migrations step by step.")
    ] = False,
) -> None:
    """collab: e-contracts, stage vouchers, settlement and escrowed payment between group companies."""
    options = {"rpc_url": rpc_url, "manifest": manifest, "keystore_dir": keys}
    state.overrides = {key: value for key, value in options.items() if value is not None}
    state.as_json, state.debug = as_json, debug
    state.reset()


app.command()(demo.demo)
admin.register(app)
contract.register(app)
payment.register(app)
books.register(app)
serve.register(app)
quarantine.register(app)
deposits.register(app)
dev.register(app)
network.register(app)
app.command()(invoices.invoices)
