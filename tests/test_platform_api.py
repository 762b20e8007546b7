"""The department platform's HTTP API (issue 13) on the demo consortium, each org's platform with its own database:
SQLite, and PostgreSQL where a server is configured (always in CI). Every step of the flow by its department over
HTTP, the inbox of each, the timeline, books and reconciliation; every refusal as a documented error body; roles,
sessions and CSRF; idempotency, including a retry after a crash between sending a transaction and answering."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from collab_py.devnet.sandbox import B_BANK_ACCOUNT, C_BANK_ACCOUNT
from collab_py.domain.crypto import EncryptionKey
from collab_py.domain.keys import Keyring, WeakKeystore, WrongPassphrase, write_keystore
from collab_py.ledger.database import writer
from collab_py.web.accounts import Role, create_token
from collab_py.web.demo import Demo, start_demo
from collab_py.web.runtime import PlatformError, unlock_keys
from collab_py.web.schema import idempotency_keys, sent_transactions
from collab_py.web.signer import Journal, fingerprint

POSTGRES_URL = os.environ.get("COLLAB_TEST_POSTGRES_URL")


@dataclass
class World:
    """The demo and a bearer token per org and role."""

    demo: Demo
    tokens: dict[tuple[str, Role], str]

    def call(self, org: str, role: Role, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[(org, role)]}"} | kwargs.pop("headers", {})
        return httpx.request(method, self.demo.orgs[org].url + path, headers=headers, timeout=60, **kwargs)

    def post(self, org: str, role: Role, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"Idempotency-Key": str(uuid.uuid4())} | kwargs.pop("headers", {})
        return self.call(org, role, "POST", path, json=body, headers=headers, **kwargs)

    def get(self, org: str, role: Role, path: str, **kwargs: Any) -> Any:
        response = self.call(org, role, "GET", path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


def _databases(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "sqlite":
        yield None
        return
    if POSTGRES_URL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("COLLAB_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL and sets it")
        pytest.skip("no PostgreSQL server (set COLLAB_TEST_POSTGRES_URL)")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    names = {key: f"collab_web_{key}_{uuid.uuid4().hex[:10]}" for key in ("a", "b", "c", "bank")}
    with admin.connect() as connection:
        for name in names.values():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield lambda key: make_url(POSTGRES_URL).set(database=names[key]).render_as_string(hide_password=False)
    with admin.connect() as connection:
        for name in names.values():
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    databases = _databases(request)
    database_url = next(databases)
    demo = start_demo(database_url=database_url)
    tokens = {}
    roles = {
        "a": (Role.BUSINESS, Role.FINANCE, Role.AUDITOR, Role.ADMIN, Role.OPERATOR),
        "b": (Role.BUSINESS, Role.FINANCE),
        "c": (Role.FINANCE,),
        "bank": (Role.OPERATOR, Role.FINANCE),
    }
    for org, held in roles.items():
        for role in held:
            tokens[(org, role)] = create_token(demo.orgs[org].platform.database, f"bot-{org}-{role.value}", role)
    try:
        yield World(demo, tokens)
    finally:
        demo.stop()
        next(databases, None)
    assert not demo.folder.exists()  # the demo removes the folder it made (documents, SQLite files)


def propose(world: World, number: str, amounts: tuple[str, ...] = ("1000.50", "2000.00")) -> dict[str, Any]:
    body = {"number": number, "party_a": 1, "text": f"Supply agreement {number}",
            "stages": [{"specification": f"stage {i}", "amount": a} for i, a in enumerate(amounts)]}  # fmt: skip
    response = world.post("b", Role.BUSINESS, "/api/v1/contracts", body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def settled(world: World, number: str) -> None:
    """A contract of one stage of 500.00, signed, vouched and settled, by the API."""
    document = propose(world, number, ("500.00",))["record"]["econtract_document"]
    assert world.post("a", Role.BUSINESS, f"/api/v1/contracts/{number}/sign", {"document": document}).status_code == 200
    submit = world.call("b", Role.BUSINESS, "POST", f"/api/v1/contracts/{number}/stages/0/submit", content=b"result")
    assert submit.status_code == 200, submit.text
    assert submit.json()["record"]["result_hash"] is not None  # the answer holds the step's own event
    for org, path in (("a", "stages/0/confirm"), ("b", "settlement/apply"), ("a", "settlement/approve")):
        response = world.post(
            org, Role.BUSINESS, f"/api/v1/contracts/{number}/{path}", {} if "confirm" in path else None
        )
        assert response.status_code == 200, response.text


def section(world: World, org: str, role: Role, name: str) -> list[dict[str, Any]]:
    return world.get(org, role, "/api/v1/inbox")["sections"][name]["items"]  # type: ignore[no-any-return]


def fields(world: World, org: str, role: Role, name: str, field: str) -> list[Any]:
    """One field of each item of an inbox section."""
    return [item[field] for item in section(world, org, role, name)]


def test_the_whole_flow_over_http_with_each_department_s_inbox(world: World) -> None:
    number = "API-FLOW-1"
    proposed = propose(world, number)
    assert proposed["record"]["status"] == "PROPOSED" and proposed["record"]["total"] == "3000.50"
    assert len(proposed["transactions"]) == 1
    document = proposed["record"]["econtract_document"]
    assert [c["contract_no"] for c in section(world, "a", Role.BUSINESS, "contracts_to_countersign")] == [number]

    # a tampered document is refused before anything is signed, naming the field, in currency units
    assert json.loads(document)["stages"][0]["amount"] == "100050"
    tampered = document.replace('"100050"', '"90050"')
    refused = world.post("a", Role.BUSINESS, f"/api/v1/contracts/{number}/sign", {"document": tampered})
    assert refused.status_code == 422
    assert refused.json()["error"] == "TermsMismatch" and refused.json()["field"] == "stages[0].amount"
    check = world.call("a", Role.BUSINESS, "POST", f"/api/v1/contracts/{number}/check",
                       json={"document": tampered}).json()  # fmt: skip
    assert check["mismatch"]["field"] == "stages[0].amount"
    assert next(row["field"] for row in check["rows"] if not row["same"]) == "stages[0].amount"

    signed = world.post("a", Role.BUSINESS, f"/api/v1/contracts/{number}/sign", {"document": document})
    assert signed.status_code == 200 and signed.json()["record"]["status"] == "SIGNED"
    assert section(world, "a", Role.BUSINESS, "contracts_to_countersign") == []

    for index in (0, 1):
        response = world.call(
            "b",
            Role.BUSINESS,
            "POST",
            f"/api/v1/contracts/{number}/stages/{index}/submit",
            content=f"delivery {index}".encode(),
            headers={"Idempotency-Key": f"{number}-s{index}"},
        )
        assert response.status_code == 200 and response.json()["record"]["status"] == "PENDING", response.text
    # A's read model follows the chain by itself: B's second submission may reach it a moment after B's answer
    _wait(
        lambda: (
            len([i for i in section(world, "a", Role.BUSINESS, "stages_to_confirm") if i["contract_no"] == number]) == 2
        )
    )
    pending = section(world, "a", Role.BUSINESS, "stages_to_confirm")
    assert sorted(item["index"] for item in pending if item["contract_no"] == number) == [0, 1]
    rejected = world.post("a", Role.BUSINESS, f"/api/v1/contracts/{number}/stages/1/reject", {"reason": "blurry"})
    assert rejected.json()["record"]["status"] == "REJECTED"
    again = world.call("b", Role.BUSINESS, "POST", f"/api/v1/contracts/{number}/stages/1/submit", content=b"sharp")
    assert again.status_code == 200
    for index in (0, 1):
        confirmed = world.post("a", Role.BUSINESS, f"/api/v1/contracts/{number}/stages/{index}/confirm", {})
        assert confirmed.json()["record"]["status"] == "CONFIRMED", confirmed.text
    # each org's read model follows the chain by itself: what another org just did may reach it a moment later
    _wait(lambda: number in fields(world, "b", Role.BUSINESS, "ready_for_settlement", "contract_no"))
    assert number in [c["contract_no"] for c in section(world, "b", Role.BUSINESS, "ready_for_settlement")]
    assert world.post("b", Role.BUSINESS, f"/api/v1/contracts/{number}/settlement/apply").status_code == 200
    _wait(lambda: number in fields(world, "a", Role.BUSINESS, "settlements_to_approve", "contract_no"))
    assert number in [c["contract_no"] for c in section(world, "a", Role.BUSINESS, "settlements_to_approve")]
    assert (
        world.post("a", Role.BUSINESS, f"/api/v1/contracts/{number}/settlement/approve").json()["record"]["status"]
        == "SETTLED"
    )

    applied = world.post("b", Role.FINANCE, f"/api/v1/contracts/{number}/payments",
                         {"amount": "3,000.50", "bank_account": B_BANK_ACCOUNT})  # fmt: skip
    assert applied.status_code == 200, applied.text
    assert B_BANK_ACCOUNT not in applied.text  # never echoed
    _wait(lambda: fields(world, "a", Role.FINANCE, "applications_to_issue", "seq") == [1])
    assert [p["seq"] for p in section(world, "a", Role.FINANCE, "applications_to_issue")] == [1]
    issued = world.post("a", Role.FINANCE, f"/api/v1/contracts/{number}/payments/1/issue-voucher", {"lifetime": 3600})
    assert issued.json()["record"]["status"] == "FROZEN", issued.text
    assert issued.json()["record"]["expiry"] is not None  # read from the chain after the platform's sync, at once
    _wait(lambda: section(world, "b", Role.FINANCE, "keys_to_redeem"))  # B's read model follows A's freeze by itself
    assert [p["seq"] for p in section(world, "b", Role.FINANCE, "keys_to_redeem")] == [1]
    assert [p["seq"] for p in section(world, "b", Role.FINANCE, "expiring_keys")] == [1]
    redeemed = world.post("b", Role.FINANCE, f"/api/v1/contracts/{number}/payments/1/redeem")
    assert redeemed.json()["record"]["status"] == "REQUESTED", redeemed.text
    _wait(lambda: fields(world, "bank", Role.OPERATOR, "requests_to_release", "contract_no") == [number])
    assert [p["contract_no"] for p in section(world, "bank", Role.OPERATOR, "requests_to_release")] == [number]
    released = world.post("bank", Role.OPERATOR, f"/api/v1/contracts/{number}/payments/1/release")
    assert released.status_code == 200, released.text
    assert released.json()["record"]["amount"] == "3000.50" and released.json()["record"]["beneficiary_org"] == 2

    payment = world.get("b", Role.FINANCE, f"/api/v1/contracts/{number}/payments/1")
    assert payment["status"] == "RELEASED" and "account_for_payer" not in payment
    steps = world.get("a", Role.AUDITOR, f"/api/v1/contracts/{number}/timeline")["steps"]
    events = [step["event"] for step in steps]
    assert events[:2] == ["ContractProposed", "ContractSigned"] and events[-1] == "SecondVoucher"
    assert all(step["block"] and step["tx_hash"] for step in steps)
    signed_step = steps[1]
    assert (signed_step["actor_org"], signed_step["actor_department"], signed_step["user"]) == (
        1, "BUSINESS", "token:bot-a-BUSINESS")  # fmt: skip

    _wait(lambda: any(line["kind"] == "PAYMENT" for line in world.get("a", Role.FINANCE, "/api/v1/books")["lines"]))
    _wait(lambda: any(line["kind"] == "RECEIPT" for line in world.get("b", Role.FINANCE, "/api/v1/books")["lines"]))
    recon = world.get("a", Role.AUDITOR, "/api/v1/reconciliation")
    row = next(c for c in recon["contracts"] if c["contract_no"] == number)
    assert (row["on_chain"], row["payable_posted"], row["receivable_posted"], row["clean"]) == (
        "3000.50", "3000.50", "3000.50", True)  # fmt: skip
    dashboard = world.get("a", Role.AUDITOR, "/api/v1/dashboard")
    assert any(p["payer_org"] == 1 and p["payee_org"] == 2 for p in dashboard["pairs"])
    vouchers = world.get("b", Role.FINANCE, "/api/v1/vouchers")["items"]
    assert any(v["contract_no"] == number and v["status"] == "RELEASED" for v in vouchers)


def test_assignment_to_party_c_and_refusal_and_withdrawal(world: World) -> None:
    number = "API-ASSIGN-1"
    settled(world, number)
    base = f"/api/v1/contracts/{number}/payments"
    assert world.post("b", Role.FINANCE, base, {"amount": "100.00", "bank_account": B_BANK_ACCOUNT}).status_code == 200
    refused = world.post("a", Role.FINANCE, f"{base}/1/refuse-application", {"reason": "wrong amount"})
    assert refused.json()["record"]["status"] == "REFUSED"
    assert world.post("b", Role.FINANCE, base, {"amount": "50.00", "bank_account": B_BANK_ACCOUNT}).status_code == 200
    assert world.post("b", Role.FINANCE, f"{base}/2/withdraw-application").json()["record"]["status"] == "WITHDRAWN"
    assert world.post("b", Role.FINANCE, base, {"amount": "500.00", "bank_account": B_BANK_ACCOUNT}).status_code == 200
    assert world.post("a", Role.FINANCE, f"{base}/3/issue-voucher", {}).status_code == 200

    key = world.post("b", Role.FINANCE, f"{base}/3/assign", {"assignee_org": 3}).json()["record"]["key"]
    presented = world.post("c", Role.FINANCE, f"{base}/3/present", {"key": key})
    assert presented.json()["record"]["status"] == "PRESENTED", presented.text
    _wait(lambda: fields(world, "b", Role.FINANCE, "assignments_to_confirm", "seq") == [3])  # C's presentation, by B
    assert [p["seq"] for p in section(world, "b", Role.FINANCE, "assignments_to_confirm")] == [3]
    account = world.post("c", Role.FINANCE, f"{base}/3/assignee-account", {"bank_account": C_BANK_ACCOUNT}).json()[
        "record"
    ]
    signature = world.post("b", Role.FINANCE, f"{base}/3/sign-assignment",
                           {"assignee_org": 3, "account_hash": account["account_hash"]}).json()["record"]  # fmt: skip
    confirmed = world.post("c", Role.FINANCE, f"{base}/3/confirm-assignment", {
        "assignee_org": 3, "account_hash": account["account_hash"], "ciphertext": account["ciphertext"],
        "signer": signature["signer"], "signature": signature["signature"]})  # fmt: skip
    assert confirmed.json()["record"]["status"] == "REQUESTED" and confirmed.json()["record"]["beneficiary_org"] == 3
    released = world.post("bank", Role.OPERATOR, f"{base}/3/release")
    assert released.json()["record"]["beneficiary_org"] == 3, released.text


def test_idempotency_key_retry_returns_the_first_answer_and_another_body_is_409(world: World) -> None:
    body = {"number": "API-IDEM-1", "party_a": 1, "text": "t", "stages": [{"specification": "s", "amount": "1"}]}
    headers = {"Idempotency-Key": "idem-propose-1"}
    first = world.post("b", Role.BUSINESS, "/api/v1/contracts", body, headers=headers)
    second = world.post("b", Role.BUSINESS, "/api/v1/contracts", body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() and second.headers["Idempotent-Replayed"] == "true"
    other = world.post("b", Role.BUSINESS, "/api/v1/contracts", body | {"text": "other"}, headers=headers)
    assert other.status_code == 409 and other.json()["error"] == "IdempotencyKeyReused"
    # a refusal is an answer too: the same key gets it again, without a second transaction
    dup = {"Idempotency-Key": "idem-propose-dup"}
    refused = world.post("b", Role.BUSINESS, "/api/v1/contracts", body, headers=dup)
    assert refused.status_code == 409 and refused.json()["error"] == "DuplicateContractNumber", refused.text
    assert world.post("b", Role.BUSINESS, "/api/v1/contracts", body, headers=dup).json() == refused.json()
    bad = world.post("b", Role.BUSINESS, "/api/v1/contracts", body, headers={"Idempotency-Key": "bad key"})
    assert bad.status_code in (400, 422) and bad.json()["error"] in ("InvalidIdempotencyKey", "InvalidRequest")


@pytest.mark.parametrize("broadcast", [True, False], ids=["mined-before-crash", "crash-before-broadcast"])
def test_a_retry_after_a_crash_resumes_the_recorded_transaction_instead_of_sending_again(
    world: World, broadcast: bool
) -> None:
    """The platform died between recording (and maybe broadcasting) a transaction and answering: the retry looks
    the recorded transaction up (or broadcasts its bytes) and answers with it; nothing is signed twice."""
    platform = world.demo.orgs["b"].platform
    number = f"API-CRASH-{int(broadcast)}"
    body = {"number": number, "party_a": 1, "text": "crash", "stages": [{"specification": "s", "amount": "2.00"}]}
    principal, key = "token:bot-b-BUSINESS", f"crash-{number}"
    business = platform.services[Role.BUSINESS]
    econtract = business.econtract(_draft(number), 1)  # type: ignore[attr-defined]
    pending = business.tx.sign(business.prepare_propose(econtract).call)  # type: ignore[attr-defined]
    with writer(platform.database).begin() as connection:
        connection.execute(insert(idempotency_keys).values(
            principal=principal, key=key, fingerprint=fingerprint("propose", "/api/v1/contracts", body),
            action="propose", state="PENDING", created_at=_now()))  # fmt: skip
    Journal(platform.database, principal, key, ordinal=0).record(pending)
    if broadcast:
        platform.w3.eth.send_raw_transaction(pending.signed.raw_transaction)
        platform.w3.eth.wait_for_transaction_receipt(pending.tx_hash)
    retry = world.post("b", Role.BUSINESS, "/api/v1/contracts", body, headers={"Idempotency-Key": key})
    assert retry.status_code == 200, retry.text
    assert retry.json()["transactions"] == [pending.tx_hash.to_0x_hex()]
    with platform.database.connect() as connection:
        rows = connection.execute(select(sent_transactions.c.tx_hash).where(sent_transactions.c.key == key)).all()
    assert len(rows) == 1
    assert world.get("a", Role.BUSINESS, f"/api/v1/contracts/{number}")["status"] == "PROPOSED"


def test_roles_each_refusal_is_403_with_a_reason(world: World) -> None:
    body = {"number": "API-ROLE-1", "party_a": 1, "text": "t", "stages": [{"specification": "s", "amount": "1"}]}
    finance = world.post("b", Role.FINANCE, "/api/v1/contracts", body)
    assert finance.status_code == 403 and finance.json()["error"] == "Forbidden"
    assert "BUSINESS" in finance.json()["message"] and "FINANCE" in finance.json()["message"]
    auditor = world.post("a", Role.AUDITOR, "/api/v1/contracts/API-FLOW-1/settlement/approve")
    assert auditor.status_code == 403 and auditor.json()["error"] == "Forbidden"
    propose(world, "API-ROLE-2")
    wrong_party = world.post("a", Role.BUSINESS, "/api/v1/contracts/API-ROLE-2/cancel", {"reason": "no"})
    assert wrong_party.status_code == 200  # Party A may decline
    b_settles = world.post("a", Role.BUSINESS, "/api/v1/contracts/API-ROLE-2/settlement/apply")
    assert b_settles.status_code in (403, 409) and b_settles.json()["error"] in (
        "WrongParty",
        "UnexpectedContractStatus",
    )
    assert world.call("a", Role.BUSINESS, "GET", "/api/v1/audit").status_code == 403
    assert world.get("a", Role.AUDITOR, "/api/v1/audit")["items"]
    anonymous = httpx.get(world.demo.orgs["a"].url + "/api/v1/contracts")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "Unauthenticated"
    forged = httpx.get(world.demo.orgs["a"].url + "/api/v1/contracts", headers={"Authorization": "Bearer collab_x"})
    assert forged.status_code == 401
    other_org_token = world.tokens[("b", Role.BUSINESS)]
    assert httpx.get(world.demo.orgs["a"].url + "/api/v1/me",
                     headers={"Authorization": f"Bearer {other_org_token}"}).status_code == 401  # fmt: skip


def test_bad_input_is_a_422_or_400_with_a_clear_message(world: World) -> None:
    cases = [
        ("/api/v1/contracts", {"number": "X" * 33, "party_a": 1, "text": "t",
                               "stages": [{"specification": "s", "amount": "1"}]}, 422, "InvalidRequest"),
        ("/api/v1/contracts", {"number": "API-BAD", "party_a": 1, "text": "t",
                               "stages": [{"specification": "s", "amount": "1.001"}]}, 422, "InvalidRequest"),
        ("/api/v1/contracts", {"number": "API-BAD", "party_a": 1, "text": "t",
                               "stages": [{"specification": "s", "amount": "1,50"}]}, 422, "InvalidRequest"),
        ("/api/v1/contracts", {"number": "API/BAD", "party_a": 1, "text": "t",
                               "stages": [{"specification": "s", "amount": "1"}]}, 422, "InvalidRequest"),
        ("/api/v1/contracts", {"number": "API-BAD", "party_a": 1, "text": "t", "stages": []}, 422, "InvalidRequest"),
        ("/api/v1/contracts", {"number": "API-BAD", "party_a": 1, "text": "t", "extra": 1,
                               "stages": [{"specification": "s", "amount": "1"}]}, 422, "InvalidRequest"),
        ("/api/v1/contracts/NOPE-1/sign", {"document": "not json"}, 404, "UnknownContractError"),
    ]  # fmt: skip
    for path, body, status, error in cases:
        response = world.post("b" if path == "/api/v1/contracts" else "a", Role.BUSINESS, path, body)
        assert (response.status_code, response.json()["error"]) == (status, error), response.text
        assert response.json()["message"]
        assert "pattern" not in response.json()["message"]  # what is expected, in words
    comma = world.post("b", Role.BUSINESS, "/api/v1/contracts", cases[2][1]).json()["message"]
    assert (
        comma
        == "body.stages.0.amount: should be an amount such as 1000.50 or 1,000.50 (commas between groups of three)"
    )
    propose(world, "API-BAD-DOC")
    not_a_document = world.post("a", Role.BUSINESS, "/api/v1/contracts/API-BAD-DOC/sign", {"document": "{}"})
    assert not_a_document.status_code == 422 and not_a_document.json()["error"] == "EContractError"
    empty = world.call("b", Role.BUSINESS, "POST", "/api/v1/contracts/API-BAD-DOC/stages/0/submit", content=b"")
    assert empty.status_code == 400 and empty.json()["field"] == "body"
    number = "API-OVER-1"
    settled(world, number)
    over = world.post("b", Role.FINANCE, f"/api/v1/contracts/{number}/payments",
                      {"amount": "500.01", "bank_account": B_BANK_ACCOUNT})  # fmt: skip
    assert over.status_code == 409 and over.json()["error"] == "PaymentExceedsUnpaid" and over.json()["detail"]
    assert over.json()["message"] == f"PaymentExceedsUnpaid(contractNo={number}, amount=500.01, unpaid=500.00)"
    assert over.json()["detail"]["amount"] == 50001  # token units, as the chain said
    malformed = world.post("b", Role.FINANCE, f"/api/v1/contracts/{number}/payments",
                           {"amount": "-5", "bank_account": B_BANK_ACCOUNT})  # fmt: skip
    assert malformed.status_code == 422 and B_BANK_ACCOUNT not in malformed.text
    assert world.call("a", Role.AUDITOR, "GET", "/api/v1/contracts/NOPE-2").status_code == 404
    assert world.call("a", Role.AUDITOR, "GET", "/api/v1/contracts/" + "Y" * 40).status_code == 422
    assert world.call("a", Role.AUDITOR, "GET", "/api/v1/contracts?limit=0").status_code == 422


def test_lists_filter_and_paginate(world: World) -> None:
    for index in range(3):
        propose(world, f"API-PAGE-{index}", ("1.00",))
    listed = "/api/v1/contracts?status=PROPOSED&number_prefix=API-PAGE-"
    _wait(lambda: len(world.get("a", Role.AUDITOR, listed)["items"]) == 3)  # A's read model follows B's proposals
    first = world.get("a", Role.AUDITOR, "/api/v1/contracts?status=PROPOSED&number_prefix=API-PAGE-&limit=2")
    assert len(first["items"]) == 2 and first["next_cursor"] is not None
    rest = world.get(
        "a",
        Role.AUDITOR,
        f"/api/v1/contracts?status=PROPOSED&number_prefix=API-PAGE-&limit=2&cursor={first['next_cursor']}",
    )
    numbers = [c["contract_no"] for c in first["items"] + rest["items"]]
    assert sorted(numbers) == ["API-PAGE-0", "API-PAGE-1", "API-PAGE-2"] and rest["next_cursor"] is None
    assert world.get("c", Role.FINANCE, "/api/v1/contracts?scope=mine&number_prefix=API-PAGE-")["items"] == []
    assert len(world.get("c", Role.FINANCE, "/api/v1/contracts?scope=all&number_prefix=API-PAGE-")["items"]) == 3
    payments = world.get("b", Role.FINANCE, "/api/v1/payments?status=RELEASED")
    assert all(p["status"] == "RELEASED" for p in payments["items"])


def test_users_tokens_sessions_and_csrf(world: World) -> None:
    url = world.demo.orgs["a"].url
    created = world.post("a", Role.ADMIN, "/api/v1/users",
                         {"username": "a-clerk", "password": "correct horse battery", "role": "FINANCE",
                          "time_zone": "Asia/Shanghai"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert world.post("a", Role.BUSINESS, "/api/v1/users", {"username": "x", "password": "y" * 12,
                                                            "role": "ADMIN"}).status_code == 403  # fmt: skip
    with httpx.Client(base_url=url, follow_redirects=False) as browser:
        page = browser.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        wrong = browser.post("/login", data={"username": "a-clerk", "password": "nope nope nope", "csrf_token": token})
        assert wrong.status_code == 401
        token = wrong.text.split('name="csrf_token" value="')[1].split('"')[0]
        login = browser.post("/login", data={"username": "a-clerk", "password": "correct horse battery",
                                             "csrf_token": token})  # fmt: skip
        assert login.status_code == 303
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert browser.get("/api/v1/me").json()["time_zone"] == "Asia/Shanghai"
        no_csrf = browser.post("/api/v1/contracts/API-FLOW-1/payments/1/reclaim")
        assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "CsrfFailed"
        inbox = browser.get("/inbox")
        assert inbox.status_code == 200 and "Payment applications to issue" in inbox.text
        for path, status, named in (("/contracts/NOPE-404", 404, "UnknownContractError"), ("/audit", 403, "Forbidden")):
            page = browser.get(path)  # a person gets a page that says it, with the way back
            assert (page.status_code, page.headers["content-type"].split(";")[0]) == (status, "text/html")
            assert named in page.text and 'href="/inbox"' in page.text
        browser.cookies.set("collab_flash", "WwoK" * 2000)  # base64 of '[' nested past the parser's depth
        assert browser.get("/inbox").status_code == 200  # not one of ours: dropped, and the page shown
        crafted = browser.get("/inbox?ok=Funds+released&error=Call+0800")  # a message written into a link
        assert "Funds released" not in crafted.text and "Call 0800" not in crafted.text
    token_made = world.post("a", Role.ADMIN, "/api/v1/tokens", {"name": "treasury-system", "role": "FINANCE"})
    secret = token_made.json()["token"]
    again = world.post("a", Role.ADMIN, "/api/v1/tokens", {"name": "treasury-system", "role": "FINANCE"})
    assert (again.status_code, again.json()["error"]) == (409, "AccountExists")
    assert httpx.get(url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()["role"] == "FINANCE"
    assert world.post("a", Role.ADMIN, "/api/v1/tokens/treasury-system/revoke").status_code == 200
    assert httpx.get(url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    audit = world.get("a", Role.ADMIN, "/api/v1/audit?limit=200")["items"]
    assert {"create_user", "login", "create_token"} <= {entry["action"] for entry in audit}
    assert any(entry["action"] == "countersign" and entry["tx_hashes"] for entry in audit)


def test_governance_and_escrow_steps(world: World) -> None:
    asset = world.demo.sandbox.deployment.asset.address
    accepted = world.post("a", Role.ADMIN, "/api/v1/governance/assets/accept", {"asset": asset})
    assert accepted.status_code == 200 and accepted.json()["record"]["accepted"] is True
    suspended = world.post("a", Role.ADMIN, "/api/v1/governance/orgs/3/suspend")
    assert suspended.json()["record"]["active"] is False
    assert world.post("a", Role.ADMIN, "/api/v1/governance/orgs/3/reinstate").json()["record"]["active"] is True
    assert world.get("a", Role.AUDITOR, "/api/v1/orgs/3")["active"] is True
    assert world.get("a", Role.AUDITOR, "/api/v1/assets")[0]["asset"] == asset
    assert world.post("bank", Role.OPERATOR, "/api/v1/escrow/pause").json()["record"] == {"paused": True}
    assert world.post("bank", Role.OPERATOR, "/api/v1/escrow/unpause").json()["record"] == {"paused": False}
    assert world.post("b", Role.FINANCE, "/api/v1/escrow/pause").status_code == 403


def test_openapi_documents_every_refusal_s_body(world: World) -> None:
    schema = httpx.get(world.demo.orgs["a"].url + "/openapi.json").json()
    assert "ErrorBody" in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"401", "403", "409", "422"} <= set(operation["responses"]), (method, path)
            if path.startswith("/api/v1/"):
                assert operation["security"] == [{"HTTPBearer": []}, {"APIKeyCookie": []}], (method, path)
    submit = schema["paths"]["/api/v1/contracts/{number}/stages/{index}/submit"]["post"]
    assert list(submit["requestBody"]["content"]) == ["application/octet-stream"]


def test_the_api_s_documentation_page_needs_no_internet(world: World) -> None:
    base = world.demo.orgs["a"].url
    page = httpx.get(base + "/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert assets and all(asset.startswith(("/static/", "data:")) for asset in assets), assets
    for asset in assets:
        if asset.startswith("/static/"):
            assert httpx.get(base + asset).status_code == 200, asset
    assert httpx.get(base + "/redoc").status_code == 404


@pytest.mark.usefixtures("cheap_keystores")
def test_collab_serve_unlocks_the_department_keystores_once(tmp_path: Path) -> None:
    business, finance = Account.create(), Account.create()
    keyring = Keyring(tmp_path / "keys", kdf="pbkdf2", iterations=2)
    keyring.import_account("business", business.key, "pass phrase")
    keyring.import_account("finance", finance.key, "pass phrase")
    encryption = keyring.import_encryption_key("encryption", EncryptionKey(), "pass phrase")
    keys = unlock_keys(tmp_path / "keys", "pass phrase")
    assert {role: account.address for role, account in keys.accounts.items()} == {
        Role.BUSINESS: business.address,
        Role.FINANCE: finance.address,
    }
    assert keys.encryption is not None and keys.encryption.public_key == encryption.public_key
    assert "pass phrase" not in repr(keys) and business.key.hex() not in repr(keys)
    with pytest.raises(WrongPassphrase):
        unlock_keys(tmp_path / "keys", "another")
    with pytest.raises(PlatformError, match="no department keystore"):
        unlock_keys(tmp_path / "empty", "pass phrase")


def test_collab_serve_refuses_a_keystore_weaker_than_eth_account_s_defaults(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o700)
    weak = Account.encrypt(Account.create().key, "pass phrase", kdf="pbkdf2", iterations=2)
    write_keystore(dict(weak), tmp_path / "keys" / "business.json")
    with pytest.raises(WeakKeystore):
        unlock_keys(tmp_path / "keys", "pass phrase")


def _draft(number: str) -> Any:
    from collab_py.domain.drafts import ContractDraft, StageDraft

    return ContractDraft(number, "crash", (StageDraft("s", 200),))


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _wait(condition: Any, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
