"""``collab token`` and ``collab treasury``: the deposits contracts are paid in — minted by the asset's admin to an
org's treasury, and the escrow's allowance the payer's treasury grants (S5.4)."""

from __future__ import annotations

from typing import Annotated

import typer

from collab_py.chain.deploy import Deployment
from collab_py.cli.context import NEGATIVE_VALUES, amount, parse_amount, readable_errors, show, state, token_decimals
from collab_py.services.reader import ChainReader

token = typer.Typer(help="The deployment's asset: deposits minted to org treasuries.", no_args_is_help=True)
treasury = typer.Typer(help="This org's treasury: what it holds and what the escrow may take.", no_args_is_help=True)

OrgId = Annotated[int, typer.Argument(help="The org whose treasury is credited.", min=1, max=2**32 - 1)]
#: The allowance of ``treasury approve`` without an amount.
UNLIMITED = 2**256 - 1
Amount = Annotated[str, typer.Argument(help="In currency units of the asset, e.g. 10000.50.")]


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.add_typer(token, name="token")
    app.add_typer(treasury, name="treasury")


def holdings(deployment: Deployment, holder: str) -> dict[str, object]:
    """The balance of ``holder`` and the escrow's allowance from it, in currency units."""
    asset, decimals = deployment.asset.functions, token_decimals()
    allowance = asset.allowance(holder, deployment.escrow.address).call()
    return {
        "balance": amount(asset.balanceOf(holder).call(), decimals),
        "escrow_allowance": "unlimited" if allowance == UNLIMITED else amount(allowance, decimals),
    }


@token.command("mint", context_settings=NEGATIVE_VALUES)
@readable_errors
def mint(
    org_id: OrgId,
    value: Amount,
    key: Annotated[str, typer.Option(help="The asset admin's keystore (the minter).")] = "operator",
) -> None:
    """Credits deposits to ORG_ID's treasury; signed by the asset's minter (the bank's operator after
    `collab dev bootstrap`)."""
    deployment = state.deployment
    units = parse_amount(value, token_decimals())
    holder = ChainReader(deployment).org(org_id).treasury
    state.transactor(key).transact(deployment.asset.functions.mint(holder, units))
    show({"org": org_id, "treasury": holder, "minted": amount(units, token_decimals())} | holdings(deployment, holder))


@treasury.command("approve", context_settings=NEGATIVE_VALUES)
@readable_errors
def approve(
    value: Annotated[
        str | None, typer.Argument(help="Most the escrow may take, in currency units (default: no limit).")
    ] = None,
) -> None:
    """Lets the escrow freeze this org's deposits when its finance issues a payment voucher (key: treasury)."""
    deployment = state.deployment
    units = UNLIMITED if value is None else parse_amount(value, token_decimals())
    signer = state.transactor("treasury")
    signer.transact(deployment.asset.functions.approve(deployment.escrow.address, units))
    show({"treasury": signer.address, "escrow": deployment.escrow.address} | holdings(deployment, signer.address))


@treasury.command("show")
@readable_errors
def show_treasury(org_id: OrgId) -> None:
    """ORG_ID's treasury: its balance and the escrow's allowance."""
    holder = ChainReader(state.deployment).org(org_id).treasury
    show({"org": org_id, "treasury": holder} | holdings(state.deployment, holder))
