"""Encrypted keys for bots: eth-account v3 JSON keystores (the format Ape uses for ~/.ape/accounts/<alias>.json),
passphrase sources, and an org's keyring of named signing and encryption keys.

Passphrases and key bytes never appear in reprs or error messages. Keystores are written with mode 0600 into
folders of mode 0700, and one that group or others can read (file or folder) is refused with
:class:`KeystoreNotPrivate`; so is one whose key derivation is weaker than eth-account's defaults
(:class:`WeakKeystore`, see :data:`KDF_FLOOR`). A passphrase file group or others can read is refused too
(:class:`PassphraseFileNotPrivate`).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import coincurve
from eth_account import Account
from eth_account.signers.local import LocalAccount

from collab_py.domain.crypto import EncryptionKey
from collab_py.exceptions import CollabError
from collab_py.files import MAX_SECRET_FILE_BYTES, open_to_others, private_folder, read_bounded

Kdf = Literal["scrypt", "pbkdf2"]

#: Marker written into encryption-key keystores, so that an encryption key is never loaded as a signer.
PURPOSE_FIELD = "x-collab-purpose"
ENCRYPTION_PURPOSE = "encryption"

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

#: Most key-derivation work a keystore may ask for: 8 times eth-account's and geth's defaults (scrypt n=2**18, r=8,
#: p=1; pbkdf2 10**6 rounds), twice their memory. A keystore asking for more is refused before the derivation, which
#: could otherwise run for hours (pbkdf2 with c=10**12) or exhaust the memory.
MAX_SCRYPT_WORK = 2**24  # n * r * p
MAX_SCRYPT_MEMORY = 2**22  # n * r, 128 bytes each: 512 MiB
MAX_SCRYPT_BLOCKS = 2**10  # r * p: pycryptodome expands 128 * r * p bytes with PBKDF2 in pure Python
MAX_PBKDF2_ROUNDS = 10**7
MAX_DKLEN = 64


@dataclass(frozen=True)
class KdfFloor:
    """The weakest key derivation a keystore may use. The default is eth-account's (and geth's) defaults: scrypt
    with n=2**18, r=8, p=1, or pbkdf2 with 10**6 rounds of hmac-sha256; a 32-byte derived key.

    scrypt's n, its memory (n*r) and its work (n*r*p) must each reach the floor's, so a keystore trading r for p
    (n=2**18, r=1, p=8: an eighth of the memory) is weaker and refused."""

    scrypt_n: int = 2**18
    scrypt_r: int = 8
    scrypt_p: int = 1
    pbkdf2_rounds: int = 10**6
    pbkdf2_prf: str = "hmac-sha256"
    dklen: int = 32

    def weakness(self, name: object, params: dict[str, Any]) -> str | None:
        """What makes a keystore's key derivation weaker than this floor, or None."""
        size = {key: value for key, value in params.items() if isinstance(value, int)}
        if size.get("dklen", 0) < self.dklen:
            return f"a derived key of {params.get('dklen')!s:.20} bytes < {self.dklen}"
        if name == "pbkdf2":
            if size.get("c", 0) < self.pbkdf2_rounds:
                return f"pbkdf2 with c={params.get('c')!s:.20} < {self.pbkdf2_rounds} rounds"
            if params.get("prf") != self.pbkdf2_prf:
                return f"pbkdf2 with prf {params.get('prf')!s:.20} instead of {self.pbkdf2_prf}"
        if name == "scrypt":
            n, r, p = size.get("n", 0), size.get("r", 0), size.get("p", 0)
            memory, work = self.scrypt_n * self.scrypt_r, self.scrypt_n * self.scrypt_r * self.scrypt_p
            if n < self.scrypt_n or n * r < memory or n * r * p < work:
                given = ", ".join(f"{key}={params.get(key)!s:.20}" for key in "nrp")
                return f"scrypt with {given} < n={self.scrypt_n}, r={self.scrypt_r}, p={self.scrypt_p}"
        return None


