"""The ``collab`` command line on anvil: every command of the flow from keystores, its happy path, and each refusal as
one named error line (exit code 1), including an outsider's attempts: tampered e-contracts and terms, an application
over the total, a payment key for another account, a beneficiary suspended or whose treasury moved, an institution
that never releases."""

from __future__ import annotations

import csv
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from typer.testing import CliRunner, Result

import collab_py.ledger
from collab_py.chain.deploy import RELEASE_WINDOW, deploy_contract
from collab_py.chain.enums import Department
from collab_py.cli import app
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.econtract import EContract
from collab_py.domain.types import contract_number
from collab_py.services.base import PreparedStep
from collab_py.services.reader import UnknownContractError
from support import World
from support.cli import PASSPHRASE, keystores

pytestmark = pytest.mark.usefixtures("cheap_keystores")

NUMBER = "CLI-1"
#: Party B's and Party C's accounts as the tests give them (never on chain in clear, never printed).
B_ACCOUNT, C_ACCOUNT = "CN12 3456 7890", "HK33 7777 1111"


@dataclass
class Cli:
    """Runs ``collab --json`` as Party A (``"a"``), B, C, the bank or governance (``"gov"``)."""

    env: dict[str, dict[str, str]]
    runner: CliRunner = field(default_factory=CliRunner)

    def result(
        self, who: str, *args: str, stdin: str | bytes | None = None, json_out: bool = True, **env: str
    ) -> Result:
        """The raw result of one invocation; ``env`` overrides settings (``COLLAB_MANIFEST=...``)."""
        words = ["--json", *args] if json_out else list(args)
        result = self.runner.invoke(app, words, env=self.env[who] | env, input=stdin)
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    def __call__(self, who: str, *args: str, stdin: str | bytes | None = None, **env: str) -> Any:
        """What a command that succeeds prints, parsed from JSON."""
        result = self.result(who, *args, stdin=stdin, **env)
        assert result.exit_code == 0, result.stdout + result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def refused(self, who: str, *args: str, stdin: str | bytes | None = None, **env: str) -> str:
        """The error line of a command that is refused: exit code 1, nothing on stdout, one ``error:`` line and at
        most one ``hint:`` line."""
        result = self.result(who, *args, stdin=stdin, **env)
        lines = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
        assert result.exit_code == 1, result.stdout + result.stderr
        assert result.stdout == ""
        assert lines[0].startswith("error: "), result.stderr
        assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), result.stderr
        assert "run with --debug" not in lines[0], lines[0]  # a named collab error, not an accident
        return "\n".join(lines)


