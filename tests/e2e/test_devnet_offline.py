"""The geth harness without geth: building with a stand-in ``go``, and the genesis. Fast: part of ``make test``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eth_account import Account

from collab_py.chain.network import clique_genesis
from collab_py.devnet.geth import GETH_VERSION, GethBuildError, ensure_geth, geth_path

GO_PROXY_ERROR = (
    "go: github.com/ethereum/go-ethereum/cmd/geth@v1.13.15: module github.com/ethereum/go-ethereum/cmd/geth: "
    'Get "https://proxy.golang.org/github.com/ethereum/go-ethereum/cmd/geth/@v/v1.13.15.info": dial tcp: '
    "lookup proxy.golang.org: no such host"
)


def fake_go(folder: Path, *, fails: bool) -> Path:
    """A ``go`` that logs its arguments and either "builds" a geth that reports the version or fails like Go."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "go"
    install = (
        f"echo '{GO_PROXY_ERROR}' >&2; exit 1"
        if fails
        else textwrap.dedent(f"""\
            sleep 3
            printf '#!/bin/sh\\necho Geth\\necho "Version: {GETH_VERSION}-stable"\\n' > "$GOBIN/geth"
            chmod +x "$GOBIN/geth\"""")
    )
    script.write_text(
        f'#!/bin/sh\necho "$@" >> "$FAKE_GO_LOG"\nif [ "$1" = env ]; then echo go1.26.8; exit 0; fi\n{install}\n'
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache and a PATH whose ``go`` is the stand-in."""
    monkeypatch.delenv("COLLAB_GETH", raising=False)
    monkeypatch.setenv("COLLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_GO_LOG", str(tmp_path / "go.log"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def test_the_cache_lives_outside_the_repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COLLAB_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert geth_path() == tmp_path / "collab" / f"geth-{GETH_VERSION}" / "bin" / "geth"
    monkeypatch.setenv("COLLAB_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert geth_path() == tmp_path / "elsewhere" / f"geth-{GETH_VERSION}" / "bin" / "geth"


def test_a_failing_go_is_reported_with_its_own_words(sandbox: Path) -> None:
    fake_go(sandbox / "bin", fails=True)
    with pytest.raises(GethBuildError) as raised:
        ensure_geth()
    assert GO_PROXY_ERROR in str(raised.value)
    assert raised.value.go_output == GO_PROXY_ERROR
    assert "install -ldflags=-checklinkname=0 github.com/ethereum/go-ethereum/cmd/geth@v1.13.15" in str(raised.value)
    assert not geth_path().exists()
    assert not list(geth_path().parent.parent.glob(".build-*"))  # no staging folder left


def test_parallel_callers_build_once_and_say_so_on_stderr(sandbox: Path) -> None:
    fake_go(sandbox / "bin", fails=False)
    code = "from collab_py.devnet.geth import ensure_geth; print(ensure_geth())"
    workers = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=60) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    assert {stdout.strip() for stdout, _ in outputs} == {str(geth_path())}
    installs = [line for line in (sandbox / "go.log").read_text().splitlines() if line.startswith("install")]
    assert installs == [f"install -ldflags=-checklinkname=0 github.com/ethereum/go-ethereum/cmd/geth@v{GETH_VERSION}"]
    stderr = "".join(err for _, err in outputs)
    assert stderr.count(f"collab: building geth {GETH_VERSION}") == 1
    assert "waiting for another process building geth" in stderr
    assert f"geth {GETH_VERSION} built in" in stderr
    # and later calls find it without Go
    (sandbox / "bin" / "go").unlink()
    assert ensure_geth() == geth_path()


def test_a_configured_geth_must_be_the_right_version(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = sandbox / "geth-1.14"
    other.write_text('#!/bin/sh\necho "Version: 1.14.0-stable"\n')
    other.chmod(0o755)
    monkeypatch.setenv("COLLAB_GETH", str(other))
    with pytest.raises(GethBuildError, match=r"is not geth 1\.13\.15"):
        ensure_geth()


def test_clique_genesis_names_the_sealers_and_stops_at_london() -> None:
    signers = [Account.create().address for _ in range(3)]
    funded = Account.create().address
    genesis = clique_genesis(
        chain_id=4242, signers=signers, period=1, gas_limit=8_000_000, base_fee=0, alloc={funded: 10**18}
    )
    extra = bytes.fromhex(genesis["extraData"][2:])
    assert len(extra) == 32 + 20 * 3 + 65
    assert extra[:32] == extra[-65:][:32] == bytes(32)
    assert ["0x" + extra[32 + 20 * i : 52 + 20 * i].hex() for i in range(3)] == sorted(s.lower() for s in signers)
    config = genesis["config"]
    assert config["chainId"] == 4242
    assert config["clique"] == {"period": 1, "epoch": 30_000}
    assert config["londonBlock"] == config["berlinBlock"] == config["grayGlacierBlock"] == 0
    assert not {key for key in config if key.endswith("Time")}  # no Shanghai or Cancun: Clique stalls there
    assert genesis["gasLimit"] == hex(8_000_000)
    assert genesis["baseFeePerGas"] == "0x0"
    assert genesis["alloc"] == {funded.lower(): {"balance": hex(10**18)}}
    assert "baseFeePerGas" not in clique_genesis(chain_id=1, signers=signers)
