"""The web UI: server-rendered pages (Jinja2) for the flow a person follows, each form posting one step with the
session's CSRF token and an Idempotency-Key made when the page was rendered (a double click sends nothing twice)."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from collab_py.chain.enums import ContractStatus, VoucherStatus
from collab_py.domain.presentation import contract_view, payment_view, plain
from collab_py.exceptions import CollabError
from collab_py.services.reader import NotFound
from collab_py.web import actions, api, queries
from collab_py.web.accounts import LoginFailed, Principal, Role, authenticate, end_session, same_secret, start_session
from collab_py.web.compare import compare
from collab_py.web.errors import CsrfFailed, InvalidRequest, body_of, validation_body
from collab_py.web.runtime import Platform
from collab_py.web.session import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_session,
    require_principal,
    secure,
    set_session,
)

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
router = APIRouter(include_in_schema=False)


def _when(value: str | None) -> str:
    """An ISO time (already in the user's zone) as people read it."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _short(value: str | None, keep: int = 10) -> str:
    if not value:
        return "—"
    return value if len(value) <= keep + 4 else f"{value[:keep]}…{value[-4:]}"


templates.env.filters["when"] = _when
templates.env.filters["short"] = _short


def _money(value: Any) -> str:
    """A decimal string in currency units, grouped: 1,000,000.00."""
    if value is None:
        return "—"
    from decimal import Decimal

    return f"{Decimal(str(value)):,f}"


templates.env.filters["money"] = _money


def render(request: Request, name: str, who: Principal | None, code: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the user, the org, the flash message of the step before it and a fresh Idempotency-Key for its
    forms."""
    platform: Platform = request.app.state.platform
    flash = _flash(request)
    base = {
        "who": who, "org_id": platform.org_id, "org_name": platform.org_name(platform.org_id),
        "institution": platform.institution, "ok": flash.get("ok"), "error": flash.get("error"), "tx": flash.get("tx"),
        "idem": str(uuid.uuid4()), "csrf": who.csrf if who else None, "Role": Role,
    }  # fmt: skip
    page = templates.TemplateResponse(request, name, base | context, status_code=code)
    if FLASH_COOKIE in request.cookies:  # shown once, or dropped if it is not one of ours
        page.delete_cookie(FLASH_COOKIE, path="/")
    return page


#: The cookie that carries a step's outcome to the page it redirects to (shown once): in the URL, anyone could
#: write a message on the platform's page into a link.
FLASH_COOKIE = "collab_flash"
#: The longest flash message shown (a refusal's message is shorter; a cookie of someone else's is cut).
MAX_FLASH = 1_000


def _back(path: str, **params: str | None) -> RedirectResponse:
    """A redirect to ``path`` that shows ``ok``, ``error`` (and ``tx``) there, once."""
    back = RedirectResponse(path, status_code=303)
    shown = {key: value for key, value in params.items() if value}
    if shown:
        text = base64.urlsafe_b64encode(json.dumps(shown).encode()).decode()
        back.set_cookie(FLASH_COOKIE, text, max_age=60, path="/", httponly=True, samesite="strict")
    return back


def _flash(request: Request) -> dict[str, str]:
    try:
        shown = json.loads(base64.urlsafe_b64decode(request.cookies.get(FLASH_COOKIE, "")))
    except (ValueError, RecursionError):  # no cookie (b"" is not JSON), or not one of ours
        return {}
    if not isinstance(shown, dict):
        return {}
    kept = {key: shown.get(key) for key in ("ok", "error", "tx")}
    return {key: value[:MAX_FLASH] for key, value in kept.items() if isinstance(value, str)}


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {key: value for key, value in form.items()}


async def _who(request: Request, form: dict[str, Any]) -> Principal:
    token = form.get(CSRF_FIELD)
    return require_principal(request, csrf_token=token if isinstance(token, str) else None)


def _parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidRequest(validation_body(error).message) from None


async def _step(
    request: Request, form: dict[str, Any], name: str, args: Any, *, target: str, back: str, digest: Any = None,
    ok: str = "done",
) -> Response:  # fmt: skip
    """Runs a step from a form and goes back to ``back`` with its outcome."""
    from starlette.concurrency import run_in_threadpool

    platform: Platform = request.app.state.platform
    who = await _who(request, form)
    key = form.get("idempotency_key") if isinstance(form.get("idempotency_key"), str) else None
    try:
        outcome = await run_in_threadpool(
            actions.perform, platform, who, name, args, path=request.url.path, target=target,
            idempotency_key=key or None, digest_body=digest, client=request.client.host if request.client else "",
        )  # fmt: skip
    except CollabError as error:
        body = body_of(error)
        return _back(back, error=f"{body.error}: {body.message}")
    answer = outcome.answer
    if answer.status >= 400:
        return _back(back, error=f"{answer.body['error']}: {answer.body['message']}")
    tx = outcome.tx_hashes[-1] if outcome.tx_hashes else None
    return _back(back, ok=ok, tx=tx)


# ------------------------------------------------------------------------------------------------------ login
@router.get("/login")
def login_page(request: Request, next: str = "/inbox") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, next=next if next.startswith("/") else "/inbox", login_csrf=token)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), max_age=3600
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    form = await _form(request)
    if not same_secret(str(form.get(CSRF_FIELD, "")), request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise CsrfFailed("the login form is stale: reload the page")
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = str(form.get("next") or "/inbox")
    try:
        who = authenticate(platform.database, username, password)
    except LoginFailed:
        actions.audit_event(platform, Principal("user", username[:64] or "?", Role.AUDITOR), "login", "LoginFailed",
                            401, request.client.host if request.client else "")  # fmt: skip
        token = secrets.token_urlsafe(24)
        failed = render(request, "login.html", None, code=401, next=target, login_csrf=token,
                        login_error="Unknown user or wrong password.")  # fmt: skip
        failed.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request))
        return failed
    secret, _csrf = start_session(platform.database, who.name)
    actions.audit_event(platform, who, "login", "ok", 303, request.client.host if request.client else "")
    done = RedirectResponse(target if target.startswith("/") and not target.startswith("//") else "/inbox", 303)
    set_session(done, request, secret)
    done.delete_cookie(LOGIN_CSRF_COOKIE)
    return done


@router.post("/logout")
async def logout(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    form = await _form(request)
    who = await _who(request, form)
    end_session(platform.database, request.cookies.get(SESSION_COOKIE, ""))
    actions.audit_event(platform, who, "logout", "ok", 303)
    response = RedirectResponse("/login", 303)
    clear_session(response)
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/inbox", 303)


# ------------------------------------------------------------------------------------------------------ pages
@router.get("/inbox")
def inbox_page(request: Request) -> Response:
    who = require_principal(request)
    platform: Platform = request.app.state.platform
    return render(request, "inbox.html", who, inbox=api.inbox_of(platform, who))


@router.get("/contracts")
def contracts_page(
    request: Request, scope: str = "mine", status: str = "", prefix: str = "", cursor: int | None = None
) -> Response:
    who = require_principal(request)
    platform: Platform = request.app.state.platform
    scope = scope if scope in ("mine", "all") else "mine"
    status = status if status in ContractStatus.__members__ else ""
    with platform.read() as connection:
        page = queries.list_contracts(connection, platform.org_id, scope=scope, status=status or None,
                                      number_prefix=prefix[:32] or None, limit=50, cursor=cursor)  # fmt: skip
    items = [api.contract_item(platform, row) for row in page.items]
    next_url = None
    if page.next_cursor is not None:
        next_url = "/contracts?" + urlencode({"scope": scope, "status": status, "prefix": prefix,
                                              "cursor": page.next_cursor})  # fmt: skip
    return render(request, "contracts.html", who, items=items, scope=scope, status=status, prefix=prefix,
                  statuses=[s.name for s in ContractStatus if s.value], next_url=next_url)  # fmt: skip


@router.get("/contracts/new")
def propose_page(request: Request) -> Response:
    who = require_principal(request)
    return render(request, "propose.html", who)


@router.post("/contracts/new")
async def propose_post(request: Request) -> Response:
    form = await _form(request)
    try:
        stages = [
            {"specification": str(form.get(f"spec{i}", "")).strip(), "amount": str(form.get(f"amount{i}", "")).strip()}
            for i in range(8)
            if str(form.get(f"spec{i}", "")).strip() or str(form.get(f"amount{i}", "")).strip()
        ]
        body = _parse(actions.ProposeIn, {"number": str(form.get("number", "")).strip(),
                                          "party_a": form.get("party_a") or 0, "text": str(form.get("text", "")),
                                          "stages": stages})  # fmt: skip
    except (CollabError, ValueError) as error:
        return _back("/contracts/new", error=f"InvalidRequest: {error}")
    return await _step(
        request,
        form,
        "propose",
        body,
        target=body.number,
        back=f"/contracts/{quote(body.number)}",
        digest=body.model_dump(),
        ok="Proposed: download the e-contract and send it to Party A",
    )


def _contract_page(request: Request, number: str, who: Principal, **extra: Any) -> Response:
    platform: Platform = request.app.state.platform
    api.check_number(number)
    record = platform.reader.agreement(number)
    decimals = platform.decimals(record.asset)
    view = plain(contract_view(record, decimals, who.zone))
    with platform.read() as connection:
        pays = [api.payment_item(platform, row, who) for row in queries.payments_of(connection, record.contract_no)]
        steps = queries.timeline(connection, number)
        names = queries.org_names(connection)
    return render(request, "contract.html", who, c=view, payments=pays, steps=steps, names=names,
                  me_a=record.party_a == platform.org_id, me_b=record.party_b == platform.org_id, **extra)  # fmt: skip


@router.get("/contracts/{number}")
def contract_page(request: Request, number: str) -> Response:
    who = require_principal(request)
    return _contract_page(request, number, who)


@router.get("/contracts/{number}/econtract")
def econtract_download(request: Request, number: str) -> Response:
    require_principal(request)
    return api.contract_document(request.app.state.platform, require_principal(request), number)


@router.get("/contracts/{number}/countersign")
def countersign_page(request: Request, number: str) -> Response:
    who = require_principal(request)
    api.check_number(number)
    return render(request, "countersign.html", who, number=number, comparison=None, document="")


@router.post("/contracts/{number}/countersign")
async def countersign_post(request: Request, number: str) -> Response:
    """Check (shows the terms beside the chain's) or sign (runs the same check first)."""
    form = await _form(request)
    who = await _who(request, form)
    platform: Platform = request.app.state.platform
    api.check_number(number)
    upload = form.get("econtract")
    document: bytes | None = None
    if upload is not None and hasattr(upload, "read"):
        document = await upload.read(actions.MAX_FILE + 1) or None
    if document is None and str(form.get("document", "")).strip():
        document = str(form["document"]).encode()
    if document is not None and len(document) > actions.MAX_FILE:
        return _back(f"/contracts/{quote(number)}/countersign", error="InvalidRequest: the file is larger than 10 MiB")
    if form.get("do") == "sign":
        text = document.decode("utf-8", "replace") if document else None
        return await _step(
            request,
            form,
            "countersign",
            (number, document),
            target=number,
            back=f"/contracts/{quote(number)}",
            digest={"document": text},
            ok="Countersigned",
        )
    comparison = compare(platform, number, document, who)
    return render(request, "countersign.html", who, number=number, comparison=comparison,
                  document=document.decode("utf-8", "replace") if document else "")  # fmt: skip


def _contract_action(name: str, path: str, model: type[BaseModel] | None, ok: str) -> None:
    async def endpoint(request: Request, number: str) -> Response:
        form = await _form(request)
        api.check_number(number)
        back = f"/contracts/{quote(number)}"
        try:
            body = _parse(model, form) if model else None
        except InvalidRequest as error:
            return _back(back, error=f"InvalidRequest: {error}")
        args = (number, body) if model else number
        return await _step(request, form, name, args, target=number, back=back,
                           digest=body.model_dump() if body else None, ok=ok)  # fmt: skip

    router.post(f"/contracts/{{number}}/{path}")(endpoint)


def _fields(form: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: form[name] for name in names if name in form and form[name] != ""}


_contract_action("cancel", "cancel", actions.ReasonIn, "Cancelled")
_contract_action("apply_settlement", "settlement/apply", None, "Settlement requested")
_contract_action("approve_settlement", "settlement/approve", None, "Business settlement voucher issued")
_contract_action("reject_settlement", "settlement/reject", actions.ReasonIn, "Settlement rejected")


@router.post("/contracts/{number}/stages/{index}/submit")
async def stage_submit(request: Request, number: str, index: int) -> Response:
    form = await _form(request)
    back = f"/contracts/{quote(number)}"
    upload = form.get("result")
    content = await upload.read(actions.MAX_FILE + 1) if upload is not None and hasattr(upload, "read") else b""
    if not content:
        await _who(request, form)
        return _back(back, error="InvalidRequest: choose the delivered result's file")
    if len(content) > actions.MAX_FILE:
        return _back(back, error="InvalidRequest: the file is larger than 10 MiB")
    if not 0 <= index <= 255:
        return _back(back, error="InvalidRequest: no such stage")
    return await _step(request, form, "submit_stage", (number, index, content), target=f"{number}/{index}", back=back,
                       digest=actions.file_digest(content), ok=f"Stage {index} submitted")  # fmt: skip


@router.post("/contracts/{number}/stages/{index}/{verb}")
async def stage_decide(request: Request, number: str, index: int, verb: str) -> Response:
    form = await _form(request)
    back = f"/contracts/{quote(number)}"
    if verb not in ("confirm", "reject") or not 0 <= index <= 255:
        return _back(back, error="InvalidRequest: unknown step")
    model = actions.ConfirmStageIn if verb == "confirm" else actions.ReasonIn
    try:
        body = _parse(model, _fields(form, "reason", "result_hash"))
    except InvalidRequest as error:
        return _back(back, error=f"InvalidRequest: {error}")
    ok = f"Stage {index}: first voucher issued" if verb == "confirm" else f"Stage {index} rejected"
    return await _step(request, form, f"{verb}_stage", (number, index, body), target=f"{number}/{index}", back=back,
                       digest=body.model_dump(), ok=ok)  # fmt: skip


@router.get("/contracts/{number}/payments/new")
def apply_page(request: Request, number: str) -> Response:
    who = require_principal(request)
    platform: Platform = request.app.state.platform
    api.check_number(number)
    record = platform.reader.agreement(number)
    view = plain(contract_view(record, platform.decimals(record.asset), who.zone))
    return render(request, "apply.html", who, c=view)


@router.post("/contracts/{number}/payments/new")
async def apply_post(request: Request, number: str) -> Response:
    form = await _form(request)
    api.check_number(number)
    try:
        body = _parse(actions.ApplyIn, _fields(form, "amount", "bank_account"))
    except InvalidRequest as error:
        return _back(f"/contracts/{quote(number)}/payments/new", error=f"InvalidRequest: {error}")
    digest = {"amount": body.amount, "bank_account_sha256": actions.file_digest(body.bank_account.encode())["sha256"]}
    return await _step(request, form, "apply_payment", (number, body), target=number,
                       back=f"/contracts/{quote(number)}", digest=digest, ok="Payment applied")  # fmt: skip


@router.get("/contracts/{number}/payments/{seq}")
def payment_page(request: Request, number: str, seq: int) -> Response:
    who = require_principal(request)
    platform: Platform = request.app.state.platform
    api.check_number(number)
    if not 1 <= seq <= 255:
        raise NotFound(f"no payment {seq}")
    record = platform.reader.payment(number, seq)
    agreement = platform.reader.agreement(number)
    view = plain(payment_view(record, platform.decimals(agreement.asset), who.zone))
    return render(request, "payment.html", who, p=view, number=number, seq=seq, party_a=agreement.party_a,
                  party_b=agreement.party_b, me=platform.org_id, result=request.query_params.get("result"))  # fmt: skip


_PAYMENT_FORMS: dict[str, tuple[type[BaseModel] | None, str]] = {
    "issue_voucher": (actions.IssueIn, "Payment voucher issued, funds frozen"),
    "redeem": (None, "Payment key redeemed: payment requested"),
    "reclaim": (None, "Funds reclaimed"),
    "withdraw_application": (None, "Application withdrawn"),
    "refuse_application": (actions.ReasonIn, "Application refused"),
    "release": (None, "Released: second voucher issued"),
    "pin_treasury": (None, "Treasury pinned"),
    "assign": (actions.AssignIn, "Payment key sealed to the assignee"),
    "present": (actions.PresentIn, "Payment key presented"),
    "sign_settlement": (actions.SignSettlementIn, "Settlement signed"),
}


@router.post("/contracts/{number}/payments/{seq}/{verb}")
async def payment_step(request: Request, number: str, seq: int, verb: str) -> Response:
    form = await _form(request)
    name = verb.replace("-", "_")
    back = request.query_params.get("back") or f"/contracts/{quote(number)}/payments/{seq}"
    back = back if back.startswith("/") and not back.startswith("//") else "/inbox"
    if name not in _PAYMENT_FORMS or not 1 <= seq <= 255:
        await _who(request, form)
        return _back(back, error="InvalidRequest: unknown step")
    model, ok = _PAYMENT_FORMS[name]
    try:
        body = _parse(model, _fields(form, *model.model_fields)) if model else None
    except InvalidRequest as error:
        return _back(back, error=f"InvalidRequest: {error}")
    args = (number, seq, body) if model else (number, seq)
    return await _step(request, form, name, args, target=f"{number}/{seq}", back=back,
                       digest=body.model_dump() if body else None, ok=ok)  # fmt: skip


@router.get("/payments")
def payments_page(request: Request, status: str = "", scope: str = "mine", cursor: int | None = None) -> Response:
    who = require_principal(request)
    platform: Platform = request.app.state.platform
    status = status if status in VoucherStatus.__members__ else ""
    scope = scope if scope in ("mine", "all") else "mine"
    with platform.read() as connection:
        page = queries.list_payments(connection, platform.org_id, scope=scope, status=status or None, limit=50,
                                     cursor=cursor)  # fmt: skip
    items = [api.payment_item(platform, row, who) for row in page.items]
    next_url = None
    if page.next_cursor is not None:
        next_url = "/payments?" + urlencode({"status": status, "scope": scope, "cursor": page.next_cursor})
    return render(request, "payments.html", who, items=items, status=status, scope=scope, next_url=next_url,
                  statuses=[s.name for s in VoucherStatus if s.value])  # fmt: skip


@router.get("/release")
def release_page(request: Request) -> Response:
    who = require_principal(request)
    platform: Platform = request.app.state.platform
    with platform.read() as connection:
        page = queries.list_payments(connection, platform.org_id, scope="all", status="REQUESTED", limit=100)
    items = [api.payment_item(platform, row, who) for row in page.items]
    return render(request, "release.html", who, items=items)


@router.get("/books")
def books_page(request: Request) -> Response:
    who = require_principal(request)
    platform: Platform = request.app.state.platform
    return render(request, "books.html", who, books=api.books(platform, who, 200))


@router.get("/dashboard")
def dashboard_page(request: Request) -> Response:
    who = require_principal(request)
    platform: Platform = request.app.state.platform
    return render(request, "dashboard.html", who, d=api.dashboard_of(platform, who))


@router.get("/audit")
def audit_page(request: Request, cursor: int | None = None) -> Response:
    who = require_principal(request)
    platform: Platform = request.app.state.platform
    page = api.audit(platform, who, 100, cursor)
    return render(request, "audit.html", who, page=page)
