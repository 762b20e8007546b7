"""Shared fixtures: one anvil node and one deployment per test session, reverted to a snapshot after each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from collab_py.chain.transactor import connect
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.sandbox import bootstrap, sample_contract
from collab_py.domain import keys
from collab_py.domain.drafts import ContractDraft
from support import CHEAP_KDF, World
from support.credentials import ODD_PASSWORD, postgres_url


@pytest.fixture(scope="session")
def node() -> Iterator[AnvilNode]:
    with AnvilNode() as anvil:
        yield anvil


@pytest.fixture(scope="session")
def session_world(node: AnvilNode) -> World:
    return bootstrap(connect(node.rpc_url))


@pytest.fixture
def world(node: AnvilNode, session_world: World) -> Iterator[World]:
    """The session's world, with every change a test makes rolled back afterwards."""
    snapshot = node.snapshot()
    yield session_world
    node.revert(snapshot)
    session_world.admin.resync()


@pytest.fixture
def cheap_keystores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keystores of a few pbkdf2 rounds load (see ``support.keystores``)."""
    monkeypatch.setattr(keys, "KDF_FLOOR", CHEAP_KDF)


@pytest.fixture
def flow(world: World) -> Flow:
    """The parties' role services, with fresh nonce state (snapshots rewind nonces)."""
    return Flow(world.deployment)


@pytest.fixture
def draft() -> ContractDraft:
    """A three-stage e-contract document."""
    return sample_contract()


#: Admin URL of a PostgreSQL server for the ledger tests (``.ci/run`` starts one on loopback and sets it).
POSTGRES_URL = os.environ.get("COLLAB_TEST_POSTGRES_URL")


def postgres_server() -> str:
    """The admin URL of the tests' PostgreSQL server. Without one the test is skipped; in CI (``CI=true``) it
    fails instead: the production target is always tested there."""
    if POSTGRES_URL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("COLLAB_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL and sets it")
        pytest.skip("no PostgreSQL server (set COLLAB_TEST_POSTGRES_URL)")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty ledger database: an SQLite file, and a new PostgreSQL database when a server is configured
    (see :func:`postgres_server`)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    server = postgres_server()
    name = f"collab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def odd_password_ledger() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database owned by a role whose password is :data:`ODD_PASSWORD` (see
    :func:`postgres_server`)."""
    server = make_url(postgres_server())
    name = f"collab_odd_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{ODD_PASSWORD}'"))
        connection.execute(text(f'CREATE DATABASE "{name}" OWNER "{name}"'))
    yield postgres_url(name, ODD_PASSWORD, f"{server.host}:{server.port or 5432}", name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
    admin.dispose()
