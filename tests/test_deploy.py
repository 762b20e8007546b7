"""Deployment, its manifest (S1.3), the `collab demo` main job and the Ape workflow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from collab_py.chain import errors
from collab_py.chain.deploy import MIN_KEY_LIFETIME, RELEASE_WINDOW, Deployment, deploy, deploy_contract
from collab_py.chain.enums import OrgKind
from collab_py.chain.manifest import (
    ChainMismatch,
    ContractNotDeployed,
    Manifest,
    ManifestError,
    ManifestExists,
    NodeBehind,
)
from collab_py.chain.toolchain import ensure_solc
from collab_py.chain.transactor import Transactor, connect
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import Party, fund_on_dev_node
from support import World

ROOT = Path(__file__).resolve().parents[1]


def test_manifest_round_trip(world: World, tmp_path: Path) -> None:
    path = world.deployment.manifest.save(tmp_path / "deployments" / "local.json")
    loaded = Manifest.load(path)
    assert loaded == world.deployment.manifest
    assert loaded.deployment_block <= world.w3.eth.block_number
    assert Deployment.attach(world.w3, loaded).registry.functions.escrow().call() == loaded.escrow


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "invalid deployment manifest"),
        ('{"chain_id": 1}', "invalid deployment manifest"),
    ],
)
def test_bad_manifest_is_a_named_error(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=reason):
        Manifest.load(path)
    with pytest.raises(ManifestError, match="no deployment manifest"):
        Manifest.load(tmp_path / "missing.json")


def test_bad_address_in_manifest_is_refused(world: World, tmp_path: Path) -> None:
    data = json.loads(world.deployment.manifest.model_dump_json())
    data["escrow"] = "0x1234"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="not an address"):
        Manifest.load(path)


def test_manifest_for_another_chain_is_refused(world: World) -> None:
    other = world.deployment.manifest.model_copy(update={"chain_id": 5})
    with pytest.raises(ChainMismatch, match="manifest is for chain 5, node is on chain 31337"):
        Deployment.attach(world.w3, other)


@pytest.mark.parametrize("contract", ["registry", "escrow"])
def test_manifest_whose_contracts_hold_no_code_is_refused(world: World, contract: str) -> None:
    nothing = world.a.treasury.address  # an account: no code
    stale = world.deployment.manifest.model_copy(update={contract: nothing})
    expected = f"no contract at the manifest's {contract} {nothing} on chain 31337: a manifest of an older chain or"
    with pytest.raises(ContractNotDeployed, match=expected):
        Deployment.attach(world.w3, stale)


def test_a_node_below_the_deployment_block_is_told_from_a_stale_manifest(world: World) -> None:
    """A node still syncing has no code at the manifest's addresses yet: it is behind, not the manifest wrong."""
    head = world.w3.eth.block_number
    ahead = world.deployment.manifest.model_copy(
        update={"registry": world.a.treasury.address, "deployment_block": head + 1_000}
    )
    with pytest.raises(NodeBehind, match=f"the node is at block {head}, below the manifest's deployment block"):
        Deployment.attach(world.w3, ahead)


def test_saving_over_a_manifest_is_refused_unless_overwriting(world: World, tmp_path: Path) -> None:
    """A manifest written meanwhile (another deployment's) is kept; this deployment's goes beside it, not lost."""
    path = world.deployment.manifest.save(tmp_path / "local.json")
    other = world.deployment.manifest.model_copy(update={"institution_org": 901})
    beside = tmp_path / f"local.{other.registry[2:10].lower()}.json"
    refused = f"a deployment manifest is already at {path}: refusing to overwrite it; this deployment's manifest is "
    with pytest.raises(ManifestExists, match=re.escape(f"{refused}written to {beside}")):
        other.save(path)
    assert Manifest.load(path) == world.deployment.manifest
    assert Manifest.load(beside) == other
    assert Manifest.load(other.save(path, overwrite=True)) == other


def test_deploy_with_an_existing_asset_and_a_governance_multisig(world: World) -> None:
    deployer = Account.create()
    fund_on_dev_node(world.w3, [deployer])
    multisig = Account.create().address
    bank = Party.generate(900, "Other Treasury Bank", OrgKind.PAYMENT_INSTITUTION)
    deployment = deploy(
        Transactor(world.w3, deployer),
        institution=bank.registration(),
        asset=world.deployment.asset.address,
        governance=multisig,
        release_window=7 * 24 * 3600,
    )
    registry = deployment.registry.functions
    assert deployment.manifest.asset == world.deployment.asset.address
    assert deployment.manifest.governance == multisig
    assert registry.owner().call() == deployer.address
    assert registry.pendingOwner().call() == multisig
    assert deployment.escrow.functions.registry().call() == deployment.registry.address
    assert deployment.escrow.functions.institutionOrg().call() == 900
    assert deployment.escrow.functions.releaseWindow().call() == 7 * 24 * 3600
    assert deployment.escrow.functions.minKeyLifetime().call() == MIN_KEY_LIFETIME
    (treasury, kind, active), name = registry.orgOf(900).call()
    assert (treasury, kind, active, name) == (bank.treasury.address, OrgKind.PAYMENT_INSTITUTION, True, bank.name)
    assert registry.isAssetAccepted(world.deployment.asset.address).call() is True


