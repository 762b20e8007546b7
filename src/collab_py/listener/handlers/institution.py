"""The payment institution's bot (S6.2): releases the payment requests that pass its checks, records refusals.

It listens for ``PaymentRequested`` (the payee redeemed its key) and ``AssignmentConfirmed`` (the payee confirmed
an assignment to a third member). Checks, on the chain's current state: the payment is still REQUESTED; the
beneficiary is the one the event names and an active member; the bank account ciphertext opens with the
institution's key, is bound to this payment and matches its salted hash on chain. The escrow then pays exactly the
frozen amount to the beneficiary's treasury and emits the second voucher. A payment that fails a check is recorded
as REFUSED with the reason; one found already RELEASED (a replay after a crash between the release and the commit)
is recorded as released.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert

from collab_py.chain.enums import VoucherStatus
from collab_py.domain.crypto import DecryptionError, PayloadBindingError
from collab_py.domain.models import OrgRecord, PaymentRecord
from collab_py.domain.types import contract_number_text, payment_seq
from collab_py.ledger.schema import institution_actions
from collab_py.listener.engine import StoredEvent
from collab_py.services import BankAccountMismatch, InstitutionService
from collab_py.services.reader import NotFound

log = logging.getLogger("collab.institution")

RELEASED, REFUSED = "RELEASED", "REFUSED"


class Refusal(Exception):
    """A check failed; the message is the recorded reason."""


class InstitutionBot:
    """The listener handler of the institution's operator."""

    events: tuple[str, ...] = ("PaymentRequested", "AssignmentConfirmed")

    def __init__(self, service: InstitutionService) -> None:
        self.service = service

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Decides every request and records the decisions. The payments are read in one batch, and those that pass
        are released together, their transactions pipelined (one per voucher, even if two events name it)."""
        orgs: dict[int, OrgRecord] = {}  # the beneficiaries, read once a batch
        decisions: list[dict[str, Any]] = []
        readable: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (decision, event args) with a valid seq
        for stored in events:
            args = stored.event.args
            decision = _undecided(stored)
            decisions.append(decision)
            try:
                decision["seq"] = _seq(args["contractNo"], args["voucherId"])
            except Refusal as refusal:
                _refuse(decision, refusal)
                continue
            readable.append((decision, args))
        payments = self.service.reader.payments([(args["contractNo"], d["seq"]) for d, args in readable])
        releases: dict[bytes, tuple[dict[str, Any], bytes, int]] = {}
        for (decision, args), payment in zip(readable, payments, strict=True):
            if payment.status is VoucherStatus.RELEASED:
                decision.update(action=RELEASED, reason="already released")
            elif decision["voucher_id"] in releases:
                decision.update(action=RELEASED, reason="released for an earlier request of this batch")
            else:
                try:
                    self._check(payment, args["beneficiaryOrg"], orgs)
                except Refusal as refusal:
                    _refuse(decision, refusal)
                    continue
                releases[decision["voucher_id"]] = (decision, args["contractNo"], decision["seq"])
        if releases:
            seconds = self.service.release_all([(raw, seq) for _, raw, seq in releases.values()])
            for (decision, _, _), second in zip(releases.values(), seconds, strict=True):
                decision.update(action=RELEASED, tx_hash=second.evidence.tx_hash)
        connection.execute(insert(institution_actions), decisions)
        return len(decisions)

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Nothing to compensate: a release is final on chain, and a request on an orphaned block is decided again
        when (and if) it is mined again."""
        return 0

    def _check(self, payment: PaymentRecord, beneficiary: int, orgs: dict[int, OrgRecord]) -> None:
        if payment.status is not VoucherStatus.REQUESTED:
            raise Refusal(f"payment is {payment.status.name}, not REQUESTED")
        if payment.beneficiary_org != beneficiary:
            raise Refusal(f"the request names org {beneficiary}, the chain org {payment.beneficiary_org}")
        try:
            if beneficiary not in orgs:
                orgs[beneficiary] = self.service.reader.org(beneficiary)
        except NotFound:
            raise Refusal(f"beneficiary org {beneficiary} is not registered") from None
        if not orgs[beneficiary].active:
            raise Refusal(f"beneficiary org {beneficiary} is suspended")
        try:
            self.service.open_bank_account(payment)
        except (BankAccountMismatch, DecryptionError, PayloadBindingError) as error:
            raise Refusal(f"bank account: {type(error).__name__}: {error}") from None


def _undecided(stored: StoredEvent) -> dict[str, Any]:
    """The decision row of a request, REFUSED until it passes."""
    args = stored.event.args
    return {
        "event_id": stored.id,
        "voucher_id": args["voucherId"],
        "contract_no": contract_number_text(args["contractNo"]),
        "seq": 0,
        "action": REFUSED,
        "reason": "",
        "tx_hash": None,
    }


def _refuse(decision: dict[str, Any], refusal: Refusal) -> None:
    log.warning("refused payment %s: %s", decision["contract_no"], refusal)
    decision["reason"] = str(refusal)


def _seq(contract_no: bytes, voucher_id: bytes) -> int:
    try:
        return payment_seq(contract_no, voucher_id)
    except ValueError as error:
        raise Refusal(str(error)) from None
