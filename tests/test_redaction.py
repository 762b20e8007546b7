"""Credentials never shown: URLs masked wherever they are shown, secrets scrubbed from third parties' messages and
log lines, and confidential fields' validation errors without their values. No chain needed (a PostgreSQL server
is, for the migration with a password that needs URL escaping)."""

from __future__ import annotations

import logging
import os
from urllib.parse import quote

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from typer.testing import CliRunner

from collab_py.chain.transactor import NodeUnreachable, connect
from collab_py.cli import app
from collab_py.domain.crypto import BankAccount, PaymentKey, VoucherBinding
from collab_py.domain.einvoice import Invoice
from collab_py.ledger.database import DatabaseError, open_database
from collab_py.redaction import mask_url, remember_url, scrub
from collab_py.settings import CollabSettings
from support.credentials import ODD_PASSWORD, postgres_url

#: A password with every character that needs URL escaping, and some that are not ASCII (fixed: the test ids of
#: parallel workers must agree).
PASSWORD = "Sup3r@Secret%25:/ü€?#7f3a"
TOKEN = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"  # an Infura-style API key
BANK_ACCOUNT = "CN12 3456 7890 SECRET 7f3a"
BINDING = VoucherBinding(chain_id=1, escrow=b"\x01" * 20, voucher_id=b"\x02" * 32)


