"""``collab network init``: what an operator needs to start a consortium network of N validators, for geth 1.13
Clique or Besu QBFT: the genesis, each validator's keys and the commands that initialise and start its node; for geth
also a non-sealing RPC node for the services, since the sealers hold their keys unlocked and serve no RPC but IPC."""

from __future__ import annotations

import enum
import ipaddress
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from collab_py.chain.network import NodeKey, clique_genesis, qbft_genesis
from collab_py.cli.context import InvalidInput, amount, parse_address, parse_amount, readable_errors, show, state
from collab_py.cli.dev import FolderNotEmpty
from collab_py.devnet.geth import GETH_VERSION, installed_geth
from collab_py.domain.keys import Keyring
from collab_py.exceptions import CollabError
from collab_py.files import private_folder, write_private

network = typer.Typer(help="Start a consortium network of your own (geth Clique or Besu QBFT).")

#: The name of each validator's keystore in its node folder's ``keystore`` keyring.
VALIDATOR_KEY = "validator"
P2P_PORT = 30303
HTTP_PORT = 8545
AUTHRPC_PORT = 8551
HOST = "127.0.0.1"
#: What the geth RPC node serves over HTTP and WebSocket: no admin, miner, clique or personal API.
RPC_API = "eth,net,web3,txpool"
#: What a Besu node serves over HTTP (the services' port): no QBFT, ADMIN or other API that changes the network.
BESU_API = "ETH,NET,WEB3,TXPOOL"
#: What a Besu validator serves over WebSocket on the loopback only, for its operator's validator votes.
BESU_VOTE_API = "QBFT"
#: The balance ``--fund ADDRESS`` gives an account in the genesis, in ether.
FUND_ETHER = "1000000"
ETHER_DECIMALS = 18
#: The start scripts' first lines: the passphrase file as an absolute path, read from where the script is started.
PASSPHRASE_FILE = [
    "passphrase=${COLLAB_PASSPHRASE_FILE:?set COLLAB_PASSPHRASE_FILE to the keystore passphrase file}",
    "case $passphrase in /*) ;; *) passphrase=$PWD/$passphrase ;; esac",
]
CD = 'cd "$(dirname "$0")"'
#: A DNS host name: dot-separated labels of letters, digits and inner hyphens.
HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")
#: How long a zero-gas network's start script waits for geth to answer on IPC, in seconds (COLLAB_IPC_TIMEOUT).
IPC_TIMEOUT = 120


class Client(enum.StrEnum):
    """The node software a network runs."""

    GETH = "geth"
    BESU = "besu"


class UnfundedNetwork(CollabError):
    """A network whose transactions cost ether would start with no account holding any."""


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.add_typer(network, name="network")


@dataclass(frozen=True)
class Ports:
    """The first port of each kind: node N (validators 1..V, then the geth RPC node as V + 1) uses the first + N - 1,
    except HTTP on geth, which only the RPC node serves, on ``http`` itself (WebSocket: ``http + 1``)."""

    p2p: int
    http: int
    authrpc: int

    def check(self, client: Client, validators: int) -> None:
        """Refuses a port beyond 65535 and a port two listeners share: on one machine all nodes run side by side."""
        count = validators + 1 if client is Client.GETH else validators
        used = list(range(self.p2p, self.p2p + count))
        used += range(self.authrpc, self.authrpc + count)
        used += [self.http, self.http + 1] if client is Client.GETH else range(self.http, self.http + count)
        if max(used) > 65535:
            raise InvalidInput(
                f"the nodes need ports up to {max(used)}: lower --p2p-port, --http-port or --authrpc-port"
            )
        if len(set(used)) < len(used):
            raise InvalidInput("two listeners would share a port: give --p2p-port, --http-port, --authrpc-port apart")


@dataclass(frozen=True)
class Node:
    """One node: its index, p2p key (on Besu QBFT the validator key) and ports, and a validator's address (None: the
    geth RPC node)."""

    index: int
    node_key: NodeKey
    ports: Ports
    address: str | None = None

    @property
    def folder(self) -> str:
        """Its folder, relative to the network folder."""
        return f"node-{self.index}" if self.address else "rpc"

    @property
    def script(self) -> str:
        return f"start-{self.index}.sh" if self.address else "start-rpc.sh"

    @property
    def p2p_port(self) -> int:
        return self.ports.p2p + self.index - 1

    @property
    def authrpc_port(self) -> int:
        return self.ports.authrpc + self.index - 1

    @property
    def http_port(self) -> int:
        return self.ports.http + self.index - 1 if self.address else self.ports.http

    @property
    def enode(self) -> str:
        return self.node_key.enode(HOST, self.p2p_port)


