"""Confidential payloads: ECIES on secp256k1 (eciespy, with a compressed ephemeral key and a 12-byte AES-GCM nonce:
the same settings in eciesjs and eciesgo read them) around versioned, typed payloads bound to the chain, the escrow
and the voucher they belong to.

Only ciphertexts, salted hashes and commitments of these values go on chain.
"""

from __future__ import annotations

import os
from typing import ClassVar, TypeVar

import coincurve
import ecies
from ecies.config import Config
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collab_py.exceptions import CollabError


class DecryptionError(CollabError):
    """A ciphertext could not be opened with this key, was tampered with, or is not the expected payload."""


class PayloadBindingError(CollabError):
    """A payload opened fine but belongs to another chain, escrow or voucher than expected."""


class EncryptionKey:
    """A secp256k1 key pair used only for encryption (never for signing)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._key = coincurve.PrivateKey(secret) if secret is not None else coincurve.PrivateKey()

    @property
    def public_key(self) -> bytes:
        """Compressed public key (33 bytes), the form registered on chain."""
        return bytes(self._key.public_key.format(compressed=True))

    def export_secret(self) -> bytes:
        """The 32-byte private key, only to store it encrypted (``Keyring.import_encryption_key``)."""
        return bytes(self._key.secret)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Opens an ECIES ciphertext addressed to this key."""
        try:
            return bytes(ecies.decrypt(self._key.secret, ciphertext, ECIES))
        except Exception as error:  # eciespy raises ValueError or cryptography's InvalidTag
            raise DecryptionError(f"cannot open ciphertext: {type(error).__name__}") from None

    def __repr__(self) -> str:
        return f"EncryptionKey(public_key=0x{self.public_key.hex()})"


#: ECIES settings of every envelope: 33-byte ephemeral key, 12-byte nonce (61 bytes of overhead instead of 97, each
#: byte of which a transaction pays for twice, in calldata and in its event).
ECIES = Config(is_ephemeral_key_compressed=True, symmetric_nonce_length=12)


def encrypt(public_key: bytes, plaintext: bytes) -> bytes:
    """ECIES-encrypts ``plaintext`` to a secp256k1 public key (33 or 65 bytes)."""
    return bytes(ecies.encrypt(public_key, plaintext, ECIES))


#: The configuration of models holding confidential values (bank accounts, key secrets, documents): a validation
#: error says what is wrong with a field, never the value it was given.
CONFIDENTIAL = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class VoucherBinding(BaseModel):
    """What every confidential payload is bound to: checked after decryption."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chain_id: int = Field(ge=0, lt=2**64)
    escrow: bytes = Field(min_length=20, max_length=20)
    voucher_id: bytes = Field(min_length=32, max_length=32)

    def digest(self) -> bytes:
        """What a payload carries: keccak256 of chain id (8 bytes), escrow address (20) and voucher id (32)."""
        return keccak(self.chain_id.to_bytes(8, "big") + self.escrow + self.voucher_id)


class BankAccount(BaseModel):
    """A bank account in clear, for the payment institution (S5.2) or the payer (S5.1)."""

    model_config = CONFIDENTIAL

    KIND: ClassVar[int] = 1
    binding: VoucherBinding
    salt: bytes = Field(min_length=32, max_length=32)
    account: str = Field(min_length=1, max_length=256)

    def body(self) -> bytes:
        """Salt (32) then the account in UTF-8."""
        return self.salt + self.account.encode()

    @classmethod
    def from_body(cls, bound: VoucherBinding, body: bytes) -> BankAccount:
        """Inverse of :meth:`body`."""
        return cls(binding=bound, salt=body[:32], account=body[32:].decode())


class PaymentKey(BaseModel):
    """The time-limited payment key for the payee's finance department (S5.3)."""

    model_config = CONFIDENTIAL

    KIND: ClassVar[int] = 2
    binding: VoucherBinding
    contract_no: bytes = Field(min_length=32, max_length=32)
    amount: int = Field(gt=0, lt=2**128)
    payer_org: int = Field(gt=0, lt=2**32)
    expiry: int = Field(ge=0, lt=2**64)
    secret: bytes = Field(min_length=32, max_length=32)
    salt: bytes = Field(min_length=32, max_length=32)
    bank_account: str = Field(min_length=1, max_length=256)

    def body(self) -> bytes:
        """Contract number (32), amount (16), payer org (4), expiry (8), secret (32), the bank account's salt (32),
        then the account in UTF-8: the payee checks the account against its application's salted hash."""
        return (
            self.contract_no
            + self.amount.to_bytes(16, "big")
            + self.payer_org.to_bytes(4, "big")
            + self.expiry.to_bytes(8, "big")
            + self.secret
            + self.salt
            + self.bank_account.encode()
        )

    @classmethod
    def from_body(cls, bound: VoucherBinding, body: bytes) -> PaymentKey:
        """Inverse of :meth:`body`."""
        return cls(
            binding=bound,
            contract_no=body[:32],
            amount=int.from_bytes(body[32:48], "big"),
            payer_org=int.from_bytes(body[48:52], "big"),
            expiry=int.from_bytes(body[52:60], "big"),
            secret=body[60:92],
            salt=body[92:124],
            bank_account=body[124:].decode(),
        )


