"""E-invoices (S8.3): the payee's invoice document for a released payment, its canonical encoding and hash, sealing
it to the payer, and the payer's verification against the chain.

The document is canonical JSON (keys sorted, no whitespace, UTF-8; amounts as decimal strings so that no JSON
implementation rounds them); its keccak256 is the invoice hash the payee signs (EIP-712 ``Invoice``) and anchors on
the escrow with ``anchorInvoice``. The same transaction delivers the document, sealed to the payer's finance key in
an :class:`~collab_py.domain.crypto.InvoiceDocument` payload bound to the chain, the escrow and the payment's voucher.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PlainSerializer,
    model_validator,
)
from web3 import Web3
from web3.exceptions import Web3Exception

from collab_py.chain import eip712
from collab_py.domain import crypto
from collab_py.domain.crypto import CONFIDENTIAL, EncryptionKey, InvoiceDocument
from collab_py.domain.models import InvoiceRecord, SecondVoucherRecord
from collab_py.domain.types import contract_number
from collab_py.exceptions import CollabError

#: Version of the invoice document layout (a field of the document).
INVOICE_VERSION: Literal[1] = 1
#: ERC-1271 ``isValidSignature`` magic value.
ERC1271_MAGIC = bytes.fromhex("1626ba7e")

#: ``(signer, digest, signature) -> valid``: checks the signature of a contract account (ERC-1271).
ContractSignatureCheck = Callable[[str, bytes, bytes], bool]


class InvoiceError(CollabError):
    """Base of the e-invoice verification errors."""


class InvoiceMalformed(InvoiceError):
    """The delivered document is not a canonical invoice document."""


class InvoiceHashMismatch(InvoiceError):
    """The delivered document does not hash to the invoice hash anchored on chain."""


class InvoiceSignatureInvalid(InvoiceError):
    """The anchored signature is not the anchored signer's EIP-712 signature of the invoice."""


class InvoiceMismatch(InvoiceError):
    """The invoice disagrees with the payment's second voucher (contract, payment, amount, asset or parties)."""


def _contract_no(text: str) -> str:
    contract_number(text)  # 1-32 UTF-8 bytes, no NUL
    return text


def _address(text: str) -> str:
    if not is_address(text):
        raise ValueError(f"not an address: {text!r}")
    return to_checksum_address(text)


#: A non-negative amount in the asset's smallest unit; a decimal string in the document.
Amount = Annotated[int, Field(ge=0, lt=2**128), PlainSerializer(str, return_type=str, when_used="json")]


class InvoiceLine(BaseModel):
    """One line of an invoice: what was delivered and its amount, tax included."""

    model_config = CONFIDENTIAL

    description: str = Field(min_length=1, max_length=256)
    amount: Amount