@network.command("init")
@readable_errors
def init(
    client: Annotated[Client, typer.Option(help="The node software: geth 1.13 (Clique) or Besu (QBFT).")],
    validators: Annotated[int, typer.Option(help="Number of validators (sealers), one node each.", min=1, max=64)],
    chain_id: Annotated[int, typer.Option(help="The chain id (and network id).", min=1)] = 1337,
    period: Annotated[int, typer.Option(help="Seconds between blocks.", min=1)] = 2,
    gas_limit: Annotated[int, typer.Option(help="The block gas limit.", min=5000)] = 30_000_000,
    zero_gas: Annotated[bool, typer.Option(help="Base fee 0, minimum gas price 0: free transactions.")] = False,
    fund: Annotated[
        list[str] | None,
        typer.Option(
            help=f"ADDRESS or ADDRESS=ETHER: an account the genesis gives ether (default {int(FUND_ETHER):,}); "
            "repeat it for the deployer's (governance) and each org's accounts. Required without --zero-gas.",
        ),
    ] = None,
    p2p_port: Annotated[int, typer.Option(help="Node N's p2p port is this + N - 1.", min=1, max=65535)] = P2P_PORT,
    http_port: Annotated[
        int,
        typer.Option(
            help="geth: the RPC node's HTTP port (WebSocket: the next one); Besu: node N's is this + N - 1.",
            min=1,
            max=65535,
        ),
    ] = HTTP_PORT,
    authrpc_port: Annotated[
        int | None,
        typer.Option(
            help="Node N's loopback-only port is this + N - 1: geth's engine API (default 8551); Besu's QBFT API "
            "(validator votes) over WebSocket (default: the port after the last node's HTTP port).",
            min=1,
            max=65535,
        ),
    ] = None,
    rpc_addr: Annotated[
        str, typer.Option(help="geth: the IPv4 address the RPC node's HTTP and WebSocket listen on.")
    ] = HOST,
    rpc_host: Annotated[
        list[str] | None,
        typer.Option(
            help="geth: a host name the services reach the RPC node by (repeat it, or separate names by commas): "
            "its HTTP answers only these names, localhost and IP addresses (the DNS-rebinding guard). Required with "
            "an --rpc-addr beyond the loopback; '*' answers any name.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="The folder to write (new or empty).")] = Path("network"),
) -> None:
    """Writes a new network's genesis, one encrypted keystore per validator (the usual passphrase), its p2p key
    and the commands to initialise and start each node (start-N.sh; for geth also the RPC node's start-rpc.sh) and
    README.txt into a new folder."""
    out = out.absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FolderNotEmpty(f"{out} is not an empty folder: give another --out, or remove it to start over")
    alloc = _allocation(fund or [])
    if not alloc and not zero_gas:
        raise UnfundedNetwork(
            "no account would hold ether to pay for gas (Clique and QBFT pay no block rewards): give --fund ADDRESS "
            "for the deployer's (governance) and each org's accounts, or --zero-gas for free transactions"
        )
    listen = _listen_address(rpc_addr)
    vhosts = _virtual_hosts(rpc_host or [], listen) if client is Client.GETH else []
    if authrpc_port is None:
        authrpc_port = AUTHRPC_PORT if client is Client.GETH else http_port + validators
    ports = Ports(p2p_port, http_port, authrpc_port)
    ports.check(client, validators)
    passphrase = state.settings.passphrase(prompt=True)
    private_folder(out)
    accounts = [
        Keyring(private_folder(out / f"node-{index}") / "keystore").create_account(VALIDATOR_KEY, passphrase)
        for index in range(1, validators + 1)
    ]
    nodes = []
    for index, account in enumerate(accounts, start=1):
        # Besu QBFT: the node key is the validator key; geth: a separate p2p key
        key = NodeKey(bytes(account.key)) if client is Client.BESU else NodeKey.generate()
        nodes.append(Node(index, key, ports, account.address))
    addresses = [account.address for account in accounts]
    geth = installed_geth()
    if client is Client.GETH:
        genesis = clique_genesis(
            chain_id=chain_id,
            signers=addresses,
            period=period,
            gas_limit=gas_limit,
            base_fee=0 if zero_gas else None,
            alloc=alloc,
        )
        nodes.append(Node(validators + 1, NodeKey.generate(), ports))
        serving = _serving(nodes[-1].http_port, listen, vhosts)
        scripts = _write_geth(out, nodes, chain_id, gas_limit, zero_gas, serving, str(geth or "geth"))
    else:
        genesis = qbft_genesis(
            chain_id=chain_id,
            validators=addresses,
            period=period,
            request_timeout=max(10, 2 * period),
            gas_limit=gas_limit,
            zero_base_fee=zero_gas,
            alloc=alloc,
        )
        scripts = _write_besu(out, nodes, zero_gas)
    write_private(out / "genesis.json", json.dumps(genesis, indent=2) + "\n")
    write_private(out / "static-nodes.txt", "".join(f"{node.enode}\n" for node in nodes))
    for name, lines in scripts.items():
        _script(out / name, lines)
    rpc_url = _rpc_url(client, nodes, listen)
    write_private(out / "README.txt", _readme(client, nodes, zero_gas, rpc_url, vhosts, geth))
    secret = "nodekey" if client is Client.GETH else "key"
    keystore = f"keystore/{VALIDATOR_KEY}.json"
    files = ["genesis.json", "static-nodes.txt", "README.txt", *scripts]
    files += [f"{node.folder}/{name}" for node in nodes for name in ((keystore, secret) if node.address else (secret,))]
    show(
        {
            "folder": str(out),
            "client": client.value,
            "consensus": "clique" if client is Client.GETH else "qbft",
            "chain_id": chain_id,
            "zero_gas": zero_gas,
            "validators": addresses,
            "enodes": [node.enode for node in nodes],
            "funded": {address: f"{amount(wei, ETHER_DECIMALS).normalize():f}" for address, wei in alloc.items()},
            "rpc_url": rpc_url,
            "files": files,
        },
        f"{client.value} network of {validators}",
        next_step=f"read {out / 'README.txt'}: copy each node-N folder with genesis.json and start-N.sh to validator "
        "N's machine, set the hosts in the static peers, then run start-N.sh there"
        + (" and start-rpc.sh on the services' node" if client is Client.GETH else ""),
    )


def _allocation(funds: Sequence[str]) -> dict[str, int]:
    """The genesis balances in wei of ``--fund ADDRESS[=ETHER]``."""
    alloc: dict[str, int] = {}
    for text in funds:
        address, _, ether = text.partition("=")
        account = parse_address(address.strip())
        if account in alloc:
            raise InvalidInput(f"--fund names {account} twice")
        alloc[account] = parse_amount(ether.strip() or FUND_ETHER, ETHER_DECIMALS)
    return alloc


def _listen_address(text: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise InvalidInput(f"malformed --rpc-addr {text!r}: an IPv4 address such as 127.0.0.1 or 0.0.0.0") from None


def _virtual_hosts(names: Sequence[str], listen: ipaddress.IPv4Address) -> list[str]:
    """geth's ``--http.vhosts`` for ``--rpc-host NAME``: localhost (its default) and the names, or ``*`` alone; none
    (geth's default) for a loopback node without names. A node beyond the loopback needs them."""
    hosts = list(dict.fromkeys(name.strip().lower() for text in names for name in text.split(",")))
    for name in hosts:
        if name != "*" and not HOST_NAME.fullmatch(name):
            raise InvalidInput(f"malformed --rpc-host {name!r}: a host name such as rpc.example.internal, or '*'")
    if not hosts and not listen.is_loopback:
        raise InvalidInput(
            f"--rpc-addr {listen} serves the RPC node beyond the loopback: name the hosts its clients reach it by "
            "with --rpc-host NAME (geth refuses other Host headers, which guards against DNS rebinding), or give "
            "--rpc-host '*' to answer any name"
        )
    if "*" in hosts:
        return ["*"]
    return ["localhost", *hosts] if hosts else []


def _rpc_url(client: Client, nodes: Sequence[Node], listen: ipaddress.IPv4Address) -> str:
    """The JSON-RPC URL the services use on the machine of the node that serves it (geth's RPC node, Besu's node 1)."""
    if client is Client.BESU:
        return f"http://{HOST}:{nodes[0].http_port}"
    return f"http://{HOST if listen.is_unspecified else listen}:{nodes[-1].http_port}"


def _command(words: Sequence[str]) -> str:
    return " ".join(shlex.quote(word) if not word.startswith('"$') else word for word in words)


def _script(path: Path, lines: Sequence[str]) -> None:
    body = ["#!/bin/sh", "# written by collab network init", "set -eu", *lines]
    write_private(path, "\n".join(body) + "\n")
    path.chmod(0o700)


def _write_geth(
    out: Path,
    nodes: Sequence[Node],
    chain_id: int,
    gas_limit: int,
    zero_gas: bool,
    serving: Sequence[str],
    geth: str,
) -> dict[str, list[str]]:
    """Each node's ``nodekey``, ``config.toml`` (its static peers: every other validator) and start script: the
    sealers' serve no RPC but IPC, since their keys are unlocked; the RPC node's (the last node) serves the services
    with the options ``serving``. On a zero-gas network each script also sets its node's minimum gas price to 0."""
    scripts: dict[str, list[str]] = {}
    for node in nodes:
        folder = private_folder(out / node.folder)
        write_private(folder / "nodekey", node.node_key.hex)
        peers = ", ".join(json.dumps(peer.enode) for peer in nodes if peer.address and peer is not node)
        write_private(folder / "config.toml", f"[Node.P2P]\nNoDiscovery = true\nStaticNodes = [{peers}]\n")
        init = [geth, "--datadir", f"{node.folder}/data", "init", "genesis.json"]
        start = [
            geth, "--config", f"{node.folder}/config.toml",
            "--datadir", f"{node.folder}/data",
            "--nodekey", f"{node.folder}/nodekey",
            "--networkid", str(chain_id),
            "--syncmode", "full",
            "--port", str(node.p2p_port),
            "--authrpc.port", str(node.authrpc_port),
            *(_sealing(node.folder, node.address, gas_limit) if node.address else serving),
        ]  # fmt: skip
        command = _command(start)
        scripts[node.script] = [
            *(PASSPHRASE_FILE if node.address else []),
            CD,
            f"[ -d {node.folder}/data/geth/chaindata ] || {_command(init)}",
            *(_run_at_zero_gas_price(node, command, geth) if zero_gas else [f"exec {command}"]),
        ]
    return scripts


def _run_at_zero_gas_price(node: Node, command: str, geth: str) -> list[str]:
    """Runs geth's ``command`` and sets its minimum gas price to 0 once its IPC answers, since geth 1.13 raises
    ``--miner.gasprice 0`` to 1 gwei: a sealer would not include a zero-price transaction, nor a node's pool accept
    one. The script waits on geth, passes HUP, INT and TERM on to it and exits with its status; when the IPC gives
    no answer within ``COLLAB_IPC_TIMEOUT`` seconds, it stops geth and fails."""
    ipc = f"{node.folder}/data/geth.ipc"
    set_price = _command([geth, "attach", "--exec", "miner.setGasPrice(0)", ipc])
    return [
        "# zero gas: geth 1.13 raises --miner.gasprice 0 to 1 gwei, so set the price over IPC once geth answers",
        f"limit=${{COLLAB_IPC_TIMEOUT:-{IPC_TIMEOUT}}} waited=0",
        'case $limit in ""|*[!0-9]*)',
        f"  echo \"{node.script}: COLLAB_IPC_TIMEOUT is seconds to wait for geth, a whole number: not '$limit'\" >&2",
        "  exit 2 ;;",
        "esac",
        f"{command} &",
        "geth=$! failed=",
        'stop() { kill -TERM "$geth" 2>/dev/null || :; }',
        "trap stop HUP INT TERM",
        f'until [ "$({set_price} 2>/dev/null)" = true ]; do',
        '  kill -0 "$geth" 2>/dev/null || break  # geth exited: its status below',
        '  if [ "$waited" -ge "$limit" ]; then',
        f'    echo "{node.script}: geth gave no answer on {ipc} within $limit s (COLLAB_IPC_TIMEOUT), so its minimum'
        ' gas price is not 0 (zero gas): stopping it" >&2',
        "    stop; failed=1; break",
        "  fi",
        "  sleep 1; waited=$((waited + 1))",
        "done",
        "# a trapped signal ends wait early: wait again until geth is gone, then exit with its status",
        "while :; do",
        '  status=0; wait "$geth" || status=$?',
        '  kill -0 "$geth" 2>/dev/null || exit "${failed:-$status}"',
        "done",
    ]


def _sealing(folder: str, address: str, gas_limit: int) -> list[str]:
    """A sealer's options: its key unlocked, so no HTTP or WebSocket RPC (geth would refuse the unlock with them)."""
    return [
        "--keystore", f"{folder}/keystore",
        "--mine", "--miner.etherbase", address, "--miner.gaslimit", str(gas_limit),
        "--unlock", address, "--password", '"$passphrase"',
    ]  # fmt: skip


def _serving(port: int, listen: ipaddress.IPv4Address, vhosts: Sequence[str]) -> list[str]:
    """The RPC node's options: HTTP and WebSocket without admin, miner or clique API, and archive state (as the
    devnet's RPC node: a crash does not rewind its head to the last state flushed to disk). HTTP answers the Host
    names ``vhosts`` (geth's default, localhost, when empty); WebSocket checks no Host, and the Origin only of
    browsers (geth 1.13 skips the check when a client sends none, as the services' client does)."""
    api, host = RPC_API, str(listen)
    return [
        "--gcmode", "archive",
        "--http", "--http.addr", host, "--http.port", str(port), "--http.api", api,
        *(["--http.vhosts", ",".join(vhosts)] if vhosts else []),
        "--ws", "--ws.addr", host, "--ws.port", str(port + 1), "--ws.api", api,
    ]  # fmt: skip


def _host_names(vhosts: Sequence[str]) -> list[str]:
    """What README.txt says of the RPC node's ``--http.vhosts``."""
    if not vhosts:
        return []
    if "*" in vhosts:
        return ["Its HTTP answers any Host name (--rpc-host '*'): nothing guards it against DNS rebinding."]
    return [
        f"Its HTTP answers the Host names {', '.join(vhosts)} (--rpc-host) and IP addresses, no other (a guard",
        "against DNS rebinding); its WebSocket checks only the Origin that browsers send.",
    ]


def _write_besu(out: Path, nodes: Sequence[Node], zero_gas: bool) -> dict[str, list[str]]:
    """Each node's ``key`` (its validator key in hex: the one plaintext secret, mode 0600) and start-N.sh; every
    node boots from the others."""
    scripts: dict[str, list[str]] = {}
    for node in nodes:
        write_private(out / node.folder / "key", "0x" + node.node_key.hex)
        start = [
            "besu",
            f"--data-path={node.folder}/data",
            "--genesis-file=genesis.json",
            f"--node-private-key-file={node.folder}/key",
            f"--p2p-port={node.p2p_port}",
            f"--bootnodes={','.join(peer.enode for peer in nodes if peer is not node)}",
            "--rpc-http-enabled",
            f"--rpc-http-host={HOST}",
            f"--rpc-http-port={node.http_port}",
            f"--rpc-http-api={BESU_API}",
            "--rpc-ws-enabled",
            f"--rpc-ws-host={HOST}",
            f"--rpc-ws-port={node.authrpc_port}",
            f"--rpc-ws-api={BESU_VOTE_API}",
            "--host-allowlist=localhost,127.0.0.1",
            *(["--min-gas-price=0"] if zero_gas else []),
        ]
        scripts[node.script] = [CD, f"exec {_command(start)}"]
    return scripts


def _readme(
    client: Client, nodes: Sequence[Node], zero_gas: bool, rpc_url: str, vhosts: Sequence[str], geth: Path | None
) -> str:
    validators = [node for node in nodes if node.address]
    first = nodes[0]
    common = [
        f"A {client.value} network of {len(validators)} validators"
        + (" and a non-sealing RPC node" if client is Client.GETH else "")
        + ", written by `collab network init`.",
        "",
        "Each node-N folder belongs to validator N: copy it with genesis.json and start-N.sh to that machine.",
        "node-N/keystore/validator.json is the validator's key, encrypted with the collab keystore passphrase",
        "(eth-account v3 keystore: geth and collab read it). Folders are 0700, secrets 0600: keep them so.",
        "",
        f"Peers: the nodes name each other by enode (static-nodes.txt) at {HOST} and p2p ports {first.p2p_port}+N-1;",
        f"on separate machines replace {HOST}:PORT by each validator's host and p2p port in "
        + (
            "node-N/config.toml and rpc/config.toml (StaticNodes)."
            if client is Client.GETH
            else "start-N.sh (--bootnodes)."
        ),
        "",
    ]
    funds = (
        ["Zero gas: transactions are free; no account needs ether."]
        if zero_gas
        else [
            "Ether: only the accounts of genesis.json's alloc (--fund) hold any, as Clique and QBFT pay no block",
            "rewards: send the other accounts that transact what they need from them.",
        ]
    )
    if client is Client.GETH:
        rpc = nodes[-1]
        specific = [
            f"geth {GETH_VERSION} (the last geth that seals Clique). On validator N's machine:",
            "  export COLLAB_PASSPHRASE_FILE=/path/to/passphrase   # unlocks the validator key to seal",
            "  ./start-N.sh        # geth init on the first run, then geth --mine",
            "(a relative COLLAB_PASSPHRASE_FILE is read from the folder you start the script in).",
            "A validator's key is unlocked to seal, so its node serves no HTTP or WebSocket RPC: only IPC, for",
            "`geth attach node-N/data/geth.ipc`. node-N/nodekey is the node's p2p identity (plaintext, as geth",
            "keeps it).",
            f"Engine API (unused by Clique, always on in geth): {HOST}:{first.authrpc_port}+N-1, the RPC node's next.",
            "",
            f"The services' node: rpc/ and start-rpc.sh, a non-sealing node without keys (p2p port {rpc.p2p_port}),",
            f"archive state. It serves {RPC_API} over HTTP and WebSocket: COLLAB_RPC_URL={rpc_url}",
            f"(WebSocket: port {rpc.http_port + 1}). Run ./start-rpc.sh on the services' machine (or behind a proxy",
            "with TLS that only they reach).",
            *_host_names(vhosts),
            "Clique: a sealer seals at most one of every floor(N/2)+1 blocks: run at least 3 validators.",
            *funds,
            (
                f"The scripts run {geth}: on another machine, put geth {GETH_VERSION} there or edit the path."
                if geth
                else f"No geth {GETH_VERSION} was found (`make geth` builds it; COLLAB_GETH names one): the scripts "
                f"run `geth`: put geth {GETH_VERSION} on the PATH."
            ),
        ]
        if zero_gas:
            specific += [
                "Zero gas: geth raises --miner.gasprice 0 to 1 gwei, so each script sets its node's minimum gas price",
                "to 0 (`geth attach --exec 'miner.setGasPrice(0)'` on its IPC) as soon as geth answers, then waits on",
                "geth: it passes HUP, INT and TERM on to geth and exits with geth's status, so a service manager runs",
                "and stops it as it would geth. If geth gives no answer within COLLAB_IPC_TIMEOUT seconds",
                f"(default {IPC_TIMEOUT}), the script stops geth and fails.",
            ]
    else:
        specific = [
            "Besu (QBFT, block-header validator selection). On each machine: ./start-N.sh",
            "node-N/key is the validator's private key in hex, as Besu reads it (--node-private-key-file): the one",
            "plaintext secret this folder holds, written 0600. The node address is the validator address.",
            f"JSON-RPC listens on {HOST}:{first.http_port}+N-1 ({BESU_API}): put a proxy with TLS in front of the one "
            f"the services use (COLLAB_RPC_URL={rpc_url} on node 1's machine).",
            f"Validator votes (the {BESU_VOTE_API} API: qbft_proposeValidatorVote, qbft_getValidatorsByBlockNumber)",
            f"are served only over WebSocket on {HOST}:{first.authrpc_port}+N-1, from validator N's own machine: "
            "never through the services' port.",
            "QBFT needs more than 2/3 of the validators online: with 4 validators, one may be down.",
            *funds,
        ]
        if zero_gas:
            specific.append("Zero gas: the genesis sets zeroBaseFee and the nodes run with --min-gas-price=0.")
    return "\n".join([*common, *specific]) + "\n"
