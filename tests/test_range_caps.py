"""Issue 9: behind a node that refuses ``eth_getLogs`` over 1,000 blocks (as Besu and hosted providers cap them),
with more than 1,000 blocks of history, the listeners — accounting, invoicing, the institution's bot — and every
command that reads the chain work: each read of logs goes through the one log reader, which splits what the node
refuses and keeps the span it accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from collab_py.chain.deploy import Deployment
from collab_py.chain.transactor import connect
from collab_py.cli import app
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.node import rpc as node_rpc
from collab_py.devnet.proxy import RpcProxy
from collab_py.devnet.sandbox import bootstrap
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.ledger.database import open_database
from collab_py.ledger.schema import PAYMENT, RECEIPT, institution_actions, invoices, journal_entries
from collab_py.listener.engine import Engine as ListenerEngine
from collab_py.listener.factory import ListenerSpec, Role, build_engine
from collab_py.listener.handlers.institution import RELEASED
from collab_py.listener.handlers.invoicing import ISSUED, VERIFIED
from collab_py.listener.sync import ListenerConfig
from support import BANK_ACCOUNT, World, issued
from support.cli import PASSPHRASE, keystores

#: The node's cap on a log query, and the history behind it.
CAP, HISTORY = 1_000, 2_500
CONFIG = ListenerConfig(confirmations=0, poll_interval=0.01)


@dataclass
class Capped:
    """A chain with more than :data:`HISTORY` blocks between its first payment and the next two, behind a proxy
    that caps log queries at :data:`CAP` blocks."""

    node: AnvilNode
    proxy: RpcProxy
    world: World  # on the node itself
    deployment: Deployment  # through the proxy


def single_stage(number: str) -> ContractDraft:
    return ContractDraft(number, f"contract {number}", (StageDraft(f"{number} delivery", 2_000_00),))


@pytest.fixture(scope="module")
def capped() -> Iterator[Capped]:
    with AnvilNode(extra_args=["--prune-history", "256"]) as node:
        world = bootstrap(connect(node.rpc_url))
        flow = Flow(world.deployment)
        flow.run(world.a, world.b, world.bank, single_stage("RC-1"), BANK_ACCOUNT)  # released, not yet invoiced
        node_rpc(node.rpc_url, "anvil_mine", [hex(HISTORY)], timeout=600)
        for number in ("RC-2", "RC-3"):  # redeemed: the institution is asked to pay
            seq, _ = issued(flow, world, single_stage(number))
            flow.finance(world.b).redeem(number, seq)
        with RpcProxy(node.rpc_url) as proxy:
            proxy.cap_log_range(CAP)
            deployment = Deployment.attach(connect(proxy.url), world.deployment.manifest)
            yield Capped(node, proxy, world, deployment)


@pytest.fixture
def chain(capped: Capped) -> Iterator[Capped]:
    """The capped chain, what a test does to it rolled back afterwards."""
    snapshot = capped.node.snapshot()
    capped.proxy.reset()
    yield capped
    capped.node.revert(snapshot)


def run(engines: list[ListenerEngine]) -> None:
    """Steps the engines in turn until a round finds them all caught up."""
    for _ in range(500):
        if all([engine.step() for engine in engines]):
            return
    raise AssertionError("the listeners did not catch up")


def test_accounting_invoicing_and_the_bot_work_behind_a_capped_node(chain: Capped, ledger_url: str) -> None:
    world, deployment = chain.world, chain.deployment
    flow = Flow(deployment)  # every service reads through the capped node
    database = open_database(ledger_url)  # one database for the three orgs' engines: three syncs take turns

    def engine(party_roles: tuple[Role, ...], org: int) -> ListenerEngine:
        party = {world.a.org_id: world.a, world.b.org_id: world.b, world.bank.org_id: world.bank}[org]
        return build_engine(
            [ListenerSpec(role, org, config=CONFIG) for role in party_roles],
            deployment,
            database,
            finance=lambda: flow.finance(party),
            operator=lambda: flow.institution(party),
        )

    books = (Role.accounting, Role.invoicing)
    engines = [
        engine((Role.institution,), world.bank.org_id),
        engine(books, world.a.org_id),
        engine(books, world.b.org_id),
    ]
    run(engines[:1])  # the bot's sync reads the whole history first: its reads grow past the cap and are split
    run(engines)

    assert chain.proxy.refused["eth_getLogs"] > 0  # the node refused the reads over its cap: they were split
    with database.connect() as connection:
        decided = connection.execute(select(institution_actions.c.contract_no, institution_actions.c.action)).all()
        entries = connection.execute(
            select(journal_entries.c.org_id, journal_entries.c.kind, journal_entries.c.contract_no)
        ).all()
        recorded = connection.execute(select(invoices.c.org_id, invoices.c.status, invoices.c.contract_no)).all()
    assert sorted(decided) == [("RC-1", RELEASED), ("RC-2", RELEASED), ("RC-3", RELEASED)]  # RC-1: already, by hand
    numbers = ("RC-1", "RC-2", "RC-3")
    assert sorted((number, kind) for org, kind, number in entries if kind in (PAYMENT, RECEIPT)) == sorted(
        [(number, PAYMENT) for number in numbers] + [(number, RECEIPT) for number in numbers]
    )
    assert sorted(recorded) == sorted(
        [(world.b.org_id, ISSUED, number) for number in numbers]
        + [(world.a.org_id, VERIFIED, number) for number in numbers]
    )


@pytest.mark.usefixtures("cheap_keystores")  # the CLI loads keys at every command
def test_every_command_that_reads_the_chain_works_behind_a_capped_node(chain: Capped, tmp_path: Path) -> None:
    world = chain.world
    manifest = world.deployment.manifest.save(tmp_path / "manifest.json")
    folders = {
        "a": keystores(tmp_path / "a" / "keys", world.a),
        "b": keystores(tmp_path / "b" / "keys", world.b),
        "bank": keystores(tmp_path / "bank" / "keys", world.bank),
    }
    runner = CliRunner()

    def collab(who: str, *args: str, expect: int = 0) -> object:
        env = {
            "COLLAB_RPC_URL": chain.proxy.url,
            "COLLAB_MANIFEST": str(manifest),
            "COLLAB_KEYSTORE_DIR": str(folders[who]),
            "COLLAB_PASSPHRASE": PASSPHRASE,
            "COLLAB_LEDGER_URL": f"sqlite:///{tmp_path / who / 'ledger.db'}",
            "COLLAB_CONFIRMATIONS": "0",
        }
        result = runner.invoke(app, ["--json", *args], env=env)
        assert result.exit_code == expect, result.stdout + result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    def shown(record: object, key: str) -> object:
        assert isinstance(record, dict)
        return record[key]

    assert shown(collab("a", "contract", "show", "RC-1"), "status") == "SETTLED"
    assert shown(collab("a", "payment", "show", "RC-1", "1"), "status") == "RELEASED"
    assert shown(collab("bank", "payment", "release", "RC-3", "1"), "contract_no") == "RC-3"  # by hand
    assert (
        shown(
            collab("bank", "listen", "--org", str(world.bank.org_id), "--role", "institution", "--once"), "quarantined"
        )
        == 0
    )
    assert shown(collab("a", "payment", "show", "RC-2", "1"), "status") == "RELEASED"  # by the bot
    vouchers = collab("a", "vouchers")
    assert isinstance(vouchers, list)
    assert sorted(voucher["contract_no"] for voucher in vouchers) == ["RC-1", "RC-2", "RC-3"]
    for who, org in (("a", world.a.org_id), ("b", world.b.org_id), ("a", world.a.org_id)):  # A verifies B's invoices
        collab(who, "listen", "--org", str(org), "--role", "accounting", "--role", "invoicing", "--once")
    a_books, b_books = f"sqlite:///{tmp_path / 'a' / 'ledger.db'}", f"sqlite:///{tmp_path / 'b' / 'ledger.db'}"
    assert shown(collab("a", "reconcile", "--ledger-url", a_books, "--ledger-url", b_books), "clean") is True
    journal = collab("b", "ledger", "--format", "json")
    assert isinstance(journal, list)
    assert sorted({line["contract_no"] for line in journal if line["kind"] == RECEIPT}) == ["RC-1", "RC-2", "RC-3"]
    assert collab("a", "quarantine", "list") == []
    assert chain.proxy.refused["eth_getLogs"] > 0
    database: Engine = open_database(a_books)
    with database.connect() as connection:
        verified = connection.execute(select(invoices.c.contract_no).where(invoices.c.status == VERIFIED)).scalars()
        assert sorted(verified) == ["RC-1", "RC-2", "RC-3"]


def test_the_proxy_refuses_what_a_capped_provider_refuses(capped: Capped) -> None:
    w3 = connect(capped.proxy.url)
    head = w3.eth.block_number
    reply = w3.provider.make_request("eth_getLogs", [{"fromBlock": hex(head - CAP), "toBlock": hex(head)}])  # type: ignore[arg-type]
    assert reply["error"]["message"] == f"query exceeds max block range {CAP}"
    reply = w3.provider.make_request("eth_getLogs", [{"fromBlock": hex(head - CAP + 1), "toBlock": "latest"}])  # type: ignore[arg-type]
    assert "result" in reply
