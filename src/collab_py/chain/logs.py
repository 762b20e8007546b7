"""Reading our contracts' logs: chunked ``eth_getLogs`` that halves its range when the node refuses one, and a
decoder of the events we act on (eth-abi directly: the backfill path decodes many thousands of logs a second)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_typing import ChecksumAddress
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.types import LogReceipt, RPCEndpoint

#: Contracts whose events the services read.
EVENT_SOURCES = ("CollabRegistry", "PaymentEscrow")
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


#: A log as the node sends it (hex strings) or as web3 formats it (HexBytes and ints).
RawLog = LogReceipt | dict[str, Any]
#: Reads one ABI word (or the dynamic value it points to) of a log's data: (data, offset of the word) -> value.
_Reader = Callable[[bytes, int], Any]


def _raw(value: Any) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


def _number(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


@functools.lru_cache(maxsize=4096)
def _checksum(raw: bytes) -> ChecksumAddress:
    """EIP-55 spelling of a 20-byte address (cached: the same treasuries and assets recur in every log)."""
    return to_checksum_address(raw)


def _word_reader(kind: str) -> _Reader | None:
    """A decoder for one head word of type ``kind``; None for types left to eth-abi (tuples, arrays)."""
    if kind.startswith("uint"):
        return lambda data, at: int.from_bytes(data[at : at + 32], "big")
    if kind.startswith("int"):
        return lambda data, at: int.from_bytes(data[at : at + 32], "big", signed=True)
    if kind == "address":
        return lambda data, at: _checksum(data[at + 12 : at + 32])
    if kind == "bool":
        return lambda data, at: data[at + 31] != 0
    if kind.startswith("bytes") and kind != "bytes":
        size = int(kind[len("bytes") :])
        return lambda data, at: data[at : at + size]
    if kind in ("bytes", "string"):

        def dynamic(data: bytes, at: int) -> bytes | str:
            start = int.from_bytes(data[at : at + 32], "big")
            length = int.from_bytes(data[start : start + 32], "big")
            value = data[start + 32 : start + 32 + length]
            if len(value) != length:
                raise ValueError("log data is shorter than its length field")
            return value.decode() if kind == "string" else value

        return dynamic
    return None


@dataclass(frozen=True)
class _EventShape:
    name: str
    indexed: tuple[tuple[str, _Reader], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    data_readers: tuple[_Reader, ...] | None  # None: decode the data with eth-abi

    def decode_data(self, data: bytes) -> dict[str, Any]:
        if self.data_readers is None:
            values = abi_decode(self.data_types, data)
            return {  # eth-abi spells addresses in lowercase; the word readers in EIP-55, as web3 does
                name: _checksum(bytes.fromhex(value[2:])) if kind == "address" else value
                for name, kind, value in zip(self.data_names, self.data_types, values, strict=True)
            }
        if len(data) < 32 * len(self.data_readers):
            raise ValueError("log data is shorter than its head")
        return {
            name: read(data, 32 * index)
            for index, (name, read) in enumerate(zip(self.data_names, self.data_readers, strict=True))
        }


class EventCodec:
    """Decodes the logs of the named events of one or more ABIs."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]], names: Iterable[str]) -> None:
        wanted = set(names)
        self._shapes: dict[bytes, _EventShape] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "event" or item["name"] not in wanted:
                    continue
                types = [collapse_if_tuple(arg) for arg in item["inputs"]]
                topic = keccak(text=f"{item['name']}({','.join(types)})")
                inputs = list(zip(item["inputs"], types, strict=True))
                data_types = tuple(kind for arg, kind in inputs if not arg["indexed"])
                readers = tuple(_word_reader(kind) for kind in data_types)
                indexed = [(arg["name"], _word_reader(kind)) for arg, kind in inputs if arg["indexed"]]
                if any(read is None for _, read in indexed):
                    raise ValueError(f"event {item['name']} indexes a type this codec does not decode")
                self._shapes[topic] = _EventShape(
                    name=item["name"],
                    indexed=tuple((name, read) for name, read in indexed if read is not None),
                    data_names=tuple(arg["name"] for arg, _ in inputs if not arg["indexed"]),
                    data_types=data_types,
                    data_readers=None if any(read is None for read in readers) else readers,  # type: ignore[arg-type]
                )
        missing = wanted - {shape.name for shape in self._shapes.values()}
        if missing:
            raise ValueError(f"no such events in the ABIs: {sorted(missing)}")

    @property
    def topics(self) -> list[bytes]:
        """topic0 of every event this codec decodes."""
        return list(self._shapes)

    def decode(self, log: RawLog) -> ChainEvent:
        """The event of ``log`` (raw from the node, or formatted by web3)."""
        topics = [_raw(topic) for topic in log["topics"]]
        shape = self._shapes[topics[0]]
        args: dict[str, Any] = {
            name: read(topic, 0) for (name, read), topic in zip(shape.indexed, topics[1:], strict=True)
        }
        args.update(shape.decode_data(_raw(log["data"])))
        return ChainEvent(
            name=shape.name,
            args=args,
            block_number=_number(log["blockNumber"]),
            block_hash=_raw(log["blockHash"]),
            tx_hash=_raw(log["transactionHash"]),
            log_index=_number(log["logIndex"]),
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

    def fetch(self, from_block: int, to_block: int) -> list[RawLog]:
        """Every matching log in ``[from_block, to_block]``, in chain order."""
        logs: list[RawLog] = []
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

    def _query(self, start: int, end: int) -> list[RawLog]:
        """One ``eth_getLogs``, its answer left as the node sent it (web3's formatting costs more than decoding)."""
        params = {"fromBlock": hex(start), "toBlock": hex(end), "address": self._addresses, "topics": [self._topics]}
        reply = self._w3.provider.make_request(RPCEndpoint("eth_getLogs"), [params])
        if "error" in reply:
            error = reply["error"]
            raise Web3RPCError(str(error.get("message", error) if isinstance(error, dict) else error))
        return list(reply["result"])
