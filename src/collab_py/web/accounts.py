"""The org's users and API tokens, each with one department role; passwords hashed with argon2id; browser sessions
with their CSRF token; bearer tokens for bots. Secrets are kept only as hashes (SHA-256 for random tokens)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update

from collab_py.chain.enums import Department
from collab_py.exceptions import CollabError
from collab_py.ledger.database import writer
from collab_py.web.schema import api_tokens, sessions, users

#: Session lifetime.
SESSION_TTL = timedelta(hours=8)
#: Prefix of API tokens, so that a leaked one is recognisable (secret scanners).
TOKEN_PREFIX = "collab_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Shortest password accepted.
MIN_PASSWORD = 10

_hasher = PasswordHasher()
#: A hash to verify against when the user does not exist, so that both cases take as long.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class Role(StrEnum):
    """A user's or token's department role: the department whose key the platform signs with for it."""

    BUSINESS = "BUSINESS"
    FINANCE = "FINANCE"
    OPERATOR = "OPERATOR"
    AUDITOR = "AUDITOR"
    ADMIN = "ADMIN"

    @property
    def department(self) -> Department | None:
        """The on-chain department it acts for (none for AUDITOR; ADMIN acts as governance)."""
        return {"BUSINESS": Department.BUSINESS, "FINANCE": Department.FINANCE, "OPERATOR": Department.OPERATOR}.get(
            self.value
        )


class AccountError(CollabError):
    """A user, token or password that cannot be created as given."""


class AccountExists(AccountError):
    """A user or token of this name exists already."""


class LoginFailed(CollabError):
    """Unknown user, wrong password or disabled user (which one is not said)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user (with a session) or an API token; ``csrf`` is the session's CSRF token."""

    kind: str  # "user" or "token"
    name: str
    role: Role
    time_zone: str = "UTC"
    csrf: str | None = None

    @property
    def id(self) -> str:
        """``user:NAME`` or ``token:NAME``: the key of its idempotency keys and audit entries."""
        return f"{self.kind}:{self.name}"

    @property
    def zone(self) -> ZoneInfo:
        """The user's time zone."""
        return zone(self.time_zone)


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name (UTC for an unknown one)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def sha256(secret: str) -> bytes:
    """The SHA-256 of a random secret (tokens and session ids are 256-bit random: no salt or stretching needed)."""
    return hashlib.sha256(secret.encode()).digest()


def _now() -> datetime:
    return datetime.now(UTC)


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise AccountError("a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def create_user(database: Engine, username: str, password: str, role: Role, time_zone: str = "UTC") -> None:
    """Adds a user; refuses a taken name, a short password or an unknown time zone."""
    _check_name(username)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    if zone(time_zone).key != time_zone:
        raise AccountError(f"unknown time zone {time_zone!r}: use an IANA name such as Asia/Shanghai")
    with writer(database).begin() as connection:
        if connection.execute(select(users.c.id).where(users.c.username == username)).first():
            raise AccountExists(f"user {username} exists")
        connection.execute(
            insert(users).values(
                username=username,
                role=role.value,
                password_hash=_hasher.hash(password),
                time_zone=time_zone,
                created_at=_now(),
            )
        )


def list_users(database: Engine) -> list[dict[str, object]]:
    """Every user: name, role, time zone, whether disabled (never the hash)."""
    with database.connect() as connection:
        rows = connection.execute(
            select(users.c.username, users.c.role, users.c.time_zone, users.c.disabled_at).order_by(users.c.username)
        )
        return [
            {"username": name, "role": role, "time_zone": tz, "disabled": disabled is not None}
            for name, role, tz, disabled in rows
        ]


def authenticate(database: Engine, username: str, password: str) -> Principal:
    """The user whose password this is; :class:`LoginFailed` otherwise (in the same time either way)."""
    with database.connect() as connection:
        row = connection.execute(
            select(users.c.id, users.c.role, users.c.password_hash, users.c.time_zone, users.c.disabled_at).where(
                users.c.username == username
            )
        ).first()
    try:
        _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise LoginFailed("unknown user or wrong password") from None
    if row is None or row.disabled_at is not None:
        raise LoginFailed("unknown user or wrong password")
    if _hasher.check_needs_rehash(row.password_hash):
        with writer(database).begin() as connection:
            connection.execute(update(users).where(users.c.id == row.id).values(password_hash=_hasher.hash(password)))
    return Principal("user", username, Role(row.role), row.time_zone)


def start_session(database: Engine, username: str) -> tuple[str, str]:
    """A new session for ``username``: (the cookie's secret, the CSRF token)."""
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = _now()
    with writer(database).begin() as connection:
        user_id = connection.execute(select(users.c.id).where(users.c.username == username)).scalar_one()
        connection.execute(delete(sessions).where(sessions.c.expires_at < now))
        connection.execute(
            insert(sessions).values(
                token_hash=sha256(secret),
                user_id=user_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + SESSION_TTL,
            )
        )
    return secret, csrf


def session_principal(database: Engine, secret: str) -> Principal | None:
    """The user of a live session, or None."""
    with database.connect() as connection:
        row = connection.execute(
            select(users.c.username, users.c.role, users.c.time_zone, users.c.disabled_at, sessions.c.csrf_token,
                   sessions.c.expires_at)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == sha256(secret))
        ).first()  # fmt: skip
    if row is None or row.disabled_at is not None or _aware(row.expires_at) < _now():
        return None
    return Principal("user", row.username, Role(row.role), row.time_zone, csrf=row.csrf_token)


def end_session(database: Engine, secret: str) -> None:
    """Logs a session out."""
    with writer(database).begin() as connection:
        connection.execute(delete(sessions).where(sessions.c.token_hash == sha256(secret)))


def create_token(database: Engine, name: str, role: Role) -> str:
    """A new API token with ``role``; returns the secret, which is shown once and stored only as its hash."""
    _check_name(name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with writer(database).begin() as connection:
        if connection.execute(select(api_tokens.c.id).where(api_tokens.c.name == name)).first():
            raise AccountExists(f"token {name} exists")
        connection.execute(
            insert(api_tokens).values(name=name, role=role.value, token_hash=sha256(secret), created_at=_now())
        )
    return secret


def token_principal(database: Engine, secret: str) -> Principal | None:
    """The holder of a live API token, or None."""
    with database.connect() as connection:
        row = connection.execute(
            select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.revoked_at).where(
                api_tokens.c.token_hash == sha256(secret)
            )
        ).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal("token", row.name, Role(row.role))


def revoke_token(database: Engine, name: str) -> bool:
    """Revokes a token by name; False when there is none."""
    with writer(database).begin() as connection:
        done = connection.execute(
            update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
    return bool(done.rowcount)


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two secrets (False when either is missing)."""
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
