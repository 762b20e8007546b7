"""The FINANCE department of a member org: payment applications and vouchers (S5), payment keys (S6), e-invoices
(S8.3)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.crypto import keccak
from web3.logs import DISCARD

from collab_py.chain import eip712
from collab_py.chain.enums import Department
from collab_py.chain.errors import InvalidAmount, InvalidExpiry, WrongParty
from collab_py.domain import crypto
from collab_py.domain import einvoice as invoices
from collab_py.domain.crypto import BankAccount, PaymentKey
from collab_py.domain.documents import DocumentStore
from collab_py.domain.einvoice import Invoice, InvoiceLine
from collab_py.domain.models import InvoiceRecord, PaymentRecord, SecondVoucherRecord
from collab_py.domain.types import as_contract_no, payment_voucher_id
from collab_py.exceptions import CollabError
from collab_py.services.base import KeyedService, PreparedStep

#: Default lifetime of a payment key.
KEY_LIFETIME_SECONDS = 7 * 24 * 3600
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def token_units(amount: object) -> int:
    """``amount`` if a call can carry it as an amount (an int of token units, 0 to 2**128 - 1; the registry refuses
    0 itself); else the registry's :class:`InvalidAmount`, raised here: web3 would refuse to build the call, naming
    every argument, the sealed bank account and payment key among them."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < 2**128:
        raise InvalidAmount()
    return amount


class PaymentKeyMismatch(CollabError):
    """A payment key opened fine but does not match the payment voucher on chain (amount, expiry or secret)."""


class KeyAccountMismatch(PaymentKeyMismatch):
    """The payment key names another bank account than the one the payee applied with (its salted hash on chain):
    the payee refuses to redeem it (S5.1, S6.1)."""


class PaymentOutOfSequence(CollabError):
    """The chain numbered the payment application differently than expected (another application came first)."""


@dataclass(frozen=True)
class AssigneeAccount:
    """Party C's bank account for an assigned payment: salted hash and ciphertext for the institution (S6.3)."""

    account_hash: bytes
    ciphertext: bytes


