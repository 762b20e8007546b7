"""The platform's read latency with 10,000 contracts: p99 of the list and inbox reads over HTTP, and the first
render of the pages in headless Chromium (``make platform-bench``).

The demo consortium runs on anvil; Party A's platform database then gets ``--contracts`` contracts in its read
model (each with its stages and a payment, in every status), written directly as the projection would leave them,
so that the reads measured are those of a platform whose store holds that many. Ends with one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from collab_py.ledger.database import writer
from collab_py.web.accounts import Role, create_token
from collab_py.web.demo import DEMO_PASSWORD, start_demo
from collab_py.web.schema import contracts, payments, stages

STATUSES = ("PROPOSED", "SIGNED", "SETTLEMENT_REQUESTED", "SETTLED", "CANCELLED")
PAYMENT_STATUSES = ("APPLIED", "FROZEN", "PRESENTED", "REQUESTED", "RELEASED", "RECLAIMED")


def seed(database: Any, count: int, asset: str) -> None:
    """``count`` contracts between orgs 1, 2 and 3 in every status, with two stages and one payment each."""
    rng = random.Random(13)
    now = int(time.time())
    rows, stage_rows, payment_rows = [], [], []
    for index in range(count):
        number = f"BENCH-{index:06d}"
        a, b = rng.choice(((1, 2), (1, 3), (2, 1), (3, 2)))
        status = rng.choice(STATUSES)
        rows.append({"contract_no": number, "party_a": a, "party_b": b, "asset": asset, "total": 300_000,
                     "paid": 0, "status": status, "stage_count": 2, "vouched": 1, "pending": 1, "payment_count": 1,
                     "proposed_block": index, "updated_block": index, "last_event": 10_000_000 + index})  # fmt: skip
        for stage in (0, 1):
            stage_rows.append({"contract_no": number, "stage_index": stage, "spec_hash": bytes(32),
                               "amount": 150_000, "status": "PENDING" if stage else "CONFIRMED",
                               "result_hash": bytes(32), "party_a": a, "last_event": 10_000_000 + index})  # fmt: skip
        payment_rows.append({"voucher_id": index.to_bytes(32, "big"), "contract_no": number, "seq": 1, "party_a": a,
                             "party_b": b, "asset": asset, "amount": 100_000,
                             "status": rng.choice(PAYMENT_STATUSES), "beneficiary_org": b, "presenter_org": None,
                             "expiry": now + rng.randint(-86_400, 3 * 86_400),
                             "frozen_at": now - rng.randint(0, 60 * 86_400),
                             "requested_at": now, "paid_at": None, "last_event": 10_000_000 + index})  # fmt: skip
    with writer(database).begin() as connection:
        for table, batch in ((contracts, rows), (stages, stage_rows), (payments, payment_rows)):
            for start in range(0, len(batch), 2_000):
                connection.execute(insert(table), batch[start : start + 2_000])


def p99(samples: list[float]) -> float:
    """The 99th percentile, in milliseconds."""
    return statistics.quantiles(samples, n=100)[98] * 1000 if len(samples) >= 2 else samples[0] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contracts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300, help="requests per read measured")
    args = parser.parse_args()
    demo = start_demo()
    try:
        org = demo.orgs["a"]
        for other in ("b", "c", "bank"):  # one org's platform per machine, as deployed: the others' engines rest
            demo.orgs[other].platform.stop()
        seed(org.platform.database, args.contracts, demo.sandbox.deployment.asset.address)
        tokens = {role: create_token(org.platform.database, f"bench-{role.value}", role)
                  for role in (Role.BUSINESS, Role.FINANCE, Role.AUDITOR)}  # fmt: skip
        reads = {
            "contracts": (Role.AUDITOR, "/api/v1/contracts?limit=50"),
            "contracts_filtered": (Role.AUDITOR, "/api/v1/contracts?status=SIGNED&counterparty=2&limit=50"),
            "contracts_page_2": (Role.AUDITOR, "/api/v1/contracts?limit=50&cursor=10005000"),
            "payments_frozen": (Role.FINANCE, "/api/v1/payments?status=FROZEN&limit=50"),
            "inbox_business": (Role.BUSINESS, "/api/v1/inbox"),
            "inbox_finance": (Role.FINANCE, "/api/v1/inbox"),
        }
        results: dict[str, float] = {}
        with httpx.Client(base_url=org.url, timeout=30) as client:
            for name, (role, path) in reads.items():
                headers = {"Authorization": f"Bearer {tokens[role]}"}
                for _ in range(10):  # warm-up
                    client.get(path, headers=headers).raise_for_status()
                samples = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    client.get(path, headers=headers).raise_for_status()
                    samples.append(time.perf_counter() - start)
                results[name] = round(p99(samples), 2)
                print(f"{name:<22} p99 {results[name]:7.2f} ms  median {statistics.median(samples) * 1000:6.2f} ms")
        renders = first_renders(org.url)
        for page, millis in renders.items():
            print(f"first render {page:<12} {millis:7.1f} ms")
        summary = {
            "contracts": args.contracts,
            "p99_ms": results,
            "p99_list_inbox_max_ms": max(results.values()),
            "first_render_ms": renders,
            "first_render_max_ms": max(renders.values()) if renders else None,
        }
        print(json.dumps(summary))
    finally:
        demo.stop()


def first_renders(url: str) -> dict[str, float]:
    """Milliseconds from navigation to the load event of each page, in a fresh headless Chromium tab (logged in),
    the best of three; empty without Chromium."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return {}
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip
    found = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, headless=True, args=flags)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(url + "/login")
        page.get_by_label("User name").fill("a-auditor")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/inbox")
        for path in ("/inbox", "/contracts", "/payments", "/dashboard"):
            timings = []
            for _ in range(3):
                fresh = context.new_page()
                start = time.perf_counter()
                fresh.goto(url + path, wait_until="load")
                timings.append((time.perf_counter() - start) * 1000)
                fresh.close()
            found[path] = round(min(timings), 1)
        browser.close()
    return found


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
