"""S8.3: Party B issues a signed e-invoice for a released payment, anchors its hash with the document sealed to
Party A, and Party A verifies it against the chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from pydantic import ValidationError
from web3.logs import DISCARD

from collab_py.chain import eip712, errors
from collab_py.chain.deploy import deploy_contract
from collab_py.chain.enums import Department, VoucherStatus
from collab_py.chain.transactor import Transactor
from collab_py.devnet.flow import Flow
from collab_py.devnet.parties import fund_on_dev_node
from collab_py.domain import crypto
from collab_py.domain import einvoice as invoices
from collab_py.domain.documents import DocumentStore
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.einvoice import (
    Invoice,
    InvoiceHashMismatch,
    InvoiceLine,
    InvoiceMalformed,
    InvoiceMismatch,
    InvoiceSignatureInvalid,
)
from collab_py.domain.models import InvoiceRecord, Signature
from collab_py.domain.types import payment_voucher_id
from collab_py.services.reader import PaymentNotReleasedError, UnknownInvoiceError
from support import BANK_ACCOUNT, World, h, issued, released

INVOICE_NO = "INV-2026-000123"
#: 13% VAT included in the contract total of 1,000,000.00.
TAX = 115_044_25
ISSUED_AT = 1_780_000_000


def two_released(flow: Flow, world: World, draft: ContractDraft) -> tuple[int, int]:
    """Two payments of one contract (400,000.00 then 600,000.00), both released: their seqs."""
    first = released(flow, world, draft, amount=400_000_00)
    second = flow.finance(world.b).apply_payment(draft.number, 600_000_00, BANK_ACCOUNT).seq
    flow.finance(world.a).issue_voucher(draft.number, second)
    flow.finance(world.b).redeem(draft.number, second)
    flow.institution(world.bank).release(draft.number, second)
    return first, second


def invoice_for(world: World, draft: ContractDraft, seq: int, /, **changes: object) -> Invoice:
    """The invoice B should issue for payment ``seq`` of ``draft`` (the whole total), with any field changed."""
    fields: dict[str, object] = {
        "invoice_no": INVOICE_NO,
        "contract_no": draft.number,
        "seq": seq,
        "amount": draft.total,
        "tax": TAX,
        "asset": world.deployment.asset.address,
        "payer_org": world.a.org_id,
        "payee_org": world.b.org_id,
        "issued_at": ISSUED_AT,
    }
    fields.update(changes)
    return Invoice.model_validate(fields)


def anchor_call(
    world: World,
    draft: ContractDraft,
    seq: int,
    invoice_hash: bytes,
    *,
    key: LocalAccount | None = None,
    signer: str | None = None,
    signed_voucher: bytes | None = None,
    signed_hash: bytes | None = None,
    signature: bytes | None = None,
) -> object:
    """anchorInvoice for payment ``seq``, signed by ``key`` (default B's FINANCE) over ``signed_voucher`` and
    ``signed_hash`` (default: this payment's voucher and ``invoice_hash``), naming ``signer`` (default: the key)."""
    key = key or world.b.account(Department.FINANCE)
    manifest = world.deployment.manifest
    data = eip712.invoice(
        manifest.chain_id,
        manifest.escrow,
        signed_voucher or payment_voucher_id(draft.contract_no, seq),
        signed_hash or invoice_hash,
    )
    return world.deployment.escrow.functions.anchorInvoice(
        draft.contract_no,
        seq,
        invoice_hash,
        b"\x05" * 200,
        signer or key.address,
        eip712.sign_typed(key, data) if signature is None else signature,
    )


def deliver(
    flow: Flow,
    world: World,
    draft: ContractDraft,
    seq: int,
    document: bytes,
    *,
    invoice_hash: bytes | None = None,
    ciphertext: bytes | None = None,
) -> InvoiceRecord:
    """B anchors ``document`` (or another hash / ciphertext) through its service's low-level steps."""
    b = flow.finance(world.b)
    invoice_hash = keccak(document) if invoice_hash is None else invoice_hash
    if ciphertext is None:
        ciphertext = invoices.seal_invoice(
            world.a.encryption_key.public_key, b.binding(draft.contract_no, seq), document
        )
    signature = b.sign_invoice(draft.contract_no, seq, invoice_hash)
    b.execute(
        b.prepare_anchor_invoice(
            draft.contract_no, seq, invoice_hash=invoice_hash, ciphertext=ciphertext, signature=signature
        )
    )
    return b.reader.invoice(draft.contract_no, seq)


# ---------------------------------------------------------------------------------------------------- happy path
def test_payee_issues_and_payer_verifies_the_invoice(
    world: World, flow: Flow, draft: ContractDraft, tmp_path: Path
) -> None:
    seq = released(flow, world, draft)
    b_store, a_store = DocumentStore(tmp_path / "b"), DocumentStore(tmp_path / "a")
    record = flow.finance(world.b).issue_invoice(draft.number, seq, invoice_no=INVOICE_NO, tax=TAX, documents=b_store)

    voucher_id = payment_voucher_id(draft.contract_no, seq)
    escrow = world.deployment.escrow
    assert record.voucher_id == voucher_id
    assert (record.contract_no, record.seq, record.payee_org) == (draft.number, seq, world.b.org_id)
    assert record.signature.signer == world.b.account(Department.FINANCE).address
    assert escrow.functions.invoiceOf(voucher_id).call() == record.invoice_hash
    (step,) = [r for r in flow.records if r.step == "anchorInvoice"]
    assert (step.requirement, step.tx_hash) == ("S8.3", "0x" + record.evidence.tx_hash.hex())
    assert step.gas_used < 120_000

    invoice = flow.finance(world.a).receive_invoice(draft.number, seq, documents=a_store)
    assert invoice.invoice_hash == record.invoice_hash
    assert (invoice.invoice_no, invoice.contract_no, invoice.seq) == (INVOICE_NO, draft.number, seq)
    assert (invoice.amount, invoice.tax, invoice.asset) == (draft.total, TAX, world.deployment.asset.address)
    assert (invoice.payer_org, invoice.payee_org) == (world.a.org_id, world.b.org_id)
    paid_at = flow.finance(world.a).reader.second_voucher_of(draft.number, seq).paid_at
    assert invoice.issued_at >= paid_at
    document = invoice.canonical()
    assert b_store.get(record.invoice_hash) == a_store.get(record.invoice_hash) == document

    # confidential: the document is on chain only as a ciphertext for A
    tx = world.w3.eth.get_transaction(record.evidence.tx_hash)
    receipt = world.w3.eth.get_transaction_receipt(record.evidence.tx_hash)
    on_chain = [bytes(tx["input"]), *(bytes(log["data"]) for log in receipt["logs"])]
    for clear in (document, INVOICE_NO.encode(), str(TAX).encode(), b'"invoice_no"'):
        assert not any(clear in blob for blob in on_chain)
    (anchored,) = escrow.events.InvoiceAnchored().process_receipt(receipt, errors=DISCARD)
    assert anchored.args.contractNo == draft.contract_no
    assert anchored.args.payeeOrg == world.b.org_id
    assert anchored.args.invoiceCiphertext == record.ciphertext
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(
            world.c.encryption_key,
            record.ciphertext,
            crypto.InvoiceDocument,
            flow.finance(world.b).binding(draft.contract_no, seq),
        )
    assert json.loads(record.model_dump_json())["invoice_hash"] == "0x" + record.invoice_hash.hex()


def test_invoice_digest_matches_the_escrow(world: World) -> None:
    manifest = world.deployment.manifest
    on_chain = world.deployment.escrow.functions.invoiceDigest(h("voucher"), h("invoice")).call()
    assert invoices.invoice_digest(manifest.chain_id, manifest.escrow, h("voucher"), h("invoice")) == on_chain
    data = eip712.invoice(manifest.chain_id, manifest.escrow, h("voucher"), h("invoice"))
    assert eip712.typed_digest(data) == on_chain


def test_anchoring_is_allowed_while_the_escrow_is_paused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    assert flow.institution(world.bank).pause()
    record = flow.finance(world.b).issue_invoice(draft.number, seq, invoice_no=INVOICE_NO, tax=0)
    assert flow.finance(world.a).receive_invoice(draft.number, seq).invoice_hash == record.invoice_hash


def test_each_payment_of_a_contract_gets_its_own_invoice(world: World, flow: Flow, draft: ContractDraft) -> None:
    first, second = two_released(flow, world, draft)
    b, a = flow.finance(world.b), flow.finance(world.a)
    lines = (InvoiceLine(description="series delivery, first half", amount=600_000_00),)
    b.issue_invoice(draft.number, first, invoice_no="INV-1", tax=46_017_70)
    b.issue_invoice(draft.number, second, invoice_no="INV-2", tax=69_026_55, lines=lines)
    assert a.receive_invoice(draft.number, first).amount == 400_000_00
    received = a.receive_invoice(draft.number, second)
    assert (received.invoice_no, received.amount, received.lines) == ("INV-2", 600_000_00, lines)


def test_multisig_signs_the_invoice_through_erc1271(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    owner = Account.create()
    wallet, _ = deploy_contract(world.admin, "ERC1271Wallet", owner.address)
    world.admin.transact(
        world.deployment.registry.functions.bindAccount(wallet.address, world.b.org_id, Department.FINANCE)
    )
    b = flow.finance(world.b)
    document = invoice_for(world, draft, seq).canonical()
    invoice_hash = keccak(document)
    ciphertext = invoices.seal_invoice(world.a.encryption_key.public_key, b.binding(draft.contract_no, seq), document)
    manifest = world.deployment.manifest
    voucher_id = payment_voucher_id(draft.contract_no, seq)
    signature = eip712.sign_typed(owner, eip712.invoice(manifest.chain_id, manifest.escrow, voucher_id, invoice_hash))
    b.execute(
        b.prepare_anchor_invoice(
            draft.contract_no,
            seq,
            invoice_hash=invoice_hash,
            ciphertext=ciphertext,
            signature=signature,
            signer=wallet.address,
        )
    )
    record = b.reader.invoice(draft.contract_no, seq)
    assert record.signature.signer == wallet.address
    assert flow.finance(world.a).receive_invoice(draft.number, seq).canonical() == document
    # without an ERC-1271 check, a contract signer cannot be verified
    second = b.reader.second_voucher_of(draft.number, seq)
    with pytest.raises(InvoiceSignatureInvalid):
        invoices.verify_invoice(
            record, second, world.a.encryption_key, chain_id=manifest.chain_id, escrow=manifest.escrow
        )


# ---------------------------------------------------------------------------------------------------- chain refusals
def test_invoice_before_release_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq, _ = issued(flow, world, draft)
    b = world.tx(world.b, Department.FINANCE)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        b.transact(anchor_call(world, draft, seq, h("invoice")))  # type: ignore[arg-type]
    assert refusal.value.args_by_name["status"] == VoucherStatus.FROZEN
    flow.finance(world.b).redeem(draft.number, seq)
    with pytest.raises(errors.UnexpectedVoucherStatus) as refusal:
        b.transact(anchor_call(world, draft, seq, h("invoice")))  # type: ignore[arg-type]
    assert refusal.value.args_by_name["status"] == VoucherStatus.REQUESTED
    with pytest.raises(errors.UnknownVoucher):
        b.transact(anchor_call(world, draft, seq + 1, h("invoice")))  # type: ignore[arg-type]
    with pytest.raises(PaymentNotReleasedError):
        flow.finance(world.b).issue_invoice(draft.number, seq, invoice_no=INVOICE_NO, tax=TAX)
    with pytest.raises(UnknownInvoiceError):
        flow.finance(world.a).receive_invoice(draft.number, seq)


def test_invoice_by_a_non_payee_or_another_department_is_refused(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq = released(flow, world, draft)
    call = anchor_call(world, draft, seq, h("invoice"))
    outsider = Account.create()
    fund_on_dev_node(world.w3, [outsider])
    for transactor, error in (
        (world.tx(world.a, Department.FINANCE), errors.WrongParty),
        (world.tx(world.c, Department.FINANCE), errors.WrongParty),
        (world.tx(world.b, Department.BUSINESS), errors.WrongDepartment),
        (world.tx(world.bank, Department.OPERATOR), errors.WrongDepartment),
        (Transactor(world.w3, outsider), errors.NotAMember),
    ):
        with pytest.raises(error):
            transactor.transact(call)  # type: ignore[arg-type]
    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.b.org_id, False))
    with pytest.raises(errors.OrgSuspended):
        world.tx(world.b, Department.FINANCE).transact(call)  # type: ignore[arg-type]
    with pytest.raises(errors.WrongParty):
        flow.finance(world.a).issue_invoice(draft.number, seq, invoice_no=INVOICE_NO, tax=TAX)


def test_second_invoice_for_one_payment_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    first = flow.finance(world.b).issue_invoice(draft.number, seq, invoice_no=INVOICE_NO, tax=TAX)
    with pytest.raises(errors.InvoiceAlreadyAnchored) as refusal:
        world.tx(world.b, Department.FINANCE).transact(anchor_call(world, draft, seq, h("corrected invoice")))  # type: ignore[arg-type]
    assert refusal.value.args_by_name["invoiceHash"] == first.invoice_hash
    with pytest.raises(errors.InvoiceAlreadyAnchored):
        flow.finance(world.b).issue_invoice(draft.number, seq, invoice_no="INV-2", tax=TAX)


def test_zero_invoice_hash_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    with pytest.raises(errors.InvalidInvoiceHash):
        world.tx(world.b, Department.FINANCE).transact(anchor_call(world, draft, seq, b"\x00" * 32))  # type: ignore[arg-type]


def test_bad_signature_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    b = world.tx(world.b, Department.FINANCE)
    b_finance = world.b.account(Department.FINANCE).address
    for call in (
        anchor_call(world, draft, seq, h("invoice"), key=Account.create(), signer=b_finance),  # an impostor's key
        anchor_call(world, draft, seq, h("invoice"), signed_hash=h("another invoice")),  # another document
        anchor_call(world, draft, seq, h("invoice"), signature=b"\x01" * 65),  # garbage
        anchor_call(world, draft, seq, h("invoice"), signature=b""),  # none
    ):
        with pytest.raises(errors.InvalidSignature) as refusal:
            b.transact(call)  # type: ignore[arg-type]
        assert refusal.value.args_by_name["signer"] == b_finance


def test_signature_by_an_account_of_another_org_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    b = world.tx(world.b, Department.FINANCE)
    for key in (
        world.c.account(Department.FINANCE),
        world.a.account(Department.FINANCE),
        world.b.account(Department.BUSINESS),
        Account.create(),
    ):
        with pytest.raises(errors.UnauthorizedSigner) as refusal:
            b.transact(anchor_call(world, draft, seq, h("invoice"), key=key))  # type: ignore[arg-type]
        assert refusal.value.args_by_name == {"signer": key.address, "orgId": world.b.org_id}


def test_signature_replayed_for_another_voucher_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    first, second = two_released(flow, world, draft)
    b = world.tx(world.b, Department.FINANCE)
    replayed = anchor_call(
        world, draft, second, h("invoice"), signed_voucher=payment_voucher_id(draft.contract_no, first)
    )
    with pytest.raises(errors.InvalidSignature):
        b.transact(replayed)  # type: ignore[arg-type]
    # the same signature from the first payment's transaction, taken as it is
    record = deliver(flow, world, draft, first, invoice_for(world, draft, first, amount=400_000_00, tax=0).canonical())
    copied = world.deployment.escrow.functions.anchorInvoice(
        draft.contract_no,
        second,
        record.invoice_hash,
        record.ciphertext,
        record.signature.signer,
        record.signature.signature,
    )
    with pytest.raises(errors.InvalidSignature):
        b.transact(copied)


# ---------------------------------------------------------------------------------------------------- payer's checks
def test_tampered_ciphertext_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    document = invoice_for(world, draft, seq).canonical()
    sealed = invoices.seal_invoice(
        world.a.encryption_key.public_key, flow.finance(world.b).binding(draft.contract_no, seq), document
    )
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 0x01])
    deliver(flow, world, draft, seq, document, ciphertext=tampered)
    with pytest.raises(crypto.DecryptionError):
        flow.finance(world.a).receive_invoice(draft.number, seq)


