"""Idempotent actions: an ``Idempotency-Key`` answers every retry with the first answer, refuses the same key with
another request (409), and makes a crash between sending a transaction and answering harmless.

Each transaction an action signs is recorded, committed, before it is broadcast (:class:`JournaledTransactor`).
A retry of an action that never answered (the process died) runs the action again in the same order; where it
reaches a transaction it had recorded, it looks that transaction up on chain instead of signing anew: mined, its
receipt is used; still in a pool, it is waited for; lost, the same signed bytes are broadcast again. Only a recorded
transaction whose nonce another transaction took (so that it can never be mined) lets the step be signed again.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from eth_account.datastructures import SignedTransaction
from hexbytes import HexBytes
from sqlalchemy import Engine, insert, select, update
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import TxParams

from collab_py.chain.transactor import PendingTx, Transactor
from collab_py.exceptions import CollabError
from collab_py.ledger.database import writer
from collab_py.web.schema import idempotency_keys, sent_transactions

PENDING, DONE = "PENDING", "DONE"
#: Longest Idempotency-Key accepted.
MAX_KEY = 255


class IdempotencyKeyReused(CollabError):
    """The Idempotency-Key was used before with another request (another action, path or body)."""


class IdempotencyKeyInUse(CollabError):
    """A request with this Idempotency-Key is still being answered."""


class InvalidIdempotencyKey(CollabError):
    """An Idempotency-Key is 1 to 255 visible ASCII characters."""


@dataclass
class Journal:
    """The transactions of one action: those recorded by an earlier run (a retry after a crash) and those sent
    now."""

    database: Engine
    principal: str
    key: str
    recorded: dict[int, Any] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    ordinal: int = -1

    def next_ordinal(self) -> int:
        """The ordinal of the action's next transaction."""
        self.ordinal += 1
        return self.ordinal

    def record(self, pending: PendingTx) -> None:
        """Records (and commits) a signed transaction under the current ordinal, before it is broadcast."""
        params = json.dumps(_jsonable(dict(pending.params)))
        values = {
            "sender": str(pending.params["from"]),
            "nonce": pending.nonce,
            "tx_hash": bytes(pending.tx_hash),
            "raw": bytes(pending.signed.raw_transaction),
            "params": params,
        }
        with writer(self.database).begin() as connection:
            where = (
                (sent_transactions.c.principal == self.principal)
                & (sent_transactions.c.key == self.key)
                & (sent_transactions.c.ordinal == self.ordinal)
            )
            if connection.execute(select(sent_transactions.c.id).where(where)).first():
                connection.execute(update(sent_transactions).where(where).values(**values))
            else:
                connection.execute(
                    insert(sent_transactions).values(
                        principal=self.principal, key=self.key, ordinal=self.ordinal, created_at=_now(), **values
                    )
                )
        tx_hash = pending.tx_hash.to_0x_hex()
        if tx_hash not in self.sent:
            self.sent.append(tx_hash)


_journal: contextvars.ContextVar[Journal | None] = contextvars.ContextVar("collab_web_journal", default=None)


def current_transactions() -> tuple[str, ...]:
    """The transactions the current action has sent so far (none outside an action)."""
    journal = _journal.get()
    return tuple(journal.sent) if journal is not None else ()


class JournaledTransactor(Transactor):
    """A transactor that records each transaction of the current action before broadcasting it, and on a retry
    resumes a recorded one instead of signing the step again (outside an action it is a plain transactor)."""

    def send(self, call: Any, *, gas: int | None = None) -> PendingTx:
        journal = _journal.get()
        if journal is None:
            return super().send(call, gas=gas)
        ordinal = journal.next_ordinal()
        recorded = journal.recorded.get(ordinal)
        if recorded is not None:
            resumed = self._resume(recorded)
            if resumed is not None:
                tx_hash = resumed.tx_hash.to_0x_hex()
                if tx_hash not in journal.sent:
                    journal.sent.append(tx_hash)
                return resumed
        with self._reaching_node():
            pending = self.sign(call, gas=gas)
            journal.record(pending)
            self._broadcast(pending)
        return pending

    def sign_again(self, pending: PendingTx) -> PendingTx:
        fresh = super().sign_again(pending)
        journal = _journal.get()
        if journal is not None:
            journal.record(fresh)  # the hash that will be broadcast instead
        return fresh

    def _resume(self, recorded: Any) -> PendingTx | None:
        """The recorded transaction, if it was mined, is pending, or could be broadcast again; None when its nonce
        went to another transaction (it can never be mined: the step was not done)."""
        signed = SignedTransaction(HexBytes(recorded.raw), HexBytes(recorded.tx_hash), 0, 0, 0)
        params = cast(TxParams, _from_jsonable(json.loads(recorded.params)))
        pending = PendingTx(self, signed, params)
        with self._reaching_node():
            for lookup in (self.w3.eth.get_transaction_receipt, self.w3.eth.get_transaction):
                try:
                    lookup(pending.tx_hash)
                    return pending
                except TransactionNotFound:
                    pass
            try:
                self.w3.eth.send_raw_transaction(pending.signed.raw_transaction)
            except Web3RPCError as error:
                text = str(error).lower()
                if "already known" in text or "already imported" in text:
                    return pending
                self.resync()
                return None
        return pending


