"""Confidentiality (SPEC): after the whole demo on its own anvil, nothing secret is on chain in clear.

The demo (:func:`collab_py.devnet.demo.run_demo`: two e-contracts, three payments — one redeemed by Party B, one
assigned to Party C, one expired and reclaimed — and two e-invoices) runs in-process; then everything the chain
holds is read:

- every block (``eth_getBlockByNumber`` with full transactions: header fields and every transaction field, input
  data included), every receipt (``eth_getBlockReceipts``: every log's data and topics), the pool (``txpool_content``);
- every internal call of every transaction (the call traces of ``anvil_dumpState``: their input and output data);
- the storage of the registry and the escrow at every block: the slots of their storage layouts
  (``load_artifact(name).storage_layout``) for the keys the chain knows (org ids, departments, accounts, contract
  numbers, payment voucher ids, stage indexes) and the data slots of their strings and bytes; checked against the
  final state in ``anvil_dumpState`` (gzip-compressed JSON, hex-encoded), which must hold no other used slot;
- the whole final state (``anvil_dumpState``: every account's code and storage, blocks, transactions).

Each value is scanned as raw bytes (hex-encoded JSON-RPC values decoded first), for each secret as UTF-8 or raw
bytes, as lower- and upper-case hex text, and for any 24-byte run of a document or any 16-byte run of a key:

- never on chain: the bank accounts of the demo, the e-contract documents (both contracts: the canonical JSON, its
  text and its stage specifications of 24 bytes or more), the delivered stage results, the e-invoice documents
  (canonical JSON) and their numbers, the salts of the bank-account hashes, the expired and reclaimed payment key's
  secret, every private key of every party;
- payment-key secrets that are redeemed: only from the block of the transaction that redeems them
  (``requestPayment`` by Party B, ``presentPaymentKey`` by Party C), never in any block, receipt, trace or storage
  slot before it.

Positive controls prove the scan reads what it claims: the documents', terms' and invoices' hashes, the bank-account
hashes and ciphertexts, the key commitments and ciphertexts and the org names are found where they belong (calldata,
logs, storage), each redeemed secret is found in its redeeming calldata, and the layout walk decodes the org names
from storage.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from eth_utils.crypto import keccak
from web3 import Web3

from collab_py.chain.build import load_artifact
from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import VoucherStatus
from collab_py.chain.transactor import connect
from collab_py.devnet import flow as flow_module
from collab_py.devnet.demo import DemoResult, run_demo
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import Party
from collab_py.devnet.sandbox import B_BANK_ACCOUNT, C_BANK_ACCOUNT, sample_contract
from collab_py.domain import crypto
from collab_py.domain.econtract import EContract
from collab_py.domain.types import contract_number_text, payment_voucher_id
from collab_py.services import BusinessService
from collab_py.services.reader import ChainReader

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: Runs of a secret that must not appear either: any 24 bytes of a document, any 16 bytes of a key.
DOCUMENT_RUN, KEY_RUN = 24, 16
BATCH = 500


# ---------------------------------------------------------------------------------------------------- reading
def _batch(url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """The results of JSON-RPC ``calls``, sent in batches."""
    results: list[Any] = []
    for start in range(0, len(calls), BATCH):
        chunk = calls[start : start + BATCH]
        body = json.dumps(
            [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(chunk)]
        ).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            replies = sorted(json.loads(response.read()), key=lambda reply: reply["id"])
        assert len(replies) == len(chunk)
        for reply in replies:
            assert "error" not in reply, reply
            results.append(reply["result"])
    return results


def _as_bytes(text: str) -> bytes:
    """A JSON-RPC string as the bytes it stands for: hex decoded, anything else as UTF-8."""
    digits = text[2:] if text[:2] in ("0x", "0X") else None
    if digits is not None and all(c in "0123456789abcdefABCDEF" for c in digits):
        return bytes.fromhex(digits if len(digits) % 2 == 0 else "0" + digits)
    return text.encode("utf-8", "surrogatepass")


def _leaves(value: Any) -> Iterator[bytes]:
    """Every string (keys too) and integer in a JSON value, as bytes."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield _as_bytes(str(key))
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str):
        yield _as_bytes(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        yield value.to_bytes(max(1, math.ceil(value.bit_length() / 8)), "big", signed=False) if value >= 0 else b""


def _blob(value: Any) -> bytes:
    """All leaves of a JSON value, joined (a secret is never split across two of them: each is searched whole)."""
    return b"\x00|\x00".join(_leaves(value))


@dataclass
class Piece:
    """Something read from the chain: where it is, the block it belongs to (None: the final state), its bytes."""

    where: str
    block: int | None
    data: bytes


@dataclass
class Storage:
    """The storage layout walk of one contract: every slot it knows, with labels, and the string slots."""

    address: str
    labels: dict[int, str] = field(default_factory=dict)
    strings: dict[int, str] = field(default_factory=dict)  # header slot -> label


def _key_bytes(type_name: str, key: Any) -> bytes:
    if type_name == "t_address":
        return bytes(12) + bytes.fromhex(key[2:])
    if type_name.startswith(("t_uint", "t_enum")):
        return int(key).to_bytes(32, "big")
    if type_name.startswith("t_bytes"):
        return bytes(key).ljust(32, b"\x00")
    raise NotImplementedError(f"mapping key type {type_name}")


def walk_layout(name: str, address: str, keys: Callable[[str], Iterable[Any]]) -> Storage:
    """Every storage slot of contract ``name``'s layout, mappings expanded for ``keys(key type)``."""
    layout = load_artifact(name).storage_layout
    types = layout["types"]
    storage = Storage(address)

    def walk(type_name: str, slot: int, label: str) -> None:
        kind = types[type_name]
        if kind["encoding"] == "mapping":
            for key in keys(kind["key"]):
                child = int.from_bytes(keccak(_key_bytes(kind["key"], key) + slot.to_bytes(32, "big")), "big")
                walk(kind["value"], child, f"{label}[{key.hex() if isinstance(key, bytes) else key}]")
        elif kind["encoding"] == "bytes":
            storage.labels[slot] = label
            storage.strings[slot] = label
        elif kind["encoding"] == "dynamic_array":
            raise NotImplementedError(f"dynamic array {label}: not in our contracts yet")
        elif "members" in kind:
            for member in kind["members"]:
                walk(member["type"], slot + int(member["slot"]), f"{label}.{member['label']}")
        else:
            for index in range(math.ceil(int(kind["numberOfBytes"]) / 32)):
                storage.labels[slot + index] = storage.labels.get(slot + index, label)

    for variable in layout["storage"]:
        walk(variable["type"], int(variable["slot"]), variable["label"])
    return storage


def string_slots(header: int, value: bytes) -> list[int]:
    """The data slots of a long string or bytes whose header slot holds ``value`` (none for a short one)."""
    word = int.from_bytes(value, "big")
    if not word & 1:
        return []
    length = (word - 1) // 2
    base = int.from_bytes(keccak(header.to_bytes(32, "big")), "big")
    return [base + index for index in range(math.ceil(length / 32))]


def decode_string(header: bytes, data: bytes) -> bytes:
    """A storage string or bytes from its header slot and its data slots."""
    word = int.from_bytes(header, "big")
    if word & 1:
        return data[: (word - 1) // 2]
    return header[: (word & 0xFF) // 2]


# ---------------------------------------------------------------------------------------------------- secrets
@dataclass(frozen=True)
class Secret:
    """A secret and the forms it must not take on chain."""

    label: str
    value: bytes
    run: int  # also refused: any run of this many bytes of it

    def needles(self) -> Iterator[bytes]:
        yield self.value
        yield self.value.hex().encode()
        yield self.value.hex().upper().encode()
        if len(self.value) > self.run:
            for start in range(len(self.value) - self.run + 1):
                run = self.value[start : start + self.run]
                yield from (run, run.hex().encode(), run.hex().upper().encode())

    def found_in(self, data: bytes) -> bool:
        return any(needle in data for needle in self.needles())


def _text(label: str, text: str | bytes) -> Secret:
    return Secret(label, text.encode() if isinstance(text, str) else text, DOCUMENT_RUN)


def _key(label: str, value: bytes) -> Secret:
    return Secret(label, value, KEY_RUN)


@dataclass
class Captured:
    """What the services generated or handled during the demo, recorded on the way."""

    key_secrets: list[bytes] = field(default_factory=list)
    salts: list[bytes] = field(default_factory=list)
    documents: list[bytes] = field(default_factory=list)
    stage_results: list[bytes] = field(default_factory=list)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    """Records the payment-key secrets and salts the services draw, the e-contract texts and the stage results."""
    seen = Captured()

    def drawn(into: list[bytes]) -> Callable[[], bytes]:
        def draw() -> bytes:
            value = os.urandom(32)
            into.append(value)
            return value

        return draw

    monkeypatch.setattr(crypto, "new_secret", drawn(seen.key_secrets))
    monkeypatch.setattr(crypto, "new_salt", drawn(seen.salts))
    prepare_propose, submit_stage = BusinessService.prepare_propose, BusinessService.submit_stage
    flow_delivered = flow_module.delivered

    def recording_propose(self: BusinessService, econtract: EContract) -> Any:
        seen.documents.append(econtract.document())
        return prepare_propose(self, econtract)

    def recording_submit(self: BusinessService, number: Any, index: int, result: bytes) -> Any:
        seen.stage_results.append(result)
        return submit_stage(self, number, index, result)

    def recording_delivered(draft: Any, index: int) -> bytes:
        result = flow_delivered(draft, index)
        seen.stage_results.append(result)
        return result

    monkeypatch.setattr(BusinessService, "prepare_propose", recording_propose)
    monkeypatch.setattr(BusinessService, "submit_stage", recording_submit)
    monkeypatch.setattr(flow_module, "delivered", recording_delivered)
    return seen


# ---------------------------------------------------------------------------------------------------- the scan
@dataclass
class Payment:
    number: str
    seq: int
    voucher_id: bytes
    status: VoucherStatus
    secret: bytes
    redeemed_in: int | None = None  # block of requestPayment / presentPaymentKey
    redeemed_by: str | None = None


@dataclass
class ChainDump:
    """Everything read from the chain after the demo."""

    head: int
    contract_numbers: list[str] = field(default_factory=list)
    pieces: list[Piece] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    traces: int = 0
    dumped_transactions: int = 0
    storage: dict[str, Storage] = field(default_factory=dict)
    storage_reads: int = 0
    final_values: dict[str, dict[int, bytes]] = field(default_factory=dict)
    dump_slots: dict[str, dict[int, bytes]] = field(default_factory=dict)

    def where(self, secret: Secret, before: int | None = None) -> list[str]:
        """Where ``secret`` appears (in blocks before ``before`` only, when given)."""
        return [
            piece.where
            for piece in self.pieces
            if (before is None or (piece.block is not None and piece.block < before)) and secret.found_in(piece.data)
        ]

    def first_block(self, secret: Secret) -> int | None:
        blocks = [piece.block for piece in self.pieces if piece.block is not None and secret.found_in(piece.data)]
        return min(blocks, default=None)


def read_chain(url: str, w3: Web3, deployment: Deployment, parties: list[Party], governance: str) -> ChainDump:
    head = w3.eth.block_number
    dump = ChainDump(head)
    numbers = range(head + 1)
    blocks = _batch(url, [("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
    receipts = _batch(url, [("eth_getBlockReceipts", [hex(n)]) for n in numbers])
    for n, block, block_receipts in zip(numbers, blocks, receipts, strict=True):
        header = {key: value for key, value in block.items() if key != "transactions"}
        dump.pieces.append(Piece(f"block {n} header", n, _blob(header)))
        assert len(block_receipts) == len(block["transactions"])
        for tx, receipt in zip(block["transactions"], block_receipts, strict=True):
            dump.transactions.append(tx)
            dump.pieces.append(Piece(f"block {n} tx {tx['hash']} input", n, _as_bytes(tx["input"])))
            dump.pieces.append(Piece(f"block {n} tx {tx['hash']} (all fields)", n, _blob(tx)))
            dump.pieces.append(Piece(f"block {n} receipt {tx['hash']} (all fields)", n, _blob(receipt)))
            for log in receipt["logs"]:
                dump.logs.append(log)
                where = f"block {n} tx {tx['hash']} log {int(log['logIndex'], 16)} of {log['address']}"
                dump.pieces.append(Piece(f"{where} data", n, _as_bytes(log["data"])))
                for index, topic in enumerate(log["topics"]):
                    dump.pieces.append(Piece(f"{where} topic {index}", n, _as_bytes(topic)))
    pool = _batch(url, [("txpool_content", [])])[0]
    dump.pieces.append(Piece("transaction pool", None, _blob(pool)))

    state = json.loads(gzip.decompress(_as_bytes(_batch(url, [("anvil_dumpState", [])])[0])))
    dump.pieces.append(Piece("anvil_dumpState (whole final state)", None, _blob(state)))
    dump.dumped_transactions = len(state["transactions"])
    for tx in state["transactions"]:  # the internal calls: their data and output
        dump.traces += len(tx["info"]["traces"])
        where = f"block {tx['block_number']} tx {tx['info']['transaction_hash']} call traces"
        dump.pieces.append(Piece(where, int(tx["block_number"]), _blob(tx["info"]["traces"])))
    accounts = {address.lower(): account for address, account in state["accounts"].items()}

    # the keys the chain knows, for the mappings of the storage layouts
    addresses = sorted({address.lower() for address in accounts} | {governance.lower()})
    topics = {_as_bytes(topic) for log in dump.logs for topic in log["topics"]}
    registry = deployment.registry.functions
    contract_numbers = sorted(
        {topic for topic in topics if topic.rstrip(b"\x00") and registry.agreementOf(topic).call()[0][3] != 0}
    )
    voucher_ids = sorted(
        payment_voucher_id(number, seq)
        for number in contract_numbers
        for seq in range(1, registry.agreementOf(number).call()[0][6] + 1)
    )
    dump.contract_numbers = [contract_number_text(number) for number in contract_numbers]
    stage_counts = max(registry.agreementOf(number).call()[0][4] for number in contract_numbers)
    orgs = sorted({0, *(party.org_id for party in parties)})
    keys: dict[str, list[Any]] = {
        "t_uint16": list(range(4)),  # asset ids: the listed assets are numbered from 1
        "t_uint32": orgs,
        "t_uint256": list(range(stage_counts + 2)),
        "t_address": addresses,
        "t_bytes32": [*contract_numbers, *voucher_ids],
    }

    def keys_of(type_name: str) -> list[Any]:
        if type_name.startswith("t_enum"):
            return list(range(4))
        return keys[type_name]

    for name, contract in (("CollabRegistry", deployment.registry), ("PaymentEscrow", deployment.escrow)):
        storage = walk_layout(name, contract.address, keys_of)
        account = accounts[contract.address.lower()]
        dumped = {int(slot, 16): _as_bytes(value).rjust(32, b"\x00") for slot, value in account["storage"].items()}
        dump.dump_slots[name] = dumped
        headers = _batch(url, [("eth_getStorageAt", [contract.address, hex(s), "latest"]) for s in storage.strings])
        for header, value in zip(list(storage.strings), headers, strict=True):
            for index, slot in enumerate(string_slots(header, _as_bytes(value))):
                storage.labels[slot] = f"{storage.strings[header]} data {index}"
        slots = sorted(set(storage.labels) | set(dumped))
        values = _batch(url, [("eth_getStorageAt", [contract.address, hex(s), hex(n)]) for n in numbers for s in slots])
        dump.storage_reads += len(values)
        for n in numbers:
            words = {slot: _as_bytes(values[n * len(slots) + i]) for i, slot in enumerate(slots)}
            # in slot order: a long string's data slots are consecutive, so its bytes are contiguous here
            dump.pieces.append(Piece(f"{name} storage at block {n}", n, b"".join(words.values())))
            for slot, word in words.items():
                if any(word):
                    dump.pieces.append(Piece(f"{name} slot {storage.labels.get(slot, hex(slot))} at {n}", n, word))
        dump.final_values[name] = {slot: _as_bytes(values[head * len(slots) + i]) for i, slot in enumerate(slots)}
        dump.storage[name] = storage
    return dump


def payments(result: DemoResult, dump: ChainDump) -> list[Payment]:
    """Every payment of the demo with its payment-key secret, opened from the chain by the payee's finance."""
    deployment, sandbox = result.sandbox.deployment, result.sandbox
    reader, flow = ChainReader(deployment), Flow(deployment)
    by_org = {party.org_id: party for party in sandbox.parties}
    found = []
    for number in dump.contract_numbers:
        agreement = reader.agreement(number)
        for seq in range(1, agreement.payment_count + 1):
            payment = reader.payment(number, seq)
            key = flow.finance(by_org[agreement.party_b]).open_payment_key(number, seq)
            found.append(Payment(number, seq, payment.voucher_id, payment.status, key.secret))
    escrow = deployment.escrow
    for tx in dump.transactions:
        if (tx["to"] or "").lower() != escrow.address.lower():
            continue
        function, args = escrow.decode_function_input(tx["input"])
        if function.fn_name not in ("requestPayment", "presentPaymentKey"):
            continue
        (match,) = [p for p in found if p.voucher_id == payment_voucher_id(args["contractNo"], args["seq"])]
        assert match.redeemed_in is None, f"payment {match.number}/{match.seq} redeemed twice"
        assert bytes(args["secret"]) == match.secret  # the positive control: the key opened is the one redeemed
        match.redeemed_in, match.redeemed_by = int(tx["blockNumber"], 16), function.fn_name
    return found


# ---------------------------------------------------------------------------------------------------- canaries
#: Runtime code that logs its calldata: CALLDATASIZE PUSH0 PUSH0 CALLDATACOPY CALLDATASIZE PUSH0 LOG0 STOP.
LOGGER_RUNTIME = bytes.fromhex("365f5f37365fa000")
#: Init code returning it: PUSH8 runtime PUSH0 MSTORE PUSH1 8 PUSH1 24 RETURN.
LOGGER_INIT = b"\x67" + LOGGER_RUNTIME + bytes.fromhex("5f5260086018f3")


@dataclass(frozen=True)
class Canaries:
    """Values planted on chain after the demo, where the scan must find them: a negative control of the scan."""

    calldata: Secret
    log: Secret
    storage: Secret


def plant_canaries(url: str, escrow: str) -> Canaries:
    """A transaction whose input carries a canary, a contract call that logs one, and a canary in escrow storage."""
    canaries = Canaries(
        _key("calldata canary", os.urandom(32)),
        _key("log canary", os.urandom(32)),
        _key("storage canary", os.urandom(32)),
    )
    (dev,) = _batch(url, [("eth_accounts", [])])[0][:1]

    def mined(tx: dict[str, str]) -> dict[str, Any]:
        """The receipt of ``tx`` sent from the node's dev account: anvil's automine answers before it mines."""
        (tx_hash,) = _batch(url, [("eth_sendTransaction", [{"from": dev, **tx}])])
        deadline = time.monotonic() + 30
        while (receipt := _batch(url, [("eth_getTransactionReceipt", [tx_hash])])[0]) is None:
            assert time.monotonic() < deadline, f"{tx_hash} not mined in 30 s"
            time.sleep(0.05)
        return cast(dict[str, Any], receipt)

    mined({"to": dev, "data": "0x" + canaries.calldata.value.hex()})
    logger = mined({"data": "0x" + LOGGER_INIT.hex()})["contractAddress"]
    assert _as_bytes(_batch(url, [("eth_getCode", [logger, "latest"])])[0]) == LOGGER_RUNTIME
    mined({"to": logger, "data": "0x" + canaries.log.value.hex()})
    (status,) = [v for v in load_artifact("PaymentEscrow").storage_layout["storage"] if v["label"] == "_status"]
    _batch(url, [("anvil_setStorageAt", [escrow, hex(int(status["slot"])), "0x" + canaries.storage.value.hex()])])
    _batch(url, [("evm_mine", [])])
    return canaries


# ---------------------------------------------------------------------------------------------------- the test
def test_demo_puts_no_secret_on_chain_in_clear(tmp_path: Path, captured: Captured) -> None:
    with AnvilNode() as node:
        w3 = connect(node.rpc_url)
        result = run_demo(w3, tmp_path)
        sandbox, deployment = result.sandbox, result.sandbox.deployment
        parties = list(sandbox.parties)
        canaries = plant_canaries(node.rpc_url, deployment.escrow.address)
        dump = read_chain(node.rpc_url, w3, deployment, parties, sandbox.admin.account.address)
        paid = payments(result, dump)
        reader, flow = ChainReader(deployment), Flow(deployment)
        agreements = {number: reader.agreement(number) for number in dump.contract_numbers}
        invoices = {
            (p.number, p.seq): flow.finance(sandbox.a).receive_invoice(p.number, p.seq)
            for p in paid
            if p.status is VoucherStatus.RELEASED
        }
        invoice_records = {key: reader.invoice(*key) for key in invoices}
        payment_records = {(p.number, p.seq): reader.payment(p.number, p.seq) for p in paid}

    # ------------------------------------------------ what the demo did, and that we hold every secret of it
    assert sorted(agreements) == ["HT-DEMO-001", "HT-DEMO-002"]
    assert sorted(p.status for p in paid) == [VoucherStatus.RELEASED, VoucherStatus.RELEASED, VoucherStatus.RECLAIMED]
    assert sorted(p.secret for p in paid) == sorted(captured.key_secrets)  # every secret drawn is opened from chain
    assert sorted(p.redeemed_by or "" for p in paid) == ["", "presentPaymentKey", "requestPayment"]
    assert len(invoices) == 2
    documents = {keccak(document): EContract.from_document(document) for document in captured.documents}
    assert documents[agreements["HT-DEMO-001"].doc_hash].text == sample_contract("HT-DEMO-001").text
    assert documents[agreements["HT-DEMO-002"].doc_hash].text.startswith("Maintenance agreement HT-DEMO-002")
    result_hashes = {s.result_hash for a in agreements.values() for s in a.stages}
    assert {keccak(r) for r in captured.stage_results} == result_hashes
    assert len(captured.salts) == 4  # three applications (the vouchers carry their salts) and Party C's account

    # ------------------------------------------------ coverage of the scan
    assert dump.head > 30
    assert sum(1 for piece in dump.pieces if piece.where.endswith(" header")) == dump.head + 1
    assert len(dump.transactions) == dump.dumped_transactions
    assert {step.tx_hash.lower() for step in result.steps} <= {tx["hash"].lower() for tx in dump.transactions}
    assert len(dump.transactions) == sum(1 for piece in dump.pieces if piece.where.endswith(" input"))
    assert len(dump.logs) >= len(dump.transactions)
    assert dump.traces >= len(dump.transactions)
    for name, storage in dump.storage.items():
        used = {slot for slot, value in dump.final_values[name].items() if any(value)}
        dumped = {slot for slot, value in dump.dump_slots[name].items() if any(value)}
        unexplained = dumped - set(storage.labels)
        assert not unexplained, f"{name}: used slots the layout walk does not know: {sorted(map(hex, unexplained))}"
        assert used == dumped, f"{name}: the walk read other values than anvil_dumpState holds"
        assert all(dump.final_values[name][slot] == dump.dump_slots[name][slot] for slot in dumped)
    final = dump.final_values["CollabRegistry"]
    names = []
    for header, label in dump.storage["CollabRegistry"].strings.items():
        if label.startswith("_orgNames[") and any(final[header]):
            data = b"".join(final[slot] for slot in string_slots(header, final[header]))
            names.append(decode_string(final[header], data).decode())
    assert sorted(names) == sorted(p.name for p in parties)  # the walk finds and decodes strings in storage

    # ------------------------------------------------ positive controls: what is public is found where it belongs
    def assert_found(secret: Secret, *places: str) -> None:
        where = dump.where(secret)
        for place in places:
            assert any(place in w for w in where), f"{secret.label} not found in {place}: the scan reads nothing?"

    for number, agreement in agreements.items():
        assert_found(_key(f"document hash of {number}", agreement.doc_hash), " input", " data")  # not kept in state
        assert_found(_key(f"terms hash of {number}", agreement.terms_hash), " data")
    for key, record in invoice_records.items():
        assert_found(_key(f"invoice hash of {key}", record.invoice_hash), " input", " data", "PaymentEscrow slot")
        assert_found(_text(f"invoice ciphertext of {key}", record.ciphertext), " input", " data")
    for key, record in payment_records.items():
        assert record.key_ciphertext is not None
        assert record.key_commitment is not None
        assert_found(_key(f"bank account hash of {key}", record.account_hash), " input", " data", "PaymentEscrow slot")
        for ciphertext in (record.account_for_payer, record.account_for_institution):
            assert_found(_text(f"bank account ciphertext of {key}", ciphertext), " input", " data")
        assert_found(_text(f"payment key ciphertext of {key}", record.key_ciphertext), " input", " data")
        assert_found(_key(f"key commitment of {key}", record.key_commitment), " input", "PaymentEscrow slot")
    for party in parties:
        assert_found(_text(f"name of {party.name}", party.name), " input", "CollabRegistry slot _orgNames")
    # negative controls: planted after the demo, found where planted
    assert_found(canaries.calldata, " input")
    assert_found(canaries.log, " data", "call traces")
    assert_found(canaries.storage, "PaymentEscrow slot _status", "PaymentEscrow storage at block", "anvil_dumpState")

    # ------------------------------------------------ never on chain
    never = [
        _text("Party B's bank account", B_BANK_ACCOUNT),
        _text("Party C's bank account", C_BANK_ACCOUNT),
        *(_text(f"e-contract document {number}", documents[a.doc_hash].document()) for number, a in agreements.items()),
        *(_text(f"e-contract text {number}", documents[a.doc_hash].text) for number, a in agreements.items()),
        *(
            _text(f"stage specification {stage.specification!r}", stage.specification)
            for a in agreements.values()
            for stage in documents[a.doc_hash].stages
            if len(stage.specification) >= DOCUMENT_RUN
        ),
        *(_text(f"stage result {r!r}", r) for r in captured.stage_results),
        *(_text(f"invoice document {key}", invoice.canonical()) for key, invoice in invoices.items()),
        *(_text(f"invoice number {invoice.invoice_no}", invoice.invoice_no) for invoice in invoices.values()),
        *(_key(f"bank account salt {i}", salt) for i, salt in enumerate(captured.salts)),
        *(_key(f"reclaimed payment key of {p.number}/{p.seq}", p.secret) for p in paid if p.redeemed_in is None),
        *(_key(f"private key of {p.name} {i}", bytes(a.key)) for p in parties for i, a in enumerate(p.all_accounts)),
        *(_key(f"encryption key of {party.name}", party.encryption_key.export_secret()) for party in parties),
        _key("governance key", bytes(sandbox.admin.account.key)),
    ]
    leaks = {secret.label: where for secret in never if (where := dump.where(secret))}
    assert not leaks, f"secrets on chain in clear: {json.dumps(leaks, indent=1)[:4000]}"

    # ------------------------------------------------ redeemed payment keys: only from their redemption on
    for p in paid:
        if p.redeemed_in is None:
            continue
        secret = _key(f"payment key of {p.number}/{p.seq}", p.secret)
        early = dump.where(secret, before=p.redeemed_in)
        assert not early, f"{secret.label} on chain before its redemption (block {p.redeemed_in}): {early}"
        assert dump.first_block(secret) == p.redeemed_in
        assert_found(secret, f"block {p.redeemed_in} tx")


def test_storage_walk_reads_strings_and_mappings() -> None:
    """The walk's slot arithmetic on known vectors (Solidity's layout rules), without a chain."""
    storage = walk_layout("CollabRegistry", "0x" + "00" * 20, lambda t: [7] if t == "t_uint32" else [])
    slot = int.from_bytes(keccak((7).to_bytes(32, "big") + (3).to_bytes(32, "big")), "big")  # _orgNames is slot 3
    assert storage.strings[slot] == "_orgNames[7]"
    short = b"Party B Supplies".ljust(31, b"\x00") + bytes([2 * 16])
    assert string_slots(slot, short) == []
    assert decode_string(short, b"") == b"Party B Supplies"
    long = (2 * 40 + 1).to_bytes(32, "big")
    base = int.from_bytes(keccak(slot.to_bytes(32, "big")), "big")
    assert string_slots(slot, long) == [base, base + 1]
    assert decode_string(long, b"x" * 64) == b"x" * 40
    assert Secret("s", b"k" * 20, KEY_RUN).found_in(b"..." + (b"k" * 20).hex().upper().encode())
    assert list(_leaves({"0x01": ["0xff", "text", 258]})) == [b"\x01", b"\xff", b"text", b"\x01\x02"]
