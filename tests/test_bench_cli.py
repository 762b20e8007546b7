"""The benchmarks' command lines on a live chain (issue 10): ``--rpc-url`` or ``--clique``, never both; options that
only make sense on anvil refused with them; the funding of ``--rpc-url`` from the funder's key; and the history
benchmark run whole on anvil at a small size. A run on a real node is the e2e suite's (``make e2e``) and the figures
are in docs/benchmarks.md."""

from __future__ import annotations

import argparse
import importlib.util
import json
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

import pytest
from eth_account import Account
from sqlalchemy.engine import make_url

from collab_py.chain.transactor import connect
from collab_py.devnet.livechain import add_live_arguments, is_live, live_chain
from collab_py.devnet.load import released_payments
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import FUNDER_KEY_ENV
from collab_py.devnet.sandbox import bootstrap
from collab_py.ledger.database import open_database
from collab_py.ledger.integrity import verify_journal

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gas_runs_on_anvil_unless_a_live_chain_is_named() -> None:
    gas = bench("gas")
    assert not is_live(gas.parse_args(["--check", "bench/gas-baseline.json"]))
    live = gas.parse_args(["--rpc-url", "http://node:8545", "--check", "bench/gas-baseline.json"])
    assert is_live(live)
    assert live.rpc_url == "http://node:8545"
    assert is_live(gas.parse_args(["--clique"]))


@pytest.mark.parametrize("where", [["--rpc-url", "http://node:8545"], ["--clique"]])
def test_gas_refuses_to_write_the_anvil_baseline_from_a_live_chain(
    where: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench("gas").parse_args([*where, "--write", "bench/gas-baseline.json"])
    assert exit_.value.code == 2
    assert "--write records the anvil baseline" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--rpc-url", "http://node:8545", "--clique"], "not allowed with argument --rpc-url"),
        (["--clique", "--ws-url", "ws://node:8546"], "--ws-url goes with --rpc-url"),
        (["--payments", "0"], "must be positive"),
        (["--clique", "--sealers", "0"], "argument --sealers: invalid choice: 0"),
    ],
)
def test_history_refuses_arguments_that_do_not_go_together(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench("history").main(argv)
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err


def test_a_node_by_url_is_funded_by_the_funders_key(monkeypatch: pytest.MonkeyPatch) -> None:
    funder = Account.create()
    monkeypatch.setenv(FUNDER_KEY_ENV, funder.key.hex())
    monkeypatch.delenv("COLLAB_FUNDER_KEYSTORE", raising=False)
    parser = argparse.ArgumentParser()
    add_live_arguments(parser)
    args = parser.parse_args(["--rpc-url", "http://node:8545", "--ws-url", "ws://node:8546"])
    with live_chain(args) as chain:  # nothing started, nothing asked of the node yet
        assert (chain.rpc_url, chain.ws_url) == ("http://node:8545", "ws://node:8546")
        assert chain.funding.funder is not None
        assert chain.funding.funder.address == funder.address
        assert chain.account_window == 64  # a node we did not start: geth's default pools assumed


@pytest.mark.slow
def test_history_runs_its_services_as_processes_and_reports_each_ones_memory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole benchmark at a small size (about a minute): the young and the loaded payments go through the
    services as ``collab listen`` processes, no read of the whole history, each service's peak memory reported."""
    assert bench("history").main(["--payments", "20", "--timed", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["payments_history"] == 20
    assert summary["latency_fresh_ms"] > 0
    assert summary["latency_loaded_ms"] > 0
    assert summary["getlogs_full_range"] == 0
    assert 0 < summary["transaction_ms"]["young"] < summary["latency_fresh_ms"]
    assert 0 < summary["transaction_ms"]["loaded"] < summary["latency_loaded_ms"]
    assert summary["ratio_after_redemption"] > 0
    for phase in ("peak_rss_mb", "peak_rss_mb_young"):
        assert set(summary[phase]) == {"bank", "a", "b"}
        assert all(20 < mib < 1_000 for mib in summary[phase].values()), summary[phase]
    assert set(summary["largest_read_logs"]) == {"bank", "a", "b"}
    assert all(logs > 0 for logs in summary["largest_read_logs"].values())  # the catch-up read the history's logs


@pytest.mark.slow
def test_listener_benchmark_bounds_the_backfill_by_what_the_database_alone_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole listener benchmark at a small size: the backfill's rate beside the most its writes alone and the
    node alone allow."""
    assert bench("listener").main(["--vouchers", "20", "--live", "2"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["vouchers"] == 20
    assert 0 < summary["backfill_events_per_s"] < summary["writes_alone_bound_per_s"]
    assert summary["backfill_events_per_s"] < summary["node_alone_bound_per_s"]
    if "backfill_events_per_s_postgresql" in summary:  # a server is configured (always in CI)
        assert 0 < summary["backfill_events_per_s_postgresql"] < summary["writes_alone_bound_per_s_postgresql"]
    assert summary["sync_alone_bound_per_s"] > 0
    assert summary["live_latency_p99_ms"] > 0


@pytest.mark.slow
def test_the_write_floor_writes_every_row_the_backfill_wrote(ledger_url: str, tmp_path: Path) -> None:
    """What the floor times is the backfill's own writes: the copy holds the same store and the same journal, whose
    hash chains still verify."""
    listener = bench("listener")
    with AnvilNode() as node:
        sandbox = bootstrap(connect(node.rpc_url))
        released_payments(sandbox, 12)
        listener.backfill(sandbox, ledger_url, 12)
    with ExitStack() as stack:
        if ledger_url.startswith("sqlite"):
            copy = f"sqlite:///{tmp_path / 'copy.db'}"
        else:
            server = make_url(ledger_url).set(database="postgres").render_as_string(hide_password=False)
            copy = stack.enter_context(listener.postgres_database(server))
        assert listener.writes_alone(ledger_url, copy) > 0
        source, written = open_database(ledger_url), open_database(copy)
        for table in listener.WRITTEN:
            with source.connect() as one, written.connect() as other:
                rows = listener.rows_of(one, table)
                assert rows
                assert listener.rows_of(other, table) == rows
        assert verify_journal(written).ok
        source.dispose()
        written.dispose()
