"""``collab dev``: a development node of your own: start anvil, fund accounts, and a one-shot consortium of N orgs
with a key folder each (keys, funding, deployment, registration)."""

from __future__ import annotations

import shlex
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from eth_account import Account
from eth_typing import ChecksumAddress
from web3.types import RPCEndpoint

from collab_py.chain.deploy import deploy as deploy_contracts
from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.manifest import refuse_existing
from collab_py.chain.transactor import Transactor
from collab_py.cli.context import Force, console, parse_address, readable_errors, show, state
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import Party, register_party
from collab_py.devnet.sandbox import INSTITUTION_ORG
from collab_py.domain.keys import Keyring, read_keystore
from collab_py.exceptions import CollabError

dev = typer.Typer(help="A development node of your own (anvil): start, fund, bootstrap a consortium.")

#: Ether a funded account gets on a development node.
FUND_ETHER = 1_000


class NotADevNode(CollabError):
    """The node does not let balances be set (``anvil_setBalance``): it is not a development node."""


class FolderNotEmpty(CollabError):
    """The folder for a new consortium's keys already holds some."""


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.add_typer(dev, name="dev")


@dev.command("up")
@readable_errors
def up(
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: a free one).", min=1, max=65535)] = None,
    chain_id: Annotated[int, typer.Option(help="The chain id.", min=1)] = 31337,
) -> None:
    """Starts anvil (from node_modules), prints its URL, and keeps it running until Ctrl-C; the chain is gone then."""
    # Ctrl-C, and a service manager's stop, remove the node's data; SIGINT is set here too because a process started
    # in the background of a script inherits it ignored, and Python then raises no KeyboardInterrupt for it
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _interrupt)
    try:
        with AnvilNode(port=port, chain_id=chain_id) as node:
            print(f"anvil listening on {node.rpc_url} (chain {chain_id}); Ctrl-C stops it", flush=True)
            print(f"export COLLAB_RPC_URL={node.rpc_url}", flush=True)
            while node.pid is not None:
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopped")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def keystore_addresses(folder: Path) -> list[ChecksumAddress]:
    """The accounts of the keystores in ``folder`` (their public addresses: no passphrase needed)."""
    ring = Keyring(folder)
    found = (read_keystore(ring.path(name)).get("address") for name in ring.names())
    return [parse_address(address) for address in found if isinstance(address, str)]


@dev.command("fund")
@readable_errors
def fund(
    addresses: Annotated[
        list[str] | None,
        typer.Argument(help="Accounts to fund (default: every account of the keystore folder, --keys)."),
    ] = None,
    ether: Annotated[int, typer.Option(help="The balance each account gets, in ether.", min=1)] = FUND_ETHER,
) -> None:
    """Gives accounts ether for gas on a development node (anvil only: it sets their balances)."""
    targets = [parse_address(text) for text in addresses or []] or keystore_addresses(state.settings.keystore_dir)
    if not targets:
        raise CollabError(f"no accounts to fund: {state.settings.keystore_dir} holds no account keystores")
    _fund(targets, ether)
    show([{"account": address, "ether": ether} for address in targets])


def _fund(addresses: list[ChecksumAddress], ether: int) -> None:
    """Sets each balance with ``anvil_setBalance``; :class:`NotADevNode` when the node refuses."""
    for address in addresses:
        reply = state.w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [address, hex(ether * 10**18)])
        if "error" in reply:
            raise NotADevNode(
                f"the node refused anvil_setBalance ({reply['error'].get('message', '?')}): on a network that is not "
                "a development node, send ether to the accounts from a funded one"
            )


