"""Load: 2,000 complete flows (10,000 with ``COLLAB_PROFILE=long``) while Party A's and Party B's accounting
listeners and the institution's bot run as real ``collab listen`` processes; the bot releases every payment, then
``collab reconcile`` finds the books equal to the chain: no event lost or posted twice. Prints each service's wall
time and peak memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from collab_py.chain.enums import Department
from collab_py.chain.transactor import connect
from collab_py.devnet.load import released_payments
from collab_py.devnet.node import AnvilNode, rpc
from collab_py.devnet.sandbox import bootstrap
from collab_py.domain.keys import Keyring
from collab_py.ledger.database import open_database
from collab_py.ledger.schema import PAYMENT, RECEIPT, institution_actions, journal_entries

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

FLOWS = int(os.environ.get("COLLAB_LOAD_FLOWS", 10_000 if os.environ.get("COLLAB_PROFILE") == "long" else 2_000))
PASSPHRASE = "load test passphrase"


def peak_memory_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def count(url: str, query: object) -> int:
    database = open_database(url)
    with database.connect() as connection:
        value = int(connection.execute(query).scalar_one())  # type: ignore[call-overload]
    database.dispose()
    return value


def test_flows_under_load_with_listeners_and_bot_reconcile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with AnvilNode() as node:
        sandbox = bootstrap(connect(node.rpc_url))
        manifest = sandbox.deployment.manifest.save(tmp_path / "manifest.json")
        bank_keys = Keyring(tmp_path / "bank" / "keys", kdf="pbkdf2")  # eth-account's rounds: the bot is a process
        bank_keys.import_account("operator", sandbox.bank.account(Department.OPERATOR).key, PASSPHRASE)
        bank_keys.import_encryption_key("encryption", sandbox.bank.encryption_key, PASSPHRASE)
        ledgers = {name: f"sqlite:///{tmp_path / f'{name}.db'}" for name in ("a", "b", "bank")}
        services = {
            "a": ["--org", str(sandbox.a.org_id)],
            "b": ["--org", str(sandbox.b.org_id)],
            "bank": ["--org", str(sandbox.bank.org_id), "--role", "institution"],
        }
        processes: dict[str, subprocess.Popen[bytes]] = {}
        started = time.monotonic()
        for name, options in services.items():
            env = {
                **os.environ,
                "COLLAB_RPC_URL": node.rpc_url,
                "COLLAB_MANIFEST": str(manifest),
                "COLLAB_LEDGER_URL": ledgers[name],
                "COLLAB_CONFIRMATIONS": "0",
                "COLLAB_KEYSTORE_DIR": str(tmp_path / "bank" / "keys"),
                "COLLAB_PASSPHRASE": PASSPHRASE,
            }
            command = [sys.executable, "-m", "collab_py.cli", "listen", *options, "--poll-interval", "0.2"]
            with (tmp_path / f"{name}.log").open("wb") as log:  # a file, not a pipe: a listener logs every posting
                processes[name] = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            released_payments(sandbox, FLOWS, per_contract=1, release=False)  # complete flows, up to the request
            # from here a block a second, as on a PoA network, so that the bot's releases share blocks: anvil
            # computes the whole state root for every block, and a block per release slows down as the state grows
            rpc(node.rpc_url, "evm_setIntervalMining", [1])
            generated = time.monotonic() - started
            entries = journal_entries.c
            deadline = time.monotonic() + 1800
            while (
                count(ledgers["a"], select(func.count()).where(entries.kind == PAYMENT)) < FLOWS
                or count(ledgers["b"], select(func.count()).where(entries.kind == RECEIPT)) < FLOWS
            ):
                for name, process in processes.items():
                    assert process.poll() is None, f"{name} died: {(tmp_path / f'{name}.log').read_text()}"
                assert time.monotonic() < deadline, "the services did not catch up"
                time.sleep(1)
            settled = time.monotonic() - started
            memory = {name: peak_memory_mib(process.pid) for name, process in processes.items()}
        finally:
            for process in processes.values():
                process.send_signal(signal.SIGTERM)
            for process in processes.values():
                process.wait(timeout=60)
        assert all(process.returncode == 0 for process in processes.values())

        assert count(ledgers["bank"], select(func.count()).where(institution_actions.c.action == "RELEASED")) == FLOWS
        for url, kind in ((ledgers["a"], PAYMENT), (ledgers["b"], RECEIPT)):
            distinct = count(url, select(func.count(func.distinct(journal_entries.c.voucher_id))).where(
                journal_entries.c.kind == kind
            ))  # fmt: skip
            assert count(url, select(func.count()).where(journal_entries.c.kind == kind)) == distinct == FLOWS
        reconciled = subprocess.run(
            [sys.executable, "-m", "collab_py.cli", "--rpc-url", node.rpc_url, "--manifest", str(manifest),
             "reconcile", "--ledger-url", ledgers["a"], "--ledger-url", ledgers["b"]],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        assert "Reconciliation (S8.4): clean" in reconciled.stdout
    with capsys.disabled():
        figures = ", ".join(f"{name} peak {mib:.0f} MiB" for name, mib in memory.items())
        print(f"\nload: {FLOWS} flows generated in {generated:.0f} s, all posted and released {settled:.0f} s "
              f"after start; {figures}")  # fmt: skip
