"""``collab contract``, ``collab stage``, ``collab settlement``: e-contracts (S2), stages (S3), settlement (S4)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from collab_py.cli.context import (
    InvalidInput,
    parse_amount,
    read_document,
    read_file,
    readable_errors,
    show,
    state,
    token_decimals,
)
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.services import BusinessService
from collab_py.services.reader import ChainReader

contract = typer.Typer(help="S2: e-contracts signed by both parties.", no_args_is_help=True)
stage = typer.Typer(help="S3: stage results and first vouchers.", no_args_is_help=True)
settlement = typer.Typer(help="S4: business settlement.", no_args_is_help=True)

Number = Annotated[str, typer.Argument(help="The contract number, e.g. HT-2026-0001.")]
Index = Annotated[int, typer.Argument(help="The stage index, from 0.")]


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.add_typer(contract, name="contract")
    app.add_typer(stage, name="stage")
    app.add_typer(settlement, name="settlement")


def _business() -> BusinessService:
    return BusinessService(state.deployment, state.transactor("business"), documents=state.documents())


def _text(path: Path, read: Callable[[Path], bytes] = read_file) -> str:
    try:
        return read(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None


def load_draft(terms_file: Path, document: Path) -> tuple[ContractDraft, int]:
    """The draft and Party A's org id from a terms file and the document.

    The terms file is JSON: ``{"number": "HT-1", "party_a": 1, "stages": [{"specification": "...", "amount":
    "1000.00"}, ...]}``; amounts in currency units.
    """
    try:
        terms: dict[str, Any] = json.loads(_text(terms_file))
        decimals = token_decimals()
        stages = tuple(
            StageDraft(str(item["specification"]), parse_amount(str(item["amount"]), decimals))
            for item in terms["stages"]
        )
        return ContractDraft(str(terms["number"]), _text(document, read_document), stages), int(terms["party_a"])
    # OverflowError: party_a given as Infinity; RecursionError: JSON nested too deeply
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as error:
        raise InvalidInput(f"malformed terms file {terms_file}: {type(error).__name__} {error}") from None


@contract.command("propose")
@readable_errors
def contract_propose(
    terms_file: Annotated[Path, typer.Argument(help="JSON: number, party_a, stages (specification, amount).")],
    document: Annotated[Path, typer.Argument(help="The e-contract document (UTF-8 text).")],
) -> None:
    """Party B registers the e-contract and signs its digital code (S2.1–S2.2). Key: business."""
    draft, party_a = load_draft(terms_file, document)
    show(_business().propose(draft, party_a), "proposed")


@contract.command("sign")
@readable_errors
def contract_sign(
    number: Number,
    document: Annotated[Path | None, typer.Argument(help="The document received (default: the store's copy).")] = None,
) -> None:
    """Party A checks the document against the chain and countersigns (S2.3–S2.4). Key: business."""
    show(_business().countersign(number, None if document is None else read_document(document)), "signed")


@contract.command("show")
@readable_errors
def contract_show(number: Number) -> None:
    """Shows an e-contract, its stages and signatures."""
    show(ChainReader(state.deployment).agreement(number))


@stage.command("submit")
@readable_errors
def stage_submit(
    number: Number, index: Index, result: Annotated[Path, typer.Argument(help="The delivered result.")]
) -> None:
    """Party B submits a stage result with its signed feedback (S3.1). Key: business."""
    show(_business().submit_stage(number, index, read_document(result)), "submitted")


@stage.command("confirm")
@readable_errors
def stage_confirm(number: Number, index: Index) -> None:
    """Party A confirms the pending result: the stage's first voucher (S3.3). Key: business."""
    show(_business().confirm_stage(number, index), "first voucher issued")


@stage.command("reject")
@readable_errors
def stage_reject(
    number: Number, index: Index, reason: Annotated[str, typer.Option(help="Why the result is rejected.")]
) -> None:
    """Party A rejects the pending result; Party B may submit again (S3.3). Key: business."""
    show(_business().reject_stage(number, index, reason.encode()), "rejected")


@settlement.command("apply")
@readable_errors
def settlement_apply(number: Number) -> None:
    """Party B applies for business settlement (S4.1). Key: business."""
    show(_business().apply_settlement(number), "settlement requested")


@settlement.command("approve")
@readable_errors
def settlement_approve(number: Number) -> None:
    """Party A approves: the business settlement voucher (S4.2). Key: business."""
    show(_business().approve_settlement(number), "business settlement voucher issued")
