"""The content-addressed document store (no chain needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from collab_py.domain.documents import (
    DocumentCorrupted,
    DocumentError,
    DocumentHashMismatch,
    DocumentNotFound,
    DocumentNotText,
    DocumentStore,
    DocumentStoreUnavailable,
    InvalidDocumentHash,
    document_hash,
    verify,
)
from collab_py.exceptions import CollabError

CONTRACT = b"E-contract 2024-017: party B supplies 3 stages of work to party A."


@pytest.fixture
def store(tmp_path: Path) -> DocumentStore:
    return DocumentStore(tmp_path / "documents")


def test_put_returns_the_on_chain_hash_and_lays_out_files(store: DocumentStore) -> None:
    doc_hash = store.put(CONTRACT)
    assert doc_hash == keccak(CONTRACT) == document_hash(CONTRACT)
    name = doc_hash.hex()
    assert (store.root / name[:2] / name).read_bytes() == CONTRACT
    assert store.path(doc_hash) == store.root / name[:2] / name


def test_round_trip(store: DocumentStore) -> None:
    doc_hash = store.put(CONTRACT)
    assert store.has(doc_hash)
    assert store.get(doc_hash) == CONTRACT


def test_empty_document(store: DocumentStore) -> None:
    assert store.get(store.put(b"")) == b""


def test_put_is_idempotent(store: DocumentStore) -> None:
    first = store.put(CONTRACT)
    assert store.put(CONTRACT) == first
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert files == [store.path(first)]  # and no temporary file left behind


def test_put_repairs_a_corrupted_copy(store: DocumentStore) -> None:
    doc_hash = store.put(CONTRACT)
    store.path(doc_hash).write_bytes(b"tampered")
    store.put(CONTRACT)
    assert store.get(doc_hash) == CONTRACT


def test_text_round_trip(store: DocumentStore) -> None:
    text = "Rechnung Nr. 42 — 1 000,00 € net"
    doc_hash = store.put_text(text)
    assert doc_hash == keccak(text.encode())
    assert store.get_text(doc_hash) == text


def test_not_text(store: DocumentStore) -> None:
    doc_hash = store.put(b"\xff\xfe binary")
    with pytest.raises(DocumentNotText):
        store.get_text(doc_hash)


def test_tampered_on_disk(store: DocumentStore) -> None:
    doc_hash = store.put(CONTRACT)
    store.path(doc_hash).write_bytes(CONTRACT.replace(b"3 stages", b"4 stages"))
    assert store.has(doc_hash)
    with pytest.raises(DocumentCorrupted, match="corrupted"):
        store.get(doc_hash)
    with pytest.raises(DocumentCorrupted):
        store.get_text(doc_hash)


def test_missing_document(store: DocumentStore) -> None:
    doc_hash = keccak(b"never stored")
    assert not store.has(doc_hash)
    with pytest.raises(DocumentNotFound, match=doc_hash.hex()) as missing:
        store.get(doc_hash)
    assert str(store.root) not in str(missing.value)  # the platform answers with it: no server path


@pytest.mark.parametrize("bad", [b"", b"\x01" * 31, b"\x01" * 33])
def test_invalid_hash(store: DocumentStore, bad: bytes) -> None:
    with pytest.raises(InvalidDocumentHash):
        store.get(bad)
    with pytest.raises(InvalidDocumentHash):
        store.has(bad)


def test_verify_accepts_the_matching_document() -> None:
    verify(CONTRACT, keccak(CONTRACT))
    DocumentStore.verify(CONTRACT, keccak(CONTRACT))


def test_hash_mismatch_names_both_hashes(store: DocumentStore) -> None:
    expected = keccak(b"the document B signed")
    with pytest.raises(DocumentHashMismatch) as error:
        store.verify(CONTRACT, expected)
    assert f"0x{expected.hex()}" in str(error.value)
    assert f"0x{keccak(CONTRACT).hex()}" in str(error.value)


def test_a_store_that_cannot_be_read_or_written_is_a_named_error(tmp_path: Path) -> None:
    blocked = DocumentStore(tmp_path / "a-file")
    (tmp_path / "a-file").write_text("a file where the store's folder should be")
    with pytest.raises(DocumentStoreUnavailable, match="a-file"):
        blocked.put(CONTRACT)
    store = DocumentStore(tmp_path / "documents")
    store.path(keccak(CONTRACT)).mkdir(parents=True)  # a folder where the document should be
    with pytest.raises(DocumentStoreUnavailable, match="documents"):
        store.get(keccak(CONTRACT))


def test_every_error_is_a_document_error() -> None:
    errors = (InvalidDocumentHash, DocumentNotFound, DocumentCorrupted, DocumentHashMismatch, DocumentNotText)
    for error in (*errors, DocumentStoreUnavailable):
        assert issubclass(error, DocumentError)
    assert issubclass(DocumentError, CollabError)
