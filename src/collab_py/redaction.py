"""Credentials never shown: every URL that is printed or logged goes through :func:`mask_url`, and text that third
parties wrote (an exception message, a library's log line, a traceback) goes through :func:`scrub` before it is
shown.

:func:`mask_url` hides the user and password of any URL and, for node URLs (``http(s)://``, ``ws(s)://``), the path,
query and fragment, where providers put API keys (``https://mainnet.infura.io/v3/<key>``); database URLs keep their
database name or file path. :func:`remember_url` records the secret parts of a URL a process uses (raw and
percent-decoded), so that :func:`scrub` can replace them wherever they turn up: ``connect`` and ``open_database`` call
it, so a ``requests`` error quoting ``url: /v3/<key>`` or a driver's message quoting a password is scrubbed too, and
from then on every log record of the process is scrubbed as it is created (web3 logs request URLs at debug level).
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, unquote_plus

#: What a masked part of a URL or a scrubbed secret is replaced with.
MASK = "***"
#: Schemes whose path and query are credentials as often as not (API keys of node providers).
NODE_SCHEMES = frozenset({"http", "https", "ws", "wss"})
#: Secrets shorter than this are masked in URLs but not scrubbed from free text, which they would garble.
MIN_SCRUBBED_LENGTH = 4
#: Secrets shorter than this (passwords that may be words: ``postgres``) are scrubbed only where they stand alone, not
#: inside a longer word (``postgresql://``); longer ones wherever they are.
MIN_WORDLESS_LENGTH = 16
#: Path segments of a node URL at least this long are scrubbed on their own (API keys); shorter ones (``v3``,
#: ``rpc``) only as part of the whole path.
MIN_SEGMENT_LENGTH = 8

_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)", re.DOTALL)
_known: set[str] = set()
_known_pattern: re.Pattern[str] | None = None  # of _known: see _secrets_pattern
_lock = threading.Lock()


def mask_url(url: str) -> str:
    """``url`` fit to be shown: ``postgresql+psycopg://***:***@db:5432/collab``, ``https://node.example/***``.

    Anything after ``scheme://`` up to the last ``@`` is the user and password. Text that is no URL at all is masked
    whole: it may be a URL with a typo, password included.
    """
    match = _URL.fullmatch(url.strip())
    if match is None:
        return MASK
    scheme, rest = match["scheme"], match["rest"]
    userinfo, at, hostpart = rest.rpartition("@")
    shown_user = (f"{MASK}:{MASK}@" if ":" in userinfo else f"{MASK}@") if at else ""
    cut = min((i for i in (hostpart.find(c) for c in "/?#") if i >= 0), default=len(hostpart))
    authority, remainder = hostpart[:cut], hostpart[cut:]
    if scheme.lower() in NODE_SCHEMES:
        remainder = "" if remainder in ("", "/") else f"/{MASK}"
    else:  # a database: its name or file is shown, its options (which may hold a password) are not
        path, question, _ = remainder.partition("?")
        path = path.partition("#")[0]
        remainder = path + (f"?{MASK}" if question else "")
    return f"{scheme}://{shown_user}{authority}{remainder}"


def url_secrets(url: str) -> set[str]:
    """The parts of ``url`` that :func:`scrub` replaces, as written and percent-decoded: the URL itself, its password
    (with the user), and for a node URL its path and query and each long segment of them (an API key). User names
    alone are masked by :func:`mask_url` but not scrubbed: ``postgres`` or ``collab`` would garble every message."""
    match = _URL.fullmatch(url.strip())
    if match is None:
        return {url} if len(url) >= MIN_SCRUBBED_LENGTH else set()
    scheme, rest = match["scheme"], match["rest"]
    userinfo, at, hostpart = rest.rpartition("@")
    pieces: set[str] = set()
    if at and ":" in userinfo:
        pieces.update((userinfo, userinfo.partition(":")[2]))
    if scheme.lower() in NODE_SCHEMES:
        cut = min((i for i in (hostpart.find(c) for c in "/?#") if i >= 0), default=len(hostpart))
        remainder = hostpart[cut:]
        if remainder not in ("", "/"):
            pieces.add(remainder)
            pieces.update(part for part in re.split(r"[/?#&=;]", remainder) if len(part) >= MIN_SEGMENT_LENGTH)
    else:  # the values of a database URL's options: ?password=...
        query = hostpart.partition("?")[2]
        pieces.update(value for pair in query.split("&") for value in pair.split("=")[1:])
    pieces |= {decoded for piece in pieces for decoded in (unquote(piece), unquote_plus(piece))}
    if pieces:
        pieces.add(url)
    return {piece for piece in pieces if len(piece) >= MIN_SCRUBBED_LENGTH}


def remember_url(url: str) -> str:
    """Records the secret parts of ``url`` for :func:`scrub` (and log records, :func:`scrub_log_records`); returns
    ``url``."""
    global _known_pattern
    pieces = url_secrets(url)
    if pieces:
        with _lock:
            _known.update(pieces)
            _known_pattern = _secrets_pattern(_known)
        scrub_log_records()
    return url


def _secrets_pattern(secrets: set[str]) -> re.Pattern[str]:
    """One pattern of ``secrets``, longest first: one shorter than :data:`MIN_WORDLESS_LENGTH` (a password that may
    be a word) only where no letter or digit adjoins it (a percent escape may), a longer one (an API key) anywhere."""
    ordered = sorted(secrets, key=len, reverse=True)
    anywhere = "|".join(re.escape(secret) for secret in ordered if len(secret) >= MIN_WORDLESS_LENGTH)
    alone = "|".join(re.escape(secret) for secret in ordered if len(secret) < MIN_WORDLESS_LENGTH)
    before, after = r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2}))", r"(?:(?![A-Za-z0-9])|(?=%[0-9A-Fa-f]{2}))"
    parts = ([f"(?:{anywhere})"] if anywhere else []) + ([f"{before}(?:{alone}){after}"] if alone else [])
    return re.compile("|".join(parts))


def scrub(text: str) -> str:
    """``text`` with every secret recorded by :func:`remember_url` replaced by ``***``, longest first (a URL before
    its password; a short one not inside a longer word, see :func:`_secrets_pattern`), and the user and password of
    any URL in it masked."""
    with _lock:
        pattern = _known_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _USERINFO.sub(_mask_userinfo, text)


def _mask_userinfo(match: re.Match[str]) -> str:
    shown = match[0]
    return shown if shown.endswith((f"://{MASK}@", f"://{MASK}:{MASK}@")) else f"{match['scheme']}://{MASK}@"


#: ``scheme://user:password@`` inside free text (up to the next blank or quote).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://[^\s/'\"@]*@")


def _scrubbing_factory(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if not _known:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it when the record is emitted
            return record
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return record

    factory.scrubbing = True  # type: ignore[attr-defined]
    return factory


def scrub_log_records() -> None:
    """Makes every log record of the process, ours and every library's, scrubbed with :func:`scrub` when it is
    created (message and traceback), before any handler, formatter or test capture sees it. Idempotent; called
    by :func:`remember_url`, so any process that uses a URL with credentials scrubs its logs."""
    with _lock:
        current = logging.getLogRecordFactory()
        if not getattr(current, "scrubbing", False):
            logging.setLogRecordFactory(_scrubbing_factory(current))
