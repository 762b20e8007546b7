"""The offline compiler path and the local node binary.

The solc download site is unreachable here, so py-solc-x cannot install a compiler. :func:`ensure_solc` registers
``solc-v0.8.30`` in this checkout's own compiler folder, ``<repository root>/.solcx`` (git-ignored): a native ``solc``
of that version if one is on the ``PATH``, otherwise a launcher for this checkout's ``solc-wrapper.cjs``, a
native-solc-compatible front end to npm's ``solc`` (solc-js, the same compiler built to WebAssembly).

The folder is per checkout, not py-solc-x's global ``~/.solcx``: a global launcher points into whichever clone
registered it last, so one checkout would run another's (or a deleted one's) code. :func:`ensure_solc` points
py-solc-x at the folder for this process (``SOLCX_BINARY_PATH``; the Makefile exports it for Ape and other
subprocesses) and, on every use, checks that the launcher is the one this checkout would write, that what it runs
exists, and that it reports the pinned version; otherwise it registers it again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from collab_py.exceptions import CollabError

#: The compiler version the contracts pin.
SOLC_VERSION = "0.8.30"
#: py-solc-x's setting of its binary folder (read on every call, so setting it for the process is enough).
SOLCX_BINARY_PATH = "SOLCX_BINARY_PATH"
#: The checkout's compiler folder, under the repository root (git-ignored; Foundry's foundry.toml points here too).
SOLC_FOLDER = ".solcx"

_WRAPPER = Path(__file__).with_name("solc-wrapper.cjs")
_ANVIL = Path("@foundry-rs") / "anvil-linux-amd64" / "bin" / "anvil"


class ToolchainError(CollabError):
    """A tool the project needs (node, npm's solc, anvil) is missing."""


def project_root() -> Path:
    """The repository root: the folder holding ``contracts/`` above this package, else the cwd."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "contracts").is_dir() and (folder / "pyproject.toml").is_file():
            return folder
    return Path.cwd()


def solc_folder() -> Path:
    """This checkout's compiler folder, ``<repository root>/.solcx``."""
    return project_root() / SOLC_FOLDER


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
    """Registers solc ``version`` in this checkout's compiler folder, points py-solc-x at that folder for this
    process, and returns the compiler's path (idempotent; a stale or foreign registration is replaced)."""
    folder = solc_folder()
    os.environ[SOLCX_BINARY_PATH] = str(folder)  # py-solc-x and ape-solidity in this process, and its children
    target = folder / f"solc-v{version}"
    native = _native_solc(version)
    expected = None if native is not None else _launcher()
    if _is_registered(target, native, expected, version):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    _replace(target, native, expected)
    if not _reports(target, version):
        raise ToolchainError(f"npm's solc is not version {version}: run `npm ci` in the repository root")
    return target


def _native_solc(version: str) -> str | None:
    """A native ``solc`` of ``version`` on the PATH, if any."""
    native = shutil.which("solc")
    if native is None or Path(native).resolve().is_relative_to(Path(sys.prefix).resolve()):
        return None  # solc-select's shim (installed with slither) would try to download a compiler
    return native if _reports(Path(native), version) else None


def _launcher() -> str:
    """The launcher this checkout registers: its node, its ``node_modules`` and its ``solc-wrapper.cjs``."""
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node not found: install Node.js >= 20 (Debian package nodejs)")
    modules = node_modules_dir()
    return (
        "#!/bin/sh\n"
        "# solc-js behind a native-solc command line, registered by collab_py.chain.toolchain\n"
        f'COLLAB_NODE_MODULES="{modules}" exec "{node}" "{_WRAPPER}" "$@"\n'
    )


def _is_registered(target: Path, native: str | None, launcher: str | None, version: str) -> bool:
    """Whether ``target`` is what this checkout registers (the native compiler's link, or this checkout's launcher,
    whose node, ``node_modules/solc`` and wrapper exist) and reports ``version``."""
    try:
        if native is not None:
            if not target.is_symlink() or os.readlink(target) != native:
                return False
        elif target.is_symlink() or target.read_text() != launcher or not _WRAPPER.is_file():
            return False
    except (OSError, UnicodeDecodeError):  # missing, a folder, unreadable
        return False
    return _reports(target, version)


#: Registrations already seen to report their version in this process: (path, inode, mtime) -> version.
_verified: dict[tuple[str, int, int], str] = {}
_verified_lock = threading.Lock()


def _reports(binary: Path, version: str) -> bool:
    """:func:`reports_version`, run once per file and version in a process (solc-js takes a second to start)."""
    try:
        info = binary.stat()
    except OSError:
        return False
    key = (str(binary), info.st_ino, info.st_mtime_ns)
    with _verified_lock:
        if _verified.get(key) == version:
            return True
    if not reports_version(binary, version):
        return False
    with _verified_lock:
        _verified[key] = version
    return True


def _replace(target: Path, native: str | None, launcher: str | None) -> None:
    """Writes the link to ``native`` or the ``launcher`` beside ``target`` and moves it into place atomically, so
    that a parallel process never runs a half-written launcher."""
    temp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".register-")) / target.name
    try:
        if native is not None:
            temp.symlink_to(native)
        else:
            temp.write_text(launcher or "")
            temp.chmod(0o755)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
        temp.parent.rmdir()
