"""``collab payment``, ``collab escrow``, ``collab vouchers``: payments (S5), payment keys (S6), second vouchers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from collab_py.cli.context import (
    NEGATIVE_VALUES,
    InvalidInput,
    parse_address,
    parse_amount,
    parse_hex,
    read_file,
    readable_errors,
    show,
    state,
    token_decimals,
)
from collab_py.files import write_private
from collab_py.services import AssigneeAccount, FinanceService, InstitutionService
from collab_py.services.finance import KEY_LIFETIME_SECONDS
from collab_py.services.reader import ChainReader

payment = typer.Typer(help="S5–S6: payment applications, vouchers and payment keys.", no_args_is_help=True)
escrow = typer.Typer(help="The escrow's pause switch (institution operator).", no_args_is_help=True)

Number = Annotated[str, typer.Argument(help="The contract number.")]
Seq = Annotated[int, typer.Argument(help="The payment's sequence number within the contract, from 1.")]
Out = Annotated[Path, typer.Option(help="File to write.")]


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.add_typer(payment, name="payment")
    app.add_typer(escrow, name="escrow")
    app.command()(vouchers)


def _finance() -> FinanceService:
    return FinanceService(state.deployment, state.transactor("finance"), encryption_key=state.encryption_key())


def _institution() -> InstitutionService:
    return InstitutionService(state.deployment, state.transactor("operator"), encryption_key=state.encryption_key())


@payment.command("apply", context_settings=NEGATIVE_VALUES)
@readable_errors
def payment_apply(
    number: Number,
    amount: Annotated[str, typer.Argument(help="Amount in currency units, e.g. 600000.00.")],
    bank_account: Annotated[str, typer.Option(help="Where the money should go (encrypted to Party A).")],
) -> None:
    """Party B applies for payment (S5.1). Key: finance."""
    show(_finance().apply_payment(number, parse_amount(amount, token_decimals()), bank_account), "applied")


@payment.command("issue")
@readable_errors
def payment_issue(
    number: Number,
    seq: Seq,
    lifetime: Annotated[
        int, typer.Option(help="Seconds until the payment key expires.", min=60)
    ] = KEY_LIFETIME_SECONDS,
) -> None:
    """Party A issues the payment voucher and freezes the funds (S5.2–S5.4). Key: finance."""
    show(_finance().issue_voucher(number, seq, lifetime=lifetime), "payment voucher issued, funds frozen")


@payment.command("redeem")
@readable_errors
def payment_redeem(number: Number, seq: Seq) -> None:
    """Party B opens its payment key and requests payment (S6.1). Key: finance."""
    show(_finance().redeem(number, seq), "payment requested")


@payment.command("assign")
@readable_errors
def payment_assign(
    number: Number, seq: Seq, org_id: Annotated[int, typer.Argument(help="The member to pass the key to.")], out: Out
) -> None:
    """Party B passes its payment key to member ORG_ID, sealed to its finance key (S6.3). Key: finance."""
    write_private(out, "0x" + _finance().assign_key(number, seq, org_id).hex() + "\n")
    show({"payment_key_for": org_id, "written_to": str(out)})


@payment.command("present")
@readable_errors
def payment_present(number: Number, seq: Seq, key_file: Path) -> None:
    """Party C presents a payment key passed to it (S6.3). Key: finance."""
    show(_finance().present_key(number, seq, parse_hex(read_file(key_file).decode())), "payment key presented")


@payment.command("account")
@readable_errors
def payment_account(
    number: Number,
    seq: Seq,
    bank_account: Annotated[str, typer.Option(help="Party C's account (encrypted to the institution).")],
    out: Out,
) -> None:
    """Party C prepares its bank account for an assigned payment: salted hash and ciphertext (S6.3). Key: finance."""
    account = _finance().assignee_account(number, seq, bank_account)
    written = {"account_hash": "0x" + account.account_hash.hex(), "ciphertext": "0x" + account.ciphertext.hex()}
    write_private(out, json.dumps(written))
    show({"account_hash": "0x" + account.account_hash.hex(), "written_to": str(out)})


def _assignee_account(path: Path) -> AssigneeAccount:
    try:
        data = json.loads(read_file(path))
        return AssigneeAccount(parse_hex(data["account_hash"], 32), parse_hex(data["ciphertext"]))
    # AttributeError: a field that is no string; RecursionError: JSON nested too deeply
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise InvalidInput(f"malformed account file {path}: {type(error).__name__}") from None


@payment.command("sign-assignment")
@readable_errors
def payment_sign_assignment(number: Number, seq: Seq, org_id: int, account_file: Path) -> None:
    """Party B signs the confirmation that the payment goes to ORG_ID's account (S6.3). Key: finance."""
    finance = _finance()
    account = _assignee_account(account_file)
    signature = finance.sign_assignment(number, seq, org_id, account.account_hash)
    show({"signer": finance.address, "signature": "0x" + signature.hex()})


@payment.command("confirm-assignment")
@readable_errors
def payment_confirm_assignment(
    number: Number,
    seq: Seq,
    account_file: Path,
    signer: Annotated[str, typer.Option(help="Party B's finance account that signed.")],
    signature: Annotated[str, typer.Option(help="Party B's signature (hex).")],
) -> None:
    """Submits Party B's confirmation of the assignment (S6.3). Key: finance (Party B or C)."""
    account = _assignee_account(account_file)
    record = _finance().confirm_assignment(
        number, seq, account, signer=parse_address(signer), signature=parse_hex(signature, 65)
    )
    show(record, "assignment confirmed")


@payment.command("release")
@readable_errors
def payment_release(number: Number, seq: Seq) -> None:
    """The institution pays the beneficiary; prints the second voucher (S6.2, S7.1). Key: operator."""
    show(_institution().release(number, seq), "second voucher")


@payment.command("reclaim")
@readable_errors
def payment_reclaim(number: Number, seq: Seq) -> None:
    """Party A takes back the funds of an expired payment key (S6.4). Key: finance."""
    show(_finance().reclaim(number, seq), "reclaimed")


@payment.command("show")
@readable_errors
def payment_show(number: Number, seq: Seq) -> None:
    """Shows a payment: application, voucher, frozen funds and redemption."""
    show(ChainReader(state.deployment).payment(number, seq))


@escrow.command("pause")
@readable_errors
def escrow_pause() -> None:
    """Stops every movement of funds. Key: operator."""
    show({"paused": _institution().pause()})


@escrow.command("unpause")
@readable_errors
def escrow_unpause() -> None:
    """Resumes movements of funds. Key: operator."""
    show({"paused": _institution().unpause()})


@readable_errors
def vouchers(
    from_block: Annotated[int | None, typer.Option(help="First block (default: the deployment's).")] = None,
) -> None:
    """Lists the second vouchers (S7.1) on chain."""
    show([record.model_dump(mode="json") for record in ChainReader(state.deployment).second_vouchers(from_block)])
