"""Confidential payloads: ECIES round trips, interop with eciespy, and a named error for every failure (no chain)."""

from __future__ import annotations

import coincurve
import ecies
import pytest
from eth_utils.crypto import keccak
from pydantic import ValidationError

from collab_py.domain import crypto
from collab_py.domain.crypto import BankAccount, EncryptionKey, PaymentKey, VoucherBinding
from collab_py.domain.types import contract_number, payment_voucher_id

CHAIN_ID = 31337
ESCROW = "0x" + "11" * 20
CONTRACT_NO = contract_number("HT-2026-0001")
VOUCHER_ID = payment_voucher_id(CONTRACT_NO, 1)
ACCOUNT = "CN12 ICBC 6222 0200 0000 1234"


@pytest.fixture
def bound() -> VoucherBinding:
    return crypto.binding(CHAIN_ID, ESCROW, VOUCHER_ID)


@pytest.fixture
def key() -> EncryptionKey:
    return EncryptionKey()


@pytest.fixture
def bank_account(bound: VoucherBinding) -> BankAccount:
    return BankAccount(binding=bound, salt=b"\x07" * 32, account=ACCOUNT)


@pytest.fixture
def payment_key(bound: VoucherBinding) -> PaymentKey:
    return PaymentKey(
        binding=bound,
        contract_no=CONTRACT_NO,
        amount=2**128 - 1,
        payer_org=1,
        expiry=1_900_000_000,
        secret=b"\x42" * 32,
        salt=b"\x07" * 32,
        bank_account="账户 6222 0200",  # non-ASCII survives the UTF-8 body
    )


def test_binding_digest_is_of_chain_escrow_and_voucher(bound: VoucherBinding) -> None:
    digest = bound.digest()
    assert digest == keccak(CHAIN_ID.to_bytes(8, "big") + bytes.fromhex("11" * 20) + VOUCHER_ID)
    others = {
        crypto.binding(CHAIN_ID + 1, ESCROW, VOUCHER_ID).digest(),
        crypto.binding(CHAIN_ID, "0x" + "22" * 20, VOUCHER_ID).digest(),
        crypto.binding(CHAIN_ID, ESCROW, payment_voucher_id(CONTRACT_NO, 2)).digest(),
    }
    assert len(others) == 3
    assert digest not in others


def test_bank_account_round_trip(key: EncryptionKey, bank_account: BankAccount, bound: VoucherBinding) -> None:
    sealed = crypto.seal(key.public_key, bank_account)
    assert ACCOUNT.encode() not in sealed
    opened = crypto.open_sealed(key, sealed, BankAccount, bound)
    assert opened == bank_account
    assert opened.account == ACCOUNT
    assert opened.salt == b"\x07" * 32


def test_payment_key_round_trip(key: EncryptionKey, payment_key: PaymentKey, bound: VoucherBinding) -> None:
    sealed = crypto.seal(key.public_key, payment_key)
    assert payment_key.secret not in sealed
    opened = crypto.open_sealed(key, sealed, PaymentKey, bound)
    assert opened == payment_key
    assert (opened.amount, opened.payer_org, opened.expiry) == (2**128 - 1, 1, 1_900_000_000)
    assert (opened.salt, opened.bank_account) == (b"\x07" * 32, "账户 6222 0200")


def test_sealing_twice_gives_different_ciphertexts_that_both_open(
    key: EncryptionKey, payment_key: PaymentKey, bound: VoucherBinding
) -> None:
    first, second = crypto.seal(key.public_key, payment_key), crypto.seal(key.public_key, payment_key)
    assert first != second  # a fresh ephemeral key each time
    assert crypto.open_sealed(key, first, PaymentKey, bound) == crypto.open_sealed(key, second, PaymentKey, bound)


def test_payload_layout(bank_account: BankAccount, payment_key: PaymentKey, bound: VoucherBinding) -> None:
    account_raw = crypto.encode_payload(bank_account)
    assert account_raw[:2] == bytes((crypto.PAYLOAD_VERSION, BankAccount.KIND))
    assert account_raw[2:34] == bound.digest()
    assert account_raw[34:] == b"\x07" * 32 + ACCOUNT.encode()
    key_raw = crypto.encode_payload(payment_key)
    assert key_raw[1] == PaymentKey.KIND != BankAccount.KIND
    assert key_raw[34:] == (
        CONTRACT_NO
        + (2**128 - 1).to_bytes(16, "big")
        + (1).to_bytes(4, "big")
        + (1_900_000_000).to_bytes(8, "big")
        + b"\x42" * 32
        + b"\x07" * 32
        + "账户 6222 0200".encode()
    )
    assert crypto.decode_payload(key_raw, PaymentKey, bound) == payment_key
    assert crypto.decode_payload(account_raw, BankAccount, bound) == bank_account


