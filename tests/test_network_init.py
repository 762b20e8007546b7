"""`collab network init`: a consortium network's genesis, validator keys and node commands for geth Clique and
Besu QBFT. geth's files are checked by the cached geth 1.13 itself; Besu's against its documented schema."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import rlp
from typer.testing import CliRunner, Result

from collab_py.chain.network import QBFT_MIX_HASH, qbft_extra_data, qbft_validators
from collab_py.cli import app
from collab_py.devnet.geth import geth_path
from collab_py.domain.keys import Keyring

PASSPHRASE = "network init test"
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


def run(*args: str, passphrase: str = PASSPHRASE) -> Result:
    return CliRunner().invoke(app, ["--json", "network", "init", *args], env={"COLLAB_PASSPHRASE": passphrase})


def init(out: Path, *args: str) -> dict[str, Any]:
    result = run("--out", str(out), *args)
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
    shown = init(out, "--client", "geth", "--validators", "3", "--chain-id", "4242", "--period", "5")
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
        peers = (folder / "config.toml").read_text()
        assert shown["enodes"][index - 1] not in peers
        assert all(enode in peers for enode in shown["enodes"] if enode != shown["enodes"][index - 1])
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
    refused = run("--client", "besu", "--validators", "1", "--out", str(tmp_path / "net"), passphrase="")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: EmptyPassphrase")
    assert not (tmp_path / "net").exists()


def test_an_unknown_client_is_refused(tmp_path: Path) -> None:
    refused = run("--client", "parity", "--validators", "1", "--out", str(tmp_path / "net"))
    assert refused.exit_code == 2
    assert not (tmp_path / "net").exists()
