"""Compiling the contracts through py-solc-x's standard-JSON interface, with artifacts cached in ``build/``.

``python -m collab_py.chain.build [--evm-version paris] [--force]`` compiles and prints each contract's deployed size.
The EVM version is a setting: the argument, else ``COLLAB_EVM_VERSION``, else the compiler's default. Each EVM
version has its own artifact folder (``build/contracts`` for the default, ``build/contracts-paris`` ...).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from collab_py.chain.toolchain import SOLC_VERSION, ensure_solc
from collab_py.chain.toolchain import project_root as project_root  # where it was first defined
from collab_py.exceptions import CollabError

#: EIP-170: the largest deployed contract most chains accept.
MAX_CODE_SIZE = 24_576
OPTIMIZER_RUNS = 200
REMAPPINGS = ["@openzeppelin/=node_modules/@openzeppelin/"]


class CompilationError(CollabError):
    """The compiler reported errors; the message holds them, formatted."""


@dataclass(frozen=True)
class Artifact:
    """What deployment and clients need of one compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    storage_layout: dict[str, Any]
    source_path: str
    evm_version: str | None

    @property
    def deployed_size(self) -> int:
        """Size of the deployed code in bytes."""
        return (len(self.deployed_bytecode) - 2) // 2


def default_evm_version() -> str | None:
    """The EVM version from ``COLLAB_EVM_VERSION`` (None: the compiler's default)."""
    return os.environ.get("COLLAB_EVM_VERSION") or None


def artifacts_dir(root: Path, evm_version: str | None) -> Path:
    """Where the artifacts for ``evm_version`` live."""
    return root / "build" / ("contracts" if evm_version is None else f"contracts-{evm_version}")


def _settings(evm_version: str | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "viaIR": True,
        "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
        "remappings": REMAPPINGS,
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"]}},
    }
    if evm_version is not None:
        settings["evmVersion"] = evm_version
    return settings


def source_files(root: Path) -> list[Path]:
    """``contracts/**/*.sol``, without hidden folders (Ape keeps copies of dependencies in ``contracts/.cache``)."""
    folder = root / "contracts"
    return [
        path
        for path in sorted(folder.rglob("*.sol"))
        if not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]


def _sources(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): path.read_text() for path in source_files(root)}


def _fingerprint(root: Path, sources: dict[str, str], settings: dict[str, Any]) -> str:
    """Hash of everything the output depends on: sources, settings, compiler and the locked npm packages."""
    digest = hashlib.sha256(json.dumps([SOLC_VERSION, settings, sources], sort_keys=True).encode())
    lockfile = root / "package-lock.json"
    if lockfile.is_file():
        digest.update(lockfile.read_bytes())
    return digest.hexdigest()


def compile_project(
    root: Path | None = None, *, evm_version: str | None = None, force: bool = False
) -> dict[str, Artifact]:
    """Compiles ``contracts/**/*.sol`` (or loads the cached artifacts when nothing changed)."""
    root = root or project_root()
    out = artifacts_dir(root, evm_version)
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers and tools compile one at a time
        return _compile_locked(root, out, evm_version, force)


def _compile_locked(root: Path, out: Path, evm_version: str | None, force: bool) -> dict[str, Artifact]:
    sources = _sources(root)
    settings = _settings(evm_version)
    fingerprint = _fingerprint(root, sources, settings)
    info = out / ".build-info"
    if not force and info.is_file() and json.loads(info.read_text()).get("fingerprint") == fingerprint:
        return {path.stem: _read(path) for path in sorted(out.glob("*.json"))}

    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": settings,
    }
    try:
        output = solcx.compile_standard(
            standard_input, solc_binary=ensure_solc(), base_path=str(root), allow_paths=[str(root)]
        )
    except SolcError as error:  # raised when the output holds errors
        raise CompilationError(_error_messages(error.stdout_data or "") or str(error)) from None

    artifacts: dict[str, Artifact] = {}
    for source_path, contracts in output["contracts"].items():
        if not source_path.startswith("contracts/"):
            continue
        for name, compiled in contracts.items():
            if name in artifacts:
                raise CompilationError(f"two contracts are named {name}: {artifacts[name].source_path}, {source_path}")
            artifacts[name] = Artifact(
                name=name,
                abi=compiled["abi"],
                bytecode="0x" + compiled["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + compiled["evm"]["deployedBytecode"]["object"],
                storage_layout=compiled.get("storageLayout") or {},
                source_path=source_path,
                evm_version=evm_version,
            )
    _write(out, artifacts, fingerprint, settings)
    return artifacts


def _error_messages(stdout: str) -> str:
    try:
        errors = json.loads(stdout).get("errors", [])
    except ValueError:
        return ""
    return "\n".join(e["formattedMessage"] for e in errors if e["severity"] == "error")


def _write(out: Path, artifacts: dict[str, Artifact], fingerprint: str, settings: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.json"):
        stale.unlink()
    for artifact in artifacts.values():
        data = {
            "contractName": artifact.name,
            "sourcePath": artifact.source_path,
            "compiler": {
                "version": SOLC_VERSION,
                "settings": {k: v for k, v in settings.items() if k != "outputSelection"},
            },
            "abi": artifact.abi,
            "bytecode": artifact.bytecode,
            "deployedBytecode": artifact.deployed_bytecode,
            "storageLayout": artifact.storage_layout,
        }
        (out / f"{artifact.name}.json").write_text(json.dumps(data, indent=1))
    (out / ".build-info").write_text(json.dumps({"fingerprint": fingerprint, "solc": SOLC_VERSION}))


def _read(path: Path) -> Artifact:
    data = json.loads(path.read_text())
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        storage_layout=data["storageLayout"],
        source_path=data["sourcePath"],
        evm_version=data["compiler"]["settings"].get("evmVersion"),
    )


@cache
def _project_artifacts(root: Path, evm_version: str | None) -> dict[str, Artifact]:
    return compile_project(root, evm_version=evm_version)


def load_artifact(name: str, root: Path | None = None) -> Artifact:
    """The artifact of contract ``name`` for the configured EVM version, compiling first if needed."""
    artifacts = _project_artifacts(root or project_root(), default_evm_version())
    if name not in artifacts:
        raise CompilationError(f"no contract named {name} in contracts/")
    return artifacts[name]


def main(argv: list[str] | None = None) -> int:
    """Command line: compile and print each contract's deployed size."""
    parser = argparse.ArgumentParser(prog="python -m collab_py.chain.build", description=__doc__.split("\n")[0])
    parser.add_argument("--evm-version", default=default_evm_version(), help="e.g. paris, shanghai, cancun")
    parser.add_argument("--force", action="store_true", help="recompile even if nothing changed")
    args = parser.parse_args(argv)
    try:
        artifacts = compile_project(evm_version=args.evm_version, force=args.force)
    except CollabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    target = args.evm_version or "compiler default"
    print(f"compiled {len(artifacts)} contracts with solc {SOLC_VERSION} for EVM {target}")
    oversized = False
    for artifact in artifacts.values():
        if artifact.deployed_size:
            print(f"  {artifact.name:24s} {artifact.deployed_size:6d} bytes")
        if artifact.deployed_size > MAX_CODE_SIZE:
            oversized = True
            print(f"warning: {artifact.name} exceeds the EIP-170 limit of {MAX_CODE_SIZE} bytes", file=sys.stderr)
    return 1 if oversized else 0


if __name__ == "__main__":
    sys.exit(main())
