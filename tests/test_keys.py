"""Encrypted keystores, passphrase sources and the keyring (no chain needed).

Keystores here use 2 rounds of pbkdf2 (the ``cheap_keystores`` fixture lowers the floor of eth-account's defaults),
except in the tests of that floor."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from eth_account import Account

from collab_py.domain import keys
from collab_py.domain.crypto import EncryptionKey, encrypt
from collab_py.domain.keys import (
    EmptyPassphrase,
    InvalidKeyName,
    KdfFloor,
    Keyring,
    KeystoreError,
    KeystoreExists,
    KeystoreNotPrivate,
    PassphraseFileNotPrivate,
    PassphraseUnavailable,
    WeakKeystore,
    WrongKeyPurpose,
    WrongPassphrase,
    load_account,
    load_keystore,
    resolve_passphrase,
    save_keystore,
)
from collab_py.files import FileTooLarge, NotARegularFile, write_private

pytestmark = pytest.mark.usefixtures("cheap_keystores")

PASSPHRASE = "correct horse battery staple 7f3a"
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    return save_keystore(KEY, tmp_path / "bot.json", PASSPHRASE, kdf="pbkdf2", iterations=2)


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring(tmp_path / "keys", kdf="pbkdf2", iterations=2)


def assert_no_secrets(text: str) -> None:
    for secret in (PASSPHRASE, KEY.hex(), str(int.from_bytes(KEY, "big")), repr(KEY)):
        assert secret not in text


# keystore files


def test_round_trip(keystore: Path) -> None:
    assert load_keystore(keystore, PASSPHRASE) == KEY


def test_file_is_private_and_parents_are_created(tmp_path: Path) -> None:
    path = save_keystore(KEY, tmp_path / "a" / "b" / "bot.json", PASSPHRASE, kdf="pbkdf2", iterations=2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["bot.json"]  # no temporary file left behind


def test_loads_with_eth_account(keystore: Path) -> None:
    assert bytes(Account.decrypt(json.loads(keystore.read_text()), PASSPHRASE)) == KEY


def test_loads_an_ape_style_keystore(tmp_path: Path) -> None:
    path = tmp_path / "ape-alias.json"
    path.write_text(json.dumps(Account.encrypt(KEY, PASSPHRASE, kdf="scrypt", iterations=2)), encoding="utf8")
    path.chmod(0o600)
    assert load_account(path, PASSPHRASE).address == Account.from_key(KEY).address


def test_scrypt_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    real = Account.encrypt

    def spy(key: bytes, password: str, kdf: str | None = None, iterations: int | None = None) -> object:
        seen["kdf"] = kdf
        return real(key, password, kdf=kdf, iterations=2)  # cheap scrypt: only the choice is tested

    monkeypatch.setattr(keys.Account, "encrypt", spy)
    path = save_keystore(KEY, tmp_path / "bot.json", PASSPHRASE)
    assert seen["kdf"] == "scrypt"
    assert json.loads(path.read_text())["crypto"]["kdf"] == "scrypt"


def test_load_account(keystore: Path) -> None:
    account = load_account(keystore, PASSPHRASE)
    assert account.key == KEY
    assert account.address == Account.from_key(KEY).address


def test_wrong_passphrase(keystore: Path) -> None:
    with pytest.raises(WrongPassphrase, match="wrong passphrase") as error:
        load_keystore(keystore, "not it")
    assert str(keystore) in str(error.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(KeystoreError) as error:
        load_keystore(path, PASSPHRASE)
    assert type(error.value) is KeystoreError
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "content",
    ["{not json", "[1, 2]", '{"version": 3}', '{"version": 3, "crypto": {"kdf": "pbkdf2"}}', "\udcff"],
    ids=["not-json", "not-object", "no-crypto", "truncated-crypto", "not-utf8"],
)
def test_malformed_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    path.chmod(0o600)
    with pytest.raises(KeystoreError, match="malformed keystore") as error:
        load_keystore(path, PASSPHRASE)
    assert type(error.value) is KeystoreError
    assert str(path) in str(error.value)


def test_a_directory_is_no_keystore(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError) as error:
        load_keystore(tmp_path, PASSPHRASE)
    assert type(error.value) is KeystoreError


# who may read a keystore, and how big it may be


def test_keystore_that_others_can_read_is_refused_with_the_chmod_that_fixes_it(keystore: Path) -> None:
    keystore.chmod(0o644)
    with pytest.raises(KeystoreNotPrivate, match=r"can be read by group or others \(mode 0644\)") as error:
        load_keystore(keystore, PASSPHRASE)
    assert f"chmod 600 {keystore}" in str(error.value)
    keystore.chmod(0o640)  # group only: refused too
    with pytest.raises(KeystoreNotPrivate):
        load_keystore(keystore, PASSPHRASE)
    keystore.chmod(0o600)  # what the message says
    assert load_keystore(keystore, PASSPHRASE) == KEY


def test_keystore_in_a_folder_others_can_open_is_refused(keystore: Path) -> None:
    keystore.parent.chmod(0o755)
    try:
        with pytest.raises(KeystoreNotPrivate, match=r"keystore folder .* \(mode 0755\)") as error:
            load_keystore(keystore, PASSPHRASE)
        assert f"chmod 700 {keystore.parent}" in str(error.value)
    finally:
        keystore.parent.chmod(0o700)
    assert load_keystore(keystore, PASSPHRASE) == KEY


def test_keyring_folder_is_forced_private_also_when_it_exists(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    ring = Keyring(folder, kdf="pbkdf2", iterations=2)
    ring.create_account("finance", PASSPHRASE)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "finance.json").stat().st_mode) == 0o600
    fresh = Keyring(tmp_path / "new" / "keys", kdf="pbkdf2", iterations=2)
    fresh.create_encryption_key("encryption", PASSPHRASE)
    assert stat.S_IMODE(fresh.folder.stat().st_mode) == 0o700
    folder.chmod(0o750)  # loosened afterwards: loading refuses it
    with pytest.raises(KeystoreNotPrivate, match="chmod 700"):
        ring.account("finance", PASSPHRASE)


def test_keystore_larger_than_a_keystore_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as file:
        file.truncate(3 * 2**30)  # sparse: 3 GiB that take no disk
    path.chmod(0o600)
    with pytest.raises(FileTooLarge, match="larger than 64 KiB"):
        load_keystore(path, PASSPHRASE)


def test_device_is_no_keystore(tmp_path: Path) -> None:
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(NotARegularFile, match="a device"):
        load_keystore(tmp_path / "zero.json", PASSPHRASE)


# key derivation no weaker than eth-account's defaults


@pytest.fixture
def real_floor(cheap_keystores: None, monkeypatch: pytest.MonkeyPatch) -> KdfFloor:
    """eth-account's defaults, the floor of production (set after the module's cheap one)."""
    monkeypatch.setattr(keys, "KDF_FLOOR", KdfFloor())
    return keys.KDF_FLOOR


def _with_kdf(tmp_path: Path, kdf: str, **params: object) -> Path:
    keystore = Account.encrypt(KEY, PASSPHRASE, kdf=kdf, iterations=2)
    keystore["crypto"]["kdfparams"] |= params
    path = tmp_path / "weak.json"
    path.write_text(json.dumps(keystore))
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("kdf", "params", "named"),
    [
        ("pbkdf2", {"c": 1}, "c=1 < 1000000"),
        ("pbkdf2", {"c": 999_999}, "c=999999"),
        ("pbkdf2", {"c": 10**6, "prf": "hmac-sha1"}, "prf hmac-sha1"),
        ("pbkdf2", {"c": 10**6, "dklen": 16}, "derived key of 16 bytes"),
        ("scrypt", {"n": 2**17, "r": 8, "p": 1}, "n=131072"),
        ("scrypt", {"n": 2**18, "r": 1, "p": 8}, "r=1, p=8"),  # the same work, an eighth of the memory
        ("scrypt", {"n": 2**18, "r": 8, "p": 0}, "p=0"),
        ("scrypt", {"n": "262144", "r": 8, "p": 1}, "n=262144, r=8"),  # a string, not a number
    ],
)
@pytest.mark.usefixtures("real_floor")
def test_keystore_weaker_than_eth_account_defaults_is_refused_before_deriving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kdf: str, params: dict[str, object], named: str
) -> None:
    path = _with_kdf(tmp_path, kdf, **params)
    monkeypatch.setattr(keys.Account, "decrypt", lambda *args: pytest.fail("derived a weak keystore's key"))
    with pytest.raises(WeakKeystore, match="weaker than eth-account's defaults") as error:
        load_keystore(path, PASSPHRASE)
    assert named in str(error.value)
    assert "re-encrypt" in str(error.value)
    assert_no_secrets(str(error.value))


@pytest.mark.usefixtures("real_floor")
@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_keystores_with_eth_account_defaults_load(tmp_path: Path, kdf: str) -> None:
    path = tmp_path / f"{kdf}.json"
    path.write_text(json.dumps(Account.encrypt(KEY, PASSPHRASE, kdf=kdf)))  # Ape's and eth-account's defaults
    path.chmod(0o600)
    assert load_keystore(path, PASSPHRASE) == KEY


@pytest.mark.usefixtures("real_floor")
def test_weak_keystores_are_not_written(tmp_path: Path) -> None:
    ring = Keyring(tmp_path / "keys", kdf="pbkdf2", iterations=2)
    with pytest.raises(WeakKeystore, match="refusing to write a keystore with pbkdf2 with c=2"):
        ring.create_account("finance", PASSPHRASE)
    with pytest.raises(WeakKeystore):
        save_keystore(KEY, tmp_path / "bot.json", PASSPHRASE, kdf="scrypt", iterations=2)
    assert not (tmp_path / "bot.json").exists()
    assert ring.names() == []


def test_overwrite_refused(keystore: Path) -> None:
    other = bytes(31) + b"\x01"
    with pytest.raises(KeystoreExists):
        save_keystore(other, keystore, PASSPHRASE, kdf="pbkdf2", iterations=2)
    assert load_keystore(keystore, PASSPHRASE) == KEY


def test_overwrite_allowed(keystore: Path) -> None:
    other = bytes(31) + b"\x01"
    save_keystore(other, keystore, "new passphrase", kdf="pbkdf2", iterations=2, overwrite=True)
    assert load_keystore(keystore, "new passphrase") == other
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600


def test_empty_passphrase_refused_on_save(tmp_path: Path) -> None:
    with pytest.raises(EmptyPassphrase):
        save_keystore(KEY, tmp_path / "bot.json", "", kdf="pbkdf2", iterations=2)
    assert not (tmp_path / "bot.json").exists()


@pytest.mark.parametrize("key", [b"\x01" * 31, b"\x01" * 33, bytes(32), b"\xff" * 32], ids=["short", "long", "0", "n"])
def test_invalid_private_key_refused(tmp_path: Path, key: bytes) -> None:
    with pytest.raises(KeystoreError) as error:
        save_keystore(key, tmp_path / "bot.json", PASSPHRASE, kdf="pbkdf2", iterations=2)
    assert type(error.value) is KeystoreError
    assert str(int.from_bytes(key, "big")) not in str(error.value)
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__


# passphrase sources


def test_passphrase_from_file_strips_only_the_trailing_newline(tmp_path: Path) -> None:
    file = tmp_path / "pass"
    write_private(file, "  spaced out \n")
    assert resolve_passphrase(file=file, env=None, prompt=False) == "  spaced out "
    write_private(file, "windows\r\n")
    assert resolve_passphrase(file=file, env=None, prompt=False) == "windows"
    write_private(file, "two lines\n\n")
    assert resolve_passphrase(file=file, env=None, prompt=False) == "two lines\n"


def test_file_wins_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "pass"
    write_private(file, "from file\n")
    monkeypatch.setenv("BOT_PASS", "from env")
    assert resolve_passphrase(file=file, env="BOT_PASS", prompt=False) == "from file"


def test_passphrase_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PASS", "from env")
    assert resolve_passphrase(file=None, env="BOT_PASS", prompt=False) == "from env"


def test_empty_passphrase_file_refused(tmp_path: Path) -> None:
    file = tmp_path / "pass"
    write_private(file, "\n")
    with pytest.raises(EmptyPassphrase, match="is empty"):
        resolve_passphrase(file=file, env=None, prompt=False)


def test_empty_passphrase_variable_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PASS", "")
    with pytest.raises(EmptyPassphrase, match="BOT_PASS"):
        resolve_passphrase(file=None, env="BOT_PASS", prompt=False)


def test_missing_passphrase_file(tmp_path: Path) -> None:
    file = tmp_path / "absent"
    with pytest.raises(PassphraseUnavailable) as error:
        resolve_passphrase(file=file, env=None, prompt=False)
    assert type(error.value) is PassphraseUnavailable
    assert str(file) in str(error.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_passphrase_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    file = write_private(tmp_path / "pass", "secret\n")
    file.chmod(mode)
    expected = f"passphrase file {file} can be read by group or others (mode {mode:04o}): run `chmod 600 {file}`"
    with pytest.raises(PassphraseFileNotPrivate) as error:
        resolve_passphrase(file=file, env=None, prompt=False)
    assert str(error.value) == expected
    file.chmod(0o400)
    assert resolve_passphrase(file=file, env=None, prompt=False) == "secret"


def test_passphrase_file_is_capped_and_may_be_a_pipe(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as file:
        file.truncate(2**20)
    big.chmod(0o600)
    with pytest.raises(FileTooLarge, match=r"passphrase file .* is larger than 64 KiB"):
        resolve_passphrase(file=big, env=None, prompt=False)
    with pytest.raises(NotARegularFile, match="is a device"):
        resolve_passphrase(file=Path("/dev/zero"), env=None, prompt=False)
    fifo = tmp_path / "pass"  # e.g. <(pass show collab)
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("from a pipe\n"), daemon=True)
    writer.start()
    assert resolve_passphrase(file=fifo, env=None, prompt=False) == "from a pipe"
    writer.join(timeout=5)


def test_no_passphrase_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOT_PASS", raising=False)
    with pytest.raises(PassphraseUnavailable) as error:
        resolve_passphrase(file=None, env="BOT_PASS", prompt=False)
    assert type(error.value) is PassphraseUnavailable
    message = str(error.value)
    assert "passphrase file" in message
    assert "BOT_PASS" in message
    assert "prompted" in message


class FakeStdin:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_prompts_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys.getpass, "getpass", lambda prompt: "typed")
    monkeypatch.setattr(keys.sys, "stdin", FakeStdin(tty=True))
    assert resolve_passphrase(file=None, env=None, prompt=True) == "typed"
    with pytest.raises(PassphraseUnavailable):
        resolve_passphrase(file=None, env=None, prompt=False)
    monkeypatch.setattr(keys.sys, "stdin", FakeStdin(tty=False))
    with pytest.raises(PassphraseUnavailable):
        resolve_passphrase(file=None, env=None, prompt=True)


def test_empty_prompt_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys.getpass, "getpass", lambda prompt: "")
    monkeypatch.setattr(keys.sys, "stdin", FakeStdin(tty=True))
    with pytest.raises(EmptyPassphrase):
        resolve_passphrase(file=None, env=None, prompt=True)


# keyring


def test_keyring_accounts(keyring: Keyring) -> None:
    created = keyring.create_account("finance", PASSPHRASE)
    loaded = keyring.account("finance", PASSPHRASE)
    assert loaded.address == created.address
    assert loaded.key == created.key
    assert stat.S_IMODE((keyring.folder / "finance.json").stat().st_mode) == 0o600


def test_keyring_encryption_keys(keyring: Keyring) -> None:
    created = keyring.create_encryption_key("org", PASSPHRASE)
    loaded = keyring.encryption_key("org", PASSPHRASE)
    assert isinstance(loaded, EncryptionKey)
    assert loaded.public_key == created.public_key
    assert loaded.decrypt(encrypt(created.public_key, b"bank account")) == b"bank account"


def test_keyring_names(keyring: Keyring) -> None:
    assert keyring.names() == []
    keyring.create_account("finance", PASSPHRASE)
    keyring.create_encryption_key("org", PASSPHRASE)
    keyring.create_account("bot-2", PASSPHRASE)
    (keyring.folder / "Not A Key.json").write_text("{}")
    (keyring.folder / "notes.txt").write_text("")
    assert keyring.names() == ["bot-2", "finance", "org"]


def test_keyring_loads_a_keystore_saved_by_path(keyring: Keyring) -> None:
    save_keystore(KEY, keyring.folder / "imported.json", PASSPHRASE, kdf="pbkdf2", iterations=2)
    assert keyring.account("imported", PASSPHRASE).key == KEY


def test_keyring_refuses_to_overwrite(keyring: Keyring) -> None:
    first = keyring.create_account("finance", PASSPHRASE)
    with pytest.raises(KeystoreExists):
        keyring.create_account("finance", PASSPHRASE)
    with pytest.raises(KeystoreExists):
        keyring.create_encryption_key("finance", PASSPHRASE)
    assert keyring.account("finance", PASSPHRASE).address == first.address


def test_keyring_wrong_passphrase(keyring: Keyring) -> None:
    keyring.create_encryption_key("org", PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        keyring.encryption_key("org", "not it")


def test_keyring_missing_key(keyring: Keyring) -> None:
    with pytest.raises(KeystoreError, match=r"absent\.json") as error:
        keyring.account("absent", PASSPHRASE)
    assert type(error.value) is KeystoreError


def test_keys_keep_to_their_purpose(keyring: Keyring) -> None:
    keyring.create_encryption_key("org", PASSPHRASE)
    keyring.create_account("finance", PASSPHRASE)
    with pytest.raises(WrongKeyPurpose):
        keyring.account("org", PASSPHRASE)
    with pytest.raises(WrongKeyPurpose):
        keyring.encryption_key("finance", PASSPHRASE)


@pytest.mark.parametrize(
    "name",
    ["../x", "x/y", "/etc/passwd", "", "Finance", "-x", "_x", "a.b", "a" * 65, "x\n", "é", ".."],
)
def test_bad_names_refused(keyring: Keyring, name: str) -> None:
    for call in (keyring.account, keyring.encryption_key, keyring.create_account, keyring.create_encryption_key):
        with pytest.raises(InvalidKeyName):
            call(name, PASSPHRASE)
    assert not keyring.folder.exists()


@pytest.mark.parametrize("name", ["a", "0", "finance", "bot_1", "org-b", "a" * 64])
def test_good_names(keyring: Keyring, name: str) -> None:
    assert keyring.path(name) == keyring.folder / f"{name}.json"


# secrets


def test_secrets_absent_from_errors_and_reprs(keystore: Path, keyring: Keyring, tmp_path: Path) -> None:
    texts = [repr(keyring), repr(load_account(keystore, PASSPHRASE))]
    encryption_key = keyring.create_encryption_key("org", PASSPHRASE)
    texts.append(repr(encryption_key))
    for attempt in (
        lambda: load_keystore(keystore, PASSPHRASE + "x"),
        lambda: load_keystore(tmp_path / "absent.json", PASSPHRASE),
        lambda: save_keystore(KEY, keystore, PASSPHRASE, kdf="pbkdf2", iterations=2),
        lambda: keyring.account("org", PASSPHRASE),
        lambda: keyring.encryption_key("org", PASSPHRASE + "x"),
        lambda: keyring.create_account(PASSPHRASE, PASSPHRASE),
        lambda: save_keystore(KEY[:31], tmp_path / "short.json", PASSPHRASE, kdf="pbkdf2", iterations=2),
    ):
        with pytest.raises(KeystoreError) as error:
            attempt()
        texts += [str(error.value), repr(error.value)]
        assert error.value.__cause__ is None
    for text in texts:
        assert_no_secrets(text)