def test_envelope_is_compact(key: EncryptionKey, bank_account: BankAccount) -> None:
    """A compressed ephemeral key (33 bytes), a 12-byte nonce and a 16-byte tag around the plaintext."""
    sealed = crypto.seal(key.public_key, bank_account)
    assert len(sealed) == 33 + 12 + 16 + len(crypto.encode_payload(bank_account))
    assert sealed[0] in (2, 3)


def test_ciphertext_made_by_eciespy_opens(
    key: EncryptionKey, payment_key: PaymentKey, bank_account: BankAccount, bound: VoucherBinding
) -> None:
    sealed = ecies.encrypt(key.public_key.hex(), crypto.encode_payload(payment_key), crypto.ECIES)
    assert crypto.open_sealed(key, sealed, PaymentKey, bound) == payment_key
    sealed = ecies.encrypt(key.public_key, crypto.encode_payload(bank_account), crypto.ECIES)
    assert crypto.open_sealed(key, sealed, BankAccount, bound) == bank_account


def test_our_ciphertext_opens_with_eciespy(bank_account: BankAccount) -> None:
    secret = bytes(range(1, 33))
    key = EncryptionKey(secret)
    assert key.public_key == coincurve.PrivateKey(secret).public_key.format(compressed=True)
    assert len(key.public_key) == 33
    sealed = crypto.seal(key.public_key, bank_account)
    assert ecies.decrypt(secret, sealed, crypto.ECIES) == crypto.encode_payload(bank_account)


def test_uncompressed_public_key_works_too(
    key: EncryptionKey, bank_account: BankAccount, bound: VoucherBinding
) -> None:
    uncompressed = coincurve.PublicKey(key.public_key).format(compressed=False)
    assert len(uncompressed) == 65
    sealed = crypto.seal(uncompressed, bank_account)
    assert crypto.open_sealed(key, sealed, BankAccount, bound) == bank_account


def test_wrong_key_is_a_decryption_error(key: EncryptionKey, payment_key: PaymentKey, bound: VoucherBinding) -> None:
    sealed = crypto.seal(key.public_key, payment_key)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(EncryptionKey(), sealed, PaymentKey, bound)


#: In the ephemeral key (0-32), the nonce (33-44), the tag (45-60) and the ciphertext.
@pytest.mark.parametrize("position", [0, 1, 32, 40, 50, 70, 90, -17, -1])
def test_tampered_ciphertext_is_a_decryption_error(
    key: EncryptionKey, payment_key: PaymentKey, bound: VoucherBinding, position: int
) -> None:
    sealed = bytearray(crypto.seal(key.public_key, payment_key))
    sealed[position] ^= 0x01
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(key, bytes(sealed), PaymentKey, bound)


@pytest.mark.parametrize("keep", [0, 10, 33, 45, 61, 80, -1])
def test_truncated_ciphertext_is_a_decryption_error(
    key: EncryptionKey, bank_account: BankAccount, bound: VoucherBinding, keep: int
) -> None:
    sealed = crypto.seal(key.public_key, bank_account)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(key, sealed[:keep], BankAccount, bound)


def test_garbage_is_a_decryption_error(key: EncryptionKey, bound: VoucherBinding) -> None:
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(key, b"\x00" * 200, PaymentKey, bound)
    with pytest.raises(crypto.DecryptionError):
        key.decrypt(b"not a ciphertext")


def test_wrong_payload_kind_is_a_decryption_error(
    key: EncryptionKey, bank_account: BankAccount, payment_key: PaymentKey, bound: VoucherBinding
) -> None:
    with pytest.raises(crypto.DecryptionError, match="PaymentKey"):
        crypto.open_sealed(key, crypto.seal(key.public_key, bank_account), PaymentKey, bound)
    with pytest.raises(crypto.DecryptionError, match="BankAccount"):
        crypto.open_sealed(key, crypto.seal(key.public_key, payment_key), BankAccount, bound)


@pytest.mark.parametrize("version", [0, crypto.PAYLOAD_VERSION + 1, 0xFF])
def test_wrong_version_byte_is_a_decryption_error(
    key: EncryptionKey, payment_key: PaymentKey, bound: VoucherBinding, version: int
) -> None:
    raw = crypto.encode_payload(payment_key)
    other = bytes((version,)) + raw[1:]
    with pytest.raises(crypto.DecryptionError):
        crypto.decode_payload(other, PaymentKey, bound)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(key, crypto.encrypt(key.public_key, other), PaymentKey, bound)
    # the same bytes with the right version open: only the version byte was refused
    assert crypto.open_sealed(key, crypto.encrypt(key.public_key, raw), PaymentKey, bound) == payment_key


