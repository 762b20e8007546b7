"""Deploying the contracts, wiring them together and writing the deployment manifest.

The contracts are built for the EVM the chain runs: the compiler's default (Cancun's opcodes and later) where the
chain executes them, ``paris`` where it does not (pre-Shanghai consortium chains: geth Clique, GoQuorum, older
Besu), unless ``COLLAB_EVM_VERSION`` or the caller says which (:func:`chain_evm_version`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3RPCError

from collab_py.chain.build import default_evm_version, load_artifact, load_artifact_for
from collab_py.chain.manifest import Manifest
from collab_py.chain.transactor import Transactor, rpc_request

#: How long the institution alone may release a requested payment before the parties may settle without it (S6.5).
RELEASE_WINDOW = 3 * 24 * 3600
#: The shortest payment-key lifetime a deployment accepts: time for the payee to redeem.
MIN_KEY_LIFETIME = 3600
#: ``evm_version`` of :func:`deploy`: ``COLLAB_EVM_VERSION`` if set, else what the chain runs.
AUTO_EVM = "auto"
#: The EVM version for chains that cannot run the compiler default's opcodes (every chain from London on runs it).
LEGACY_EVM = "paris"
#: Init code that runs MCOPY (Cancun) and PUSH0 (Shanghai), then returns nothing: PUSH0 x3, MCOPY, PUSH0 x2, RETURN.
_CANCUN_PROBE = "0x5f5f5f5e5f5ff3"
#: What nodes answer when the probe's opcodes are unknown to their EVM (geth, Besu, Nethermind, anvil).
_UNKNOWN_OPCODE = ("invalid opcode", "opcode", "invalid_operation", "undefined instruction", "notactivated")


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
    _decimals: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def attach(cls, w3: Web3, manifest: Manifest) -> Deployment:
        """Binds the contracts of ``manifest`` on ``w3`` after checking the chain id and that its registry and escrow
        hold code (:class:`~collab_py.chain.manifest.ContractNotDeployed`)."""
        manifest.check_chain(w3)
        manifest.check_code(w3)
        return cls(
            w3=w3,
            manifest=manifest,
            registry=contract_at(w3, "CollabRegistry", manifest.registry),
            escrow=contract_at(w3, "PaymentEscrow", manifest.escrow),
            asset=contract_at(w3, "DepositToken", manifest.asset),
        )

    @functools.cached_property
    def key_lifetimes(self) -> tuple[int, int]:
        """The shortest and longest life of a payment key, in seconds (the escrow's immutable bounds), read once."""
        escrow = self.escrow.functions
        return int(escrow.minKeyLifetime().call()), int(escrow.MAX_KEY_LIFETIME().call())

    def decimals(self, asset: str | None = None) -> int:
        """Decimals of the ERC-20 ``asset`` (by default the deployment's), read from the token once."""
        address = Web3.to_checksum_address(asset or self.manifest.asset)
        if address not in self._decimals:
            self._decimals[address] = int(contract_at(self.w3, "DepositToken", address).functions.decimals().call())
        return self._decimals[address]


def contract_at(w3: Web3, name: str, address: ChecksumAddress) -> Contract:
    """A web3 contract object for artifact ``name`` at ``address``."""
    return w3.eth.contract(address=address, abi=load_artifact(name).abi)


def chain_evm_version(w3: Web3) -> str | None:
    """The EVM version to compile for on the chain behind ``w3``: None (the compiler's default) when the chain runs
    Cancun's MCOPY and Shanghai's PUSH0 — probed with an ``eth_call`` of init code that uses them —, else
    :data:`LEGACY_EVM`. A node that answers the probe with another error is judged by its latest block: a Shanghai
    chain's blocks carry ``withdrawalsRoot``, a Cancun chain's ``blobGasUsed``."""
    try:
        rpc_request(w3, "eth_call", [{"data": _CANCUN_PROBE}, "latest"])
        return None
    except Web3RPCError as error:
        if any(text in str(error).lower() for text in _UNKNOWN_OPCODE):
            return LEGACY_EVM
    latest = rpc_request(w3, "eth_getBlockByNumber", ["latest", False])
    return None if isinstance(latest, dict) and "blobGasUsed" in latest else LEGACY_EVM


def resolve_evm_version(w3: Web3, evm_version: str | None) -> str | None:
    """``evm_version``, or for :data:`AUTO_EVM` the configured one (``COLLAB_EVM_VERSION``) else the chain's."""
    if evm_version != AUTO_EVM:
        return evm_version
    return default_evm_version() or chain_evm_version(w3)


def deploy_contract(
    deployer: Transactor, name: str, *args: object, evm_version: str | None = AUTO_EVM
) -> tuple[Contract, int]:
    """Deploys artifact ``name`` with constructor ``args``, compiled for ``evm_version`` (see
    :func:`resolve_evm_version`); returns the contract and its deployment block."""
    artifact = load_artifact_for(name, resolve_evm_version(deployer.w3, evm_version))
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
    evm_version: str | None = AUTO_EVM,
) -> Deployment:
    """Deploys the registry and the escrow, connects them, and returns the bound deployment.

    The payment institution that operates the escrow is registered first (the registry connects only an escrow
    operated by a registered payment institution). ``asset`` is an existing ERC-20 to pay with; without one, a
    :class:`DepositToken` administered by ``asset_admin`` (default: the deployer) is deployed; either is accepted as
    the asset of new contracts. ``governance`` receives the registry's ownership through the two-step transfer: it must
    call ``acceptOwnership`` (e.g. from a multisig) before it governs. The contracts are compiled for ``evm_version``
    (default: ``COLLAB_EVM_VERSION``, else what the chain runs; see :func:`chain_evm_version`).
    """
    evm = resolve_evm_version(deployer.w3, evm_version)
    if asset is None:
        token, _ = deploy_contract(
            deployer, "DepositToken", asset_name, asset_symbol, asset_admin or deployer.address, evm_version=evm
        )
        asset = token.address
    registry, deployment_block = deploy_contract(deployer, "CollabRegistry", deployer.address, evm_version=evm)
    deployer.transact(
        registry.functions.registerOrg(
            institution.org_id, institution.name, 2, institution.treasury, institution.encryption_key
        )
    )
    escrow, _ = deploy_contract(
        deployer, "PaymentEscrow", registry.address, institution.org_id, release_window, min_key_lifetime,
        evm_version=evm,
    )  # fmt: skip
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
        evm_version=load_artifact_for("CollabRegistry", evm).evm_version,
    )
    return Deployment.attach(deployer.w3, manifest)
