"""Files given by path are read with a cap and refused when they are devices; what collab writes for one org only is
private (mode 0600, folders 0700). No chain needed."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from collab_py.chain.manifest import Manifest
from collab_py.domain.documents import DocumentStore
from collab_py.files import (
    MAX_DOCUMENT_BYTES,
    FileTooLarge,
    NotARegularFile,
    create_private,
    private_folder,
    read_bounded,
    write_private,
)
from collab_py.ledger.database import open_database
from collab_py.listener.handlers.accounting import ChartOfAccounts
from collab_py.settings import CollabSettings, SettingsError

GiB = 2**30


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk (a 3 GiB document, as the review tried)."""
    with path.open("wb") as file:
        file.truncate(size)
    return path


@pytest.fixture
def endless_pipe(tmp_path: Path) -> Iterator[Path]:
    """A named pipe whose writer never stops (like ``/dev/zero`` behind ``<(...)``)."""
    fifo = tmp_path / "endless"
    os.mkfifo(fifo)
    stop = threading.Event()

    def write() -> None:
        try:
            with fifo.open("wb") as pipe:
                while not stop.is_set():
                    pipe.write(b"\0" * 65536)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    yield fifo
    stop.set()
    writer.join(timeout=5)


def test_a_file_within_its_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "doc.txt"
    path.write_bytes(b"x" * 1000)
    assert read_bounded(path, 1000, "document") == b"x" * 1000
    with pytest.raises(FileTooLarge, match=r"document .* is larger than 999 bytes"):
        read_bounded(path, 999, "document")


def test_a_3_gib_document_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = sparse(tmp_path / "huge.pdf", 3 * GiB)
    with pytest.raises(FileTooLarge, match="larger than 64 MiB"):
        read_bounded(path, MAX_DOCUMENT_BYTES, "document")


def test_devices_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotARegularFile, match="/dev/zero is a device"):
        read_bounded(Path("/dev/zero"), MAX_DOCUMENT_BYTES, "document")
    (tmp_path / "zero").symlink_to("/dev/zero")  # behind a link too
    with pytest.raises(NotARegularFile):
        read_bounded(tmp_path / "zero", MAX_DOCUMENT_BYTES, "document")


def test_an_endless_pipe_is_read_up_to_the_cap(endless_pipe: Path) -> None:
    with pytest.raises(FileTooLarge, match="larger than 1 MiB"):
        read_bounded(endless_pipe, 2**20, "passphrase file")


def test_a_pipe_is_refused_where_only_a_file_will_do(endless_pipe: Path) -> None:
    with pytest.raises(NotARegularFile, match="is a pipe"):
        read_bounded(endless_pipe, 2**20, "keystore", allow_pipe=False)


def test_folders_and_missing_files_stay_os_errors(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        read_bounded(tmp_path, 10)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "absent", 10)


def test_every_loader_caps_its_file(tmp_path: Path) -> None:
    big = sparse(tmp_path / "big.json", 2 * 2**20)
    with pytest.raises(FileTooLarge, match="manifest"):
        Manifest.load(big)
    with pytest.raises(FileTooLarge, match="chart of accounts"):
        ChartOfAccounts.load(big)


def test_a_settings_file_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("COLLAB_"):
            monkeypatch.delenv(name)
    dotenv = sparse(tmp_path / ".env", 2 * 2**20)
    with pytest.raises(SettingsError, match="larger than 1 MiB"):
        CollabSettings.load(_env_file=dotenv)


def test_a_stored_document_is_read_with_the_documents_cap(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    doc_hash = store.put(b"contract")
    sparse(store.path(doc_hash), 3 * GiB)  # replaced on disk by something huge
    with pytest.raises(FileTooLarge, match="stored document"):
        store.get(doc_hash)


def test_private_files_and_folders(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    assert private_folder(folder) == folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    existing = tmp_path / "journal.csv"
    existing.write_text("old")
    existing.chmod(0o644)
    write_private(existing, "entry_id,org_id\n")
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert existing.read_text() == "entry_id,org_id\n"
    assert create_private(tmp_path / "new.db")
    assert not create_private(tmp_path / "new.db")
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600


def test_the_sqlite_ledger_and_its_wal_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
        with database.begin() as connection:
            connection.exec_driver_sql("SELECT 1")
            files = [path for path in tmp_path.iterdir() if path.name.startswith("ledger.db")]
            assert {path.name for path in files} >= {"ledger.db", "ledger.db-wal"}
            for path in files:
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        database.dispose()
    finally:
        os.umask(old)
