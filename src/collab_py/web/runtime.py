"""The platform of one org at run time: its deployment, the department services signing with the keystores
unlocked at start, the database (ledger, event store, platform tables), the engine that fills the store and keeps
the books and the read model, and the idempotent runner of actions."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from prometheus_client import CollectorRegistry
from sqlalchemy import Connection, Engine, select
from web3 import Web3

from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.logs import EventCodec
from collab_py.chain.transactor import connect
from collab_py.domain.crypto import EncryptionKey
from collab_py.domain.documents import DocumentStore
from collab_py.domain.keys import Keyring
from collab_py.ledger.database import open_database
from collab_py.ledger.store import SharedBatch
from collab_py.listener.consumer import Consumer
from collab_py.listener.engine import Engine as ListenerEngine
from collab_py.listener.factory import store_reader
from collab_py.listener.handlers.accounting import AccountingHandler, ChartOfAccounts
from collab_py.listener.metrics import ListenerMetrics
from collab_py.listener.runtime import ListenerThread
from collab_py.listener.sync import ListenerConfig, Sync
from collab_py.services import AdminService, BusinessService, FinanceService, InstitutionService
from collab_py.services.base import Service
from collab_py.services.reader import ChainReader
from collab_py.web.accounts import Role
from collab_py.web.database import open_platform_database
from collab_py.web.projection import Projection
from collab_py.web.schema import orgs
from collab_py.web.signer import IdempotentRunner, JournaledTransactor

log = logging.getLogger("collab.web")


class PlatformError(Exception):
    """The platform cannot start as configured (the message says why; never a secret)."""


@dataclass
class PlatformConfig:
    """Where the org's platform finds its chain, deployment, keys and database.

    ``ledgers`` maps other orgs' ids to their ledger databases (read only), for the group finance office's
    reconciliation; ``confirmations`` and ``poll_interval`` are the engine's. The keys are not configuration: see
    :class:`DepartmentKeys`."""

    rpc_url: str
    manifest: Any
    database_url: str
    documents_dir: Path
    ledgers: dict[int, str] = field(default_factory=dict)
    confirmations: int = 0
    poll_interval: float = 0.2
    receipt_timeout: float = 120.0
    title: str = ""
    run_engine: bool = True


#: Keystore of each role that signs.
ROLE_KEYS = {Role.BUSINESS: "business", Role.FINANCE: "finance", Role.OPERATOR: "operator", Role.ADMIN: "governance"}


@dataclass(frozen=True)
class DepartmentKeys:
    """The unlocked accounts the platform signs with, one per role that signs, and the org's encryption key."""

    accounts: dict[Role, LocalAccount] = field(repr=False)
    encryption: EncryptionKey | None = field(default=None, repr=False)


def unlock_keys(folder: Path, passphrase: str) -> DepartmentKeys:
    """The department keystores of ``folder`` (business, finance, operator, governance, and the encryption key),
    unlocked once with ``passphrase``, which is not kept."""
    keyring = Keyring(folder)
    names = set(keyring.names())
    accounts = {role: keyring.account(name, passphrase) for role, name in ROLE_KEYS.items() if name in names}
    encryption = keyring.encryption_key("encryption", passphrase) if "encryption" in names else None
    if not accounts:
        raise PlatformError(f"no department keystore (business, finance, operator, governance) in {folder}")
    return DepartmentKeys(accounts, encryption)


