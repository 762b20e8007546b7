"""Keystores geth can unlock: eth-keyfile writes the AES IV as a number, dropping its leading zero bytes (one keystore
in 256), and geth 1.13 panics on such a 15-byte IV ("bad IV length") when it unlocks the key — the crash the geth
harness had seen "once in some hundred starts". Ours are written with 16 bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from eth_account import Account
from eth_keyfile import keyfile

from collab_py.domain.keys import encrypt_keystore, full_iv, load_keystore, save_keystore


@pytest.fixture
def zero_led_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every random block eth-keyfile draws starts with a zero byte (its IV among them)."""
    monkeypatch.setattr(keyfile.Random, "get_random_bytes", lambda n: b"\0" + os.urandom(n - 1))


@pytest.mark.usefixtures("zero_led_randomness", "cheap_keystores")
def test_an_iv_with_a_leading_zero_byte_keeps_its_16_bytes(tmp_path: Path) -> None:
    key = os.urandom(32)
    raw = dict(Account.encrypt(key, "secret", kdf="pbkdf2", iterations=2))
    assert len(raw["crypto"]["cipherparams"]["iv"]) < 32  # what geth cannot read
    keystore = encrypt_keystore(key, "secret", kdf="pbkdf2", iterations=2)
    iv = keystore["crypto"]["cipherparams"]["iv"]
    assert len(iv) == 32
    assert iv.startswith("00")
    assert Account.decrypt(keystore, "secret") == key
    path = save_keystore(key, tmp_path / "validator.json", "secret", kdf="pbkdf2", iterations=2)
    assert load_keystore(path, "secret") == key


@pytest.mark.usefixtures("cheap_keystores")
def test_full_iv_leaves_a_full_iv_and_other_layouts_alone() -> None:
    keystore = encrypt_keystore(os.urandom(32), "secret", kdf="pbkdf2", iterations=2)
    assert full_iv(dict(keystore)) == keystore
    assert full_iv({"version": 4}) == {"version": 4}
