"""Reconciliation (S8.4): per contract, Party A's payable postings against Party B's receivable postings against the
second vouchers on chain, every mismatch named; at line level (what the lines post, not the entries' amounts), and
only clean if each ledger's journal passes verification (:mod:`collab_py.ledger.integrity`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from collab_py.domain.models import SecondVoucherRecord
from collab_py.domain.presentation import amount, money
from collab_py.ledger.integrity import ChainEvidence, Verification, verify_journal
from collab_py.ledger.queries import Postings, posted_totals
from collab_py.ledger.schema import PAYMENT, RECEIPT


class ContractReconciliation(BaseModel):
    """One contract's three figures (in token units) and what does not match (in words, amounts in currency
    units)."""

    model_config = ConfigDict(frozen=True)

    contract_no: str
    payer_org: int
    payee_org: int
    on_chain: int
    payable_posted: int
    receivable_posted: int
    vouchers: int
    mismatches: tuple[str, ...]

    def view(self, decimals: int) -> dict[str, Any]:
        """The contract as shown: its three figures in currency units of an asset of ``decimals``."""
        return self.model_dump() | {
            name: amount(getattr(self, name), decimals) for name in ("on_chain", "payable_posted", "receivable_posted")
        }


class Reconciliation(BaseModel):
    """The group's reconciliation: clean when no contract has a mismatch and every journal verifies."""

    model_config = ConfigDict(frozen=True)

    contracts: tuple[ContractReconciliation, ...]
    journals: tuple[Verification, ...]

    @property
    def clean(self) -> bool:
        """No mismatch anywhere, no entry failing verification."""
        return all(journal.ok for journal in self.journals) and all(not c.mismatches for c in self.contracts)


def reconcile(
    vouchers: Iterable[SecondVoucherRecord],
    payer_books: Engine,
    payee_books: Engine | None = None,
    evidence: ChainEvidence | None = None,
    *,
    decimals: int,
) -> Reconciliation:
    """Compares the chain's second vouchers with the payers' PAYMENT and the payees' RECEIPT postings: every
    contract that has either, each read once; and verifies each ledger's journal (its entries' chain evidence too,
    given ``evidence``). Mismatches name amounts in currency units of an asset of ``decimals``.

    ``payer_books`` and ``payee_books`` are the two companies' ledger databases (the same one when both post to a
    group ledger).
    """
    ledgers = [payer_books] if payee_books in (None, payer_books) else [payer_books, payee_books]
    by_contract: dict[str, list[SecondVoucherRecord]] = defaultdict(list)
    for voucher in vouchers:
        by_contract[voucher.contract_no].append(voucher)
    payable = posted_totals(payer_books, PAYMENT)
    receivable = posted_totals(payee_books or payer_books, RECEIPT)
    results = []
    for contract_no in sorted(by_contract.keys() | payable.keys() | receivable.keys()):
        items = by_contract.get(contract_no, [])
        paid, received = payable.get(contract_no, {}), receivable.get(contract_no, {})
        if items:
            payer, payee = items[0].payer_org, items[0].payee_org
        elif paid:  # postings without any second voucher: the parties as the books name them
            _, payer, payee = next(iter(paid))
        else:
            _, payee, payer = next(iter(received))
        mismatches = _mismatches(items, ("payable", paid, payer, payee), decimals) + _mismatches(
            items, ("receivable", received, payee, payer), decimals
        )
        results.append(
            ContractReconciliation(
                contract_no=contract_no,
                payer_org=payer,
                payee_org=payee,
                on_chain=sum(voucher.amount for voucher in items),
                payable_posted=sum(paid.values()),
                receivable_posted=sum(received.values()),
                vouchers=len(items),
                mismatches=tuple(mismatches),
            )
        )
    journals = tuple(verify_journal(books, evidence) for books in ledgers)
    return Reconciliation(contracts=tuple(results), journals=journals)


def _mismatches(
    vouchers: Sequence[SecondVoucherRecord], side: tuple[str, Postings, int, int], decimals: int
) -> list[str]:
    """What one side's postings of a contract do not share with its second vouchers."""
    name, postings, org, counterparty = side
    found = []
    for voucher in vouchers:
        posted = postings.get((voucher.seq, org, counterparty), 0)
        if posted != voucher.amount:
            found.append(
                f"payment {voucher.seq}: org {org} posted {name} {money(posted, decimals)}, "
                f"chain paid {money(voucher.amount, decimals)}"
            )
    paid = {voucher.seq for voucher in vouchers}
    for (seq, poster, other), posted in postings.items():
        if seq not in paid:
            found.append(f"payment {seq}: org {poster} posted {name} {money(posted, decimals)} with no second voucher")
        elif (poster, other) != (org, counterparty):
            found.append(
                f"payment {seq}: org {poster} posted {name} {money(posted, decimals)} against org {other}, "
                "not its party"
            )
    return found
