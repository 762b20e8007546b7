"""`collab network init`: a consortium network's genesis, validator keys and node commands for geth Clique and
Besu QBFT. geth's files are checked by the cached geth 1.13 itself, and its start scripts run a network on one
machine (slow); Besu's files against its documented schema."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner, Result

from collab_py.chain.network import QBFT_MIX_HASH, qbft_extra_data, qbft_validators
from collab_py.cli import app
from collab_py.devnet.geth import geth_path, installed_geth, ipc_request, wait_until
from collab_py.devnet.node import _die_with_parent, rpc
from collab_py.domain.keys import Keyring
from collab_py.exceptions import CollabError
from collab_py.files import write_private

PASSPHRASE = "network init test"
ETHER = 10**18
FUNDED = "0x000000000000000000000000000000000000dEaD"
#: Besu's "Configure QBFT consensus" page: its example validators and the extraData it gives for them.
BESU_DOC_VALIDATORS = [
    "64a702e6263b7297a96638cac6ae65e6541f4169",
    "3923390ad55e90c237593b3b0e401f3b08a03185",
    "aefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "c7eeb9a4e00ce683cf93039b212648e01c6c6b78",
]
BESU_DOC_EXTRA_DATA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e6263b7297a96638cac6ae65e65"
    "41f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9f433e5b6b212a6d62f6370c2f69294c7eeb9a4e00ce683cf"
    "93039b212648e01c6c6b78c080c0"
)


def run(*args: str, passphrase: str = PASSPHRASE, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(
        app, ["--json", "network", "init", *args], env={"COLLAB_PASSPHRASE": passphrase, **(env or {})}
    )


def init(out: Path, *args: str, env: dict[str, str | None] | None = None) -> dict[str, Any]:
    result = run("--out", str(out), *args, env=env)
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def genesis(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "genesis.json").read_text())
    return loaded


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_geth_network_has_the_validators_as_sealers_and_their_keys_in_our_keystores(tmp_path: Path) -> None:
    out = tmp_path / "net"
    shown = init(out, "--client", "geth", "--validators", "3", "--chain-id", "4242", "--period", "5", "--fund", FUNDED)
    written = genesis(out)
    assert written["config"]["chainId"] == 4242
    assert written["config"]["clique"] == {"period": 5, "epoch": 30_000}
    assert "baseFeePerGas" not in written
    extra = bytes.fromhex(written["extraData"][2:])
    sealers = [extra[32 + 20 * i : 52 + 20 * i].hex() for i in range((len(extra) - 32 - 65) // 20)]
    assert sealers == sorted(address[2:].lower() for address in shown["validators"])
    for index, address in enumerate(shown["validators"], start=1):
        folder = out / f"node-{index}"
        assert Keyring(folder / "keystore").account("validator", PASSPHRASE).address == address
        for path in (folder, folder / "keystore", folder / "keystore" / "validator.json", folder / "nodekey"):
            assert private(path), path
        script = (out / f"start-{index}.sh").read_text()
        assert f"--unlock {address}" in script
        assert f"--miner.etherbase {address}" in script
        assert "--mine" in script
        assert "--networkid 4242" in script
        assert f"--port {30302 + index} --authrpc.port {8550 + index}" in script
        # its key is unlocked: no HTTP or WebSocket RPC, and geth would refuse the unlock if one were added
        assert all(flag not in script for flag in ("--http", "--ws", "--allow-insecure-unlock")), script
        peers = (folder / "config.toml").read_text()
        assert shown["enodes"][index - 1] not in peers
        assert all(enode in peers for enode in shown["enodes"][:3] if enode != shown["enodes"][index - 1])
    rpc_node = (out / "start-rpc.sh").read_text()
    assert "--http --http.addr 127.0.0.1 --http.port 8545 --http.api eth,net,web3,txpool " in rpc_node
    assert "--ws --ws.addr 127.0.0.1 --ws.port 8546 --ws.api eth,net,web3,txpool" in rpc_node
    assert "--syncmode full --port 30306 --authrpc.port 8554 --gcmode archive" in rpc_node
    assert all(flag not in rpc_node for flag in ("--unlock", "--mine", "--keystore", "clique", "--http.vhosts"))
    assert all(enode in (out / "rpc" / "config.toml").read_text() for enode in shown["enodes"][:3])
    assert shown["rpc_url"] == "http://127.0.0.1:8545"
    assert "COLLAB_RPC_URL=http://127.0.0.1:8545" in (out / "README.txt").read_text()
    assert genesis(out)["alloc"] == {FUNDED.lower(): {"balance": hex(1_000_000 * ETHER)}}
    assert private(out)
    assert PASSPHRASE not in json.dumps(shown)


def test_geth_accepts_the_genesis(tmp_path: Path) -> None:
    geth = geth_path()
    if not geth.exists():
        pytest.skip(f"no cached geth at {geth}: `make geth` builds it")
    out = tmp_path / "net"
    init(out, "--client", "geth", "--validators", "2", "--zero-gas")
    assert genesis(out)["baseFeePerGas"] == "0x0"
    done = subprocess.run(
        [str(geth), "--datadir", str(tmp_path / "data"), "init", str(out / "genesis.json")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Successfully wrote genesis state" in done.stderr


def test_besu_genesis_follows_the_documented_qbft_schema(tmp_path: Path) -> None:
    out = tmp_path / "net"
    shown = init(out, "--client", "besu", "--validators", "4", "--period", "3", "--zero-gas")
    written = genesis(out)
    assert written["config"]["qbft"] == {"blockperiodseconds": 3, "epochlength": 30_000, "requesttimeoutseconds": 10}
    assert written["config"]["zeroBaseFee"] is True
    assert written["baseFeePerGas"] == "0x0"
    assert written["mixHash"] == QBFT_MIX_HASH
    vanity, validators, votes, round_, seals = rlp.decode(bytes.fromhex(written["extraData"][2:]))
    assert (vanity, votes, round_, seals) == (bytes(32), [], b"", [])
    assert ["0x" + address.hex() for address in validators] == [address.lower() for address in shown["validators"]]
    for index, address in enumerate(shown["validators"], start=1):
        key = out / f"node-{index}" / "key"
        assert private(key)
        account = Keyring(out / f"node-{index}" / "keystore").account("validator", PASSPHRASE)
        assert (account.address, key.read_text()) == (address, "0x" + bytes(account.key).hex())
        script = (out / f"start-{index}.sh").read_text()
        assert f"--node-private-key-file=node-{index}/key" in script
        assert "--genesis-file=genesis.json" in script
        assert "--rpc-http-enabled" in script
        assert "--min-gas-price=0" in script
        # the services' HTTP port changes nothing of the network; votes go over the loopback's WebSocket only
        assert f"--rpc-http-port={8544 + index} --rpc-http-api=ETH,NET,WEB3,TXPOOL --rpc-ws-enabled" in script
        assert f"--rpc-ws-host=127.0.0.1 --rpc-ws-port={8548 + index} --rpc-ws-api=QBFT" in script
    assert "over WebSocket on 127.0.0.1:8549+N-1" in (out / "README.txt").read_text()


def test_qbft_extra_data_is_the_one_besu_documents() -> None:
    assert qbft_extra_data(BESU_DOC_VALIDATORS) == BESU_DOC_EXTRA_DATA
    assert qbft_validators(BESU_DOC_EXTRA_DATA) == ["0x" + address for address in BESU_DOC_VALIDATORS]


def test_a_folder_that_holds_something_is_refused(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "genesis.json").write_text("{}")
    refused = run("--client", "geth", "--validators", "1", "--out", str(tmp_path / "net"))
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: FolderNotEmpty:")
    assert (tmp_path / "net" / "genesis.json").read_text() == "{}"


def test_no_passphrase_no_network(tmp_path: Path) -> None:
    refused = run("--client", "besu", "--validators", "1", "--zero-gas", "--out", str(tmp_path / "net"), passphrase="")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: EmptyPassphrase")
    assert not (tmp_path / "net").exists()


def test_an_unknown_client_is_refused(tmp_path: Path) -> None:
    refused = run("--client", "parity", "--validators", "1", "--out", str(tmp_path / "net"))
    assert refused.exit_code == 2
    assert not (tmp_path / "net").exists()


@pytest.mark.parametrize("client", ["geth", "besu"])
def test_a_chain_with_fees_and_no_funded_account_is_refused(tmp_path: Path, client: str) -> None:
    refused = run("--client", client, "--validators", "2", "--out", str(tmp_path / "net"))
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: UnfundedNetwork:")
    assert "--fund ADDRESS" in refused.stderr
    assert "--zero-gas" in refused.stderr
    assert "Traceback" not in refused.output
    assert not (tmp_path / "net").exists()


@pytest.mark.parametrize("client", ["geth", "besu"])
def test_fund_gives_each_account_its_ether_in_the_genesis(tmp_path: Path, client: str) -> None:
    other = "0x000000000000000000000000000000000000bEEF"
    shown = init(tmp_path / "net", "--client", client, "--validators", "1", "--fund", FUNDED, "--fund", f"{other}=2.5")
    assert genesis(tmp_path / "net")["alloc"] == {
        FUNDED.lower(): {"balance": hex(1_000_000 * ETHER)},
        other.lower(): {"balance": hex(25 * ETHER // 10)},
    }
    assert shown["funded"] == {FUNDED: "1000000", other: "2.5"}


@pytest.mark.parametrize(
    ("fund", "error"),
    [
        (["0x1234"], "InvalidInput: malformed address"),
        ([f"{FUNDED}=lots"], "InvalidAmount: malformed amount"),
        ([f"{FUNDED}=0"], "InvalidAmount: invalid amount"),
        ([FUNDED, FUNDED.lower()], f"InvalidInput: --fund names {FUNDED} twice"),
    ],
)
def test_a_malformed_or_repeated_fund_is_refused(tmp_path: Path, fund: list[str], error: str) -> None:
    refused = run(
        "--client", "geth", "--validators", "1", "--out", str(tmp_path / "net"), *(f"--fund={f}" for f in fund)
    )
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: {error}"), refused.stderr
    assert not (tmp_path / "net").exists()


def test_nodes_take_their_ports_from_the_base_options(tmp_path: Path) -> None:
    out = tmp_path / "net"
    ports = ["--p2p-port", "28000", "--http-port", "28100", "--authrpc-port", "28200", "--rpc-addr", "0.0.0.0"]
    shown = init(out, "--client", "geth", "--validators", "2", "--zero-gas", *ports, "--rpc-host", "rpc.example")
    assert [enode.rsplit(":", 1)[1] for enode in shown["enodes"]] == ["28000", "28001", "28002"]
    for index in (1, 2):
        assert f"--port {27999 + index} --authrpc.port {28199 + index}" in (out / f"start-{index}.sh").read_text()
    rpc_node = (out / "start-rpc.sh").read_text()
    assert "--port 28002 --authrpc.port 28202" in rpc_node
    assert "--http.addr 0.0.0.0 --http.port 28100 --http.api eth,net,web3,txpool --http.vhosts" in rpc_node
    assert "--ws.addr 0.0.0.0 --ws.port 28101" in rpc_node
    assert shown["rpc_url"] == "http://127.0.0.1:28100"
    assert "answers the Host names localhost, rpc.example (--rpc-host)" in (out / "README.txt").read_text()


@pytest.mark.parametrize(
    ("hosts", "vhosts"),
    [
        (["rpc.example.internal"], "localhost,rpc.example.internal"),
        (["A.example,b.example", "c-1", "a.example"], "localhost,a.example,b.example,c-1"),
        (["*"], "'*'"),
        (["rpc.example", "*"], "'*'"),
    ],
)
def test_the_rpc_node_answers_the_host_names_given(tmp_path: Path, hosts: list[str], vhosts: str) -> None:
    out = tmp_path / "net"
    names = [f"--rpc-host={host}" for host in hosts]
    init(out, "--client", "geth", "--validators", "1", "--zero-gas", "--rpc-addr", "10.1.2.3", *names)
    assert f"--http.vhosts {vhosts} --ws" in (out / "start-rpc.sh").read_text()


def test_an_rpc_node_beyond_the_loopback_without_host_names_is_refused(tmp_path: Path) -> None:
    """Answering any Host header would open the node to DNS rebinding: the operator names the hosts, or says '*'."""
    out = tmp_path / "net"
    refused = run("--client", "geth", "--validators", "1", "--zero-gas", "--rpc-addr", "0.0.0.0", "--out", str(out))
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: InvalidInput: --rpc-addr 0.0.0.0 serves the RPC node beyond the loopback")
    assert "--rpc-host NAME" in refused.stderr
    assert "--rpc-host '*'" in refused.stderr
    assert "Traceback" not in refused.output
    assert not out.exists()


@pytest.mark.parametrize(
    "options",
    [
        ["--p2p-port", "8545"],  # the validators' p2p ports 8545, 8546 and the RPC node's 8547 meet HTTP and WS
        ["--authrpc-port", "30304"],
        ["--p2p-port", "65535"],
        ["--rpc-addr", "localhost"],
        ["--rpc-host", "rpc example"],
        ["--rpc-host", "rpc.example,"],
        ["--rpc-host", "-rpc.example"],
    ],
)
def test_ports_that_clash_or_do_not_exist_are_refused(tmp_path: Path, options: list[str]) -> None:
    refused = run("--client", "geth", "--validators", "2", "--zero-gas", "--out", str(tmp_path / "net"), *options)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: InvalidInput:"), refused.stderr
    assert not (tmp_path / "net").exists()


def test_the_scripts_run_the_projects_geth_else_geth_from_the_path(tmp_path: Path) -> None:
    nowhere = {"COLLAB_GETH": None, "COLLAB_CACHE_DIR": str(tmp_path / "no-cache")}
    init(tmp_path / "bare", "--client", "geth", "--validators", "1", "--fund", FUNDED, env=nowhere)
    script = (tmp_path / "bare" / "start-1.sh").read_text()
    assert "|| geth --datadir node-1/data init genesis.json" in script
    assert "\nexec geth --config" in script
    assert "put geth 1.13.15 on the PATH" in (tmp_path / "bare" / "README.txt").read_text()
    geth = installed_geth()
    if geth is None:
        pytest.skip(f"no cached geth at {geth_path()}: `make geth` builds it")
    init(tmp_path / "found", "--client", "geth", "--validators", "1", "--fund", FUNDED)
    for name in ("start-1.sh", "start-rpc.sh"):
        assert f"\nexec {geth} --config" in (tmp_path / "found" / name).read_text()


#: A stand-in for geth 1.13.15: ``attach`` prints $FAKE_ATTACH; the node runs 3 s and exits 3, or 7 on SIGTERM.
FAKE_GETH = """#!/bin/sh
case $1 in
version) echo "Version: 1.13.15-stable" ;;
attach) echo "$FAKE_ATTACH" ;;
--config)
  trap 'echo "fake geth: stopped" >&2; exit 7' TERM
  for tick in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do sleep 0.2; done
  exit 3 ;;