class FinanceService(KeyedService):
    """Party A's, Party B's or Party C's finance department, with the org's key for confidential payloads."""

    department = Department.FINANCE

    def binding(self, contract_no: bytes, seq: int) -> crypto.VoucherBinding:
        """What a payload of payment ``seq`` of ``contract_no`` is bound to."""
        return crypto.binding(self.chain_id, self.deployment.escrow.address, payment_voucher_id(contract_no, seq))

    def institution_key(self) -> bytes:
        """The public key to encrypt bank accounts to the payment institution's operators."""
        return self.reader.encryption_key(self.deployment.manifest.institution_org, Department.OPERATOR)

    # ------------------------------------------------------------------ S5.1 (Party B)
    def receiving_account(self, contract_no: bytes, seq: int, bank_account: str) -> BankAccount:
        """Where payment ``seq`` should go: ``bank_account`` with a fresh salt, bound to the payment."""
        return BankAccount(binding=self.binding(contract_no, seq), salt=crypto.new_salt(), account=bank_account)

    def prepare_apply_payment(
        self,
        contract_no: bytes,
        seq: int,
        amount: int,
        account: BankAccount,
        *,
        payer_key: bytes,
        institution_key: bytes,
    ) -> PreparedStep:
        """Party B's application ``seq`` for ``amount`` into ``account``: its salted hash, and the salt and account
        encrypted to the payer's finance department and to the institution."""
        call = self.deployment.registry.functions.applyForPayment(
            contract_no,
            token_units(amount),
            crypto.bank_account_hash(account.account, account.salt),
            crypto.seal(payer_key, account),
            crypto.seal(institution_key, account),
        )
        return PreparedStep("applyForPayment", "S5.1", call, 160_000)

    def apply_payment(self, number: str | bytes, amount: int, bank_account: str) -> PaymentRecord:
        """Party B applies for payment of ``amount`` into ``bank_account`` (S5.1); the amount is reserved."""
        raw = as_contract_no(number)
        agreement = self.reader.agreement(raw)
        seq = agreement.payment_count + 1
        payer_key = self.reader.encryption_key(agreement.party_a, Department.FINANCE)
        account = self.receiving_account(raw, seq, bank_account)
        prepared = self.prepare_apply_payment(
            raw, seq, amount, account, payer_key=payer_key, institution_key=self.institution_key()
        )
        receipt = self.execute(prepared)
        (applied,) = self.deployment.registry.events.PaymentApplied().process_receipt(receipt, errors=DISCARD)
        if applied["args"]["seq"] != seq:
            raise PaymentOutOfSequence(f"application got seq {applied['args']['seq']}, expected {seq}")
        return self.reader.payment(raw, seq)

    def withdraw_application(self, number: str | bytes, seq: int) -> PaymentRecord:
        """Party B withdraws its application ``seq`` before a voucher is issued; its amount is unpaid again."""
        call = self.deployment.registry.functions.withdrawPaymentApplication(as_contract_no(number), seq)
        self.execute(PreparedStep("withdrawPaymentApplication", "S5.1", call, 80_000))
        return self.reader.payment(as_contract_no(number), seq)

    # ------------------------------------------------------------------ S5.2–S5.4 (Party A)
    def open_application(self, number: str | bytes, seq: int) -> BankAccount:
        """Party A reads where Party B wants to be paid (salt and account), from the application's ciphertext."""
        raw = as_contract_no(number)
        self._must_be(self.deployment.registry.functions.partiesOf(raw).call()[1])  # sealed to the payer's finance
        payment = self.reader.payment(raw, seq)
        return crypto.open_sealed(self.encryption_key, payment.account_for_payer, BankAccount, self.binding(raw, seq))

    def _must_be(self, org_id: int) -> None:
        """The chain's own refusal (:class:`WrongParty`) when this service's org is not ``org_id``: a ciphertext
        sealed to another org would only fail to open."""
        if self.org_id != org_id:
            raise WrongParty({"account": self.address, "expectedOrgId": org_id})

    def refuse_application(self, number: str | bytes, seq: int, reason: bytes) -> PaymentRecord:
        """Party A refuses application ``seq`` with the hash of ``reason`` (S5.2); its amount is unpaid again."""
        call = self.deployment.registry.functions.refusePaymentApplication(as_contract_no(number), seq, keccak(reason))
        self.execute(PreparedStep("refusePaymentApplication", "S5.2", call, 80_000))
        return self.reader.payment(as_contract_no(number), seq)

    def prepare_issue_voucher(
        self,
        contract_no: bytes,
        seq: int,
        *,
        amount: int,
        account: BankAccount,
        expiry: int,
        payee_key: bytes,
    ) -> tuple[PreparedStep, bytes]:
        """Party A's payment voucher of application ``seq`` into ``account`` and its payment key sealed to the payee
        (S5.2–S5.3); returns the step and the sealed key."""
        if token_units(amount) == 0:
            raise InvalidAmount()  # the registry's own refusal, before a key for nothing is built
        bound = self.binding(contract_no, seq)
        key = PaymentKey(
            binding=bound,
            contract_no=contract_no,
            amount=amount,
            payer_org=self.org_id,
            expiry=expiry,
            secret=crypto.new_secret(),
            salt=account.salt,
            bank_account=account.account,
        )
        terms = (
            amount,
            crypto.bank_account_hash(account.account, account.salt),
            crypto.key_commitment(self.chain_id, self.deployment.escrow.address, bound.voucher_id, key.secret),
            expiry,
            sealed_key := crypto.seal(payee_key, key),
        )
        call = self.deployment.registry.functions.issuePaymentVoucher(contract_no, seq, terms)
        return PreparedStep("issuePaymentVoucher", "S5.2", call, 220_000), sealed_key

    def issue_voucher(
        self,
        number: str | bytes,
        seq: int,
        *,
        lifetime: int = KEY_LIFETIME_SECONDS,
        amount: int | None = None,
        account: BankAccount | None = None,
    ) -> PaymentRecord:
        """Party A issues the payment voucher of application ``seq``, freezing its amount (S5.2–S5.4).

        The amount and bank account are the application's unless given (a voucher for another account or amount is
        refused by the escrow); the payment key expires ``lifetime`` seconds after the latest block.
        """
        raw = as_contract_no(number)
        shortest, longest = self.deployment.key_lifetimes
        expiry = int(self.deployment.w3.eth.get_block("latest")["timestamp"]) + lifetime
        if not shortest <= lifetime <= longest:  # the escrow's own refusal, with the bounds it would not name
            raise InvalidExpiry({"expiry": expiry}, reason=f"a key lives {shortest} to {longest} s, not {lifetime} s")
        payment = self.reader.payment(raw, seq)
        prepared, _ = self.prepare_issue_voucher(
            raw,
            seq,
            amount=payment.amount if amount is None else amount,
            account=account or self.open_application(raw, seq),
            expiry=expiry,
            payee_key=self.reader.encryption_key(payment.payee_org, Department.FINANCE),
        )
        self.execute(prepared)
        return self.reader.payment(raw, seq)

    def reclaim(self, number: str | bytes, seq: int) -> PaymentRecord:
        """Party A takes back the funds of an expired, never-redeemed payment key (S6.4)."""
        call = self.deployment.escrow.functions.reclaim(as_contract_no(number), seq)
        self.execute(PreparedStep("reclaim", "S6.4", call, 120_000))
        return self.reader.payment(as_contract_no(number), seq)

    # ------------------------------------------------------------------ S6.1, S6.3 (Party B, Party C)
    def open_payment_key(self, number: str | bytes, seq: int, sealed: bytes | None = None) -> PaymentKey:
        """Opens the payment key (from the chain, or ``sealed`` as passed on by the payee) and checks it against the
        payment on chain: amount, expiry, secret and the bank account the payee applied with."""
        raw = as_contract_no(number)
        payment = self.reader.payment(raw, seq)
        ciphertext = sealed if sealed is not None else payment.key_ciphertext
        if ciphertext is None:
            raise PaymentKeyMismatch(f"payment {seq} of {payment.contract_no!r} has no payment voucher yet")
        if sealed is None:
            self._must_be(payment.payee_org)  # the key on chain is sealed to the payee
        key = crypto.open_sealed(self.encryption_key, ciphertext, PaymentKey, self.binding(raw, seq))
        commitment = crypto.key_commitment(
            self.chain_id, self.deployment.escrow.address, payment.voucher_id, key.secret
        )
        if (key.amount, key.expiry, key.contract_no, commitment) != (
            payment.amount,
            payment.expiry,
            raw,
            payment.key_commitment,
        ):
            raise PaymentKeyMismatch(f"the payment key does not match payment {seq} of {payment.contract_no!r}")
        if crypto.bank_account_hash(key.bank_account, key.salt) != payment.account_hash:
            raise KeyAccountMismatch(
                f"the payment key of payment {seq} of {payment.contract_no!r} pays another bank account than the "
                "application's: not redeemed"
            )
        return key

    def prepare_redeem(self, contract_no: bytes, seq: int, secret: bytes) -> PreparedStep:
        """S6.1: the payee's request for payment, proving the secret."""
        call = self.deployment.escrow.functions.requestPayment(contract_no, seq, secret)
        return PreparedStep("requestPayment", "S6.1", call, 90_000)

    def redeem(self, number: str | bytes, seq: int) -> PaymentRecord:
        """Party B opens its payment key, checks it, and requests payment before it expires (S6.1)."""
        raw = as_contract_no(number)
        key = self.open_payment_key(raw, seq)
        self.execute(self.prepare_redeem(raw, seq, key.secret))
        return self.reader.payment(raw, seq)

    def assign_key(self, number: str | bytes, seq: int, assignee_org: int) -> bytes:
        """Party B passes its payment key to member ``assignee_org`` (S6.3): the key sealed to its finance key."""
        key = self.open_payment_key(number, seq)
        return crypto.seal(self.reader.encryption_key(assignee_org, Department.FINANCE), key)

    def present_key(self, number: str | bytes, seq: int, sealed: bytes) -> PaymentRecord:
        """Party C presents the payment key Party B passed to it (S6.3): the chain records that it waits for Party B's
        confirmation."""
        raw = as_contract_no(number)
        key = self.open_payment_key(raw, seq, sealed)
        call = self.deployment.escrow.functions.presentPaymentKey(raw, seq, key.secret)
        self.execute(PreparedStep("presentPaymentKey", "S6.3", call, 90_000))
        return self.reader.payment(raw, seq)

    def assignee_account(self, number: str | bytes, seq: int, bank_account: str) -> AssigneeAccount:
        """Party C's bank account for the institution: salted hash and ciphertext, bound to the payment."""
        raw = as_contract_no(number)
        salt = crypto.new_salt()
        payload = BankAccount(binding=self.binding(raw, seq), salt=salt, account=bank_account)
        return AssigneeAccount(
            crypto.bank_account_hash(bank_account, salt), crypto.seal(self.institution_key(), payload)
        )

    def sign_assignment(self, number: str | bytes, seq: int, assignee_org: int, account_hash: bytes) -> bytes:
        """Party B's EIP-712 confirmation that payment ``seq`` pays ``assignee_org`` into ``account_hash``."""
        data = eip712.assignment_confirmation(
            self.chain_id,
            self.deployment.escrow.address,
            payment_voucher_id(as_contract_no(number), seq),
            assignee_org,
            account_hash,
        )
        return eip712.sign_typed(self.tx.account, data)

    def confirm_assignment(
        self,
        number: str | bytes,
        seq: int,
        assignee_org: int,
        account: AssigneeAccount,
        *,
        signer: str,
        signature: bytes,
    ) -> PaymentRecord:
        """Submits Party B's confirmation naming ``assignee_org`` (S6.3), whether or not it presented the key; Party B
        or the assignee may send it. The assignee's treasury is pinned."""
        raw = as_contract_no(number)
        call = self.deployment.escrow.functions.confirmAssignment(
            raw, seq, assignee_org, account.account_hash, account.ciphertext, signer, signature
        )
        self.execute(PreparedStep("confirmAssignment", "S6.3", call, 130_000))
        return self.reader.payment(raw, seq)

    def pin_treasury(self, number: str | bytes, seq: int) -> PaymentRecord:
        """The beneficiary pins its current treasury for a requested payment (after governance moved it)."""
        call = self.deployment.escrow.functions.pinBeneficiaryTreasury(as_contract_no(number), seq)
        self.execute(PreparedStep("pinBeneficiaryTreasury", "S6.2", call, 70_000))
        return self.reader.payment(as_contract_no(number), seq)

    # ------------------------------------------------------------------ S6.5 (payer and beneficiary)
    def sign_settlement(self, number: str | bytes, seq: int, *, to_beneficiary: bool) -> bytes:
        """This party's EIP-712 consent to settle requested payment ``seq`` without the institution."""
        data = eip712.joint_settlement(
            self.chain_id,
            self.deployment.escrow.address,
            payment_voucher_id(as_contract_no(number), seq),
            to_beneficiary,
        )
        return eip712.sign_typed(self.tx.account, data)

    def settle_without_institution(
        self,
        number: str | bytes,
        seq: int,
        *,
        to_beneficiary: bool,
        cosigner: str | None = None,
        signature: bytes = b"",
    ) -> PaymentRecord:
        """Payer and beneficiary settle a requested payment the institution did not release in time (S6.5): this
        party sends the other's signature (``cosigner``), or settles alone in its own favour when the other's org is
        suspended."""
        raw = as_contract_no(number)
        call = self.deployment.escrow.functions.settleWithoutInstitution(
            raw, seq, to_beneficiary, cosigner or ZERO_ADDRESS, signature
        )
        self.execute(PreparedStep("settleWithoutInstitution", "S6.5", call, 160_000))
        return self.reader.payment(raw, seq)

    # ------------------------------------------------------------------ S8.3 (Party B, then Party A)
    def sign_invoice(self, contract_no: bytes, seq: int, invoice_hash: bytes) -> bytes:
        """This account's EIP-712 signature of the e-invoice ``invoice_hash`` of payment ``seq``."""
        data = eip712.invoice(
            self.chain_id, self.deployment.escrow.address, payment_voucher_id(contract_no, seq), invoice_hash
        )
        return eip712.sign_typed(self.tx.account, data)

    def prepare_anchor_invoice(
        self,
        contract_no: bytes,
        seq: int,
        *,
        invoice_hash: bytes,
        ciphertext: bytes,
        signature: bytes,
        signer: str | None = None,
    ) -> PreparedStep:
        """S8.3: anchors an e-invoice's hash and delivers its ciphertext; ``signer`` defaults to this account."""
        call = self.deployment.escrow.functions.anchorInvoice(
            contract_no, seq, invoice_hash, ciphertext, signer or self.address, signature
        )
        return PreparedStep("anchorInvoice", "S8.3", call, 100_000 + 40 * len(ciphertext))

    def issue_invoice(
        self,
        number: str | bytes,
        seq: int,
        *,
        invoice_no: str,
        tax: int,
        documents: DocumentStore | None = None,
        lines: tuple[InvoiceLine, ...] = (),
        issued_at: int | None = None,
        second: SecondVoucherRecord | None = None,
    ) -> InvoiceRecord:
        """Party B invoices released payment ``seq`` (S8.3): builds the invoice from the chain's second voucher (amount
        tax included, asset, parties; ``second`` when the caller has it in hand), keeps the document in ``documents``
        if given, signs it and anchors its hash with the document sealed to the payer's finance key. ``issued_at``
        defaults to the latest block's time. Returns the invoice the anchoring transaction logged."""
        raw = as_contract_no(number)
        prepared, _ = self.prepare_invoice(
            raw, seq, invoice_no=invoice_no, tax=tax, documents=documents, lines=lines, issued_at=issued_at,
            second=second,
        )  # fmt: skip
        receipt = self.execute(prepared)
        return self.reader.invoice_in(receipt, payment_voucher_id(raw, seq))

    def prepare_invoice(
        self,
        number: str | bytes,
        seq: int,
        *,
        invoice_no: str,
        tax: int,
        documents: DocumentStore | None = None,
        lines: tuple[InvoiceLine, ...] = (),
        issued_at: int | None = None,
        second: SecondVoucherRecord | None = None,
    ) -> tuple[PreparedStep, Invoice]:
        """:meth:`issue_invoice`'s invoice and its anchoring transaction, built and signed but not sent (a
        listener pipelines many)."""
        raw = as_contract_no(number)
        second = second or self.reader.second_voucher_of(raw, seq)
        invoice = Invoice(
            invoice_no=invoice_no,
            contract_no=second.contract_no,
            seq=seq,
            amount=second.amount,
            tax=tax,
            asset=second.asset,
            payer_org=second.payer_org,
            payee_org=second.payee_org,
            issued_at=(
                int(self.deployment.w3.eth.get_block("latest")["timestamp"]) if issued_at is None else issued_at
            ),
            lines=lines,
        )
        document = invoice.canonical()
        if documents is not None:
            documents.put(document)
        payer_key = self.reader.encryption_key(second.payer_org, Department.FINANCE)
        prepared = self.prepare_anchor_invoice(
            raw,
            seq,
            invoice_hash=invoice.invoice_hash,
            ciphertext=invoices.seal_invoice(payer_key, self.binding(raw, seq), document),
            signature=self.sign_invoice(raw, seq, invoice.invoice_hash),
        )
        return prepared, invoice

    def receive_invoice(
        self,
        number: str | bytes,
        seq: int,
        *,
        documents: DocumentStore | None = None,
        record: InvoiceRecord | None = None,
        second: SecondVoucherRecord | None = None,
    ) -> Invoice:
        """Party A reads the e-invoice anchored for payment ``seq`` and verifies it (S8.3): the payee's signature
        (ERC-1271 for contract signers), the ciphertext's binding, the document's hash against the chain and its
        terms against the second voucher (``record`` and ``second`` when the caller has them in hand). The verified
        document is kept in ``documents`` if given."""
        raw = as_contract_no(number)
        record = record or self.reader.invoice(raw, seq)
        invoice = invoices.verify_invoice(
            record,
            second or self.reader.second_voucher_of(raw, seq),
            self.encryption_key,
            chain_id=self.chain_id,
            escrow=self.deployment.escrow.address,
            contract_signature=invoices.erc1271_check(self.deployment.w3),
        )
        if documents is not None:
            documents.put(invoice.canonical())
        return invoice
