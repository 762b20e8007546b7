"""Fuzzing every decoder and parser that takes outside input: each bad input must give a named error (a subclass of
:class:`~collab_py.exceptions.CollabError`), never another exception, a traceback or a hang.

Profiles (``COLLAB_PROFILE``): ``ci`` (default) runs a few hundred examples per target; ``long`` runs thousands.
Explicit ``@example`` inputs below are the cases that once broke a target; they run in every profile.

What is tried, per target:

- ``crypto.open_sealed`` / ``decode_payload`` / ``EncryptionKey.decrypt`` (→ ``DecryptionError``,
  ``PayloadBindingError``): random bytes of 0-400 bytes; valid ciphertexts of random payloads (bank accounts,
  payment keys, invoice documents) truncated at any length, with one bit flipped anywhere, with random bytes
  appended, prepended or overwriting a slice (a change must fail, or give back the very same payload: the ECIES
  ephemeral key may be re-encoded in an equivalent form); valid ECIES ciphertexts of random plaintexts and of
  plaintexts with a well-formed header (any version and kind byte, random binding, random body); valid payloads
  with every other version or kind byte, opened as every payload type; payloads opened with another key or
  expected under another binding (chain id, escrow, voucher id).
- ``invoices.Invoice.from_canonical`` (→ ``InvoiceMalformed``): random bytes; random JSON values (nested
  objects and arrays, huge integers, NaN and Infinity, any text); objects with the invoice's keys and random
  values; valid invoices in canonical form (must round-trip), in another key order or with whitespace, and with
  a bit flipped, truncated or with bytes inserted; JSON nested 100,000 deep; integers of 5,000 digits; lone
  UTF-16 surrogates; a UTF-8 byte order mark.
- ``econtract.EContract.from_document`` (→ ``EContractError``): random bytes; random JSON values; e-contracts with
  one field (or a stage's field) replaced by a random JSON value; valid e-contracts in canonical form (must
  round-trip) and with a bit flipped, truncated or with bytes inserted (whatever still reads must be canonical).
- ``documents.DocumentStore`` (→ ``InvalidDocumentHash``, ``DocumentNotFound``, ``DocumentCorrupted``,
  ``DocumentNotText``, ``DocumentHashMismatch``): random content of 0-4,000 bytes and random text round-trip
  (``put``/``get``, ``put_text``/``get_text``, idempotent ``put``); hashes of every length but 32, and
  non-bytes hashes (str, bytearray, int, None); random 32-byte hashes that are not stored; stored files with a
  bit flipped, truncated, extended, emptied or replaced by other content (then repaired by ``put``); non-UTF-8
  content read as text; content checked against another hash.
- ``manifest.Manifest.load`` (→ ``ManifestError``): random bytes; random JSON; objects with the manifest's keys
  and random values; valid manifests with one field replaced by a random JSON value (valid ones must round-trip);
  a missing file, a folder, JSON nested 100,000 deep, 5,000-digit integers, non-UTF-8 bytes.
- ``settings.CollabSettings.load`` (→ ``SettingsError``): random values (any text, numbers in every notation,
  NaN, infinities, 5,000 digits, URLs of every scheme, broken IPv6 hosts) in any subset of the ten ``COLLAB_*``
  variables; keyword overrides of random types (None, bools, huge integers, NaN, text, bytes, lists, dicts) for
  every setting, and unknown settings; a ``.env`` file of random bytes or of random ``COLLAB_*=`` lines.
- ``keys.load_keystore`` and ``Keyring.account`` / ``Keyring.encryption_key`` (→ ``KeystoreError``
  subclasses, ``FileTooLarge`` beyond 64 KiB): random bytes; random JSON; valid pbkdf2 and scrypt keystores (v3)
  with one field anywhere replaced by a random JSON value or deleted, read with the right and a wrong passphrase;
  key derivations asking for hours of work or terabytes of memory (pbkdf2 ``c`` of 10**9, scrypt ``n`` of 2**30,
  ``dklen`` of 10**9); JSON nested 100,000 deep.
- ``presentation.parse_amount`` (→ ``InvalidAmount``), ``cli.context.parse_address`` / ``parse_hex`` (→
  ``InvalidInput``): any text; decimal notations (signs, separators, exponents up to 10**10, sNaN, NaN, Infinity,
  more decimals than the token has, up to 80 significant digits, which must convert exactly); addresses of every
  length, with and without 0x, in every case (bad checksums); hex of odd lengths, with whitespace, of the wrong
  length.
- ``types.contract_number`` (→ ``InvalidContractNumber``): any text, lone surrogates (the bytes of a command-line
  argument that are not UTF-8), empty, NUL, more than 32 bytes, rich markup.
- the CLI's file parsers (→ ``InvalidInput``, ``InvalidAmount``, ``ChartError``): terms files (``contract
  propose``), account files (``payment confirm-assignment``) and charts of accounts (``listen --chart``) of random
  bytes, random JSON, or their own keys with random values (a chart that loads must also format every account name).
- whole ``collab`` invocations (``typer.testing.CliRunner``) against no node (``http://127.0.0.1:9``): 24
  commands (contract, stage, settlement, payment, org, keys, deploy, vouchers, ledger, escrow, demo) with random
  contract numbers (rich markup such as ``[/]``, arguments that are not UTF-8), amounts, addresses, sequence and
  org numbers, hex, key names, terms and account files, and random ``COLLAB_*`` setting values: exit code 1 with
  one ``error:`` line naming a collab error (and at most one ``hint:`` line), or a usage error (exit code 2);
  never another exception, a traceback or a hang.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner
from web3 import Web3

from collab_py.chain.manifest import Manifest, ManifestError
from collab_py.cli import app
from collab_py.cli import contract as cli_contract
from collab_py.cli.context import InvalidInput, parse_address, parse_hex
from collab_py.cli.payment import _assignee_account
from collab_py.domain import crypto, keys
from collab_py.domain.crypto import (
    BankAccount,
    DecryptionError,
    EncryptionKey,
    InvoiceDocument,
    PayloadBindingError,
    PaymentKey,
    VoucherBinding,
)
from collab_py.domain.documents import (
    DocumentCorrupted,
    DocumentHashMismatch,
    DocumentNotFound,
    DocumentNotText,
    DocumentStore,
    InvalidDocumentHash,
)
from collab_py.domain.econtract import EContract, EContractError, EContractStage
from collab_py.domain.einvoice import Invoice, InvoiceLine, InvoiceMalformed
from collab_py.domain.keys import Keyring, KeystoreError, load_keystore
from collab_py.domain.presentation import AMOUNT_PATTERN, InvalidAmount, parse_amount
from collab_py.domain.types import InvalidContractNumber, contract_number, contract_number_text
from collab_py.files import FileTooLarge
from collab_py.listener.handlers.accounting import ChartError, ChartOfAccounts
from collab_py.settings import CollabSettings, SettingsError
from support import CHEAP_KDF

# ---------------------------------------------------------------------------------------------------- profiles
settings.register_profile(
    "collab-ci",
    max_examples=300,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "collab-long",
    max_examples=5_000,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = "collab-long" if os.environ.get("COLLAB_PROFILE") == "long" else "collab-ci"
settings.load_profile(PROFILE)
#: Whole CLI invocations are slower (about 30 ms each): fewer of them.
CLI_EXAMPLES = 200 if PROFILE == "collab-ci" else 2_000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# ---------------------------------------------------------------------------------------------------- strategies
#: Text an environment variable or a command line can carry: no NUL, no lone surrogates.
ENV_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=80)
#: Every JSON value: nested objects and arrays of null, bools, huge integers, any float (NaN, infinities) and text.
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.floats(),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
#: Numbers as text, the way people (and mistakes) write them.
SPECIAL_NUMBERS = [
    "0", "-1", "1", "1.5", "1e309", "-1e309", "1e-999999", "1e999999", "1e9999999999", "nan", "NaN", "sNaN", "-sNaN",
    "inf", "-inf", "Infinity", "4294967295", "4294967296", "2**32", "0x10", "1_000", "1,000.50", "auto", "true",
    "false", "yes", "on", "9" * 5000, " 1 ", "",
]  # fmt: skip
NUMBER_TEXT = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.integers().map(str),
    st.floats().map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.from_regex(r"\A[+-]?[0-9,_]{0,12}(\.[0-9]{0,6})?([eE][+-]?[0-9]{1,10})?\Z"),
)
URL_TEXT = st.one_of(
    st.sampled_from(["http://127.0.0.1:9", "https://[::1", "ws://", "wss://host:99999", "ftp://x", "http:/x", "x"]),
    st.builds(lambda scheme, rest: f"{scheme}{rest}", st.sampled_from(["http://", "https://", "ws://", ""]), ENV_TEXT),
)
HEX_TEXT = st.one_of(
    st.binary(max_size=70).map(lambda raw: raw.hex()),
    st.binary(max_size=70).map(lambda raw: "0x" + raw.hex()),
    st.binary(max_size=70).map(lambda raw: " 0x" + raw.hex().upper() + "\n"),
    st.from_regex(r"\A(0x)?[0-9a-fA-FgG ]{0,80}\Z"),
)
ADDRESS_TEXT = st.one_of(
    st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex()),
    st.binary(min_size=20, max_size=20).map(lambda raw: Web3.to_checksum_address(raw)),
    st.binary(min_size=20, max_size=20).map(lambda raw: raw.hex()),
    st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex().upper()),
    st.builds(
        lambda raw, flip: _flip_case(Web3.to_checksum_address(raw), flip),
        st.binary(min_size=20, max_size=20),
        st.integers(2, 41),
    ),
    HEX_TEXT,
    ENV_TEXT,
)


def _flip_case(text: str, index: int) -> str:
    return text[:index] + text[index].swapcase() + text[index + 1 :]


#: A command-line argument that was not UTF-8: Python decodes its bytes to lone surrogates (surrogateescape).
NOT_UTF8_ARG = st.text(
    st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF) | st.characters(max_codepoint=0x7F),
    min_size=1,
    max_size=6,
)
#: Contract numbers: valid ones, too long, empty, NUL, rich markup, any text, bytes that are not UTF-8.
CONTRACT_NUMBER = st.one_of(
    NOT_UTF8_ARG,
    st.from_regex(r"\AHT-[0-9]{4}-[0-9]{4}\Z"),
    st.sampled_from(["", "[/]", "[bold]x", "\\[/]", "x" * 33, "a\x00b", "HT-[red]1[/red]", "é" * 17, "-x"]),
    ENV_TEXT,
)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    path.chmod(0o600)  # private, as a keystore must be
    return path


@contextlib.contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="collab-fuzz-") as name:
        yield Path(name)


# ---------------------------------------------------------------------------------------------------- crypto
KEY = EncryptionKey(bytes.fromhex("11" * 32))
OTHER_KEY = EncryptionKey(bytes.fromhex("22" * 32))
BOUND = VoucherBinding(chain_id=31337, escrow=b"\x33" * 20, voucher_id=b"\x44" * 32)
MODELS: tuple[type[BankAccount] | type[PaymentKey] | type[InvoiceDocument], ...] = (
    BankAccount,
    PaymentKey,
    InvoiceDocument,
)

BINDINGS = st.builds(
    VoucherBinding,
    chain_id=st.integers(0, 2**64 - 1),
    escrow=st.binary(min_size=20, max_size=20),
    voucher_id=st.binary(min_size=32, max_size=32),
)


def _payloads(binding: st.SearchStrategy[VoucherBinding]) -> st.SearchStrategy[Any]:
    account = st.text(min_size=1, max_size=256)
    return st.one_of(
        st.builds(BankAccount, binding=binding, salt=st.binary(min_size=32, max_size=32), account=account),
        st.builds(
            PaymentKey,
            binding=binding,
            contract_no=st.binary(min_size=32, max_size=32),
            amount=st.integers(1, 2**128 - 1),
            payer_org=st.integers(1, 2**32 - 1),
            expiry=st.integers(0, 2**64 - 1),
            secret=st.binary(min_size=32, max_size=32),
            salt=st.binary(min_size=32, max_size=32),
            bank_account=account,
        ),
        st.builds(InvoiceDocument, binding=binding, document=st.binary(min_size=1, max_size=2_000)),
    )


PAYLOADS = _payloads(st.just(BOUND))


def _open_any(ciphertext: bytes, key: EncryptionKey = KEY, expected: VoucherBinding = BOUND) -> list[Any]:
    """Opens ``ciphertext`` as every payload type; returns what opened. Any error but ours fails the test."""
    opened = []
    for model in MODELS:
        with contextlib.suppress(DecryptionError, PayloadBindingError):
            opened.append(crypto.open_sealed(key, ciphertext, model, expected))
    return opened


@given(raw=st.binary(max_size=400))
@example(raw=b"")
@example(raw=b"\x04" + b"\x00" * 64)
@example(raw=b"\x02" + b"\xff" * 32 + b"\x00" * 64)
def test_random_bytes_never_decrypt(raw: bytes) -> None:
    with pytest.raises(DecryptionError):
        KEY.decrypt(raw)
    assert _open_any(raw) == []
    for model in MODELS:
        try:
            decoded = crypto.decode_payload(raw, model, BOUND)
        except DecryptionError:
            continue
        assert isinstance(decoded, model)
        assert crypto.encode_payload(decoded) == raw  # what decodes is exactly what encodes to it


@given(payload=_payloads(BINDINGS))
def test_payloads_round_trip(payload: Any) -> None:
    """The positive control: what is sealed opens, as its own type and binding only."""
    sealed = crypto.seal(KEY.public_key, payload)
    assert crypto.open_sealed(KEY, sealed, type(payload), payload.binding) == payload
    for model in MODELS:
        if model is not type(payload):
            with pytest.raises(DecryptionError):
                crypto.open_sealed(KEY, sealed, model, payload.binding)
    with pytest.raises(DecryptionError):
        crypto.open_sealed(OTHER_KEY, sealed, type(payload), payload.binding)


TAMPERINGS = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(b"")),
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7).map(lambda bit: bytes([1 << bit]))),
    st.tuples(st.just("append"), st.just(0), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("prepend"), st.just(0), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("overwrite"), st.integers(0, 10_000), st.binary(min_size=1, max_size=40)),
)


def _tamper(data: bytes, how: str, at: int, extra: bytes) -> bytes:
    if how == "truncate":
        return data[: at % len(data)]
    if how == "flip":
        index = at % len(data)
        return data[:index] + bytes([data[index] ^ extra[0]]) + data[index + 1 :]
    if how == "append":
        return data + extra
    if how == "prepend":
        return extra + data
    index = at % len(data)
    return data[:index] + extra + data[index + len(extra) :]


@given(payload=PAYLOADS, tampering=TAMPERINGS)
@example(payload=BankAccount(binding=BOUND, salt=b"\x00" * 32, account="x"), tampering=("flip", 0, b"\x02"))
def test_tampered_ciphertexts_fail_or_give_the_same_payload(payload: Any, tampering: tuple[str, int, bytes]) -> None:
    sealed = crypto.seal(KEY.public_key, payload)
    tampered = _tamper(sealed, *tampering)
    assume(tampered != sealed)
    # a change that gives the same payload back would be an equivalent encoding of the ephemeral key
    assert _open_any(tampered) in ([], [payload])
    try:
        plaintext = KEY.decrypt(tampered)
    except DecryptionError:
        return
    assert plaintext == crypto.encode_payload(payload)


HEADERS = st.builds(
    lambda version, kind, binding, body: bytes((version, kind)) + binding.digest() + body,
    st.one_of(st.just(crypto.PAYLOAD_VERSION), st.integers(0, 255)),
    st.one_of(st.sampled_from([1, 2, 3]), st.integers(0, 255)),
    st.one_of(st.just(BOUND), BINDINGS),
    st.binary(max_size=200),
)


@given(plaintext=st.one_of(st.binary(max_size=300), HEADERS))
@example(plaintext=bytes((crypto.PAYLOAD_VERSION, 2)) + BOUND.digest() + b"\x00" * 124 + b"\xff")  # account not UTF-8
@example(plaintext=bytes((crypto.PAYLOAD_VERSION, 2)) + BOUND.digest() + b"\x00" * 100)  # cut inside the salt
@example(plaintext=bytes((crypto.PAYLOAD_VERSION, 1)) + BOUND.digest() + b"\x00" * 31)
@example(plaintext=bytes((crypto.PAYLOAD_VERSION, 3)) + BOUND.digest())
@example(plaintext=bytes((1, 1)) + BOUND.digest() + b"\x00" * 40)  # version 1's layout is refused
def test_valid_ciphertexts_of_random_plaintexts(plaintext: bytes) -> None:
    sealed = crypto.encrypt(KEY.public_key, plaintext)
    assert KEY.decrypt(sealed) == plaintext
    for payload in _open_any(sealed):
        assert crypto.encode_payload(payload) == plaintext
    for model in MODELS:
        try:
            crypto.open_sealed(KEY, sealed, model, BOUND)
        except PayloadBindingError:
            assert plaintext[2:34] != BOUND.digest()
        except DecryptionError:
            pass


@given(payload=PAYLOADS, version=st.integers(0, 255), kind=st.integers(0, 255), other=BINDINGS)
def test_wrong_versions_kinds_and_bindings(payload: Any, version: int, kind: int, other: VoucherBinding) -> None:
    raw = bytearray(crypto.encode_payload(payload))
    raw[0], raw[1] = version, kind
    sealed = crypto.encrypt(KEY.public_key, bytes(raw))
    for model in MODELS:
        if (version, kind) != (crypto.PAYLOAD_VERSION, model.KIND):
            with pytest.raises(DecryptionError):
                crypto.open_sealed(KEY, sealed, model, BOUND)
            continue
        try:  # the body of another payload type may or may not parse as this one
            opened = crypto.open_sealed(KEY, sealed, model, BOUND)
        except DecryptionError:
            assert model is not type(payload)
            continue
        assert crypto.encode_payload(opened) == bytes(raw)
        assert model is not type(payload) or opened == payload
    assume(other != BOUND)
    with pytest.raises(PayloadBindingError):
        crypto.open_sealed(KEY, crypto.seal(KEY.public_key, payload), type(payload), other)


# ---------------------------------------------------------------------------------------------------- invoices
@st.composite
def invoices(draw: st.DrawFn) -> Invoice:
    amount = draw(st.integers(1, 2**128 - 1))
    payer = draw(st.integers(1, 2**32 - 1))
    payee = draw(st.integers(1, 2**32 - 1).filter(lambda org: org != payer))
    cut = draw(st.integers(0, amount))
    one = (InvoiceLine(description="all", amount=amount),)
    two = (InvoiceLine(description="first", amount=cut), InvoiceLine(description="rest", amount=amount - cut))
    lines = draw(st.sampled_from([(), one, two]))
    return Invoice(
        invoice_no=draw(st.text(min_size=1, max_size=64)),
        contract_no=draw(
            st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=8)
        ),
        seq=draw(st.integers(1, 255)),
        amount=amount,
        tax=draw(st.integers(0, amount)),
        asset=Web3.to_checksum_address(draw(st.binary(min_size=20, max_size=20))),
        payer_org=payer,
        payee_org=payee,
        issued_at=draw(st.integers(0, 2**64 - 1)),
        lines=lines,
    )


INVOICE_KEYS = list(Invoice.model_fields)


def _from_canonical(document: bytes) -> Invoice | None:
    """The invoice, if ``document`` is one; ``None`` for a named refusal; anything else fails the test."""
    try:
        invoice = Invoice.from_canonical(document)
    except InvoiceMalformed:
        return None
    assert invoice.canonical() == document
    return invoice


@given(invoice=invoices())
def test_invoices_round_trip(invoice: Invoice) -> None:
    assert Invoice.from_canonical(invoice.canonical()) == invoice
    relaxed = json.dumps(invoice.model_dump(mode="json"), indent=1).encode()
    assert _from_canonical(relaxed) is None  # valid, but not canonical


@given(document=st.binary(max_size=400))
@example(document=b"[" * 100_000)
@example(document=b'{"a":' * 50_000)
@example(document=b"1" * 5_000)
@example(document=b'"\\ud800"')
@example(document=b"\xef\xbb\xbf{}")
@example(document=b"NaN")
def test_invoice_random_bytes(document: bytes) -> None:
    _from_canonical(document)


@given(value=JSON_VALUES)
def test_invoice_random_json(value: Any) -> None:
    _from_canonical(json.dumps(value).encode())
    _from_canonical(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


@given(invoice=invoices(), key=st.sampled_from([*INVOICE_KEYS, "extra"]), value=JSON_VALUES)
@example(invoice=Invoice.model_construct(), key="invoice_no", value="\ud800")
@example(invoice=Invoice.model_construct(), key="amount", value="9" * 5_000)
@example(invoice=Invoice.model_construct(), key="lines", value=[{"description": "\udfff", "amount": "1"}])
def test_invoice_fields_with_random_values(invoice: Invoice, key: str, value: Any) -> None:
    document = invoice.model_dump(mode="json") if invoice.model_fields_set else {}
    document[key] = value
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    _from_canonical(text.encode("utf-8", "surrogatepass"))
    _from_canonical(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())


@given(invoice=invoices(), tampering=TAMPERINGS)
def test_tampered_invoice_documents(invoice: Invoice, tampering: tuple[str, int, bytes]) -> None:
    document = invoice.canonical()
    tampered = _tamper(document, *tampering)
    assume(tampered != document)
    parsed = _from_canonical(tampered)
    assert parsed is None or parsed != invoice


# ---------------------------------------------------------------------------------------------------- e-contracts
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
econtracts = st.builds(
    EContract,
    number=st.from_regex(r"\A[A-Z]{2}-[0-9]{1,10}\Z"),
    party_a=st.integers(1, 2**32 - 1),
    party_b=st.integers(1, 2**32 - 1),
    asset=st.binary(min_size=20, max_size=20).map(Web3.to_checksum_address),
    text=TEXT,
    stages=st.lists(
        st.builds(EContractStage, specification=TEXT.filter(bool), amount=st.integers(1, 2**120)),
        min_size=1,
        max_size=4,
    ).map(tuple),
)
ECONTRACT_KEYS = [*EContract.model_fields, "extra"]


def _read_econtract(document: bytes) -> EContract | None:
    """The e-contract, if ``document`` is one; ``None`` for a named refusal; anything else fails the test."""
    try:
        econtract = EContract.from_document(document)
    except EContractError:
        return None
    assert econtract.document() == document
    return econtract


@given(econtract=econtracts)
def test_econtracts_round_trip(econtract: EContract) -> None:
    assert _read_econtract(econtract.document()) == econtract


@given(document=st.binary(max_size=400))
@example(document=b"[" * 100_000)
@example(document=b'{"stages":' * 50_000)
@example(document=b'"\\ud800"')
@example(document=b"\xef\xbb\xbf{}")
def test_econtract_random_bytes(document: bytes) -> None:
    _read_econtract(document)


@given(value=JSON_VALUES)
def test_econtract_random_json(value: Any) -> None:
    _read_econtract(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


@given(econtract=econtracts, key=st.sampled_from(ECONTRACT_KEYS), stage_key=st.none() | st.sampled_from(
    ["specification", "amount", "extra"]), value=JSON_VALUES | NUMBER_TEXT)  # fmt: skip
@example(econtract=EContract.model_construct(), key="stages", stage_key="amount", value="9" * 5_000)
@example(econtract=EContract.model_construct(), key="stages", stage_key="amount", value=str(2**128))
@example(econtract=EContract.model_construct(), key="number", stage_key=None, value="\udfff")
def test_econtract_fields_with_random_values(econtract: EContract, key: str, stage_key: str | None, value: Any) -> None:
    document = econtract.model_dump(mode="json") if econtract.model_fields_set else {"stages": [{}]}
    if key == "stages" and stage_key is not None:
        document["stages"][0][stage_key] = value
    else:
        document[key] = value
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    _read_econtract(text.encode("utf-8", "surrogatepass"))


@given(econtract=econtracts, tampering=TAMPERINGS)
def test_tampered_econtract_documents(econtract: EContract, tampering: tuple[str, int, bytes]) -> None:
    document = econtract.document()
    tampered = _tamper(document, *tampering)
    assume(tampered != document)
    read = _read_econtract(tampered)
    assert read is None or read.doc_hash != econtract.doc_hash


# ---------------------------------------------------------------------------------------------------- documents
@given(content=st.binary(max_size=4_000), text=st.text(max_size=300))
def test_documents_round_trip(content: bytes, text: str) -> None:
    with _folder() as folder:
        store = DocumentStore(folder)
        doc_hash = store.put(content)
        assert doc_hash == keccak(content)
        assert store.has(doc_hash)
        assert store.get(doc_hash) == content
        assert store.put(content) == doc_hash  # idempotent
        text_hash = store.put_text(text)
        assert store.get_text(text_hash) == text
        store.verify(content, doc_hash)
        with pytest.raises(DocumentHashMismatch):
            store.verify(content + b"x", doc_hash)


@given(
    doc_hash=st.one_of(
        st.binary(max_size=80).filter(lambda raw: len(raw) != 32),
        st.binary(min_size=32, max_size=32).map(bytearray),
        st.binary(min_size=32, max_size=32).map(lambda raw: raw.hex()),
        st.integers(),
        st.none(),
    )
)
def test_document_hashes_of_the_wrong_form(doc_hash: Any) -> None:
    with _folder() as folder:
        store = DocumentStore(folder)
        for use in (store.path, store.get, store.has, store.get_text):
            with pytest.raises(InvalidDocumentHash):
                use(doc_hash)


@given(doc_hash=st.binary(min_size=32, max_size=32))
def test_unknown_documents(doc_hash: bytes) -> None:
    with _folder() as folder:
        store = DocumentStore(folder)
        assert not store.has(doc_hash)
        with pytest.raises(DocumentNotFound):
            store.get(doc_hash)


@given(content=st.binary(min_size=1, max_size=2_000), tampering=TAMPERINGS, other=st.binary(max_size=100))
def test_tampered_documents_are_detected(content: bytes, tampering: tuple[str, int, bytes], other: bytes) -> None:
    with _folder() as folder:
        store = DocumentStore(folder)
        doc_hash = store.put(content)
        for altered in (_tamper(content, *tampering), b"", other):
            if altered == content:
                continue
            store.path(doc_hash).write_bytes(altered)
            with pytest.raises(DocumentCorrupted):
                store.get(doc_hash)
            with pytest.raises(DocumentCorrupted):
                store.get_text(doc_hash)
            assert store.put(content) == doc_hash  # repairs the copy
            assert store.get(doc_hash) == content


@given(content=st.binary(min_size=1, max_size=200))
@example(content=b"\xff")
@example(content=b"\xed\xa0\x80")  # an encoded surrogate
def test_documents_that_are_not_text(content: bytes) -> None:
    with _folder() as folder:
        store = DocumentStore(folder)
        doc_hash = store.put(content)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            with pytest.raises(DocumentNotText):
                store.get_text(doc_hash)
        else:
            assert store.get_text(doc_hash) == text


# ---------------------------------------------------------------------------------------------------- manifest
@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    def address() -> str:
        return Web3.to_checksum_address(draw(st.binary(min_size=20, max_size=20)))

    return {
        "chain_id": draw(st.integers(1, 2**64)),
        "registry": address(),
        "escrow": address(),
        "asset": address(),
        "institution_org": draw(st.integers(1, 2**32 - 1)),
        "deployment_block": draw(st.integers(0, 2**64)),
        "governance": address(),
        "evm_version": draw(st.none() | st.sampled_from(["paris", "cancun"])),
    }


def _load_manifest(path: Path) -> Manifest | None:
    try:
        return Manifest.load(path)
    except ManifestError:
        return None


@given(data=st.one_of(st.binary(max_size=400), JSON_VALUES.map(lambda value: json.dumps(value).encode())))
@example(data=b"[" * 100_000)
@example(data=b'{"chain_id": ' + b"1" * 5_000 + b"}")
@example(data=b"\xff\xfe{}")
def test_manifest_random_bytes_and_json(data: bytes) -> None:
    with _folder() as folder:
        _load_manifest(_write(folder, "manifest.json", data))


@given(manifest=manifests(), key=st.sampled_from([*Manifest.model_fields, "extra"]), value=JSON_VALUES)
def test_manifest_fields_with_random_values(manifest: dict[str, Any], key: str, value: Any) -> None:
    with _folder() as folder:
        path = _write(folder, "manifest.json", json.dumps(manifest).encode())
        loaded = Manifest.load(path)
        assert loaded.model_dump() == manifest  # the positive control
        assert Manifest.load(loaded.save(folder / "again.json")) == loaded
        _load_manifest(_write(folder, "manifest.json", json.dumps(manifest | {key: value}).encode()))
        _load_manifest(
            _write(folder, "manifest.json", json.dumps({k: v for k, v in manifest.items() if k != key}).encode())
        )


def test_manifest_paths_that_are_no_manifest(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.json", tmp_path):
        with pytest.raises(ManifestError):
            Manifest.load(path)


# ---------------------------------------------------------------------------------------------------- settings
SETTING_VARIABLES = [f"COLLAB_{name.upper()}" for name in CollabSettings.model_fields]
ENV_VALUES = st.one_of(ENV_TEXT, NUMBER_TEXT, URL_TEXT)


@contextlib.contextmanager
def _environment(values: dict[str, str], dotenv: bytes | None = None) -> Iterator[None]:
    """Only ``values`` in the ``COLLAB_*`` settings variables, in a folder with ``dotenv`` as ``.env``."""
    with _folder() as folder, pytest.MonkeyPatch.context() as patch:
        for name in SETTING_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in values.items():
            patch.setenv(name, value)
        if dotenv is not None:
            _write(folder, ".env", dotenv)
        patch.chdir(folder)
        yield


def _load_settings(**overrides: Any) -> CollabSettings | None:
    try:
        return CollabSettings.load(**overrides)
    except SettingsError as error:
        message = str(error)
        assert message
        assert "\n" not in message
        assert "COLLAB_" in message or "unknown settings" in message or "settings file" in message
        return None


@given(values=st.dictionaries(st.sampled_from(SETTING_VARIABLES), ENV_VALUES, max_size=10))
@example(values={"COLLAB_RPC_URL": "http://[::1"})
@example(values={"COLLAB_RECEIPT_TIMEOUT": "nan", "COLLAB_CONFIRMATIONS": "9" * 5_000})
@example(values={"COLLAB_ORG_ID": "4294967296", "COLLAB_POA": "maybe", "COLLAB_PASSPHRASE_ENV": " "})
def test_settings_from_random_environment_values(values: dict[str, str]) -> None:
    with _environment(values):
        _load_settings()


OVERRIDE_VALUES = st.one_of(
    JSON_LEAVES, st.binary(max_size=20), st.lists(JSON_LEAVES, max_size=3), st.builds(Path, ENV_TEXT), ENV_VALUES
)


@given(
    overrides=st.dictionaries(st.sampled_from(list(CollabSettings.model_fields)), OVERRIDE_VALUES, max_size=10),
    unknown=st.dictionaries(
        st.from_regex(r"\A[a-z][a-z_]{0,15}\Z").filter(lambda key: key not in CollabSettings.model_fields),
        JSON_LEAVES,
        max_size=2,
    ),
)
def test_settings_from_random_overrides(overrides: dict[str, Any], unknown: dict[str, Any]) -> None:
    with _environment({}):
        settings_ = _load_settings(**overrides)
        if unknown:
            assert _load_settings(**overrides, **unknown) is None
        if not overrides:
            assert settings_ is not None  # the positive control: defaults are valid


DOTENV_LINES = st.lists(
    st.builds(lambda name, value: f"{name}={value}", st.sampled_from(SETTING_VARIABLES), ENV_VALUES), max_size=6
).map(lambda lines: "\n".join(lines).encode(errors="surrogatepass"))


@given(dotenv=st.one_of(st.binary(max_size=300), DOTENV_LINES))
@example(dotenv=b"COLLAB_RPC_URL=\xff\xfe\n")
@example(dotenv=b'COLLAB_CONFIRMATIONS="unterminated\n')
def test_settings_from_random_dotenv_files(dotenv: bytes) -> None:
    with _environment({}, dotenv):
        _load_settings()


# ---------------------------------------------------------------------------------------------------- keystores
PASSPHRASE = "fuzz passphrase"
SECRET = bytes.fromhex("5a" * 32)
#: Cheap but real keystores (v3): pbkdf2 with 2 rounds, scrypt with n=2 (the module lowers the floor of
#: eth-account's defaults for them; test_keys.py tests the floor).
KEYSTORES = {kdf: dict(Account.encrypt(SECRET, PASSPHRASE, kdf=kdf, iterations=2)) for kdf in ("pbkdf2", "scrypt")}


@pytest.fixture(scope="module", autouse=True)
def _cheap_keystores() -> Iterator[None]:
    """The module's keystores load (module-scoped: Hypothesis reuses a test's fixtures across its examples)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keys, "KDF_FLOOR", CHEAP_KDF)
        yield


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [prefix] + [path for key, item in value.items() for path in _leaf_paths(item, (*prefix, key))]
    return [prefix]