def test_malformed_bodies_are_decryption_errors(
    payment_key: PaymentKey, bank_account: BankAccount, bound: VoucherBinding
) -> None:
    raw = crypto.encode_payload(payment_key)
    with pytest.raises(crypto.DecryptionError):
        crypto.decode_payload(raw[:30], PaymentKey, bound)  # shorter than the header
    with pytest.raises(crypto.DecryptionError):
        crypto.decode_payload(raw[:110], PaymentKey, bound)  # body cut inside the secret
    with pytest.raises(crypto.DecryptionError):
        crypto.decode_payload(raw[:150], PaymentKey, bound)  # body cut inside the salt, no account
    account_raw = crypto.encode_payload(bank_account)
    with pytest.raises(crypto.DecryptionError):
        crypto.decode_payload(account_raw[:34] + b"\x07" * 32 + b"\xff\xfe", BankAccount, bound)  # not UTF-8
    with pytest.raises(crypto.DecryptionError):
        crypto.decode_payload(account_raw[:34] + b"\x07" * 32, BankAccount, bound)  # empty account


@pytest.mark.parametrize(
    "other",
    [
        crypto.binding(CHAIN_ID + 1, ESCROW, VOUCHER_ID),
        crypto.binding(CHAIN_ID, "0x" + "22" * 20, VOUCHER_ID),
        crypto.binding(CHAIN_ID, ESCROW, payment_voucher_id(CONTRACT_NO, 2)),
    ],
    ids=["chain", "escrow", "voucher"],
)
def test_payload_bound_elsewhere_is_a_binding_error(
    key: EncryptionKey, payment_key: PaymentKey, bank_account: BankAccount, other: VoucherBinding
) -> None:
    for payload, model in ((payment_key, PaymentKey), (bank_account, BankAccount)):
        sealed = crypto.seal(key.public_key, payload)
        with pytest.raises(crypto.PayloadBindingError) as refusal:
            crypto.open_sealed(key, sealed, model, other)
        assert not isinstance(refusal.value, crypto.DecryptionError)


def test_encryption_key_repr_hides_the_private_key() -> None:
    secret = bytes(range(100, 132))
    key = EncryptionKey(secret)
    for shown in (repr(key), str(key), f"{key!r}"):
        assert secret.hex() not in shown
        assert secret.hex().upper() not in shown
        assert key.public_key.hex() in shown


def test_bank_account_hash_depends_on_salt_and_account() -> None:
    salt, other_salt = crypto.new_salt(), crypto.new_salt()
    assert salt != other_salt
    assert len(salt) == 32
    digest = crypto.bank_account_hash(ACCOUNT, salt)
    assert len(digest) == 32
    assert digest == crypto.bank_account_hash(ACCOUNT, salt)
    assert digest != crypto.bank_account_hash(ACCOUNT, other_salt)
    assert digest != crypto.bank_account_hash(ACCOUNT + "5", salt)


def test_key_commitment_depends_on_every_input() -> None:
    secret = crypto.new_secret()
    assert len(secret) == 32
    assert secret != crypto.new_secret()
    commitment = crypto.key_commitment(CHAIN_ID, ESCROW, VOUCHER_ID, secret)
    assert len(commitment) == 32
    others = {
        crypto.key_commitment(CHAIN_ID + 1, ESCROW, VOUCHER_ID, secret),
        crypto.key_commitment(CHAIN_ID, "0x" + "22" * 20, VOUCHER_ID, secret),
        crypto.key_commitment(CHAIN_ID, ESCROW, payment_voucher_id(CONTRACT_NO, 2), secret),
        crypto.key_commitment(CHAIN_ID, ESCROW, VOUCHER_ID, crypto.new_secret()),
    }
    assert commitment not in others
    assert len(others) == 4


@pytest.mark.parametrize(
    "change", [{"amount": 0}, {"payer_org": 0}, {"secret": b"\x01" * 31}, {"salt": b"\x01" * 16}, {"bank_account": ""}]
)
def test_payment_key_fields_are_validated(payment_key: PaymentKey, change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PaymentKey.model_validate({**payment_key.model_dump(), **change})


def test_bank_account_and_binding_fields_are_validated(bound: VoucherBinding) -> None:
    with pytest.raises(ValidationError):
        BankAccount(binding=bound, salt=b"\x01" * 31, account=ACCOUNT)
    with pytest.raises(ValidationError):
        BankAccount(binding=bound, salt=b"\x01" * 32, account="")
    with pytest.raises(ValidationError):
        crypto.binding(CHAIN_ID, "0x1234", VOUCHER_ID)
