"""The offline compiler path: npm's solc-js registered as py-solc-x's solc 0.8.30, and the build on top of it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import solcx

from collab_py.chain import build
from collab_py.chain.toolchain import SOLC_VERSION, ensure_solc

ERC20_USER = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
contract Coin is ERC20 { constructor() ERC20("Coin", "C") {} }
"""


def standard_json(source: str, evm_version: str | None = None) -> dict[str, object]:
    settings: dict[str, object] = {
        "remappings": build.REMAPPINGS,
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
    }
    if evm_version:
        settings["evmVersion"] = evm_version
    return {"language": "Solidity", "sources": {"Coin.sol": {"content": source}}, "settings": settings}


@pytest.fixture(scope="module")
def solc() -> Path:
    return ensure_solc()


def test_registered_compiler_is_seen_by_py_solc_x(solc: Path) -> None:
    assert solc.name == f"solc-v{SOLC_VERSION}"
    assert str(solcx.get_installed_solc_versions()[0]) == SOLC_VERSION
    assert ensure_solc() == solc  # idempotent


def test_version_matches_native_solc_format(solc: Path) -> None:
    assert str(solcx.wrapper.get_solc_version(solc)) == SOLC_VERSION


@pytest.mark.parametrize("evm_version", [None, "paris"])
def test_standard_json_with_openzeppelin_import(solc: Path, evm_version: str | None) -> None:
    root = build.project_root()
    output = solcx.compile_standard(
        standard_json(ERC20_USER, evm_version), solc_binary=solc, base_path=str(root), allow_paths=[str(root)]
    )
    assert output["contracts"]["Coin.sol"]["Coin"]["evm"]["bytecode"]["object"]


def test_import_outside_the_allowed_paths_is_refused(solc: Path, tmp_path: Path) -> None:
    outside = tmp_path / "Secret.sol"
    outside.write_text("// SPDX-License-Identifier: MIT\npragma solidity 0.8.30;\ncontract Secret {}\n")
    source = f'// SPDX-License-Identifier: MIT\npragma solidity 0.8.30;\nimport "{outside}";\ncontract A {{}}\n'
    base = tmp_path / "project"
    base.mkdir()
    result = subprocess.run(
        [str(solc), "--standard-json", "--base-path", str(base)],
        input=json.dumps(standard_json(source)),
        capture_output=True,
        text=True,
        check=True,
    )
    messages = [error["message"] for error in json.loads(result.stdout)["errors"]]
    assert any("File outside of allowed directories" in message for message in messages)


def test_unknown_option_is_rejected_like_native_solc(solc: Path) -> None:
    result = subprocess.run([str(solc), "--bogus"], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("unrecognised option '--bogus'")


def test_build_is_cached_and_each_evm_version_has_its_own_folder(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / "Coin.sol").write_text(ERC20_USER)
    (root / "node_modules").symlink_to(build.project_root() / "node_modules")
    first = build.compile_project(root)
    artifact = root / "build" / "contracts" / "Coin.json"
    written = artifact.stat().st_mtime_ns
    assert build.compile_project(root) == first
    assert artifact.stat().st_mtime_ns == written  # loaded, not recompiled
    assert first["Coin"].deployed_size > 0
    paris = build.compile_project(root, evm_version="paris")
    assert paris["Coin"].evm_version == "paris"
    assert (root / "build" / "contracts-paris" / "Coin.json").is_file()


def test_compiler_errors_are_a_named_error(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / "Broken.sol").write_text("pragma solidity 0.8.30;\ncontract Broken { uint x = ; }\n")
    with pytest.raises(build.CompilationError, match="ParserError"):
        build.compile_project(root)


def test_project_contracts_fit_the_eip170_limit() -> None:
    for name in ("CollabRegistry", "PaymentEscrow", "DepositToken"):
        assert 0 < build.load_artifact(name).deployed_size <= build.MAX_CODE_SIZE
