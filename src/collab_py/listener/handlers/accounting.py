"""Accounting (S8.1): an org's listener posts balanced journal entries from the chain's payment events.

For the payer (Party A): the freeze (Dr deposits frozen in escrow / Cr bank), the payment on the second voucher
(Dr intercompany payable – payee / Cr deposits frozen), and a reclaim (Dr bank / Cr deposits frozen). For the payee
(Party B): the receipt on the second voucher (Dr bank / Cr intercompany receivable – payer), or, when the payment key
was assigned to a third member, Dr intercompany payable – that member / Cr receivable – payer. For that member
(Party C): Dr bank / Cr intercompany receivable – payee. Each entry links to the chain event it comes from. After a
reorg, entries of orphaned events are compensated by reversal entries (debit and credit swapped).

Only payments in an asset the deployment accepts are posted: the asset of a freeze or reclaim is its contract's (from
the contract's ``ContractProposed`` event in the store), a second voucher names its own, and whether governance
accepted it at that point of the chain comes from the ``AssetAcceptanceChanged`` events before it in the store. An
event in any other asset is not posted: it raises :class:`AssetNotAccepted`, so the consumer quarantines it for an
operator. Everything is read from the event in hand and the store (indexed by contract number), never from the
chain; only the log line of a posting asks for its asset's decimals, to show the amount in currency units.
"""

from __future__ import annotations

import bisect
import functools
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import Connection, and_, select

from collab_py.domain.types import contract_number_text
from collab_py.exceptions import CollabError
from collab_py.files import MAX_SMALL_FILE_BYTES, read_bounded
from collab_py.ledger.journal import Posting, reverse_postings, write_postings
from collab_py.ledger.schema import ASSIGNMENT, FREEZE, PAYMENT, RECEIPT, RECLAIM, chain_log
from collab_py.ledger.store import find_events
from collab_py.listener.consumer import StoredEvent
from collab_py.listener.handlers import LoggedAmounts

log = logging.getLogger("collab.accounting")
#: Contracts whose parties and asset an accounting handler keeps in memory (the others are read from the store).
CONTRACTS_CACHED = 10_000

#: A contract number's text, decoded once per contract.
_number_text = functools.lru_cache(maxsize=CONTRACTS_CACHED)(contract_number_text)


class AssetNotAccepted(CollabError):
    """A payment in an asset the deployment does not accept (never listed, or withdrawn): not posted."""


class UnknownContract(CollabError):
    """The store holds no ``ContractProposed`` event for the contract a payment event names."""


class ChartError(CollabError):
    """The chart of accounts file is missing or malformed."""