def _replaced(document: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    copy = dict(document)
    if delete and len(path) == 1:
        copy.pop(path[0], None)
    else:
        copy[path[0]] = _replaced(copy[path[0]], path[1:], value, delete)
    return copy


def _load_keystore(path: Path, passphrase: str) -> bytes | None:
    """The key, or ``None`` for a named refusal; also loads it as a keyring's account and encryption key."""
    ring = Keyring(path.parent)
    for load in (ring.account, ring.encryption_key):
        with contextlib.suppress(KeystoreError, FileTooLarge):
            load(path.stem, passphrase)
    try:
        key = load_keystore(path, passphrase)
    except (KeystoreError, FileTooLarge):  # FileTooLarge: more than 64 KiB
        return None
    assert isinstance(key, bytes)
    assert len(key) == 32
    return key


@given(data=st.one_of(st.binary(max_size=300), JSON_VALUES.map(lambda value: json.dumps(value).encode())))
@example(data=b"[" * 100_000)
@example(data=b'{"crypto": ' * 50_000)
@example(data=b'{"crypto": {"kdf": "pbkdf2", "kdfparams": {"c": ' + b"1" * 5_000 + b"}}}")
def test_keystore_random_bytes_and_json(data: bytes) -> None:
    with _folder() as folder:
        assert _load_keystore(_write(folder, "key.json", data), PASSPHRASE) is None


@st.composite
def mutated_keystores(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kdf = draw(st.sampled_from(sorted(KEYSTORES)))
    keystore = KEYSTORES[kdf]
    path = draw(st.sampled_from(_leaf_paths(keystore)[1:]))
    value = draw(st.one_of(JSON_VALUES, st.integers(0, 2**40), st.sampled_from(["pbkdf2", "scrypt", "hmac-sha512"])))
    return kdf, _replaced(keystore, path, value, draw(st.booleans()))


def _kdf(kdf: str, **params: Any) -> tuple[str, dict[str, Any]]:
    keystore = KEYSTORES[kdf]
    crypto_ = keystore["crypto"]
    return kdf, keystore | {"crypto": crypto_ | {"kdfparams": crypto_["kdfparams"] | params}}


@settings(deadline=timedelta(seconds=30))  # within the limits, a derivation may take seconds; beyond, none starts
@given(mutated=mutated_keystores(), wrong=st.text(min_size=1, max_size=20))
@example(mutated=_kdf("pbkdf2", c=10**9), wrong="x")
@example(mutated=_kdf("pbkdf2", dklen=10**9), wrong="x")
@example(mutated=_kdf("scrypt", n=2**30), wrong="x")
@example(mutated=_kdf("scrypt", n=2**20, r=2**10), wrong="x")
@example(mutated=_kdf("scrypt", n=2**16, p=2**20), wrong="x")
@example(mutated=_kdf("scrypt", dklen=2**40), wrong="x")
def test_keystores_with_a_field_replaced(mutated: tuple[str, dict[str, Any]], wrong: str) -> None:
    kdf, keystore = mutated
    with _folder() as folder:
        original = _write(folder, "original.json", json.dumps(KEYSTORES[kdf]).encode())
        assert _load_keystore(original, PASSPHRASE) == SECRET  # the positive control
        path = _write(folder, "key.json", json.dumps(keystore).encode())
        _load_keystore(path, PASSPHRASE)
        assume(wrong != PASSPHRASE)
        _load_keystore(path, wrong)


# ---------------------------------------------------------------------------------------------------- CLI parsers
@given(
    text=st.one_of(NUMBER_TEXT, ENV_TEXT, st.from_regex(r"\A[0-9]{1,40}\.[0-9]{0,40}\Z")), decimals=st.integers(0, 36)
)
@example(text="10000000000.000000000000000001", decimals=18)  # 29 digits: once rounded to 28
@example(text="1.00000000000000000000000000001", decimals=2)  # once rounded to 1.00, accepted
@example(text="sNaN", decimals=2)
@example(text="1e999999", decimals=2)
@example(text="1e-999999", decimals=2)
@example(text="0.001", decimals=2)
def test_parse_amount(text: str, decimals: int) -> None:
    try:
        units = parse_amount(text, decimals)
    except InvalidAmount:
        return
    assert 0 < units < 2**128
    assert re.fullmatch(AMOUNT_PATTERN, text)  # digits, commas only between groups of three, a decimal point
    assert units == Fraction(Decimal(text.replace(",", ""))) * 10**decimals  # exact: no rounding


@pytest.mark.parametrize(
    ("text", "units"),
    [("1000.50", 100050), ("1,000.50", 100050), ("1,234,567", 123456700), ("0.01", 1), ("007", 700)],
)
def test_amounts_as_people_write_them(text: str, units: int) -> None:
    assert parse_amount(text, 2) == units


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1,50", "malformed"),  # a decimal comma: never read as 150
        ("1,2345", "malformed"),
        ("1,,,_0", "malformed"),
        ("1_000", "malformed"),
        ("1e3", "malformed"),
        (" 5", "malformed"),
        (".5", "malformed"),
        ("-5", "must be positive"),
        ("0.00", "must be positive"),
        ("1.001", "at most 2 decimals"),
        (str(2**128), "too large"),
    ],
)
def test_amounts_that_are_not_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidAmount, match=why):
        parse_amount(text, 2)


