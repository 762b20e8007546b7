"""A content-addressed store for e-contract documents and invoices, keyed by the keccak256 hash that goes on chain."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from eth_utils.crypto import keccak

from collab_py.exceptions import CollabError
from collab_py.files import MAX_DOCUMENT_BYTES, read_bounded


class DocumentError(CollabError):
    """Base of the document store's errors."""


class InvalidDocumentHash(DocumentError):
    """A document hash that is not 32 bytes."""


class DocumentNotFound(DocumentError):
    """No document with this hash in the store."""


class DocumentCorrupted(DocumentError):
    """A stored document no longer hashes to its name: it was altered on disk."""


class DocumentHashMismatch(DocumentError):
    """A document does not hash to the expected (on-chain) hash: tampered or another document."""


class DocumentStoreUnavailable(DocumentError):
    """The store's folder cannot be read or written (permissions, a file where a folder should be, a full disk)."""


class DocumentNotText(DocumentError):
    """A document read as text is not UTF-8."""


def document_hash(content: bytes) -> bytes:
    """The keccak256 of a document, as recorded on chain."""
    return keccak(content)


def verify(content: bytes, expected_hash: bytes) -> None:
    """Raises :class:`DocumentHashMismatch` unless ``content`` hashes to ``expected_hash``."""
    actual = document_hash(content)
    if actual != expected_hash:
        raise DocumentHashMismatch(f"document hashes to 0x{actual.hex()}, expected 0x{expected_hash.hex()}")


class DocumentStore:
    """Documents in ``root/<hex[:2]>/<hex>``, where ``hex`` is their keccak256 hash."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, doc_hash: bytes) -> Path:
        """Where the document with this hash is (or would be) stored."""
        if not isinstance(doc_hash, bytes) or len(doc_hash) != 32:
            raise InvalidDocumentHash("a document hash must be 32 bytes")
        name = doc_hash.hex()
        return self.root / name[:2] / name

    def put(self, content: bytes) -> bytes:
        """Stores ``content`` (idempotent; repairs a corrupted copy) and returns its keccak256 hash."""
        doc_hash = document_hash(content)
        path = self.path(doc_hash)
        with contextlib.suppress(OSError):
            if path.read_bytes() == content:
                return doc_hash
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:16]}.", suffix=".tmp")
        except OSError as error:
            raise self._unavailable(error) from None
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except OSError as error:
            raise self._unavailable(error) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        return doc_hash

    def get(self, doc_hash: bytes) -> bytes:
        """The document with this hash, re-hashed on every read."""
        path = self.path(doc_hash)
        try:
            content = read_bounded(path, MAX_DOCUMENT_BYTES, "stored document", allow_pipe=False)
        except FileNotFoundError:
            raise DocumentNotFound(f"no document 0x{doc_hash.hex()} in the org's document store") from None
        except OSError as error:
            raise self._unavailable(error) from None
        actual = document_hash(content)
        if actual != doc_hash:
            raise DocumentCorrupted(f"document {path} is corrupted: its content hashes to 0x{actual.hex()}")
        return content

    def has(self, doc_hash: bytes) -> bool:
        """Whether a document with this hash is stored (not re-hashed: :meth:`get` checks)."""
        return self.path(doc_hash).is_file()

    def _unavailable(self, error: OSError) -> DocumentStoreUnavailable:
        return DocumentStoreUnavailable(f"document store {self.root}: {error.strerror or error}")

    @staticmethod
    def verify(content: bytes, expected_hash: bytes) -> None:
        """Raises :class:`DocumentHashMismatch` unless ``content`` hashes to ``expected_hash``."""
        verify(content, expected_hash)

    def put_text(self, text: str) -> bytes:
        """Stores ``text`` in UTF-8 and returns its hash."""
        return self.put(text.encode())

    def get_text(self, doc_hash: bytes) -> str:
        """The document with this hash, decoded from UTF-8."""
        try:
            return self.get(doc_hash).decode()
        except UnicodeDecodeError:
            raise DocumentNotText(f"document 0x{doc_hash.hex()} is not UTF-8 text") from None

    def __repr__(self) -> str:
        return f"DocumentStore({str(self.root)!r})"
