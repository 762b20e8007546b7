"""The payment institution's bot (S6.2): releases the payment requests that pass its checks, records a decision for
every one.

It listens for ``PaymentRequested`` (the payee redeemed its key), ``AssignmentConfirmed`` (the payee assigned the
payment to a third member) and ``BeneficiaryTreasuryPinned`` (the beneficiary pinned its new treasury after governance
moved it: a request deferred for the move is checked again at once). Checks, on the chain's current state, the same
as a manual release's (:meth:`InstitutionService.check_release`): the payment is still REQUESTED; the beneficiary is
the one the event names, an active member, and its treasury the one pinned at the request; the bank account,
encrypted to the institution by the payee (or the assignee), opens with the institution's key, is bound to this
payment and matches the salted hash the application and the voucher carry. The escrow then pays exactly the frozen
amount to the pinned treasury and emits the second voucher.

Every request gets its own decision, recorded in ``institution_actions``:

* RELEASED, with the release transaction (or "already released": found released, e.g. after a crash between the
  release and the commit, or by a manual release);
* REFUSED, with the reason: a check that failed, or the decoded refusal of a release transaction that reverted on
  chain (a token whose transfers fail, say) — that transaction is not sent again;
* DEFERRED, with the reason, when the cause may clear: a suspended beneficiary, a treasury moved after the request
  (:class:`ReleaseRefused` ``temporary``), a paused escrow, a node that did not answer. Deferred requests are checked
  again at later steps (each after a backoff kept in its row, a bounded number per step) until they become a decision.

The releases of a batch are sent together (pipelined) and each is collected on its own, so one that fails neither
holds back nor rolls back the others' records. Payments are read through a reader over the ledger's store: state by
key, events by voucher id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import Connection, Select, and_, func, insert, select, update

from collab_py.chain.build import load_artifact
from collab_py.chain.enums import VoucherStatus
from collab_py.chain.logs import EVENT_SOURCES, EventCodec
from collab_py.chain.transactor import TransactionFailed
from collab_py.domain.models import OrgRecord, PaymentRecord
from collab_py.domain.types import contract_number_text
from collab_py.exceptions import CollabError, ContractError
from collab_py.ledger import store
from collab_py.ledger.schema import institution_actions
from collab_py.listener.consumer import TRANSIENT, StoredEvent
from collab_py.listener.handlers import LoggedAmounts
from collab_py.services import InstitutionService, ReleaseRefused
from collab_py.services.reader import ChainReader, NotFound

log = logging.getLogger("collab.institution")

RELEASED, REFUSED, DEFERRED = "RELEASED", "REFUSED", "DEFERRED"
#: Refusals of a release transaction whose cause may clear: the request is deferred, not refused.
TEMPORARY_REVERTS = frozenset({"OrgSuspended", "EnforcedPause"})
#: Deferred requests checked again in one step.
DEFERRED_PER_STEP = 100


class InstitutionBot:
    """The listener handler of the institution's operator; ``reader`` (default: the service's) reads the payments,
    a reader over the ledger's store beside a ledger. Deferred requests are checked again after ``recheck_after``
    seconds, then after twice as long each time, up to ``recheck_max``."""

    events: tuple[str, ...] = ("PaymentRequested", "AssignmentConfirmed", "BeneficiaryTreasuryPinned")
    #: Most requests in one batch: each may send a release, and the batch's transaction lasts until they are mined.
    batch = 50

    def __init__(
        self,
        service: InstitutionService,
        *,
        reader: ChainReader | None = None,
        recheck_after: float = 1.0,
        recheck_max: float = 60.0,
    ) -> None:
        self.service = service
        self.reader = reader or service.reader
        self.recheck_after = recheck_after
        self.recheck_max = recheck_max
        self.codec = EventCodec([load_artifact(name).abi for name in EVENT_SOURCES])

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Decides every request and records the decisions; returns how many."""
        decisions = self._decide(connection, events)
        now = time.time()
        for decision in decisions:
            decision["recheck_at"] = self._recheck_at(decision["action"], decision["attempts"], now)
        connection.execute(insert(institution_actions), decisions)
        decided = [decision["voucher_id"] for decision in decisions if decision["action"] != DEFERRED]
        if decided:  # a request of the same payment deferred before (for a treasury now pinned, say): checked at once
            columns = institution_actions.c
            connection.execute(
                update(institution_actions)
                .where(columns.action == DEFERRED, columns.voucher_id.in_(decided))
                .values(recheck_at=now)
            )
        return len(decisions)

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Nothing to compensate: a release is final on chain, and a request on an orphaned block is decided again
        when (and if) it is mined again."""
        return 0

    def tick(self, connection: Connection) -> int:
        """Checks deferred requests again: those due, longest due first, at most :data:`DEFERRED_PER_STEP`, found by
        an index (a step's cost does not grow with how many wait); returns how many became a decision."""
        columns = institution_actions.c
        now = time.time()
        due = connection.execute(due_requests(now)).all()
        if not due:
            return 0
        rows = store.rows_by_id(connection, [int(row.event_id) for row in due])
        events = [StoredEvent(int(row.event_id), rows[int(row.event_id)].chain_event(self.codec)) for row in due]
        decided = 0
        for row, decision in zip(due, self._decide(connection, events), strict=True):
            attempts = int(row.attempts) + 1
            connection.execute(
                update(institution_actions)
                .where(and_(columns.id == row.id, columns.action == DEFERRED))
                .values(
                    action=decision["action"],
                    reason=decision["reason"],
                    tx_hash=decision["tx_hash"],
                    attempts=attempts,
                    decided_at=func.now(),
                    recheck_at=self._recheck_at(decision["action"], attempts, now),
                )
            )
            if decision["action"] != DEFERRED:
                decided += 1
                log.info("deferred payment %s/%d: %s %s", decision["contract_no"], decision["seq"],
                         decision["action"], decision["reason"])  # fmt: skip
        return decided

    def _recheck_at(self, action: str, attempts: int, now: float) -> float | None:
        """When a request deferred ``attempts`` times is checked again: ``recheck_after`` seconds after the first
        deferral, twice as long after each next one, at most ``recheck_max``; None for a decision."""
        if action != DEFERRED:
            return None
        return now + min(self.recheck_max, self.recheck_after * 2.0 ** min(attempts - 1, 32))

    # ------------------------------------------------------------------ deciding
    def _decide(self, connection: Connection, events: Sequence[StoredEvent]) -> list[dict[str, Any]]:
        """A decision for each request: checked, released together, each outcome recorded on its own. A request
        whose payment the store already shows paid or returned (a history being caught up with) is decided from
        that event, without reading the chain."""
        decisions = [_undecided(stored) for stored in events]
        settled = self._settled(connection, [decision["voucher_id"] for decision in decisions])
        for decision in decisions:
            if decision["voucher_id"] in settled:
                decision.update(settled[decision["voucher_id"]])
        pending = [(stored, d) for stored, d in zip(events, decisions, strict=True) if d["voucher_id"] not in settled]
        if pending:
            self._check_and_release([stored for stored, _ in pending], [decision for _, decision in pending])
        return decisions

    def _settled(self, connection: Connection, voucher_ids: list[bytes]) -> dict[bytes, dict[str, Any]]:
        """The decisions the store already implies: released (a second voucher) or returned to the payer."""
        found: dict[bytes, dict[str, Any]] = {}
        for row in store.find_events(connection, ["SecondVoucher", "PaymentReclaimed"], voucher_ids=voucher_ids):
            voucher_id = bytes.fromhex(row.args["voucherId"][2:])
            if row.event == "SecondVoucher":
                found[voucher_id] = {"action": RELEASED, "reason": "already released"}
            else:
                found.setdefault(voucher_id, {"action": REFUSED, "reason": "the payment went back to the payer"})
        return found

    def _check_and_release(self, events: Sequence[StoredEvent], decisions: list[dict[str, Any]]) -> None:
        """Checks the requests on the chain's state and releases those that pass, together."""
        keys = [(stored.event.args["contractNo"], stored.event.args["seq"]) for stored in events]
        payments = self._payments(keys)
        orgs: dict[int, OrgRecord] = {}  # the beneficiaries, read once a batch
        releases: dict[bytes, tuple[dict[str, Any], bytes, int]] = {}
        for stored, decision, payment, key in zip(events, decisions, payments, keys, strict=True):
            if isinstance(payment, Exception):
                _settle(decision, payment)
                continue
            beneficiary = stored.event.args["beneficiaryOrg"]
            if payment.status is VoucherStatus.RELEASED:
                decision.update(action=RELEASED, reason="already released")
            elif decision["voucher_id"] in releases:
                decision.update(action=RELEASED, reason="released for an earlier request of this batch")
            elif payment.status is VoucherStatus.REQUESTED and payment.beneficiary_org != beneficiary:
                _refuse(decision, f"the request names org {beneficiary}, the chain org {payment.beneficiary_org}")
            else:
                try:
                    if beneficiary not in orgs:
                        orgs[beneficiary] = self.reader.org(beneficiary)
                    self.service.check_release(payment, orgs[beneficiary])
                except NotFound:
                    _refuse(decision, f"beneficiary org {beneficiary} is not registered")
                except ReleaseRefused as refusal:
                    (_defer if refusal.temporary else _refuse)(decision, refusal.reason)
                except TRANSIENT as error:
                    _defer(decision, f"node error: {type(error).__name__}: {error}")
                else:
                    releases[decision["voucher_id"]] = (decision, *key)
        if releases:
            outcomes = self.service.release_each([(raw, seq) for _, raw, seq in releases.values()])
            shown = LoggedAmounts(self.service.deployment.decimals)
            for (decision, _, _), outcome in zip(releases.values(), outcomes, strict=True):
                decision["tx_hash"] = outcome.tx_hash
                if outcome.second is not None:
                    decision.update(action=RELEASED, reason="")
                    log.info("released payment %s/%d: %s to org %d", decision["contract_no"], decision["seq"],
                             shown(outcome.second.amount, outcome.second.asset),
                             outcome.second.beneficiary_org)  # fmt: skip
                    continue
                assert outcome.error is not None
                _settle(decision, outcome.error, released=True)
                if decision["action"] == DEFERRED and self._reverted(outcome.tx_hash):
                    # mined and reverted, its reason lost to a node error: a refusal all the same, never resent
                    _refuse(decision, f"release transaction reverted ({decision['reason']})")

    def _reverted(self, tx_hash: bytes | None) -> bool:
        """Whether the release transaction was mined and reverted (False when unknown)."""
        if tx_hash is None:
            return False
        try:
            receipt = self.service.deployment.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except Exception:  # not found, or the node is away: unknown, checked again later
            return False
        return int(receipt["status"]) == 0

    def _payments(self, keys: list[tuple[bytes, int]]) -> list[PaymentRecord | Exception]:
        """The payments, in one read; one by one when that fails, so that one unreadable payment has its own
        outcome (a node error defers them all)."""
        try:
            return list(self.reader.payments(keys))
        except TRANSIENT:
            raise
        except Exception:
            pass
        found: list[PaymentRecord | Exception] = []
        for key in keys:
            try:
                found.append(self.reader.payment(*key))
            except TRANSIENT:
                raise
            except Exception as error:
                found.append(error)
        return found


def due_requests(now: float) -> Select[tuple[int, int, int]]:
    """The deferred requests due at ``now`` (id, event id, attempts), longest due first, at most
    :data:`DEFERRED_PER_STEP`: a range of the index on (action, recheck_at), whatever the number waiting."""
    columns = institution_actions.c
    return (
        select(columns.id, columns.event_id, columns.attempts)
        .where(columns.action == DEFERRED, columns.recheck_at <= now)
        .order_by(columns.recheck_at)
        .limit(DEFERRED_PER_STEP)
    )


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
        "attempts": 1,
    }