@pytest.mark.parametrize(("window", "lifetime"), [(3599, 3600), (90 * 24 * 3600 + 1, 3600), (3600, 0), (3600, 86401)])
def test_escrow_windows_out_of_bounds_are_refused(world: World, window: int, lifetime: int) -> None:
    """A release window of 1 hour to 90 days, a shortest key lifetime of 1 second to 24 hours."""
    with pytest.raises(errors.InvalidWindow):
        deploy_contract(world.admin, "PaymentEscrow", world.deployment.registry.address, 900, window, lifetime)


def test_registry_connects_only_an_escrow_that_serves_it(world: World) -> None:
    """setEscrow refuses an account without code, an escrow of another registry, and one whose institution is not a
    registered payment institution."""
    registry, _ = deploy_contract(world.admin, "CollabRegistry", world.admin.address)
    set_escrow = registry.functions.setEscrow
    with pytest.raises(errors.InvalidEscrow):
        world.admin.transact(set_escrow(Account.create().address))
    with pytest.raises(errors.InvalidEscrow):
        world.admin.transact(set_escrow(world.deployment.escrow.address))  # it serves the sandbox's registry
    own_escrow, _ = deploy_contract(world.admin, "PaymentEscrow", registry.address, 900, RELEASE_WINDOW, 3600)
    with pytest.raises(errors.InvalidEscrow):
        world.admin.transact(set_escrow(own_escrow.address))  # org 900 is not registered in this registry
    bank = Party.generate(900, "Bank", OrgKind.PAYMENT_INSTITUTION)
    key = bank.encryption_key.public_key
    world.admin.transact(
        registry.functions.registerOrg(900, bank.name, OrgKind.PAYMENT_INSTITUTION, bank.treasury.address, key)
    )
    world.admin.transact(set_escrow(own_escrow.address))
    assert registry.functions.escrow().call() == own_escrow.address
    with pytest.raises(errors.InvalidTreasury):  # nor may a treasury be the escrow, where funds would be stranded
        world.admin.transact(registry.functions.setTreasury(900, own_escrow.address))


@pytest.mark.slow
def test_collab_demo_runs_the_flow_on_its_own_anvil(tmp_path: Path) -> None:
    manifest = tmp_path / "demo.json"
    result = subprocess.run(
        [sys.executable, "-m", "collab_py.cli", "demo", "--manifest-out", str(manifest)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("proposeContract", "signContract", "submitStageResult", "confirmStageResult",
                 "approveBusinessSettlement", "issuePaymentVoucher", "requestPayment", "presentPaymentKey",
                 "confirmAssignment", "release", "reclaim"):  # fmt: skip
        assert step in result.stdout
    balances = result.stdout[result.stdout.index("Balances") :]
    assert "Party B treasury │   600,000.00" in balances  # the first payment, redeemed by Party B
    assert "Party C treasury │   400,000.00" in balances  # the second, assigned to Party C
    assert "Party A treasury │ 9,000,000.00" in balances  # the expired key's funds came back to Party A
    assert "escrow           │         0.00" in balances
    assert "Reconciliation (S8.4): clean" in result.stdout
    assert result.stdout.count("VERIFIED") == 2  # Party A verified both of Party B's e-invoices
    assert "│ ASSIGNMENT │ HT-DEMO-001 │   2 │ 1002 Bank - tokenised deposits" in result.stdout  # Party C's books
    assert Manifest.load(manifest).chain_id == 31337


def test_collab_demo_error_is_one_readable_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collab_py.cli", "demo", "--rpc-url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith("error: NodeUnreachable: no Ethereum node answers at http://127.0.0.1:9")


@pytest.mark.slow
def test_ape_compile_and_ape_run_deploy_and_demo(tmp_path: Path) -> None:
    ape = shutil.which("ape", path=str(Path(sys.executable).parent))
    assert ape is not None, "ape is installed with the project's [ape] extra"
    env = {
        **os.environ,
        "PATH": f"{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}",
        "APE_DATA_FOLDER": str(tmp_path),
        "SOLCX_BINARY_PATH": str(ensure_solc().parent),  # this checkout's compiler, as the Makefile exports it
    }

    def run(*args: str) -> str:
        done = subprocess.run([ape, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run("compile")
    run("run", "deploy", "--network", "ethereum:local:foundry")
    manifest = Manifest.load(ROOT / "deployments" / "local.json")
    assert manifest.chain_id == 31337
    (ROOT / "deployments" / "local.json").unlink()
    demo = run("run", "demo", "--network", "ethereum:local:foundry")
    assert "confirmAssignment" in demo
    assert "Party C treasury         400,000.00" in demo


def test_anvil_is_reachable_through_connect(node: AnvilNode) -> None:
    assert connect(node.rpc_url).eth.chain_id == 31337
