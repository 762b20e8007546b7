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


#: Writes one ABI word of a log's data (hex digits) as JSON text: what the store keeps, without a dict in between.
_JsonWriter = Callable[[str, int], str]


def _json_writer(kind: str) -> _JsonWriter | None:
    """The JSON text of :func:`_hex_reader`'s value (hex digits and EIP-55 addresses need no escaping)."""
    if kind.startswith("uint"):
        return lambda data, at: str(int(data[at : at + 64], 16))
    if kind.startswith("int"):
        return lambda data, at: str(_signed(data[at : at + 64]))
    if kind == "address":
        return lambda data, at: '"' + _checksum_text(data[at + 24 : at + 64]) + '"'
    if kind == "bool":
        return lambda data, at: "true" if data[at + 63] != "0" else "false"
    read = _hex_reader(kind)
    if read is None:
        return None
    if kind == "string":
        return lambda data, at: json.dumps(read(data, at))
    return lambda data, at: '"' + read(data, at) + '"'


#: A compiled decoder of one event's log for the store: (topics, data), both as the node sends them (``0x`` hex
#: strings) -> (contract number, voucher id, seq, arguments as JSON text).
_StoreDecoder = Callable[[Sequence[str], str], tuple[bytes | None, bytes | None, int | None, str]]


def _compile_store_decoder(name: str, inputs: list[tuple[dict[str, Any], str]]) -> _StoreDecoder | None:
    """Python source for one event's store decoder, compiled once: every argument sliced inline from the hex text,
    no call per word (the backfill decodes tens of thousands of logs a second). None for events with tuples or
    arrays in their data (those go through eth-abi)."""
    indexed = [(arg["name"], kind) for arg, kind in inputs if arg["indexed"]]
    words = [(arg["name"], kind) for arg, kind in inputs if not arg["indexed"]]
    fragments: list[str] = []
    keys: dict[str, str] = {}

    def value(kind: str, text: str, at: str | None) -> str | None:
        """The JSON text of a ``kind`` value held in ``text`` (hex with 0x); ``at``: its word's offset in data."""
        digits = text if at is None else f"{text}[{at}:{at}+64]"
        prefix = f"{text}[2:]" if at is None else digits
        if kind.startswith("uint"):
            return f"str(int({digits}, 16))"
        if kind.startswith("int"):
            return f"str(_signed({prefix}))"
        if kind == "address":
            return f"'\"' + _checksum_text({digits}[-40:]) + '\"'"
        if kind == "bool":
            return f"('false' if int({digits}, 16) == 0 else 'true')"
        if kind.startswith("bytes") and kind != "bytes":
            size = 2 * int(kind[len("bytes") :])
            head = f"{text}[2:{2 + size}]" if at is None else f"{text}[{at}:{at}+{size}]"
            return f"'\"0x' + {head} + '\"'"
        if kind == "bytes" and at is not None:
            return f"'\"0x' + _dynamic(data, {at}) + '\"'"
        if kind == "string" and at is not None:
            return f"_json_dumps(bytes.fromhex(_dynamic(data, {at})).decode())"
        return None

    for index, (arg, kind) in enumerate(indexed, start=1):
        text = value(kind, f"topics[{index}]", None)
        if text is None:
            return None
        fragments.append(f"'\"{arg}\":' + {text}")
        if arg in ("contractNo", "voucherId"):
            keys[arg] = f"_fromhex(topics[{index}][2:])"
        elif arg == "seq":
            keys[arg] = f"int(topics[{index}], 16)"
    for index, (arg, kind) in enumerate(words):
        at = str(2 + 64 * index)
        text = value(kind, "data", at)
        if text is None:
            return None
        fragments.append(f"'\"{arg}\":' + {text}")
        if arg in ("contractNo", "voucherId"):
            keys[arg] = f"_fromhex(data[{at}:{at}+64])"
        elif arg == "seq":
            keys[arg] = f"int(data[{at}:{at}+64], 16)"
    joined = " + ',' + ".join(fragments) if fragments else "''"
    source = (
        f"def decode(topics, data):\n"
        f"    if len(topics) != {len(indexed) + 1}:\n"
        f"        raise ValueError('{name} has {len(indexed)} indexed arguments, the log ' + str(len(topics) - 1))\n"
        f"    if len(data) < {2 + 64 * len(words)}:\n"
        f"        raise ValueError('log data is shorter than its head')\n"
        f"    return ({keys.get('contractNo', 'None')}, {keys.get('voucherId', 'None')}, {keys.get('seq', 'None')},"
        f" '{{' + {joined} + '}}')\n"
    )
    scope: dict[str, Any] = {
        "_signed": _signed,
        "_checksum_text": _checksum_text,
        "_fromhex": bytes.fromhex,
        "_dynamic": _dynamic_hex,
        "_json_dumps": json.dumps,
    }
    exec(compile(source, f"<store decoder of {name}>", "exec"), scope)
    decoder: _StoreDecoder = scope["decode"]
    return decoder


