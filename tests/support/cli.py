"""The ``collab`` command line as each party runs it: commands in this process (typer's runner), long-running
listeners as their own processes (``collab listen``), each with its keystore folder, ledger and settings.

Tests drive listeners only through the command line, ``/healthz`` and what ``collab ledger`` / ``collab reconcile``
print, so that they hold whatever the listeners are made of inside.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from collab_py.cli import app
from collab_py.devnet.parties import Party
from collab_py.devnet.processes import COLLAB, ListenerProcess, import_party, wait_for
from collab_py.devnet.sandbox import Sandbox
from collab_py.domain.keys import Keyring

PASSPHRASE = "correct horse battery staple"

__all__ = ["COLLAB", "PASSPHRASE", "Cli", "ListenerProcess", "keystores", "party_settings", "wait_for"]


def keystores(folder: Path, party: Party | None, governance: Sandbox | None = None, *, strong: bool = False) -> Path:
    """A party's department keys and encryption key (and governance's key): cheap test keystores, which only a process
    whose keystore floor the ``cheap_keystores`` fixture lowered loads, or ``strong`` ones of eth-account's default
    derivation (about a second each to write and to load), for a ``collab`` process of its own."""
    ring = Keyring(folder) if strong else Keyring(folder, kdf="pbkdf2", iterations=2)
    if party is not None:
        import_party(ring, party, PASSPHRASE)
    if governance is not None:
        ring.import_account("governance", governance.admin.account.key, PASSPHRASE)
    return folder


def party_settings(sandbox: Sandbox, folder: Path, rpc_url: str, **extra: str) -> dict[str, dict[str, str]]:
    """Settings (environment) of A, B, C, the bank and governance (``gov``): their keystores, ledgers and the
    deployment's manifest, under ``folder``. The bank's keystores are strong: its bot runs as a process of its own;
    the other parties' are cheap (their keys are loaded in the test's process only)."""
    manifest = sandbox.deployment.manifest.save(folder / "manifest.json")
    parties: dict[str, Party | None] = {"a": sandbox.a, "b": sandbox.b, "c": sandbox.c, "bank": sandbox.bank}
    parties["gov"] = None
    env = {}
    for who, party in parties.items():
        keys = keystores(folder / who / "keys", party, sandbox if party is None else None, strong=who == "bank")
        env[who] = {
            "COLLAB_RPC_URL": rpc_url,
            "COLLAB_MANIFEST": str(manifest),
            "COLLAB_KEYSTORE_DIR": str(keys),
            "COLLAB_PASSPHRASE": PASSPHRASE,
            "COLLAB_LEDGER_URL": f"sqlite:///{folder / who / 'ledger.db'}",
            **({"COLLAB_ORG_ID": str(party.org_id)} if party is not None else {}),
            **extra,
        }
    return env


@dataclass
class Cli:
    """Runs ``collab --json`` in this process as Party A (``"a"``), B, C, the bank or governance (``"gov"``)."""

    env: dict[str, dict[str, str]]
    cwd: Path
    runner: CliRunner = field(default_factory=CliRunner)

    def result(self, who: str, *args: str, json_out: bool = True, **env: str) -> Result:
        words = ["--json", *args] if json_out else list(args)
        here = Path.cwd()
        os.chdir(self.cwd)  # where e-contract files are written
        try:
            result = self.runner.invoke(app, words, env=self.env[who] | env)
        finally:
            os.chdir(here)
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    def __call__(self, who: str, *args: str, **env: str) -> Any:
        """What a command that succeeds prints, parsed from JSON."""
        result = self.result(who, *args, **env)
        assert result.exit_code == 0, f"collab {' '.join(args)} as {who}: {result.stdout}{result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def write(self, name: str, text: str) -> Path:
        path = self.cwd / name
        path.write_text(text)
        return path
