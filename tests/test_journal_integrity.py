"""The journal is append-only and self-checking (SQLite and PostgreSQL): triggers (and on PostgreSQL the services'
role) refuse UPDATE and DELETE; an insider who bypasses them (drops the triggers, as DDL rights allow) is found by
``verify_journal``, which names the first entry that fails for every kind of tampering; reconciliation is not clean
on such books; listeners refuse to start on them unless started for forensics."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from collab_py.cli import app
from collab_py.devnet.flow import Flow
from collab_py.devnet.sandbox import sample_contract
from collab_py.ledger.database import open_database
from collab_py.ledger.integrity import ChainEvidence, LedgerTampered, require_intact, verify_journal
from collab_py.ledger.journal import Posting, write_postings
from collab_py.ledger.reconcile import reconcile
from collab_py.ledger.schema import FREEZE, PAYMENT, RECEIPT, chain_log, journal_entries, journal_lines
from collab_py.listener.engine import ListenerConfig
from collab_py.listener.factory import ListenerSpec, Role, build_listener
from collab_py.services.reader import ChainReader
from support import World, catch_up, released
from test_reconcile import voucher

A, B = 1, 2


def stored_event(connection: Connection) -> int:
    """A chain event in the store (made up: no node is read here)."""
    row = {
        "chain_id": 1, "block_number": 1, "block_hash": os.urandom(32), "tx_hash": os.urandom(32), "log_index": 0,
        "event": "SecondVoucher", "args": {}, "orphaned": False,
    }  # fmt: skip
    return int(connection.execute(insert(chain_log).values(row)).inserted_primary_key[0])


def books(url: str) -> Engine:
    """Org A's FREEZE (entry 1) and PAYMENT (2) of R-1, org B's RECEIPT (3), org A's FREEZE of R-2 (4)."""
    database = open_database(url)
    plan = [(A, FREEZE, "R-1", B), (A, PAYMENT, "R-1", B), (B, RECEIPT, "R-1", A), (A, FREEZE, "R-2", B)]
    for org, kind, contract_no, other in plan:
        with database.begin() as connection:
            posting = Posting(
                kind, stored_event(connection), contract_no, 1, bytes([1]) * 32, 500, other, "debit", "credit", kind
            )
            write_postings(connection, org, [posting])
    return database


def as_insider(connection: Connection) -> None:
    """Drops the journal's triggers, as someone with DDL rights on the database can."""
    if connection.dialect.name == "postgresql":
        for table in ("journal_entries", "journal_lines"):
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        return
    for table in ("journal_entries", "journal_lines"):
        for action in ("update", "delete"):
            connection.execute(text(f"DROP TRIGGER {table}_no_{action}"))


def entry(connection: Connection, entry_id: int) -> dict[str, object]:
    row = connection.execute(select(journal_entries).where(journal_entries.c.id == entry_id)).one()
    return {key: value for key, value in row._mapping.items() if key != "id"}


def amount_edited(connection: Connection) -> int:  # the PAYMENT debit line set to 99,999.99
    lines = journal_lines.c
    connection.execute(
        update(journal_lines).where(lines.entry_id == 2, lines.account == "debit").values(debit=9_999_999)
    )
    return 2


def amount_edited_everywhere(connection: Connection) -> int:  # balanced and summing to the entry, but not its hash
    lines = journal_lines.c
    connection.execute(update(journal_entries).where(journal_entries.c.id == 2).values(amount=9_999_999))
    connection.execute(
        update(journal_lines).where(lines.entry_id == 2, lines.account == "debit").values(debit=9_999_999)
    )
    connection.execute(
        update(journal_lines).where(lines.entry_id == 2, lines.account == "credit").values(credit=9_999_999)
    )
    return 2


def line_deleted(connection: Connection) -> int:
    connection.execute(delete(journal_lines).where(journal_lines.c.entry_id == 1, journal_lines.c.account == "credit"))
    return 1


def lines_deleted(connection: Connection) -> int:  # the FREEZE lines deleted
    connection.execute(delete(journal_lines).where(journal_lines.c.entry_id == 1))
    return 1


def entry_deleted(connection: Connection) -> int:
    connection.execute(delete(journal_lines).where(journal_lines.c.entry_id == 2))
    connection.execute(delete(journal_entries).where(journal_entries.c.id == 2))
    return 4  # org A's next entry no longer follows its predecessor