def database_url(user: str, password: str, host: str = "127.0.0.1:5432", database: str = "collab") -> str:
    return postgres_url(user, password, host, database)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (database_url("collab", PASSWORD), "postgresql+psycopg://***:***@127.0.0.1:5432/collab"),
        ("postgresql://collab:raw@pass:word@db/books", "postgresql://***:***@db/books"),  # not escaped at all
        ("postgresql://db/books?user=collab&password=hunter22", "postgresql://db/books?***"),
        (f"https://rpcuser:{PASSWORD}@node.example:8545/v3/{TOKEN}", "https://***:***@node.example:8545/***"),
        (f"https://mainnet.infura.io/v3/{TOKEN}", "https://mainnet.infura.io/***"),
        (f"wss://node.example/ws?key={TOKEN}", "wss://node.example/***"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545/", "http://127.0.0.1:8545"),
        ("sqlite:////var/lib/collab/ledger.db", "sqlite:////var/lib/collab/ledger.db"),
        (f"collab:{PASSWORD}@db", "***"),  # no URL at all: perhaps one with a typo
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_secrets_of_a_remembered_url_are_scrubbed_from_any_text() -> None:
    url = remember_url(f"https://rpcuser:{quote(PASSWORD, safe='')}@node.example/v3/{TOKEN}")
    requests_says = (
        "HTTPSConnectionPool(host='node.example', port=443): Max retries exceeded with url: "
        f"/v3/{TOKEN} (Caused by NewConnectionError(...))"
    )
    for message in (requests_says, f"auth {PASSWORD} failed", f"token={TOKEN}", f"calling {url}"):
        scrubbed = scrub(message)
        for secret in (PASSWORD, quote(PASSWORD, safe=""), TOKEN):
            assert secret not in scrubbed, scrubbed
    assert scrub("mysql://someone:elsewhere7f3a@db/x") == "mysql://***@db/x"  # any URL's user and password
    assert scrub("listener accounting-1: caught up at block 12") == "listener accounting-1: caught up at block 12"


def test_a_password_that_is_also_part_of_a_word_is_scrubbed_only_where_it_stands_alone() -> None:
    url = remember_url("postgresql+psycopg://postgres:postgres@127.0.0.1:5432/ledger")
    said = f"cannot open {mask_url(url)}: password postgres refused"
    assert scrub(said) == "cannot open postgresql+psycopg://***:***@127.0.0.1:5432/ledger: password *** refused"
    assert scrub(f"calling {url}") == "calling ***"
    assert scrub("user%3Apostgres%40host") == "user%3A***%40host"  # percent-escaped, it is still alone


def test_every_log_record_is_scrubbed_once_a_url_is_remembered(caplog: pytest.LogCaptureFixture) -> None:
    url = remember_url(f"http://u:{quote(PASSWORD, safe='')}@127.0.0.1:1/v3/{TOKEN}")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("web3.providers.HTTPProvider").debug("Making request HTTP. URI: %s, Method: eth_chainId", url)
    try:
        raise ConnectionError(f"Max retries exceeded with url: /v3/{TOKEN}")
    except ConnectionError:
        logging.getLogger("collab.listener").exception("listener %s failed", "accounting-1")
    assert len(caplog.records) == 2
    text = caplog.text + "".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    for secret in (PASSWORD, quote(PASSWORD, safe=""), TOKEN):
        assert secret not in text, text
    assert "Making request HTTP. URI: ***" in text


def test_node_unreachable_shows_the_url_masked() -> None:
    url = f"http://rpcuser:{quote(PASSWORD, safe='')}@127.0.0.1:9/v3/{TOKEN}"
    with pytest.raises(NodeUnreachable) as error:
        connect(url, timeout=2)
    assert str(error.value) == "no Ethereum node answers at http://***:***@127.0.0.1:9/***"
    with pytest.raises(NodeUnreachable, match=r"unsupported RPC URL ftp://\*\*\*:\*\*\*@node"):
        connect(f"ftp://u:{PASSWORD}@node/{TOKEN}")


def test_database_errors_show_the_url_masked() -> None:
    with pytest.raises(DatabaseError) as invalid:
        open_database(f"postgresql+psycopg://collab:{PASSWORD}@db:notaport/x")
    with pytest.raises(DatabaseError) as unknown:
        open_database(f"nosuchdb://collab:{quote(PASSWORD, safe='')}@db/x")
    with pytest.raises(DatabaseError) as unreachable:
        open_database(database_url("collab", PASSWORD, host="127.0.0.1:9"))
    assert "cannot migrate postgresql+psycopg://***:***@127.0.0.1:9/collab" in str(unreachable.value)
    for error in (invalid, unknown, unreachable):
        text = str(error.value)
        assert PASSWORD not in text
        assert quote(PASSWORD, safe="") not in text
        assert "***" in text


def test_a_password_that_needs_escaping_migrates_and_never_shows(odd_password_ledger: str) -> None:
    database = open_database(odd_password_ledger)  # Alembic gets the connection: no "invalid interpolation syntax"
    with database.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    database.dispose()
    wrong = odd_password_ledger.replace(quote(ODD_PASSWORD, safe=""), quote(ODD_PASSWORD + "x", safe=""))
    with pytest.raises(DatabaseError, match="password authentication failed") as error:
        open_database(wrong)
    for secret in (ODD_PASSWORD, quote(ODD_PASSWORD, safe=""), quote(ODD_PASSWORD + "x", safe="")):
        assert secret not in str(error.value)


def test_confidential_fields_are_not_echoed_in_validation_errors() -> None:
    attempts = [
        lambda: BankAccount(binding=BINDING, salt=b"\x00" * 32, account=BANK_ACCOUNT * 20),  # too long
        lambda: BankAccount(binding=BINDING, salt=BANK_ACCOUNT.encode(), account="x"),  # a salt of the wrong size
        lambda: PaymentKey(
            binding=BINDING,
            contract_no=b"\x00" * 32,
            amount=1,
            payer_org=1,
            expiry=1,
            secret=BANK_ACCOUNT.encode(),
            bank_account=BANK_ACCOUNT * 20,
        ),
        lambda: Invoice.model_validate({"invoice_no": BANK_ACCOUNT * 5, "contract_no": "HT-1"}),
        lambda: CollabSettings(rpc_url=f"ftp://u:{PASSWORD}@node/{TOKEN}"),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError) as error:
            attempt()
        shown = str(error.value) + repr(error.value)
        for secret in (BANK_ACCOUNT, PASSWORD, TOKEN):
            assert secret not in shown, shown
        assert any(what in shown for what in ("should have", "must be", "Field required")), shown  # what is wrong


def test_cli_errors_and_debug_tracebacks_show_no_credentials(tmp_path: os.PathLike[str]) -> None:
    rpc = f"http://rpcuser:{quote(PASSWORD, safe='')}@127.0.0.1:9/v3/{TOKEN}"
    ledger = database_url("collab", PASSWORD, host="127.0.0.1:9")
    env = {"COLLAB_RPC_URL": rpc, "COLLAB_LEDGER_URL": ledger, "COLLAB_MANIFEST": f"{tmp_path}/none.json"}
    runner = CliRunner()
    for args in (["contract", "show", "X"], ["ledger", "--format", "csv"], ["reconcile", "--ledger-url", ledger]):
        for debug in ([], ["--debug"]):
            result = runner.invoke(app, [*debug, *args], env=env)
            output = result.stdout + result.stderr
            assert result.exit_code == 1, output
            assert ("Traceback (most recent call last)" in output) == bool(debug), output
            for secret in (PASSWORD, quote(PASSWORD, safe=""), TOKEN, "rpcuser"):
                assert secret not in output, output