class Platform:
    """One org's platform."""

    def __init__(self, config: PlatformConfig, keys: DepartmentKeys, *, database: Engine | None = None) -> None:
        self.config = config
        self.w3: Web3 = connect(config.rpc_url)
        self.deployment = Deployment.attach(self.w3, config.manifest)
        self.database = database or open_platform_database(config.database_url)
        self.documents = DocumentStore(config.documents_dir)
        self.runner = IdempotentRunner(self.database)
        self._locks = {role: threading.Lock() for role in ROLE_KEYS}
        self.codec: EventCodec | None = None
        self._engine: ListenerEngine | None = None
        self._thread: ListenerThread | None = None
        self.projection_metrics: ListenerMetrics | None = None
        self.chain_reader = ChainReader(self.deployment)
        self.reader = self.chain_reader
        self.services: dict[Role, Service] = {}
        self.org_id = self._org_of(keys.accounts)
        self.org_kind = self.chain_reader.org(self.org_id).kind
        self._build_engine()
        self._build_services(keys.accounts, keys.encryption)
        self.peer_ledgers = {org: open_database(url) for org, url in config.ledgers.items()}

    # -------------------------------------------------------------------------------------------------- start
    def _org_of(self, accounts: dict[Role, LocalAccount]) -> int:
        found = {
            self.chain_reader.member(account.address).org_id
            for role, account in accounts.items()
            if role is not Role.ADMIN
        } - {0}
        if len(found) != 1:
            raise PlatformError(
                "the department keystores must be bound to one org on chain "
                f"(found {sorted(found) or 'none'}): ask governance to bind them"
            )
        return found.pop()

    def _build_engine(self) -> None:
        config = ListenerConfig(confirmations=self.config.confirmations, poll_interval=self.config.poll_interval)
        registry = CollectorRegistry()
        sync = Sync(self.w3, self.deployment, self.database, config, ListenerMetrics("sync", registry))
        sync.check_deployment()  # before it serves: its reads come from the ledger's store
        self.codec = sync.codec
        self.reader = store_reader(self.deployment, self.database, sync.codec, config.chunk_blocks, current=True)
        shared = SharedBatch()
        consumers = []
        if self.org_kind is OrgKind.ENTERPRISE:
            books = AccountingHandler(self.org_id, ChartOfAccounts(), decimals=self.deployment.decimals)
            consumers.append(
                Consumer(self.database, f"accounting-{self.org_id}", books, sync.codec, sync.chain_id,
                         metrics=ListenerMetrics(f"accounting-{self.org_id}", registry), shared=shared)
            )  # fmt: skip
        self.projection_metrics = ListenerMetrics(f"web-{self.org_id}", registry)
        consumers.append(
            Consumer(self.database, f"web-{self.org_id}", Projection(sync.codec, self._block_time), sync.codec,
                     sync.chain_id, metrics=self.projection_metrics, shared=shared)
        )  # fmt: skip
        self._engine = ListenerEngine(sync, consumers, poll_interval=config.poll_interval)

    def _block_time(self, number: int) -> int:
        return int(self.w3.eth.get_block(number)["timestamp"])

    def _build_services(self, accounts: dict[Role, LocalAccount], encryption: EncryptionKey | None) -> None:
        def tx(role: Role) -> JournaledTransactor:
            return JournaledTransactor(self.w3, accounts[role], receipt_timeout=self.config.receipt_timeout)

        options: dict[str, Any] = {"org_id": self.org_id, "reader": self.reader}
        if Role.BUSINESS in accounts:
            self.services[Role.BUSINESS] = BusinessService(
                self.deployment, tx(Role.BUSINESS), documents=self.documents, **options
            )
        if Role.FINANCE in accounts and encryption is not None:
            self.services[Role.FINANCE] = FinanceService(
                self.deployment, tx(Role.FINANCE), encryption_key=encryption, **options
            )
        if Role.OPERATOR in accounts and encryption is not None:
            self.services[Role.OPERATOR] = InstitutionService(
                self.deployment, tx(Role.OPERATOR), encryption_key=encryption, **options
            )
        if Role.ADMIN in accounts:
            self.services[Role.ADMIN] = AdminService(self.deployment, tx(Role.ADMIN), org_id=0, reader=self.reader)
        for role, service in self.services.items():
            if role is not Role.ADMIN and self.chain_reader.member(service.address).department != role.department:
                raise PlatformError(f"the {ROLE_KEYS[role]} keystore is not bound to org {self.org_id}'s {role.value}")

    def start(self) -> None:
        """Starts the engine (sync, books, read model) in a thread."""
        if self._engine is not None and self.config.run_engine and self._thread is None:
            self._thread = ListenerThread(self._engine).start()

    def stop(self) -> None:
        """Stops the engine."""
        if self._thread is not None:
            thread, self._thread = self._thread, None
            try:
                thread.stop()
            except Exception as error:  # reported, not raised: stopping must go on
                log.warning("engine stopped with %s", type(error).__name__)

    def step(self) -> None:
        """One round of the engine in the caller's thread (tests without the thread)."""
        assert self._engine is not None
        while not self._engine.step():
            pass

    def caught_up(self, block: int, timeout: float = 30.0) -> bool:
        """Waits until the read model has taken in ``block`` (read-your-writes after an action); False, with a
        warning, when the engine stopped or ``timeout`` passed (the answer stands, the lists catch up later)."""
        if self._thread is None:
            return self._engine is not None and not self.config.run_engine
        deadline = time.monotonic() + timeout
        while self.projection_metrics is not None and self.projection_metrics.checkpoint.value < block:
            if self._thread.error is not None or time.monotonic() > deadline:
                cause = type(self._thread.error).__name__ if self._thread.error else f"{timeout:g} s passed"
                log.warning("the read model has not taken in block %d (%s)", block, cause)
                return False
            time.sleep(0.02)
        return True

    # -------------------------------------------------------------------------------------------------- reads
    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads."""
        with self.database.connect() as connection:
            yield connection

    def decimals(self, asset: str) -> int:
        """Decimals of an ERC-20, read once."""
        return self.deployment.decimals(asset)

    def org_name(self, org_id: int) -> str:
        """An org's name from the read model (its id when unknown)."""
        with self.read() as connection:
            name = connection.execute(select(orgs.c.name).where(orgs.c.org_id == org_id)).scalar()
        return str(name) if name else f"org {org_id}"

    @property
    def institution(self) -> bool:
        """Whether this org is the payment institution."""
        return self.org_kind is OrgKind.PAYMENT_INSTITUTION

    def service(self, role: Role) -> Service:
        """The service that signs for ``role`` (KeyError when this platform holds no key for it)."""
        return self.services[role]

    @contextmanager
    def signing(self, role: Role) -> Iterator[None]:
        """One action at a time per department key (its nonces and its journal in order)."""
        with self._locks[role]:
            yield

    def ledgers(self) -> dict[int, Engine]:
        """The books this platform can read: its own, and the other orgs' it was given."""
        return {self.org_id: self.database, **self.peer_ledgers}

    def department_of(self, role: Role) -> Department | None:
        """The on-chain department of a role."""
        return role.department


def wait(condition: Callable[[], bool], timeout: float) -> bool:
    """Polls ``condition`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