def entry_inserted(connection: Connection) -> int:
    forged = entry(connection, 4) | {
        "event_id": stored_event(connection),
        "prev_hash": entry(connection, 4)["entry_hash"],
    }
    forged["entry_hash"] = os.urandom(32)  # a made-up hash: one computed right is caught by the chain evidence
    new_id = int(connection.execute(insert(journal_entries).values(forged)).inserted_primary_key[0])
    connection.execute(
        insert(journal_lines),
        [{"entry_id": new_id, "account": "debit", "debit": 500, "credit": 0},
         {"entry_id": new_id, "account": "credit", "debit": 0, "credit": 500}],
    )  # fmt: skip
    return new_id


def evidence_edited(connection: Connection) -> int:
    event_id = entry(connection, 3)["event_id"]
    connection.execute(update(chain_log).where(chain_log.c.id == event_id).values(log_index=7))
    return 3


def event_swapped(connection: Connection) -> int:
    connection.execute(
        update(journal_entries).where(journal_entries.c.id == 3).values(event_id=stored_event(connection))
    )
    return 3


def order_changed(connection: Connection) -> int:  # org A's entries 2 and 4 trade places
    second, fourth = entry(connection, 2), entry(connection, 4)
    placeholder = {"event_id": stored_event(connection)}  # the posting key stays unique meanwhile
    entries = journal_entries.c
    connection.execute(update(journal_entries).where(entries.id == 2).values(fourth | placeholder))
    connection.execute(update(journal_entries).where(entries.id == 4).values(second))
    connection.execute(update(journal_entries).where(entries.id == 2).values(event_id=fourth["event_id"]))
    entry_id = journal_lines.c.entry_id
    connection.execute(update(journal_lines).where(entry_id.in_([2, 4])).values(entry_id=6 - entry_id))
    return 2


TAMPERING: dict[str, tuple[Callable[[Connection], int], str]] = {
    "amount edited": (amount_edited, "unbalanced: its lines debit 9999999 and credit 500 token units"),
    "amount edited everywhere": (amount_edited_everywhere, "its hash does not match"),
    "line deleted": (line_deleted, "unbalanced: its lines debit 500 and credit 0 token units"),
    "lines deleted": (lines_deleted, "its lines sum to 0 token units, the entry to 500"),
    "entry deleted": (entry_deleted, "it does not follow entry 1 in the hash chain"),
    "entry inserted": (entry_inserted, "its hash does not match"),
    "evidence edited": (evidence_edited, "its hash does not match"),
    "evidence swapped": (event_swapped, "its hash does not match"),
    "order changed": (order_changed, "it does not follow entry 1 in the hash chain"),
}


def test_untouched_books_verify(ledger_url: str) -> None:
    verification = require_intact(books(ledger_url))
    assert (verification.entries, sorted(verification.heads), verification.evidence_checked) == (4, [A, B], False)


@pytest.mark.parametrize("kind", TAMPERING)
def test_every_tampering_is_named(ledger_url: str, kind: str) -> None:
    database = books(ledger_url)
    tamper, problem = TAMPERING[kind]
    with database.begin() as connection:
        as_insider(connection)
        expected = tamper(connection)
    failure = verify_journal(database).failure
    assert failure is not None
    assert failure.entry_id == expected, failure
    assert problem in failure.problem
    with pytest.raises(LedgerTampered, match=f"journal entry {expected} "):
        require_intact(database)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_lines SET account = 'elsewhere'",
        "DELETE FROM journal_lines WHERE entry_id = 1",
        "UPDATE journal_entries SET memo = 'edited'",
        "DELETE FROM journal_entries WHERE id = 4",
    ],
)
def test_the_journal_refuses_update_and_delete(ledger_url: str, statement: str) -> None:
    database = books(ledger_url)
    with database.connect() as connection, pytest.raises(DBAPIError, match="is append-only: correct an entry"):
        connection.execute(text(statement))
    require_intact(database)


