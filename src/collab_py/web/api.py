"""The HTTP API (``/api/v1``): every step and read of the ``collab`` command, the department inbox, lists with
filters and keyset pagination, the books, the reconciliation and the audit log. Bearer tokens for bots; a browser
session works too, with its CSRF token in ``X-CSRF-Token`` on every POST."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select

from collab_py.chain.enums import VoucherStatus
from collab_py.domain.presentation import amount, local_time, payment_view, plain
from collab_py.domain.types import contract_number
from collab_py.ledger.queries import journal, posted_totals
from collab_py.ledger.reconcile import reconcile
from collab_py.ledger.schema import PAYMENT, RECEIPT, chain_log
from collab_py.ledger.store import rows_by_id
from collab_py.services.reader import second_voucher
from collab_py.web import actions, queries
from collab_py.web.accounts import AccountError, Principal, Role, create_token, create_user, list_users, revoke_token
from collab_py.web.errors import ErrorBody, Forbidden, InvalidRequest, status_of
from collab_py.web.runtime import Platform
from collab_py.web.schema import audit_log
from collab_py.web.session import SESSION_COOKIE, require_principal

#: Every refusal's body, documented for each status the API answers with.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "Malformed file or Idempotency-Key",
        401: "No valid session or bearer token",
        403: "Another department's step, a read-only role, or the chain's WrongParty/WrongDepartment",
        404: "Unknown contract, payment, org or document",
        409: "Refused by the chain (the contract error's name), or an Idempotency-Key reused with another request",
        422: "Malformed body, amount, contract number, or an e-contract that differs from the chain (TermsMismatch)",
        503: "The node cannot be reached (retry with the same Idempotency-Key)",
    }.items()
}

Number = Annotated[str, Path(min_length=1, max_length=66, description="The contract number, e.g. HT-2026-0001.")]
Seq = Annotated[int, Path(ge=1, le=255, description="The payment's sequence number within the contract.")]
Index = Annotated[int, Path(ge=0, le=255, description="The stage index, from 0.")]
OrgPath = Annotated[int, Path(ge=1, le=2**32 - 1)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255,
           description="A retry with the same key returns the first answer; the same key with another body is 409."),
]  # fmt: skip
ContractStatusName = Literal["PROPOSED", "SIGNED", "SETTLEMENT_REQUESTED", "SETTLED", "CANCELLED"]
VoucherStatusName = Literal[
    "APPLIED", "FROZEN", "PRESENTED", "REQUESTED", "RELEASED", "RECLAIMED", "REFUSED", "WITHDRAWN"
]
Limit = Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)]
Cursor = Annotated[int | None, Query(ge=0, le=2**62, description="next_cursor of the previous page")]


class Envelope(BaseModel):
    """A step's answer: the record the chain now holds (amounts in currency units, times in the user's zone)
    and the transactions sent."""

    record: dict[str, Any]
    transactions: list[str] = Field(description="Hashes of the transactions the step sent, in order.")


class PageOut(BaseModel):
    """A page of a list, newest change first, and the cursor of the next page (null on the last)."""

    items: list[dict[str, Any]]
    next_cursor: int | None


def platform_of(request: Request) -> Platform:
    """The org's platform."""
    platform: Platform = request.app.state.platform
    return platform


def check_number(number: str) -> str:
    """A contract number as text, 422 when malformed."""
    contract_number(number)
    return number


#: How the API is called, as OpenAPI declares it: a bearer token (``collab tokens new``), or a browser's session.
BEARER = HTTPBearer(auto_error=False, description="An API token of `collab tokens new` or `POST /api/v1/tokens`.")
SESSION = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="A browser's session (`POST /login`); its POSTs also carry "
    "the session's CSRF token in `X-CSRF-Token`.",
)  # fmt: skip


def principal_of(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    _session: Annotated[str | None, Depends(SESSION)],
) -> Principal:
    """The caller: a bearer token, or a session whose POSTs carry its CSRF token (X-CSRF-Token)."""
    return require_principal(request)


Who = Annotated[Principal, Depends(principal_of)]
Plat = Annotated[Platform, Depends(platform_of)]

router = APIRouter(prefix="/api/v1", responses=ERRORS)