@given(text=ADDRESS_TEXT)
def test_parse_address(text: str) -> None:
    try:
        address = parse_address(text)
    except InvalidInput:
        return
    assert Web3.is_checksum_address(address)
    assert bytes.fromhex(address[2:]) == bytes.fromhex(text.lower().removeprefix("0x"))


@given(text=st.one_of(HEX_TEXT, ENV_TEXT), length=st.none() | st.integers(0, 70))
def test_parse_hex(text: str, length: int | None) -> None:
    try:
        raw = parse_hex(text, length)
    except InvalidInput:
        return
    assert raw.hex() == "".join(text.strip().removeprefix("0x").split()).lower()
    assert length is None or len(raw) == length


@given(text=st.one_of(CONTRACT_NUMBER, st.text(max_size=40), st.text(st.characters(categories=["Cs"]), max_size=3)))
@example(text="\udcff")  # the byte 0xff on a command line
@example(text="é" * 17)  # 34 bytes
def test_contract_numbers(text: str) -> None:
    try:
        raw = contract_number(text)
    except InvalidContractNumber:
        return
    assert len(raw) == 32
    assert contract_number_text(raw) == text


TERMS = st.fixed_dictionaries(
    {},
    optional={
        "number": JSON_VALUES,
        "party_a": JSON_VALUES,
        "stages": st.lists(
            st.fixed_dictionaries({}, optional={"specification": JSON_VALUES, "amount": JSON_VALUES | NUMBER_TEXT}),
            max_size=3,
        )
        | JSON_VALUES,
    },
)
FILE_DATA = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    TERMS.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {}, optional={"account_hash": JSON_VALUES | HEX_TEXT, "ciphertext": JSON_VALUES | HEX_TEXT}
    ).map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({}, optional={name: JSON_VALUES | ENV_TEXT for name in ChartOfAccounts.model_fields}).map(
        lambda value: json.dumps(value).encode()
    ),
)


