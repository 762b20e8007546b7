"""``collab listen`` as a process of its own (``devnet.processes``), as the history benchmark and the end-to-end tests
run the services: its progress read from ``/metrics``, its peak memory, and a process that ends reported with its
output rather than waited for."""

from __future__ import annotations

from pathlib import Path

import pytest

from collab_py.devnet.node import AnvilNode
from collab_py.devnet.processes import ListenerProcess
from support import World


def _settings(node: AnvilNode, world: World, folder: Path, manifest: Path) -> dict[str, str]:
    return {
        "COLLAB_RPC_URL": node.rpc_url,
        "COLLAB_MANIFEST": str(manifest),
        "COLLAB_LEDGER_URL": f"sqlite:///{folder / 'ledger.db'}",
        "COLLAB_ORG_ID": str(world.a.org_id),
        "COLLAB_CONFIRMATIONS": "0",
    }


def test_a_listener_process_reports_its_progress_and_its_peak_memory(
    node: AnvilNode, world: World, tmp_path: Path
) -> None:
    env = _settings(node, world, tmp_path, world.deployment.manifest.save(tmp_path / "manifest.json"))
    process = ListenerProcess("accounting-a", env, tmp_path / "a.log", "--role", "accounting")
    try:
        process.wait_serving()
        process.reset_peak()
        head = world.w3.eth.block_number
        process.wait_until(head, timeout=60)
        reached = process.checkpoints()
        assert set(reached) == {f"accounting-{world.a.org_id}"}  # the consumer's, not the sync's
        assert min(reached.values()) >= head
        peak = process.peak_rss_mb()
        assert peak is not None
        assert 10 < peak < 1_000, peak
    finally:
        assert process.stop() == 0, process.output()
    assert process.peak_rss_mb() is None
    assert process.checkpoints() == {}


def test_waiting_for_a_listener_process_that_ended_names_its_error(
    node: AnvilNode, world: World, tmp_path: Path
) -> None:
    env = _settings(node, world, tmp_path, tmp_path / "no-such-manifest.json")
    process = ListenerProcess("accounting-a", env, tmp_path / "a.log", "--role", "accounting")
    try:
        with pytest.raises(RuntimeError, match=r"(?s)accounting-a exited with 1:.*no-such-manifest\.json"):
            process.wait_until(1, timeout=60)
    finally:
        process.stop()