def _dynamic_hex(data: str, at: int) -> str:
    """The hex digits of the dynamic ``bytes`` or ``string`` whose offset word is at ``at`` of ``data`` (0x hex)."""
    start = 2 + 2 * int(data[at : at + 64], 16)
    length = 2 * int(data[start : start + 64], 16)
    value = data[start + 64 : start + 64 + length]
    if len(value) != length:
        raise ValueError("log data is shorter than its length field")
    return value


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


#: Restores every stored argument of one event: (arguments as stored) -> the typed arguments, a new dict.
_ArgsRestorer = Callable[[dict[str, Any]], dict[str, Any]]


def _compile_restorer(name: str, inputs: Sequence[dict[str, Any]]) -> _ArgsRestorer:
    """Python source restoring one event's stored arguments, compiled once: a bytes argument converted inline, an
    array or struct by its :func:`_restorer` (a consumer restores every event of its batches)."""
    scope: dict[str, Any] = {"_fromhex": bytes.fromhex}
    lines = ["def restore(args):", "    typed = dict(args)"]
    for index, item in enumerate(inputs):
        restore = _restorer(item)
        if restore is None:
            continue
        key = repr(item["name"])
        if item["type"].startswith("bytes") and not item["type"].endswith("]"):
            lines.append(f"    typed[{key}] = _fromhex(typed[{key}][2:])")
        else:
            scope[f"_restore{index}"] = restore
            lines.append(f"    typed[{key}] = _restore{index}(typed[{key}])")
    lines.append("    return typed")
    exec(compile("\n".join(lines) + "\n", f"<restorer of {name}>", "exec"), scope)
    restorer: _ArgsRestorer = scope["restore"]
    return restorer