def test_ciphertext_for_another_org_or_payment_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    document = invoice_for(world, draft, seq).canonical()
    b = flow.finance(world.b)
    manifest = world.deployment.manifest
    record = deliver(
        flow,
        world,
        draft,
        seq,
        document,
        ciphertext=invoices.seal_invoice(
            world.c.encryption_key.public_key, b.binding(draft.contract_no, seq), document
        ),
    )
    with pytest.raises(crypto.DecryptionError):
        flow.finance(world.a).receive_invoice(draft.number, seq)
    elsewhere = crypto.binding(manifest.chain_id, manifest.escrow, h("another voucher"))
    moved = record.model_copy(
        update={"ciphertext": invoices.seal_invoice(world.a.encryption_key.public_key, elsewhere, document)}
    )
    second = b.reader.second_voucher_of(draft.number, seq)
    with pytest.raises(crypto.PayloadBindingError):
        invoices.verify_invoice(
            moved, second, world.a.encryption_key, chain_id=manifest.chain_id, escrow=manifest.escrow
        )


def test_document_that_does_not_hash_to_the_anchored_hash_is_refused(
    world: World, flow: Flow, draft: ContractDraft
) -> None:
    seq = released(flow, world, draft)
    anchored = invoice_for(world, draft, seq)
    delivered = invoice_for(world, draft, seq, tax=0)
    deliver(flow, world, draft, seq, delivered.canonical(), invoice_hash=anchored.invoice_hash)
    with pytest.raises(InvoiceHashMismatch):
        flow.finance(world.a).receive_invoice(draft.number, seq)


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", 999_999_99), ("seq", 2), ("contract_no", "HT-2026-9999"), ("payer_org", 3), ("payee_org", 3)],
)
def test_invoice_that_differs_from_the_second_voucher_is_refused(
    world: World, flow: Flow, draft: ContractDraft, field: str, value: object
) -> None:
    seq = released(flow, world, draft)
    deliver(flow, world, draft, seq, invoice_for(world, draft, seq, **{field: value}).canonical())
    with pytest.raises(InvoiceMismatch, match=field):
        flow.finance(world.a).receive_invoice(draft.number, seq)


