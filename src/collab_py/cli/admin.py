"""``collab keys``, ``collab deploy`` and ``collab org``: keys, deployment and governance (S1)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from collab_py.chain.deploy import AUTO_EVM, MIN_KEY_LIFETIME, RELEASE_WINDOW, OrgRegistration
from collab_py.chain.deploy import deploy as deploy_contracts
from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.manifest import refuse_existing
from collab_py.cli.context import Force, parse_address, parse_hex, readable_errors, show, state
from collab_py.services import AdminService
from collab_py.services.reader import ChainReader

keys = typer.Typer(help="Encrypted keystores of this org's accounts and encryption key.", no_args_is_help=True)
org = typer.Typer(help="S1: member orgs and their department accounts (governance).", no_args_is_help=True)
asset = typer.Typer(help="The assets contracts may be paid in (governance).", no_args_is_help=True)


class Kind(StrEnum):
    """Org kinds on the command line."""

    enterprise = "enterprise"
    institution = "institution"


class Dept(StrEnum):
    """Departments on the command line."""

    business = "business"
    finance = "finance"
    operator = "operator"


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.add_typer(keys, name="keys")
    app.add_typer(org, name="org")
    app.add_typer(asset, name="asset")
    app.command()(deploy)


@keys.command("new")
@readable_errors
def keys_new(
    name: Annotated[str, typer.Argument(help="governance, business, finance, operator or encryption")],
) -> None:
    """Creates a keystore: an account, or the org's encryption key when NAME is ``encryption``."""
    ring = state.keyring()
    passphrase = state.settings.passphrase(prompt=True)
    if name == "encryption":
        public_key = ring.create_encryption_key(name, passphrase).public_key
        show({"name": name, "public_key": "0x" + public_key.hex(), "path": str(ring.path(name))})
    else:
        account = ring.create_account(name, passphrase)
        show({"name": name, "address": account.address, "path": str(ring.path(name))})


@keys.command("list")
@readable_errors
def keys_list() -> None:
    """Names of the keystores in the folder."""
    show({"folder": str(state.keyring().folder), "keys": state.keyring().names()})


@readable_errors
def deploy(
    institution_org: Annotated[
        int, typer.Option(help="Org id of the payment institution running the escrow.", min=1, max=2**32 - 1)
    ],
    institution_name: Annotated[str, typer.Option(help="The institution's name, registered with the deployment.")],
    institution_treasury: Annotated[str, typer.Option(help="Address holding the institution's deposits.")],
    institution_key: Annotated[str, typer.Option(help="The institution's secp256k1 public key (hex, 33 or 65 bytes).")],
    asset: Annotated[str | None, typer.Option(help="Existing ERC-20 to pay with (default: new).")] = None,
    asset_admin: Annotated[str | None, typer.Option(help="Minter of the new DepositToken.")] = None,
    governance: Annotated[str | None, typer.Option(help="Multisig to hand governance to (two-step).")] = None,
    release_window: Annotated[
        int,
        typer.Option(
            help="Seconds after a request during which only the institution may release it (S6.5): 1 hour to 90 days.",
            min=1,
        ),
    ] = RELEASE_WINDOW,
    min_key_lifetime: Annotated[
        int, typer.Option(help="Shortest payment-key lifetime, in seconds: at most 24 hours.", min=1)
    ] = MIN_KEY_LIFETIME,
    evm_version: Annotated[
        str,
        typer.Option(
            help="EVM the contracts are compiled for: auto (COLLAB_EVM_VERSION, else paris on a chain without "
            "Shanghai/Cancun opcodes, else the compiler's default), default, or a version such as paris."
        ),
    ] = AUTO_EVM,
    force: Force = False,
) -> None:
    """Deploys the registry and the escrow with the ``governance`` key, registers the payment institution that
    operates the escrow, accepts the asset (a new DepositToken unless --asset), and writes the manifest (S1.3); an
    existing manifest file is refused before anything is deployed, unless --force."""
    if not force:
        refuse_existing(state.settings.manifest)
    institution = OrgRegistration(
        institution_org, institution_name, parse_address(institution_treasury), parse_hex(institution_key)
    )
    token, token_admin, owner = (parse_address(text) if text else None for text in (asset, asset_admin, governance))
    deployment = deploy_contracts(
        state.transactor("governance"),
        institution=institution,
        asset=token,
        asset_admin=token_admin,
        governance=owner,
        release_window=release_window,
        min_key_lifetime=min_key_lifetime,
        evm_version=None if evm_version == "default" else evm_version,
    )
    deployment.manifest.save(state.settings.manifest, overwrite=force)
    show(deployment.manifest, f"deployed; manifest written to {state.settings.manifest}")


