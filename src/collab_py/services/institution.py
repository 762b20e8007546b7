"""The payment institution's OPERATOR: opening bank accounts, releasing funds (S6.2), the second voucher (S7)."""

from __future__ import annotations

from collections.abc import Sequence

from collab_py.chain.enums import Department
from collab_py.domain import crypto
from collab_py.domain.crypto import BankAccount
from collab_py.domain.models import PaymentRecord, SecondVoucherRecord
from collab_py.domain.types import as_contract_no, payment_voucher_id
from collab_py.exceptions import CollabError
from collab_py.services.base import KeyedService, PreparedStep


class BankAccountMismatch(CollabError):
    """The bank account in a ciphertext does not match its salted hash on chain, or there is none to open."""


class InstitutionService(KeyedService):
    """An operator of the payment institution that runs the escrow."""

    department = Department.OPERATOR

    def bank_account(self, number: str | bytes, seq: int) -> BankAccount:
        """The beneficiary's bank account for payment ``seq``, opened and checked against its salted hash."""
        raw = as_contract_no(number)
        payment = self.reader.payment(raw, seq)
        return self.open_bank_account(payment)

    def open_bank_account(self, payment: PaymentRecord) -> BankAccount:
        """Opens the account a payment goes to (the assignee's once assigned) and checks its salted hash."""
        assigned = payment.assignee_account_ciphertext is not None
        ciphertext = payment.assignee_account_ciphertext if assigned else payment.bank_account_ciphertext
        expected = payment.assignee_account_hash if assigned else payment.bank_account_hash
        if ciphertext is None or expected is None:  # no voucher issued yet
            raise BankAccountMismatch(f"payment {payment.seq} of {payment.contract_no!r} has no bank account yet")
        binding = crypto.binding(self.chain_id, self.deployment.escrow.address, payment.voucher_id)
        account = crypto.open_sealed(self.encryption_key, ciphertext, BankAccount, binding)
        if crypto.bank_account_hash(account.account, account.salt) != expected:
            raise BankAccountMismatch(f"the bank account of payment {payment.seq} does not match its hash on chain")
        return account

    def prepare_release(self, contract_no: bytes, seq: int) -> PreparedStep:
        """S6.2: the transfer of a requested payment to its beneficiary."""
        call = self.deployment.escrow.functions.release(contract_no, seq)
        return PreparedStep("release", "S6.2", call, 130_000)

    def release(self, number: str | bytes, seq: int) -> SecondVoucherRecord:
        """Pays a requested payment to its beneficiary; returns the second voucher it emitted (S6.2, S7.1)."""
        raw = as_contract_no(number)
        receipt = self.execute(self.prepare_release(raw, seq))
        return self.reader.second_voucher_in(receipt, payment_voucher_id(raw, seq))

    def release_all(self, payments: Sequence[tuple[bytes, int]]) -> list[SecondVoucherRecord]:
        """Releases many requested payments ``(contract_no, seq)`` at once, their transactions pipelined (a bot
        that waited for each would release one payment per block); returns their second vouchers, in order."""
        receipts = self.execute_all([self.prepare_release(raw, seq) for raw, seq in payments])
        return [
            self.reader.second_voucher_in(receipt, payment_voucher_id(raw, seq))
            for receipt, (raw, seq) in zip(receipts, payments, strict=True)
        ]

    def pause(self) -> bool:
        """Stops every movement of funds in the escrow; returns the paused state read back."""
        self.execute(PreparedStep("pause", "S6", self.deployment.escrow.functions.pause(), 60_000))
        return bool(self.deployment.escrow.functions.paused().call())

    def unpause(self) -> bool:
        """Resumes movements of funds; returns the paused state read back."""
        self.execute(PreparedStep("unpause", "S6", self.deployment.escrow.functions.unpause(), 60_000))
        return bool(self.deployment.escrow.functions.paused().call())
