"""Reading the files the CLI and the services are given, and writing private ones.

Every file read from a path is read with a bounded read (:func:`read_bounded`): a file larger than its cap is refused
with :class:`FileTooLarge` before it fills the memory (a 3 GiB document, ``/dev/zero``), and a device, socket or other
non-regular file with :class:`NotARegularFile` (pipes are accepted where a stream makes sense, e.g. ``<(pass show
collab)`` for a passphrase). What collab writes for one org only (keystores, ledgers, exports) is created with mode
0600, in folders of mode 0700 (:func:`write_private`, :func:`create_private`, :func:`private_folder`).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from collab_py.exceptions import CollabError

MiB = 2**20
#: E-contract documents, stage results and other documents (they are hashed in memory).
MAX_DOCUMENT_BYTES = 64 * MiB
#: Small inputs: terms files, charts of accounts, manifests, payment-key and account files, settings files.
MAX_SMALL_FILE_BYTES = 1 * MiB
#: Keystores (about 500 bytes) and passphrase files.
MAX_SECRET_FILE_BYTES = 64 * 1024

_CHUNK = MiB
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class FileRefused(CollabError):
    """Base of the refusals of a file given by path (too large, not a regular file, open to others)."""


class FileTooLarge(FileRefused):
    """A file is larger than the cap for what it should hold."""


class NotARegularFile(FileRefused):
    """A path names a device, a socket or another special file where a file is expected."""


def size_text(size: int) -> str:
    """``1 MiB``, ``64 KiB``, ``300 bytes``."""
    for unit, scale in (("GiB", 2**30), ("MiB", MiB), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    return "not a regular file"


def read_bounded(path: Path, limit: int, what: str = "file", *, allow_pipe: bool = True) -> bytes:
    """The bytes of the file at ``path``, at most ``limit`` of them.

    Raises :class:`FileTooLarge` for a larger file (a regular file by its size, before reading; a pipe once
    ``limit`` bytes have been read), :class:`NotARegularFile` for a device or socket (and a pipe unless
    ``allow_pipe``), and :class:`OSError` as ``open`` does (missing file, no permission, a folder: ``EISDIR``).
    ``what`` names the file in messages: ``document``, ``terms file`` ...
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        regular = stat.S_ISREG(info.st_mode)
        if not regular and not (allow_pipe and stat.S_ISFIFO(info.st_mode)):
            raise NotARegularFile(f"{what} {path} is {_kind(info.st_mode)}, not a regular file")
        if regular and info.st_size > limit:
            raise FileTooLarge(f"{what} {path} is larger than {size_text(limit)}, the most collab reads for a {what}")
        chunks: list[bytes] = []
        remaining = limit + 1  # one byte more than allowed tells a file that grew or a pipe that goes on
        while remaining > 0:
            chunk = os.read(fd, min(remaining, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining <= 0:
            raise FileTooLarge(f"{what} {path} is larger than {size_text(limit)}, the most collab reads for a {what}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def private_folder(folder: Path) -> Path:
    """Creates ``folder`` (and its parents) if needed and sets its mode to 0700, also when it existed."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def create_private(path: Path) -> bool:
    """Creates an empty file with mode 0600 unless ``path`` exists; whether it created it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600))
    except FileExistsError:
        return False
    return True


def write_private(path: Path, data: bytes | str) -> Path:
    """Writes ``data`` to ``path`` with mode 0600 (an existing file is truncated and its mode set to 0600)."""
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return path


def open_to_others(mode: int) -> bool:
    """Whether a file or folder mode gives group or others any access."""
    return bool(stat.S_IMODE(mode) & 0o077)