@given(data=FILE_DATA, document=st.binary(max_size=50))
@example(data=b"[" * 100_000, document=b"")
@example(data=b'{"number": "HT-1", "party_a": Infinity, "stages": []}', document=b"")
@example(data=b'{"account_hash": 5, "ciphertext": "00"}', document=b"")
@example(data=b'{"bank": "{x}"}', document=b"")
@example(data=b'{"payable": "payable {org"}', document=b"")
def test_cli_file_parsers(data: bytes, document: bytes) -> None:
    with _folder() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_contract, "token_decimals", lambda: 2)  # what the deployment's asset would say
        path, doc = _write(folder, "input.json", data), _write(folder, "document.txt", document)
        with contextlib.suppress(InvalidInput, InvalidAmount):
            draft, party_a = cli_contract.load_draft(path, doc)
            assert isinstance(party_a, int)
            assert all(stage.amount > 0 for stage in draft.stages)
        with contextlib.suppress(InvalidInput):
            account = _assignee_account(path)
            assert len(account.account_hash) == 32
        try:
            chart = ChartOfAccounts.load(path)
        except ChartError:
            return
        for name in ChartOfAccounts.model_fields:  # a chart that loads must work when the listener posts with it
            getattr(chart, name).format(org=7)


# ---------------------------------------------------------------------------------------------------- whole CLI
NO_NODE = "http://127.0.0.1:9"
runner = CliRunner()

