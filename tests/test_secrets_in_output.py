"""Secrets never appear in output (issue 11): a full run with deliberately odd credentials, every output scanned.

The node is reached only through an RPC proxy that wants HTTP basic auth (user and password in the URL) and an API
key in the path, so every request of the CLI, the listeners and the demo carries the credentials of a URL that must
be shown masked. The ledger is a PostgreSQL database whose password needs URL escaping (``@ % : /``, non-ASCII);
keystores use eth-account's default key derivation and a passphrase file; Party B is paid into a bank account that
is confidential. The run: the whole flow through the CLI (propose to release, the institution's bot, both books,
the ledger, reconciliation), a listener as a process with ``/healthz`` and ``/metrics`` that lives through a node
outage, ``collab demo`` through the proxy, and refusals with ``--debug`` (an unreachable node, a wrong database
password, a wrong passphrase, a bank account too long). Scanned for every secret, as written, percent-encoded and
escaped: stdout and stderr of every command and process, every log record of this process (DEBUG and up, web3's
and urllib3's included), the health and metrics responses and the tracebacks.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from collab_py.cli import app
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import Party
from collab_py.devnet.proxy import RpcProxy
from collab_py.devnet.sandbox import B_BANK_ACCOUNT, C_BANK_ACCOUNT
from collab_py.domain.keys import Keyring
from collab_py.files import write_private
from support import World
from support.credentials import ODD_PASSWORD, forms

SUFFIX = uuid.uuid4().hex[:8]
RPC_USER = f"rpc-user-{SUFFIX}"
RPC_PASSWORD = f"rpc:p@ss/%-ü{SUFFIX}"
RPC_TOKEN = uuid.uuid4().hex  # an Infura-style API key in the path
PASSPHRASE = f"keystore pässphrase @%:/ {SUFFIX}"
WRONG_PASSPHRASE = f"not the pässphrase {SUFFIX}"
B_ACCOUNT = f"CN99 SECRET BANK {SUFFIX}"
NUMBER = f"SEC-{SUFFIX}"


def secrets() -> dict[str, set[str]]:
    """Every secret of the run, in every form it could be shown."""
    credentials = f"{RPC_USER}:{RPC_PASSWORD}"
    basic = {base64.b64encode(credentials.encode(codec)).decode() for codec in ("utf-8", "latin-1")}  # the header
    named = {
        "database password": ODD_PASSWORD,
        "RPC user": RPC_USER,
        "RPC password": RPC_PASSWORD,
        "RPC token": RPC_TOKEN,
        "passphrase": PASSPHRASE,
        "wrong passphrase": WRONG_PASSPHRASE,
        "B's bank account": B_ACCOUNT,
        "demo bank account of B": B_BANK_ACCOUNT,
        "demo bank account of C": C_BANK_ACCOUNT,
    }
    found = {name: forms(secret) for name, secret in named.items()}
    found["basic auth header"] = basic
    return found


class Outputs:
    """Everything the run showed, by where it came from."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> str:
        self.texts.append((where, text))
        return text

    def leaks(self) -> list[str]:
        return [
            f"{name} in {where}: ...{text[max(0, text.find(form) - 80) : text.find(form) + 80]!r}..."
            for where, text in self.texts
            for name, variants in secrets().items()
            for form in variants
            if form in text
        ]


def label(args: tuple[str, ...]) -> str:
    """A command's name for the report: its words, without options, values and paths (which hold secrets)."""
    words = [arg for arg in args if arg.isidentifier() or arg.replace("-", "").isalpha()]
    return " ".join(word for word in words if not word.startswith("-"))[:60]


