"""``collab dev``, ``collab token``, ``collab treasury`` and ``collab invoices`` on anvil: a node of your own,
ether for gas, a consortium in one command, deposits and the escrow's allowance, and each refusal named with the
cause as its hint (no ether, no allowance, not the minter)."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from collab_py.devnet.node import AnvilNode, free_port, rpc
from collab_py.domain.keys import Keyring
from support import World
from test_cli import PASSPHRASE, Cli, applied, cli, settled

__all__ = ["cli"]  # the fixture, imported to be used here

pytestmark = pytest.mark.usefixtures("cheap_keystores")


def cheap_ring(cli: Cli, who: str) -> Keyring:
    """The keystore folder ``who`` uses, writing cheap keystores."""
    return Keyring(Path(cli.env[who]["COLLAB_KEYSTORE_DIR"]), kdf="pbkdf2", iterations=2)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_dev_up_serves_a_node_until_interrupted(stop: signal.Signals) -> None:
    port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "collab_py.cli", "dev", "up", "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert up.stdout is not None
    assert up.stdout.readline().startswith(f"anvil listening on http://127.0.0.1:{port}")
    assert up.stdout.readline().strip() == f"export COLLAB_RPC_URL=http://127.0.0.1:{port}"
    assert int(rpc(f"http://127.0.0.1:{port}", "eth_chainId"), 16) == 31337
    up.send_signal(stop)
    assert up.wait(15) == 0  # also when started in the background of a script (SIGINT inherited ignored)
    with pytest.raises(urllib.error.URLError, match="refused"):
        rpc(f"http://127.0.0.1:{port}", "eth_chainId", timeout=1)


def test_dev_up_refuses_a_port_in_use(cli: Cli, node: AnvilNode) -> None:
    assert cli.refused("a", "dev", "up", "--port", str(node.port)).startswith("error: NodeStartError: anvil exited")


def test_dev_fund_gives_ether_to_addresses_or_to_the_keystore_folder(cli: Cli, world: World) -> None:
    stranger = Account.create().address
    assert cli("a", "dev", "fund", stranger, "--ether", "7") == [{"account": stranger, "ether": 7}]
    assert world.w3.eth.get_balance(stranger) == Web3.to_wei(7, "ether")
    funded = cli("gov", "dev", "fund")
    assert [row["account"] for row in funded] == [world.admin.address]
    assert world.w3.eth.get_balance(world.admin.address) == Web3.to_wei(1000, "ether")


def test_dev_fund_refusals_are_named(cli: Cli, tmp_path: Path) -> None:
    assert cli.refused("a", "dev", "fund", "0x1234").startswith("error: InvalidInput: malformed address")
    empty = cli.refused("a", "dev", "fund", COLLAB_KEYSTORE_DIR=str(tmp_path / "nothing"))
    assert empty.startswith("error: CollabError: no accounts to fund")


def test_bootstrap_makes_a_consortium_each_org_can_act_in(cli: Cli, world: World, tmp_path: Path) -> None:
    existing = cli.env["gov"]["COLLAB_MANIFEST"]
    refused = cli.refused("gov", "dev", "bootstrap", "--out", str(tmp_path / "orgs"))
    assert refused.startswith(f"error: ManifestExists: a deployment manifest is already at {existing}: refusing")
    assert "hint: pass --force to replace it" in refused
    assert not (tmp_path / "orgs").exists()  # refused before any keystore is written
    manifest = str(tmp_path / "consortium.json")
    shown = cli("gov", "dev", "bootstrap", "--orgs", "2", "--out", str(tmp_path / "orgs"), COLLAB_MANIFEST=manifest)
    assert shown["manifest"] == manifest
    assert (shown["orgs"], shown["institution"]) == ([1, 2], 900)
    settings = {name: Path(path) for name, path in shown["settings_files"].items()}
    assert set(settings) == {"governance", "1", "2", "900"}
    env = dict(line.removeprefix("export ").split("=", 1) for line in settings["1"].read_text().splitlines())
    assert env["COLLAB_KEYSTORE_DIR"] == str(tmp_path / "orgs" / "org-1" / "keys")
    assert (env["COLLAB_ORG_ID"], env["COLLAB_CONFIRMATIONS"]) == ("1", "0")
    assert Keyring(Path(env["COLLAB_KEYSTORE_DIR"])).names() == ["business", "encryption", "finance", "treasury"]
    assert Keyring(tmp_path / "orgs" / "bank" / "keys").names() == ["encryption", "operator", "treasury"]
    as_org = {key: value for key, value in env.items() if key != "COLLAB_CONFIRMATIONS"}
    finance = Keyring(Path(env["COLLAB_KEYSTORE_DIR"])).account("finance", PASSPHRASE).address
    member = cli("a", "org", "member", finance, **as_org)
    assert (member["org_id"], member["department"]) == (1, "FINANCE")
    bank = {**as_org, "COLLAB_KEYSTORE_DIR": str(tmp_path / "orgs" / "bank" / "keys")}
    assert cli("a", "token", "mint", "1", "10", **bank)["balance"] == "10.00"
    assert cli("a", "treasury", "approve", **as_org)["escrow_allowance"] == "unlimited"
    again = cli.refused("gov", "dev", "bootstrap", "--out", str(tmp_path / "orgs"))
    assert again.startswith("error: FolderNotEmpty:")


def test_bootstrap_needs_a_passphrase(cli: Cli, tmp_path: Path) -> None:
    fresh = str(tmp_path / "consortium.json")
    refused = cli.refused(
        "gov", "dev", "bootstrap", "--out", str(tmp_path / "orgs"), COLLAB_PASSPHRASE="", COLLAB_MANIFEST=fresh
    )
    assert refused.startswith("error: EmptyPassphrase")
    assert not (tmp_path / "orgs").exists()


def test_token_mint_credits_an_org_treasury(cli: Cli, world: World) -> None:
    minted = cli("bank", "token", "mint", str(world.b.org_id), "1,250.75")
    assert (minted["treasury"], minted["minted"], minted["balance"]) == (world.b.treasury.address, "1250.75", "1250.75")
    assert cli("a", "treasury", "show", str(world.b.org_id))["balance"] == "1250.75"


def test_token_mint_refusals_name_the_cause(cli: Cli, world: World) -> None:
    not_minter = cli.refused("a", "token", "mint", str(world.b.org_id), "5", "--key", "finance")
    assert not_minter.startswith("error: AccessControlUnauthorizedAccount")
    assert "minting takes the asset admin's key" in not_minter
    assert cli.refused("bank", "token", "mint", "2", "1.001").startswith("error: InvalidAmount: invalid amount")
    assert cli.refused("bank", "token", "mint", "2", "-5").startswith("error: InvalidAmount: invalid amount")
    assert "UnknownOrgError" in cli.refused("bank", "token", "mint", "77", "5")


def test_issue_without_allowance_names_the_treasury_approval(cli: Cli, world: World) -> None:
    cheap_ring(cli, "a").import_account("treasury", world.a.treasury.key, PASSPHRASE)
    assert cli("a", "treasury", "approve", "100")["escrow_allowance"] == "100.00"
    settled(cli, world)
    seq = applied(cli)
    refused = cli.refused("a", "payment", "issue", "CLI-1", str(seq))
    assert refused.startswith("error: ERC20InsufficientAllowance")
    assert "the treasury has not approved the escrow" in refused
    assert cli("a", "treasury", "approve")["escrow_allowance"] == "unlimited"
    assert cli("a", "payment", "issue", "CLI-1", str(seq))["status"] == "FROZEN"


def test_an_account_without_ether_is_named(cli: Cli, world: World) -> None:
    poor = cheap_ring(cli, "c").create_account("treasury", PASSPHRASE)
    refused = cli.refused("c", "treasury", "approve")
    assert refused.startswith(f"error: InsufficientFunds: {poor.address} has no ether")
    assert "hint: this account has no ether: on a development node `collab dev fund ADDRESS`" in refused
    assert world.deployment.asset.functions.allowance(poor.address, world.deployment.escrow.address).call() == 0


def test_invoices_lists_the_ledger_in_currency_units(cli: Cli) -> None:
    assert cli("a", "invoices") == []
    assert cli.refused("a", "invoices", COLLAB_MANIFEST="/nonexistent.json").startswith("error: ManifestError")