@dataclass(frozen=True)
class Answer:
    """An action's answer: HTTP status and JSON body, and whether it is final (kept for retries)."""

    status: int
    body: Any
    final: bool = True


@dataclass
class Outcome:
    """What :func:`run_idempotent` gives back: the answer, the transactions sent, and whether it was replayed."""

    answer: Answer
    tx_hashes: list[str]
    replayed: bool


def check_key(key: str) -> str:
    """An Idempotency-Key as given, if well-formed."""
    if not 1 <= len(key) <= MAX_KEY or not all(33 <= ord(char) <= 126 for char in key):
        raise InvalidIdempotencyKey("an Idempotency-Key is 1 to 255 visible ASCII characters (a UUID, say)")
    return key


def fingerprint(action: str, path: str, body: Any) -> bytes:
    """The SHA-256 of an action, its path and its validated body (canonical JSON; files by their hash)."""
    text = json.dumps({"action": action, "path": path, "body": _jsonable(body)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).digest()


class IdempotentRunner:
    """Runs actions once per (principal, Idempotency-Key), in the platform database."""

    def __init__(self, database: Engine) -> None:
        self.database = database
        self._inflight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def run(self, principal: str, key: str, action: str, digest: bytes, act: Callable[[], Answer]) -> Outcome:
        """The answer of ``act`` for this key: the stored one for a retry, or ``act``'s own, run with a journal
        of its transactions (resumed from a run that died)."""
        with self._claim(principal, key) as claimed:
            with writer(self.database).begin() as connection:
                row = connection.execute(
                    select(idempotency_keys).where(
                        idempotency_keys.c.principal == principal, idempotency_keys.c.key == key
                    )
                ).first()
                if row is not None and (row.fingerprint != digest or row.action != action):
                    raise IdempotencyKeyReused(
                        f"Idempotency-Key {key!r} was used for another request ({row.action}); use a new key"
                    )
                if row is not None and row.state == DONE:
                    body = json.loads(row.response) if row.response else None
                    hashes = [
                        "0x" + bytes(tx_hash).hex()
                        for (tx_hash,) in connection.execute(
                            select(sent_transactions.c.tx_hash)
                            .where(sent_transactions.c.principal == principal, sent_transactions.c.key == key)
                            .order_by(sent_transactions.c.ordinal)
                        )
                    ]
                    return Outcome(Answer(int(row.status_code), body), hashes, replayed=True)
                if row is None:
                    connection.execute(
                        insert(idempotency_keys).values(
                            principal=principal, key=key, fingerprint=digest, action=action, state=PENDING,
                            created_at=_now(),
                        )
                    )  # fmt: skip
                recorded = {
                    int(item.ordinal): item
                    for item in connection.execute(
                        select(sent_transactions).where(
                            sent_transactions.c.principal == principal, sent_transactions.c.key == key
                        )
                    )
                }
            assert claimed
            journal = Journal(self.database, principal, key, recorded)
            token = _journal.set(journal)
            try:
                answer = act()
            finally:
                _journal.reset(token)
            if answer.final:
                with writer(self.database).begin() as connection:
                    connection.execute(
                        update(idempotency_keys)
                        .where(idempotency_keys.c.principal == principal, idempotency_keys.c.key == key)
                        .values(state=DONE, status_code=answer.status, response=json.dumps(answer.body),
                                finished_at=_now())
                    )  # fmt: skip
            return Outcome(answer, journal.sent, replayed=False)

    @contextmanager
    def _claim(self, principal: str, key: str) -> Iterator[bool]:
        with self._lock:
            if (principal, key) in self._inflight:
                raise IdempotencyKeyInUse(f"a request with Idempotency-Key {key!r} is still being answered")
            self._inflight.add((principal, key))
        try:
            yield True
        finally:
            with self._lock:
                self._inflight.discard((principal, key))


def _now() -> datetime:
    return datetime.now(UTC)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": "0x" + bytes(value).hex()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return HexBytes(value["$bytes"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(item) for item in value]
    return value
