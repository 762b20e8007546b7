"""Every step an org's departments take, as the API and the UI both run it: the request's validated body, the role
it needs, and what the step does with the department's service. :func:`perform` runs one under an
Idempotency-Key with the role check, the journal of its transactions and the audit log."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from eth_utils.crypto import keccak
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from sqlalchemy import insert
from web3 import Web3

from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.transactor import NodeUnreachable, TransactionTimeout
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.econtract import EContract, TermsMismatch
from collab_py.domain.presentation import (
    AMOUNT_PATTERN,
    InvalidAmount,
    contract_view,
    money,
    parse_amount,
    payment_view,
    plain,
    second_voucher_view,
    stage_view,
)
from collab_py.domain.types import new_contract_number
from collab_py.exceptions import CollabError, ContractError
from collab_py.ledger.database import writer
from collab_py.services import AdminService, AssigneeAccount, BusinessService, FinanceService, InstitutionService
from collab_py.services.finance import KEY_LIFETIME_SECONDS
from collab_py.web.accounts import Principal, Role
from collab_py.web.errors import Forbidden, InvalidRequest, body_of, described, status_of, validation_body
from collab_py.web.runtime import Platform
from collab_py.web.schema import audit_log
from collab_py.web.signer import Answer, Outcome, check_key, current_transactions, fingerprint

log = logging.getLogger("collab.web")

#: Longest free text (a reason, a specification, a contract's text).
MAX_TEXT = 10_000
#: Longest e-contract document or uploaded file accepted, in bytes.
MAX_FILE = 10 * 1024 * 1024

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
Amount = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=80,
        pattern=described(
            f"^{AMOUNT_PATTERN}$", "an amount such as 1000.50 or 1,000.50 (commas between groups of three)"
        ),
    ),
]
Hex32 = Annotated[
    str, StringConstraints(pattern=described(r"^(0x)?[0-9a-fA-F]{64}$", "32 bytes in hex (64 hex digits)"))
]
HexBytes_ = Annotated[
    str,
    StringConstraints(min_length=2, max_length=20_000, pattern=described(r"^(0x)?([0-9a-fA-F]{2})+$", "bytes in hex")),
]
Address = Annotated[
    str, StringConstraints(pattern=described(r"^0x[0-9a-fA-F]{40}$", "an address: 0x and 40 hex digits"))
]
OrgId = Annotated[int, Field(ge=1, le=2**32 - 1)]
Account = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=described(r"^[^\r\n]*\S[^\r\n]*$", "one line of text"))
]


class Body(BaseModel):
    """Base of request bodies: unknown fields refused."""

    model_config = ConfigDict(extra="forbid")


class StageIn(Body):
    """One stage of a proposal: its deliverable specification and amount in currency units."""

    specification: Text
    amount: Amount


class ProposeIn(Body):
    """Party B's proposal (S2.1): number, Party A's org id, the contract's text, the stages."""

    number: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    party_a: OrgId
    text: Text
    stages: Annotated[list[StageIn], Field(min_length=1, max_length=64)]

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        new_contract_number(value)
        return value


class SignIn(Body):
    """Party A's countersignature (S2.3): the e-contract document Party B sent, as received (JSON text); empty to
    use the copy in the org's document store."""

    document: Annotated[str, StringConstraints(max_length=MAX_FILE)] | None = None


class ReasonIn(Body):
    """A reason in words: its keccak256 goes on chain."""

    reason: Text


class ConfirmStageIn(Body):
    """Party A's confirmation (S3.3): optionally the hash of the result it received (refused unless it is the one
    submitted)."""

    result_hash: Hex32 | None = None


class ApplyIn(Body):
    """Party B's payment application (S5.1): amount in currency units and the bank account (never echoed)."""

    amount: Amount
    bank_account: Account = Field(json_schema_extra={"writeOnly": True})


class IssueIn(Body):
    """Party A's payment voucher (S5.2): the key's lifetime in seconds (the escrow's minimum to 366 days)."""

    lifetime: Annotated[int, Field(ge=1, le=366 * 86_400)] = KEY_LIFETIME_SECONDS


class AssignIn(Body):
    """Party B passes its payment key to another member (S6.3)."""

    assignee_org: OrgId


