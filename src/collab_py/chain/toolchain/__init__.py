"""The offline compiler path and the local node binary.

The solc download site is unreachable here, so py-solc-x cannot install a compiler. :func:`ensure_solc` registers
``solc-v0.8.30`` in py-solc-x's binary folder: a native ``solc`` of that version if one is on the ``PATH``, otherwise
a launcher for ``solc-wrapper.cjs``, a native-solc-compatible front end to npm's ``solc`` (solc-js, the same compiler
built to WebAssembly). py-solc-x, this project's build and ape-solidity then all find it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import solcx

from collab_py.exceptions import CollabError

#: The compiler version the contracts pin.
SOLC_VERSION = "0.8.30"

_WRAPPER = Path(__file__).with_name("solc-wrapper.cjs")
_ANVIL = Path("@foundry-rs") / "anvil-linux-amd64" / "bin" / "anvil"


class ToolchainError(CollabError):
    """A tool the project needs (node, npm's solc, anvil) is missing."""


def node_modules_dir() -> Path:
    """The project's ``node_modules`` (``COLLAB_NODE_MODULES``, else found upwards from here or the cwd)."""
    configured = os.environ.get("COLLAB_NODE_MODULES")
    if configured:
        return Path(configured)
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "node_modules" / "solc").is_dir():
                return folder / "node_modules"
    raise ToolchainError("node_modules with solc not found: run `npm ci` in the repository root")


def anvil_binary() -> Path:
    """anvil from the npm package ``@foundry-rs/anvil-linux-amd64``, or an ``anvil`` on the PATH."""
    try:
        packaged = node_modules_dir() / _ANVIL
        if packaged.is_file():
            return packaged
    except ToolchainError:
        pass
    found = shutil.which("anvil")
    if found is None:
        raise ToolchainError("anvil not found: run `npm ci` (package @foundry-rs/anvil-linux-amd64)")
    return Path(found)


def reports_version(binary: Path | str, version: str) -> bool:
    """Whether ``binary --version`` runs and reports ``version``."""
    try:
        output = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return False
    return output.returncode == 0 and f"Version: {version}+" in output.stdout


def ensure_solc(version: str = SOLC_VERSION) -> Path:
    """Registers solc ``version`` in py-solc-x's binary folder and returns its path (idempotent)."""
    target = solcx.get_solcx_install_folder() / f"solc-v{version}"
    if target.exists() and reports_version(target, version):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    native = shutil.which("solc")
    if native is not None and Path(native).resolve().is_relative_to(Path(sys.prefix).resolve()):
        native = None  # solc-select's shim (installed with slither) would try to download a compiler
    if native is not None and reports_version(native, version):
        target.unlink(missing_ok=True)
        target.symlink_to(native)
        return target
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node not found: install Node.js >= 20 (Debian package nodejs)")
    modules = node_modules_dir()
    target.write_text(
        "#!/bin/sh\n"
        "# solc-js behind a native-solc command line, registered by collab_py.chain.toolchain\n"
        f'COLLAB_NODE_MODULES="{modules}" exec "{node}" "{_WRAPPER}" "$@"\n'
    )
    target.chmod(0o755)
    if not reports_version(target, version):
        raise ToolchainError(f"npm's solc is not version {version}: run `npm ci` in the repository root")
    return target
