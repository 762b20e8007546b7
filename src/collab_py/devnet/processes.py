"""``collab listen`` as a process of its own, as each org runs it in production: a party's keystores, the process
serving ``/healthz`` and ``/metrics``, its progress read from ``/metrics`` and its peak memory from ``/proc``. The
end-to-end tests and the history benchmark run the services this way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from collab_py.chain.enums import Department
from collab_py.devnet.node import free_port
from collab_py.devnet.parties import Party
from collab_py.domain.keys import Keyring

#: The ``collab`` entry point of this interpreter.
COLLAB = [sys.executable, "-m", "collab_py.cli"]


def import_party(ring: Keyring, party: Party, passphrase: str, departments: Iterable[Department] | None = None) -> None:
    """Writes ``party``'s department keys (all, or ``departments``) and its encryption key into ``ring``, named as
    ``collab`` looks them up (``finance``, ``operator``, …, ``encryption``)."""
    for department in party.accounts if departments is None else departments:
        ring.import_account(department.name.lower(), party.account(department).key, passphrase)
    ring.import_encryption_key("encryption", party.encryption_key, passphrase)


def wait_for(condition: Callable[[], bool], timeout: float, describe: Callable[[], str], every: float = 0.2) -> None:
    """Waits until ``condition()`` holds; :class:`TimeoutError` with ``describe()`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(describe())
        time.sleep(every)


class ListenerProcess:
    """``collab listen`` as its own process with ``env`` (added to this one's), serving ``/healthz`` and ``/metrics``
    on a free port; its output goes to ``log``. Stopped with SIGTERM (it drains), SIGKILL if it lingers."""

    def __init__(self, name: str, env: dict[str, str], log: Path, *args: str) -> None:
        self.name = name
        self.port = free_port()
        self.log = log
        self.args = ["listen", "--health-port", str(self.port), "--poll-interval", "0.2", *args]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*COLLAB, *self.args],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _get(self, path: str) -> tuple[int | None, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError as error:
            return None, str(error)

    def health(self) -> tuple[int | None, str]:
        """``/healthz``: (status, body), (None, reason) when nothing answers."""
        return self._get("/healthz")

    def wait_healthy(self, timeout: float = 60.0) -> None:
        wait_for(lambda: self.health()[0] == 200, timeout, lambda: f"{self.name} not healthy: {self.health()}")

    def gauge(self, name: str) -> dict[str, float]:
        """The value of the gauge ``collab_listener_<name>`` for each consumer (and the sync) of the process, from
        ``/metrics``; empty while the process does not answer."""
        status, text = self._get("/metrics")
        if status != 200:
            return {}
        return {
            sample.labels["consumer"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == f"collab_listener_{name}"
            for sample in family.samples
        }

    def checkpoints(self) -> dict[str, int]:
        """The last block each consumer processed (the sync's left out); empty while the process does not answer."""
        return {name: int(value) for name, value in self.gauge("checkpoint_block").items() if name != "sync"}

    def wait_until(self, block: int, timeout: float) -> None:
        """Waits until every consumer of the process has processed ``block``; :class:`RuntimeError` with the tail of
        its output if the process ends meanwhile."""

        def reached() -> bool:
            if self.exit_code is not None:
                raise RuntimeError(f"{self.name} exited with {self.exit_code}:\n{self.output()[-2_000:]}")
            found = self.checkpoints()
            return bool(found) and min(found.values()) >= block

        def stuck() -> str:
            return f"{self.name} did not reach block {block} ({self.checkpoints()}):\n{self.output()[-2_000:]}"

        wait_for(reached, timeout, stuck, 0.01)

    def wait_serving(self, timeout: float = 120.0) -> None:
        """Waits until the process answers ``/metrics``: its keys are loaded and its engine built."""
        wait_for(lambda: self._get("/metrics")[0] == 200, timeout, lambda: f"{self.name} does not serve /metrics")

    def reset_peak(self) -> None:
        """Forgets the process's peak resident memory so far (Linux's ``clear_refs``): loading a keystore of
        eth-account's default key derivation (scrypt, 256 MiB) dominates it otherwise."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def peak_rss_mb(self) -> float | None:
        """The process's peak resident memory (``VmHWM``, since :meth:`reset_peak`), in MiB; None once it ended."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
        return None if kib is None else int(kib) / 1024

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode
