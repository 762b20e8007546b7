"""docs/tutorial.md as written: its ``bash`` blocks, extracted from the document, run in order against a node of
their own, and the payment ends RELEASED with the books reconciled; then docs/python.md's first bot runs as Org 2.

The install block (before ``collab dev up``) is not run: this venv's ``bin`` is on ``PATH`` instead. The node block
runs in the background; the tutorial's port is replaced by a free one (other nodes may hold 8545). The other blocks
run in one shell, in order, as a reader pastes them into a second terminal, with ``HOME`` in a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collab_py.devnet.node import free_port

TUTORIAL = Path(__file__).parents[1] / "docs" / "tutorial.md"
LIBRARY = Path(__file__).parents[1] / "docs" / "python.md"
NODE_COMMAND = "collab dev up"
DOC_PORT = "8545"

pytestmark = pytest.mark.slow


def bash_blocks(markdown: str, language: str = "bash") -> list[str]:
    """The contents of the document's ```bash (or other ``language``) blocks, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


def test_bash_blocks_are_found() -> None:
    blocks = bash_blocks("text\n```bash\necho a\n```\n```python\nx\n```\n```bash\necho b\n```\n")
    assert blocks == ["echo a\n", "echo b\n"]
    assert bash_blocks("```bash\necho a\n```\n```python\nx\n```\n", "python") == ["x\n"]


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    blocks = bash_blocks(TUTORIAL.read_text())
    node_at = next(i for i, block in enumerate(blocks) if block.startswith(NODE_COMMAND))
    port = str(free_port())
    node_block, steps = blocks[node_at], [block.replace(DOC_PORT, port) for block in blocks[node_at + 1 :]]
    env = {key: value for key, value in os.environ.items() if not key.startswith("COLLAB_")}
    env |= {"HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"}
    node = subprocess.Popen(
        ["bash", "-c", node_block.replace(DOC_PORT, port)], env=env, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert node.stdout is not None
        assert "anvil listening on" in node.stdout.readline()
        started = time.monotonic()
        script = "set -euo pipefail\n" + "\n".join(steps)
        run = subprocess.run(["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        print(f"tutorial steps: {time.monotonic() - started:.1f} s")

        def as_org(org: str, *args: str) -> Any:
            command = f"source orgs/{org}/env && collab --json {' '.join(args)}"
            done = subprocess.run(
                ["bash", "-c", command], env=env, cwd=tmp_path / "collab-tutorial", capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        assert as_org("org-1", "payment", "show", "HT-1", "1")["status"] == "RELEASED"
        folder = tmp_path / "collab-tutorial" / "orgs"
        books = [f"--ledger-url sqlite:///{folder / org / 'ledger.db'}" for org in ("org-1", "org-2")]
        report = as_org("org-1", "reconcile", *books)
        assert report["clean"]
        assert len(report["contracts"]) == 1
        issued, verified = as_org("org-2", "invoices"), as_org("org-1", "invoices")
        assert [row["status"] for row in issued + verified] == ["ISSUED", "VERIFIED"]
        (tmp_path / "collab-tutorial" / "bot.py").write_text(bash_blocks(LIBRARY.read_text(), "python")[0])
        in_the_second_terminal = "export COLLAB_PASSPHRASE_FILE=$PWD/passphrase.txt && source orgs/org-2/env"
        bot = subprocess.run(
            ["bash", "-c", f"{in_the_second_terminal} && python bot.py"], env=env, cwd=tmp_path / "collab-tutorial",
            capture_output=True, text=True,
        )  # fmt: skip
        assert bot.returncode == 0, bot.stderr
        said = ["RELEASED 1000.50", "PROPOSED 1200.00", "refused, unpaid: 0", "UnknownContractError"]
        assert bot.stdout.splitlines() == said
        assert as_org("org-1", "contract", "show", "HT-2")["status"] == "PROPOSED"
    finally:
        os.killpg(node.pid, 15)
        node.wait(10)