class PresentIn(Body):
    """The assignee presents the sealed payment key Party B sent (hex)."""

    key: HexBytes_


class AssigneeAccountIn(Body):
    """The assignee's bank account for an assigned payment (never echoed)."""

    bank_account: Account = Field(json_schema_extra={"writeOnly": True})


class SignAssignmentIn(Body):
    """Party B signs that the payment goes to ``assignee_org``, into the account of ``account_hash``."""

    assignee_org: OrgId
    account_hash: Hex32


class ConfirmAssignmentIn(Body):
    """Party B's signed assignment, submitted by Party B or the assignee."""

    assignee_org: OrgId
    account_hash: Hex32
    ciphertext: HexBytes_
    signer: Address
    signature: HexBytes_


class SignSettlementIn(Body):
    """Consent to settle without the institution (S6.5), to the beneficiary or back to the payer."""

    to: Literal["beneficiary", "payer"]


class SettleIn(Body):
    """A settlement without the institution (S6.5), with the other party's signature (or alone, in one's own
    favour, when the other's org is suspended)."""

    to: Literal["beneficiary", "payer"]
    cosigner: Address | None = None
    signature: HexBytes_ | None = None


class RegisterOrgIn(Body):
    """Governance registers a member org (S1.1)."""

    org_id: OrgId
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    kind: Literal["ENTERPRISE", "PAYMENT_INSTITUTION"] = "ENTERPRISE"
    treasury: Address
    encryption_key: Annotated[str, StringConstraints(pattern=r"^(0x)?0[23][0-9a-fA-F]{64}$")]


class BindIn(Body):
    """Governance binds an account to a department of an org (S1.2)."""

    account: Address
    org_id: OrgId
    department: Literal["BUSINESS", "FINANCE", "OPERATOR"]


class AccountIn(Body):
    """An account (unbind)."""

    account: Address


class TreasuryIn(Body):
    """An org's new treasury."""

    treasury: Address


class AssetIn(Body):
    """An ERC-20 asset."""

    asset: Address


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _address(text: str) -> Any:
    return Web3.to_checksum_address(text)


# ---------------------------------------------------------------------------------------------------- steps
@dataclass(frozen=True)
class Step:
    """A step: its name (for the audit log and idempotency), the role that takes it, and what it does."""

    name: str
    role: Role
    run: Callable[[Platform, Any, Any, Principal], dict[str, Any]]


def _contract(platform: Platform, number: str, who: Principal) -> dict[str, Any]:
    record = platform.reader.agreement(number)
    return contract_view(record, platform.decimals(record.asset), who.zone)


def _decimals_of(platform: Platform, number: str) -> int:
    return platform.decimals(platform.reader.agreement(number).asset)


def propose(platform: Platform, service: Any, body: ProposeIn, who: Principal) -> dict[str, Any]:
    """S2.1: Party B registers the e-contract; the document for Party A is kept in the document store."""
    business: BusinessService = service
    decimals = platform.decimals(platform.deployment.asset.address)
    stages = tuple(StageDraft(stage.specification, _units(stage.amount, decimals, f"stages.{i}.amount"))
                   for i, stage in enumerate(body.stages))  # fmt: skip
    draft = ContractDraft(body.number, body.text, stages)
    try:
        econtract = business.econtract(draft, body.party_a)
    except ValidationError as error:
        raise InvalidRequest(validation_body(error).message) from None
    record = business.propose(econtract)
    return contract_view(record, decimals, who.zone) | {"econtract_document": econtract.document().decode()}


def countersign(platform: Platform, service: Any, args: tuple[str, bytes | None], who: Principal) -> dict[str, Any]:
    """S2.3: Party A checks the e-contract it received against the chain (TermsMismatch names the field), then
    signs."""
    business: BusinessService = service
    number, document = args
    try:
        record = business.countersign(number, document)
    except TermsMismatch as mismatch:
        raise in_currency_units(platform, mismatch, number, document) from None
    return contract_view(record, platform.decimals(record.asset), who.zone)


def in_currency_units(
    platform: Platform, mismatch: TermsMismatch, number: str, document: bytes | None
) -> TermsMismatch:
    """``mismatch`` with a stage's amounts in currency units."""
    found = re.fullmatch(r"stages\[(\d+)\]\.amount", mismatch.field)
    if found is None or document is None:
        return mismatch
    agreement = platform.reader.agreement(number)
    index, decimals = int(found[1]), platform.decimals(agreement.asset)
    mine = EContract.from_document(document).stages[index].amount
    return TermsMismatch(mismatch.field, money(mine, decimals), money(agreement.stages[index].amount, decimals))


