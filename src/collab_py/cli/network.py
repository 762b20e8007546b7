"""``collab network init``: what an operator needs to start a consortium network of N validators, for geth 1.13
Clique or Besu QBFT: the genesis, each validator's keys and the commands that initialise and start its node."""

from __future__ import annotations

import enum
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from collab_py.chain.network import NodeKey, clique_genesis, qbft_genesis
from collab_py.cli.context import readable_errors, show, state
from collab_py.cli.dev import FolderNotEmpty
from collab_py.domain.keys import Keyring
from collab_py.files import private_folder, write_private

network = typer.Typer(help="Start a consortium network of your own (geth Clique or Besu QBFT).")

#: The name of each validator's keystore in its node folder's ``keystore`` keyring.
VALIDATOR_KEY = "validator"
P2P_PORT = 30303
HTTP_PORT = 8545
HOST = "127.0.0.1"
GETH_API = "eth,net,web3,txpool,clique"
BESU_API = "ETH,NET,WEB3,TXPOOL,QBFT"


class Client(enum.StrEnum):
    """The node software a network runs."""

    GETH = "geth"
    BESU = "besu"


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.add_typer(network, name="network")


@dataclass(frozen=True)
class Validator:
    """One validator's node: its folder (relative to the network folder), its address and p2p key, its ports."""

    index: int
    address: str
    node_key: NodeKey

    @property
    def folder(self) -> str:
        return f"node-{self.index}"

    @property
    def p2p_port(self) -> int:
        return P2P_PORT + self.index - 1

    @property
    def http_port(self) -> int:
        return HTTP_PORT + self.index - 1

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
    out: Annotated[Path, typer.Option(help="The folder to write (new or empty).")] = Path("network"),
) -> None:
    """Writes a new network's genesis, one encrypted keystore per validator (the usual passphrase), its p2p key
    and the commands to initialise and start each node (start-N.sh, README.txt) into a new folder."""
    out = out.absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FolderNotEmpty(f"{out} is not an empty folder: give another --out, or remove it to start over")
    passphrase = state.settings.passphrase(prompt=True)
    private_folder(out)
    nodes: list[Validator] = []
    for index in range(1, validators + 1):
        ring = Keyring(private_folder(out / f"node-{index}") / "keystore")
        account = ring.create_account(VALIDATOR_KEY, passphrase)
        # Besu QBFT: the node key is the validator key; geth: a separate p2p key
        key = NodeKey(bytes(account.key)) if client is Client.BESU else NodeKey.generate()
        nodes.append(Validator(index, account.address, key))
    addresses = [node.address for node in nodes]
    if client is Client.GETH:
        genesis = clique_genesis(
            chain_id=chain_id,
            signers=addresses,
            period=period,
            gas_limit=gas_limit,
            base_fee=0 if zero_gas else None,
        )
        scripts = _write_geth(out, nodes, chain_id, gas_limit)
    else:
        genesis = qbft_genesis(
            chain_id=chain_id,
            validators=addresses,
            period=period,
            request_timeout=max(10, 2 * period),
            gas_limit=gas_limit,
            zero_base_fee=zero_gas,
        )
        scripts = _write_besu(out, nodes, zero_gas)
    write_private(out / "genesis.json", json.dumps(genesis, indent=2) + "\n")
    write_private(out / "static-nodes.txt", "".join(f"{node.enode}\n" for node in nodes))
    for name, lines in scripts.items():
        _script(out / name, lines)
    write_private(out / "README.txt", _readme(client, nodes, zero_gas))
    files = ["genesis.json", "static-nodes.txt", "README.txt", *scripts]
    secret = "nodekey" if client is Client.GETH else "key"
    files += [f"{node.folder}/{name}" for node in nodes for name in (f"keystore/{VALIDATOR_KEY}.json", secret)]
    show(
        _summary(out, client, chain_id, nodes, files, zero_gas),
        f"{client.value} network of {validators}",
        next_step=f"read {out / 'README.txt'}, copy each node-N folder with genesis.json and start-N.sh to validator "
        "N's machine, set the hosts in the static peers, then run start-N.sh there",
    )


def _summary(
    out: Path, client: Client, chain_id: int, nodes: Sequence[Validator], files: list[str], zero_gas: bool
) -> dict[str, Any]:
    return {
        "folder": str(out),
        "client": client.value,
        "consensus": "clique" if client is Client.GETH else "qbft",
        "chain_id": chain_id,
        "zero_gas": zero_gas,
        "validators": [node.address for node in nodes],
        "enodes": [node.enode for node in nodes],
        "files": files,
    }


def _command(words: Sequence[str]) -> str:
    return " ".join(shlex.quote(word) if not word.startswith('"$') else word for word in words)


