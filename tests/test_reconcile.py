"""S8.4: reconciliation names every difference between the two companies' books and the chain's second vouchers,
including postings for payments the chain never paid."""

from __future__ import annotations

import os
from decimal import Decimal

from sqlalchemy import Engine, insert

from collab_py.domain.models import Evidence, SecondVoucherRecord
from collab_py.ledger.database import open_database
from collab_py.ledger.journal import Posting, reverse_postings, write_postings
from collab_py.ledger.reconcile import reconcile
from collab_py.ledger.schema import PAYMENT, RECEIPT, chain_log

A, B, C = 1, 2, 3


def voucher(contract_no: str, seq: int, amount: int) -> SecondVoucherRecord:
    evidence = Evidence(tx_hash=bytes(32), block_number=1, block_hash=bytes(32), log_index=0)
    return SecondVoucherRecord(
        voucher_id=bytes([seq]) * 32, contract_no=contract_no, seq=seq, payer_org=A, payee_org=B, beneficiary_org=B,
        beneficiary="0x" + "bb" * 20, asset="0x" + "aa" * 20, amount=amount, paid_at=0, released_by="0x" + "cc" * 20,
        evidence=evidence,
    )  # fmt: skip


def post(database: Engine, org: int, kind: str, contract_no: str, seq: int, amount: int, counterparty: int) -> int:
    """One journal entry, and the chain event it comes from; the event's id."""
    event = {
        "chain_id": 1, "tx_hash": os.urandom(32), "log_index": 0, "block_number": 1,
        "block_hash": os.urandom(32), "event": "SecondVoucher", "args": {}, "orphaned": False,
    }  # fmt: skip
    with database.begin() as connection:
        event_id = int(connection.execute(insert(chain_log).values(event)).inserted_primary_key[0])
        posting = Posting(kind, event_id, contract_no, seq, bytes([seq]) * 32, amount, counterparty, "dr", "cr", "")
        write_postings(connection, org, [posting])
    return event_id


def test_books_that_match_the_chain_reconcile_clean(ledger_url: str) -> None:
    database = open_database(ledger_url)
    post(database, A, PAYMENT, "R-1", 1, 500, B)
    post(database, B, RECEIPT, "R-1", 1, 500, A)
    report = reconcile([voucher("R-1", 1, 500)], database, decimals=2)
    assert report.clean
    ((contract,),) = [report.contracts]
    assert (contract.on_chain, contract.payable_posted, contract.receivable_posted) == (500, 500, 500)
    shown = contract.view(decimals=2)
    assert (shown["on_chain"], shown["payable_posted"], shown["receivable_posted"]) == (Decimal("5.00"),) * 3


def test_every_difference_is_named(ledger_url: str) -> None:
    database = open_database(ledger_url)
    post(database, A, PAYMENT, "R-1", 1, 400, B)  # short by 100
    # B has not posted R-1 at all
    post(database, A, PAYMENT, "R-2", 1, 200, B)
    post(database, B, RECEIPT, "R-2", 1, 200, C)  # against the wrong party
    post(database, A, PAYMENT, "R-2", 2, 300, B)  # a payment the chain never made, in a contract it knows
    post(database, A, PAYMENT, "R-9", 1, 900, B)  # a contract with no second voucher at all
    reversed_event = post(database, B, RECEIPT, "R-8", 1, 800, A)  # posted, then reversed: nets to nothing
    with database.begin() as connection:
        reverse_postings(connection, B, [reversed_event])

    report = reconcile([voucher("R-1", 1, 500), voucher("R-2", 1, 200)], database, decimals=2)
    assert not report.clean
    assert report.journals[0].ok  # the books are as posted: only the figures differ
    named = {contract.contract_no: contract.mismatches for contract in report.contracts}
    assert named == {
        "R-1": (
            f"payment 1: org {A} posted payable 4.00, chain paid 5.00",
            f"payment 1: org {B} posted receivable 0.00, chain paid 5.00",
        ),
        "R-2": (
            f"payment 2: org {A} posted payable 3.00 with no second voucher",
            f"payment 1: org {B} posted receivable 0.00, chain paid 2.00",
            f"payment 1: org {B} posted receivable 2.00 against org {C}, not its party",
        ),
        "R-9": (f"payment 1: org {A} posted payable 9.00 with no second voucher",),
    }
    (orphan,) = [contract for contract in report.contracts if contract.contract_no == "R-9"]
    assert (orphan.payer_org, orphan.payee_org, orphan.on_chain, orphan.payable_posted) == (A, B, 0, 900)