def _act(
    request: Request, platform: Platform, who: Principal, name: str, args: Any, *, target: str, key: str | None,
    body: Any = None,
) -> Response:  # fmt: skip
    outcome = actions.perform(
        platform, who, name, args, path=request.url.path, target=target, idempotency_key=key,
        digest_body=body, client=request.client.host if request.client else "",
    )  # fmt: skip
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return JSONResponse(outcome.answer.body, outcome.answer.status, headers=headers)


def _json(body: BaseModel | None) -> Any:
    return None if body is None else body.model_dump(mode="json")


# ------------------------------------------------------------------------------------------------------ reads
@router.get("/me", tags=["access"])
def me(platform: Plat, who: Who) -> dict[str, Any]:
    """Who is asking: name, role, time zone, and the org this platform serves."""
    return {"principal": who.id, "role": who.role.value, "time_zone": who.time_zone, "org_id": platform.org_id,
            "org_name": platform.org_name(platform.org_id), "org_kind": platform.org_kind.name,
            "departments_signing_here": sorted(role.value for role in platform.services)}  # fmt: skip


@router.get("/contracts", tags=["reads"], response_model=PageOut)
def contracts_list(
    platform: Plat,
    who: Who,
    scope: Literal["mine", "all"] = "mine",
    status: ContractStatusName | None = None,
    counterparty: Annotated[int | None, Query(ge=1, le=2**32 - 1)] = None,
    number_prefix: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Contracts the org is a party to (or all), newest change first; by status, counterparty, number prefix."""
    with platform.read() as connection:
        page = queries.list_contracts(
            connection, platform.org_id, scope=scope, status=status,
            counterparty=counterparty, number_prefix=number_prefix, limit=limit, cursor=cursor,
        )  # fmt: skip
    return {"items": [contract_item(platform, row) for row in page.items], "next_cursor": page.next_cursor}


def contract_item(platform: Platform, row: dict[str, Any]) -> dict[str, Any]:
    """A read-model contract row in currency units."""
    decimals = platform.decimals(row["asset"])
    return plain({
        "contract_no": row["contract_no"], "status": row["status"], "party_a": row["party_a"],
        "party_b": row["party_b"], "asset": row["asset"], "total": amount(int(row["total"]), decimals),
        "paid": amount(int(row["paid"]), decimals), "stages": row["stage_count"], "vouched": row["vouched"],
        "pending_stages": row["pending"], "payments": row["payment_count"], "updated_block": row["updated_block"],
    })  # fmt: skip


def payment_item(platform: Platform, row: dict[str, Any], who: Principal) -> dict[str, Any]:
    """A read-model payment row in currency units and the user's zone."""
    decimals = platform.decimals(row["asset"])
    return plain({
        "contract_no": row["contract_no"], "seq": row["seq"], "voucher_id": "0x" + bytes(row["voucher_id"]).hex(),
        "status": row["status"], "payer_org": row["party_a"], "payee_org": row["party_b"],
        "amount": amount(int(row["amount"]), decimals), "beneficiary_org": row["beneficiary_org"],
        "presenter_org": row["presenter_org"], "expiry": local_time(row["expiry"], who.zone),
        "frozen_at": local_time(row["frozen_at"], who.zone), "requested_at": local_time(row["requested_at"], who.zone),
        "paid_at": local_time(row["paid_at"], who.zone),
    })  # fmt: skip


def stage_item(platform: Platform, row: dict[str, Any]) -> dict[str, Any]:
    """A read-model stage row."""
    return {"contract_no": row["contract_no"], "index": row["stage_index"], "status": row["status"],
            "result_hash": "0x" + bytes(row["result_hash"]).hex() if row["result_hash"] else None}  # fmt: skip


@router.get("/contracts/{number}", tags=["reads"])
def contract_show(platform: Plat, who: Who, number: Number) -> dict[str, Any]:
    """An e-contract as the chain holds it: status, parties, hashes, total, unpaid, stages, signatures; and its
    payments."""
    check_number(number)
    record = platform.reader.agreement(number)
    decimals = platform.decimals(record.asset)
    from collab_py.domain.presentation import contract_view

    with platform.read() as connection:
        found = queries.payments_of(connection, record.contract_no)
    return plain(contract_view(record, decimals, who.zone)) | {
        "payments": [payment_item(platform, row, who) for row in found]
    }


@router.get("/contracts/{number}/timeline", tags=["reads"])
def contract_timeline(platform: Plat, who: Who, number: Number) -> dict[str, Any]:
    """Every step of the contract on chain: event, block, transaction, the account that sent it (its org and
    department), and the platform user who did it here."""
    check_number(number)
    with platform.read() as connection:
        steps = queries.timeline(connection, number)
    if not steps:
        platform.reader.agreement(number)  # 404 for an unknown contract
    return {"contract_no": number, "steps": steps}


@router.get("/contracts/{number}/econtract", tags=["reads"])
def contract_document(platform: Plat, who: Who, number: Number) -> Response:
    """The e-contract document (canonical JSON) from the org's document store: what Party B sends Party A."""
    check_number(number)
    record = platform.reader.agreement(number)
    document = platform.documents.get(record.doc_hash)
    filename = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in number) + ".econtract.json"
    return Response(document, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


@router.get("/contracts/{number}/payments/{seq}", tags=["reads"])
def payment_show(platform: Plat, who: Who, number: Number, seq: Seq) -> dict[str, Any]:
    """A payment: status, amount, account hash, key expiry, beneficiary, deadlines (no ciphertexts)."""
    check_number(number)
    record = platform.reader.payment(number, seq)
    return plain(payment_view(record, platform.decimals(platform.reader.agreement(number).asset), who.zone))


@router.get("/payments", tags=["reads"], response_model=PageOut)
def payments_list(
    platform: Plat,
    who: Who,
    scope: Literal["mine", "all"] = "mine",
    status: VoucherStatusName | None = None,
    contract_no: Annotated[str | None, Query(max_length=66)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Payments of the org (payer, payee, presenter or beneficiary) or all, newest change first."""
    with platform.read() as connection:
        page = queries.list_payments(
            connection, platform.org_id, scope=scope, status=status,
            contract_no=contract_no, limit=limit, cursor=cursor,
        )  # fmt: skip
    return {"items": [payment_item(platform, row, who) for row in page.items], "next_cursor": page.next_cursor}


@router.get("/inbox", tags=["reads"])
def inbox(
    platform: Plat,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """What waits for the caller's department now: each section's newest rows and its count."""
    return inbox_of(platform, who, limit)


def inbox_of(platform: Platform, who: Principal, limit: int = 20) -> dict[str, Any]:
    """The inbox as the API answers it."""
    with platform.read() as connection:
        found = queries.inbox(connection, platform.org_id, who.role, int(time.time()),
                              institution=platform.institution, limit=limit)  # fmt: skip
    sections = {}
    for name, rows in found.sections.items():
        if name == "stages_to_confirm":
            items = [stage_item(platform, row) for row in rows]
        elif rows and "voucher_id" in rows[0]:
            items = [payment_item(platform, row, who) for row in rows]
        else:
            items = [contract_item(platform, row) for row in rows]
        sections[name] = {"title": queries.SECTION_TITLES[name], "count": found.counts[name], "items": items}
    return {"role": who.role.value, "sections": sections}


@router.get("/vouchers", tags=["reads"], response_model=PageOut)
def vouchers(platform: Plat, who: Who, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    """Second vouchers (S7.1) of the org's payments, newest first."""
    with platform.read() as connection:
        page = queries.list_payments(connection, platform.org_id, scope="all" if platform.institution else "mine",
                                     status=VoucherStatus.RELEASED.name, limit=limit, cursor=cursor)  # fmt: skip
    return {"items": [payment_item(platform, row, who) for row in page.items], "next_cursor": page.next_cursor}


@router.get("/books", tags=["books"])
def books(platform: Plat, who: Who, limit: Limit = 200) -> dict[str, Any]:
    """The org's journal (its accounting listener's postings), newest last, in currency units."""
    lines = journal(platform.database, platform.org_id)[-limit:]
    decimals = platform.decimals(platform.deployment.asset.address)
    return {"org_id": platform.org_id, "lines": [plain(line.view(decimals)) for line in lines]}


@router.get("/reconciliation", tags=["books"])
def reconciliation(platform: Plat, who: Who) -> dict[str, Any]:
    """S8.4: per contract and per counterparty pair, what the payer posted, what the payee posted and what the
    chain paid, every mismatch named; needs the books of both orgs of a pair (this org's, and the others given)."""
    return reconciliation_of(platform)


def reconciliation_of(platform: Platform) -> dict[str, Any]:
    """The reconciliation as the API and the dashboard show it."""
    with platform.read() as connection:
        ids = connection.execute(
            select(chain_log.c.id).where(chain_log.c.event == "SecondVoucher", chain_log.c.orphaned.is_(False))
        ).scalars()
        rows = rows_by_id(connection, list(ids))
    vouchers = [second_voucher(row.chain_event(platform.codec)) for row in rows.values()]  # type: ignore[arg-type]
    ledgers = platform.ledgers()
    by_pair: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for voucher in vouchers:
        by_pair[(voucher.payer_org, voucher.payee_org)].append(voucher)
    for org in ledgers:
        for kind in (PAYMENT, RECEIPT):
            for postings in posted_totals(ledgers[org], kind).values():
                for _seq, poster, other in postings:
                    pair = (poster, other) if kind == PAYMENT else (other, poster)
                    by_pair.setdefault(pair, [])
    decimals = platform.decimals(platform.deployment.asset.address)
    contracts, pairs = [], []
    for (payer, payee), items in sorted(by_pair.items()):
        if payer not in ledgers or payee not in ledgers:
            pairs.append(
                {
                    "payer_org": payer,
                    "payee_org": payee,
                    "vouchers": len(items),
                    "on_chain": amount(sum(v.amount for v in items), decimals),
                    "payable_posted": None,
                    "receivable_posted": None,
                    "clean": None,
                    "note": f"the books of org {payer if payer not in ledgers else payee} are not read here",
                }
            )
            continue
        report = reconcile(items, ledgers[payer], ledgers[payee], decimals=decimals)
        mine = [c for c in report.contracts if c.payer_org == payer and c.payee_org == payee]
        contracts += [item.view(decimals) | {"clean": not item.mismatches} for item in mine]
        pairs.append({"payer_org": payer, "payee_org": payee, "vouchers": sum(c.vouchers for c in mine),
                      "on_chain": amount(sum(c.on_chain for c in mine), decimals),
                      "payable_posted": amount(sum(c.payable_posted for c in mine), decimals),
                      "receivable_posted": amount(sum(c.receivable_posted for c in mine), decimals),
                      "clean": all(not c.mismatches for c in mine), "note": None})  # fmt: skip
    return plain({"contracts": contracts, "pairs": pairs,
                  "clean": all(p["clean"] is not False for p in pairs)})  # fmt: skip


@router.get("/dashboard", tags=["books"])
def dashboard(platform: Plat, who: Who) -> dict[str, Any]:
    """The group finance dashboard: payables vs receivables per counterparty pair (contracts, totals, paid),
    frozen funds by age, and the reconciliation."""
    return dashboard_of(platform, who)


def dashboard_of(platform: Platform, who: Principal) -> dict[str, Any]:
    """The dashboard's figures."""
    now = int(time.time())
    with platform.read() as connection:
        pairs = queries.pair_totals(connection)
        ageing = queries.frozen_ageing(connection, None if platform.institution else platform.org_id, now)
        names = queries.org_names(connection)
    decimals = platform.decimals(platform.deployment.asset.address)
    payables = sum(p["total"] - p["paid"] for p in pairs if p["payer_org"] == platform.org_id)
    receivables = sum(p["total"] - p["paid"] for p in pairs if p["payee_org"] == platform.org_id)
    return plain({
        "org_id": platform.org_id,
        "org_names": {str(k): v for k, v in names.items()},
        "outstanding_payables": amount(payables, decimals),
        "outstanding_receivables": amount(receivables, decimals),
        "pairs": [p | {"total": amount(p["total"], decimals), "paid": amount(p["paid"], decimals),
                       "outstanding": amount(p["total"] - p["paid"], decimals)} for p in pairs],
        "frozen_ageing": [b | {"amount": amount(b["amount"], decimals)} for b in ageing],
        "reconciliation": reconciliation_of(platform),
    })  # fmt: skip


@router.get("/orgs/{org_id}", tags=["reads"])
def org_show(platform: Plat, who: Who, org_id: OrgPath) -> dict[str, Any]:
    """A member org: name, kind, treasury, active, encryption key."""
    return platform.reader.org(org_id).model_dump(mode="json")


@router.get("/members/{account}", tags=["reads"])
def member_show(
    platform: Plat, who: Who, account: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]
) -> dict[str, Any]:
    """The org and department an account acts for (org 0: unbound)."""
    from web3 import Web3

    return platform.reader.member(Web3.to_checksum_address(account)).model_dump(mode="json")


@router.get("/assets", tags=["reads"])
def assets(platform: Plat, who: Who) -> list[dict[str, Any]]:
    """Every asset governance listed, and whether new contracts may be paid in it."""
    return [record.model_dump(mode="json") for record in platform.reader.assets()]


@router.get("/audit", tags=["access"], response_model=PageOut)
def audit(platform: Plat, who: Who, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    """The audit log, newest first (AUDITOR and ADMIN)."""
    if who.role not in (Role.AUDITOR, Role.ADMIN):
        raise Forbidden(f"the audit log is for AUDITOR and ADMIN; {who.id} is {who.role.value}")
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(audit_log.c.id < cursor)
    with platform.read() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    more, rows = len(rows) > limit, rows[:limit]
    items = [row | {"at": row["at"].isoformat() if row["at"] else None, "tx_hashes": row["tx_hashes"].split()}
             for row in rows]  # fmt: skip
    return {"items": items, "next_cursor": rows[-1]["id"] if more and rows else None}


# ------------------------------------------------------------------------------------------------------ access
class UserIn(actions.Body):
    """A new user of the org."""

    username: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    password: Annotated[str, Field(min_length=10, max_length=1024, json_schema_extra={"writeOnly": True})]
    role: Role
    time_zone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"


class TokenIn(actions.Body):
    """A new API token of the org."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    role: Role


def _admin_only(who: Principal, what: str) -> None:
    if who.role is not Role.ADMIN:
        raise Forbidden(f"{what} is for ADMIN; {who.id} is {who.role.value}")


@router.get("/users", tags=["access"])
def users_list(platform: Plat, who: Who) -> list[dict[str, Any]]:
    """The org's users (ADMIN)."""
    _admin_only(who, "the user list")
    return list_users(platform.database)


@router.post("/users", tags=["access"], status_code=201)
def users_create(platform: Plat, who: Who, body: UserIn, request: Request) -> dict[str, Any]:
    """Adds a user with one department role (ADMIN)."""
    _admin_only(who, "adding users")
    try:
        create_user(platform.database, body.username, body.password, body.role, body.time_zone)
    except AccountError as error:
        actions.audit_event(platform, who, "create_user", type(error).__name__, status_of(error))
        raise
    actions.audit_event(platform, who, "create_user", f"ok {body.username}", 201)
    return {"username": body.username, "role": body.role.value, "time_zone": body.time_zone}


@router.post("/tokens", tags=["access"], status_code=201)
def tokens_create(platform: Plat, who: Who, body: TokenIn) -> dict[str, Any]:
    """A new bearer token with one role (ADMIN): the secret is shown once."""
    _admin_only(who, "creating tokens")
    secret = create_token(platform.database, body.name, body.role)
    actions.audit_event(platform, who, "create_token", f"ok {body.name}", 201)
    return {"name": body.name, "role": body.role.value, "token": secret}


@router.post("/tokens/{name}/revoke", tags=["access"])
def tokens_revoke(platform: Plat, who: Who, name: Annotated[str, Path(min_length=1, max_length=64)]) -> dict[str, Any]:
    """Revokes a token (ADMIN)."""
    _admin_only(who, "revoking tokens")
    done = revoke_token(platform.database, name)
    if not done:
        from collab_py.services.reader import NotFound

        raise NotFound(f"no live token {name}")
    actions.audit_event(platform, who, "revoke_token", f"ok {name}", 200)
    return {"name": name, "revoked": True}


# ------------------------------------------------------------------------------------------------------ steps
Env = {"response_model": Envelope, "tags": ["steps"]}


@router.post("/contracts", **Env)  # type: ignore[arg-type]
def step_propose(
    request: Request, platform: Plat, who: Who, body: actions.ProposeIn, key: IdempotencyKey = None
) -> Response:
    """S2.1 (Party B, BUSINESS): registers the e-contract and signs its digital code; the answer carries the
    e-contract document to send Party A (``econtract_document``)."""
    return _act(request, platform, who, "propose", body, target=body.number, key=key, body=_json(body))


@router.post("/contracts/{number}/sign", **Env)  # type: ignore[arg-type]
def step_countersign(
    request: Request, platform: Plat, who: Who, number: Number, body: actions.SignIn, key: IdempotencyKey = None
) -> Response:
    """S2.3 (Party A, BUSINESS): checks the e-contract document received against the chain (TermsMismatch, 422,
    names the differing field) and countersigns."""
    check_number(number)
    document = body.document.encode() if body.document else None
    return _act(request, platform, who, "countersign", (number, document), target=number, key=key, body=_json(body))


@router.post("/contracts/{number}/check", tags=["reads"])
def check_econtract(platform: Plat, who: Who, number: Number, body: actions.SignIn) -> dict[str, Any]:
    """The countersign page's check, without signing: each term of the document beside what the chain holds."""
    check_number(number)
    from collab_py.web.compare import compare

    return compare(platform, number, body.document.encode() if body.document else None, who)


@router.post("/contracts/{number}/cancel", **Env)  # type: ignore[arg-type]
def step_cancel(
    request: Request, platform: Plat, who: Who, number: Number, body: actions.ReasonIn, key: IdempotencyKey = None
) -> Response:
    """S2 (A or B, BUSINESS): withdraws or declines a proposal not signed yet."""
    check_number(number)
    return _act(request, platform, who, "cancel", (number, body), target=number, key=key, body=_json(body))


#: The stage-submit step's body as OpenAPI declares it: the delivered file itself, not JSON.
RAW_FILE = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post("/contracts/{number}/stages/{index}/submit", openapi_extra=RAW_FILE, **Env)  # type: ignore[arg-type]
async def step_submit_stage(
    request: Request, platform: Plat, who: Who, number: Number, index: Index, key: IdempotencyKey = None
) -> Response:
    """S3.1 (Party B, BUSINESS): the delivered result as the raw request body (any file, at most 10 MiB); its
    hash is computed here and signed, the file kept in the org's document store."""
    check_number(number)
    content = await request.body()
    if not content:
        raise InvalidRequest("the request body is the delivered result: it is empty", field="body", status=400)
    if len(content) > actions.MAX_FILE:
        raise InvalidRequest("the delivered result is larger than 10 MiB", field="body", status=400)
    return await _threaded(request, platform, who, "submit_stage", (number, index, content), number,
                           key, actions.file_digest(content))  # fmt: skip


async def _threaded(
    request: Request, platform: Platform, who: Principal, name: str, args: Any, target: str, key: str | None,
    body: Any,
) -> Response:  # fmt: skip
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_act, request, platform, who, name, args, target=target, key=key, body=body)


@router.post("/contracts/{number}/stages/{index}/confirm", **Env)  # type: ignore[arg-type]
def step_confirm_stage(
    request: Request, platform: Plat, who: Who, number: Number, index: Index, body: actions.ConfirmStageIn,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """S3.3 (Party A, BUSINESS): confirms the pending result: the stage's first voucher."""
    check_number(number)
    return _act(request, platform, who, "confirm_stage", (number, index, body), target=f"{number}/{index}",
                key=key, body=_json(body))  # fmt: skip


@router.post("/contracts/{number}/stages/{index}/reject", **Env)  # type: ignore[arg-type]
def step_reject_stage(
    request: Request, platform: Plat, who: Who, number: Number, index: Index, body: actions.ReasonIn,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """S3.3 (Party A, BUSINESS): rejects the pending result."""
    check_number(number)
    return _act(request, platform, who, "reject_stage", (number, index, body), target=f"{number}/{index}",
                key=key, body=_json(body))  # fmt: skip


@router.post("/contracts/{number}/settlement/apply", **Env)  # type: ignore[arg-type]
def step_apply_settlement(
    request: Request, platform: Plat, who: Who, number: Number, key: IdempotencyKey = None
) -> Response:
    """S4.1 (Party B, BUSINESS): applies for business settlement."""
    check_number(number)
    return _act(request, platform, who, "apply_settlement", number, target=number, key=key)


@router.post("/contracts/{number}/settlement/approve", **Env)  # type: ignore[arg-type]
def step_approve_settlement(
    request: Request, platform: Plat, who: Who, number: Number, key: IdempotencyKey = None
) -> Response:
    """S4.2 (Party A, BUSINESS): approves: the business settlement voucher."""
    check_number(number)
    return _act(request, platform, who, "approve_settlement", number, target=number, key=key)


@router.post("/contracts/{number}/settlement/reject", **Env)  # type: ignore[arg-type]
def step_reject_settlement(
    request: Request, platform: Plat, who: Who, number: Number, body: actions.ReasonIn, key: IdempotencyKey = None
) -> Response:
    """S4.2 (Party A, BUSINESS): rejects the application for settlement."""
    check_number(number)
    return _act(request, platform, who, "reject_settlement", (number, body), target=number, key=key, body=_json(body))


@router.post("/contracts/{number}/payments", **Env)  # type: ignore[arg-type]
def step_apply_payment(
    request: Request, platform: Plat, who: Who, number: Number, body: actions.ApplyIn, key: IdempotencyKey = None
) -> Response:
    """S5.1 (Party B, FINANCE): applies for payment into its bank account (never echoed; on chain a salted hash)."""
    check_number(number)
    return _act(request, platform, who, "apply_payment", (number, body), target=number, key=key, body=_json(body))


def _payment_step(name: str, doc: str, model: type[BaseModel] | None = None) -> None:
    path = f"/contracts/{{number}}/payments/{{seq}}/{name.replace('_', '-')}"
    if model is None:

        def endpoint(request: Request, platform: Plat, who: Who, number: Number, seq: Seq,
                     key: IdempotencyKey = None) -> Response:  # fmt: skip
            check_number(number)
            return _act(request, platform, who, name, (number, seq), target=f"{number}/{seq}", key=key)

    else:

        def endpoint(request: Request, platform: Plat, who: Who, number: Number, seq: Seq,  # type: ignore[misc]
                     body: model, key: IdempotencyKey = None) -> Response:  # type: ignore[valid-type]  # fmt: skip
            check_number(number)
            return _act(request, platform, who, name, (number, seq, body), target=f"{number}/{seq}", key=key,
                        body=_json(body))  # fmt: skip

    if model is not None:
        endpoint.__annotations__["body"] = model  # a closure's annotation FastAPI cannot resolve by name
    endpoint.__doc__ = doc
    endpoint.__name__ = f"step_{name}"
    router.post(path, **Env)(endpoint)  # type: ignore[arg-type]


_payment_step("withdraw_application", "S6.5 (Party B, FINANCE): withdraws the application.")
_payment_step("refuse_application", "S5.2 (Party A, FINANCE): refuses the application.", actions.ReasonIn)
_payment_step("issue_voucher", "S5.2–S5.4 (Party A, FINANCE): payment voucher and key; funds frozen.", actions.IssueIn)
_payment_step("redeem", "S6.1 (Party B, FINANCE): opens the payment key and requests payment.")
_payment_step("reclaim", "S6.4 (Party A, FINANCE): takes back the funds of an expired key.")
_payment_step("pin_treasury", "S6.2 (beneficiary, FINANCE): pins its current treasury.")
_payment_step("assign", "S6.3 (Party B, FINANCE): seals the payment key to another member.", actions.AssignIn)
_payment_step("present", "S6.3 (assignee, FINANCE): presents the payment key.", actions.PresentIn)
_payment_step("assignee_account", "S6.3 (assignee, FINANCE): its account for Party B to sign.",
              actions.AssigneeAccountIn)  # fmt: skip
_payment_step("sign_assignment", "S6.3 (Party B, FINANCE): signs the assignment.", actions.SignAssignmentIn)
_payment_step("confirm_assignment", "S6.3 (Party B or assignee, FINANCE): submits the signed assignment.",
              actions.ConfirmAssignmentIn)  # fmt: skip
_payment_step("sign_settlement", "S6.5 (payer or beneficiary, FINANCE): consent to settle without the institution.",
              actions.SignSettlementIn)  # fmt: skip
_payment_step("settle", "S6.5 (payer or beneficiary, FINANCE): settles without the institution.", actions.SettleIn)
_payment_step("release", "S6.2, S7.1 (institution, OPERATOR): checks and pays; the second voucher.")


@router.post("/escrow/pause", **Env)  # type: ignore[arg-type]
def step_pause(request: Request, platform: Plat, who: Who, key: IdempotencyKey = None) -> Response:
    """The institution (OPERATOR) stops freezing and releasing funds."""
    return _act(request, platform, who, "pause", None, target="escrow", key=key)


@router.post("/escrow/unpause", **Env)  # type: ignore[arg-type]
def step_unpause(request: Request, platform: Plat, who: Who, key: IdempotencyKey = None) -> Response:
    """The institution (OPERATOR) resumes freezing and releasing funds."""
    return _act(request, platform, who, "unpause", None, target="escrow", key=key)


@router.post("/governance/orgs", **Env)  # type: ignore[arg-type]
def step_register_org(
    request: Request, platform: Plat, who: Who, body: actions.RegisterOrgIn, key: IdempotencyKey = None
) -> Response:
    """S1.1 (ADMIN, governance key): registers a member org."""
    return _act(request, platform, who, "register_org", body, target=str(body.org_id), key=key, body=_json(body))


@router.post("/governance/bind", **Env)  # type: ignore[arg-type]
def step_bind(request: Request, platform: Plat, who: Who, body: actions.BindIn, key: IdempotencyKey = None) -> Response:
    """S1.2 (ADMIN): binds an account to a department of an org."""
    return _act(request, platform, who, "bind_account", body, target=body.account, key=key, body=_json(body))


@router.post("/governance/unbind", **Env)  # type: ignore[arg-type]
def step_unbind(
    request: Request, platform: Plat, who: Who, body: actions.AccountIn, key: IdempotencyKey = None
) -> Response:
    """S1.2 (ADMIN): unbinds an account."""
    return _act(request, platform, who, "unbind_account", body, target=body.account, key=key, body=_json(body))


@router.post("/governance/orgs/{org_id}/treasury", **Env)  # type: ignore[arg-type]
def step_treasury(
    request: Request, platform: Plat, who: Who, org_id: OrgPath, body: actions.TreasuryIn, key: IdempotencyKey = None
) -> Response:
    """S1 (ADMIN): moves an org's treasury."""
    return _act(request, platform, who, "set_treasury", (org_id, body), target=str(org_id), key=key, body=_json(body))


@router.post("/governance/orgs/{org_id}/suspend", **Env)  # type: ignore[arg-type]
def step_suspend(request: Request, platform: Plat, who: Who, org_id: OrgPath, key: IdempotencyKey = None) -> Response:
    """S1.1 (ADMIN): suspends an org."""
    return _act(request, platform, who, "suspend_org", org_id, target=str(org_id), key=key)


@router.post("/governance/orgs/{org_id}/reinstate", **Env)  # type: ignore[arg-type]
def step_reinstate(request: Request, platform: Plat, who: Who, org_id: OrgPath, key: IdempotencyKey = None) -> Response:
    """S1.1 (ADMIN): reinstates an org."""
    return _act(request, platform, who, "reinstate_org", org_id, target=str(org_id), key=key)


@router.post("/governance/assets/accept", **Env)  # type: ignore[arg-type]
def step_accept_asset(
    request: Request, platform: Plat, who: Who, body: actions.AssetIn, key: IdempotencyKey = None
) -> Response:
    """(ADMIN): accepts an asset for new contracts."""
    return _act(request, platform, who, "accept_asset", body, target=body.asset, key=key, body=_json(body))


@router.post("/governance/assets/withdraw", **Env)  # type: ignore[arg-type]
def step_withdraw_asset(
    request: Request, platform: Plat, who: Who, body: actions.AssetIn, key: IdempotencyKey = None
) -> Response:
    """(ADMIN): withdraws an asset for new contracts."""
    return _act(request, platform, who, "withdraw_asset", body, target=body.asset, key=key, body=_json(body))