@pytest.fixture
def cli(world: World, node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI of each party, run from ``tmp_path`` (where the e-contracts are written)."""
    monkeypatch.chdir(tmp_path)
    manifest = world.deployment.manifest.save(tmp_path / "manifest.json")
    parties = {"a": world.a, "b": world.b, "c": world.c, "bank": world.bank, "gov": None}
    env = {}
    for who, party in parties.items():
        folder = keystores(tmp_path / who / "keys", party, world if party is None else None)
        env[who] = {
            "COLLAB_RPC_URL": node.rpc_url,
            "COLLAB_MANIFEST": str(manifest),
            "COLLAB_KEYSTORE_DIR": str(folder),
            "COLLAB_PASSPHRASE": PASSPHRASE,
            "COLLAB_LEDGER_URL": f"sqlite:///{tmp_path / who / 'ledger.db'}",
            "COLLAB_CONFIRMATIONS": "0",
        }
    return Cli(env)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def terms(party_a: int, number: str = NUMBER, amounts: tuple[str, str] = ("1000.50", "2,000")) -> Path:
    """A terms file of two stages, amounts in currency units."""
    stages = [{"specification": "design", "amount": amounts[0]}, {"specification": "delivery", "amount": amounts[1]}]
    return write(Path(f"{number}.terms.json"), json.dumps({"number": number, "party_a": party_a, "stages": stages}))


def proposed(cli: Cli, world: World, number: str = NUMBER) -> Path:
    """Party B proposes through the CLI; returns the e-contract file it wrote for Party A."""
    document = write(Path(f"{number}.txt"), f"e-contract {number}: design, then delivery")
    shown = cli("b", "contract", "propose", str(terms(world.a.org_id, number)), str(document))
    assert shown["status"] == "PROPOSED"
    return Path(shown["econtract_file"])


def settled(cli: Cli, world: World, number: str = NUMBER) -> None:
    """Through the CLI: proposed, countersigned, both stages vouched, settled (total 3,000.50)."""
    econtract = proposed(cli, world, number)
    assert cli("a", "contract", "sign", number, str(econtract))["status"] == "SIGNED"
    for index in ("0", "1"):
        result = write(Path(f"result-{index}.txt"), f"stage {index} done")
        assert cli("b", "stage", "submit", number, index, str(result))["status"] == "PENDING"
        assert cli("a", "stage", "confirm", number, index, "--result", str(result))["status"] == "CONFIRMED"
    assert cli("b", "settlement", "apply", number)["status"] == "SETTLEMENT_REQUESTED"
    assert cli("a", "settlement", "approve", number)["status"] == "SETTLED"


def applied(cli: Cli, number: str = NUMBER, amount: str = "3000.50", account: str = B_ACCOUNT) -> int:
    """Party B applies into ``account`` (from a file); returns the payment's seq."""
    record = cli("b", "payment", "apply", number, amount, "--bank-account-file", str(write(Path("b.acct"), account)))
    assert record["status"] == "APPLIED"
    return int(record["seq"])


def requested(cli: Cli, world: World, number: str = NUMBER) -> int:
    """Settled, applied for, issued and redeemed by Party B: returns the seq."""
    settled(cli, world, number)
    seq = applied(cli, number)
    assert cli("a", "payment", "issue", number, str(seq))["status"] == "FROZEN"
    assert cli("b", "payment", "redeem", number, str(seq))["status"] == "REQUESTED"
    return seq


def travel(world: World, seconds: int) -> None:
    """Moves the node's clock forward and mines a block."""
    world.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- S2
def test_propose_writes_the_econtract_that_party_a_signs(cli: Cli, world: World) -> None:
    econtract_file = proposed(cli, world)
    assert econtract_file == Path("CLI-1.econtract.json")
    document = econtract_file.read_bytes()
    econtract = EContract.from_document(document)
    assert (econtract.number, econtract.party_a, econtract.party_b) == (NUMBER, world.a.org_id, world.b.org_id)
    assert econtract.asset == world.deployment.asset.address
    assert [(s.specification, s.amount) for s in econtract.stages] == [("design", 1000_50), ("delivery", 2000_00)]
    shown = cli("a", "contract", "show", NUMBER)
    assert (shown["doc_hash"], shown["terms_hash"]) == (
        "0x" + keccak(document).hex(),
        "0x" + econtract.terms_hash.hex(),
    )
    assert (shown["total"], shown["unpaid"], shown["committed"]) == ("3000.50", "3000.50", "0.00")
    assert [(s["amount"], s["status"]) for s in shown["stages"]] == [("1000.50", "OPEN"), ("2000.00", "OPEN")]
    assert shown["signature_b"]["signer"] == world.b.account(Department.BUSINESS).address
    assert (shown["signature_a"], shown["signed_at"]) == (None, None)

    signed = cli("a", "contract", "sign", NUMBER, str(econtract_file))
    assert signed["status"] == "SIGNED"
    assert signed["signature_a"]["signer"] == world.a.account(Department.BUSINESS).address
    assert datetime.fromisoformat(signed["signed_at"]).utcoffset() == datetime.now().astimezone().utcoffset()


def test_amounts_given_as_json_numbers_are_taken_exactly(cli: Cli, world: World) -> None:
    stages = '[{"specification": "design", "amount": 1234567890123456.78}, {"specification": "delivery", "amount": 2}]'
    terms_file = write(Path("numbers.json"), f'{{"number": "CLI-3", "party_a": {world.a.org_id}, "stages": {stages}}}')
    shown = cli("b", "contract", "propose", str(terms_file), str(write(Path("doc.txt"), "e-contract CLI-3")))
    assert (shown["total"], [stage["amount"] for stage in shown["stages"]]) == (
        "1234567890123458.78",
        ["1234567890123456.78", "2.00"],
    )  # a float would have made the first 1234567890123456.80


def test_users_and_tokens_of_the_platform_by_command(cli: Cli, tmp_path: Path) -> None:
    database = ("--database-url", f"sqlite:///{tmp_path / 'platform.db'}")
    no_terminal = cli.refused("a", "users", "add", "alice", "--role", "finance", *database)
    assert no_terminal.startswith("error: InvalidInput: no password: set COLLAB_USER_PASSWORD")
    added = cli("a", "users", "add", "alice", "--role", "finance", *database, COLLAB_USER_PASSWORD="correct horse 1")
    assert added == {"username": "alice", "role": "FINANCE", "time_zone": "UTC"}
    again = cli.refused("a", "users", "add", "alice", "--role", "auditor", *database, COLLAB_USER_PASSWORD="x" * 12)
    assert again.startswith("error: AccountExists: user alice exists")
    assert cli("a", "tokens", "new", "bot", "--role", "finance", *database)["token"].startswith("collab_")


def test_propose_writes_where_asked_and_never_over_another_file(cli: Cli, world: World) -> None:
    document = write(Path("doc.txt"), "e-contract CLI-2")
    occupied = write(Path("taken.json"), "someone else's file")
    refused = cli.refused("b", "contract", "propose", str(terms(world.a.org_id, "CLI-2")), str(document), "--out",
                          str(occupied))  # fmt: skip
    assert refused.startswith("error: InvalidInput: taken.json exists")
    assert "UnknownContractError" in cli.refused("b", "contract", "show", "CLI-2")  # refused before anything was sent
    nowhere = cli.refused("b", "contract", "propose", str(terms(world.a.org_id, "CLI-2")), str(document), "--out",
                          "no-such-folder/doc.json")  # fmt: skip
    assert nowhere.startswith("error: InvalidInput: cannot write no-such-folder/doc.json")
    assert "UnknownContractError" in cli.refused("b", "contract", "show", "CLI-2")
    out = Path("for-party-a.json")
    shown = cli("b", "contract", "propose", str(terms(world.a.org_id, "CLI-2")), str(document), "--out", str(out))
    assert shown["econtract_file"] == str(out)
    assert cli("a", "contract", "sign", "CLI-2", str(out))["status"] == "SIGNED"


@pytest.mark.parametrize(
    ("terms_json", "named"),
    [
        ('{"number": "CLI-1", "party_a": 0, "stages": [{"specification": "s", "amount": "1"}]}',
         "InvalidInput: invalid terms in bad.json: party_a: Input should be greater than 0"),
        ('{"number": "CLI-1", "party_a": 1, "stages": []}', "InvalidInput: invalid terms in bad.json: stages: "),
        ('{"number": "%s", "party_a": 1, "stages": [{"specification": "s", "amount": "1"}]}' % ("x" * 33),
         "InvalidInput: invalid terms in bad.json: number: Value error, contract number must be 1-32 UTF-8 bytes"),
        ('{"number": "CLI-1", "party_a": 1, "stages": [{"specification": "s", "amount": "1.001"}]}',
         "InvalidAmount: invalid amount '1.001': at most 2 decimals"),
        ('{"number": "CLI-1", "stages": []}', "InvalidInput: malformed terms file bad.json: KeyError 'party_a'"),
        ('{"number": "CLI-1", "party_a": 1.9, "stages": [{"specification": "s", "amount": "1"}]}',
         "InvalidInput: malformed terms file bad.json: ValueError party_a must be an org id (a whole number), not 1.9"),
        ('{"number": "CLI-1", "party_a": 1, "stages": [{"specification": "s", "amount": "1,50"}]}',
         "InvalidAmount: malformed amount '1,50'"),  # a decimal comma, never 150.00
        ('{"number": "CLI-1", "party_a": 1, "stages": [{"specification": "s", "amount": true}]}',
         "InvalidInput: malformed terms file bad.json: TypeError amount True is not a number"),
    ],
)  # fmt: skip
def test_terms_that_cannot_be_proposed_are_named(cli: Cli, terms_json: str, named: str) -> None:
    document = write(Path("doc.txt"), "e-contract")
    refused = cli.refused("b", "contract", "propose", str(write(Path("bad.json"), terms_json)), str(document))
    assert refused.startswith(f"error: {named}")
    assert not Path("CLI-1.econtract.json").exists()


def _tampered(econtract: EContract, change: str) -> bytes:
    first, second = econtract.stages
    stages = {
        "amount": (first.model_copy(update={"amount": first.amount + 1}), second),
        "stage count": (first, second, second.model_copy(update={"specification": "extra"})),
        "specification": (first.model_copy(update={"specification": "design v2"}), second),
        "order": (second, first),
    }
    if change in stages:
        return econtract.model_copy(update={"stages": stages[change]}).document()
    fields: dict[str, dict[str, Any]] = {
        "asset": {"asset": "0x" + "42" * 20},
        "text": {"text": econtract.text + " (and a free car)"},
        "party_a": {"party_a": 3},
        "number": {"number": "CLI-9"},
    }
    return econtract.model_copy(update=fields[change]).document()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("amount", "stages[0].amount: the document says 1,000.51, the chain holds 1,000.50"),
        ("asset", "asset: the document says 0x4242424242424242424242424242424242424242, the chain holds"),
        ("stage count", "stages: the document says 3 stages, the chain holds 2 stages"),
        ("specification", "stages[0].specification"),
        ("order", "stages[0].specification"),
        ("text", "document hash"),
        ("party_a", "party_a: the document says 3, the chain holds 1"),
        ("number", "number"),
    ],
)
def test_tampered_econtract_is_refused_naming_the_field(cli: Cli, world: World, change: str, named: str) -> None:
    genuine = proposed(cli, world)
    tampered = write(Path("tampered.json"), _tampered(EContract.from_document(genuine.read_bytes()), change))
    refused = cli.refused("a", "contract", "sign", NUMBER, str(tampered))
    assert refused.startswith(f"error: TermsMismatch: {named}")
    assert "hint: nothing was signed" in refused
    shown = cli("a", "contract", "show", NUMBER)
    assert (shown["status"], shown["signature_a"]) == ("PROPOSED", None)