def test_invoice_in_another_asset_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    other = invoice_for(world, draft, seq, asset=world.deployment.registry.address)
    deliver(flow, world, draft, seq, other.canonical())
    with pytest.raises(InvoiceMismatch, match="asset"):
        flow.finance(world.a).receive_invoice(draft.number, seq)


def test_non_canonical_document_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    pretty = json.dumps(invoice_for(world, draft, seq).model_dump(mode="json"), indent=2).encode()
    deliver(flow, world, draft, seq, pretty)
    with pytest.raises(InvoiceMalformed, match="canonical"):
        flow.finance(world.a).receive_invoice(draft.number, seq)


def test_signature_of_a_wrong_signer_is_refused(world: World, flow: Flow, draft: ContractDraft) -> None:
    seq = released(flow, world, draft)
    record = flow.finance(world.b).issue_invoice(draft.number, seq, invoice_no=INVOICE_NO, tax=TAX)
    second = flow.finance(world.a).reader.second_voucher_of(draft.number, seq)
    manifest = world.deployment.manifest
    key = world.a.encryption_key

    def verify(changed: InvoiceRecord) -> Invoice:
        return invoices.verify_invoice(changed, second, key, chain_id=manifest.chain_id, escrow=manifest.escrow)

    assert verify(record).invoice_hash == record.invoice_hash
    other = world.c.account(Department.FINANCE)
    data = eip712.invoice(manifest.chain_id, manifest.escrow, record.voucher_id, record.invoice_hash)
    for signature in (
        Signature(signer=record.signature.signer, signature=eip712.sign_typed(other, data)),  # another key
        Signature(signer=other.address, signature=record.signature.signature),  # another signer named
        Signature(signer=record.signature.signer, signature=b"\x00" * 65),  # malformed
    ):
        with pytest.raises(InvoiceSignatureInvalid):
            verify(record.model_copy(update={"signature": signature}))
    # the signature was made for another chain
    with pytest.raises(InvoiceSignatureInvalid):
        invoices.verify_invoice(record, second, key, chain_id=manifest.chain_id + 1, escrow=manifest.escrow)


