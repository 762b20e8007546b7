"""``ape run deploy``: deploy collab on the selected Ape network and write its manifest.

Uses the same code as ``collab_py.chain.deploy.deploy``. The deployer is Ape's first test account on a local network, or
the encrypted JSON keystore in ``COLLAB_DEPLOYER_KEYSTORE`` (passphrase: the file
``COLLAB_PASSPHRASE_FILE``, the variable ``COLLAB_PASSPHRASE`` or a prompt).
Optional: ``COLLAB_INSTITUTION_ORG`` (default 900), ``COLLAB_ASSET`` (an existing ERC-20; otherwise a DepositToken is
deployed), ``COLLAB_INSTITUTION`` (its minter), ``COLLAB_GOVERNANCE`` (a multisig that must then accept ownership).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from ape import accounts, networks
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from collab_py.chain.deploy import deploy
from collab_py.chain.transactor import Transactor, connect
from collab_py.devnet.sandbox import INSTITUTION_ORG
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


def main() -> None:
    w3 = connect(networks.provider.http_uri)  # type: ignore[attr-defined]
    deployment = deploy(
        Transactor(w3, _deployer()),
        institution_org=int(os.environ.get("COLLAB_INSTITUTION_ORG", str(INSTITUTION_ORG))),
        institution=_address("COLLAB_INSTITUTION"),  # type: ignore[arg-type]
        asset=_address("COLLAB_ASSET"),  # type: ignore[arg-type]
        governance=_address("COLLAB_GOVERNANCE"),  # type: ignore[arg-type]
    )
    path = deployment.manifest.save(Path("deployments") / f"{networks.provider.network.name}.json")
    click.echo(f"registry {deployment.manifest.registry}, escrow {deployment.manifest.escrow}, manifest {path}")