def _units(text: str, decimals: int, field: str) -> int:
    try:
        return parse_amount(text, decimals)
    except InvalidAmount as error:
        raise InvalidRequest(str(error), field=field) from None


STEPS: dict[str, Step] = {}


def step(name: str, role: Role) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Registers a step."""

    def register(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        STEPS[name] = Step(name, role, function)
        return function

    return register


step("propose", Role.BUSINESS)(propose)
step("countersign", Role.BUSINESS)(countersign)


@step("cancel", Role.BUSINESS)
def cancel(platform: Platform, service: Any, args: tuple[str, ReasonIn], who: Principal) -> dict[str, Any]:
    """S2: Party B withdraws, or Party A declines, a proposal not signed yet."""
    number, body = args
    record = service.cancel(number, body.reason.encode())
    return contract_view(record, platform.decimals(record.asset), who.zone)


@step("submit_stage", Role.BUSINESS)
def submit_stage(platform: Platform, service: Any, args: tuple[str, int, bytes], who: Principal) -> dict[str, Any]:
    """S3.1: Party B submits a stage's delivered result (kept in the document store; its hash signed)."""
    number, index, content = args
    platform.documents.put(content)
    record = service.submit_stage(number, index, content)
    return stage_view(record, _decimals_of(platform, number)) | {"contract_no": number}


@step("confirm_stage", Role.BUSINESS)
def confirm_stage(
    platform: Platform, service: Any, args: tuple[str, int, ConfirmStageIn], who: Principal
) -> dict[str, Any]:
    """S3.3: Party A confirms a stage's pending result: its first voucher."""
    number, index, body = args
    record = service.confirm_stage(number, index, None if body.result_hash is None else _hex(body.result_hash))
    return stage_view(record, _decimals_of(platform, number)) | {"contract_no": number}


@step("reject_stage", Role.BUSINESS)
def reject_stage(platform: Platform, service: Any, args: tuple[str, int, ReasonIn], who: Principal) -> dict[str, Any]:
    """S3.3: Party A rejects a stage's pending result."""
    number, index, body = args
    record = service.reject_stage(number, index, body.reason.encode())
    return stage_view(record, _decimals_of(platform, number)) | {"contract_no": number}


@step("apply_settlement", Role.BUSINESS)
def apply_settlement(platform: Platform, service: Any, number: str, who: Principal) -> dict[str, Any]:
    """S4.1: Party B applies for business settlement."""
    service.apply_settlement(number)
    return _contract(platform, number, who)


@step("approve_settlement", Role.BUSINESS)
def approve_settlement(platform: Platform, service: Any, number: str, who: Principal) -> dict[str, Any]:
    """S4.2: Party A approves: the business settlement voucher."""
    service.approve_settlement(number)
    return _contract(platform, number, who)


@step("reject_settlement", Role.BUSINESS)
def reject_settlement(platform: Platform, service: Any, args: tuple[str, ReasonIn], who: Principal) -> dict[str, Any]:
    """S4.2: Party A rejects the application for settlement."""
    number, body = args
    service.reject_settlement(number, body.reason.encode())
    return _contract(platform, number, who)


def _payment(platform: Platform, record: Any, who: Principal) -> dict[str, Any]:
    return payment_view(record, _decimals_of(platform, record.contract_no), who.zone)


@step("apply_payment", Role.FINANCE)
def apply_payment(platform: Platform, service: Any, args: tuple[str, ApplyIn], who: Principal) -> dict[str, Any]:
    """S5.1: Party B applies for payment into its bank account."""
    number, body = args
    units = _units(body.amount, _decimals_of(platform, number), "amount")
    finance: FinanceService = service
    return _payment(platform, finance.apply_payment(number, units, body.bank_account.strip()), who)


@step("withdraw_application", Role.FINANCE)
def withdraw_application(platform: Platform, service: Any, args: tuple[str, int], who: Principal) -> dict[str, Any]:
    """S6.5: Party B withdraws its application."""
    return _payment(platform, service.withdraw_application(*args), who)


