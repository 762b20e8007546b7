"""The services run from a venv without the dev and Ape extras: ``make install-runtime``'s steps (the pinned pip,
``requirements/runtime.txt`` with hashes, the package without resolving anything) build a venv in which ``collab``
starts, and a listener catches up with the chain. Needs the package index (or pip's cache), like ``make setup``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collab_py.chain.build import project_root
from collab_py.devnet.node import AnvilNode
from support import World

ROOT = project_root()
#: Packages of the dev and ape extras that must not be in the runtime venv.
NOT_AT_RUNTIME = ("pytest", "hypothesis", "ruff", "mypy", "eth-ape", "ape-solidity", "slither-analyzer", "uv")


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv made as ``make install-runtime`` makes it, from a copy of the package's sources (so that building it
    writes nothing into the checkout)."""
    base = tmp_path_factory.mktemp("runtime")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = base / "venv"
    run(sys.executable, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    run(pip, "install", "--quiet", "--require-hashes", "-r", ROOT / "requirements" / "pip.txt")
    run(pip, "install", "--quiet", "--require-hashes", "-r", ROOT / "requirements" / "runtime.txt")
    run(pip, "install", "--quiet", "--no-deps", "--no-build-isolation", source)
    run(pip, "check")
    return venv


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_runtime_venv_has_no_dev_or_ape_packages_and_collab_runs(runtime_venv: Path) -> None:
    installed = {line.split("==")[0].lower() for line in run(runtime_venv / "bin" / "pip", "freeze").splitlines()}
    assert not installed & set(NOT_AT_RUNTIME), installed & set(NOT_AT_RUNTIME)
    collab = runtime_venv / "bin" / "collab"
    assert "intercompany transactions" in run(collab, "--help")
    assert "--health-port" in run(collab, "listen", "--help")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_listener_runs_from_the_runtime_venv(
    runtime_venv: Path, world: World, node: AnvilNode, tmp_path: Path
) -> None:
    manifest = world.deployment.manifest.save(tmp_path / "manifest.json")
    ledger = tmp_path / "ledger.db"
    shown = run(
        runtime_venv / "bin" / "collab", "--json", "--rpc-url", node.rpc_url, "--manifest", manifest,
        "listen", "--org", str(world.a.org_id), "--once",
        cwd=ROOT,  # the compiled contracts' ABIs are read from build/contracts of the working folder
        env={**os.environ, "COLLAB_LEDGER_URL": f"sqlite:///{ledger}", "COLLAB_CONFIRMATIONS": "0"},
    )  # fmt: skip
    assert '"consumer": "accounting-' in shown
    assert ledger.is_file()
