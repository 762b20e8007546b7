"""geth 1.13.15 built once per machine with the Go client, and one geth node run as a child process.

geth 1.13.x is the last release that seals Clique blocks (1.14 removed proof-of-authority sealing).
:func:`ensure_geth` returns its path, building it with ``go install`` into a cache outside the repository on
first use (a file lock makes parallel test workers build once). ``python -m collab_py.devnet.geth`` (``make geth``)
does the same from the command line and prints the path.

:class:`GethNode` is one node: its own data folder, loopback-only ports chosen free, a JSON-RPC client over its IPC
socket for control (``admin_*``, ``miner_*``: every API, never exposed over the network), stop by SIGTERM then SIGKILL.
Every node started here is also stopped at interpreter exit, on SIGTERM/SIGHUP, and receives SIGTERM itself when
the thread that started it dies (even by SIGKILL): no geth outlives its test run.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from collab_py.chain.network import NodeKey
from collab_py.devnet.node import _die_with_parent, free_port, rpc
from collab_py.domain.keys import full_iv
from collab_py.exceptions import CollabError
from collab_py.files import write_private

GETH_VERSION = "1.13.15"
GETH_PACKAGE = "github.com/ethereum/go-ethereum/cmd/geth"
#: Seconds between two "still building" lines on stderr.
PROGRESS_EVERY = 20.0
#: Prefix of the temporary folders networks keep their nodes' data in (see :func:`sweep_stale`).
TEMP_PREFIX = "collab-geth-"

_ids = itertools.count(1)


class GethBuildError(CollabError):
    """geth could not be built: Go is missing, the module proxy failed, or the build failed (``go_output`` holds
    what ``go`` printed)."""

    def __init__(self, message: str, go_output: str = "") -> None:
        super().__init__(message)
        self.go_output = go_output


class GethNodeError(CollabError):
    """A geth node exited, did not start, or answered a control call with an error."""


# --- building ---------------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """``$COLLAB_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/collab``: outside every checkout, shared by them."""
    configured = os.environ.get("COLLAB_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "collab"


def geth_path(version: str = GETH_VERSION) -> Path:
    """Where :func:`ensure_geth` keeps geth ``version``."""
    return cache_dir() / f"geth-{version}" / "bin" / "geth"


def ensure_geth(version: str = GETH_VERSION) -> Path:
    """The path of geth ``version``, built with ``go install`` into :func:`geth_path` when it is not there yet.

    ``$COLLAB_GETH`` names a prebuilt binary to use instead. Parallel callers (test workers) build once: the others
    wait on a file lock. Raises :class:`GethBuildError` with Go's own output when Go or the module proxy fails.
    """
    configured = os.environ.get("COLLAB_GETH")
    if configured:
        binary = Path(configured)
        if not _reports_version(binary, version):
            raise GethBuildError(f"COLLAB_GETH={configured} is not geth {version} (`{configured} version` disagrees)")
        return binary
    target = geth_path(version)
    if _reports_version(target, version):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent.parent / ".build.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"waiting for another process building geth {version} into {target.parent.parent} ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        _reports_version.cache_clear()
        if not _reports_version(target, version):
            _build(target, version)
    return target


def installed_geth(version: str = GETH_VERSION) -> Path | None:
    """The geth ``version`` at hand, without building it: ``$COLLAB_GETH``, else :func:`geth_path`, as an absolute
    path if it reports that version; None otherwise."""
    configured = os.environ.get("COLLAB_GETH")
    binary = Path(configured) if configured else geth_path(version)
    return binary.absolute() if _reports_version(binary, version) else None


@cache
def _reports_version(binary: Path, version: str) -> bool:
    """Whether ``binary version`` runs and says it is geth ``version`` (cached: asked once per process)."""
    if not binary.is_file():
        return False
    try:
        output = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return False
    return output.returncode == 0 and re.search(rf"^Version: {re.escape(version)}\b", output.stdout, re.M) is not None


def go_binary() -> Path:
    """``go`` from the PATH, else Go's default install folder; :class:`GethBuildError` when there is none."""
    found = shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)
    if found is None:
        raise GethBuildError(f"Go not found (needed once to build geth {GETH_VERSION}): install Go >= 1.21")
    return Path(found)