def keystores(folder: Path, party: Party) -> Path:
    """The party's department keys and encryption key, with eth-account's default rounds of pbkdf2."""
    ring = Keyring(folder, kdf="pbkdf2")
    for department, account in party.accounts.items():
        ring.import_account(department.name.lower(), account.key, PASSPHRASE)
    ring.import_encryption_key("encryption", party.encryption_key, PASSPHRASE)
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def wait_for(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_full_run_with_odd_credentials_shows_no_secret(
    world: World, node: AnvilNode, odd_password_ledger: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    out = Outputs()
    proxy = RpcProxy(node.rpc_url, credentials=(RPC_USER, RPC_PASSWORD, RPC_TOKEN)).start()
    try:
        run_the_flow(world, proxy, odd_password_ledger, tmp_path, out)
    finally:
        proxy.stop()
    assert proxy.calls.total() > 100, "the run did not go through the proxy"
    out.add("log records", caplog.text)
    out.add("log messages", "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records))
    assert len(out.texts) > 30
    assert not out.leaks(), "\n".join(out.leaks())


def run_the_flow(world: World, proxy: RpcProxy, ledger: str, tmp_path: Path, out: Outputs) -> None:
    manifest = world.deployment.manifest.save(tmp_path / "manifest.json")
    passphrase_file = write_private(tmp_path / "passphrase", PASSPHRASE + "\n")
    folders = {name: keystores(tmp_path / name / "keys", party) for name, party in (
        ("a", world.a), ("b", world.b), ("bank", world.bank)
    )}  # fmt: skip
    base_env = {
        "COLLAB_RPC_URL": proxy.url,
        "COLLAB_MANIFEST": str(manifest),
        "COLLAB_PASSPHRASE_FILE": str(passphrase_file),
        "COLLAB_LEDGER_URL": ledger,
        "COLLAB_CONFIRMATIONS": "0",
    }
    runner = CliRunner()

    def collab(who: str, *args: str, expect: int = 0) -> str:
        env = {**base_env, "COLLAB_KEYSTORE_DIR": str(folders[who])}
        result = runner.invoke(app, list(args), env=env)
        output = out.add(f"collab {label(args)} ({who})", result.stdout + result.stderr)
        assert result.exit_code == expect, output
        return result.stdout if expect == 0 else result.stderr

    def process(who: str, *args: str, env: dict[str, str] | None = None, expect: int = 0) -> str:
        full_env = {**os.environ, **base_env, "COLLAB_KEYSTORE_DIR": str(folders[who]), **(env or {})}
        done = subprocess.run(
            [sys.executable, "-m", "collab_py.cli", *args], env=full_env, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip
        output = out.add(f"process collab {label(args)} ({who})", done.stdout + done.stderr)
        assert done.returncode == expect, output
        return output

    # S2–S6 through the CLI, everything reaching the node through the proxy
    terms, document, result = tmp_path / "terms.json", tmp_path / "contract.txt", tmp_path / "result.txt"
    stages = [{"specification": "design", "amount": "10.00"}]
    terms.write_text(json.dumps({"number": NUMBER, "party_a": world.a.org_id, "stages": stages}))
    document.write_text(f"e-contract {NUMBER}")
    result.write_text("delivered")
    econtract = tmp_path / f"{NUMBER}.econtract.json"
    collab("b", "contract", "propose", str(terms), str(document), "--out", str(econtract))
    collab("a", "contract", "sign", NUMBER, str(econtract))
    collab("b", "stage", "submit", NUMBER, "0", str(result))
    collab("a", "stage", "confirm", NUMBER, "0")
    collab("b", "settlement", "apply", NUMBER)
    collab("a", "settlement", "approve", NUMBER)
    collab("b", "payment", "apply", NUMBER, "10.00", "--bank-account", B_ACCOUNT)
    collab("a", "payment", "issue", NUMBER, "1")
    collab("b", "payment", "redeem", NUMBER, "1")
    collab("bank", "listen", "--org", str(world.bank.org_id), "--role", "institution", "--once")
    assert json.loads(collab("a", "--json", "payment", "show", NUMBER, "1"))["status"] == "RELEASED"
    collab("a", "listen", "--org", str(world.a.org_id), "--once")

    # Party B's books: a listener process with health and metrics, through a node outage
    port = free_port()
    logs = tmp_path / "listener-b.log"
    with logs.open("w") as stderr:
        listener = subprocess.Popen(
            [sys.executable, "-m", "collab_py.cli", "listen", "--org", str(world.b.org_id), "--health-port",
             str(port), "--poll-interval", "0.2"],
            env={**os.environ, **base_env, "COLLAB_KEYSTORE_DIR": str(folders["b"])},
            stdout=stderr, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            health = f"http://127.0.0.1:{port}"
            wait_for(lambda: get(f"{health}/healthz")[0] == 200, "the listener to be healthy", timeout=120)
            out.add("/healthz", get(f"{health}/healthz")[1])
            out.add("/metrics", get(f"{health}/metrics")[1])
            proxy.stop()  # the node goes away: the listener logs its retries
            wait_for(lambda: "retrying" in logs.read_text(), "a retry in the listener's log")
            wait_for(lambda: get(f"{health}/healthz")[0] == 503, "/healthz to fail")
            out.add("/healthz during the outage", get(f"{health}/healthz")[1])
            out.add("/metrics during the outage", get(f"{health}/metrics")[1])
            proxy.start()
            wait_for(lambda: get(f"{health}/healthz")[0] == 200, "the listener to recover", timeout=120)
            out.add("/metrics after the outage", get(f"{health}/metrics")[1])
        finally:
            listener.send_signal(signal.SIGTERM)
            listener.wait(timeout=60)
    listener_log = out.add("listener process output", logs.read_text())
    assert "ConnectionError" in listener_log  # what requests said, URL and all, before it was scrubbed
    assert listener.returncode == 0, listener_log

    # the books, read back through the odd password
    collab("a", "ledger")
    collab("a", "--json", "ledger", "--format", "json")
    report = json.loads(collab("a", "--json", "reconcile", "--ledger-url", ledger))
    assert report["clean"] is True, report
    assert any(contract["contract_no"] == NUMBER for contract in report["contracts"])

    # refusals, one line each, and with --debug their tracebacks
    too_long = B_ACCOUNT * 20
    assert "InvalidInput" in collab("b", "payment", "apply", NUMBER, "1.00", "--bank-account", too_long, expect=1)
    closed = proxy.url.replace(f":{proxy.port}/", f":{free_port()}/")
    wrong_password = ledger.replace(quote(ODD_PASSWORD, safe=""), quote(ODD_PASSWORD[::-1], safe=""))
    for debug in ([], ["--debug"]):
        shown = process("b", *debug, "payment", "apply", NUMBER, "1.00", "--bank-account", too_long, expect=1)
        assert "longer than 256 characters" in shown
        assert "NodeUnreachable" in process("a", *debug, "--rpc-url", closed, "contract", "show", NUMBER, expect=1)
        shown = process("a", *debug, "ledger", env={"COLLAB_LEDGER_URL": wrong_password}, expect=1)
        assert "password authentication failed" in shown
        env = {"COLLAB_PASSPHRASE_FILE": "", "COLLAB_PASSPHRASE": WRONG_PASSPHRASE}
        assert "WrongPassphrase" in process("b", *debug, "settlement", "apply", NUMBER, env=env, expect=1)
    assert "Traceback (most recent call last)" in out.texts[-1][1]

    # the demo's whole flow (assignment to Party C, the bot, invoices, reclaim) through the proxy
    demo = process("a", "--debug", "demo", "--rpc-url", proxy.url, env={"COLUMNS": "200"})
    assert "Reconciliation (S8.4): clean" in demo