@step("refuse_application", Role.FINANCE)
def refuse_application(
    platform: Platform, service: Any, args: tuple[str, int, ReasonIn], who: Principal
) -> dict[str, Any]:
    """S5.2: Party A refuses an application."""
    number, seq, body = args
    return _payment(platform, service.refuse_application(number, seq, body.reason.encode()), who)


@step("issue_voucher", Role.FINANCE)
def issue_voucher(platform: Platform, service: Any, args: tuple[str, int, IssueIn], who: Principal) -> dict[str, Any]:
    """S5.2–S5.4: Party A issues the payment voucher and key; the funds are frozen."""
    number, seq, body = args
    return _payment(platform, service.issue_voucher(number, seq, lifetime=body.lifetime), who)


@step("redeem", Role.FINANCE)
def redeem(platform: Platform, service: Any, args: tuple[str, int], who: Principal) -> dict[str, Any]:
    """S6.1: Party B opens its payment key and requests payment."""
    return _payment(platform, service.redeem(*args), who)


@step("reclaim", Role.FINANCE)
def reclaim(platform: Platform, service: Any, args: tuple[str, int], who: Principal) -> dict[str, Any]:
    """S6.4: Party A takes back the funds of an expired key."""
    return _payment(platform, service.reclaim(*args), who)


@step("pin_treasury", Role.FINANCE)
def pin_treasury(platform: Platform, service: Any, args: tuple[str, int], who: Principal) -> dict[str, Any]:
    """S6.2: the beneficiary pins its current treasury."""
    return _payment(platform, service.pin_treasury(*args), who)


@step("assign", Role.FINANCE)
def assign(platform: Platform, service: Any, args: tuple[str, int, AssignIn], who: Principal) -> dict[str, Any]:
    """S6.3: Party B seals its payment key to another member's finance key."""
    number, seq, body = args
    sealed = service.assign_key(number, seq, body.assignee_org)
    return {"contract_no": number, "seq": seq, "assignee_org": body.assignee_org, "key": "0x" + sealed.hex()}


@step("present", Role.FINANCE)
def present(platform: Platform, service: Any, args: tuple[str, int, PresentIn], who: Principal) -> dict[str, Any]:
    """S6.3: the assignee presents the payment key."""
    number, seq, body = args
    return _payment(platform, service.present_key(number, seq, _hex(body.key)), who)


@step("assignee_account", Role.FINANCE)
def assignee_account(
    platform: Platform, service: Any, args: tuple[str, int, AssigneeAccountIn], who: Principal
) -> dict[str, Any]:
    """S6.3: the assignee's account for Party B to sign: salted hash, and the account sealed to the institution."""
    number, seq, body = args
    account = service.assignee_account(number, seq, body.bank_account.strip())
    return {
        "contract_no": number,
        "seq": seq,
        "assignee_org": platform.org_id,
        "account_hash": "0x" + account.account_hash.hex(),
        "ciphertext": "0x" + account.ciphertext.hex(),
    }


@step("sign_assignment", Role.FINANCE)
def sign_assignment(
    platform: Platform, service: Any, args: tuple[str, int, SignAssignmentIn], who: Principal
) -> dict[str, Any]:
    """S6.3: Party B signs the assignment naming the assignee and its account."""
    number, seq, body = args
    signature = service.sign_assignment(number, seq, body.assignee_org, _hex(body.account_hash))
    return {"contract_no": number, "seq": seq, "assignee_org": body.assignee_org, "account_hash": body.account_hash,
            "signer": service.address, "signature": "0x" + signature.hex()}  # fmt: skip


@step("confirm_assignment", Role.FINANCE)
def confirm_assignment(
    platform: Platform, service: Any, args: tuple[str, int, ConfirmAssignmentIn], who: Principal
) -> dict[str, Any]:
    """S6.3: submits Party B's signed assignment; the payment is requested for the assignee."""
    number, seq, body = args
    account = AssigneeAccount(_hex(body.account_hash), _hex(body.ciphertext))
    record = service.confirm_assignment(
        number, seq, body.assignee_org, account, signer=_address(body.signer), signature=_hex(body.signature)
    )
    return _payment(platform, record, who)