def _from_json(value: Any) -> Any:
    """bytes as ``0x`` hex and tuples as lists (the JSON form of the typed decoder's values)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_from_json(item) for item in value]
    return value


def _hex(value: Any) -> str:
    """A topic, hash or data field as hex digits without ``0x`` (nodes send lowercase hex)."""
    return value[2:] if isinstance(value, str) else bytes(value).hex()


@dataclass(frozen=True)
class _EventShape:
    name: str
    indexed: tuple[tuple[str, _Reader], ...]
    indexed_hex: tuple[tuple[str, _HexReader], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    data_readers: tuple[_Reader, ...] | None  # None: decode the data with eth-abi
    data_hex: tuple[_HexReader, ...] | None
    restore: _ArgsRestorer
    #: JSON text writers of the indexed arguments and the data words, each with its ``"name":`` prefix (None when
    #: the data holds tuples or arrays: those go through eth-abi and ``json.dumps``)
    indexed_json: tuple[tuple[str, _JsonWriter], ...]
    data_json: tuple[tuple[str, _JsonWriter], ...] | None
    #: where the contract number, voucher id and seq are: (in the topics?, index), or None
    keys: tuple[tuple[bool, int] | None, tuple[bool, int] | None, tuple[bool, int] | None]
    #: the compiled decoder of logs as the node sends them (None: :meth:`store_fields` does it)
    compiled: _StoreDecoder | None

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

    def store_fields(self, topics: Sequence[str], data: str) -> tuple[bytes | None, bytes | None, int | None, str]:
        """The arguments as JSON text, and the contract number, voucher id and seq, from the topics (after topic0)
        and data as hex digits."""
        if len(topics) != len(self.indexed_json):
            raise ValueError(f"{self.name} has {len(self.indexed_json)} indexed arguments, the log {len(topics)}")
        if self.data_json is None:
            text = json.dumps(self.json_args(topics, data), separators=(",", ":"))
        else:
            if len(data) < 64 * len(self.data_json):
                raise ValueError("log data is shorter than its head")
            parts = [prefix + write(topic, 0) for (prefix, write), topic in zip(self.indexed_json, topics, strict=True)]
            parts += [prefix + write(data, 64 * index) for index, (prefix, write) in enumerate(self.data_json)]
            text = "{" + ",".join(parts) + "}"
        contract_at, voucher_at, seq_at = self.keys
        return (
            None if contract_at is None else bytes.fromhex(_word(topics, data, contract_at)),
            None if voucher_at is None else bytes.fromhex(_word(topics, data, voucher_at)),
            None if seq_at is None else int(_word(topics, data, seq_at), 16),
            text,
        )


def _word(topics: Sequence[str], data: str, at: tuple[bool, int]) -> str:
    in_topics, index = at
    return topics[index] if in_topics else data[64 * index : 64 * index + 64]


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
        self._by_text: dict[Any, _EventShape] = {}  # by topic0 as the node spells it
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
                indexed_names = [arg["name"] for arg, _ in inputs if arg["indexed"]]
                data_names = [arg["name"] for arg, _ in inputs if not arg["indexed"]]
                writers = tuple(_json_writer(kind) for kind in data_types)

                def key_at(name: str, names: tuple[list[str], list[str]] = (indexed_names, data_names)) -> Any:
                    for in_topics, found in ((True, names[0]), (False, names[1])):
                        if name in found:
                            return in_topics, found.index(name)
                    return None

                shape = _EventShape(
                    name=item["name"],
                    indexed=tuple((name, read) for name, read, _ in indexed if read is not None),
                    indexed_hex=tuple((name, read) for name, _, read in indexed if read is not None),
                    data_names=tuple(arg["name"] for arg, _ in inputs if not arg["indexed"]),
                    data_types=data_types,
                    data_readers=None if any(read is None for read in readers) else readers,  # type: ignore[arg-type]
                    data_hex=None if any(read is None for read in hex_readers) else hex_readers,  # type: ignore[arg-type]
                    restore=_compile_restorer(item["name"], item["inputs"]),
                    indexed_json=tuple(
                        (f'"{arg["name"]}":', writer)
                        for arg, kind in inputs
                        if arg["indexed"] and (writer := _json_writer(kind)) is not None
                    ),
                    data_json=None
                    if any(write is None for write in writers)
                    else tuple((f'"{name}":', write) for name, write in zip(data_names, writers, strict=True)),  # type: ignore[misc]
                    keys=(key_at("contractNo"), key_at("voucherId"), key_at("seq")),
                    compiled=_compile_store_decoder(item["name"], inputs),
                )
                self._shapes[topic] = shape
                self._by_name[shape.name] = shape
                self._by_hex[topic.hex()] = shape
                self._by_text["0x" + topic.hex()] = shape
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
        raw_topics, raw_data = log["topics"], log["data"]
        shape = (self._by_text.get(raw_topics[0]) or self._by_hex.get(_hex(raw_topics[0]))) if raw_topics else None
        try:
            if shape is None:
                raise ValueError("unknown event topic")
            name = shape.name
            if shape.compiled is not None and isinstance(raw_data, str) and isinstance(raw_topics[0], str):
                contract_no, voucher_id, seq, text = shape.compiled(raw_topics, raw_data)  # type: ignore[arg-type]
            else:
                topics = [_hex(topic) for topic in raw_topics]
                contract_no, voucher_id, seq, text = shape.store_fields(topics[1:], _hex(raw_data))
        except (ValueError, TypeError, IndexError, UnicodeDecodeError, OverflowError) as error:
            topics, data = [_hex(topic) for topic in raw_topics], _hex(raw_data)
            name, contract_no, voucher_id, seq = UNDECODABLE, None, None, None
            text = json.dumps(
                {
                    "event": shape.name if shape else None,
                    "topics": ["0x" + topic for topic in topics],
                    "data": "0x" + data,
                    "error": f"{type(error).__name__}: {error}",
                }
            )
        return StoreRow(
            _number(log["blockNumber"]),
            bytes.fromhex(_hex(log["blockHash"])),
            bytes.fromhex(_hex(log["transactionHash"])),
            _number(log["logIndex"]),
            name,
            contract_no,
            voucher_id,
            seq,
            text,
        )

    def restore(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """The typed arguments (as :meth:`decode` gives them) of event ``name`` stored as JSON ``args``."""
        shape = self._by_name.get(name)
        if shape is None:
            raise ValueError(f"cannot decode a stored {name} event: {args.get('error', 'not an event of ours')}")
        return shape.restore(args)


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
        ``topics``), those whose first indexed argument is one of ``keys`` when given. A node that refuses a
        ``toBlock`` past its head (as some do, where geth answers for the blocks it has) is asked again up to its
        head."""
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
                head = self._head_if_before(end)
                if head is not None:
                    to_block = head  # clamped: the blocks past the node's head have no logs yet
                    continue
                if end == start or not any(phrase in str(error).lower() for phrase in _TOO_MUCH):
                    raise
                span = max(1, (end - start + 1) // 2)  # half of what was refused
                self._span = span
                continue
            start = end + 1
        return logs

    def _head_if_before(self, block: int) -> int | None:
        """The node's head if it is below ``block``, else None."""
        reply = self._w3.provider.make_request(RPCEndpoint("eth_blockNumber"), [])
        head = int(reply["result"], 16) if isinstance(reply.get("result"), str) else None
        return head if head is not None and head < block else None

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