esac
"""


@pytest.mark.parametrize(
    ("answer", "timeout", "status", "said"),
    [
        # miner.setGasPrice(0) answered: the script waits on geth and exits with its status
        ("true", "1", 3, ""),
        # no answer within COLLAB_IPC_TIMEOUT: the script says so, stops geth and fails
        (
            "false",
            "1",
            1,
            "start-rpc.sh: geth gave no answer on rpc/data/geth.ipc within 1 s (COLLAB_IPC_TIMEOUT), so its minimum "
            "gas price is not 0 (zero gas): stopping it\nfake geth: stopped\n",
        ),
        # a timeout that is not a whole number would never expire: refused before geth starts
        (
            "true",
            "2m",
            2,
            "start-rpc.sh: COLLAB_IPC_TIMEOUT is seconds to wait for geth, a whole number: not '2m'\n",
        ),
    ],
)
def test_a_zero_gas_start_script_sets_the_gas_price_or_stops_geth(
    tmp_path: Path, answer: str, timeout: str, status: int, said: str
) -> None:
    fake = tmp_path / "geth"
    fake.write_text(FAKE_GETH)
    fake.chmod(0o700)
    init(tmp_path / "net", "--client", "geth", "--validators", "1", "--zero-gas", env={"COLLAB_GETH": str(fake)})
    done = subprocess.run(
        [str(tmp_path / "net" / "start-rpc.sh")],
        env={**os.environ, "FAKE_ATTACH": answer, "COLLAB_IPC_TIMEOUT": timeout},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (done.returncode, done.stderr) == (status, said)
    assert "each script sets its node's minimum gas price" in (tmp_path / "net" / "README.txt").read_text()


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports in 28000-28999 that were all free a moment ago."""
    for base in random.sample(range(28000, 29000 - count, count), 200 // count):
        with contextlib.ExitStack() as probes:
            try:
                for port in range(base, base + count):
                    probes.enter_context(socket.socket()).bind(("0.0.0.0", port))
            except OSError:
                continue
            return base
    pytest.skip("no free ports in 28000-28999")


def http_status(url: str, host: str) -> int:
    """The HTTP status of a JSON-RPC request to ``url`` that names the server ``host`` (its Host header)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        connection.request("POST", "/", body, {"Host": host, "Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (Linux /proc: its sockets' inodes in the listening table)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@contextlib.contextmanager
def started(
    folder: Path, scripts: list[str], env: dict[str, str], after_first: Callable[[], None] = lambda: None
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Runs each start script from ``folder`` (as an operator would, in its own session), ``after_first`` between
    the first and the others; stops them all after."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for position, name in enumerate(scripts):
            if position == 1:
                after_first()
            with (folder / f"{name}.log").open("wb") as log:
                processes[name] = subprocess.Popen(
                    [f"./net/{name}"],
                    cwd=folder,
                    env={**os.environ, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
        yield processes
    finally:
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@dataclass
class Network:
    """A network ``network init`` wrote to ``folder / "net"``, its start scripts running from ``folder``; ``base``:
    its first port (p2p from there, the engine API after, then the RPC node's HTTP and WebSocket)."""

    folder: Path
    base: int
    shown: dict[str, Any]
    scripts: dict[str, subprocess.Popen[bytes]]

    @property
    def url(self) -> str:
        return str(self.shown["rpc_url"])

    def logs(self) -> str:
        return "".join(f"{name}: {(self.folder / f'{name}.log').read_text()[-1500:]}\n" for name in self.scripts)

    def wait_for_blocks(self, count: int) -> None:
        def sealed() -> bool:
            assert all(script.poll() is None for script in self.scripts.values()), self.logs()
            return int(rpc(self.url, "eth_blockNumber"), 16) >= count

        wait_until(sealed, 60, lambda: f"the RPC node saw no {count} blocks:\n{self.logs()}")

    def mined(self, tx: dict[str, Any], sender: LocalAccount) -> dict[str, Any]:
        """The receipt of ``tx``, signed by ``sender`` and sent to the RPC node, once a sealer includes it."""
        sent = rpc(self.url, "eth_sendRawTransaction", [sender.sign_transaction(tx).raw_transaction.to_0x_hex()])
        receipt: dict[str, Any] | None = None

        def included() -> bool:
            nonlocal receipt
            try:
                receipt = rpc(self.url, "eth_getTransactionReceipt", [sent])
            except CollabError as error:  # geth answers so until it has indexed the chain's transactions
                if "transaction indexing is in progress" not in str(error):
                    raise
            return receipt is not None

        wait_until(included, 30, self.logs)
        assert receipt is not None
        return receipt


@contextlib.contextmanager
def network(folder: Path, validators: int, *options: str) -> Iterator[Network]:
    """The README's layout: ``validators`` sealers (1 s blocks) and the RPC node side by side on free ports, each
    start script run from ``folder`` with the passphrase file given relative to it."""
    if installed_geth() is None:
        pytest.skip(f"no cached geth at {geth_path()}: `make geth` builds it")
    nodes = validators + 1
    base = free_ports(2 * nodes + 2)
    ports = ["--p2p-port", str(base), "--authrpc-port", str(base + nodes), "--http-port", str(base + 2 * nodes)]
    write_private(folder / "passphrase.txt", PASSPHRASE)  # 0600: a passphrase file others can read is refused
    relative = {"COLLAB_PASSPHRASE_FILE": "passphrase.txt"}
    with contextlib.chdir(folder):
        shown = init(
            folder / "net", "--client", "geth", "--validators", str(validators), "--period", "1", *ports, *options,
            env={**relative, "COLLAB_PASSPHRASE": None},
        )  # fmt: skip
    scripts = [*(f"start-{index}.sh" for index in range(1, nodes)), "start-rpc.sh"]
    ipc = folder / "net" / "node-1" / "data" / "geth.ipc"

    def first_block() -> None:
        """Until the first sealer has sealed block 1: two Clique sealers started at once can each seal a block 1 of
        their own and then each wait for the other (about one start in six here); operators start them apart."""
        log = folder / "start-1.sh.log"
        wait_until(
            lambda: int(ipc_request(ipc, "eth_blockNumber"), 16) >= 1, 60, lambda: f"no block 1:\n{log.read_text()}"
        )

    with started(folder, scripts, relative, first_block) as processes:
        yield Network(folder, base, shown, processes)


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.e2e  # `make e2e`, which builds geth first: with the suite on a real network, never skipped in CI
def test_two_sealers_and_the_rpc_node_run_on_one_machine_from_the_scripts(tmp_path: Path) -> None:
    """Fees on, one account funded by the genesis, and the RPC node named by a host name."""
    funded: LocalAccount = Account.create()
    options = ["--fund", funded.address, "--rpc-host", "rpc.example.internal"]
    with network(tmp_path, 2, *options) as net:
        net.wait_for_blocks(4)
        url, base = net.url, net.base
        ipc = tmp_path / "net" / "node-1" / "data" / "geth.ipc"  # a sealer answers on IPC only
        hashes = [rpc(url, "eth_getBlockByNumber", [hex(number), False])["hash"] for number in range(1, 5)]
        signers = {ipc_request(ipc, "clique_getSigner", [block]) for block in hashes}
        assert signers == {address.lower() for address in net.shown["validators"]}
        assert int(rpc(url, "eth_getBalance", [funded.address, "latest"]), 16) == 1_000_000 * ETHER
        # a transfer that pays fees, sent to the RPC node, reaches a sealer and is mined
        price = int(rpc(url, "eth_gasPrice"), 16)
        net.mined({"to": FUNDED, "value": ETHER, "gas": 21_000, "gasPrice": price, "nonce": 0, "chainId": 1337}, funded)
        assert int(rpc(url, "eth_getBalance", [FUNDED, "latest"]), 16) == ETHER
        for index, name in enumerate(["start-1.sh", "start-2.sh"]):
            assert listening_ports(net.scripts[name].pid) == {base + index, base + 3 + index}, "a sealer serves RPC"
        assert listening_ports(net.scripts["start-rpc.sh"].pid) == {base + 2, base + 5, base + 6, base + 7}
        # HTTP answers the names given and localhost (and IP addresses): no other, against DNS rebinding
        statuses = {host: http_status(url, host) for host in ("rpc.example.internal", "localhost", "evil.example")}
        assert statuses == {"rpc.example.internal": 200, "localhost": 200, "evil.example": 403}


@pytest.mark.e2e
def test_a_zero_gas_network_includes_a_free_transaction_with_no_manual_step(tmp_path: Path) -> None:
    """The start scripts set each node's minimum gas price to 0 (geth raises --miner.gasprice 0 to 1 gwei): a
    transaction of an account that holds nothing, at gas price 0, is mined. SIGTERM to a script stops its geth."""
    with network(tmp_path, 1, "--zero-gas") as net:
        net.wait_for_blocks(2)
        sender: LocalAccount = Account.create()
        tx = {"to": FUNDED, "value": 0, "gas": 21_000, "gasPrice": 0, "nonce": 0, "chainId": 1337}
        receipt = net.mined(tx, sender)
        assert (receipt["status"], receipt["effectiveGasPrice"]) == ("0x1", "0x0")
        for name, script in net.scripts.items():
            [geth] = children(script.pid)  # past the gas price, the script only waits on geth
            os.kill(script.pid, signal.SIGTERM)  # the script alone, as a service manager stops its main process
            assert script.wait(30) == 0, net.logs()  # geth's own status after a clean stop
            assert not Path(f"/proc/{geth}").exists(), f"{name} left geth running"