#: The floor every keystore is checked against when it is written or loaded (tests of the flow lower it to use
#: cheap keystores; nothing else should).
KDF_FLOOR = KdfFloor()


class KeystoreError(CollabError):
    """A keystore is missing, malformed, or cannot be written."""


class WrongPassphrase(KeystoreError):
    """The passphrase does not open the keystore."""


class KeystoreExists(KeystoreError):
    """Refused to overwrite an existing keystore."""


class InvalidKeyName(KeystoreError):
    """A key name outside ``[a-z0-9][a-z0-9_-]{0,63}``."""


class WrongKeyPurpose(KeystoreError):
    """An encryption key used as a signer, or a signing key used as an encryption key."""


class KeystoreNotPrivate(KeystoreError):
    """A keystore file, or its folder, can be read (or written) by group or others."""


class PassphraseFileNotPrivate(KeystoreNotPrivate):
    """A passphrase file can be read (or written) by group or others."""


class WeakKeystore(KeystoreError):
    """A keystore's key derivation is weaker than eth-account's defaults (:data:`KDF_FLOOR`)."""


class PassphraseUnavailable(KeystoreError):
    """No passphrase source is configured or usable."""


class EmptyPassphrase(PassphraseUnavailable):
    """A passphrase source gave an empty passphrase."""


def encrypt_keystore(
    private_key: bytes, passphrase: str, *, kdf: Kdf = "scrypt", iterations: int | None = None
) -> dict[str, Any]:
    """The v3 keystore of a 32-byte secp256k1 secret (``iterations``: pbkdf2 rounds or scrypt's n)."""
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise KeystoreError("a private key must be 32 bytes")
    if not passphrase:
        raise EmptyPassphrase("refusing to encrypt a keystore with an empty passphrase")
    try:
        keystore = dict(Account.encrypt(private_key, passphrase, kdf=kdf, iterations=iterations))
    except Exception as error:  # eth-utils' ValidationError quotes the key: never chain or repeat it
        raise KeystoreError(f"cannot encrypt keystore: {type(error).__name__}") from None
    weakness = _kdf_weakness(keystore)
    if weakness is not None:
        raise WeakKeystore(f"refusing to write a keystore with {weakness}: {_STRONGER}")
    return full_iv(keystore)


def full_iv(keystore: dict[str, Any]) -> dict[str, Any]:
    """``keystore`` with its AES IV written as 16 bytes. eth-keyfile writes the IV as a number, without its leading
    zero bytes (one keystore in 256); eth-account reads it back as a number, but geth takes the hex as the IV and
    panics on 15 bytes ("bad IV length") when it unlocks the key."""
    params = keystore.get("crypto", {}).get("cipherparams", {})
    iv = params.get("iv")
    if isinstance(iv, str) and len(iv) < 32:
        params["iv"] = iv.rjust(32, "0")
    return keystore


def write_keystore(keystore: dict[str, Any], path: Path, *, overwrite: bool = False) -> Path:
    """Writes a keystore as JSON with mode 0o600 (missing parents created with mode 0700), atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise KeystoreExists(f"keystore {path} already exists")
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            os.fchmod(file.fileno(), 0o600)
            json.dump(keystore, file)
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(temp, path)
        else:
            _publish_exclusively(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return path


def _publish_exclusively(temp: str, path: Path) -> None:
    """Moves ``temp`` to ``path`` unless ``path`` exists, even if it appeared since the first check."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise KeystoreExists(f"keystore {path} already exists") from None
    except OSError:  # no hard links on this filesystem: reserve the name, then replace the reservation
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise KeystoreExists(f"keystore {path} already exists") from None
        os.replace(temp, path)


