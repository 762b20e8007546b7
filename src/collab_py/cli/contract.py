"""``collab contract``, ``collab stage``, ``collab settlement``: e-contracts (S2), stages (S3), settlement (S4)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_utils.crypto import keccak
from pydantic import ValidationError

from collab_py.cli.context import (
    InvalidInput,
    Number,
    Reason,
    command,
    contract_decimals,
    money,
    parse_amount,
    problems,
    read_document,
    read_text,
    readable_errors,
    show,
    state,
    token_decimals,
    write_file,
)
from collab_py.cli.views import contract_view, stage_view
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.econtract import EContract, TermsMismatch
from collab_py.domain.models import AgreementRecord
from collab_py.domain.presentation import InvalidAmount
from collab_py.services import BusinessService
from collab_py.services.reader import ChainReader

contract = typer.Typer(help="S2: e-contracts signed by both parties.", no_args_is_help=True)
stage = typer.Typer(help="S3: stage results and first vouchers.", no_args_is_help=True)
settlement = typer.Typer(help="S4: business settlement.", no_args_is_help=True)

Index = Annotated[int, typer.Argument(help="The stage index, from 0.", min=0, max=255)]


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.add_typer(contract, name="contract")
    app.add_typer(stage, name="stage")
    app.add_typer(settlement, name="settlement")


def _business() -> BusinessService:
    return BusinessService(state.deployment, state.transactor("business"), documents=state.documents())


def _show_contract(
    record: AgreementRecord, title: str, *, fields: dict[str, Any] | None = None, next_step: str | None = None
) -> None:
    show(contract_view(record, state.decimals(record.asset)) | (fields or {}), title, next_step=next_step)


def load_draft(terms_file: Path, document: Path) -> tuple[ContractDraft, int]:
    """The draft and Party A's org id from a terms file and the document.

    The terms file is JSON: ``{"number": "HT-1", "party_a": 1, "stages": [{"specification": "...", "amount":
    "1000.00"}, ...]}``; amounts in currency units of the deployment's asset (``"1000.50"``: at most its decimals).
    """
    try:  # a JSON number stays exact: a float would turn 1234567890123456.78 into ...456.80
        terms: dict[str, Any] = json.loads(read_text(terms_file), parse_float=Decimal)
        decimals = token_decimals()
        stages = tuple(
            StageDraft(str(item["specification"]), parse_amount(_written(item["amount"]), decimals))
            for item in terms["stages"]
        )
        text = read_document(document).decode("utf-8")
        return ContractDraft(str(terms["number"]), text, stages), _org_id(terms["party_a"])
    except InvalidAmount:  # a ValueError, named as it is
        raise
    # OverflowError: party_a given as Infinity; RecursionError: JSON nested too deeply
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as error:
        raise InvalidInput(f"malformed terms file {terms_file}: {type(error).__name__} {error}") from None


def _written(amount: Any) -> str:
    """A terms file's amount as text: a JSON string as it is, a JSON number exactly as written (not rounded)."""
    if isinstance(amount, bool) or not isinstance(amount, str | int | Decimal):
        raise TypeError(f"amount {amount!r} is not a number")
    return format(amount, "f") if isinstance(amount, Decimal) else str(amount)