Command = Callable[[Path], list[str]]

SEQ = st.one_of(st.integers(-5, 300).map(str), st.integers().map(str), NUMBER_TEXT, ENV_TEXT)
ORG = st.one_of(st.integers(-5, 2**33).map(str), NUMBER_TEXT)
AMOUNT = st.one_of(NUMBER_TEXT, ENV_TEXT)
TEXT_ARG = st.one_of(ENV_TEXT, CONTRACT_NUMBER)
KEY_NAME = st.one_of(ENV_TEXT, CONTRACT_NUMBER, st.just("UPPER"), st.just("a" * 65)).filter(
    lambda name: name != "encryption" and not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name)
)


def _file(name: str, data: bytes) -> Command:
    def build(folder: Path) -> list[str]:
        return [str(_write(folder, name, data))]

    return build


def _args(*parts: Any) -> st.SearchStrategy[list[Any]]:
    """A command line from fixed words and strategies for the others; files are written per example."""
    return st.tuples(*(part if isinstance(part, st.SearchStrategy) else st.just(part) for part in parts)).map(list)


COMMANDS = st.one_of(
    _args("contract", "show", CONTRACT_NUMBER),
    _args("contract", "sign", CONTRACT_NUMBER),
    _args("contract", "propose", FILE_DATA.map(lambda data: _file("terms.json", data)), _file("doc.txt", b"text")),
    _args("stage", "confirm", CONTRACT_NUMBER, SEQ),
    _args("stage", "reject", CONTRACT_NUMBER, SEQ, "--reason", TEXT_ARG),
    _args("settlement", "apply", CONTRACT_NUMBER),
    _args("settlement", "approve", CONTRACT_NUMBER),
    _args("payment", "show", CONTRACT_NUMBER, SEQ),
    _args("payment", "apply", CONTRACT_NUMBER, AMOUNT, "--bank-account", TEXT_ARG),
    _args("payment", "issue", CONTRACT_NUMBER, SEQ, "--lifetime", SEQ),
    _args("payment", "redeem", CONTRACT_NUMBER, SEQ),
    _args("payment", "release", CONTRACT_NUMBER, SEQ),
    _args("payment", "reclaim", CONTRACT_NUMBER, SEQ),
    _args(
        "payment",
        "confirm-assignment",
        CONTRACT_NUMBER,
        SEQ,
        FILE_DATA.map(lambda data: _file("account.json", data)),
        "--signer",
        ADDRESS_TEXT,
        "--signature",
        HEX_TEXT,
    ),
    _args("org", "show", ORG),
    _args("org", "member", ADDRESS_TEXT),
    _args("org", "bind", ADDRESS_TEXT, ORG, st.sampled_from(["business", "finance", "operator", "sales", ""])),
    _args("org", "register", ORG, TEXT_ARG, "--treasury", ADDRESS_TEXT, "--encryption-key", HEX_TEXT),
    _args("keys", "new", KEY_NAME),
    _args("deploy", "--institution-org", ORG, "--asset", ADDRESS_TEXT),
    _args("vouchers", "--from-block", SEQ),
    _args("ledger", "--format", TEXT_ARG.filter(lambda fmt: fmt not in ("table", "csv", "json")), "--org", ORG),
    _args("escrow", "pause"),
    _args("demo", "--rpc-url", NO_NODE),
)
#: Settings the command line reads; the RPC URL stays at a closed port (a random host could take 30 s to fail).
CLI_SETTINGS = st.dictionaries(
    st.sampled_from(["COLLAB_CONFIRMATIONS", "COLLAB_RECEIPT_TIMEOUT", "COLLAB_ORG_ID", "COLLAB_POA"]),
    st.one_of(NUMBER_TEXT, ENV_TEXT.filter(lambda value: value.strip() != "")),
    max_size=2,
)