def test_postgres_service_role_may_only_append(ledger_url: str) -> None:
    if not ledger_url.startswith("postgresql"):
        pytest.skip("a database role: PostgreSQL only")
    database = books(ledger_url)
    for statement in ("UPDATE journal_lines SET debit = 1", "DELETE FROM journal_entries", "TRUNCATE journal_lines"):
        with database.connect() as connection:
            connection.execute(text("SET LOCAL ROLE collab_service"))
            with pytest.raises(DBAPIError, match="permission denied for table journal_"):
                connection.execute(text(statement))
    with database.begin() as connection:  # what the services do: read, append, move their cursors
        connection.execute(text("SET LOCAL ROLE collab_service"))
        posting = Posting(RECEIPT, stored_event(connection), "R-2", 1, bytes(32), 500, A, "debit", "credit", "")
        write_postings(connection, B, [posting])
        connection.execute(text("INSERT INTO consumer_cursors (consumer, event_id) VALUES ('accounting-2', 1)"))
        connection.execute(text("UPDATE consumer_cursors SET event_id = 2"))
    assert require_intact(database).entries == 5


def test_reconciliation_reads_lines_and_needs_a_verified_journal(ledger_url: str) -> None:
    database = books(ledger_url)
    assert reconcile([voucher("R-1", 1, 500)], database, decimals=2).clean
    with database.begin() as connection:
        as_insider(connection)
        amount_edited(connection)
    report = reconcile([voucher("R-1", 1, 500)], database, decimals=2)
    assert not report.clean
    (contract,) = [c for c in report.contracts if c.contract_no == "R-1"]
    assert contract.mismatches == (f"payment 1: org {A} posted payable 99,999.99, chain paid 5.00",)
    ((journal),) = report.journals
    assert journal.failure is not None
    assert journal.failure.entry_id == 2


def test_ledger_verify_command_names_the_entry(ledger_url: str) -> None:
    database = books(ledger_url)
    runner, env = CliRunner(), {"COLLAB_LEDGER_URL": ledger_url}
    result = runner.invoke(app, ["--json", "ledger", "verify", "--local"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["failure"] is None
    with database.begin() as connection:
        as_insider(connection)
        lines_deleted(connection)
    result = runner.invoke(app, ["--json", "ledger", "verify", "--local"], env=env)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["failure"]["entry_id"] == 1
    assert "LedgerTampered: journal entry 1 (org 1, FREEZE) fails verification" in result.stderr
    assert "Traceback" not in result.output


def test_chain_evidence_and_the_listener_start_check(world: World, flow: Flow, ledger_url: str) -> None:
    draft = sample_contract("V-1")
    released(flow, world, draft)
    database = open_database(ledger_url)
    spec = ListenerSpec(Role.accounting, world.a.org_id, config=ListenerConfig(confirmations=0, poll_interval=0.01))
    catch_up(build_listener(spec, world.deployment, database))
    evidence = ChainEvidence.of(world.deployment)
    assert require_intact(database, evidence).entries == 2  # FREEZE and PAYMENT, both found on chain
    vouchers = ChainReader(world.deployment).second_vouchers()
    assert reconcile(vouchers, database, None, evidence, decimals=2).journals[0].ok

    # an insider appends an entry chained exactly as the services would, for an event that never happened
    with database.begin() as connection:
        forged = Posting(PAYMENT, stored_event(connection), "V-1", 9, bytes(32), 1, world.b.org_id, "dr", "cr", "")
        write_postings(connection, world.a.org_id, [forged])
        forged_id = int(
            connection.execute(select(journal_entries.c.id).order_by(journal_entries.c.id.desc())).first()[0]
        )
    assert verify_journal(database).ok  # the local check cannot tell
    failure = verify_journal(database, evidence).failure
    assert failure is not None
    assert failure.entry_id == forged_id
    assert "its chain evidence is not on chain" in failure.problem

    with database.begin() as connection:
        as_insider(connection)
        amount_edited_first = connection.execute(select(journal_entries.c.id).order_by(journal_entries.c.id)).first()
        assert amount_edited_first is not None
        lines = journal_lines.c
        connection.execute(
            update(journal_lines).where(lines.entry_id == amount_edited_first[0], lines.debit > 0).values(debit=1)
        )
    with pytest.raises(LedgerTampered, match=f"journal entry {amount_edited_first[0]} "):
        build_listener(spec, world.deployment, database)
    catch_up(build_listener(spec, world.deployment, database, forensics=True))  # the override, for forensics