def save_keystore(
    private_key: bytes,
    path: Path,
    passphrase: str,
    *,
    kdf: Kdf = "scrypt",
    iterations: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Encrypts a 32-byte private key into a v3 keystore at ``path`` (mode 0o600), refusing to overwrite by default."""
    if path.exists() and not overwrite:  # before the slow key derivation
        raise KeystoreExists(f"keystore {path} already exists")
    return write_keystore(
        encrypt_keystore(private_key, passphrase, kdf=kdf, iterations=iterations), path, overwrite=overwrite
    )


def check_private(path: Path) -> None:
    """Refuses a keystore file, or the folder it is in, that group or others can access
    (:class:`KeystoreNotPrivate`, saying which ``chmod`` fixes it)."""
    try:
        file_mode, folder_mode = path.stat().st_mode, path.absolute().parent.stat().st_mode
    except FileNotFoundError:
        raise KeystoreError(f"no keystore at {path}") from None
    except OSError as error:
        raise KeystoreError(f"cannot read keystore {path}: {error.strerror}") from None
    if not stat.S_ISREG(file_mode):
        return  # a folder or a device: refused as such when it is read
    if open_to_others(folder_mode):
        folder = path.absolute().parent
        raise KeystoreNotPrivate(
            f"keystore folder {folder} is open to group or others (mode {folder_mode & 0o777:04o}): "
            f"run `chmod 700 {folder}`"
        )
    if open_to_others(file_mode):
        raise KeystoreNotPrivate(_open_to_others("keystore", path, file_mode))


def _open_to_others(what: str, path: Path, mode: int) -> str:
    return f"{what} {path} can be read by group or others (mode {mode & 0o777:04o}): run `chmod 600 {path}`"


def check_private_passphrase_file(path: Path) -> None:
    """Refuses a regular passphrase file that group or others can access (:class:`PassphraseFileNotPrivate`, saying
    which ``chmod`` fixes it); a pipe (``<(pass show collab)``) is not checked, and a file that cannot be read is
    refused when it is read."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) and open_to_others(mode):
        raise PassphraseFileNotPrivate(_open_to_others("passphrase file", path, mode))


def read_keystore(path: Path) -> dict[str, Any]:
    """The JSON of a keystore file, raising :class:`KeystoreError` with the path when it cannot.

    The file must be a regular file of at most 64 KiB that only its owner can access, in a folder that only its
    owner can access."""
    check_private(path)
    try:
        data = json.loads(read_bounded(path, MAX_SECRET_FILE_BYTES, "keystore", allow_pipe=False))
    except FileNotFoundError:
        raise KeystoreError(f"no keystore at {path}") from None
    except OSError as error:
        raise KeystoreError(f"cannot read keystore {path}: {error.strerror}") from None
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, JSON nested too deeply
        raise KeystoreError(f"malformed keystore {path}: not JSON") from None
    if not isinstance(data, dict) or ("crypto" not in data and "Crypto" not in data):
        raise KeystoreError(f"malformed keystore {path}: not a v3 keystore")
    return data


def _kdf(keystore: dict[str, Any]) -> tuple[object, dict[str, Any]] | None:
    """The key derivation function's name and parameters (v3 and v4 layouts), or None if there are none."""
    crypto = keystore.get("crypto", keystore.get("Crypto"))
    if not isinstance(crypto, dict):
        return None
    kdf = crypto.get("kdf")
    name, params = (kdf.get("function"), kdf.get("params")) if isinstance(kdf, dict) else (kdf, crypto.get("kdfparams"))
    return (name, params) if isinstance(params, dict) else None


#: How to fix a weak keystore.
_STRONGER = (
    "re-encrypt the key with eth-account's defaults (scrypt n=262144, r=8, p=1, or pbkdf2 c=1000000 with "
    "hmac-sha256; a 32-byte key), e.g. with `collab keys new` for a new key"
)


def _kdf_weakness(keystore: dict[str, Any]) -> str | None:
    kdf = _kdf(keystore)
    return None if kdf is None else KDF_FLOOR.weakness(*kdf)


def _check_kdf_work(keystore: dict[str, Any], path: Path) -> None:
    """Refuses a keystore whose key derivation parameters ask for more than the limits above (v3 and v4 layouts),
    or less than :data:`KDF_FLOOR`; anything else malformed is left to eth-account to refuse."""
    kdf = _kdf(keystore)
    if kdf is None:
        return
    name, params = kdf
    size = {key: abs(value) for key, value in params.items() if isinstance(value, int)}
    n, r, p = size.get("n", 1), size.get("r", 1), size.get("p", 1)
    if (
        size.get("dklen", 32) > MAX_DKLEN
        or (name == "pbkdf2" and size.get("c", 1) > MAX_PBKDF2_ROUNDS)
        or (
            name == "scrypt" and (n * r > MAX_SCRYPT_MEMORY or n * r * p > MAX_SCRYPT_WORK or r * p > MAX_SCRYPT_BLOCKS)
        )
    ):
        raise KeystoreError(f"malformed keystore {path}: its key derivation asks for more work than allowed")
    weakness = KDF_FLOOR.weakness(name, params)
    if weakness is not None:
        raise WeakKeystore(f"keystore {path} uses {weakness}, weaker than eth-account's defaults: {_STRONGER}")


def decrypt_keystore(keystore: dict[str, Any], passphrase: str, path: Path) -> bytes:
    """The 32-byte secret of a keystore read from ``path`` (named in errors)."""
    _check_kdf_work(keystore, path)
    try:
        key = bytes(Account.decrypt(keystore, passphrase))
    except ValueError as error:
        if str(error) == "MAC mismatch":
            raise WrongPassphrase(f"wrong passphrase for keystore {path}") from None
        raise KeystoreError(f"malformed keystore {path}: {type(error).__name__}") from None
    except Exception as error:  # KeyError, TypeError, NotImplementedError on odd keystores
        raise KeystoreError(f"malformed keystore {path}: {type(error).__name__}") from None
    if len(key) != 32:
        raise KeystoreError(f"malformed keystore {path}: the key is not 32 bytes")
    return key


def load_keystore(path: Path, passphrase: str) -> bytes:
    """Decrypts the v3 keystore at ``path`` (one of ours or Ape's) to its 32-byte private key."""
    return decrypt_keystore(read_keystore(path), passphrase, path)


def _account(key: bytes, path: Path) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_key(key)
    except Exception as error:  # an invalid key's error message quotes it
        raise KeystoreError(f"keystore {path} holds no valid secp256k1 key: {type(error).__name__}") from None
    return account


def load_account(path: Path, passphrase: str) -> LocalAccount:
    """The eth-account signer of the v3 keystore at ``path``."""
    return _account(load_keystore(path, passphrase), path)


def _strip_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")


def resolve_passphrase(*, file: Path | None, env: str | None, prompt: bool) -> str:
    """A keystore passphrase from ``file`` (trailing newline stripped), else the environment variable ``env``,
    else an interactive prompt (only when ``prompt`` and stdin is a terminal)."""
    if file is not None:
        check_private_passphrase_file(file)
        try:
            passphrase = _strip_newline(read_bounded(file, MAX_SECRET_FILE_BYTES, "passphrase file").decode())
        except OSError as error:
            raise PassphraseUnavailable(f"cannot read passphrase file {file}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise PassphraseUnavailable(f"passphrase file {file} is not UTF-8 text") from None
        if not passphrase:
            raise EmptyPassphrase(f"passphrase file {file} is empty")
        return passphrase
    if env:
        value = os.environ.get(env)
        if value is not None:
            if not value:
                raise EmptyPassphrase(f"environment variable {env} is empty")
            return value
    if prompt and sys.stdin is not None and sys.stdin.isatty():
        passphrase = getpass.getpass("Keystore passphrase: ")
        if not passphrase:
            raise EmptyPassphrase("empty passphrase entered")
        return passphrase
    variable = f"the environment variable {env}" if env else "a passphrase environment variable"
    raise PassphraseUnavailable(
        f"no keystore passphrase: give a passphrase file, set {variable}, or run in a terminal to be prompted"
    )


def check_name(name: str) -> str:
    """Returns ``name`` if it is a valid key name, else raises :class:`InvalidKeyName` (no path traversal)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        # the name is not quoted: a passphrase passed in its place must not end up in a log
        raise InvalidKeyName("invalid key name: use 1-64 of a-z, 0-9, '_' and '-', starting with a-z or 0-9")
    return name


class Keyring:
    """An org's keys in one folder, one ``<name>.json`` v3 keystore each: signing accounts and encryption keys."""

    def __init__(self, folder: Path, *, kdf: Kdf = "scrypt", iterations: int | None = None) -> None:
        self.folder = folder
        self._kdf: Kdf = kdf
        self._iterations = iterations

    def path(self, name: str) -> Path:
        """Where the key ``name`` is stored."""
        return self.folder / f"{check_name(name)}.json"

    def names(self) -> list[str]:
        """The names of the keys in the folder, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if p.is_file() and _NAME.fullmatch(p.stem))

    def _save(self, name: str, secret: bytes, passphrase: str, purpose: str | None) -> None:
        path = self.path(name)
        if path.exists():  # before the slow key derivation
            raise KeystoreExists(f"keystore {path} already exists")
        keystore = encrypt_keystore(secret, passphrase, kdf=self._kdf, iterations=self._iterations)
        if purpose is not None:
            keystore[PURPOSE_FIELD] = purpose
        private_folder(self.folder)  # 0700, also when it existed with a wider mode
        write_keystore(keystore, path)

    def _load(self, name: str, passphrase: str, purpose: str | None) -> tuple[bytes, Path]:
        path = self.path(name)
        keystore = read_keystore(path)
        if keystore.get(PURPOSE_FIELD) != purpose:
            wanted = "an encryption key" if purpose == ENCRYPTION_PURPOSE else "a signing account"
            raise WrongKeyPurpose(f"keystore {path} is not {wanted}")
        return decrypt_keystore(keystore, passphrase, path), path

    def create_account(self, name: str, passphrase: str) -> LocalAccount:
        """Generates a signing account and stores it as ``name``, refusing to overwrite."""
        return self.import_account(name, coincurve.PrivateKey().secret, passphrase)

    def import_account(self, name: str, private_key: bytes, passphrase: str) -> LocalAccount:
        """Stores an existing signing key as ``name``, refusing to overwrite."""
        self._save(name, private_key, passphrase, None)
        return _account(private_key, self.path(name))

    def account(self, name: str, passphrase: str) -> LocalAccount:
        """The signing account stored as ``name``."""
        key, path = self._load(name, passphrase, None)
        return _account(key, path)

    def create_encryption_key(self, name: str, passphrase: str) -> EncryptionKey:
        """Generates an encryption key and stores it as ``name``, refusing to overwrite."""
        return self.import_encryption_key(name, EncryptionKey(), passphrase)

    def import_encryption_key(self, name: str, key: EncryptionKey, passphrase: str) -> EncryptionKey:
        """Stores an existing encryption key as ``name``, refusing to overwrite."""
        self._save(name, key.export_secret(), passphrase, ENCRYPTION_PURPOSE)
        return key

    def encryption_key(self, name: str, passphrase: str) -> EncryptionKey:
        """The encryption key stored as ``name``."""
        secret, path = self._load(name, passphrase, ENCRYPTION_PURPOSE)
        try:
            return EncryptionKey(secret)
        except Exception as error:
            raise KeystoreError(f"keystore {path} holds no valid secp256k1 key: {type(error).__name__}") from None

    def __repr__(self) -> str:
        return f"Keyring({str(self.folder)!r})"
