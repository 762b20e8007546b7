"""Reading our contracts' logs: chunked ``eth_getLogs`` that halves its range when the node refuses one, and a
decoder of the events we act on (eth-abi directly: the backfill path decodes many thousands of logs a second)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.types import FilterParams, LogReceipt

from collab_py.errors import canonical_type

#: Phrases nodes use when a log query covers too much (geth, Besu, anvil and hosted providers).
_TOO_MUCH = ("too many", "range", "limit", "exceed", "response size", "query returned more than")


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log with its chain evidence."""

    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True)
class _EventShape:
    name: str
    indexed: tuple[tuple[str, str], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


class EventCodec:
    """Decodes the logs of the named events of one or more ABIs."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]], names: Iterable[str]) -> None:
        wanted = set(names)
        self._shapes: dict[bytes, _EventShape] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "event" or item["name"] not in wanted:
                    continue
                types = [canonical_type(arg) for arg in item["inputs"]]
                topic = keccak(text=f"{item['name']}({','.join(types)})")
                inputs = list(zip(item["inputs"], types, strict=True))
                self._shapes[topic] = _EventShape(
                    name=item["name"],
                    indexed=tuple((arg["name"], kind) for arg, kind in inputs if arg["indexed"]),
                    data_names=tuple(arg["name"] for arg, _ in inputs if not arg["indexed"]),
                    data_types=tuple(kind for arg, kind in inputs if not arg["indexed"]),
                )
        missing = wanted - {shape.name for shape in self._shapes.values()}
        if missing:
            raise ValueError(f"no such events in the ABIs: {sorted(missing)}")

    @property
    def topics(self) -> list[bytes]:
        """topic0 of every event this codec decodes."""
        return list(self._shapes)

    def decode(self, log: LogReceipt) -> ChainEvent:
        """The event of ``log``."""
        topics = log["topics"]
        shape = self._shapes[bytes(topics[0])]
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(shape.indexed, topics[1:], strict=True):
            (args[name],) = abi_decode([kind], bytes(topic))
        args.update(zip(shape.data_names, abi_decode(shape.data_types, bytes(log["data"])), strict=True))
        for name, value in args.items():
            if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
                args[name] = to_checksum_address(value)
        return ChainEvent(
            name=shape.name,
            args=args,
            block_number=int(log["blockNumber"]),
            block_hash=bytes(log["blockHash"]),
            tx_hash=bytes(log["transactionHash"]),
            log_index=int(log["logIndex"]),
        )


class LogReader:
    """``eth_getLogs`` over a block range in chunks of at most ``max_range`` blocks, halving a chunk the node
    refuses as too large (down to one block); other errors propagate for the caller's backoff."""

    def __init__(
        self, w3: Web3, addresses: Sequence[ChecksumAddress], topics: Sequence[bytes], max_range: int = 5_000
    ) -> None:
        self._w3 = w3
        self._addresses = list(addresses)
        self._topics = ["0x" + topic.hex() for topic in topics]
        self.max_range = max_range

    def fetch(self, from_block: int, to_block: int) -> list[LogReceipt]:
        """Every matching log in ``[from_block, to_block]``, in chain order."""
        logs: list[LogReceipt] = []
        start = from_block
        span = self.max_range
        while start <= to_block:
            end = min(to_block, start + span - 1)
            try:
                logs.extend(self._query(start, end))
            except Web3RPCError as error:
                if span == 1 or not any(phrase in str(error).lower() for phrase in _TOO_MUCH):
                    raise
                span = max(1, span // 2)
                continue
            start = end + 1
        return logs

    def _query(self, start: int, end: int) -> list[LogReceipt]:
        params: FilterParams = {
            "fromBlock": start,
            "toBlock": end,
            "address": self._addresses,
            "topics": [self._topics],
        }
        return list(self._w3.eth.get_logs(params))