# ---------------------------------------------------------------------------------------------------- the document
def test_canonical_encoding_sorts_keys_and_keeps_amounts_exact(world: World) -> None:
    big = 2**128 - 1
    invoice = Invoice(
        invoice_no="FP-2026-001 增值税",
        contract_no="HT-2026-0001",
        seq=1,
        amount=big,
        tax=big // 10,
        asset=world.deployment.asset.address.lower(),
        payer_org=1,
        payee_org=2,
        issued_at=ISSUED_AT,
        lines=(InvoiceLine(description="全部", amount=big),),
    )
    document = invoice.canonical()
    assert b" " not in document.replace("FP-2026-001 增值税".encode(), b"")
    assert b"\n" not in document
    parsed = json.loads(document)
    assert list(parsed) == sorted(parsed)
    assert parsed["amount"] == str(big)
    assert parsed["asset"] == world.deployment.asset.address  # checksummed
    assert parsed["version"] == 1
    assert Invoice.from_canonical(document) == invoice
    assert invoice.invoice_hash == keccak(document)
    for broken in (document + b" ", document.replace(b'"seq":1', b'"seq":"1"'), b"\xff", b"[]"):
        with pytest.raises(InvoiceMalformed):
            Invoice.from_canonical(broken)


@pytest.mark.parametrize(
    "changes",
    [
        {"tax": 1_000_000_01},
        {"amount": 0, "tax": 0},
        {"payee_org": 1},
        {"seq": 0},
        {"contract_no": ""},
        {"asset": "0x1234"},
        {"invoice_no": ""},
        {"lines": [{"description": "half", "amount": 500_000_00}]},
        {"unexpected": 1},
    ],
)
def test_invalid_invoices_are_refused(world: World, draft: ContractDraft, changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        invoice_for(world, draft, 1, **changes)


def test_invoice_payload_is_a_new_kind_bound_to_its_voucher() -> None:
    key = crypto.EncryptionKey()
    bound = crypto.binding(31337, "0x" + "11" * 20, h("voucher"))
    sealed = invoices.seal_invoice(key.public_key, bound, b'{"a":1}')
    assert crypto.open_sealed(key, sealed, crypto.InvoiceDocument, bound).document == b'{"a":1}'
    plain = key.decrypt(sealed)
    assert plain[:2] == bytes((crypto.PAYLOAD_VERSION, crypto.InvoiceDocument.KIND))
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(key, sealed, crypto.PaymentKey, bound)
    with pytest.raises(crypto.DecryptionError):
        crypto.decode_payload(plain[:34], crypto.InvoiceDocument, bound)  # an empty document
