"""The ``collab`` command line: every step of the flow from keystores, state reads, and readable refusals."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collab_py.cli import app
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import Party
from collab_py.domain.keys import Keyring
from support import World

pytestmark = pytest.mark.usefixtures("cheap_keystores")

PASSPHRASE = "correct horse battery staple"
Run = Callable[..., dict[str, object]]


def keystores(folder: Path, party: Party | None, governance: World | None = None) -> Path:
    """Writes a party's department keys and encryption key (and governance's key) as cheap test keystores."""
    ring = Keyring(folder, kdf="pbkdf2", iterations=2)
    if party is not None:
        for department, account in party.accounts.items():
            ring.import_account(department.name.lower(), account.key, PASSPHRASE)
        ring.import_encryption_key("encryption", party.encryption_key, PASSPHRASE)
    if governance is not None:
        ring.import_account("governance", governance.admin.account.key, PASSPHRASE)
    return folder


@pytest.fixture
def cli(world: World, node: AnvilNode, tmp_path: Path) -> Callable[[str], Run]:
    """``cli("b")("contract", "show", ...)`` runs collab as Party A, B, C, the bank or governance."""
    manifest = world.deployment.manifest.save(tmp_path / "manifest.json")
    folders = {
        "a": keystores(tmp_path / "a" / "keys", world.a),
        "b": keystores(tmp_path / "b" / "keys", world.b),
        "c": keystores(tmp_path / "c" / "keys", world.c),
        "bank": keystores(tmp_path / "bank" / "keys", world.bank),
        "gov": keystores(tmp_path / "gov" / "keys", None, world),
    }
    runner = CliRunner()

    def as_party(who: str) -> Run:
        def run(*args: str, expect: int = 0) -> dict[str, object]:
            env = {
                "COLLAB_RPC_URL": node.rpc_url,
                "COLLAB_MANIFEST": str(manifest),
                "COLLAB_KEYSTORE_DIR": str(folders[who]),
                "COLLAB_PASSPHRASE": PASSPHRASE,
                "COLLAB_LEDGER_URL": f"sqlite:///{tmp_path / who / 'ledger.db'}",
                "COLLAB_CONFIRMATIONS": "0",
            }
            result = runner.invoke(app, ["--json", *args], env=env)
            output = result.stdout + result.stderr
            assert result.exit_code == expect, output
            assert "Traceback" not in output
            if expect != 0:
                return {"error": result.stderr, "stdout": result.stdout}
            return json.loads(result.stdout) if result.stdout.strip() else {}

        return run

    return as_party


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def terms(tmp_path: Path, number: str, party_a: int) -> Path:
    stages = [{"specification": "design", "amount": "1000.50"}, {"specification": "delivery", "amount": "2,000"}]
    return write(tmp_path / f"{number}.json", json.dumps({"number": number, "party_a": party_a, "stages": stages}))


def settled_contract(cli: Callable[[str], Run], world: World, tmp_path: Path, number: str) -> None:
    """Through the CLI: proposed, countersigned, both stages vouched, settled."""
    document = write(tmp_path / "doc.txt", f"e-contract {number}")
    proposed = cli("b")("contract", "propose", str(terms(tmp_path, number, world.a.org_id)), str(document))
    assert proposed["status"] == "PROPOSED"
    assert proposed["total"] == 3000_50
    assert cli("a")("contract", "sign", number, str(document))["status"] == "SIGNED"
    for index in (0, 1):
        result = write(tmp_path / f"result-{index}.txt", f"stage {index} done")
        assert cli("b")("stage", "submit", number, str(index), str(result))["status"] == "PENDING"
        assert cli("a")("stage", "confirm", number, str(index))["status"] == "CONFIRMED"
    assert cli("b")("settlement", "apply", number)["status"] == "SETTLEMENT_REQUESTED"
    assert cli("a")("settlement", "approve", number)["status"] == "SETTLED"


def test_whole_flow_through_the_cli(cli: Callable[[str], Run], world: World, tmp_path: Path) -> None:
    settled_contract(cli, world, tmp_path, "CLI-1")
    applied = cli("b")("payment", "apply", "CLI-1", "3000.50", "--bank-account", "CN12 3456")
    assert (applied["seq"], applied["amount"], applied["status"]) == (1, 3000_50, "APPLIED")
    issued = cli("a")("payment", "issue", "CLI-1", "1")
    assert issued["status"] == "FROZEN"
    assert cli("b")("payment", "redeem", "CLI-1", "1")["status"] == "REQUESTED"
    second = cli("bank")("payment", "release", "CLI-1", "1")
    assert (second["payer_org"], second["payee_org"], second["amount"]) == (world.a.org_id, world.b.org_id, 3000_50)
    assert cli("b")("payment", "show", "CLI-1", "1")["status"] == "RELEASED"
    (listed,) = cli("a")("vouchers")  # type: ignore[misc]
    assert listed["contract_no"] == "CLI-1"
    shown = cli("a")("contract", "show", "CLI-1")
    assert shown["committed"] == 3000_50
    assert [stage["status"] for stage in shown["stages"]] == ["CONFIRMED", "CONFIRMED"]  # type: ignore[attr-defined]


def test_assignment_to_party_c_through_the_cli(cli: Callable[[str], Run], world: World, tmp_path: Path) -> None:
    settled_contract(cli, world, tmp_path, "CLI-2")
    cli("b")("payment", "apply", "CLI-2", "3000.50", "--bank-account", "CN12 3456")
    cli("a")("payment", "issue", "CLI-2", "1")
    key_file, account_file = tmp_path / "key-for-c.hex", tmp_path / "c-account.json"
    cli("b")("payment", "assign", "CLI-2", "1", str(world.c.org_id), "--out", str(key_file))
    assert cli("c")("payment", "present", "CLI-2", "1", str(key_file))["status"] == "PRESENTED"
    cli("c")("payment", "account", "CLI-2", "1", "--bank-account", "HK33 7777", "--out", str(account_file))
    signed = cli("b")("payment", "sign-assignment", "CLI-2", "1", str(world.c.org_id), str(account_file))
    confirmed = cli("c")(
        "payment", "confirm-assignment", "CLI-2", "1", str(account_file),
        "--signer", str(signed["signer"]), "--signature", str(signed["signature"]),
    )  # fmt: skip
    assert (confirmed["status"], confirmed["beneficiary_org"]) == ("REQUESTED", world.c.org_id)
    second = cli("bank")("payment", "release", "CLI-2", "1")
    assert second["beneficiary"] == world.c.treasury.address


def test_governance_through_the_cli(cli: Callable[[str], Run], world: World) -> None:
    gov = cli("gov")
    treasury = "0x" + "42" * 20
    org = gov("org", "register", "77", "Party D", "--treasury", treasury, "--encryption-key", "0x02" + "11" * 32)
    assert (org["org_id"], org["kind"], org["active"]) == (77, "ENTERPRISE", True)
    account = "0x" + "43" * 20
    assert gov("org", "bind", account, "77", "finance")["department"] == "FINANCE"
    assert gov("org", "suspend", "77")["active"] is False
    assert gov("org", "reinstate", "77")["active"] is True
    assert gov("org", "member", account)["org_id"] == 77
    assert gov("org", "unbind", account)["org_id"] == 0


def test_refusals_are_one_readable_line(cli: Callable[[str], Run], world: World, tmp_path: Path) -> None:
    unknown = cli("a")("contract", "show", "NO-SUCH-CONTRACT", expect=1)["error"]
    assert "UnknownContractError" in str(unknown)
    assert "hint:" in str(unknown)
    settled_contract(cli, world, tmp_path, "CLI-3")
    wrong_role = cli("b")("settlement", "approve", "CLI-3", expect=1)["error"]
    assert "WrongParty(" in str(wrong_role)
    malformed = cli("b")("payment", "apply", "CLI-3", "12abc", "--bank-account", "X", expect=1)["error"]
    assert "malformed amount '12abc'" in str(malformed)
    too_precise = cli("b")("payment", "apply", "CLI-3", "1.001", "--bank-account", "X", expect=1)["error"]
    assert "at most 2 decimals" in str(too_precise)
    negative = str(cli("b")("payment", "apply", "CLI-3", "-5", "--bank-account", "X", expect=1)["error"])
    assert negative.startswith("error: InvalidInput: invalid amount '-5'")  # a value, not an unknown option
    bad_address = cli("gov")("org", "bind", "0x1234", "1", "business", expect=1)["error"]
    assert "malformed address '0x1234'" in str(bad_address)
    not_governance = cli("a")("org", "suspend", "2", expect=1)["error"]
    assert "KeystoreError" in str(not_governance) or "governance" in str(not_governance)


def test_expired_key_is_refused_with_a_hint(cli: Callable[[str], Run], world: World, tmp_path: Path) -> None:
    settled_contract(cli, world, tmp_path, "CLI-4")
    cli("b")("payment", "apply", "CLI-4", "10", "--bank-account", "CN12 3456")
    cli("a")("payment", "issue", "CLI-4", "1", "--lifetime", "60")
    world.w3.provider.make_request("evm_increaseTime", [61])  # type: ignore[arg-type]
    world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    expired = str(cli("b")("payment", "redeem", "CLI-4", "1", expect=1)["error"])
    assert "PaymentKeyExpired(" in expired
    assert "reclaim" in expired
    assert cli("a")("payment", "reclaim", "CLI-4", "1")["status"] == "RECLAIMED"


def test_wrong_passphrase_is_a_named_error(world: World, tmp_path: Path) -> None:
    runner = CliRunner()
    folder = keystores(tmp_path / "x" / "keys", world.b)
    manifest = world.deployment.manifest.save(tmp_path / "m.json")
    env = {
        "COLLAB_RPC_URL": world.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
        "COLLAB_MANIFEST": str(manifest),
        "COLLAB_KEYSTORE_DIR": str(folder),
        "COLLAB_PASSPHRASE": "not the passphrase",
    }
    result = runner.invoke(app, ["settlement", "apply", "X"], env=env)
    assert result.exit_code == 1
    assert "WrongPassphrase" in result.stderr
    assert "not the passphrase" not in result.stdout + result.stderr


def test_empty_passphrase_is_named_with_where_it_comes_from(world: World, tmp_path: Path) -> None:
    env = {
        "COLLAB_RPC_URL": world.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
        "COLLAB_MANIFEST": str(world.deployment.manifest.save(tmp_path / "m.json")),
        "COLLAB_KEYSTORE_DIR": str(keystores(tmp_path / "x" / "keys", world.b)),
        "COLLAB_PASSPHRASE": "",
    }
    result = CliRunner().invoke(app, ["settlement", "apply", "X"], env=env)
    assert result.exit_code == 1
    assert "EmptyPassphrase: environment variable COLLAB_PASSPHRASE is empty" in result.stderr
    assert "hint: the keystore passphrase is empty" in result.stderr
    assert "COLLAB_PASSPHRASE_FILE" in result.stderr
    assert "collab keys new" not in result.stderr


def test_keystore_others_can_read_is_refused_with_the_chmod_to_run(
    cli: Callable[[str], Run], world: World, tmp_path: Path
) -> None:
    folder = tmp_path / "b" / "keys"
    folder.chmod(0o755)
    refused = str(cli("b")("settlement", "apply", "X", expect=1)["error"])
    assert refused.startswith(f"error: KeystoreNotPrivate: keystore folder {folder} is open to group or others")
    assert f"run `chmod 700 {folder}`" in refused
    assert "hint: keystores must be readable by their owner only" in refused
    folder.chmod(0o700)
    (folder / "business.json").chmod(0o644)
    assert f"chmod 600 {folder / 'business.json'}" in str(cli("b")("settlement", "apply", "X", expect=1)["error"])


def test_unreachable_node_and_missing_manifest(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"COLLAB_RPC_URL": "http://127.0.0.1:9", "COLLAB_MANIFEST": str(tmp_path / "none.json")}
    result = runner.invoke(app, ["contract", "show", "X"], env=env)
    assert result.exit_code == 1
    assert "NodeUnreachable" in result.stderr
    assert "hint:" in result.stderr
    ledger = tmp_path / "ledger.db"
    result = runner.invoke(
        app, ["listen", "--org", "1", "--once"], env={**env, "COLLAB_LEDGER_URL": f"sqlite:///{ledger}"}
    )
    assert result.exit_code == 1
    assert "NodeUnreachable" in result.stderr
    assert not ledger.exists()  # nothing is created for a listener that cannot run


def test_listen_reconcile_and_ledger_through_the_cli(cli: Callable[[str], Run], world: World, tmp_path: Path) -> None:
    settled_contract(cli, world, tmp_path, "CLI-5")
    cli("b")("payment", "apply", "CLI-5", "3000.50", "--bank-account", "CN12 3456")
    cli("a")("payment", "issue", "CLI-5", "1")
    cli("b")("payment", "redeem", "CLI-5", "1")
    assert cli("bank")("listen", "--org", str(world.bank.org_id), "--role", "institution", "--once")["checkpoint"]
    assert cli("a")("payment", "show", "CLI-5", "1")["status"] == "RELEASED"  # released by the institution's bot
    cli("a")("listen", "--org", str(world.a.org_id), "--once")
    a_books, b_books = f"sqlite:///{tmp_path / 'a' / 'ledger.db'}", f"sqlite:///{tmp_path / 'b' / 'ledger.db'}"
    missing = cli("a")("reconcile", "--ledger-url", a_books, "--ledger-url", b_books, expect=3)
    (mismatched,) = json.loads(str(missing["stdout"]))["contracts"]  # exit 3: B has not posted its receipt yet
    assert mismatched["mismatches"] == [f"payment 1: org {world.b.org_id} posted receivable 0, chain paid 300050"]
    cli("b")("listen", "--org", str(world.b.org_id), "--once")
    report = cli("a")("reconcile", "--ledger-url", a_books, "--ledger-url", b_books)
    assert report["clean"] is True
    (contract,) = report["contracts"]  # type: ignore[misc]
    assert (contract["on_chain"], contract["payable_posted"], contract["receivable_posted"]) == (3000_50,) * 3
    exported = tmp_path / "a-journal.csv"
    assert cli("a")("ledger", "--format", "csv", "--out", str(exported))["lines"] == 4
    rows = exported.read_text().splitlines()
    assert rows[0].startswith("entry_id,org_id,kind,contract_no,seq,account,debit,credit")
    assert [row.split(",")[2] for row in rows[1:]] == ["FREEZE", "FREEZE", "PAYMENT", "PAYMENT"]
    bad_format = str(cli("a")("ledger", "--format", "xml", expect=1)["error"])
    assert "unknown format 'xml'" in bad_format
    no_org = str(cli("a")("listen", expect=1)["error"])
    assert "pass --org or set COLLAB_ORG_ID" in no_org


def test_file_arguments_are_capped_and_devices_refused(cli: Callable[[str], Run], world: World, tmp_path: Path) -> None:
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as file:
        file.truncate(3 * 2**30)  # 3 GiB that take no disk; read whole, it took 3.2 GB of memory
    too_large = str(cli("b")("stage", "submit", "CLI-6", "0", str(huge), expect=1)["error"])
    assert too_large.startswith(f"error: FileTooLarge: document {huge} is larger than 64 MiB")
    device = str(cli("a")("contract", "sign", "CLI-6", "/dev/zero", expect=1)["error"])
    assert device.startswith("error: NotARegularFile: document /dev/zero is a device")
    terms_file = tmp_path / "terms.json"
    with terms_file.open("wb") as file:
        file.truncate(2 * 2**20)
    terms = str(cli("b")("contract", "propose", str(terms_file), str(huge), expect=1)["error"])
    assert "FileTooLarge" in terms
    assert "larger than 1 MiB" in terms


def test_ledgers_and_exports_are_private(cli: Callable[[str], Run], world: World, tmp_path: Path) -> None:
    cli("a")("listen", "--org", str(world.a.org_id), "--once")
    assert stat.S_IMODE((tmp_path / "a" / "ledger.db").stat().st_mode) == 0o600
    exported = tmp_path / "journal.csv"
    exported.write_text("an older export")
    exported.chmod(0o644)
    cli("a")("ledger", "--format", "csv", "--out", str(exported))
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert exported.read_text().startswith("entry_id,")