class InvoiceDocument(BaseModel):
    """An e-invoice document for the payer's finance department (S8.3): its canonical bytes, whose keccak256 is the
    hash anchored on chain (see :mod:`collab_py.domain.einvoice`)."""

    model_config = CONFIDENTIAL

    KIND: ClassVar[int] = 3
    binding: VoucherBinding
    document: bytes = Field(min_length=1, max_length=65_536)

    def body(self) -> bytes:
        """The document bytes as they are."""
        return self.document

    @classmethod
    def from_body(cls, bound: VoucherBinding, body: bytes) -> InvoiceDocument:
        """Inverse of :meth:`body`."""
        return cls(binding=bound, document=body)


Payload = TypeVar("Payload", BankAccount, PaymentKey, InvoiceDocument)

#: Version of the plaintext layout: ``version (1) | kind (1) | binding digest (32) | body``.
PAYLOAD_VERSION = 2
_HEADER = 2 + 32


def binding(chain_id: int, escrow: str, voucher_id: bytes) -> VoucherBinding:
    """The binding of a payload to a chain, an escrow and a voucher."""
    return VoucherBinding(chain_id=chain_id, escrow=bytes.fromhex(escrow.removeprefix("0x")), voucher_id=voucher_id)


def encode_payload(payload: BankAccount | PaymentKey | InvoiceDocument) -> bytes:
    """The compact plaintext of a payload: a version byte, a kind byte, the binding's digest, the body."""
    return bytes((PAYLOAD_VERSION, payload.KIND)) + payload.binding.digest() + payload.body()


def decode_payload(raw: bytes, model: type[Payload], expected: VoucherBinding) -> Payload:
    """Parses a plaintext made by :func:`encode_payload`, refusing another version or kind
    (:class:`DecryptionError`) or a payload bound to another chain, escrow or voucher (:class:`PayloadBindingError`)."""
    if len(raw) < _HEADER or raw[0] != PAYLOAD_VERSION or raw[1] != model.KIND:
        raise DecryptionError(f"not a version {PAYLOAD_VERSION} {model.__name__} payload")
    if raw[2:_HEADER] != expected.digest():
        raise PayloadBindingError(f"{model.__name__} is bound to another chain, escrow or voucher")
    try:
        return model.from_body(expected, raw[_HEADER:])
    except (ValidationError, UnicodeDecodeError) as error:
        raise DecryptionError(f"malformed {model.__name__} payload: {type(error).__name__}") from None


def seal(public_key: bytes, payload: BankAccount | PaymentKey | InvoiceDocument) -> bytes:
    """Encrypts a payload to ``public_key``."""
    return encrypt(public_key, encode_payload(payload))


def open_sealed(key: EncryptionKey, ciphertext: bytes, model: type[Payload], expected: VoucherBinding) -> Payload:
    """Decrypts and validates a payload, refusing one bound to another chain, escrow or voucher."""
    return decode_payload(key.decrypt(ciphertext), model, expected)


def new_secret() -> bytes:
    """A fresh 32-byte payment-key secret."""
    return os.urandom(32)


def new_salt() -> bytes:
    """A fresh 32-byte salt for a bank account hash."""
    return os.urandom(32)


def bank_account_hash(account: str, salt: bytes) -> bytes:
    """Salted hash of a bank account, the only form of it on chain in clear."""
    return keccak(abi_encode(["bytes32", "string"], [salt, account]))


def key_commitment(chain_id: int, escrow: str, voucher_id: bytes, secret: bytes) -> bytes:
    """Commitment to a payment-key secret, as ``PaymentEscrow.keyCommitmentFor`` computes it."""
    return keccak(abi_encode(["uint256", "address", "bytes32", "bytes32"], [chain_id, escrow, voucher_id, secret]))
