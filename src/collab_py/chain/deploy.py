"""Deploying the contracts, wiring them together and writing the deployment manifest."""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from collab_py.chain.build import load_artifact
from collab_py.chain.manifest import Manifest
from collab_py.chain.transactor import Transactor

#: How long the institution alone may release a requested payment before the parties may settle without it (S6.5).
RELEASE_WINDOW = 3 * 24 * 3600
#: The shortest payment-key lifetime a deployment accepts: time for the payee to redeem.
MIN_KEY_LIFETIME = 3600


@dataclass(frozen=True)
class OrgRegistration:
    """What governance registers for an org: id, name, treasury and encryption public key."""

    org_id: int
    name: str
    treasury: ChecksumAddress
    encryption_key: bytes


@dataclass(frozen=True)
class Deployment:
    """Bound web3 contract objects of one deployment."""

    w3: Web3
    manifest: Manifest
    registry: Contract
    escrow: Contract
    asset: Contract

    @classmethod
    def attach(cls, w3: Web3, manifest: Manifest) -> Deployment:
        """Binds the contracts of ``manifest`` on ``w3`` after checking the chain id."""
        manifest.check_chain(w3)
        return cls(
            w3=w3,
            manifest=manifest,
            registry=contract_at(w3, "CollabRegistry", manifest.registry),
            escrow=contract_at(w3, "PaymentEscrow", manifest.escrow),
            asset=contract_at(w3, "DepositToken", manifest.asset),
        )


def contract_at(w3: Web3, name: str, address: ChecksumAddress) -> Contract:
    """A web3 contract object for artifact ``name`` at ``address``."""
    return w3.eth.contract(address=address, abi=load_artifact(name).abi)


def deploy_contract(deployer: Transactor, name: str, *args: object) -> tuple[Contract, int]:
    """Deploys artifact ``name`` with constructor ``args``; returns the contract and its deployment block."""
    artifact = load_artifact(name)
    factory = deployer.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = deployer.transact(factory.constructor(*args))
    address = receipt["contractAddress"]
    assert address is not None, f"{name} deployment returned no address"
    return contract_at(deployer.w3, name, address), receipt["blockNumber"]


def deploy(
    deployer: Transactor,
    *,
    institution: OrgRegistration,
    asset: ChecksumAddress | None = None,
    asset_admin: ChecksumAddress | None = None,
    governance: ChecksumAddress | None = None,
    release_window: int = RELEASE_WINDOW,
    min_key_lifetime: int = MIN_KEY_LIFETIME,
    asset_name: str = "Tokenised Deposit",
    asset_symbol: str = "TDEP",
) -> Deployment:
    """Deploys the registry and the escrow, connects them, and returns the bound deployment.

    The payment institution that operates the escrow is registered first (the registry connects only an escrow
    operated by a registered payment institution). ``asset`` is an existing ERC-20 to pay with; without one, a
    :class:`DepositToken` administered by ``asset_admin`` (default: the deployer) is deployed; either is accepted as
    the asset of new contracts. ``governance`` receives the registry's ownership through the two-step transfer: it must
    call ``acceptOwnership`` (e.g. from a multisig) before it governs.
    """
    if asset is None:
        token, _ = deploy_contract(deployer, "DepositToken", asset_name, asset_symbol, asset_admin or deployer.address)
        asset = token.address
    registry, deployment_block = deploy_contract(deployer, "CollabRegistry", deployer.address)
    deployer.transact(
        registry.functions.registerOrg(
            institution.org_id, institution.name, 2, institution.treasury, institution.encryption_key
        )
    )
    escrow, _ = deploy_contract(
        deployer, "PaymentEscrow", registry.address, institution.org_id, release_window, min_key_lifetime
    )
    deployer.transact(registry.functions.setEscrow(escrow.address))
    deployer.transact(registry.functions.setAssetAccepted(asset, True))
    if governance is not None and governance != deployer.address:
        deployer.transact(registry.functions.transferOwnership(governance))
    manifest = Manifest(
        chain_id=deployer.w3.eth.chain_id,
        registry=registry.address,
        escrow=escrow.address,
        asset=asset,
        institution_org=institution.org_id,
        deployment_block=deployment_block,
        governance=governance or deployer.address,
        evm_version=load_artifact("CollabRegistry").evm_version,
    )
    return Deployment.attach(deployer.w3, manifest)
