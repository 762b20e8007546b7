"""Who a request comes from: a bearer token (bots, treasury systems), or a browser session cookie (HttpOnly,
SameSite=Strict, Secure when served over TLS) whose unsafe requests carry the session's CSRF token."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from collab_py.web.accounts import SESSION_TTL, Principal, same_secret, session_principal, token_principal
from collab_py.web.errors import CsrfFailed, Unauthenticated

SESSION_COOKIE = "collab_session"
#: The double-submit cookie of the login form (before there is a session).
LOGIN_CSRF_COOKIE = "collab_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE = ("GET", "HEAD", "OPTIONS")


def identify(request: Request) -> tuple[Principal | None, bool]:
    """The caller and whether it came by cookie (None when neither a valid token nor a session)."""
    platform = request.app.state.platform
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("Authorization must be 'Bearer TOKEN'")
        found = token_principal(platform.database, secret.strip())
        if found is None:
            raise Unauthenticated("unknown or revoked API token")
        return found, False
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return session_principal(platform.database, cookie), True
    return None, False


def require_principal(request: Request, *, csrf_token: str | None = None) -> Principal:
    """The caller, or 401; a browser's unsafe request without its session's CSRF token (header or form field) is
    403."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    who, by_cookie = identify(request)
    if who is None:
        raise Unauthenticated("log in, or send Authorization: Bearer TOKEN")
    if by_cookie and request.method not in _SAFE:
        given = csrf_token or request.headers.get(CSRF_HEADER)
        if not same_secret(given, who.csrf):
            raise CsrfFailed("the request lacks this session's CSRF token (X-CSRF-Token); reload the page")
    request.state.principal = who
    return who


def secure(request: Request) -> bool:
    """Whether cookies get the Secure flag: served over TLS (or behind a proxy that says so), unless configured."""
    forced = getattr(request.app.state, "secure_cookies", None)
    if forced is not None:
        return bool(forced)
    return request.url.scheme == "https" or request.headers.get("X-Forwarded-Proto", "") == "https"


def set_session(response: Response, request: Request, secret: str) -> None:
    """Sets the session cookie."""
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=int(SESSION_TTL.total_seconds()), httponly=True, samesite="strict",
        secure=secure(request), path="/",
    )  # fmt: skip


def clear_session(response: Response) -> None:
    """Removes the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/")