@dev.command("bootstrap")
@readable_errors
def bootstrap(
    orgs: Annotated[int, typer.Option(help="Number of enterprise orgs (ids 1 to N).", min=1, max=20)] = 2,
    out: Annotated[Path, typer.Option(help="Folder of the orgs' key folders and settings files.")] = Path("orgs"),
    min_key_lifetime: Annotated[
        int, typer.Option(help="Shortest payment-key lifetime, in seconds: at most 24 hours.", min=1)
    ] = 3600,
    force: Force = False,
) -> None:
    """On a development node: creates a key folder per org (keystores with the usual passphrase), funds every
    account, deploys with the governance key, registers and binds orgs 1..N and the bank (org 900, the asset admin),
    writes the manifest (an existing one only with --force) and one settings file per org (ORG.env: source it to act
    as that org)."""
    out, manifest_path = out.absolute(), state.settings.manifest.absolute()
    if out.exists() and any(out.iterdir()):
        raise FolderNotEmpty(f"{out} is not empty: give another --out, or remove it to start over")
    if not force:
        refuse_existing(manifest_path)
    passphrase = state.settings.passphrase(prompt=True)
    parties = [Party.generate(org_id, f"Org {org_id}") for org_id in range(1, orgs + 1)]
    bank = Party.generate(INSTITUTION_ORG, "Bank", OrgKind.PAYMENT_INSTITUTION)
    governance = Account.create()
    folders = {party.org_id: out / f"org-{party.org_id}" for party in parties} | {bank.org_id: out / "bank"}
    with console.status("writing keystores") as status:
        Keyring(out / "governance" / "keys").import_account("governance", governance.key, passphrase)
        for party in (*parties, bank):
            ring = Keyring(folders[party.org_id] / "keys")
            ring.import_account("treasury", party.treasury.key, passphrase)
            for department, account in party.accounts.items():
                ring.import_account(department.name.lower(), account.key, passphrase)
            ring.import_encryption_key("encryption", party.encryption_key, passphrase)
        status.update("funding, deploying, registering")
        accounts = [governance, *(account for party in (*parties, bank) for account in party.all_accounts)]
        _fund([account.address for account in accounts], FUND_ETHER)
        admin = Transactor(state.w3, governance, receipt_timeout=state.settings.receipt_timeout)
        operator = bank.account(Department.OPERATOR)
        deployment = deploy_contracts(
            admin, institution=bank.registration(), asset_admin=operator.address, min_key_lifetime=min_key_lifetime
        )
        for party in (*parties, bank):
            register_party(admin, deployment, party)
    manifest = deployment.manifest.save(manifest_path, overwrite=force)
    env_files = {"governance": _env_file(out / "governance", manifest, None)}
    env_files |= {str(org_id): _env_file(folder, manifest, org_id) for org_id, folder in folders.items()}
    record = {
        "manifest": str(manifest),
        "orgs": [party.org_id for party in parties],
        "institution": bank.org_id,
        "asset_admin": f"org {bank.org_id}'s operator key",
        "settings_files": {name: str(path) for name, path in env_files.items()},
    }
    show(record, "consortium deployed")
    if not state.as_json:
        for name, path in env_files.items():
            console.print(f"\n# {name} (source {path}):\n{path.read_text()}", highlight=False, markup=False, end="")


def _env_file(folder: Path, manifest: Path, org_id: int | None) -> Path:
    """Writes ``folder/env``: the settings one org uses (its keys, its ledger, the shared node and manifest)."""
    settings = {
        "COLLAB_RPC_URL": state.settings.rpc_url,
        "COLLAB_MANIFEST": str(manifest),
        "COLLAB_KEYSTORE_DIR": str(folder / "keys"),
        "COLLAB_LEDGER_URL": f"sqlite:///{folder / 'ledger.db'}",
        # a development node mines a block only for a transaction: the last one would never be 1 deep
        "COLLAB_CONFIRMATIONS": "0",
    }
    if org_id is not None:
        settings["COLLAB_ORG_ID"] = str(org_id)
    path = folder / "env"
    path.write_text("".join(f"export {name}={shlex.quote(value)}\n" for name, value in settings.items()))
    return path