class Invoice(BaseModel):
    """The payee's e-invoice for one released payment (S8.3).

    ``amount`` is the invoiced total, tax included: what the second voucher paid. ``tax`` is the part of it that is
    tax. ``issued_at`` is the issue time in Unix seconds. ``lines``, when given, add up to ``amount``.
    """

    model_config = CONFIDENTIAL

    version: Literal[1] = INVOICE_VERSION
    invoice_no: str = Field(min_length=1, max_length=64)
    contract_no: Annotated[str, AfterValidator(_contract_no)]
    seq: int = Field(ge=1, le=255)
    amount: Amount
    tax: Amount
    asset: Annotated[str, AfterValidator(_address)]
    payer_org: int = Field(gt=0, lt=2**32)
    payee_org: int = Field(gt=0, lt=2**32)
    issued_at: int = Field(ge=0, lt=2**64)
    lines: tuple[InvoiceLine, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Invoice:
        if self.amount == 0:
            raise ValueError("an invoice amount must be positive")
        if self.tax > self.amount:
            raise ValueError("the tax cannot exceed the amount it is included in")
        if self.payer_org == self.payee_org:
            raise ValueError("payer and payee must be different orgs")
        if self.lines and sum(line.amount for line in self.lines) != self.amount:
            raise ValueError("the invoice lines do not add up to the amount")
        return self

    def canonical(self) -> bytes:
        """The document: canonical JSON (sorted keys, no whitespace, UTF-8)."""
        return _canonical_json(self.model_dump(mode="json"))

    @property
    def invoice_hash(self) -> bytes:
        """keccak256 of :meth:`canonical`, the hash anchored on chain."""
        return keccak(self.canonical())

    @classmethod
    def from_canonical(cls, document: bytes) -> Invoice:
        """Parses a document, refusing anything but the canonical encoding of a valid invoice."""
        try:
            invoice = cls.model_validate(json.loads(document.decode("utf-8")))
        # ValueError: UnicodeDecodeError, JSONDecodeError, ValidationError, and an integer of more digits than int()
        # converts; RecursionError: JSON nested too deeply
        except (ValueError, RecursionError) as error:
            raise InvoiceMalformed(f"not an invoice document: {type(error).__name__}") from None
        if invoice.canonical() != document:
            raise InvoiceMalformed("the invoice document is not in canonical form")
        return invoice


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def seal_invoice(public_key: bytes, binding: crypto.VoucherBinding, document: bytes) -> bytes:
    """The document sealed to the payer's finance key, bound to the payment's voucher."""
    return crypto.seal(public_key, InvoiceDocument(binding=binding, document=document))


def invoice_digest(chain_id: int, escrow: str, voucher_id: bytes, invoice_hash: bytes) -> bytes:
    """The EIP-712 digest the payee signs, as ``PaymentEscrow.invoiceDigest`` computes it."""
    return eip712.typed_digest(eip712.invoice(chain_id, to_checksum_address(escrow), voucher_id, invoice_hash))


def check_signature(
    record: InvoiceRecord,
    *,
    chain_id: int,
    escrow: str,
    contract_signature: ContractSignatureCheck | None = None,
) -> None:
    """Raises :class:`InvoiceSignatureInvalid` unless the anchored signature is the anchored signer's.

    An externally owned signer must recover from the signature; a contract signer (multisig) is asked through
    ``contract_signature`` (ERC-1271), when given.
    """
    data = eip712.invoice(chain_id, to_checksum_address(escrow), record.voucher_id, record.invoice_hash)
    signer, signature = record.signature.signer, record.signature.signature
    try:
        recovered = Account.recover_message(encode_typed_data(full_message=data), signature=signature)
    except Exception:  # malformed signature: eth_keys' BadSignature, ValueError or IndexError
        recovered = None
    if recovered is not None and recovered == to_checksum_address(signer):
        return
    if contract_signature is not None and contract_signature(signer, eip712.typed_digest(data), signature):
        return
    raise InvoiceSignatureInvalid(f"the invoice of voucher 0x{record.voucher_id.hex()} is not signed by {signer}")


def check_against_voucher(invoice: Invoice, record: InvoiceRecord, second: SecondVoucherRecord) -> None:
    """Raises :class:`InvoiceMismatch` unless the invoice and its anchoring describe the second voucher's payment."""
    expected = {
        "voucher_id": (record.voucher_id, second.voucher_id),
        "contract_no": (invoice.contract_no, second.contract_no),
        "seq": (invoice.seq, second.seq),
        "amount": (invoice.amount, second.amount),
        "asset": (invoice.asset, to_checksum_address(second.asset)),
        "payer_org": (invoice.payer_org, second.payer_org),
        "payee_org": (invoice.payee_org, second.payee_org),
        "anchoring payee_org": (record.payee_org, second.payee_org),
    }
    differing = [f"{name} {ours!r} != {chain!r}" for name, (ours, chain) in expected.items() if ours != chain]
    if differing:
        raise InvoiceMismatch(f"invoice {invoice.invoice_no!r} differs from the second voucher: {'; '.join(differing)}")


def verify_invoice(
    record: InvoiceRecord,
    second: SecondVoucherRecord,
    key: EncryptionKey,
    *,
    chain_id: int,
    escrow: str,
    contract_signature: ContractSignatureCheck | None = None,
) -> Invoice:
    """The payer's check of an anchored e-invoice (S8.3); returns the verified invoice.

    Checks, in order: the signature (:class:`InvoiceSignatureInvalid`); the ciphertext opens with ``key`` and is
    bound to this chain, escrow and voucher (:class:`~collab_py.domain.crypto.DecryptionError`,
    :class:`~collab_py.domain.crypto.PayloadBindingError`); the document hashes to the anchored hash
    (:class:`InvoiceHashMismatch`) and is a canonical invoice (:class:`InvoiceMalformed`); it describes the payment
    of the second voucher (:class:`InvoiceMismatch`).
    """
    check_signature(record, chain_id=chain_id, escrow=escrow, contract_signature=contract_signature)
    bound = crypto.binding(chain_id, escrow, record.voucher_id)
    payload = crypto.open_sealed(key, record.ciphertext, InvoiceDocument, bound)
    actual = keccak(payload.document)
    if actual != record.invoice_hash:
        raise InvoiceHashMismatch(
            f"the delivered invoice hashes to 0x{actual.hex()}, the chain anchored 0x{record.invoice_hash.hex()}"
        )
    invoice = Invoice.from_canonical(payload.document)
    check_against_voucher(invoice, record, second)
    return invoice


_ERC1271_ABI = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "magicValue", "type": "bytes4"}],
    }
]


def erc1271_check(w3: Web3) -> ContractSignatureCheck:
    """An ERC-1271 check against the latest state of ``w3``'s chain, for contract signers (multisigs)."""

    def check(signer: str, digest: bytes, signature: bytes) -> bool:
        address = to_checksum_address(signer)
        if not w3.eth.get_code(address):
            return False
        wallet = w3.eth.contract(address=address, abi=_ERC1271_ABI)
        try:
            magic = wallet.functions.isValidSignature(digest, signature).call()
        except Web3Exception:
            return False
        return bytes(magic) == ERC1271_MAGIC

    return check