def _admin() -> AdminService:
    return AdminService(state.deployment, state.transactor("governance"))


@org.command("register")
@readable_errors
def org_register(
    org_id: int,
    name: str,
    treasury: Annotated[str, typer.Option(help="Address holding the org's deposits.")],
    encryption_key: Annotated[str, typer.Option(help="The org's secp256k1 public key (hex, 33 or 65 bytes).")],
    kind: Annotated[Kind, typer.Option(help="enterprise or institution.")] = Kind.enterprise,
) -> None:
    """Registers a member org (S1.1)."""
    org_kind = OrgKind.ENTERPRISE if kind is Kind.enterprise else OrgKind.PAYMENT_INSTITUTION
    show(_admin().register_org(org_id, name, org_kind, parse_address(treasury), parse_hex(encryption_key)))


@org.command("bind")
@readable_errors
def org_bind(account: str, org_id: int, department: Dept) -> None:
    """Binds ACCOUNT to DEPARTMENT of ORG_ID (S1.2)."""
    show(_admin().bind_account(parse_address(account), org_id, Department[department.name.upper()]))


@org.command("unbind")
@readable_errors
def org_unbind(account: str) -> None:
    """Unbinds ACCOUNT from its org (a retired or compromised key)."""
    show(_admin().unbind_account(parse_address(account)))


@org.command("treasury")
@readable_errors
def org_treasury(org_id: int, treasury: str) -> None:
    """Moves ORG_ID's treasury to TREASURY; payments already requested keep the treasury pinned at the request
    until the beneficiary pins the new one (`collab payment pin-treasury`)."""
    address = parse_address(treasury)
    show(_admin().set_treasury(org_id, address))


@org.command("suspend")
@readable_errors
def org_suspend(org_id: int) -> None:
    """Suspends an org: it can take no step (S1.1)."""
    show(_admin().set_org_active(org_id, False))


@org.command("reinstate")
@readable_errors
def org_reinstate(org_id: int) -> None:
    """Reinstates a suspended org."""
    show(_admin().set_org_active(org_id, True))


@org.command("show")
@readable_errors
def org_show(org_id: int) -> None:
    """Shows an org."""
    show(ChainReader(state.deployment).org(org_id))


@org.command("member")
@readable_errors
def org_member(account: str) -> None:
    """Shows the org and department ACCOUNT acts for."""
    show(ChainReader(state.deployment).member(parse_address(account)))


@asset.command("accept")
@readable_errors
def asset_accept(address: Annotated[str, typer.Argument(help="The ERC-20 contract's address.")]) -> None:
    """Accepts ADDRESS as the asset of new contracts (a contract: InvalidAsset otherwise)."""
    token = parse_address(address)
    show(_admin().set_asset_accepted(token, True))


@asset.command("withdraw")
@readable_errors
def asset_withdraw(address: Annotated[str, typer.Argument(help="The ERC-20 contract's address.")]) -> None:
    """Stops accepting ADDRESS for new contracts; contracts already proposed keep it."""
    token = parse_address(address)
    show(_admin().set_asset_accepted(token, False))


@asset.command("list")
@readable_errors
def asset_list() -> None:
    """The assets governance ever listed, and whether each is accepted now."""
    show([record.model_dump(mode="json") for record in ChainReader(state.deployment).assets()])
