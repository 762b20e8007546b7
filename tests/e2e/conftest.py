"""What every e2e test shares: geth built before the first test, and no geth process left by a test or the run.

Only this run's networks count (their folders name this process as owner, or an owner that is gone): other runs on
the same machine — another checkout's e2e suite, a parallel worker — keep theirs.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from collab_py.devnet.geth import TEMP_PREFIX, ensure_geth

_FOLDER = re.compile(rf"(/[^\s\0]*/{re.escape(TEMP_PREFIX)}[^/\s\0]+)")


def geth_pids() -> set[int]:
    """Processes running from a network folder of this harness that belongs to this run (or to no live run)."""
    found = subprocess.run(["pgrep", "-f", f"/{TEMP_PREFIX}"], capture_output=True, text=True, check=False)
    pids = set()
    for pid in (int(text) for text in found.stdout.split()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        match = _FOLDER.search(cmdline)
        if match is None or "geth" not in cmdline.split("\0", 1)[0]:
            continue
        if _owner_alive_elsewhere(Path(match.group(1))):
            continue
        pids.add(pid)
    return pids


def _owner_alive_elsewhere(folder: Path) -> bool:
    try:
        owner = int((folder / "owner").read_text())
    except (OSError, ValueError):
        return False
    if owner == os.getpid():
        return False
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session", autouse=True)
def no_geth_left_at_the_end() -> Iterator[None]:
    ensure_geth()  # built before the first timed test, not inside it
    yield
    leftover = subprocess.run(["pgrep", "-a", "geth"], capture_output=True, text=True, check=False).stdout
    assert not geth_pids(), f"geth processes left behind:\n{leftover}"


@pytest.fixture(autouse=True)
def no_geth_left_by_the_test() -> Iterator[None]:
    before = geth_pids()
    yield
    assert geth_pids() <= before, "the test left geth processes behind"
