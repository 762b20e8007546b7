"""Building listeners from what they are for: their role (accounting, invoicing, the institution's bot), their org
and the role's options. ``collab listen`` and the demo both build theirs here.

An engine is one sync of a ledger database and the consumers of its store: an org's accounting and invoicing run in
one (on SQLite, the database's one writer), accounting first so that invoicing finds the receipts posted. The
services the handlers use read their events from that store (a reader over the store, with the chain after the
sync's block for what it has not stored yet), not from the deployment block.

A listener refuses to start on a ledger whose journal fails verification (:class:`LedgerTampered`), unless started
for forensics. The start check is local: each org's hash chain, balances and lines (one read of the journal, no
node call); ``collab ledger verify`` also checks the chain evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine as Database

from collab_py.chain.deploy import Deployment
from collab_py.chain.logs import EventCodec
from collab_py.ledger.integrity import require_intact
from collab_py.ledger.store import SharedBatch, StoreLogSource
from collab_py.listener.consumer import Consumer, Handler
from collab_py.listener.engine import Engine, Listener, ListenerConfig
from collab_py.listener.handlers.accounting import AccountingHandler, ChartOfAccounts
from collab_py.listener.handlers.institution import InstitutionBot
from collab_py.listener.handlers.invoicing import DEFAULT_TAX_RATE, InvoicingHandler
from collab_py.listener.heads import HeadWatcher
from collab_py.listener.metrics import ListenerMetrics
from collab_py.listener.sync import Sync
from collab_py.services import FinanceService, InstitutionService
from collab_py.services.reader import ChainReader, chain_source


class Role(StrEnum):
    """What a listener does."""

    accounting = "accounting"
    institution = "institution"
    invoicing = "invoicing"


#: The order in which an engine steps its consumers: the books first, then what reads them.
ROLE_ORDER = (Role.accounting, Role.invoicing, Role.institution)


@dataclass(frozen=True)
class ListenerSpec:
    """A listener's role, the org it works for, and the role's options: the chart of accounts (accounting), the tax
    rate included in invoiced amounts (invoicing), and how it reads the chain."""

    role: Role
    org_id: int
    chart: ChartOfAccounts = field(default_factory=ChartOfAccounts)
    tax_rate: Decimal = DEFAULT_TAX_RATE
    config: ListenerConfig = field(default_factory=ListenerConfig)

    @property
    def consumer(self) -> str:
        """The listener's name in the ledger database (its cursor)."""
        return f"{self.role.value}-{self.org_id}"


class MissingService(ValueError):
    """The role needs a service that was not given (the org's finance for invoicing, its operator for the bot)."""


def store_reader(
    deployment: Deployment, database: Database, codec: EventCodec, max_range: int = 5_000, *, current: bool = False
) -> ChainReader:
    """A chain reader whose events come from ``database``'s store, and from the chain (capped reads) after the
    sync's block for what the store does not hold yet (``current``: see :class:`StoreLogSource`)."""
    tail = chain_source(deployment, max_range)
    return ChainReader(deployment, StoreLogSource(database, deployment.manifest.chain_id, codec, tail, current=current))


def _handler(
    spec: ListenerSpec,
    deployment: Deployment,
    finance: Callable[[], FinanceService] | None,
    operator: Callable[[], InstitutionService] | None,
) -> Handler:
    if spec.role is Role.accounting:
        return AccountingHandler(spec.org_id, spec.chart, decimals=deployment.decimals)
    if spec.role is Role.invoicing:
        if finance is None:
            raise MissingService("an invoicing listener needs the org's finance service")
        return InvoicingHandler(finance(), spec.tax_rate)
    if operator is None:
        raise MissingService("the institution's bot needs its operator service")
    return InstitutionBot(operator())


def _connect(
    handler: Handler, deployment: Deployment, database: Database, codec: EventCodec, config: ListenerConfig
) -> None:
    """Points the handler's reads at the store of ``database``."""
    if isinstance(handler, InstitutionBot):
        handler.reader = store_reader(deployment, database, codec, config.chunk_blocks)


def _open(database: Database | Callable[[], Database], forensics: bool) -> Database:
    """The listeners' database, its journal verified (:class:`LedgerTampered` if it fails) unless ``forensics``."""
    opened = database if isinstance(database, Database) else database()
    if not forensics:
        require_intact(opened)
    return opened


def build_engine(
    specs: Sequence[ListenerSpec],
    deployment: Deployment,
    database: Database | Callable[[], Database],
    *,
    finance: Callable[[], FinanceService] | None = None,
    operator: Callable[[], InstitutionService] | None = None,
    heads: HeadWatcher | None = None,
    config: ListenerConfig | None = None,
    forensics: bool = False,
) -> Engine:
    """One engine for the listeners of ``specs`` (of one ledger database): one sync, a consumer per spec, stepped in
    :data:`ROLE_ORDER`. Only the roles' services are made; a database given as a function is opened last, once the
    handlers exist, so that nothing is created for listeners whose keys cannot be opened. ``config`` (default: the
    first spec's) is how the sync reads the chain; ``forensics`` starts it on a journal that fails verification."""
    if not specs:
        raise ValueError("an engine needs at least one listener")
    ordered = sorted(specs, key=lambda spec: ROLE_ORDER.index(spec.role))
    handlers = [_handler(spec, deployment, finance, operator) for spec in ordered]
    opened = _open(database, forensics)
    config = config or ordered[0].config
    registry = CollectorRegistry()
    sync = Sync(deployment.w3, deployment, opened, config, ListenerMetrics("sync", registry))
    consumers = []
    shared = SharedBatch()
    for spec, handler in zip(ordered, handlers, strict=True):
        _connect(handler, deployment, opened, sync.codec, config)
        consumers.append(
            Consumer(
                opened, spec.consumer, handler, sync.codec, sync.chain_id,
                batch=config.batch_events, metrics=ListenerMetrics(spec.consumer, registry), shared=shared,
            )
        )  # fmt: skip
    return Engine(sync, consumers, heads=heads, poll_interval=config.poll_interval)


def build_listener(
    spec: ListenerSpec,
    deployment: Deployment,
    database: Database | Callable[[], Database],
    *,
    finance: Callable[[], FinanceService] | None = None,
    operator: Callable[[], InstitutionService] | None = None,
    heads: HeadWatcher | None = None,
    forensics: bool = False,
) -> Listener:
    """The listener of ``spec`` alone on ``deployment``, writing to ``database`` (an engine of one consumer);
    ``forensics`` starts it on a journal that fails verification."""
    handler = _handler(spec, deployment, finance, operator)
    opened = _open(database, forensics)
    listener = Listener(deployment.w3, deployment, opened, spec.consumer, handler, spec.config, heads=heads)
    _connect(handler, deployment, opened, listener.codec, spec.config)
    return listener