class ChartOfAccounts(BaseModel):
    """Account names; ``{org}`` is replaced by the counterparty's org id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bank: str = "1002 Bank - tokenised deposits"
    frozen: str = "1012 Deposits frozen in escrow"
    receivable: str = "1131 Intercompany receivable - org {org}"
    payable: str = "2241 Intercompany payable - org {org}"

    @field_validator("bank", "frozen", "receivable", "payable")
    @classmethod
    def _template(cls, name: str) -> str:
        """Refuses a name that cannot be formatted when posting (``{x}``, a lone ``{``) while the chart loads."""
        try:
            name.format(org=2**32 - 1)  # the largest org id
        except (KeyError, IndexError, ValueError, TypeError, AttributeError, OverflowError) as error:
            raise ValueError(f"{{org}} is the only placeholder of an account name: {type(error).__name__}") from None
        return name

    @classmethod
    def load(cls, path: Path | None) -> ChartOfAccounts:
        """The chart in a JSON file, or the default one."""
        if path is None:
            return cls()
        try:
            return cls.model_validate(json.loads(read_bounded(path, MAX_SMALL_FILE_BYTES, "chart of accounts")))
        except (OSError, ValueError, ValidationError, RecursionError) as error:
            raise ChartError(f"invalid chart of accounts {path}: {type(error).__name__}") from None


class AccountingHandler:
    """Posts org ``org_id``'s books from the events of the payments it is party to; ``decimals`` gives an asset's
    decimals (:meth:`~collab_py.chain.deploy.Deployment.decimals`) for the amounts its log lines show."""

    events: tuple[str, ...] = (
        "ContractProposed",
        "AssetAcceptanceChanged",
        "PaymentVoucherIssued",
        "SecondVoucher",
        "PaymentReclaimed",
    )

    def __init__(self, org_id: int, chart: ChartOfAccounts | None = None, *, decimals: Callable[[str], int]) -> None:
        self.org_id = org_id
        self.chart = chart or ChartOfAccounts()
        self.decimals = decimals
        self._contracts: OrderedDict[bytes, tuple[int, int, str]] = OrderedDict()  # payer, payee, asset
        self._listings: dict[int, tuple[str, bool]] | None = None  # asset listings by store id, once read
        self._listing_ids: list[int] = []
        self._accounts: dict[tuple[str, int], str] = {}
        self._now = False  # judge assets by the latest listing (an operator's retry), not as of the event

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Writes the postings of newly stored events."""
        found = [item for stored in events for item in self._postings(connection, stored)]
        write_postings(connection, self.org_id, [posting for posting, _ in found])
        if log.isEnabledFor(logging.INFO):  # a backfill posts thousands: no amount formatted for a silent log
            shown = LoggedAmounts(self.decimals)
            for posting, asset in found:
                log.info("org %d posted %s of payment %s/%d: %s, Dr %s, Cr %s", self.org_id, posting.kind,
                         posting.contract_no, posting.seq, shown(posting.amount, asset), posting.debit,
                         posting.credit)  # fmt: skip
        return len(found)

    def retry(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Posts quarantined events an operator asked to retry: an asset is judged by the deployment's listing as it
        stands now (governance may have accepted it since), not as it stood at the event."""
        self._now = True
        try:
            return self.apply(connection, events)
        finally:
            self._now = False

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Reverses what was posted for orphaned events (and forgets what they told about contracts and assets)."""
        for stored in events:
            if stored.event.name == "ContractProposed":
                self._contracts.pop(stored.event.args["contractNo"], None)
            elif stored.event.name == "AssetAcceptanceChanged" and self._listings is not None:
                self._listings.pop(stored.id, None)
                self._listing_ids = sorted(self._listings)
        return reverse_postings(connection, self.org_id, [stored.id for stored in events])

    def _postings(self, connection: Connection, stored: StoredEvent) -> Iterator[tuple[Posting, str]]:
        """The postings of one stored event, each with the asset it is in."""
        event, args = stored.event, stored.event.args
        if event.name == "ContractProposed":
            self._remember(args["contractNo"], (args["partyA"], args["partyB"], args["asset"]))
            return
        if event.name == "AssetAcceptanceChanged":
            self._listed(connection, stored.id)
            assert self._listings is not None
            self._listings[stored.id] = (args["asset"], args["accepted"])
            self._listing_ids = sorted(self._listings)
            return
        chart, me, account = self.chart, self.org_id, self._account

        def posting(kind: str, counterparty: int, debit: str, credit: str, memo: str) -> tuple[Posting, str]:
            return Posting(
                kind,
                stored.id,
                _number_text(args["contractNo"]),
                args["seq"],
                args["voucherId"],
                args["amount"],
                counterparty,
                account(debit, counterparty),
                account(credit, counterparty),
                memo,
                evidence=stored.evidence,
            ), asset

        if event.name in ("PaymentVoucherIssued", "PaymentReclaimed"):
            payer, payee, asset = self._contract(connection, args["contractNo"])
            if payer != me:
                return
            self._check_asset(connection, stored, asset)
            if event.name == "PaymentVoucherIssued":
                yield posting(FREEZE, payee, chart.frozen, chart.bank, "payment voucher issued, funds frozen (S5.4)")
            else:
                yield posting(RECLAIM, payee, chart.bank, chart.frozen, "frozen funds returned (S6.4, S6.5)")
        elif event.name == "SecondVoucher":
            payer, payee, beneficiary = args["payerOrg"], args["payeeOrg"], args["beneficiaryOrg"]
            if me not in (payer, payee, beneficiary):
                return
            asset = args["asset"]
            self._check_asset(connection, stored, asset)
            if payer == me:
                yield posting(PAYMENT, payee, chart.payable, chart.frozen, "second voucher: paid (S8.1)")
            if payee == me:
                if beneficiary == me:
                    yield posting(RECEIPT, payer, chart.bank, chart.receivable, "second voucher: received (S8.1)")
                else:
                    debit = account(chart.payable, beneficiary)
                    yield posting(RECEIPT, payer, debit, chart.receivable, f"paid to org {beneficiary} (S6.3)")
            if beneficiary == me and payee != me:
                yield posting(ASSIGNMENT, payee, chart.bank, chart.receivable, "assigned payment received (S6.3)")

    def _account(self, template: str, org: int) -> str:
        """An account name of the chart for counterparty ``org`` (formatted once)."""
        key = (template, org)
        name = self._accounts.get(key)
        if name is None:
            name = self._accounts[key] = template.format(org=org)
        return name

    # ------------------------------------------------------------------ contracts and assets, from the store
    def _remember(self, contract_no: bytes, contract: tuple[int, int, str]) -> None:
        self._contracts[contract_no] = contract
        self._contracts.move_to_end(contract_no)
        if len(self._contracts) > CONTRACTS_CACHED:
            self._contracts.popitem(last=False)

    def _contract(self, connection: Connection, contract_no: bytes) -> tuple[int, int, str]:
        """Payer, payee and asset of a contract: from memory, else its ``ContractProposed`` row in the store."""
        if contract_no not in self._contracts:
            found = find_events(connection, ["ContractProposed"], contract_nos=[contract_no])
            if not found:
                raise UnknownContract(f"no ContractProposed event for contract 0x{contract_no.hex()} in the store")
            args = found[-1].args
            self._remember(contract_no, (args["partyA"], args["partyB"], args["asset"]))
        return self._contracts[contract_no]

    def _listed(self, connection: Connection, before: int, *, all_stored: bool = False) -> None:
        """Reads the asset listings stored before row ``before`` once (later ones arrive as events in store order);
        ``all_stored``: also those stored since (an operator's retry judges by the latest)."""
        if self._listings is not None and not all_stored:
            return
        log = chain_log.c
        known = self._listings or {}
        after = max(known, default=0) if all_stored else 0
        rows = connection.execute(
            select(log.id, log.args).where(
                and_(
                    log.contract_no.is_(None),  # the index on (contract_no, event) finds these few rows
                    log.event == "AssetAcceptanceChanged",
                    log.orphaned.is_(False),
                    log.id > after,
                    log.id < before if self._listings is None else log.id > after,
                )
            )
        ).all()
        self._listings = known | {int(row.id): (str(row.args["asset"]), bool(row.args["accepted"])) for row in rows}
        self._listing_ids = sorted(self._listings)

    def _check_asset(self, connection: Connection, stored: StoredEvent, asset: str) -> None:
        """Raises :class:`AssetNotAccepted` unless governance accepted ``asset`` as of the event (as of now, for an
        operator's retry)."""
        self._listed(connection, stored.id)
        if self._now:
            self._listed(connection, stored.id, all_stored=True)
        assert self._listings is not None
        accepted = False
        until = len(self._listing_ids) if self._now else bisect.bisect_left(self._listing_ids, stored.id)
        for row_id in self._listing_ids[:until]:
            listed, value = self._listings[row_id]
            if listed == asset:
                accepted = value
        if not accepted:
            number = contract_number_text(stored.event.args["contractNo"])
            raise AssetNotAccepted(
                f"asset not accepted: {stored.event.name} of payment {number}/{stored.event.args['seq']} is in "
                f"{asset}, which the deployment does not accept: not posted"
            )
