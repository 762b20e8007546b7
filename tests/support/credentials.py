"""Deliberately odd credentials for the tests that check no secret is ever shown."""

from __future__ import annotations

import uuid
from urllib.parse import quote

#: A password with every character that needs escaping in a URL (``@ % : / ? #``) and some that are not ASCII.
ODD_PASSWORD = "p@ss%25:/wörd€?#-" + uuid.uuid4().hex[:8]


def postgres_url(user: str, password: str, host: str, database: str) -> str:
    """A PostgreSQL URL with user and password percent-encoded, as they must be."""
    return f"postgresql+psycopg://{quote(user, safe='')}:{quote(password, safe='')}@{host}/{database}"


def forms(secret: str) -> set[str]:
    """The ways a secret could be shown: as is, percent-encoded (in a URL), and JSON- or repr-escaped."""
    return {secret, quote(secret, safe=""), quote(secret), repr(secret)[1:-1], secret.encode("unicode_escape").decode()}
