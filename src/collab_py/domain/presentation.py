"""Records as people read them, shared by the ``collab`` command and the platform: amounts in currency units (the
asset's decimals, exact), times in the reader's time zone, and no ciphertexts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from decimal import Context, Decimal
from typing import Any

from collab_py.domain.models import AgreementRecord, PaymentRecord, SecondVoucherRecord, StageRecord, jsonable
from collab_py.domain.types import contract_number_text
from collab_py.exceptions import CollabError, ContractError


class InvalidAmount(CollabError, ValueError):
    """An amount that is not a positive number of currency units with at most the asset's decimals."""


#: An amount as people write it: digits, or digits grouped by threes with commas (``1,234,567``), then optionally a
#: decimal point and decimals. Nothing else: a comma elsewhere (``1,50``, a decimal comma) is refused, never read as a
#: thousands separator, and exponents, signs and spaces are not amounts.
AMOUNT_PATTERN = r"(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?"


def parse_amount(text: str, decimals: int) -> int:
    """A decimal amount in currency units (``1000.50`` or ``1,000.50``) as token units; refuses what the token
    cannot hold, naming why."""
    if text.startswith("-") and re.fullmatch(AMOUNT_PATTERN, text[1:]):
        raise InvalidAmount(f"invalid amount {text!r}: must be positive")
    if not re.fullmatch(AMOUNT_PATTERN, text):
        raise InvalidAmount(
            f"malformed amount {text!r}: use a number such as 1000.50 or 1,000.50 (a point for decimals, commas only "
            "between groups of three digits)"
        )
    value = Decimal(text.replace(",", ""))
    try:  # exactly: with the default 28 digits of precision, 10000000000.000000000000000001 (18 decimals) loses a unit
        units = value.scaleb(decimals, Context(prec=max(28, len(value.as_tuple().digits))))
    except ArithmeticError:  # an exponent beyond the decimal context (Overflow)
        raise InvalidAmount(f"invalid amount {text!r}: too large") from None
    if units <= 0:
        raise InvalidAmount(f"invalid amount {text!r}: must be positive")
    if units != units.to_integral_value():
        raise InvalidAmount(f"invalid amount {text!r}: at most {decimals} decimals")
    if units >= 2**128:
        raise InvalidAmount(f"invalid amount {text!r}: too large (at most 2**128 - 1 token units)")
    return int(units)


def amount(units: int, decimals: int) -> Decimal:
    """Token units as an exact amount in currency units: ``amount(300050, 2) == Decimal("3000.50")``."""
    return Decimal(f"{units}E-{decimals}")


def money(units: int, decimals: int) -> str:
    """Token units shown in currency units: ``money(123456, 2) == "1,234.56"``."""
    return f"{amount(units, decimals):,f}"


#: Arguments of the contracts' errors that are amounts of the contract's asset, and that are times.
AMOUNT_ARGS = frozenset({"amount", "unpaid", "applied", "issued"})
TIME_ARGS = frozenset({"expiry", "deadline"})


def refusal_text(error: ContractError, decimals: int | None, zone: tzinfo | None = None) -> str:
    """A contract's refusal as people read it: its contract number as text, times in ``zone``, and amounts in
    currency units of ``decimals`` (the asset of the contract it names; None leaves them in token units):
    ``PaymentExceedsUnpaid(contractNo=HT-1, amount=1000.51, unpaid=1000.50)``."""
    if error.reason is not None or not error.args_by_name:
        return str(error)

    def shown(name: str, value: Any) -> Any:
        if name == "contractNo" and isinstance(value, bytes):
            return contract_number_text(value)
        if name in AMOUNT_ARGS and isinstance(value, int) and decimals is not None:
            return format(amount(value, decimals), "f")
        if name in TIME_ARGS and isinstance(value, int):
            return f"{local_time(value, zone):%Y-%m-%d %H:%M:%S %Z}"
        return value

    return str(type(error)({name: shown(name, value) for name, value in error.args_by_name.items()}))


def local_time(timestamp: int | None, zone: tzinfo | None = None) -> datetime | None:
    """A block time (Unix seconds) in ``zone``, by default the user's time zone (``TZ``)."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.astimezone(zone) if zone is not None else moment.astimezone()


def plain(value: Any) -> Any:
    """``value`` ready for ``json.dumps``: amounts as exact decimal strings, times in ISO 8601, records dumped,
    bytes as ``0x`` hex."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return jsonable(value)


def contract_view(record: AgreementRecord, decimals: int, zone: tzinfo | None = None) -> dict[str, Any]:
    """An e-contract: status, parties, asset, document and terms hashes, total, unpaid, stages and signatures."""
    data = record.model_dump(mode="json")
    return {
        "contract_no": record.contract_no,
        "status": data["status"],
        "party_a": record.party_a,
        "party_b": record.party_b,
        "asset": record.asset,
        "doc_hash": data["doc_hash"],
        "terms_hash": data["terms_hash"],
        "total": amount(record.total, decimals),
        "unpaid": amount(record.unpaid, decimals),
        "committed": amount(record.committed, decimals),
        "payment_count": record.payment_count,
        "stages": [stage_view(stage, decimals) for stage in record.stages],
        "signature_b": data["signature_b"],
        "signature_a": data["signature_a"],
        "signed_at": local_time(record.signed_at, zone),
    }


def stage_view(record: StageRecord, decimals: int) -> dict[str, Any]:
    """One stage and where its first voucher stands."""
    return record.model_dump(mode="json") | {"amount": amount(record.amount, decimals)}


def payment_view(record: PaymentRecord, decimals: int, zone: tzinfo | None = None) -> dict[str, Any]:
    """A payment: status, amount, the account's salted hash, key expiry, beneficiary and its pinned treasury,
    request time and release deadline; not the ciphertexts, which only their addressees open."""
    data = record.model_dump(mode="json")
    return {
        "contract_no": record.contract_no,
        "seq": record.seq,
        "voucher_id": data["voucher_id"],
        "status": data["status"],
        "amount": amount(record.amount, decimals),
        "payee_org": record.payee_org,
        "account_hash": data["account_hash"],
        "expiry": local_time(record.expiry, zone),
        "presenter_org": record.presenter_org,
        "beneficiary_org": record.beneficiary_org,
        "pinned_treasury": record.beneficiary,
        "requested_at": local_time(record.requested_at, zone),
        "release_deadline": local_time(record.release_deadline, zone),
        "assignee_account_hash": data["assignee_account_hash"],
    }


def second_voucher_view(record: SecondVoucherRecord, decimals: int, zone: tzinfo | None = None) -> dict[str, Any]:
    """A second voucher (S7.1): who paid whom, how much, when, and where on chain."""
    return record.model_dump(mode="json") | {
        "amount": amount(record.amount, decimals),
        "paid_at": local_time(record.paid_at, zone),
    }