def _settle(decision: dict[str, Any], error: Exception, *, released: bool = False) -> None:
    """The decision for a request whose payment could not be read (``released`` False) or whose release failed."""
    what = "release transaction" if released else "payment"
    if isinstance(error, ContractError):
        text = f"{what} reverted: {error}" if released else f"{what}: {error}"
        (_defer if error.error_name in TEMPORARY_REVERTS else _refuse)(decision, text)
    elif isinstance(error, TransactionFailed):  # mined and reverted, no reason recovered
        _refuse(decision, f"{what} reverted: {error}")
    elif isinstance(error, TRANSIENT):
        _defer(decision, f"node error ({what}): {type(error).__name__}: {error}")
    elif isinstance(error, NotFound):
        _refuse(decision, f"{type(error).__name__}: {error}")
    elif isinstance(error, CollabError):
        _refuse(decision, f"{what}: {type(error).__name__}: {error}")
    else:
        _refuse(decision, f"{what}: unexpected {type(error).__name__}: {error}")


def _refuse(decision: dict[str, Any], reason: str) -> None:
    log.warning("refused payment %s/%d: %s", decision["contract_no"], decision["seq"], reason)
    decision.update(action=REFUSED, reason=reason)


def _defer(decision: dict[str, Any], reason: str) -> None:
    log.info("deferred payment %s/%d: %s", decision["contract_no"], decision["seq"], reason)
    decision.update(action=DEFERRED, reason=reason)