def _go_minor(go: Path) -> int | None:
    """The minor version of ``go`` (26 for go1.26.8), or None if it does not say."""
    try:
        output = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as error:
        raise GethBuildError(f"{go} does not run: {error}") from None
    match = re.match(r"go1\.(\d+)", output.stdout.strip())
    return int(match.group(1)) if match else None


def _build(target: Path, version: str) -> None:
    go = go_binary()
    minor = _go_minor(go)
    command = [str(go), "install"]
    if minor is None or minor >= 23:
        # geth 1.13's memsize dependency reaches into the runtime with go:linkname, which Go >= 1.23 refuses
        command.append("-ldflags=-checklinkname=0")
    command.append(f"{GETH_PACKAGE}@v{version}")
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent.parent))
    env = {**os.environ, "GOBIN": str(staging)}
    _say(f"building geth {version} with `go {' '.join(command[1:])}` (once per machine, a few minutes) ...")
    started = time.monotonic()
    done = threading.Event()

    def progress() -> None:
        while not done.wait(PROGRESS_EVERY):
            _say(f"... still building geth {version} ({time.monotonic() - started:.0f} s)")

    ticker = threading.Thread(target=progress, name="geth-build-progress", daemon=True)
    ticker.start()
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        done.set()
        output = (result.stdout + result.stderr).strip()
        built = staging / "geth"
        if result.returncode != 0 or not built.is_file():
            raise GethBuildError(
                f"`{' '.join(command)}` failed (exit {result.returncode}):\n{output[-4000:]}", go_output=output
            )
        os.replace(built, target)
    finally:
        done.set()
        shutil.rmtree(staging, ignore_errors=True)
    _reports_version.cache_clear()
    if not _reports_version(target, version):
        raise GethBuildError(f"the geth built into {target} does not report version {version}")
    _say(f"geth {version} built in {time.monotonic() - started:.0f} s: {target}")


def _say(line: str) -> None:
    print(f"collab: {line}", file=sys.stderr, flush=True)


# --- cleanup of every process started here ---------------------------------------------------------------------

_live: set[GethNode] = set()
_roots: set[Path] = set()
_registry_lock = threading.RLock()  # re-entered when a signal arrives while it is held
_handlers_installed = False


def _track(node: GethNode) -> None:
    with _registry_lock:
        _live.add(node)
    _install_handlers()


def _untrack(node: GethNode) -> None:
    with _registry_lock:
        _live.discard(node)


def own_folder(prefix: str = TEMP_PREFIX) -> Path:
    """A fresh temporary folder removed at exit (also after SIGTERM/SIGHUP); it names its owner process so that
    :func:`sweep_stale` can remove it after a run that died without cleaning up."""
    sweep_stale()
    root = Path(tempfile.mkdtemp(prefix=prefix))
    (root / "owner").write_text(str(os.getpid()))
    with _registry_lock:
        _roots.add(root)
    _install_handlers()
    return root


def release_folder(root: Path) -> None:
    """Removes a folder made by :func:`own_folder`."""
    shutil.rmtree(root, ignore_errors=True)
    with _registry_lock:
        _roots.discard(root)


def stop_everything() -> None:
    """Stops every node started by this process and removes every folder it made (idempotent)."""
    with _registry_lock:
        nodes, roots = list(_live), list(_roots)
    stop_all(nodes)
    for root in roots:
        release_folder(root)


def stop_all(nodes: Iterable[GethNode], timeout: float = 10.0) -> None:
    """Stops ``nodes`` together: SIGTERM to all, SIGKILL to those still running after ``timeout``."""
    nodes = list(nodes)
    for node in nodes:
        node.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for node in nodes:
        node.stop(timeout=max(0.0, deadline - time.monotonic()))


