"""The offline compiler path: npm's solc-js registered as py-solc-x's solc 0.8.30 in the checkout's own folder
(``<repository root>/.solcx``), and the build on top of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import solcx

from collab_py.chain import build, toolchain
from collab_py.chain.toolchain import SOLC_VERSION, SOLCX_BINARY_PATH, ensure_solc

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


def test_the_compiler_is_registered_in_the_checkout_not_in_the_home_folder(
    solc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build.project_root()
    assert solc == root / ".solcx" / f"solc-v{SOLC_VERSION}"
    assert solcx.get_solcx_install_folder() == root / ".solcx"
    assert os.environ[SOLCX_BINARY_PATH] == str(root / ".solcx")
    launcher = solc.read_text()
    assert str(Path(toolchain.__file__).with_name("solc-wrapper.cjs")) in launcher  # this checkout's wrapper
    assert str(root / "node_modules") in launcher
    ignored = subprocess.run(["git", "check-ignore", "-q", str(solc)], cwd=root, check=False)
    assert ignored.returncode == 0, ".solcx/ must be git-ignored"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(SOLCX_BINARY_PATH)
    assert ensure_solc() == solc
    assert not (tmp_path / ".solcx").exists()  # ~/.solcx is neither read nor written


@pytest.fixture
def other_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ensure_solc for a checkout rooted in ``tmp_path`` (this checkout's launcher is in use by other tests)."""
    monkeypatch.setattr(toolchain, "project_root", lambda: tmp_path)
    monkeypatch.setenv(SOLCX_BINARY_PATH, os.environ.get(SOLCX_BINARY_PATH, ""))  # restored afterwards
    return tmp_path / ".solcx" / f"solc-v{SOLC_VERSION}"


def test_a_launcher_into_a_deleted_clone_is_registered_again(other_checkout: Path) -> None:
    other_checkout.parent.mkdir()
    other_checkout.write_text(
        '#!/bin/sh\nCOLLAB_NODE_MODULES="/gone/clone/node_modules" exec node "/gone/clone/solc-wrapper.cjs" "$@"\n'
    )
    other_checkout.chmod(0o755)
    assert ensure_solc() == other_checkout
    assert "/gone/clone" not in other_checkout.read_text()
    assert toolchain.reports_version(other_checkout, SOLC_VERSION)
    assert os.environ[SOLCX_BINARY_PATH] == str(other_checkout.parent)


def test_the_registration_is_checked_on_every_use(other_checkout: Path) -> None:
    assert ensure_solc() == other_checkout
    registered = other_checkout.read_text()
    other_checkout.write_text("#!/bin/sh\necho 'Version: 0.8.29+commit.0'\n")  # replaced behind our back
    assert ensure_solc() == other_checkout
    assert other_checkout.read_text() == registered
    other_checkout.unlink()  # removed
    assert ensure_solc() == other_checkout
    assert other_checkout.read_text() == registered
    assert [path.name for path in other_checkout.parent.iterdir()] == [other_checkout.name]  # no temporary left


def test_make_exports_the_checkouts_compiler_folder_to_its_tools() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    root = build.project_root()
    shown = subprocess.run(
        [make, "-s", "--no-print-directory", "--eval", "show-solcx:\n\t@echo $$SOLCX_BINARY_PATH", "show-solcx"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={key: value for key, value in os.environ.items() if key != SOLCX_BINARY_PATH},
    )
    assert shown.stdout.strip() == str(root / ".solcx")


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
