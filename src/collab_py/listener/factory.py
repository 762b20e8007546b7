"""Building a listener from what it is for: its role (accounting, invoicing, the institution's bot), its org and the
role's options. ``collab listen`` and the demo both build theirs here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Engine

from collab_py.chain.deploy import Deployment
from collab_py.listener.engine import Handler, Listener, ListenerConfig
from collab_py.listener.handlers.accounting import AccountingHandler, ChartOfAccounts
from collab_py.listener.handlers.institution import InstitutionBot
from collab_py.listener.handlers.invoicing import DEFAULT_TAX_RATE, InvoicingHandler
from collab_py.listener.heads import HeadWatcher
from collab_py.services import FinanceService, InstitutionService


class Role(StrEnum):
    """What a listener does."""

    accounting = "accounting"
    institution = "institution"
    invoicing = "invoicing"


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
        """The listener's name in the ledger database (its checkpoint and events)."""
        return f"{self.role.value}-{self.org_id}"


class MissingService(ValueError):
    """The role needs a service that was not given (the org's finance for invoicing, its operator for the bot)."""


def build_listener(
    spec: ListenerSpec,
    deployment: Deployment,
    database: Engine | Callable[[], Engine],
    *,
    finance: Callable[[], FinanceService] | None = None,
    operator: Callable[[], InstitutionService] | None = None,
    heads: HeadWatcher | None = None,
) -> Listener:
    """The listener of ``spec`` on ``deployment``, writing to ``database``.

    Only its role's service is made: ``finance`` for invoicing, ``operator`` for the institution's bot. A database
    given as a function is opened last, once the handler exists, so that nothing is created for a listener whose
    keys cannot be opened.
    """
    handler: Handler
    if spec.role is Role.accounting:
        handler = AccountingHandler(spec.org_id, spec.chart)
    elif spec.role is Role.invoicing:
        if finance is None:
            raise MissingService("an invoicing listener needs the org's finance service")
        handler = InvoicingHandler(finance(), spec.tax_rate)
    else:
        if operator is None:
            raise MissingService("the institution's bot needs its operator service")
        handler = InstitutionBot(operator())
    engine = database if isinstance(database, Engine) else database()
    return Listener(deployment.w3, deployment, engine, spec.consumer, handler, spec.config, heads=heads)