def _script(path: Path, lines: Sequence[str]) -> None:
    body = ["#!/bin/sh", "# written by collab network init", "set -eu", 'cd "$(dirname "$0")"', *lines]
    write_private(path, "\n".join(body) + "\n")
    path.chmod(0o700)


def _write_geth(out: Path, nodes: Sequence[Validator], chain_id: int, gas_limit: int) -> dict[str, list[str]]:
    """Each node's ``nodekey`` and ``config.toml`` (its static peers: every other validator) and start-N.sh."""
    scripts: dict[str, list[str]] = {}
    for node in nodes:
        folder = out / node.folder
        write_private(folder / "nodekey", node.node_key.hex)
        peers = ", ".join(json.dumps(peer.enode) for peer in nodes if peer is not node)
        write_private(folder / "config.toml", f"[Node.P2P]\nNoDiscovery = true\nStaticNodes = [{peers}]\n")
        init = ["geth", "--datadir", f"{node.folder}/data", "init", "genesis.json"]
        start = [
            "geth", "--config", f"{node.folder}/config.toml",
            "--datadir", f"{node.folder}/data",
            "--keystore", f"{node.folder}/keystore",
            "--nodekey", f"{node.folder}/nodekey",
            "--networkid", str(chain_id),
            "--syncmode", "full",
            "--port", str(node.p2p_port),
            "--http", "--http.addr", HOST, "--http.port", str(node.http_port), "--http.api", GETH_API,
            "--mine", "--miner.etherbase", node.address, "--miner.gaslimit", str(gas_limit),
            "--unlock", node.address, "--password", '"${COLLAB_PASSPHRASE_FILE:?the keystore passphrase file}"',
            "--allow-insecure-unlock",
        ]  # fmt: skip
        scripts[f"start-{node.index}.sh"] = [
            f"[ -d {node.folder}/data/geth/chaindata ] || {_command(init)}",
            f"exec {_command(start)}",
        ]
    return scripts


def _write_besu(out: Path, nodes: Sequence[Validator], zero_gas: bool) -> dict[str, list[str]]:
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
            "--host-allowlist=localhost,127.0.0.1",
            *(["--min-gas-price=0"] if zero_gas else []),
        ]
        scripts[f"start-{node.index}.sh"] = [f"exec {_command(start)}"]
    return scripts


def _readme(client: Client, nodes: Sequence[Validator], zero_gas: bool) -> str:
    common = [
        f"A {client.value} network of {len(nodes)} validators, written by `collab network init`.",
        "",
        "Each node-N folder belongs to validator N: copy it with genesis.json and start-N.sh to that machine.",
        "node-N/keystore/validator.json is the validator's key, encrypted with the collab keystore passphrase",
        "(eth-account v3 keystore: geth and collab read it). Folders are 0700, secrets 0600: keep them so.",
        "",
        "Peers: the nodes name each other by enode (static-nodes.txt) at 127.0.0.1 and ports 30303+N-1;",
        "on separate machines replace 127.0.0.1:PORT by each validator's host and p2p port in "
        + ("node-N/config.toml (StaticNodes)." if client is Client.GETH else "start-N.sh (--bootnodes)."),
        "JSON-RPC listens on 127.0.0.1:8545+N-1: put a proxy with TLS in front of the one the services use.",
        "",
    ]
    if client is Client.GETH:
        specific = [
            "geth 1.13 (the last geth that seals Clique). On each machine:",
            "  export COLLAB_PASSPHRASE_FILE=/path/to/passphrase   # unlocks the validator key to seal",
            "  ./start-N.sh        # geth init on the first run, then geth --mine",
            "node-N/nodekey is the node's p2p identity (plaintext, as geth keeps it).",
            "Clique: a sealer seals at most one of every floor(N/2)+1 blocks: run at least 3 validators.",
        ]
        if zero_gas:
            specific.append(
                "Zero gas: geth raises --miner.gasprice 0 to 1 gwei, so after each start run "
                "`geth attach --exec 'miner.setGasPrice(0)' node-N/data/geth.ipc`."
            )
    else:
        specific = [
            "Besu (QBFT, block-header validator selection). On each machine: ./start-N.sh",
            "node-N/key is the validator's private key in hex, as Besu reads it (--node-private-key-file): the one",
            "plaintext secret this folder holds, written 0600. The node address is the validator address.",
            "QBFT needs more than 2/3 of the validators online: with 4 validators, one may be down.",
        ]
        if zero_gas:
            specific.append("Zero gas: the genesis sets zeroBaseFee and the nodes run with --min-gas-price=0.")
    return "\n".join([*common, *specific]) + "\n"
