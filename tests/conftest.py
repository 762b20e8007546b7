"""Shared fixtures: one anvil node and one deployment per test session, reverted to a snapshot after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collab_py.chain import connect
from collab_py.flow import ContractDraft, FlowDriver
from collab_py.node import AnvilNode
from collab_py.sandbox import A_FUNDS, Sandbox, bootstrap, sample_contract

__all__ = ["A_FUNDS", "World"]

World = Sandbox


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
def driver(world: World) -> FlowDriver:
    """A flow driver with fresh nonce state (snapshots rewind nonces)."""
    return FlowDriver(world.deployment)


@pytest.fixture
def draft() -> ContractDraft:
    """A three-stage e-contract document."""
    return sample_contract()
