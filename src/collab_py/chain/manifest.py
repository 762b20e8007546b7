"""The deployment manifest (S1.3): chain id, contract addresses and deployment block, loaded by every service."""

from __future__ import annotations

import json
from pathlib import Path

from eth_typing import ChecksumAddress
from pydantic import BaseModel, ConfigDict, Field, field_validator
from web3 import Web3

from collab_py.chain.transactor import rpc_batch
from collab_py.exceptions import CollabError
from collab_py.files import MAX_SMALL_FILE_BYTES, read_bounded


class ManifestError(CollabError):
    """The manifest is missing, malformed, or describes another chain than the one connected."""


class ChainMismatch(ManifestError):
    """The node is on another chain than the manifest's."""


class ContractNotDeployed(ManifestError):
    """A contract address of the manifest holds no code on the node: a manifest of an older chain (re-created with
    the same chain id) or of another deployment."""


class NodeBehind(ManifestError):
    """The node has not reached the manifest's deployment block yet (still syncing): its contracts are not there."""


class ManifestExists(ManifestError):
    """Refused to overwrite an existing manifest (a deployment would lose track of another)."""


def refuse_existing(path: Path) -> None:
    """Raises :class:`ManifestExists` if a file is at ``path``: checked before deploying, not after."""
    if path.exists():
        raise _exists(path)


def _exists(path: Path) -> ManifestExists:
    return ManifestExists(f"a deployment manifest is already at {path}: refusing to overwrite it")


class Manifest(BaseModel):
    """Where a collab deployment lives. Written by the deployer, read by every service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chain_id: int = Field(gt=0)
    registry: ChecksumAddress
    escrow: ChecksumAddress
    asset: ChecksumAddress
    institution_org: int = Field(gt=0, lt=2**32)
    deployment_block: int = Field(ge=0)
    governance: ChecksumAddress
    evm_version: str | None = None

    @field_validator("registry", "escrow", "asset", "governance", mode="before")
    @classmethod
    def _checksum(cls, value: str) -> ChecksumAddress:
        if not isinstance(value, str) or not Web3.is_address(value):
            raise ValueError(f"not an address: {value!r}")
        return Web3.to_checksum_address(value)

    def save(self, path: Path, *, overwrite: bool = False) -> Path:
        """Writes the manifest as JSON to ``path`` (parents created). If a file is there (unless ``overwrite``), for
        example one written by another deployment while this one was deployed, it is left as it is and this
        manifest goes beside it, named by its registry, so that a deployment is never lost:
        :class:`ManifestExists` names both."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._write(path, "w" if overwrite else "x")
        except FileExistsError:
            beside = path.with_name(f"{path.stem}.{self.registry[2:10].lower()}{path.suffix}")
            self._write(beside, "w")  # named by this deployment's registry: only this deployment writes it
            raise ManifestExists(f"{_exists(path)}; this deployment's manifest is written to {beside}") from None
        return path

    def _write(self, path: Path, mode: str) -> None:
        with path.open(mode) as file:
            file.write(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Reads a manifest, raising :class:`ManifestError` with the reason when it cannot."""
        try:
            return cls.model_validate(json.loads(read_bounded(path, MAX_SMALL_FILE_BYTES, "manifest")))
        except FileNotFoundError:
            raise ManifestError(f"no deployment manifest at {path}") from None
        except OSError as error:  # a folder, no permission
            raise ManifestError(f"cannot read deployment manifest {path}: {error.strerror}") from None
        except RecursionError:
            raise ManifestError(f"invalid deployment manifest {path}: JSON nested too deeply") from None
        except (ValueError, TypeError) as error:
            raise ManifestError(f"invalid deployment manifest {path}: {error}") from None

    def check_chain(self, w3: Web3) -> None:
        """Refuses to work against a node of another chain than the manifest's."""
        actual = w3.eth.chain_id
        if actual != self.chain_id:
            raise ChainMismatch(f"manifest is for chain {self.chain_id}, node is on chain {actual}")

    def check_code(self, w3: Web3) -> None:
        """Refuses a manifest whose registry or escrow holds no code on the node (one JSON-RPC batch):
        :class:`NodeBehind` when the node is still below the deployment block, else :class:`ContractNotDeployed`."""
        contracts = {"registry": self.registry, "escrow": self.escrow}
        codes = rpc_batch(w3, "eth_getCode", [[address, "latest"] for address in contracts.values()])
        for (name, address), code in zip(contracts.items(), codes, strict=True):
            if code in (None, "", "0x"):
                head = int(w3.eth.block_number)
                if head < self.deployment_block:
                    raise NodeBehind(
                        f"the node is at block {head}, below the manifest's deployment block {self.deployment_block}:"
                        " it has not synced the deployment yet"
                    )
                raise ContractNotDeployed(
                    f"no contract at the manifest's {name} {address} on chain {self.chain_id}: a manifest of an "
                    "older chain or of another deployment?"
                )
