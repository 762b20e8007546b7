"""The JSON-RPC proxy the tests and benchmarks put in front of anvil: batches, credentials and outages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from collab_py.devnet.node import AnvilNode, rpc
from collab_py.devnet.proxy import RpcProxy


@pytest.fixture
def proxy(node: AnvilNode) -> Iterator[RpcProxy]:
    with RpcProxy(node.rpc_url) as proxy:
        yield proxy


def call(method: str, id_: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": []}


def test_a_batch_is_answered_item_by_item_where_a_fault_applies(proxy: RpcProxy) -> None:
    batch = [call("eth_chainId", 1), call("eth_blockNumber", 2), call("eth_chainId", 3)]
    whole = requests.post(proxy.url, json=batch, timeout=10).json()
    assert [set(reply) & {"result", "error"} for reply in whole] == [{"result"}] * 3
    proxy.refuse("eth_blockNumber", "no such method", code=-32601)
    proxy.rewrite("eth_chainId", lambda _params, chain_id: hex(int(chain_id, 16) + 1))
    replies = requests.post(proxy.url, json=batch, timeout=10).json()
    assert [reply["id"] for reply in replies] == [1, 2, 3]
    assert replies[1]["error"] == {"code": -32601, "message": "no such method"}
    assert [int(replies[i]["result"], 16) for i in (0, 2)] == [int(whole[0]["result"], 16) + 1] * 2
    assert proxy.calls == {"eth_chainId": 4, "eth_blockNumber": 2}
    assert proxy.refused == {"eth_blockNumber": 1}
    proxy.clear()
    proxy.reset()
    assert requests.post(proxy.url, json=batch, timeout=10).json() == whole
    assert (proxy.calls.total(), proxy.refused.total()) == (3, 0)


def test_credentials_are_wanted_in_the_path_and_the_basic_auth(node: AnvilNode) -> None:
    with RpcProxy(node.rpc_url, credentials=("user", "p@ss:wörd", "key")) as proxy:
        assert proxy.url == f"http://user:p%40ss%3Aw%C3%B6rd@127.0.0.1:{proxy.port}/v3/key"
        base = f"http://127.0.0.1:{proxy.port}"
        body = json.dumps(call("eth_chainId"))
        assert requests.post(f"{base}/v3/other", body, auth=("user", "p@ss:wörd"), timeout=10).status_code == 404
        assert requests.post(f"{base}/v3/key", body, timeout=10).status_code == 401
        assert requests.post(f"{base}/v3/key", body, auth=("user", "wrong"), timeout=10).status_code == 401
        assert proxy.calls.total() == 0
        assert "result" in requests.post(proxy.url, body, timeout=10).json()  # requests sends them as Latin-1
        assert proxy.calls == {"eth_chainId": 1}


def test_a_stopped_proxy_drops_kept_alive_connections_and_comes_back_on_its_port(proxy: RpcProxy) -> None:
    session = requests.Session()
    url, port = proxy.url, proxy.port
    assert "result" in session.post(url, json=call("eth_chainId"), timeout=10).json()
    proxy.stop()
    with pytest.raises(requests.ConnectionError):
        session.post(url, json=call("eth_chainId"), timeout=10)
    proxy.start()
    assert (proxy.url, proxy.port) == (url, port)
    assert "result" in session.post(url, json=call("eth_chainId"), timeout=10).json()


def test_reads_of_logs_from_a_given_block_are_counted() -> None:
    with AnvilNode() as node, RpcProxy(node.rpc_url, full_range_from=1) as proxy:
        rpc(node.rpc_url, "anvil_mine", ["0x3"])
        head = rpc(node.rpc_url, "eth_blockNumber")
        for query in ({"fromBlock": "0x1"}, {"fromBlock": "earliest", "toBlock": head}, {"fromBlock": "0x2"}, {}):
            reply = requests.post(proxy.url, json={**call("eth_getLogs"), "params": [query]}, timeout=10).json()
            assert reply["result"] == []
        assert (proxy.calls["eth_getLogs"], proxy.getlogs_full_range) == (4, 2)  # not from 0x2, nor from the head
        proxy.reset()
        assert (proxy.calls.total(), proxy.getlogs_full_range) == (0, 0)
