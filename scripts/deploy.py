"""``ape run deploy``: deploy collab on the selected Ape network and write its manifest.

Uses the same code as ``collab_py.chain.deploy.deploy``. The deployer is Ape's first test account on a local network, or
the encrypted JSON keystore in ``COLLAB_DEPLOYER_KEYSTORE`` (passphrase: the file
``COLLAB_PASSPHRASE_FILE``, the variable ``COLLAB_PASSPHRASE`` or a prompt).
The payment institution that operates the escrow is registered with the deployment: ``COLLAB_INSTITUTION_TREASURY``
(its treasury address) and ``COLLAB_INSTITUTION_KEY`` (its secp256k1 encryption public key, hex) are required on a
live network; on a local network they default to the deployer's address and a fresh key (whose secret is then lost:
a local trial only). Optional: ``COLLAB_INSTITUTION_ORG`` (default 900), ``COLLAB_INSTITUTION_NAME``,
``COLLAB_ASSET`` (an existing ERC-20; otherwise a DepositToken is deployed), ``COLLAB_ASSET_ADMIN`` (its minter),
``COLLAB_GOVERNANCE`` (a multisig that must then accept ownership). An existing manifest file is refused before
anything is deployed, unless ``COLLAB_DEPLOY_FORCE=1`` (``collab deploy --force``).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from ape import accounts, networks
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from collab_py.chain.deploy import OrgRegistration, deploy
from collab_py.chain.manifest import ManifestExists, refuse_existing
from collab_py.chain.transactor import Transactor, connect
from collab_py.devnet.sandbox import INSTITUTION_ORG
from collab_py.domain.crypto import EncryptionKey
from collab_py.domain.keys import load_account, resolve_passphrase


def _deployer() -> LocalAccount:
    keystore = os.environ.get("COLLAB_DEPLOYER_KEYSTORE")
    if keystore:
        file = os.environ.get("COLLAB_PASSPHRASE_FILE")
        passphrase = resolve_passphrase(file=Path(file) if file else None, env="COLLAB_PASSPHRASE", prompt=True)
        return load_account(Path(keystore), passphrase)
    if not networks.provider.network.is_local:
        raise click.UsageError("set COLLAB_DEPLOYER_KEYSTORE and COLLAB_PASSPHRASE_FILE to deploy on a live network")
    return Account.from_key(accounts.test_accounts[0].private_key)


def _address(variable: str) -> str | None:
    value = os.environ.get(variable)
    return Web3.to_checksum_address(value) if value else None


def _institution(deployer: LocalAccount) -> OrgRegistration:
    treasury, key = _address("COLLAB_INSTITUTION_TREASURY"), os.environ.get("COLLAB_INSTITUTION_KEY")
    if (treasury is None or key is None) and not networks.provider.network.is_local:
        raise click.UsageError("set COLLAB_INSTITUTION_TREASURY and COLLAB_INSTITUTION_KEY to deploy on a live network")
    return OrgRegistration(
        org_id=int(os.environ.get("COLLAB_INSTITUTION_ORG", str(INSTITUTION_ORG))),
        name=os.environ.get("COLLAB_INSTITUTION_NAME", "Payment institution"),
        treasury=treasury or deployer.address,  # type: ignore[arg-type]
        encryption_key=bytes.fromhex(key.removeprefix("0x")) if key else EncryptionKey().public_key,
    )


def _manifest_path(force: bool) -> Path:
    """Where the manifest goes; a file there is refused (unless ``force``) before anything is deployed."""
    path = Path("deployments") / f"{networks.provider.network.name}.json"
    try:
        if not force:
            refuse_existing(path)
    except ManifestExists as error:
        raise click.UsageError(f"{error}: set COLLAB_DEPLOY_FORCE=1 to replace it") from None
    return path


def main() -> None:
    force = os.environ.get("COLLAB_DEPLOY_FORCE") == "1"
    path = _manifest_path(force)
    w3 = connect(networks.provider.http_uri)  # type: ignore[attr-defined]
    deployer = _deployer()
    deployment = deploy(
        Transactor(w3, deployer),
        institution=_institution(deployer),
        asset=_address("COLLAB_ASSET"),  # type: ignore[arg-type]
        asset_admin=_address("COLLAB_ASSET_ADMIN"),  # type: ignore[arg-type]
        governance=_address("COLLAB_GOVERNANCE"),  # type: ignore[arg-type]
    )
    deployment.manifest.save(path, overwrite=force)
    click.echo(f"registry {deployment.manifest.registry}, escrow {deployment.manifest.escrow}, manifest {path}")