@step("sign_settlement", Role.FINANCE)
def sign_settlement(
    platform: Platform, service: Any, args: tuple[str, int, SignSettlementIn], who: Principal
) -> dict[str, Any]:
    """S6.5: consent to settle without the institution."""
    number, seq, body = args
    signature = service.sign_settlement(number, seq, to_beneficiary=body.to == "beneficiary")
    return {"contract_no": number, "seq": seq, "to": body.to, "signer": service.address,
            "signature": "0x" + signature.hex()}  # fmt: skip


@step("settle", Role.FINANCE)
def settle(platform: Platform, service: Any, args: tuple[str, int, SettleIn], who: Principal) -> dict[str, Any]:
    """S6.5: settle a payment not released by its deadline."""
    number, seq, body = args
    if (body.cosigner is None) != (body.signature is None):
        raise InvalidRequest("give both cosigner and signature (the other party's), or neither", field="cosigner")
    record = service.settle_without_institution(
        number, seq, to_beneficiary=body.to == "beneficiary",
        cosigner=None if body.cosigner is None else _address(body.cosigner),
        signature=b"" if body.signature is None else _hex(body.signature),
    )  # fmt: skip
    return _payment(platform, record, who)


@step("release", Role.OPERATOR)
def release(platform: Platform, service: Any, args: tuple[str, int], who: Principal) -> dict[str, Any]:
    """S6.2, S7.1: the institution checks and pays a requested payment."""
    institution: InstitutionService = service
    record = institution.release(*args)
    return second_voucher_view(record, platform.decimals(record.asset), who.zone)


@step("pause", Role.OPERATOR)
def pause(platform: Platform, service: Any, _args: None, who: Principal) -> dict[str, Any]:
    """Stops freezing and releasing funds."""
    return {"paused": service.pause()}


@step("unpause", Role.OPERATOR)
def unpause(platform: Platform, service: Any, _args: None, who: Principal) -> dict[str, Any]:
    """Resumes freezing and releasing funds."""
    return {"paused": service.unpause()}


@step("register_org", Role.ADMIN)
def register_org(platform: Platform, service: Any, body: RegisterOrgIn, who: Principal) -> dict[str, Any]:
    """S1.1: governance registers a member org."""
    admin: AdminService = service
    record = admin.register_org(
        body.org_id, body.name, OrgKind[body.kind], _address(body.treasury), _hex(body.encryption_key)
    )
    return record.model_dump(mode="json")


@step("bind_account", Role.ADMIN)
def bind_account(platform: Platform, service: Any, body: BindIn, who: Principal) -> dict[str, Any]:
    """S1.2: governance binds an account to a department."""
    return service.bind_account(_address(body.account), body.org_id, Department[body.department]).model_dump(
        mode="json"
    )


@step("unbind_account", Role.ADMIN)
def unbind_account(platform: Platform, service: Any, body: AccountIn, who: Principal) -> dict[str, Any]:
    """S1.2: governance unbinds an account."""
    return service.unbind_account(_address(body.account)).model_dump(mode="json")


@step("set_treasury", Role.ADMIN)
def set_treasury(platform: Platform, service: Any, args: tuple[int, TreasuryIn], who: Principal) -> dict[str, Any]:
    """S1: governance moves an org's treasury."""
    org_id, body = args
    return service.set_treasury(org_id, _address(body.treasury)).model_dump(mode="json")


@step("suspend_org", Role.ADMIN)
def suspend_org(platform: Platform, service: Any, org_id: int, who: Principal) -> dict[str, Any]:
    """S1.1: governance suspends an org."""
    return service.set_org_active(org_id, False).model_dump(mode="json")


@step("reinstate_org", Role.ADMIN)
def reinstate_org(platform: Platform, service: Any, org_id: int, who: Principal) -> dict[str, Any]:
    """S1.1: governance reinstates an org."""
    return service.set_org_active(org_id, True).model_dump(mode="json")


@step("accept_asset", Role.ADMIN)
def accept_asset(platform: Platform, service: Any, body: AssetIn, who: Principal) -> dict[str, Any]:
    """Governance accepts an asset for new contracts."""
    return service.set_asset_accepted(_address(body.asset), True).model_dump(mode="json")


