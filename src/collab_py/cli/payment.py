"""``collab payment``, ``collab escrow``, ``collab vouchers``: payments (S5), payment keys (S6), second vouchers."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from collab_py.cli.context import (
    NEGATIVE_VALUES,
    InvalidInput,
    Number,
    Reason,
    bank_account,
    command,
    contract_decimals,
    parse_address,
    parse_amount,
    parse_hex,
    read_file,
    read_text,
    readable_errors,
    show,
    state,
    write_file,
)
from collab_py.cli.views import payment_view, second_voucher_view
from collab_py.domain.models import PaymentRecord
from collab_py.services import AssigneeAccount, FinanceService, InstitutionService
from collab_py.services.finance import KEY_LIFETIME_SECONDS
from collab_py.services.reader import ChainReader

payment = typer.Typer(help="S5–S6: payment applications, vouchers and payment keys.", no_args_is_help=True)
escrow = typer.Typer(help="The escrow's pause switch (institution operator).", no_args_is_help=True)

Seq = Annotated[int, typer.Argument(help="The payment's sequence number within the contract, from 1.", min=1, max=255)]
OrgId = Annotated[int, typer.Argument(help="The org id of the assignee (Party C).", min=1, max=2**32 - 1)]
Out = Annotated[Path, typer.Option(help="File to write.")]
AccountFile = Annotated[
    Path | None,
    typer.Option(
        "--bank-account-file",
        help="File holding the bank account on one line; - reads it from standard input (a hidden prompt on a "
        "terminal).",
    ),
]
AccountText = Annotated[
    str | None,
    typer.Option(
        "--bank-account",
        help="The bank account itself: other users see it in ps and the shell history keeps it (warned); prefer "
        "--bank-account-file.",
    ),
]


class Direction(StrEnum):
    """Where a settlement without the institution sends the funds (S6.5)."""

    beneficiary = "beneficiary"
    payer = "payer"


To = Annotated[Direction, typer.Option("--to", help="beneficiary (pay it) or payer (return the funds).")]


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.add_typer(payment, name="payment")
    app.add_typer(escrow, name="escrow")
    app.command()(vouchers)


def _finance() -> FinanceService:
    return FinanceService(state.deployment, state.transactor("finance"), encryption_key=state.encryption_key())


def _institution() -> InstitutionService:
    return InstitutionService(state.deployment, state.transactor("operator"), encryption_key=state.encryption_key())


def _show(record: PaymentRecord, title: str, next_step: str | None = None) -> None:
    show(payment_view(record, contract_decimals(record.contract_no)), title, next_step=next_step)


@payment.command("apply", context_settings=NEGATIVE_VALUES)
@readable_errors
def payment_apply(
    number: Number,
    amount: Annotated[str, typer.Argument(help="Amount in currency units, e.g. 600000.00.")],
    bank_account_file: AccountFile = None,
    bank_account_text: AccountText = None,
) -> None:
    """Party B applies for payment into its bank account (S5.1). Key: finance.

    The account (from --bank-account-file, never echoed) goes on chain as a salted hash, in clear only encrypted to
    Party A and to the institution. The amount is reserved at once: beyond what is unpaid, PaymentExceedsUnpaid.
    """
    units = parse_amount(amount, contract_decimals(number))
    record = _finance().apply_payment(number, units, bank_account(bank_account_file, bank_account_text))
    issue = command("payment", "issue", number, str(record.seq))
    refuse = command("payment", "refuse", number, str(record.seq), "--reason", "REASON")
    _show(record, "applied", f"Party A's finance issues the voucher ({issue}) or refuses ({refuse})")


@payment.command("withdraw")
@readable_errors
def payment_withdraw(number: Number, seq: Seq) -> None:
    """Party B withdraws its application before a voucher is issued (S6.5). Key: finance."""
    _show(_finance().withdraw_application(number, seq), "withdrawn")


@payment.command("refuse")
@readable_errors
def payment_refuse(number: Number, seq: Seq, reason: Reason) -> None:
    """Party A refuses an application; its amount is unpaid again (S5.2, S6.5). Key: finance."""
    _show(_finance().refuse_application(number, seq, reason.encode()), "refused")


@payment.command("issue")
@readable_errors
def payment_issue(
    number: Number,
    seq: Seq,
    lifetime: Annotated[
        int, typer.Option(help="Seconds until the payment key expires (at least the escrow's minimum).", min=1)
    ] = KEY_LIFETIME_SECONDS,
) -> None:
    """Party A issues the payment voucher and key; the funds are frozen (S5.2–S5.4). Key: finance.

    The voucher carries the application's amount and account; the payment key is sealed to Party B's finance.
    """
    record = _finance().issue_voucher(number, seq, lifetime=lifetime)
    _show(record, "payment voucher issued, funds frozen", command("payment", "redeem", number, str(seq)))


@payment.command("redeem")
@readable_errors
def payment_redeem(number: Number, seq: Seq) -> None:
    """Party B opens its payment key and requests payment (S6.1). Key: finance.

    The key must match the voucher and pay the account Party B applied with (KeyAccountMismatch otherwise).
    """
    _show(_finance().redeem(number, seq), "payment requested")


@payment.command("assign")
@readable_errors
def payment_assign(number: Number, seq: Seq, org_id: OrgId, out: Out) -> None:
    """Party B passes its payment key to member ORG_ID, sealed to its finance key (S6.3). Key: finance."""
    write_file(out, ("0x" + _finance().assign_key(number, seq, org_id).hex() + "\n").encode())
    present = command("payment", "present", number, str(seq), out)
    show({"payment_key_for": org_id, "written_to": str(out)}, next_step=f"send {out} to org {org_id}: {present}")


@payment.command("present")
@readable_errors
def payment_present(
    number: Number, seq: Seq, key_file: Annotated[Path, typer.Argument(help="The key file Party B sent.")]
) -> None:
    """Party C presents a payment key passed to it (S6.3). Key: finance."""
    record = _finance().present_key(number, seq, parse_hex(read_text(key_file)))
    account = command("payment", "account", number, str(seq), "--bank-account-file", "-", "--out", "account.json")
    _show(record, "payment key presented", f"prepare your bank account for Party B: {account}")


@payment.command("account")
@readable_errors
def payment_account(
    number: Number,
    seq: Seq,
    out: Out,
    bank_account_file: AccountFile = None,
    bank_account_text: AccountText = None,
) -> None:
    """Party C writes its bank account for an assigned payment, for Party B to sign (S6.3). Key: finance.

    The file holds the account's salted hash and the account encrypted to the institution.
    """
    finance = _finance()
    account = finance.assignee_account(number, seq, bank_account(bank_account_file, bank_account_text))
    account_hash = "0x" + account.account_hash.hex()
    write_file(out, json.dumps({"account_hash": account_hash, "ciphertext": "0x" + account.ciphertext.hex()}).encode())
    sign = command("payment", "sign-assignment", number, str(seq), str(finance.org_id), out)
    show({"account_hash": account_hash, "written_to": str(out)}, next_step=f"send {out} to Party B: {sign}")


def _assignee_account(path: Path) -> AssigneeAccount:
    try:
        data = json.loads(read_file(path))
        return AssigneeAccount(parse_hex(data["account_hash"], 32), parse_hex(data["ciphertext"]))
    # AttributeError: a field that is no string; RecursionError: JSON nested too deeply
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise InvalidInput(f"malformed account file {path}: {type(error).__name__}") from None


AccountJson = Annotated[Path, typer.Argument(help="The account file of `collab payment account`.")]


@payment.command("sign-assignment")
@readable_errors
def payment_sign_assignment(number: Number, seq: Seq, org_id: OrgId, account_file: AccountJson) -> None:
    """Party B signs that the payment goes to ORG_ID, into the account of ACCOUNT_FILE (S6.3). Key: finance."""
    finance = _finance()
    account = _assignee_account(account_file)
    signature = "0x" + finance.sign_assignment(number, seq, org_id, account.account_hash).hex()
    confirm = command(
        "payment", "confirm-assignment", number, str(seq), str(org_id), account_file,
        "--signer", finance.address, "--signature", signature,
    )  # fmt: skip
    show(
        {"assignee_org": org_id, "account_hash": "0x" + account.account_hash.hex(), "signer": finance.address,
         "signature": signature},
        next_step=f"Party B or org {org_id} submits: {confirm}",
    )  # fmt: skip


@payment.command("confirm-assignment")
@readable_errors
def payment_confirm_assignment(
    number: Number,
    seq: Seq,
    org_id: OrgId,
    account_file: AccountJson,
    signer: Annotated[str, typer.Option(help="Party B's finance account that signed.")],
    signature: Annotated[str, typer.Option(help="Party B's signature (hex).")],
) -> None:
    """Submits Party B's signed assignment of the payment to ORG_ID (S6.3). Key: finance (B or ORG_ID).

    The payment is then requested for ORG_ID, whose treasury is pinned.
    """
    account = _assignee_account(account_file)
    record = _finance().confirm_assignment(
        number, seq, org_id, account, signer=parse_address(signer), signature=parse_hex(signature)
    )
    _show(record, "assignment confirmed")


@payment.command("pin-treasury")
@readable_errors
def payment_pin_treasury(number: Number, seq: Seq) -> None:
    """The beneficiary pins its current treasury for a requested payment (S6.2). Key: finance."""
    _show(_finance().pin_treasury(number, seq), "treasury pinned")


@payment.command("sign-settlement")
@readable_errors
def payment_sign_settlement(number: Number, seq: Seq, to: To) -> None:
    """Payer or beneficiary consents to settle without the institution (S6.5). Key: finance.

    The other party sends the signature with `collab payment settle` after the release deadline.
    """
    finance = _finance()
    signature = "0x" + finance.sign_settlement(number, seq, to_beneficiary=to is Direction.beneficiary).hex()
    settle = command(
        "payment", "settle", number, str(seq), "--to", to.value, "--cosigner", finance.address,
        "--signature", signature,
    )  # fmt: skip
    show({"to": to.value, "signer": finance.address, "signature": signature}, next_step=f"the other party: {settle}")


@payment.command("settle")
@readable_errors
def payment_settle(
    number: Number,
    seq: Seq,
    to: To,
    cosigner: Annotated[str | None, typer.Option(help="The other party's finance account that signed.")] = None,
    signature: Annotated[str | None, typer.Option(help="The other party's signature (hex).")] = None,
) -> None:
    """Payer or beneficiary settles a payment not released by its deadline (S6.5). Key: finance.

    With the other party's signature (--cosigner, --signature); alone only in its own favour, and only while the
    other's org is suspended.
    """
    if (cosigner is None) != (signature is None):
        raise InvalidInput("give both --cosigner and --signature (the other party's), or neither")
    record = _finance().settle_without_institution(
        number,
        seq,
        to_beneficiary=to is Direction.beneficiary,
        cosigner=None if cosigner is None else parse_address(cosigner),
        signature=b"" if signature is None else parse_hex(signature),
    )
    _show(record, f"settled without the institution: to the {to.value}")


@payment.command("release")
@readable_errors
def payment_release(number: Number, seq: Seq) -> None:
    """The institution checks and pays a requested payment: the second voucher (S6.2, S7.1). Key: operator.

    The beneficiary must be active, its treasury the pinned one, and the bank account must open and match its
    hash; otherwise ReleaseRefused with the reason, and nothing is sent.
    """
    record = _institution().release(number, seq)
    show(second_voucher_view(record, state.decimals(record.asset)), "second voucher")


@payment.command("reclaim")
@readable_errors
def payment_reclaim(number: Number, seq: Seq) -> None:
    """Party A takes back the funds of an expired payment key (S6.4). Key: finance."""
    _show(_finance().reclaim(number, seq), "reclaimed")


@payment.command("show")
@readable_errors
def payment_show(number: Number, seq: Seq) -> None:
    """Shows a payment: status, amount, account hash, beneficiary, deadlines.

    Amounts in currency units, times in your time zone (TZ): key expiry, request time, release deadline.
    """
    _show(ChainReader(state.deployment).payment(number, seq), f"payment {seq} of {number}")


@escrow.command("pause")
@readable_errors
def escrow_pause() -> None:
    """Stops freezing and releasing funds (settlements without the institution go on). Key: operator."""
    show({"paused": _institution().pause()})


@escrow.command("unpause")
@readable_errors
def escrow_unpause() -> None:
    """Resumes freezing and releasing funds. Key: operator."""
    show({"paused": _institution().unpause()})


@readable_errors
def vouchers(
    from_block: Annotated[int | None, typer.Option(help="First block (default: the deployment's).")] = None,
) -> None:
    """Lists the second vouchers (S7.1) on chain."""
    records = ChainReader(state.deployment).second_vouchers(from_block)
    show([second_voucher_view(record, state.decimals(record.asset)) for record in records])
