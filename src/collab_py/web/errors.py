"""The platform's one error body, and the HTTP status of every refusal: a contract's refusal keeps the contract
error's name (``error``) and its arguments (``detail``); a malformed request says where and what is wrong, never the
value given (it may be a bank account)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collab_py.chain.transactor import NodeUnreachable, TransactionTimeout
from collab_py.domain.documents import DocumentError, DocumentNotFound
from collab_py.domain.econtract import EContractError, TermsMismatch
from collab_py.domain.models import jsonable
from collab_py.domain.presentation import InvalidAmount, refusal_text
from collab_py.domain.types import InvalidContractNumber
from collab_py.exceptions import CollabError, ContractError
from collab_py.services import KeyAccountMismatch, PaymentKeyMismatch, ReleaseRefused, WrongRole
from collab_py.services.reader import NotFound
from collab_py.web.accounts import AccountError, AccountExists, LoginFailed
from collab_py.web.signer import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidIdempotencyKey


class ErrorBody(BaseModel):
    """Every refusal's body. ``error`` names it: the contract's own error for a chain refusal (``WrongParty``,
    ``PaymentExceedsUnpaid``, ...), ``Forbidden`` for a step of another department, ``TermsMismatch`` (with
    ``field``) for an e-contract that differs from the chain, ``InvalidRequest`` for a malformed body."""

    model_config = ConfigDict(json_schema_extra={"example": {"error": "WrongParty", "message": "..."}})

    error: str = Field(description="The error's name: the contract error's for a refusal of the chain.")
    message: str = Field(description="What went wrong, in words.")
    field: str | None = Field(default=None, description="The field concerned, where one is.")
    detail: dict[str, Any] | None = Field(default=None, description="The contract error's arguments, by name.")


class InvalidRequest(CollabError):
    """A request the platform cannot act on as given (malformed value, file, missing part)."""

    def __init__(self, message: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class Forbidden(CollabError):
    """The caller's role may not do this (another department's step, or a read-only role)."""


class Unauthenticated(CollabError):
    """No valid session or bearer token."""


class CsrfFailed(CollabError):
    """A browser request without the session's CSRF token."""


#: Contract refusals that say the caller is not entitled to the step: 403 like the platform's own role check.
_AUTHORISATION = {"WrongParty", "WrongDepartment", "NotAMember", "NotOperator", "NotPayee", "NotPayer"}


def status_of(error: BaseException) -> int:
    """The HTTP status for an error."""
    if isinstance(error, InvalidRequest):
        return error.status
    if isinstance(error, Unauthenticated | LoginFailed):
        return 401
    if isinstance(error, Forbidden | CsrfFailed | WrongRole):
        return 403
    if isinstance(error, ContractError):
        return 403 if type(error).__name__ in _AUTHORISATION else 409
    if isinstance(error, NotFound | DocumentNotFound):
        return 404
    if isinstance(error, AccountExists):
        return 409
    if isinstance(error, TermsMismatch | EContractError | InvalidContractNumber | InvalidAmount | AccountError):
        return 422
    if isinstance(error, InvalidIdempotencyKey | DocumentError):
        return 400
    if isinstance(error, IdempotencyKeyReused | IdempotencyKeyInUse):
        return 409
    if isinstance(error, NodeUnreachable | TransactionTimeout):
        return 503
    if isinstance(error, KeyAccountMismatch | PaymentKeyMismatch | ReleaseRefused):
        return 409
    return 409 if isinstance(error, CollabError) else 500


def body_of(error: BaseException, decimals: int | None = None, zone: tzinfo | None = None) -> ErrorBody:
    """The error body for an error: a contract's refusal says its contract number as text, its times in ``zone`` and,
    with ``decimals`` (its contract's asset's), its amounts in currency units in its message; its ``detail`` keeps
    the arguments as the chain gave them."""
    name = type(error).__name__
    if isinstance(error, ContractError):
        return ErrorBody(error=name, message=refusal_text(error, decimals, zone), detail=_detail(error))
    if isinstance(error, TermsMismatch):
        return ErrorBody(error=name, message=str(error), field=error.field)
    if isinstance(error, InvalidRequest):
        return ErrorBody(error=name, message=str(error), field=error.field)
    if isinstance(error, CollabError):
        return ErrorBody(error=name, message=str(error))
    return ErrorBody(error="InternalError", message="the platform failed to answer; see its log")


#: What the API's input patterns mean, said to people instead of the regular expression (:func:`described`).
PATTERNS: dict[str, str] = {}


def described(pattern: str, meaning: str) -> str:
    """``pattern``, recorded so that an input that does not match it is told it should be ``meaning``."""
    PATTERNS[pattern] = meaning
    return pattern


def validation_body(error: Any) -> ErrorBody:
    """A malformed request: where and what, never the value."""
    found: list[Any]
    if isinstance(error, ValidationError):
        found = error.errors(include_url=False, include_input=False)
    else:  # FastAPI's RequestValidationError: the same items, with the input left out here
        found = [
            {key: value for key, value in item.items() if key in ("loc", "msg", "type", "ctx")}
            for item in error.errors()
        ]
    where = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {_said(problem)}" for problem in found
    )
    first = found[0]["loc"] if found else ()
    return ErrorBody(error="InvalidRequest", message=where or "malformed request", field=".".join(map(str, first)))


def _said(problem: Mapping[str, Any]) -> str:
    pattern = (problem.get("ctx") or {}).get("pattern")
    if problem["type"] == "string_pattern_mismatch" and pattern in PATTERNS:
        return f"should be {PATTERNS[pattern]}"
    return str(problem["msg"])


def _detail(error: ContractError) -> dict[str, Any] | None:
    args = getattr(error, "args_by_name", None)
    if not isinstance(args, dict):
        return None
    return {key: _plain(value) for key, value in args.items()}


def _plain(value: Any) -> Any:
    if hasattr(value, "name") and isinstance(getattr(value, "value", None), int):
        return value.name
    return jsonable(value)
