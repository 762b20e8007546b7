"""The countersign page's check: each term of the e-contract document Party A received beside what the chain
holds, and the first difference as ``TermsMismatch`` names it (the same check the countersignature runs)."""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from collab_py.domain.econtract import EContract, EContractError, TermsMismatch
from collab_py.domain.presentation import money
from collab_py.domain.types import contract_number
from collab_py.web.accounts import Principal
from collab_py.web.runtime import Platform


def compare(platform: Platform, number: str, document: bytes | None, who: Principal) -> dict[str, Any]:
    """Rows of (field, document, chain, same) and the mismatch, if any; the document store's copy when none is
    given."""
    agreement = platform.reader.agreement(number)
    decimals = platform.decimals(agreement.asset)
    if document is None:
        document = platform.documents.get(agreement.doc_hash)
    try:
        econtract = EContract.from_document(document)
    except EContractError as error:
        return {"rows": [], "mismatch": {"error": "EContractError", "field": None, "message": str(error)},
                "text": None}  # fmt: skip
    rows: list[dict[str, Any]] = [
        _row("number", econtract.number, agreement.contract_no),
        _row("party_a", econtract.party_a, agreement.party_a),
        _row("party_b", econtract.party_b, agreement.party_b),
        _row("asset", to_checksum_address(econtract.asset), to_checksum_address(agreement.asset)),
        _row("stages", len(econtract.stages), len(agreement.stages)),
    ]
    for index in range(max(len(econtract.stages), len(agreement.stages))):
        mine = econtract.stages[index] if index < len(econtract.stages) else None
        chain = agreement.stages[index] if index < len(agreement.stages) else None
        rows.append(_row(f"stages[{index}].specification",
                         f"{mine.specification} (0x{mine.spec_hash.hex()[:12]}…)" if mine else "—",
                         f"0x{chain.spec_hash.hex()[:12]}…" if chain else "—",
                         same=bool(mine and chain and mine.spec_hash == chain.spec_hash)))  # fmt: skip
        rows.append(_row(f"stages[{index}].amount", money(mine.amount, decimals) if mine else "—",
                         money(chain.amount, decimals) if chain else "—",
                         same=bool(mine and chain and mine.amount == chain.amount)))  # fmt: skip
    rows.append(_row("document hash", "0x" + econtract.doc_hash.hex(), "0x" + agreement.doc_hash.hex()))
    rows.append(_row("terms hash", "0x" + econtract.terms_hash.hex(), "0x" + agreement.terms_hash.hex()))
    mismatch = None
    try:
        econtract.check_against(
            contract_no=contract_number(number), party_a=agreement.party_a, party_b=agreement.party_b,
            asset=agreement.asset, stages=[(stage.spec_hash, stage.amount) for stage in agreement.stages],
            doc_hash=agreement.doc_hash, terms_hash=agreement.terms_hash,
        )  # fmt: skip
    except TermsMismatch as error:
        mismatch = {"error": "TermsMismatch", "field": error.field, "message": str(error)}
    return {"rows": rows, "mismatch": mismatch, "text": econtract.text}


def _row(field: str, document: Any, chain: Any, *, same: bool | None = None) -> dict[str, Any]:
    return {"field": field, "document": str(document), "chain": str(chain),
            "same": (document == chain) if same is None else same}  # fmt: skip
