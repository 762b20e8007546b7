"""The platform end to end in headless Chromium (Debian's ``chromium``, driven by Playwright with its executable
path: no browser is downloaded): every click of the flow through the UI of each org's platform — Party B proposes,
Party A checks (a tampered document is refused, naming the field) and countersigns, stages, settlement, payment,
redemption, release, both books and the reconciliation. Screenshots are kept in ``artifacts/browser/`` (and
``COLLAB_SCREENSHOTS=docs/screenshots`` writes the README's)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collab_py.devnet.sandbox import B_BANK_ACCOUNT
from collab_py.web.demo import DEMO_PASSWORD, Demo, start_demo

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("COLLAB_ARTIFACTS", "artifacts")) / "browser"
#: Chromium's flags for this machine's closed network (see the machine notes): no background connections.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
                       reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)"),
]  # fmt: skip


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    running = start_demo()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


class Person:
    """One user in their own browser context, on their org's platform."""

    def __init__(self, browser: Any, demo: Demo, org: str, user: str, downloads: Path) -> None:
        self.base = demo.orgs[org].url
        self.context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True,
                                           timezone_id="Asia/Shanghai")  # fmt: skip
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.downloads = downloads
        self.page.goto(self.base + "/login")
        self.page.get_by_label("User name").fill(user)
        self.page.get_by_label("Password").fill(DEMO_PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        playwright_api.expect(self.page.get_by_role("heading", name=re.compile("^Inbox"))).to_be_visible()

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def ok(self, text: str | None = None) -> None:
        flash = self.page.get_by_role("status").first
        playwright_api.expect(flash).to_be_visible()
        if text:
            playwright_api.expect(flash).to_contain_text(text)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        docs = os.environ.get("COLLAB_SCREENSHOTS")
        if docs and name in ("countersign-mismatch", "contract-timeline", "group-dashboard"):
            Path(docs).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(docs) / f"{name}.png"))


def test_the_whole_flow_clicked_through_the_ui(demo: Demo, browser: Any, tmp_path: Path) -> None:
    number = "UI-2026-0001"
    b_business = Person(browser, demo, "b", "b-business", tmp_path)
    page = b_business.go("/contracts/new")
    page.get_by_label("Contract number").fill(number)
    page.get_by_label("Party A (payer) org id").fill("1")
    page.get_by_label("Contract text").fill("Party B delivers design and prototype to Party A.")
    page.get_by_label("Stage 0 deliverable").fill("design documents")
    page.get_by_label("Stage 0 amount").fill("1,000.50")
    page.get_by_label("Stage 1 deliverable").fill("prototype")
    page.get_by_label("Stage 1 amount").fill("2000")
    page.get_by_role("button", name="Sign and register").click()
    b_business.ok("Proposed")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the e-contract document").click()
    econtract = tmp_path / f"{number}.econtract.json"
    download.value.save_as(econtract)
    tampered = tmp_path / "tampered.econtract.json"
    tampered.write_text(econtract.read_text().replace('"100050"', '"90050"'))

    a_business = Person(browser, demo, "a", "a-business", tmp_path)
    page = a_business.page
    playwright_api.expect(page.get_by_role("link", name=number)).to_be_visible()
    page.get_by_role("link", name="Check and countersign").first.click()
    page.get_by_label("E-contract file (NUMBER.econtract.json)").set_input_files(str(tampered))
    page.get_by_role("button", name="Check against the chain").click()
    playwright_api.expect(page.locator("#mismatch")).to_contain_text("stages[0].amount")
    playwright_api.expect(page.get_by_role("button", name="Countersign")).to_have_count(0)
    a_business.shot("countersign-mismatch")
    page.get_by_label("E-contract file (NUMBER.econtract.json)").set_input_files(str(econtract))
    page.get_by_role("button", name="Check against the chain").click()
    playwright_api.expect(page.locator("#match")).to_be_visible()
    a_business.shot("countersign-match")
    page.get_by_role("button", name="Countersign").click()
    a_business.ok("Countersigned")

    page = b_business.go(f"/contracts/{number}")
    for index, content in ((0, b"design.pdf"), (1, b"prototype report")):
        result = tmp_path / f"stage{index}.bin"
        result.write_bytes(content)
        page.get_by_label(f"Delivered result of stage {index}").set_input_files(str(result))
        page.get_by_role("button", name=f"Submit stage {index}").click()
        b_business.ok(f"Stage {index} submitted")

    page = a_business.go("/inbox")
    for index in (0, 1):
        page.get_by_role("link", name=f"Review stage {index}").first.click()
        page.get_by_role("button", name=f"Confirm stage {index}").click()
        a_business.ok("first voucher issued")
        page = a_business.go("/inbox")

    page = b_business.go(f"/contracts/{number}")
    page.get_by_role("button", name="Apply for settlement").click()
    b_business.ok("Settlement requested")
    page = a_business.go(f"/contracts/{number}")
    page.get_by_role("button", name="Approve settlement").click()
    a_business.ok("settlement voucher")

    b_finance = Person(browser, demo, "b", "b-finance", tmp_path)
    page = b_finance.go(f"/contracts/{number}")
    page.get_by_role("link", name="Apply for payment").click()
    page.get_by_label("Amount (currency units)").fill("3000.50")
    page.get_by_label("Bank account to be paid into").fill(B_BANK_ACCOUNT)
    page.get_by_role("button", name="Apply").click()
    b_finance.ok("Payment applied")

    a_finance = Person(browser, demo, "a", "a-finance", tmp_path)
    page = a_finance.page
    page.get_by_role("button", name=f"Issue voucher {number} #1").click()
    a_finance.ok("funds frozen")

    page = b_finance.go("/inbox")
    page.get_by_role("button", name=f"Redeem key {number} #1").click()
    b_finance.ok("payment requested")

    operator = Person(browser, demo, "bank", "bank-operator", tmp_path)
    page = operator.go("/release")
    operator.shot("release-queue")
    page.get_by_role("button", name=f"Release {number} #1").click()
    operator.ok("second voucher")

    page = a_business.go(f"/contracts/{number}")
    playwright_api.expect(page.locator(".timeline")).to_contain_text("SecondVoucher")
    playwright_api.expect(page.locator(".timeline")).to_contain_text("a-business")
    a_business.shot("contract-timeline")

    page = a_finance.go("/books")
    for _ in range(50):
        if page.get_by_role("cell", name="PAYMENT").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    playwright_api.expect(page.get_by_role("cell", name="PAYMENT").first).to_be_visible()
    a_finance.shot("books-a")
    page = b_finance.go("/books")
    for _ in range(50):
        if page.get_by_role("cell", name="RECEIPT").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    playwright_api.expect(page.get_by_role("cell", name="RECEIPT").first).to_be_visible()
    b_finance.shot("books-b")

    auditor = Person(browser, demo, "a", "a-auditor", tmp_path)
    page = auditor.go("/dashboard")
    playwright_api.expect(page.locator("#reconciliation")).to_contain_text(number)
    playwright_api.expect(page.locator("#reconciliation")).to_contain_text("matches")
    playwright_api.expect(page.locator("#reconciled")).to_have_text("clean")
    page.wait_for_timeout(300)  # the charts draw without animation
    auditor.shot("group-dashboard")
    page = auditor.go("/audit")
    playwright_api.expect(page.get_by_role("cell", name="countersign").first).to_be_visible()
    # keyboard: the skip link is the first stop and leads to the content
    page.keyboard.press("Tab")
    playwright_api.expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