def _org_id(value: Any) -> int:
    """A terms file's ``party_a``: a whole number (or its digits as text), never a fraction cut to its integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"party_a must be an org id (a whole number), not {value}")


def econtract_file(number: str) -> Path:
    """Where ``contract propose`` writes the e-contract of ``number`` by default: ``HT-1.econtract.json`` in the
    current folder (characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``)."""
    return Path(re.sub(r"[^A-Za-z0-9._-]", "_", number) + ".econtract.json")


@contract.command("propose")
@readable_errors
def contract_propose(
    terms_file: Annotated[
        Path, typer.Argument(help='JSON: number, party_a, stages [{"specification", "amount" in currency units}].')
    ],
    document: Annotated[Path, typer.Argument(help="The contract's text (UTF-8).")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the e-contract for Party A (default: NUMBER.econtract.json).")
    ] = None,
) -> None:
    """Party B registers the e-contract and writes the document for Party A (S2.1–S2.2). Key: business.

    The e-contract is the text with its terms (parties, the deployment's asset, stages); Party B signs its digital
    code (document hash and terms) and sends the written NUMBER.econtract.json to Party A as it is.
    """
    draft, party_a = load_draft(terms_file, document)
    business = _business()
    try:
        econtract = business.econtract(draft, party_a)
    except ValidationError as error:
        raise InvalidInput(f"invalid terms in {terms_file}: {problems(error)}") from None
    path = out or econtract_file(draft.number)
    existed = path.exists()
    write_file(path, econtract.document())  # before anything is sent: refuses another file there, or no folder
    try:
        record = business.propose(econtract)
    except BaseException:
        if not existed:
            path.unlink(missing_ok=True)  # no document for a contract that was not registered
        raise
    _show_contract(
        record,
        f"proposed; e-contract written to {path}",
        fields={"econtract_file": str(path)},
        next_step=f"send {path} to Party A (org {party_a}), which checks and signs it: "
        + command("contract", "sign", draft.number, path),
    )


@contract.command("sign")
@readable_errors
def contract_sign(
    number: Number,
    econtract: Annotated[Path, typer.Argument(help="The e-contract document Party B sent (NUMBER.econtract.json).")],
) -> None:
    """Party A checks the e-contract received against the chain, then countersigns (S2.3–S2.5). Key: business.

    Number, parties, asset, every stage's specification and amount, document and terms hashes must match what
    Party B registered; a difference is refused before anything is signed, with TermsMismatch naming the field.
    """
    document = read_document(econtract)
    business = _business()
    try:
        record = business.countersign(number, document)
    except TermsMismatch as mismatch:
        raise _in_currency_units(mismatch, business.reader.agreement(number), document) from None
    _show_contract(record, "signed")


def _in_currency_units(mismatch: TermsMismatch, agreement: AgreementRecord, document: bytes) -> TermsMismatch:
    """``mismatch`` with a stage's amounts in currency units, as the user wrote them in the terms."""
    found = re.fullmatch(r"stages\[(\d+)\]\.amount", mismatch.field)
    if found is None:
        return mismatch
    index, decimals = int(found[1]), state.decimals(agreement.asset)
    mine = EContract.from_document(document).stages[index].amount
    return TermsMismatch(mismatch.field, money(mine, decimals), money(agreement.stages[index].amount, decimals))


@contract.command("cancel")
@readable_errors
def contract_cancel(number: Number, reason: Reason) -> None:
    """Party B withdraws, or Party A declines, a contract not signed yet (S2). Key: business."""
    _show_contract(_business().cancel(number, reason.encode()), "cancelled")


@contract.command("show")
@readable_errors
def contract_show(number: Number) -> None:
    """Shows an e-contract: status, parties, asset, document and terms hashes, total, unpaid, stages, signatures."""
    _show_contract(ChainReader(state.deployment).agreement(number), f"e-contract {number}")


@stage.command("submit")
@readable_errors
def stage_submit(
    number: Number, index: Index, result: Annotated[Path, typer.Argument(help="The delivered result (any file).")]
) -> None:
    """Party B submits a stage result with its signed feedback (S3.1–S3.2). Key: business."""
    record = _business().submit_stage(number, index, read_document(result))
    show(stage_view(record, contract_decimals(number)), "submitted")


@stage.command("confirm")
@readable_errors
def stage_confirm(
    number: Number,
    index: Index,
    result: Annotated[
        Path | None,
        typer.Option(help="The result received: refused (StageResultMismatch) unless it is the one submitted."),
    ] = None,
) -> None:
    """Party A confirms the pending result: the stage's first voucher (S3.3). Key: business."""
    result_hash = None if result is None else keccak(read_document(result))
    record = _business().confirm_stage(number, index, result_hash)
    show(stage_view(record, contract_decimals(number)), "first voucher issued")


@stage.command("reject")
@readable_errors
def stage_reject(number: Number, index: Index, reason: Reason) -> None:
    """Party A rejects the pending result; Party B may submit again (S3.3). Key: business."""
    record = _business().reject_stage(number, index, reason.encode())
    show(stage_view(record, contract_decimals(number)), "rejected")


@settlement.command("apply")
@readable_errors
def settlement_apply(number: Number) -> None:
    """Party B applies for business settlement once every stage is vouched (S4.1). Key: business."""
    _show_contract(_business().apply_settlement(number), "settlement requested")


@settlement.command("approve")
@readable_errors
def settlement_approve(number: Number) -> None:
    """Party A approves: the business settlement voucher (S4.2). Key: business."""
    _show_contract(_business().approve_settlement(number), "business settlement voucher issued")


@settlement.command("reject")
@readable_errors
def settlement_reject(number: Number, reason: Reason) -> None:
    """Party A rejects the application for settlement; the contract is SIGNED again (S4.2). Key: business."""
    _show_contract(_business().reject_settlement(number, reason.encode()), "settlement rejected")
