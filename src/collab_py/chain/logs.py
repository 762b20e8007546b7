"""Reading our contracts' logs: chunked ``eth_getLogs`` that halves its range when the node refuses one (the one log
reader every service uses), a decoder of our events (word by word: the backfill path decodes many thousands of logs
a second), and the log sources readers take their events from."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

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


@functools.lru_cache(maxsize=4096)
def _checksum_text(digits: str) -> ChecksumAddress:
    """EIP-55 spelling of an address given as 40 hex digits (cached, as :func:`_checksum`)."""
    return to_checksum_address("0x" + digits)


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


#: Reads one ABI word of a log's data given as hex digits (no ``0x``) into a JSON-ready value: (digits, offset of
#: the word in digits) -> value. The store's path: no bytes are made for what is stored as hex anyway.
_HexReader = Callable[[str, int], Any]


def _signed(digits: str) -> int:
    value = int(digits, 16)
    return value - (1 << 256) if value >= 1 << 255 else value


def _hex_reader(kind: str) -> _HexReader | None:
    """The JSON-ready counterpart of :func:`_word_reader`: bytes as ``0x`` hex, addresses in EIP-55."""
    if kind.startswith("uint"):
        return lambda data, at: int(data[at : at + 64], 16)
    if kind.startswith("int"):
        return lambda data, at: _signed(data[at : at + 64])
    if kind == "address":
        return lambda data, at: _checksum_text(data[at + 24 : at + 64])
    if kind == "bool":
        return lambda data, at: data[at + 63] != "0"
    if kind.startswith("bytes") and kind != "bytes":
        digits = 2 * int(kind[len("bytes") :])
        return lambda data, at: "0x" + data[at : at + digits]
    if kind in ("bytes", "string"):

        def dynamic(data: str, at: int) -> str:
            start = 2 * int(data[at : at + 64], 16)
            length = 2 * int(data[start : start + 64], 16)
            value = data[start + 64 : start + 64 + length]
            if len(value) != length:
                raise ValueError("log data is shorter than its length field")
            return bytes.fromhex(value).decode() if kind == "string" else "0x" + value

        return dynamic
    return None


#: Turns a stored (JSON) value back into what the typed decoder gives: bytes for bytes types, tuples for arrays and
#: structs.
_Restorer = Callable[[Any], Any]


def _restorer(item: dict[str, Any]) -> _Restorer | None:
    """The restorer of an ABI input (None: the JSON value is the typed value)."""
    kind: str = item["type"]
    if kind.endswith("]"):
        inner = _restorer({**item, "type": kind[: kind.rindex("[")]})
        return (lambda value: tuple(value)) if inner is None else (lambda value: tuple(inner(v) for v in value))
    if kind == "tuple":
        parts = [_restorer(component) for component in item["components"]]
        return lambda value: tuple(part(v) if part is not None else v for part, v in zip(parts, value, strict=True))
    if kind.startswith("bytes"):
        return lambda value: bytes.fromhex(value[2:])
    return None


def _from_json(value: Any) -> Any:
    """bytes as ``0x`` hex and tuples as lists (the JSON form of the typed decoder's values)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_from_json(item) for item in value]
    return value


def _hex(value: Any) -> str:
    """A topic, hash or data field as lowercase hex digits without ``0x``."""
    return (value[2:] if isinstance(value, str) else bytes(value).hex()).lower()


@dataclass(frozen=True)
class _EventShape:
    name: str
    indexed: tuple[tuple[str, _Reader], ...]
    indexed_hex: tuple[tuple[str, _HexReader], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    data_readers: tuple[_Reader, ...] | None  # None: decode the data with eth-abi
    data_hex: tuple[_HexReader, ...] | None
    restorers: tuple[tuple[str, _Restorer], ...]

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

    def json_args(self, topics: Sequence[str], data: str) -> dict[str, Any]:
        """The arguments, JSON-ready, from the topics and data as hex digits."""
        if len(topics) != len(self.indexed_hex):
            raise ValueError(f"{self.name} has {len(self.indexed_hex)} indexed arguments, the log {len(topics)}")
        args: dict[str, Any] = {
            name: read(topic, 0) for (name, read), topic in zip(self.indexed_hex, topics, strict=True)
        }
        if self.data_hex is None:
            args.update({name: _from_json(value) for name, value in self.decode_data(bytes.fromhex(data)).items()})
            return args
        if len(data) < 64 * len(self.data_hex):
            raise ValueError("log data is shorter than its head")
        for index, (name, read) in enumerate(zip(self.data_names, self.data_hex, strict=True)):
            args[name] = read(data, 64 * index)
        return args


class StoreRow(NamedTuple):
    """A log as the event store keeps it: its evidence, event name, the keys copied out of its arguments for
    indexed reads (contract number, voucher id, payment seq) and the arguments as JSON text."""

    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int
    event: str
    contract_no: bytes | None
    voucher_id: bytes | None
    seq: int | None
    args: str


#: Event name of a stored log whose topics or data do not decode (its raw topics and data are kept in ``args``).
UNDECODABLE = "Undecodable"


class EventCodec:
    """Decodes the logs of the named events (every event when ``names`` is None) of one or more ABIs."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]], names: Iterable[str] | None = None) -> None:
        wanted = None if names is None else set(names)
        self._shapes: dict[bytes, _EventShape] = {}
        self._by_name: dict[str, _EventShape] = {}
        self._by_hex: dict[str, _EventShape] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "event" or (wanted is not None and item["name"] not in wanted):
                    continue
                types = [collapse_if_tuple(arg) for arg in item["inputs"]]
                topic = keccak(text=f"{item['name']}({','.join(types)})")
                inputs = list(zip(item["inputs"], types, strict=True))
                data_types = tuple(kind for arg, kind in inputs if not arg["indexed"])
                readers = tuple(_word_reader(kind) for kind in data_types)
                hex_readers = tuple(_hex_reader(kind) for kind in data_types)
                indexed = [
                    (arg["name"], _word_reader(kind), _hex_reader(kind)) for arg, kind in inputs if arg["indexed"]
                ]
                if any(read is None or read_hex is None for _, read, read_hex in indexed):
                    raise ValueError(f"event {item['name']} indexes a type this codec does not decode")
                restorers = tuple(
                    (arg["name"], restore) for arg in item["inputs"] if (restore := _restorer(arg)) is not None
                )
                shape = _EventShape(
                    name=item["name"],
                    indexed=tuple((name, read) for name, read, _ in indexed if read is not None),
                    indexed_hex=tuple((name, read) for name, _, read in indexed if read is not None),
                    data_names=tuple(arg["name"] for arg, _ in inputs if not arg["indexed"]),
                    data_types=data_types,
                    data_readers=None if any(read is None for read in readers) else readers,  # type: ignore[arg-type]
                    data_hex=None if any(read is None for read in hex_readers) else hex_readers,  # type: ignore[arg-type]
                    restorers=restorers,
                )
                self._shapes[topic] = shape
                self._by_name[shape.name] = shape
                self._by_hex[topic.hex()] = shape
        missing = (wanted or set()) - set(self._by_name)
        if missing:
            raise ValueError(f"no such events in the ABIs: {sorted(missing)}")

    @property
    def topics(self) -> list[bytes]:
        """topic0 of every event this codec decodes."""
        return list(self._shapes)

    @property
    def names(self) -> list[str]:
        """The events this codec decodes."""
        return list(self._by_name)

    def topics_of(self, names: Iterable[str]) -> list[bytes]:
        """topic0 of the named events."""
        wanted = set(names)
        return [topic for topic, shape in self._shapes.items() if shape.name in wanted]

    def first_indexed(self, name: str) -> str | None:
        """The name of event ``name``'s first indexed argument (what a second topic filter selects on)."""
        indexed = self._by_name[name].indexed
        return indexed[0][0] if indexed else None

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

    def row(self, log: RawLog) -> StoreRow:
        """``log`` as the event store keeps it, decoded word by word from its hex text. Never raises for a log of
        our contracts: one whose topics or data do not decode is kept as :data:`UNDECODABLE` with its raw topics,
        data and the error, for the consumers to quarantine rather than for the sync to stop on."""
        topics = [_hex(topic) for topic in log["topics"]]
        data = _hex(log["data"])
        shape = self._by_hex.get(topics[0]) if topics else None
        try:
            if shape is None:
                raise ValueError("unknown event topic")
            args = shape.json_args(topics[1:], data)
            name = shape.name
            contract_no = args.get("contractNo")
            voucher_id = args.get("voucherId")
            keys = (
                bytes.fromhex(contract_no[2:]) if isinstance(contract_no, str) else None,
                bytes.fromhex(voucher_id[2:]) if isinstance(voucher_id, str) else None,
                args.get("seq"),
            )
        except (ValueError, TypeError, IndexError, UnicodeDecodeError, OverflowError) as error:
            name = UNDECODABLE
            args = {
                "event": shape.name if shape else None,
                "topics": ["0x" + topic for topic in topics],
                "data": "0x" + data,
                "error": f"{type(error).__name__}: {error}",
            }
            keys = (None, None, None)
        return StoreRow(
            _number(log["blockNumber"]),
            bytes.fromhex(_hex(log["blockHash"])),
            bytes.fromhex(_hex(log["transactionHash"])),
            _number(log["logIndex"]),
            name,
            *keys,
            json.dumps(args, separators=(",", ":")),
        )

    def restore(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """The typed arguments (as :meth:`decode` gives them) of event ``name`` stored as JSON ``args``."""
        shape = self._by_name.get(name)
        if shape is None:
            raise ValueError(f"cannot decode a stored {name} event: {args.get('error', 'not an event of ours')}")
        typed = dict(args)
        for key, restore in shape.restorers:
            typed[key] = restore(typed[key])
        return typed


class LogReader:
    """``eth_getLogs`` over a block range in chunks of at most ``max_range`` blocks. A chunk the node refuses as too
    large is halved (down to one block) and the span that worked is kept for the next reads, so that a node capping
    log ranges costs its refusals once, not on every read; other errors propagate for the caller's backoff."""

    def __init__(
        self, w3: Web3, addresses: Sequence[ChecksumAddress], topics: Sequence[bytes], max_range: int = 5_000
    ) -> None:
        self._w3 = w3
        self._addresses = list(addresses)
        self._topics = ["0x" + topic.hex() for topic in topics]
        self.max_range = max_range
        self._span = max_range

    def fetch(
        self,
        from_block: int,
        to_block: int,
        *,
        topics: Sequence[bytes] | None = None,
        keys: Sequence[bytes] | None = None,
    ) -> list[RawLog]:
        """Every matching log in ``[from_block, to_block]``, in chain order: of the reader's events (or of
        ``topics``), those whose first indexed argument is one of ``keys`` when given."""
        filters: list[Any] | None = None  # the reader's events
        if topics is not None or keys is not None:
            filters = [self._topics if topics is None else ["0x" + topic.hex() for topic in topics]]
            if keys is not None:
                filters.append(["0x" + key.hex() for key in keys])
        logs: list[RawLog] = []
        start = from_block
        span = min(self._span, self.max_range)
        while start <= to_block:
            end = min(to_block, start + span - 1)
            try:
                logs.extend(self._query(start, end) if filters is None else self._query(start, end, filters))
            except Web3RPCError as error:
                if span == 1 or not any(phrase in str(error).lower() for phrase in _TOO_MUCH):
                    raise
                span = max(1, span // 2)
                self._span = span
                continue
            start = end + 1
        return logs

    def _query(self, start: int, end: int, filters: list[Any] | None = None) -> list[RawLog]:
        """One ``eth_getLogs``, its answer left as the node sent it (web3's formatting costs more than decoding)."""
        params = {
            "fromBlock": hex(start),
            "toBlock": hex(end),
            "address": self._addresses,
            "topics": filters if filters is not None else [self._topics],
        }
        reply = self._w3.provider.make_request(RPCEndpoint("eth_getLogs"), [params])
        if "error" in reply:
            error = reply["error"]
            raise Web3RPCError(str(error.get("message", error) if isinstance(error, dict) else error))
        return list(reply["result"])


class LogSource(Protocol):
    """Where a reader gets the events of our contracts: the chain (through the capped :class:`LogReader`) or a
    ledger's event store."""

    def query(
        self,
        names: Sequence[str],
        keys: Sequence[bytes] | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
    ) -> list[ChainEvent]:
        """The named events, in chain order, between two blocks (default: the deployment and the head); when
        ``keys`` are given, only those whose first indexed argument (a voucher id, a contract number) is one."""


#: Keys named in one ``eth_getLogs`` (a topic list; nodes bound the size of a request).
KEYS_PER_QUERY = 500


class ChainLogSource:
    """Events read from the node: ``eth_getLogs`` through one :class:`LogReader`, so chunked and within the node's
    range cap; from ``start_block`` (the deployment block) unless told otherwise."""

    def __init__(
        self,
        w3: Web3,
        addresses: Sequence[ChecksumAddress],
        abis: Iterable[list[dict[str, Any]]],
        start_block: int,
        max_range: int = 5_000,
    ) -> None:
        self.w3 = w3
        self.codec = EventCodec(abis)
        self.start_block = start_block
        self.reader = LogReader(w3, addresses, self.codec.topics, max_range)

    def query(
        self,
        names: Sequence[str],
        keys: Sequence[bytes] | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
    ) -> list[ChainEvent]:
        """As :meth:`LogSource.query`; the head is read once when no ``to_block`` is given."""
        start = self.start_block if from_block is None else from_block
        end = int(self.w3.eth.block_number) if to_block is None else to_block
        topics = self.codec.topics_of(names)
        if keys is None:
            return [self.codec.decode(log) for log in self.reader.fetch(start, end, topics=topics)]
        found: list[ChainEvent] = []
        for first in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[first : first + KEYS_PER_QUERY]
            found += [self.codec.decode(log) for log in self.reader.fetch(start, end, topics=topics, keys=chunk)]
        if len(keys) > KEYS_PER_QUERY:
            found.sort(key=lambda event: (event.block_number, event.log_index))
        return found
