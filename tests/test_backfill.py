"""S8.2 at scale: 10,000 second vouchers backfilled into both companies' ledgers, each posted exactly once on each
side and reconciled with the chain (SQLite and PostgreSQL); 50,000 with ``COLLAB_PROFILE=long`` (``make long``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from collab_py.chain.transactor import connect
from collab_py.devnet.load import released_payments
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.sandbox import Sandbox, bootstrap
from collab_py.ledger.database import open_database
from collab_py.ledger.reconcile import reconcile
from collab_py.ledger.schema import PAYMENT, RECEIPT, journal_entries
from collab_py.listener.engine import Listener, ListenerConfig
from collab_py.listener.handlers.accounting import AccountingHandler
from collab_py.services.reader import ChainReader

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

#: ``COLLAB_BACKFILL_VOUCHERS`` overrides the profile's count (e.g. 500 for a quick local check).
VOUCHERS = int(
    os.environ.get("COLLAB_BACKFILL_VOUCHERS", 50_000 if os.environ.get("COLLAB_PROFILE") == "long" else 10_000)
)


@pytest.fixture(scope="module")
def loaded() -> Iterator[Sandbox]:
    """A chain of its own holding the released payments."""
    with AnvilNode() as node:
        sandbox = bootstrap(connect(node.rpc_url))
        released_payments(sandbox, VOUCHERS, per_contract=250)
        yield sandbox


def test_second_vouchers_backfilled_once_on_both_sides(loaded: Sandbox, ledger_url: str) -> None:
    database = open_database(ledger_url)
    config = ListenerConfig(confirmations=0, chunk_blocks=2_000)
    for org in (loaded.a.org_id, loaded.b.org_id):
        listener = Listener(
            loaded.w3,
            loaded.deployment,
            database,
            f"accounting-{org}",
            AccountingHandler(org, decimals=loaded.deployment.decimals),
            config,
        )
        while not listener.step():
            pass
    entries = journal_entries.c
    with database.connect() as connection:
        per_voucher = connection.execute(
            select(entries.org_id, entries.kind, func.count(), func.count(func.distinct(entries.voucher_id)))
            .where(entries.kind.in_([PAYMENT, RECEIPT]))
            .group_by(entries.org_id, entries.kind)
            .order_by(entries.org_id)
        ).all()
    assert [tuple(row) for row in per_voucher] == [
        (loaded.a.org_id, PAYMENT, VOUCHERS, VOUCHERS),
        (loaded.b.org_id, RECEIPT, VOUCHERS, VOUCHERS),
    ]
    vouchers = ChainReader(loaded.deployment).second_vouchers()
    assert len(vouchers) == VOUCHERS
    report = reconcile(vouchers, database, decimals=loaded.deployment.decimals())
    assert report.clean
    assert sum(contract.on_chain for contract in report.contracts) == VOUCHERS