def _install_handlers() -> None:
    """atexit always; SIGTERM and SIGHUP handlers where nobody else handles them (main thread only)."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(stop_everything)
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    stop_everything()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def sweep_stale(prefix: str = TEMP_PREFIX) -> list[Path]:
    """Removes the folders of networks whose owner process is gone (a run killed by SIGKILL or ``os._exit``, as
    pytest-timeout's thread method does), first killing any geth still running from them; returns what it removed."""
    removed = []
    for root in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((root / "owner").read_text())
        except (OSError, ValueError):
            continue
        if owner == os.getpid() or _alive(owner):
            continue
        for pid in _pids_using(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pids_using(root: Path) -> list[int]:
    """Processes whose command line names a path inside ``root``."""
    needle = str(root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# --- one node ---------------------------------------------------------------------------------------------------


def ipc_request(path: Path, method: str, params: Sequence[Any] = (), timeout: float = 10.0) -> Any:
    """One JSON-RPC call over geth's IPC socket; :class:`GethNodeError` on an error answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": list(params)}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(body)
        received = b""
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise GethNodeError(f"{method}: the node closed its IPC socket")
            received += chunk
            if received.rstrip().endswith(b"}"):
                try:
                    reply = json.loads(received)
                    break
                except ValueError:
                    continue
    if "error" in reply:
        raise GethNodeError(f"{method}: {reply['error'].get('message', reply['error'])}")
    return reply["result"]


_recent_ports: deque[int] = deque(maxlen=512)


def _port() -> int:
    """A free loopback port not among the last ones handed out in this process (the OS may offer one twice)."""
    while True:
        port = free_port()
        if port not in _recent_ports:
            _recent_ports.append(port)
            return port


class GethNode:
    """One geth process with its own data folder; built by :class:`~collab_py.devnet.clique.CliqueNetwork`.

    ``signer`` is the account whose key the node holds unlocked and seals with (``mine`` starts sealing at once;
    without it sealing starts on :meth:`start_sealing`). ``ws`` adds a WebSocket endpoint. Ports are chosen on the
    construction and kept on restarts.
    """

    def __init__(
        self,
        name: str,
        datadir: Path,
        *,
        geth: Path,
        network_id: int,
        signer: LocalAccount | None = None,
        mine: bool = False,
        archive: bool = False,
        ws: bool = False,
        http_api: Sequence[str] = ("eth", "net", "web3", "txpool"),
        gas_limit: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.datadir = datadir
        self.geth = geth
        self.network_id = network_id
        self.signer = signer
        self.mine = mine
        self.archive = archive
        self.ws = ws
        self.http_api = tuple(http_api)
        self.gas_limit = gas_limit
        self.extra_args = tuple(extra_args)
        key = NodeKey.generate()
        self.nodekey, self.pubkey = key.hex, key.public_hex
        # chosen now, so that other nodes' static peer lists can name this node before it starts; kept on restarts
        self.p2p_port, self.http_port, self.auth_port = _port(), _port(), _port()
        self.ws_port = _port() if ws else 0
        self.log_path = datadir.parent / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"GethNode({self.name!r}, pid={self.pid})"

    # -- addresses

    @property
    def address(self) -> str | None:
        """The address this node seals with, if any."""
        return self.signer.address if self.signer is not None else None

    @property
    def enode(self) -> str:
        """Its enode URL (loopback)."""
        return f"enode://{self.pubkey}@127.0.0.1:{self.p2p_port}"

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC endpoint."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        """WebSocket JSON-RPC endpoint (only with ``ws=True``)."""
        if not self.ws:
            raise GethNodeError(f"{self.name} has no WebSocket endpoint")
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def ipc_path(self) -> Path:
        """Its IPC socket: every API, reachable only through the file system."""
        return self.datadir / "geth.ipc"

    @property
    def pid(self) -> int | None:
        """Process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def exit_code(self) -> int | None:
        """The exit code of its last process once that exited (2: a Go panic or fatal error)."""
        process = self._process
        return process.poll() if process is not None else None

    @property
    def running(self) -> bool:
        """Whether its process runs."""
        return self.pid is not None

    # -- lifecycle

    def init(self, genesis: Path, password: str | None = None) -> None:
        """``geth init`` with ``genesis``; writes the node key and, for a signer, its keystore and password file."""
        result = subprocess.run(
            [str(self.geth), "--datadir", str(self.datadir), "init", str(genesis)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise GethNodeError(f"geth init for {self.name} failed: {(result.stdout + result.stderr)[-2000:]}")
        (self.datadir / "geth" / "nodekey").write_text(self.nodekey)
        if self.signer is not None:
            password = password or "collab-devnet"
            keystore = self.datadir / "keystore"
            keystore.mkdir(exist_ok=True)
            encrypted = full_iv(dict(Account.encrypt(self.signer.key, password, kdf="scrypt", iterations=1 << 12)))
            (keystore / f"UTC--collab--{self.signer.address[2:].lower()}").write_text(json.dumps(encrypted))
            write_private(self.datadir / "password.txt", password)

    def start(
        self,
        static_peers: Iterable[str],
        *,
        trusted_peers: Iterable[str] = (),
        max_peers: int = 50,
        mine: bool | None = None,
    ) -> None:
        """Starts geth with ``static_peers`` and ``trusted_peers`` (enode URLs) in its config and at most
        ``max_peers`` untrusted peers; returns once the process is spawned. ``mine`` overrides the node's own setting
        for this start."""
        with self._lock:
            if self.running:
                raise GethNodeError(f"{self.name} already runs")
            config = self.datadir / "config.toml"

            def urls(enodes: Iterable[str]) -> str:
                return ", ".join(json.dumps(url) for url in enodes)

            # DialRatio 1: every peer may be a dialled one (static dials count against MaxPeers / DialRatio)
            config.write_text(
                "[Node.P2P]\n"
                f"MaxPeers = {max_peers}\n"
                "DialRatio = 1\n"
                "NoDiscovery = true\n"
                "BootstrapNodes = []\n"
                "BootstrapNodesV5 = []\n"
                f'ListenAddr = "127.0.0.1:{self.p2p_port}"\n'
                f"StaticNodes = [{urls(static_peers)}]\n"
                f"TrustedNodes = [{urls(trusted_peers)}]\n"
            )
            with self.log_path.open("ab") as log:
                log.write(f"\n===== collab: starting {self.name} at {time.strftime('%H:%M:%S')} =====\n".encode())
                log.flush()
                # the thread that starts it must live as long as the node: its death sends geth SIGTERM (prctl)
                self._process = subprocess.Popen(
                    self._command(config, self.mine if mine is None else mine),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
        _track(self)

    def _command(self, config: Path, mine: bool) -> list[str]:
        api = ",".join(self.http_api)
        command = [
            str(self.geth),
            "--config", str(config),
            "--datadir", str(self.datadir),
            "--networkid", str(self.network_id),
            "--syncmode", "full",
            "--gcmode", "archive" if self.archive else "full",
            "--nodiscover",
            "--nat", "none",
            "--cache", "128",
            "--authrpc.addr", "127.0.0.1",
            "--authrpc.port", str(self.auth_port),
            "--http", "--http.addr", "127.0.0.1", "--http.port", str(self.http_port), "--http.api", api,
        ]  # fmt: skip
        if self.ws:
            command += ["--ws", "--ws.addr", "127.0.0.1", "--ws.port", str(self.ws_port), "--ws.api", api]
            command += ["--ws.origins", "*"]
        if self.signer is not None:
            address = self.signer.address
            command += ["--miner.etherbase", address, "--unlock", address]
            command += ["--password", str(self.datadir / "password.txt"), "--allow-insecure-unlock"]
            if self.gas_limit is not None:
                # the sealer moves the block gas limit towards its own target: keep the genesis one
                command += ["--miner.gaslimit", str(self.gas_limit)]
            if mine:
                command.append("--mine")
        return command + list(self.extra_args)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Waits until the node answers on IPC and HTTP; :class:`GethNodeError` if it exits or is too slow."""
        deadline = time.monotonic() + timeout
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise GethNodeError(f"{self.name} exited with {code}:\n{self.crash_report()}")
            try:
                self.call("eth_blockNumber", timeout=2.0)
                _http_block_number(self.rpc_url)
                return
            except (OSError, GethNodeError):
                if time.monotonic() > deadline:
                    raise GethNodeError(f"{self.name} did not answer within {timeout} s:\n{self.log_tail()}") from None
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        """Sends ``signum`` to the node's process group (nothing if it does not run)."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)

    def stop(self, timeout: float = 10.0) -> None:
        """Stops geth: SIGTERM (it flushes its state), SIGKILL after ``timeout``; idempotent."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout)
                    except subprocess.TimeoutExpired:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(process.pid, signal.SIGKILL)
                        process.wait()
                else:
                    process.wait()
        _untrack(self)

    def kill(self) -> None:
        """Kills geth with SIGKILL, as a crash would (no state flushed)."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        _untrack(self)

    # -- control

    def call(self, method: str, *params: Any, timeout: float = 10.0) -> Any:
        """A JSON-RPC call over IPC (every API, ``admin_*`` and ``miner_*`` included)."""
        try:
            return ipc_request(self.ipc_path, method, params, timeout)
        except OSError as error:
            raise GethNodeError(f"{self.name} does not answer {method} on IPC: {error}") from None

    def head(self) -> dict[str, Any]:
        """The latest block (without transaction bodies)."""
        block: dict[str, Any] = self.call("eth_getBlockByNumber", "latest", False)
        return block

    def block_number(self) -> int:
        """The head's number."""
        return int(self.call("eth_blockNumber"), 16)

    def peer_keys(self) -> set[str]:
        """Public keys (as in enode URLs) of the nodes it is connected to."""
        peers = self.call("admin_peers")
        return {peer["enode"].split("://", 1)[1].split("@", 1)[0] for peer in peers}

    def start_sealing(self, gas_price: int | None = None) -> None:
        """``miner_setGasPrice`` (when given) then ``miner_start``."""
        if gas_price is not None:
            self.call("miner_setGasPrice", hex(gas_price))
        self.call("miner_start")

    def stop_sealing(self) -> None:
        """``miner_stop``."""
        self.call("miner_stop")

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(f"  {self.name}| {line}" for line in text.rstrip().splitlines()[-lines:])

    def crash_report(self, lines: int = 30) -> str:
        """What geth printed when its last start failed: from its first ``panic``/``fatal error``/``Fatal`` line
        (a Go stack's top, which a tail would cut), else the tail."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        last_start = text.rsplit("===== collab: starting", 1)[-1].splitlines()
        for index, line in enumerate(last_start):
            if line.startswith(("panic:", "fatal error:", "Fatal:")):
                return "\n".join(f"  {self.name}| {entry}" for entry in last_start[index : index + lines])
        return self.log_tail()

    def log_lines(self, pattern: str) -> list[str]:
        """Lines of its log that contain ``pattern``."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if pattern in line]


def _http_block_number(url: str) -> int:
    """``eth_blockNumber`` over HTTP (the endpoint clients use)."""
    return int(rpc(url, "eth_blockNumber", timeout=2.0), 16)


def wait_until(condition: Callable[[], bool], timeout: float, describe: Callable[[], str], poll: float = 0.1) -> None:
    """Polls ``condition`` until true; :class:`GethNodeError` with ``describe()`` after ``timeout`` seconds.
    Errors a node raises while it restarts count as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (OSError, GethNodeError):
            pass
        if time.monotonic() > deadline:
            raise GethNodeError(describe())
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    """``python -m collab_py.devnet.geth``: build geth when missing and print its path."""
    del argv
    try:
        print(ensure_geth())
    except GethBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
