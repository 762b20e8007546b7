"""The payment institution's OPERATOR: opening bank accounts, releasing funds (S6.2), the second voucher (S7)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collab_py.chain.enums import Department, VoucherStatus
from collab_py.domain import crypto
from collab_py.domain.crypto import BankAccount, DecryptionError, PayloadBindingError
from collab_py.domain.models import OrgRecord, PaymentRecord, SecondVoucherRecord
from collab_py.domain.types import as_contract_no, payment_voucher_id
from collab_py.exceptions import CollabError
from collab_py.services.base import KeyedService, PreparedStep
from collab_py.services.reader import NotFound


class BankAccountMismatch(CollabError):
    """The bank account in a ciphertext does not match its salted hash on chain, or there is none to open."""


class ReleaseRefused(CollabError):
    """The institution's checks refuse to release a payment. ``temporary`` when the cause may clear (a suspended
    beneficiary, a treasury moved after the request): the payment is then checked again later."""

    def __init__(self, reason: str, *, temporary: bool = False) -> None:
        self.reason = reason
        self.temporary = temporary
        super().__init__(reason)


@dataclass(frozen=True)
class Release:
    """The outcome of one release sent by :meth:`InstitutionService.release_each`: the second voucher, or the error,
    and the release transaction (None when none was sent)."""

    second: SecondVoucherRecord | None
    error: Exception | None
    tx_hash: bytes | None


class InstitutionService(KeyedService):
    """An operator of the payment institution that runs the escrow."""

    department = Department.OPERATOR

    def bank_account(self, number: str | bytes, seq: int) -> BankAccount:
        """The beneficiary's bank account for payment ``seq``, opened and checked against its salted hash."""
        raw = as_contract_no(number)
        payment = self.reader.payment(raw, seq)
        return self.open_bank_account(payment)

    def open_bank_account(self, payment: PaymentRecord) -> BankAccount:
        """Opens the account a payment goes to, encrypted to the institution (the assignee's once assigned, else
        the payee's from its application), and checks it against its salted hash on chain, which the payment
        voucher had to carry too."""
        assigned = payment.assignee_account_ciphertext is not None
        ciphertext = payment.assignee_account_ciphertext if assigned else payment.account_for_institution
        expected = payment.assignee_account_hash if assigned else payment.account_hash
        if ciphertext is None or expected is None:
            raise BankAccountMismatch(f"payment {payment.seq} of {payment.contract_no!r} has no bank account to pay")
        binding = crypto.binding(self.chain_id, self.deployment.escrow.address, payment.voucher_id)
        account = crypto.open_sealed(self.encryption_key, ciphertext, BankAccount, binding)
        if crypto.bank_account_hash(account.account, account.salt) != expected:
            raise BankAccountMismatch(f"the bank account of payment {payment.seq} does not match its hash on chain")
        return account

    def check_release(self, payment: PaymentRecord, beneficiary: OrgRecord | None = None) -> BankAccount:
        """The checks before a release, the same for the bot and a manual release (S6.2): the payment is REQUESTED,
        its beneficiary an active member whose treasury is still the one pinned at the request, and the bank
        account opens, is bound to this payment and matches the salted hash the application and voucher carry.
        Returns the account to pay; raises :class:`ReleaseRefused` with the reason."""
        if payment.status is not VoucherStatus.REQUESTED:
            raise ReleaseRefused(f"payment is {payment.status.name}, not REQUESTED")
        org_id = payment.beneficiary_org or 0
        try:
            org = beneficiary or self.reader.org(org_id)
        except NotFound:
            raise ReleaseRefused(f"beneficiary org {org_id} is not registered") from None
        if not org.active:
            raise ReleaseRefused(f"beneficiary org {org_id} is suspended", temporary=True)
        if payment.beneficiary != org.treasury:
            raise ReleaseRefused(
                f"org {org_id} moved its treasury after the request (pinned {payment.beneficiary}, now "
                f"{org.treasury}): the beneficiary may pin its new treasury",
                temporary=True,
            )
        try:
            return self.open_bank_account(payment)
        except (BankAccountMismatch, DecryptionError, PayloadBindingError) as error:
            raise ReleaseRefused(f"bank account: {type(error).__name__}: {error}") from None

    def prepare_release(self, contract_no: bytes, seq: int) -> PreparedStep:
        """S6.2: the transfer of a requested payment to its beneficiary."""
        call = self.deployment.escrow.functions.release(contract_no, seq)
        return PreparedStep("release", "S6.2", call, 130_000)

    def release(self, number: str | bytes, seq: int) -> SecondVoucherRecord:
        """Checks (:meth:`check_release`) and pays a requested payment to its beneficiary; returns the second voucher
        it emitted (S6.2, S7.1)."""
        raw = as_contract_no(number)
        self.check_release(self.reader.payment(raw, seq))
        receipt = self.execute(self.prepare_release(raw, seq))
        return self.reader.second_voucher_in(receipt, payment_voucher_id(raw, seq))

    def release_all(self, payments: Sequence[tuple[bytes, int]]) -> list[SecondVoucherRecord]:
        """Releases many requested payments ``(contract_no, seq)`` that passed :meth:`check_release` at once, their
        transactions pipelined (a bot that waited for each would release one payment per block); returns their
        second vouchers, in order."""
        receipts = self.execute_all([self.prepare_release(raw, seq) for raw, seq in payments])
        return [
            self.reader.second_voucher_in(receipt, payment_voucher_id(raw, seq))
            for receipt, (raw, seq) in zip(receipts, payments, strict=True)
        ]

    def release_each(self, payments: Sequence[tuple[bytes, int]]) -> list[Release]:
        """Releases many requested payments ``(contract_no, seq)`` that passed :meth:`check_release`, their
        transactions pipelined, each with its own outcome (its second voucher, or its error: the decoded refusal of
        a reverted release, a node error), in order: one failure leaves the others' results intact."""
        outcomes = self.execute_each([self.prepare_release(raw, seq) for raw, seq in payments])
        results = []
        for outcome, (raw, seq) in zip(outcomes, payments, strict=True):
            if outcome.receipt is None:
                results.append(Release(None, outcome.error or CollabError("not sent"), outcome.tx_hash))
                continue
            try:
                second = self.reader.second_voucher_in(outcome.receipt, payment_voucher_id(raw, seq))
            except NotFound as error:
                results.append(Release(None, error, outcome.tx_hash))
                continue
            results.append(Release(second, None, outcome.tx_hash))
        return results

    def pause(self) -> bool:
        """Stops freezing and releasing funds in the escrow; returns the paused state read back."""
        self.execute(PreparedStep("pause", "S6", self.deployment.escrow.functions.pause(), 60_000))
        return bool(self.deployment.escrow.functions.paused().call())

    def unpause(self) -> bool:
        """Resumes freezing and releasing; returns the paused state read back."""
        self.execute(PreparedStep("unpause", "S6", self.deployment.escrow.functions.unpause(), 60_000))
        return bool(self.deployment.escrow.functions.paused().call())