def test_a_document_that_is_no_econtract_is_refused(cli: Cli, world: World) -> None:
    genuine = proposed(cli, world)
    reencoded = write(Path("pretty.json"), json.dumps(json.loads(genuine.read_bytes()), indent=2))
    assert cli.refused("a", "contract", "sign", NUMBER, str(reencoded)).startswith(
        "error: EContractError: not a canonical collab/e-contract/1 document"
    )
    text = write(Path("contract.txt"), "the contract's text alone")
    assert cli.refused("a", "contract", "sign", NUMBER, str(text)).startswith("error: EContractError: not a collab")
    missing = cli.refused("a", "contract", "sign", NUMBER, "no-such-file.json")
    assert missing.startswith("error: InvalidInput: cannot read no-such-file.json")


def test_terms_registered_other_than_the_document_sent_are_refused(cli: Cli, world: World, flow: Flow) -> None:
    """An outsider as Party B registers stage amounts 100x those of the document it sends, or another asset."""
    document = write(Path("doc.txt"), "e-contract CLI-1")
    inflated = terms(world.a.org_id, amounts=("100050", "200000"))
    registered = Path(cli("b", "contract", "propose", str(inflated), str(document))["econtract_file"])
    honest = EContract.from_document(registered.read_bytes())
    sent = honest.model_copy(
        update={"stages": tuple(s.model_copy(update={"amount": s.amount // 100}) for s in honest.stages)}
    )
    refused = cli.refused("a", "contract", "sign", NUMBER, str(write(Path("sent.json"), sent.document())))
    assert refused.startswith(
        "error: TermsMismatch: stages[0].amount: the document says 1,000.50, the chain holds 100,050.00"
    )

    other, _ = deploy_contract(world.admin, "DepositToken", "Other", "OTH", world.admin.address)
    cli("gov", "asset", "accept", other.address)
    draft = ContractDraft("CLI-2", "e-contract CLI-2", (StageDraft("design", 1000_50),))
    paid_in_other = draft.econtract(party_a=world.a.org_id, party_b=world.b.org_id, asset=other.address)
    flow.business(world.b).propose(paid_in_other)
    sent = paid_in_other.model_copy(update={"asset": world.deployment.asset.address})
    refused = cli.refused("a", "contract", "sign", "CLI-2", str(write(Path("sent-2.json"), sent.document())))
    assert refused.startswith(f"error: TermsMismatch: asset: the document says {world.deployment.asset.address}")


def test_cancel_a_proposal(cli: Cli, world: World) -> None:
    econtract = proposed(cli, world)
    assert cli.refused("c", "contract", "cancel", NUMBER, "--reason", "not ours").startswith("error: WrongParty(")
    cancelled = cli("a", "contract", "cancel", NUMBER, "--reason", "prices changed")
    assert cancelled["status"] == "CANCELLED"
    refused = cli.refused("a", "contract", "sign", NUMBER, str(econtract))
    assert refused.startswith("error: UnexpectedContractStatus(")
    proposed(cli, world, "CLI-2")
    assert cli("b", "contract", "cancel", "CLI-2", "--reason", "withdrawn")["status"] == "CANCELLED"


# ---------------------------------------------------------------------------------------------------- S3, S4
def test_stage_reject_resubmit_and_confirm_the_result_received(cli: Cli, world: World) -> None:
    econtract = proposed(cli, world)
    cli("a", "contract", "sign", NUMBER, str(econtract))
    first, other = write(Path("v1.pdf"), "first try"), write(Path("v2.pdf"), "second try")
    submitted = cli("b", "stage", "submit", NUMBER, "0", str(first))
    assert (submitted["status"], submitted["amount"]) == ("PENDING", "1000.50")
    assert submitted["result_hash"] == "0x" + keccak(first.read_bytes()).hex()
    mismatch = cli.refused("a", "stage", "confirm", NUMBER, "0", "--result", str(other))
    assert mismatch.startswith("error: StageResultMismatch(")
    assert cli("a", "stage", "reject", NUMBER, "0", "--reason", "incomplete")["status"] == "REJECTED"
    assert cli("b", "stage", "submit", NUMBER, "0", str(other))["status"] == "PENDING"
    assert cli("a", "stage", "confirm", NUMBER, "0")["status"] == "CONFIRMED"
    assert cli.refused("b", "stage", "submit", NUMBER, "5", str(other)).startswith("error: StageOutOfRange(")
    assert cli.refused("b", "settlement", "apply", NUMBER).startswith("error: StagesNotVouched(")


def test_settlement_rejected_then_approved(cli: Cli, world: World) -> None:
    econtract = proposed(cli, world)
    cli("a", "contract", "sign", NUMBER, str(econtract))
    for index in ("0", "1"):
        cli("b", "stage", "submit", NUMBER, index, str(write(Path("r.txt"), index)))
        cli("a", "stage", "confirm", NUMBER, index)
    cli("b", "settlement", "apply", NUMBER)
    assert cli.refused("b", "settlement", "reject", NUMBER, "--reason", "x").startswith("error: WrongParty(")
    assert cli("a", "settlement", "reject", NUMBER, "--reason", "invoice first")["status"] == "SIGNED"
    assert cli.refused("a", "settlement", "approve", NUMBER).startswith("error: UnexpectedContractStatus(")
    cli("b", "settlement", "apply", NUMBER)
    assert cli("a", "settlement", "approve", NUMBER)["status"] == "SETTLED"


# ---------------------------------------------------------------------------------------------------- S5–S7
def test_whole_flow_through_the_cli(cli: Cli, world: World, flow: Flow) -> None:
    seq = requested(cli, world)
    assert flow.institution(world.bank).bank_account(NUMBER, seq).account == B_ACCOUNT  # from the file, as written
    second = cli("bank", "payment", "release", NUMBER, str(seq))
    assert (second["payer_org"], second["payee_org"], second["amount"]) == (world.a.org_id, world.b.org_id, "3000.50")
    assert second["beneficiary"] == world.b.treasury.address
    shown = cli("b", "payment", "show", NUMBER, str(seq))
    assert (shown["status"], shown["amount"], shown["beneficiary_org"]) == ("RELEASED", "3000.50", world.b.org_id)
    assert "account_for_payer" not in shown
    assert "key_ciphertext" not in shown
    (listed,) = cli("a", "vouchers")
    assert (listed["contract_no"], listed["amount"]) == (NUMBER, "3000.50")
    contract = cli("a", "contract", "show", NUMBER)
    assert (contract["total"], contract["unpaid"], contract["payment_count"]) == ("3000.50", "0.00", 1)


def test_bank_account_from_a_file_or_standard_input_and_a_warning_on_the_command_line(
    cli: Cli, world: World, flow: Flow
) -> None:
    settled(cli, world)
    from_stdin = cli("b", "payment", "apply", NUMBER, "1000", "--bank-account-file", "-", stdin=B_ACCOUNT + "\n")
    assert flow.finance(world.a).open_application(NUMBER, from_stdin["seq"]).account == B_ACCOUNT
    result = cli.result("b", "payment", "apply", NUMBER, "1000", "--bank-account", "CN99 SEEN BY PS")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("warning: --bank-account puts the bank account on the command line")
    assert "ps" in result.stderr
    assert "--bank-account-file" in result.stderr
    assert flow.finance(world.a).open_application(NUMBER, json.loads(result.stdout)["seq"]).account == "CN99 SEEN BY PS"

    secret = "SECRET-ACCOUNT-" * 20  # 300 characters: too long
    for args, stdin, error in [
        ((), None, "where should the money go? give --bank-account-file PATH"),
        (("--bank-account-file", "-", "--bank-account", "X"), "X", "give the bank account once"),
        (("--bank-account-file", "-"), "\n", "the bank account is empty"),
        (("--bank-account-file", "-"), "CN12\nCN34", "the bank account must be one line"),
        (("--bank-account-file", "-"), secret, "the bank account is longer than 256 characters"),
        (("--bank-account", secret), None, "the bank account is longer than 256 characters"),
        (("--bank-account-file", str(write(Path("long.acct"), secret))), None, "longer than 256 characters"),
        (("--bank-account-file", str(write(Path("bin.acct"), b"\xff\xfe"))), None, "is not UTF-8 text"),
        (("--bank-account-file", "-"), "x" * 5000, "standard input holds more than 4096 bytes"),
        (("--bank-account-file", "missing.acct"), None, "cannot read missing.acct"),
    ]:
        refused = cli.refused("b", "payment", "apply", NUMBER, "1", *args, stdin=stdin)
        assert refused.startswith("error: InvalidInput: "), refused
        assert error in refused, refused
        assert "SECRET-ACCOUNT" not in refused
        assert "CN12" not in refused


def test_over_total_application_withdraw_and_refuse(cli: Cli, world: World) -> None:
    settled(cli, world)
    assert applied(cli) == 1
    assert cli("a", "contract", "show", NUMBER)["unpaid"] == "0.00"
    over = cli.refused("b", "payment", "apply", NUMBER, "0.01", "--bank-account-file", "b.acct")
    assert over.startswith(f"error: PaymentExceedsUnpaid(contractNo={NUMBER}, amount=0.01, unpaid=0.00)")  # as typed
    assert "hint: see what is still unpaid" in over
    assert cli.refused("a", "payment", "withdraw", NUMBER, "1").startswith("error: WrongParty(")
    assert cli("b", "payment", "withdraw", NUMBER, "1")["status"] == "WITHDRAWN"
    assert cli("a", "contract", "show", NUMBER)["unpaid"] == "3000.50"
    assert applied(cli, amount="1000") == 2
    assert cli.refused("b", "payment", "refuse", NUMBER, "2", "--reason", "x").startswith("error: WrongParty(")
    assert cli("a", "payment", "refuse", NUMBER, "2", "--reason", "not due yet")["status"] == "REFUSED"
    assert cli.refused("b", "payment", "withdraw", NUMBER, "2").startswith("error: UnexpectedVoucherStatus(")
    assert cli("a", "contract", "show", NUMBER)["unpaid"] == "3000.50"
    assert applied(cli) == 3
    cli("a", "payment", "issue", NUMBER, "3")
    assert cli.refused("a", "payment", "refuse", NUMBER, "3", "--reason", "x").startswith(
        "error: UnexpectedVoucherStatus("
    )
    assert cli.refused("b", "payment", "show", NUMBER, "4").startswith("error: UnknownPaymentError")


def test_a_key_for_another_account_is_refused_by_redeem(cli: Cli, world: World, flow: Flow) -> None:
    """An outsider as Party A issues a voucher that carries the application's account hash but a payment key that
    pays another account: Party B's client refuses to redeem it."""
    settled(cli, world)
    seq = applied(cli)
    finance = flow.finance(world.a)
    application = finance.open_application(NUMBER, seq)
    swapped = application.model_copy(update={"account": "XX00 THE OUTSIDER"})
    expiry = int(world.w3.eth.get_block("latest")["timestamp"]) + 3600
    raw = contract_number(NUMBER)
    prepared, _ = finance.prepare_issue_voucher(
        raw, seq, amount=3000_50, account=swapped, expiry=expiry, payee_key=world.b.encryption_key.public_key
    )
    _, _, (amount, _, *key) = prepared.call.args  # the voucher of the swapped account's key ...
    honest = (amount, finance.reader.payment(NUMBER, seq).account_hash, *key)  # ... claiming the application's
    call = world.deployment.registry.functions.issuePaymentVoucher(raw, seq, honest)
    finance.execute(PreparedStep("issuePaymentVoucher", "S5.2", call, 300_000))
    refused = cli.refused("b", "payment", "redeem", NUMBER, str(seq))
    assert refused.startswith("error: KeyAccountMismatch: the payment key of payment 1 of 'CLI-1' pays another")
    assert "THE OUTSIDER" not in refused
    assert cli("b", "payment", "show", NUMBER, str(seq))["status"] == "FROZEN"


def test_assignment_to_party_c(cli: Cli, world: World) -> None:
    settled(cli, world)
    seq = str(applied(cli))
    cli("a", "payment", "issue", NUMBER, seq)
    c = str(world.c.org_id)
    assert cli("b", "payment", "assign", NUMBER, seq, c, "--out", "key-for-c.hex")["written_to"] == "key-for-c.hex"
    presented = cli("c", "payment", "present", NUMBER, seq, "key-for-c.hex")
    assert (presented["status"], presented["presenter_org"]) == ("PRESENTED", world.c.org_id)
    account = cli(
        "c", "payment", "account", NUMBER, seq, "--bank-account-file", "-", "--out", "c.json", stdin=C_ACCOUNT
    )
    assert C_ACCOUNT not in Path("c.json").read_text()
    to_a = cli("b", "payment", "sign-assignment", NUMBER, seq, str(world.a.org_id), "c.json")
    refused = cli.refused("b", "payment", "confirm-assignment", NUMBER, seq, str(world.a.org_id), "c.json",
                          "--signer", to_a["signer"], "--signature", to_a["signature"])  # fmt: skip
    assert refused.startswith("error: InvalidAssignee(")
    signed = cli("b", "payment", "sign-assignment", NUMBER, seq, c, "c.json")
    assert (signed["assignee_org"], signed["account_hash"]) == (world.c.org_id, account["account_hash"])
    confirmed = cli("c", "payment", "confirm-assignment", NUMBER, seq, c, "c.json",
                    "--signer", signed["signer"], "--signature", signed["signature"])  # fmt: skip
    assert (confirmed["status"], confirmed["beneficiary_org"]) == ("REQUESTED", world.c.org_id)
    assert (confirmed["pinned_treasury"], confirmed["assignee_account_hash"]) == (
        world.c.treasury.address,
        account["account_hash"],
    )
    second = cli("bank", "payment", "release", NUMBER, seq)
    assert (second["beneficiary_org"], second["beneficiary"]) == (world.c.org_id, world.c.treasury.address)


def test_release_refused_for_a_suspended_beneficiary(cli: Cli, world: World) -> None:
    seq = str(requested(cli, world))
    cli("gov", "org", "suspend", str(world.b.org_id))
    refused = cli.refused("bank", "payment", "release", NUMBER, seq)
    assert refused.startswith(f"error: ReleaseRefused: beneficiary org {world.b.org_id} is suspended")
    assert "hint: nothing was sent" in refused
    cli("gov", "org", "reinstate", str(world.b.org_id))
    assert cli("bank", "payment", "release", NUMBER, seq)["beneficiary"] == world.b.treasury.address


def test_treasury_moved_in_flight_is_pinned_by_the_beneficiary(cli: Cli, world: World) -> None:
    seq = str(requested(cli, world))
    assert cli("b", "payment", "show", NUMBER, seq)["pinned_treasury"] == world.b.treasury.address
    moved = "0x" + "77" * 20
    assert cli("gov", "org", "treasury", str(world.b.org_id), moved)["treasury"].lower() == moved
    refused = cli.refused("bank", "payment", "release", NUMBER, seq)
    assert refused.startswith(f"error: ReleaseRefused: org {world.b.org_id} moved its treasury after the request")
    assert cli.refused("c", "payment", "pin-treasury", NUMBER, seq).startswith("error: WrongParty(")
    assert cli("b", "payment", "pin-treasury", NUMBER, seq)["pinned_treasury"].lower() == moved
    assert cli("bank", "payment", "release", NUMBER, seq)["beneficiary"].lower() == moved


def test_settle_without_the_institution_after_the_deadline(cli: Cli, world: World) -> None:
    seq = str(requested(cli, world))
    shown = cli("b", "payment", "show", NUMBER, seq)
    deadline = datetime.fromisoformat(shown["release_deadline"])
    assert deadline - datetime.fromisoformat(shown["requested_at"]) == timedelta(seconds=RELEASE_WINDOW)
    early = cli.refused("b", "payment", "settle", NUMBER, seq, "--to", "beneficiary")
    assert early.startswith("error: ReleaseDeadlineNotReached(")
    travel(world, RELEASE_WINDOW + 1)
    consent = cli("a", "payment", "sign-settlement", NUMBER, seq, "--to", "beneficiary")
    half = cli.refused("b", "payment", "settle", NUMBER, seq, "--to", "beneficiary", "--cosigner", consent["signer"])
    assert half.startswith("error: InvalidInput: give both --cosigner and --signature")
    other_way = cli.refused("b", "payment", "settle", NUMBER, seq, "--to", "payer",
                            "--cosigner", consent["signer"], "--signature", consent["signature"])  # fmt: skip
    assert other_way.startswith("error: InvalidSignature(")
    settled_ = cli("b", "payment", "settle", NUMBER, seq, "--to", "beneficiary",
                   "--cosigner", consent["signer"], "--signature", consent["signature"])  # fmt: skip
    assert settled_["status"] == "RELEASED"
    (second,) = cli("a", "vouchers")
    assert (second["amount"], second["beneficiary"]) == ("3000.50", world.b.treasury.address)
    assert second["released_by"] == world.b.account(Department.FINANCE).address


def test_settle_back_to_the_payer_and_alone_when_the_other_is_suspended(cli: Cli, world: World) -> None:
    settled(cli, world)
    for amount in ("1000", "2000.50"):
        seq = str(applied(cli, amount=amount))
        cli("a", "payment", "issue", NUMBER, seq)
        cli("b", "payment", "redeem", NUMBER, seq)
    travel(world, RELEASE_WINDOW + 1)
    consent = cli("b", "payment", "sign-settlement", NUMBER, "1", "--to", "payer")
    back = cli("a", "payment", "settle", NUMBER, "1", "--to", "payer",
               "--cosigner", consent["signer"], "--signature", consent["signature"])  # fmt: skip
    assert back["status"] == "RECLAIMED"
    assert cli("a", "contract", "show", NUMBER)["unpaid"] == "1000.00"
    cli("gov", "org", "suspend", str(world.a.org_id))
    refused = cli.refused("b", "payment", "settle", NUMBER, "2", "--to", "payer")
    assert refused.startswith("error: SettlementDirectionRefused(")
    assert cli("b", "payment", "settle", NUMBER, "2", "--to", "beneficiary")["status"] == "RELEASED"


def test_expired_key_is_refused_with_a_hint_and_reclaimed(cli: Cli, world: World) -> None:
    settled(cli, world)
    seq = str(applied(cli, amount="10"))
    assert cli.refused("a", "payment", "issue", NUMBER, seq, "--lifetime", "1").startswith("error: InvalidExpiry: ")
    cli("a", "payment", "issue", NUMBER, seq, "--lifetime", "60")
    early = cli.refused("a", "payment", "reclaim", NUMBER, seq)
    assert early.startswith("error: PaymentKeyNotExpired(")
    expiry = cli("a", "payment", "show", NUMBER, seq)["expiry"]
    assert f"hint: the key has not expired yet: it expires at {expiry[:19].replace('T', ' ')}" in early
    travel(world, 61)
    expired = cli.refused("b", "payment", "redeem", NUMBER, seq)
    assert expired.startswith("error: PaymentKeyExpired(")
    assert "hint: the key expired" in expired
    assert cli("a", "payment", "reclaim", NUMBER, seq)["status"] == "RECLAIMED"


@pytest.fixture
def zone_plus_8(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The user's time zone is UTC+8 (a POSIX TZ rule: no zone database needed)."""
    monkeypatch.setenv("TZ", "XST-8")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("zone_plus_8")
def test_payment_show_in_currency_units_and_the_users_time_zone(cli: Cli, world: World) -> None:
    seq = str(requested(cli, world))
    shown = cli("a", "payment", "show", NUMBER, seq)
    requested_at = datetime.fromisoformat(shown["requested_at"])
    assert requested_at.utcoffset() == timedelta(hours=8)
    assert requested_at.timestamp() == world.w3.eth.get_block("latest")["timestamp"]
    assert shown["amount"] == "3000.50"
    assert shown["account_hash"].startswith("0x")
    assert len(shown["account_hash"]) == 66
    assert (shown["beneficiary_org"], shown["pinned_treasury"]) == (world.b.org_id, world.b.treasury.address)
    table = cli.result("a", "payment", "show", NUMBER, seq, json_out=False)
    assert table.exit_code == 0
    assert "3,000.50" in table.stdout
    expected = datetime.fromtimestamp(requested_at.timestamp(), timezone(timedelta(hours=8))).isoformat(sep=" ")
    assert expected in table.stdout


# ---------------------------------------------------------------------------------------------------- S1
def test_governance_through_the_cli(cli: Cli) -> None:
    treasury = "0x" + "42" * 20
    org = cli("gov", "org", "register", "77", "Party D", "--treasury", treasury, "--encryption-key", "0x02" + "11" * 32)
    assert (org["org_id"], org["kind"], org["active"]) == (77, "ENTERPRISE", True)
    account = "0x" + "43" * 20
    assert cli("gov", "org", "bind", account, "77", "finance")["department"] == "FINANCE"
    assert cli("gov", "org", "suspend", "77")["active"] is False
    assert cli("gov", "org", "reinstate", "77")["active"] is True
    assert cli("gov", "org", "treasury", "77", "0x" + "44" * 20)["treasury"].lower() == "0x" + "44" * 20
    assert cli("gov", "org", "member", account)["org_id"] == 77
    assert cli("gov", "org", "unbind", account)["org_id"] == 0


def test_assets_accepted_by_governance(cli: Cli, world: World) -> None:
    deployed = world.deployment.asset.address
    assert cli("a", "asset", "list") == [{"asset": deployed, "accepted": True}]
    other, _ = deploy_contract(world.admin, "DepositToken", "Other", "OTH", world.admin.address)
    assert cli("gov", "asset", "accept", other.address) == {"asset": other.address, "accepted": True}
    assert cli("gov", "asset", "withdraw", deployed) == {"asset": deployed, "accepted": False}
    assert cli("b", "asset", "list") == [
        {"asset": deployed, "accepted": False},
        {"asset": other.address, "accepted": True},
    ]
    document = write(Path("doc.txt"), "e-contract")
    refused = cli.refused("b", "contract", "propose", str(terms(world.a.org_id)), str(document))
    assert refused.startswith(f"error: AssetNotAccepted(asset={deployed})")
    assert not Path("CLI-1.econtract.json").exists()  # no document for a contract the chain refused
    assert "collab asset accept" in refused
    assert cli.refused("gov", "asset", "accept", world.a.treasury.address).startswith("error: InvalidAsset(")
    assert "KeystoreError" in cli.refused("a", "asset", "accept", other.address)  # no governance key


def test_deploy_registers_the_institution(cli: Cli, world: World, tmp_path: Path) -> None:
    manifest = tmp_path / "second.json"
    institution_key = "0x" + world.bank.encryption_key.public_key.hex()
    second = [
        "deploy", "--institution-org", "901", "--institution-name", "Second Bank",
        "--institution-treasury", world.bank.treasury.address, "--institution-key", institution_key,
        "--asset-admin", world.bank.treasury.address, "--release-window", "7200", "--min-key-lifetime", "60",
    ]  # fmt: skip
    deployed = cli("gov", *second, COLLAB_MANIFEST=str(manifest))
    assert deployed["institution_org"] == 901
    assert json.loads(manifest.read_text())["escrow"] == deployed["escrow"]
    bank = cli("a", "org", "show", "901", COLLAB_MANIFEST=str(manifest))
    assert (bank["name"], bank["kind"], bank["active"]) == ("Second Bank", "PAYMENT_INSTITUTION", True)
    assert cli("a", "asset", "list", COLLAB_MANIFEST=str(manifest)) == [{"asset": deployed["asset"], "accepted": True}]
    escrow = world.w3.eth.contract(address=deployed["escrow"], abi=world.deployment.escrow.abi)
    assert (escrow.functions.releaseWindow().call(), escrow.functions.minKeyLifetime().call()) == (7200, 60)
    third = str(tmp_path / "third.json")
    institution = ["--institution-org", "902", "--institution-name", "Bank", "--institution-key", institution_key]
    refused = cli.refused("gov", "deploy", *institution, "--institution-treasury", "0x1234", COLLAB_MANIFEST=third)
    assert refused.startswith("error: InvalidInput: malformed address '0x1234'")
    treasury = ("--institution-treasury", world.bank.treasury.address)
    refused = cli.refused("gov", "deploy", *institution, *treasury, "--release-window", "600", COLLAB_MANIFEST=third)
    assert refused.startswith("error: InvalidWindow(window=600)")  # an hour at least
    assert not Path(third).exists()
    block = world.w3.eth.block_number
    refused = cli.refused("gov", *second, COLLAB_MANIFEST=str(manifest))
    assert refused == (
        f"error: ManifestExists: a deployment manifest is already at {manifest}: refusing to overwrite it\n"
        "hint: pass --force to replace it, or write the manifest elsewhere"
    )
    assert world.w3.eth.block_number == block  # refused before deploying anything
    replaced = cli("gov", *second, "--force", COLLAB_MANIFEST=str(manifest))
    assert json.loads(manifest.read_text())["escrow"] == replaced["escrow"] != deployed["escrow"]


# ---------------------------------------------------------------------------------------------------- errors
def test_json_and_debug_may_follow_the_command(cli: Cli, world: World) -> None:
    proposed(cli, world)
    before = cli("a", "contract", "show", NUMBER)
    after = cli.result("a", "contract", "show", NUMBER, "--json", json_out=False)
    assert after.exit_code == 0, after.stderr
    assert json.loads(after.stdout) == before
    debugged = cli.runner.invoke(app, ["contract", "show", "NO-SUCH-CONTRACT", "--debug"], env=cli.env["a"])
    assert debugged.exit_code == 1
    output = debugged.stdout + debugged.stderr
    assert "Traceback (most recent call last)" in output  # what --debug shows, not a usage error
    assert f"{UnknownContractError.__module__}.UnknownContractError" in output


def test_refusals_are_one_readable_line(cli: Cli, world: World) -> None:
    unknown = cli.refused("a", "contract", "show", "NO-SUCH-CONTRACT")
    assert unknown.startswith("error: UnknownContractError")
    assert "hint:" in unknown
    settled(cli, world)
    assert cli.refused("b", "settlement", "approve", NUMBER).startswith("error: WrongParty(")
    account = ("--bank-account-file", str(write(Path("b.acct"), B_ACCOUNT)))
    malformed = cli.refused("b", "payment", "apply", NUMBER, "12abc", *account)
    assert "malformed amount '12abc'" in malformed
    assert "at most 2 decimals" in cli.refused("b", "payment", "apply", NUMBER, "1.001", *account)
    negative = cli.refused("b", "payment", "apply", NUMBER, "-5", *account)
    assert negative.startswith("error: InvalidAmount: invalid amount '-5'")  # a value, not an unknown option
    assert "malformed address '0x1234'" in cli.refused("gov", "org", "bind", "0x1234", "1", "business")
    assert "KeystoreError" in cli.refused("a", "org", "suspend", "2")
    usage = cli.result("b", "payment", "show", NUMBER, "256")
    assert usage.exit_code == 2  # a sequence number is 1 to 255: a usage error


def test_wrong_passphrase_is_a_named_error(cli: Cli) -> None:
    refused = cli.refused("b", "settlement", "apply", "X", COLLAB_PASSPHRASE="not the passphrase")
    assert "WrongPassphrase" in refused
    assert "not the passphrase" not in refused


def test_empty_passphrase_is_named_with_where_it_comes_from(cli: Cli) -> None:
    refused = cli.refused("b", "settlement", "apply", "X", COLLAB_PASSPHRASE="")
    assert "EmptyPassphrase: environment variable COLLAB_PASSPHRASE is empty" in refused
    assert "hint: the keystore passphrase is empty" in refused
    assert "COLLAB_PASSPHRASE_FILE" in refused
    assert "collab keys new" not in refused


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "table"])
def test_a_reader_closing_the_pipe_ends_the_command_quietly(tmp_path: Path, as_json: bool) -> None:
    """``collab ... | head``: exit 141, as git or grep killed by SIGPIPE, and nothing on stderr."""
    words = ["--keys", str(tmp_path), *(["--json"] if as_json else []), "keys", "list"]
    process = subprocess.Popen(
        [sys.executable, "-m", "collab_py.cli", *words], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # before the command writes: starting the interpreter takes longer
    assert (process.wait(60), process.stderr.read()) == (141, b"")


def test_a_broken_pipe_that_is_not_the_output_is_an_error(tmp_path: Path) -> None:
    """A pipe that breaks elsewhere (the node's socket) while the reader still reads is an error, not a quiet end."""
    broken = (
        "import runpy; from collab_py.domain.keys import Keyring\n"
        "def names(self): raise BrokenPipeError(32, 'Broken pipe')\n"
        "Keyring.names = names\n"
        "runpy.run_module('collab_py.cli', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", broken, "--keys", str(tmp_path), "keys", "list"], capture_output=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr.decode().startswith("error: BrokenPipeError: [Errno 32] Broken pipe")


def test_a_passphrase_file_others_can_read_is_refused(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "passphrase"
    file.write_text(PASSPHRASE + "\n")
    file.chmod(0o644)
    refused = cli.refused("b", "settlement", "apply", "X", COLLAB_PASSPHRASE_FILE=str(file))
    assert refused == (
        f"error: PassphraseFileNotPrivate: passphrase file {file} can be read by group or others (mode 0644): run "
        f"`chmod 600 {file}`\nhint: a passphrase file must be readable by its owner only: run the chmod above"
    )


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


def test_a_manifest_of_another_deployment_or_chain_is_refused(cli: Cli, world: World, tmp_path: Path) -> None:
    nothing = world.a.treasury.address  # an account: no code, as after a chain was re-created with the same id
    stale = world.deployment.manifest.model_copy(update={"escrow": nothing}).save(tmp_path / "stale.json")
    ledger = tmp_path / "stale.db"
    env = {"COLLAB_MANIFEST": str(stale), "COLLAB_LEDGER_URL": f"sqlite:///{ledger}"}
    for command in (["payment", "show", NUMBER, "1"], ["vouchers"], ["listen", "--org", "1", "--once"]):
        refused = cli.refused("a", *command, **env)
        assert refused.startswith(
            f"error: ContractNotDeployed: no contract at the manifest's escrow {nothing} on chain 31337: a manifest "
            "of an older chain or of another deployment?\nhint: give the manifest of this network's deployment"
        ), refused
    assert not ledger.exists()  # nothing is created for a listener that cannot run
    other = world.deployment.manifest.model_copy(update={"chain_id": 4243}).save(tmp_path / "other.json")
    refused = cli.refused("a", "vouchers", COLLAB_MANIFEST=str(other))
    assert refused.startswith("error: ChainMismatch: manifest is for chain 4243, node is on chain 31337\nhint: ")
    assert "COLLAB_RPC_URL (--rpc-url) and COLLAB_MANIFEST (--manifest) point at the same" in refused
    assert "deploy first" not in refused


def test_listen_refuses_a_health_port_in_use_before_opening_the_ledger(cli: Cli, tmp_path: Path) -> None:
    ledger = tmp_path / "health.db"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        refused = cli.refused(
            "a", "listen", "--org", "1", "--once", "--health-port", str(port), COLLAB_LEDGER_URL=f"sqlite:///{ledger}"
        )
    assert refused == f"error: HealthPortInUse: health port {port} is in use: choose another with --health-port"
    assert not ledger.exists()


def test_listen_says_in_one_line_which_migrations_ran(cli: Cli, world: World, tmp_path: Path) -> None:
    """Alembic's lines (a dozen per start) only with --debug; a migration that runs is one line of ours."""
    ledger = tmp_path / "fresh.db"
    env = os.environ | cli.env["a"] | {"COLLAB_LEDGER_URL": f"sqlite:///{ledger}"}
    listen = [sys.executable, "-m", "collab_py.cli", "listen", "--org", str(world.a.org_id), "--once"]
    first, again = (subprocess.run(listen, env=env, capture_output=True, text=True, check=True) for _ in range(2))
    assert "alembic" not in first.stderr + again.stderr
    said = [line.split(" collab.ledger ", 1)[1] for line in first.stderr.splitlines() if " collab.ledger " in line]
    versions = Path(collab_py.ledger.__file__).with_name("migrations") / "versions"
    revisions = ", ".join(sorted(path.name[:4] for path in versions.glob("[0-9]*.py")))  # 0001, ..., the latest
    assert said == [f"migrated the ledger tables of sqlite:///{ledger}: {revisions}"]
    assert "migrated" not in again.stderr
    debugged = subprocess.run(
        [*listen, "--debug"],
        env=env | {"COLLAB_LEDGER_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "INFO alembic.runtime.migration Running upgrade  -> 0001" in debugged.stderr


# ---------------------------------------------------------------------------------------------------- S6.2, S8
def test_listen_reconcile_and_ledger_through_the_cli(
    cli: Cli, world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seq = requested(cli, world)
    caplog.set_level(logging.INFO)
    assert cli("bank", "listen", "--org", str(world.bank.org_id), "--role", "institution", "--once")["checkpoint"]
    assert cli("a", "payment", "show", NUMBER, str(seq))["status"] == "RELEASED"  # released by the institution's bot
    cli("a", "listen", "--org", str(world.a.org_id), "--once")
    said = [record.getMessage() for record in caplog.records]
    assert sum("a new, empty ledger" in line for line in said) == 2  # the bank's and A's first start
    assert f"released payment {NUMBER}/{seq}: 3,000.50 to org {world.b.org_id}" in said  # in currency units
    posted = [line for line in said if line.startswith(f"org {world.a.org_id} posted ")]
    assert [line.split()[3] for line in posted] == ["FREEZE", "PAYMENT"]  # one line per posting
    assert all(f"of payment {NUMBER}/{seq}: 3,000.50, Dr " in line for line in posted)
    caplog.clear()
    cli("a", "listen", "--org", str(world.a.org_id), "--once")
    assert not any("empty ledger" in record.getMessage() for record in caplog.records)  # only on a new ledger
    a_books, b_books = f"sqlite:///{tmp_path / 'a' / 'ledger.db'}", f"sqlite:///{tmp_path / 'b' / 'ledger.db'}"
    missing = cli.result("a", "reconcile", "--ledger-url", a_books, "--ledger-url", b_books)
    assert missing.exit_code == 3  # B has not posted its receipt yet
    (mismatched,) = json.loads(missing.stdout)["contracts"]
    assert mismatched["mismatches"] == [f"payment 1: org {world.b.org_id} posted receivable 0.00, chain paid 3,000.50"]
    assert (mismatched["on_chain"], mismatched["receivable_posted"]) == ("3000.50", "0.00")
    cli("b", "listen", "--org", str(world.b.org_id), "--once")
    report = cli("a", "reconcile", "--ledger-url", a_books, "--ledger-url", b_books)
    assert report["clean"] is True
    (contract,) = report["contracts"]
    assert (contract["on_chain"], contract["payable_posted"], contract["receivable_posted"]) == ("3000.50",) * 3
    caplog.clear()
    cli("b", "listen", "--org", str(world.b.org_id), "--role", "accounting", "--role", "invoicing", "--once")
    said = [record.getMessage() for record in caplog.records]
    assert f"issued invoice INV-{NUMBER}-{seq} of payment {NUMBER}/{seq}" in said  # its receipt was posted before
    exported = tmp_path / "a-journal.csv"
    assert cli("a", "ledger", "--format", "csv", "--out", str(exported))["lines"] == 4
    header = exported.read_text().splitlines()[0]
    assert header == "entry_id,org_id,kind,contract_no,seq,account,debit,credit,reverses,memo"
    amounts = [(row["kind"], row["debit"], row["credit"]) for row in csv.DictReader(exported.open())]
    paid = ("3000.50", "0.00"), ("0.00", "3000.50")  # in currency units, debit line first
    assert amounts == [(kind, *line) for kind in ("FREEZE", "PAYMENT") for line in paid]
    lines = json.loads(cli.result("a", "ledger", "--format", "json", json_out=False).stdout)
    assert [(line["kind"], line["debit"], line["credit"]) for line in lines] == amounts  # strings, never floats
    assert "unknown format 'xml'" in cli.refused("a", "ledger", "--format", "xml")
    assert "pass --org or set COLLAB_ORG_ID" in cli.refused("a", "listen")


def test_keystore_others_can_read_is_refused_with_the_chmod_to_run(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "b" / "keys"
    folder.chmod(0o755)
    refused = cli.refused("b", "settlement", "apply", "X")
    assert refused.startswith(f"error: KeystoreNotPrivate: keystore folder {folder} is open to group or others")
    assert f"run `chmod 700 {folder}`" in refused
    assert "hint: keystores must be readable by their owner only" in refused
    folder.chmod(0o700)
    (folder / "business.json").chmod(0o644)
    assert f"chmod 600 {folder / 'business.json'}" in cli.refused("b", "settlement", "apply", "X")


def test_file_arguments_are_capped_and_devices_refused(cli: Cli, world: World, tmp_path: Path) -> None:
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as file:
        file.truncate(3 * 2**30)  # 3 GiB that take no disk; read whole, it took 3.2 GB of memory
    too_large = cli.refused("b", "stage", "submit", NUMBER, "0", str(huge))
    assert too_large.startswith(f"error: FileTooLarge: document {huge} is larger than 64 MiB")
    device = cli.refused("a", "contract", "sign", NUMBER, "/dev/zero")
    assert device.startswith("error: NotARegularFile: document /dev/zero is a device")
    terms_file = tmp_path / "big-terms.json"
    with terms_file.open("wb") as file:
        file.truncate(2 * 2**20)
    refused = cli.refused("b", "contract", "propose", str(terms_file), str(huge))
    assert "FileTooLarge" in refused
    assert "larger than 1 MiB" in refused


def test_ledgers_and_exports_are_private(cli: Cli, world: World, tmp_path: Path) -> None:
    cli("a", "listen", "--org", str(world.a.org_id), "--once")
    assert stat.S_IMODE((tmp_path / "a" / "ledger.db").stat().st_mode) == 0o600
    exported = tmp_path / "journal.csv"
    exported.write_text("an older export")
    exported.chmod(0o644)
    cli("a", "ledger", "--format", "csv", "--out", str(exported))
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert exported.read_text().startswith("entry_id,")
