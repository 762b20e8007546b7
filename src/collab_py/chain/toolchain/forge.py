"""forge for the Solidity tests, offline: the binary from npm (``@foundry-rs/forge-linux-amd64``) and forge-std from
the Go module proxy, checked against the checksum pinned here and linked at ``lib/forge-std`` of the checkout.

``python -m collab_py.chain.toolchain.forge`` fetches forge-std (once per machine, in Go's module cache) and prints
the forge binary's path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from collab_py.chain.toolchain import ToolchainError, node_modules_dir

#: forge-std, the test library forge's own projects use, as the Go module proxy serves its tagged releases.
FORGE_STD_MODULE = "github.com/foundry-rs/forge-std"
FORGE_STD_VERSION = "v1.15.0"
#: The module's checksum (go.sum's ``h1:``): a download that differs is refused.
FORGE_STD_SUM = "h1:9DdARhHxgF/mhL/mZyp2BEY9kTyr0QgNmOZRImN7ykg="

_FORGE = Path("@foundry-rs") / "forge-linux-amd64" / "bin" / "forge"


def forge_binary() -> Path:
    """forge from the npm package ``@foundry-rs/forge-linux-amd64``."""
    binary = node_modules_dir() / _FORGE
    if not binary.is_file():
        raise ToolchainError("forge not found: run `npm ci` (package @foundry-rs/forge-linux-amd64)")
    return binary


def ensure_forge_std(root: Path) -> Path:
    """Links ``root/lib/forge-std`` to forge-std in Go's module cache, downloading it first if needed."""
    link = root / "lib" / "forge-std"
    go = shutil.which("go")
    if go is None:
        raise ToolchainError("go not found: forge-std comes from the Go module proxy (install Go >= 1.21)")
    with tempfile.TemporaryDirectory() as scratch:  # outside any module, so that go.mod files do not interfere
        result = subprocess.run(
            [go, "mod", "download", "-json", f"{FORGE_STD_MODULE}@{FORGE_STD_VERSION}"],
            capture_output=True,
            text=True,
            cwd=scratch,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
            check=False,
            timeout=600,
        )
    try:
        module = json.loads(result.stdout)
    except json.JSONDecodeError:
        module = {}
    if result.returncode != 0 or "Dir" not in module:
        detail = module.get("Error") or result.stderr.strip() or f"exit code {result.returncode}"
        raise ToolchainError(f"cannot fetch {FORGE_STD_MODULE}@{FORGE_STD_VERSION} from the Go module proxy: {detail}")
    if module.get("Sum") != FORGE_STD_SUM:
        raise ToolchainError(
            f"{FORGE_STD_MODULE}@{FORGE_STD_VERSION} has checksum {module.get('Sum')}, not the pinned one"
        )
    target = Path(module["Dir"])
    if not (link.is_symlink() and link.resolve() == target.resolve()):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target, target_is_directory=True)
    return link


if __name__ == "__main__":
    from collab_py.chain.build import project_root

    ensure_forge_std(project_root())
    print(forge_binary())
