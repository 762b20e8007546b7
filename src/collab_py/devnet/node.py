"""A local anvil node, started on a free port by our own code and always stopped with us."""

from __future__ import annotations

import atexit
import ctypes
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from collab_py.chain.toolchain import anvil_binary
from collab_py.exceptions import CollabError

_PR_SET_PDEATHSIG = 1
_ids = itertools.count(1)


class NodeStartError(CollabError):
    """anvil did not start or did not answer in time."""


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, even by SIGKILL (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rpc(url: str, method: str, params: Sequence[Any] = (), timeout: float = 10.0) -> Any:
    """One JSON-RPC call over HTTP; raises :class:`CollabError` on an error response."""
    body = json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise CollabError(f"{method}: {reply['error'].get('message', reply['error'])}")
    return reply["result"]


class AnvilNode:
    """anvil as a child process: ``with AnvilNode() as node: connect(node.rpc_url)``."""

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int = 31337,
        accounts: int = 2,
        balance_ether: int = 10_000,
        block_time: float | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = 15.0,
    ) -> None:
        self._requested_port = port
        self.chain_id = chain_id
        self._args = ["--chain-id", str(chain_id), "--accounts", str(accounts), "--balance", str(balance_ether)]
        if block_time is not None:
            self._args += ["--block-time", str(block_time)]
        self._args += list(extra_args)
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._home: Path | None = None
        self._log: Path | None = None
        self.port = 0

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC endpoint."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket JSON-RPC endpoint."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of anvil while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> AnvilNode:
        """Starts anvil and waits until it answers; retries on another port if the chosen one was taken."""
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            self.port = self._requested_port or free_port()
            try:
                self._launch()
                return self
            except NodeStartError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        # a home of its own: anvil spills the states of old blocks to $HOME/.foundry/anvil/tmp and leaves them
        # there when it is killed (tens of gigabytes after a test session); this folder goes when it stops
        self._home = Path(tempfile.mkdtemp(prefix="anvil-"))
        self._log = self._home / "anvil.log"
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port), *self._args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "HOME": str(self._home)},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise NodeStartError(f"anvil exited with {self._process.returncode}: {self._log_tail()}")
            # our process is up once it says it listens (another node may answer on a port that was taken)
            if "Listening on" in self._log_tail():
                try:
                    rpc(self.rpc_url, "eth_chainId", timeout=1.0)
                    return
                except (OSError, urllib.error.URLError):
                    pass
            time.sleep(0.01)
        raise NodeStartError(f"anvil did not answer within {self._start_timeout} s: {self._log_tail()}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stops anvil (SIGTERM, then SIGKILL after ``timeout``); does nothing if it is not running."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = self._log = None
        atexit.unregister(self.stop)

    def _log_tail(self) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(errors="replace")[-2000:].strip()

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def snapshot(self) -> str:
        """Snapshot of the chain state (``evm_snapshot``)."""
        return str(rpc(self.rpc_url, "evm_snapshot"))

    def revert(self, snapshot_id: str) -> bool:
        """Back to a snapshot (``evm_revert``); the snapshot is used up."""
        return bool(rpc(self.rpc_url, "evm_revert", [snapshot_id]))

    def increase_time(self, seconds: int) -> None:
        """Moves the chain clock forward and mines a block at the new time."""
        rpc(self.rpc_url, "evm_increaseTime", [seconds])
        self.mine()

    def mine(self) -> None:
        """Mines one block."""
        rpc(self.rpc_url, "evm_mine")
