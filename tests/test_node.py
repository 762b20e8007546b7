"""anvil started by our own code: free port, readiness, clean stop, and no orphan when the parent dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from collab_py.devnet.node import AnvilNode, rpc


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_two_nodes_on_free_ports_and_idempotent_stop() -> None:
    with AnvilNode() as first, AnvilNode(chain_id=1337) as second:
        assert first.port != second.port
        assert int(rpc(first.rpc_url, "eth_chainId"), 16) == 31337
        assert int(rpc(second.rpc_url, "eth_chainId"), 16) == 1337
        pid = first.pid
        assert pid is not None
        first.stop()
        first.stop()
        assert not alive(pid)


def test_snapshot_revert_and_time_travel() -> None:
    with AnvilNode() as node:
        before = int(rpc(node.rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        snapshot = node.snapshot()
        node.increase_time(3600)
        after = int(rpc(node.rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        assert after - before >= 3600
        assert node.revert(snapshot)
        assert int(rpc(node.rpc_url, "eth_blockNumber"), 16) == 0


def test_anvil_dies_with_a_killed_parent() -> None:
    script = "from collab_py.devnet.node import AnvilNode; n = AnvilNode().start(); print(n.pid, flush=True); input()"
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    anvil_pid = int(parent.stdout.readline())
    assert alive(anvil_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while alive(anvil_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(anvil_pid)


def test_node_that_cannot_start_is_a_named_error() -> None:
    from collab_py.devnet.node import NodeStartError

    with AnvilNode() as running, pytest.raises(NodeStartError):
        AnvilNode(port=running.port, start_timeout=2).start()
