"""Running a listener in the test's own thread: the accounting listeners and the institution's bot, and what they
wrote."""

from __future__ import annotations

from sqlalchemy import Engine, select

from collab_py.devnet.flow import Flow
from collab_py.ledger.schema import institution_actions, journal_entries
from collab_py.listener.engine import Engine as ListenerEngine
from collab_py.listener.engine import Listener, ListenerConfig
from collab_py.listener.handlers.accounting import AccountingHandler
from collab_py.listener.handlers.institution import InstitutionBot
from support.world import World


def catch_up(listener: ListenerEngine) -> None:
    """Steps ``listener`` (an engine: its sync and consumers) until it has processed the chain's head."""
    for _ in range(1_000):
        if listener.step():
            return
    raise AssertionError("listener did not catch up")


def bookkeeper(world: World, org_id: int) -> AccountingHandler:
    """Org ``org_id``'s accounting handler, its log lines in currency units of the world's asset."""
    return AccountingHandler(org_id, decimals=world.deployment.decimals)


def accounting(world: World, database: Engine, org_id: int, **config: int) -> Listener:
    """Org ``org_id``'s accounting listener, acting on every block at once."""
    options = ListenerConfig(confirmations=0, poll_interval=0.01, **config)  # type: ignore[arg-type]
    return Listener(world.w3, world.deployment, database, f"accounting-{org_id}", bookkeeper(world, org_id), options)


def entries(database: Engine, org_id: int) -> list[tuple[str, str, int]]:
    """Org ``org_id``'s journal entries: (kind, contract number, amount), in the order posted."""
    with database.connect() as connection:
        rows = connection.execute(
            select(journal_entries.c.kind, journal_entries.c.contract_no, journal_entries.c.amount)
            .where(journal_entries.c.org_id == org_id)
            .order_by(journal_entries.c.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def institution_bot(world: World, flow: Flow, database: Engine) -> Listener:
    """The institution's bot, releasing through the bank's operator service of ``flow``."""
    service = flow.institution(world.bank)
    config = ListenerConfig(confirmations=0, poll_interval=0.01)
    return Listener(world.w3, world.deployment, database, "institution", InstitutionBot(service), config)


def bot_actions(database: Engine) -> list[tuple[str, int, str, str]]:
    """The bot's decisions: (contract number, seq, action, reason), in the order taken."""
    with database.connect() as connection:
        rows = connection.execute(
            select(
                institution_actions.c.contract_no,
                institution_actions.c.seq,
                institution_actions.c.action,
                institution_actions.c.reason,
            ).order_by(institution_actions.c.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]