@pytest.fixture(scope="module")
def cli_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def _invoke(folder: Path, args: list[Any], extra_env: dict[str, str]) -> None:
    words = [word for part in args for word in (part(folder) if callable(part) else [part])]
    env: dict[str, str | None] = dict.fromkeys(SETTING_VARIABLES)
    env |= {
        "COLLAB_RPC_URL": NO_NODE,
        "COLLAB_MANIFEST": str(folder / "missing-manifest.json"),
        "COLLAB_KEYSTORE_DIR": str(folder / "keys"),
        "COLLAB_PASSPHRASE": PASSPHRASE,
        "COLLAB_LEDGER_URL": f"sqlite:///{folder / 'ledger.db'}",
    } | extra_env
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # no .env of the project, no ledger file in it
        result = runner.invoke(app, words, env=env)
    output = result.stdout + result.stderr
    context = f"collab {words!r} with {extra_env} exited {result.exit_code}: {output!r} {result.exception!r}"
    assert isinstance(result.exception, SystemExit), context  # any other exception escaped the command
    assert "Traceback" not in output, context
    if result.exit_code == 2:  # a usage error: click's own message
        assert "Usage:" in result.stderr, context
        return
    assert result.exit_code == 1, context
    assert result.stdout == "", context
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 2, context
    assert lines[0].startswith("error: "), context
    assert "(run with --debug for the traceback)" not in lines[0], context  # a CollabError, named
    assert len(lines) == 1 or lines[1].startswith("hint: "), context


@settings(max_examples=CLI_EXAMPLES, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(args=COMMANDS, extra_env=CLI_SETTINGS)
@example(args=["ledger", "--format", "[/]"], extra_env={})
@example(args=["contract", "show", "[/]"], extra_env={"COLLAB_CONFIRMATIONS": "[/]x"})
@example(args=["payment", "apply", "HT-1", "sNaN", "--bank-account", "x"], extra_env={})
@example(args=["contract", "propose", _file("terms.json", b"[" * 100_000), _file("doc.txt", b"x")], extra_env={})
@example(args=["payment", "show", "HT-1", "9" * 5_000], extra_env={})
@example(args=["keys", "new", "../escape"], extra_env={})
def test_cli_invocations_against_no_node(cli_folder: Path, args: list[Any], extra_env: dict[str, str]) -> None:
    _invoke(cli_folder, args, extra_env)