@step("withdraw_asset", Role.ADMIN)
def withdraw_asset(platform: Platform, service: Any, body: AssetIn, who: Principal) -> dict[str, Any]:
    """Governance withdraws an asset for new contracts."""
    return service.set_asset_accepted(_address(body.asset), False).model_dump(mode="json")


# ---------------------------------------------------------------------------------------------------- running
#: Errors after which the step may still have happened: the answer is not kept, and a retry resumes the
#: recorded transactions.
TRANSIENT = (NodeUnreachable, TransactionTimeout)


def authorise(who: Principal, role: Role, name: str) -> None:
    """403 unless ``who`` holds ``role``."""
    if who.role is not role:
        raise Forbidden(
            f"{name} is a step of the {role.value} department; {who.id} acts for {who.role.value} "
            f"and can never act for another department"
        )


def perform(
    platform: Platform,
    who: Principal,
    name: str,
    args: Any,
    *,
    path: str,
    target: str,
    idempotency_key: str | None,
    digest_body: Any,
    client: str = "",
) -> Outcome:
    """Runs step ``name`` for ``who``: the role check (403), then once per Idempotency-Key, with its transactions
    journaled; every call is in the audit log. The answer is the step's view (``record``) and its
    ``transactions``, or an error body."""
    entry = STEPS[name]
    key = check_key(idempotency_key) if idempotency_key is not None else f"auto-{uuid.uuid4()}"
    try:
        authorise(who, entry.role, name)
        service = platform.services.get(entry.role)
        if service is None:
            raise Forbidden(f"this platform holds no {entry.role.value} key: {name} cannot be signed here")
    except CollabError as error:
        _audit(platform, who, name, target, Answer(status_of(error), None), [], key, client, type(error).__name__)
        raise

    def run() -> Answer:
        try:
            with platform.signing(entry.role):
                record = entry.run(platform, service, args, who)
        except TRANSIENT as error:
            return Answer(status_of(error), body_of(error).model_dump(), final=False)
        except CollabError as error:
            decimals = platform.reader.decimals_for(error) if isinstance(error, ContractError) else None
            return Answer(status_of(error), body_of(error, decimals, who.zone).model_dump())
        except Exception as error:  # answered 500 and not kept: a retry runs it again, resuming its transactions
            log.exception("step %s failed", name)
            return Answer(500, body_of(error).model_dump(), final=False)
        return Answer(200, {"record": plain(record), "transactions": list(current_transactions())})

    outcome = platform.runner.run(who.id, key, name, fingerprint(name, path, digest_body), run)
    error_name = outcome.answer.body.get("error", "") if outcome.answer.status >= 400 else ""
    outcome_name = ("replayed " if outcome.replayed else "") + (error_name or "ok")
    _audit(platform, who, name, target, outcome.answer, outcome.tx_hashes, key, client, outcome_name)
    if outcome.answer.status == 200 and outcome.tx_hashes and not outcome.replayed:
        _read_your_writes(platform, outcome.tx_hashes[-1])
    return outcome


def _read_your_writes(platform: Platform, tx_hash: str) -> None:
    try:
        receipt = platform.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except Exception:  # the answer stands; the lists catch up on their own
        return
    platform.caught_up(int(receipt["blockNumber"]))


def _audit(
    platform: Platform,
    who: Principal,
    action: str,
    target: str,
    answer: Answer,
    tx_hashes: list[str],
    key: str | None,
    client: str,
    outcome: str,
) -> None:
    with writer(platform.database).begin() as connection:
        connection.execute(
            insert(audit_log).values(
                at=datetime.now(UTC), principal=who.id, role=who.role.value, action=action, target=target[:128],
                outcome=outcome[:64], status_code=answer.status, tx_hashes=" ".join(tx_hashes),
                idempotency_key=key, client=client[:64],
            )
        )  # fmt: skip


def audit_event(platform: Platform, who: Principal, action: str, outcome: str, status: int, client: str = "") -> None:
    """An audit entry for something that is not a step (login, logout, user or token created)."""
    _audit(platform, who, action, "", Answer(status, None), [], None, client, outcome)


def file_digest(content: bytes) -> dict[str, Any]:
    """How an uploaded file enters a request's fingerprint: its hash and size."""
    return {"sha256": hashlib.sha256(content).hexdigest(), "keccak": "0x" + keccak(content).hex(), "size": len(content)}
