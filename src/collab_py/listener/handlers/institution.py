"""The payment institution's bot (S6.2): releases the payment requests that pass its checks, records refusals.

It listens for ``PaymentRequested`` (the payee redeemed its key), ``AssignmentConfirmed`` (the payee assigned the
payment to a third member) and ``BeneficiaryTreasuryPinned`` (the beneficiary pinned its new treasury after governance
moved it: a request refused for the move is checked again). Checks, on the chain's current state, the same as a
manual release's (:meth:`InstitutionService.check_release`): the payment is still REQUESTED; the beneficiary is the
one the event names, an active member, and its treasury the one pinned at the request; the bank account, encrypted
to the institution by the payee (or the assignee), opens with the institution's key, is bound to this payment and
matches the salted hash the application and the voucher carry. The escrow then pays exactly the frozen amount to
the pinned treasury and emits the second voucher. A payment that fails a check is recorded as REFUSED with the
reason; one found already RELEASED (a replay after a crash between the release and the commit) is recorded as
released.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert

from collab_py.chain.enums import VoucherStatus
from collab_py.domain.models import OrgRecord
from collab_py.domain.types import contract_number_text
from collab_py.ledger.schema import institution_actions
from collab_py.listener.engine import StoredEvent
from collab_py.services import InstitutionService, ReleaseRefused
from collab_py.services.reader import NotFound

log = logging.getLogger("collab.institution")

RELEASED, REFUSED = "RELEASED", "REFUSED"


class InstitutionBot:
    """The listener handler of the institution's operator."""

    events: tuple[str, ...] = ("PaymentRequested", "AssignmentConfirmed", "BeneficiaryTreasuryPinned")

    def __init__(self, service: InstitutionService) -> None:
        self.service = service

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Decides every request and records the decisions. The payments are read in one batch, checked as a manual
        release checks them (:meth:`InstitutionService.check_release`), and those that pass are released together,
        their transactions pipelined (one per voucher, even if two events name it)."""
        orgs: dict[int, OrgRecord] = {}  # the beneficiaries, read once a batch
        decisions = [_undecided(stored) for stored in events]
        keys = [(stored.event.args["contractNo"], stored.event.args["seq"]) for stored in events]
        payments = self.service.reader.payments(keys)
        releases: dict[bytes, tuple[dict[str, Any], bytes, int]] = {}
        for stored, decision, payment, key in zip(events, decisions, payments, keys, strict=True):
            beneficiary = stored.event.args["beneficiaryOrg"]
            if payment.status is VoucherStatus.RELEASED:
                decision.update(action=RELEASED, reason="already released")
            elif decision["voucher_id"] in releases:
                decision.update(action=RELEASED, reason="released for an earlier request of this batch")
            elif payment.beneficiary_org != beneficiary:
                _refuse(decision, f"the request names org {beneficiary}, the chain org {payment.beneficiary_org}")
            else:
                try:
                    if beneficiary not in orgs:
                        orgs[beneficiary] = self.service.reader.org(beneficiary)
                    self.service.check_release(payment, orgs[beneficiary])
                except NotFound:
                    _refuse(decision, f"beneficiary org {beneficiary} is not registered")
                except ReleaseRefused as refusal:
                    _refuse(decision, refusal.reason)
                else:
                    releases[decision["voucher_id"]] = (decision, *key)
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


def _undecided(stored: StoredEvent) -> dict[str, Any]:
    """The decision row of a request, REFUSED until it passes."""
    args = stored.event.args
    return {
        "event_id": stored.id,
        "voucher_id": args["voucherId"],
        "contract_no": contract_number_text(args["contractNo"]),
        "seq": args["seq"],
        "action": REFUSED,
        "reason": "",
        "tx_hash": None,
    }


def _refuse(decision: dict[str, Any], reason: str) -> None:
    log.warning("refused payment %s/%d: %s", decision["contract_no"], decision["seq"], reason)
    decision["reason"] = reason
