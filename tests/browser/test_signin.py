"""Signing in, in a real browser on the server `make run` starts (serve.py): the first administrator on an empty
database, a refresh that keeps the session, signing out, addresses that grant nothing, an outsider who sees no
proposal, and a workshop's one-time QR sign-in that works once. Saves docs/screenshots/signin.png and
workshop-qr.png.

Each test starts its own server on its own SQLite file, seeded through the services."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from .conftest import CHROMIUM, SCREENSHOTS, VIEWPORT, AppServer, serve

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402  (after the skip: dev-only)

from .ui import TIMEOUT, click, keyed, nav, settle, sign_in  # noqa: E402

pytestmark = pytest.mark.browser

SYSTEM = "system:browser-test"
PASSWORD = "a long enough passphrase"
TITLE = "Harbor Shared GIS Hub"
OTHER_TITLE = "Valley Payroll Consortium"


def _page(browser: Browser) -> Page:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    return context.new_page()


def _body(page: Page) -> str:
    return page.locator("body").inner_text()


@pytest.fixture
def empty_server(tmp_path) -> Iterator[AppServer]:
    with serve(tmp_path / "risk.db") as server:
        yield server


@pytest.fixture(scope="module")
def team_server(tmp_path_factory) -> Iterator[AppServer]:
    """Two proposals. On the first: facilitator Farah (a password), assessor Alma (no account yet: she joins by a
    code). An outsider account of a government in neither proposal, and an administrator."""
    from risk import accounts
    from risk.db import make_engine, migrate
    from risk.services import proposals as ps

    db_path = tmp_path_factory.mktemp("browser_signin") / "risk.db"
    engine = make_engine(f"sqlite:///{db_path}")
    migrate(engine)
    pid = ps.create_proposal(engine, actor=SYSTEM, title=TITLE)
    other = ps.create_proposal(engine, actor=SYSTEM, title=OTHER_TITLE)
    harbor = ps.add_partner(engine, actor=SYSTEM, name="Harbor County")
    elsewhere = ps.add_partner(engine, actor=SYSTEM, name="Distant Town")
    ps.link_partner(engine, actor=SYSTEM, proposal_id=pid, partner_id=harbor, role="lead")
    ps.add_team_member(engine, actor=SYSTEM, proposal_id=pid, name="Farah Nadeem", partner_id=harbor,
                       team_role="facilitator")
    ps.add_team_member(engine, actor=SYSTEM, proposal_id=pid, name="Alma Reyes", partner_id=harbor,
                       team_role="assessor")
    ps.add_risk(engine, actor=SYSTEM, proposal_id=pid, category="legal", title="Data-sharing agreement unsigned",
                cause="no agreement yet", event="a partner withdraws its parcels", consequence="the hub is partial")
    ps.add_risk(engine, actor=SYSTEM, proposal_id=other, category="financial", title="Payroll formula",
                cause="c", event="e", consequence="q")
    accounts.create_account(engine, actor=SYSTEM, username="farah", full_name="Farah Nadeem", partner="Harbor County",
                            password=PASSWORD)
    accounts.create_account(engine, actor=SYSTEM, username="otto", full_name="Otto Outsider", partner="Distant Town",
                            password=PASSWORD)
    accounts.create_account(engine, actor=SYSTEM, username="ada", full_name="Ada Admin", admin=True,
                            password=PASSWORD)
    assert elsewhere
    engine.dispose()
    with serve(db_path) as server:
        yield server


def test_first_run_creates_the_administrator_then_a_refresh_keeps_the_session_and_sign_out_ends_it(
        browser, empty_server):
    page = _page(browser)
    try:
        page.goto(empty_server.url)
        expect(page.get_by_role("button", name="Create the administrator account")).to_be_visible(timeout=TIMEOUT)
        assert "token" not in page.url and "session" not in page.url
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Full name").fill("Ada Admin")
        page.get_by_label("Password").fill("short")
        page.get_by_role("button", name="Create the administrator account").click()
        expect(page.get_by_role("alert")).to_contain_text("12", timeout=TIMEOUT)  # refused: too short, says why
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create the administrator account").click()
        expect(nav(page)).to_be_visible(timeout=TIMEOUT)
        settle(page)
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Signed in as Ada Admin", timeout=TIMEOUT)
        expect(page.get_by_role("button", name="Load the demo portfolio")).to_be_visible(timeout=TIMEOUT)
        cookie = next(c for c in page.context.cookies() if c["name"] == "risk_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["value"] not in page.url
        page.reload()
        expect(nav(page)).to_be_visible(timeout=TIMEOUT)
        settle(page)
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Signed in as Ada Admin", timeout=TIMEOUT)
        click(page, page.get_by_role("button", name="Sign out"))
        expect(page.get_by_text("You have signed out")).to_be_visible(timeout=TIMEOUT)
        assert not nav(page).count()
        page.reload()  # the ended session's cookie signs nobody in
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT)
        expect(page.get_by_label("Full name")).to_have_count(0)  # the first-run form is gone for good
        page.screenshot(path=str(SCREENSHOTS / "signin.png"))
    finally:
        page.context.close()


def test_addresses_grant_nothing_and_an_outsider_sees_no_proposal(browser, team_server):
    page = _page(browser)
    try:
        page.goto(f"{team_server.url}/review?proposal=1&as=1")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT)
        assert TITLE not in _body(page)
        page.get_by_label("Username").fill("otto")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(nav(page)).to_be_visible(timeout=TIMEOUT)  # back at the address asked for, signed in as otto
        settle(page)
        expect(page.get_by_text("Choose a proposal")).to_be_visible(timeout=TIMEOUT)
        body = _body(page)
        assert TITLE not in body and OTHER_TITLE not in body and "Data-sharing agreement" not in body
        page.goto(team_server.url)
        expect(nav(page)).to_be_visible(timeout=TIMEOUT)
        settle(page)
        expect(page.get_by_text("You are not on the team of any proposal yet")).to_be_visible(timeout=TIMEOUT)
        assert TITLE not in _body(page) and not keyed(page, "sidebar_proposal").count()
    finally:
        page.context.close()


def test_a_facilitator_signs_an_assessor_in_with_a_code_that_works_once(browser, team_server):
    facilitator = _page(browser)
    phone = _page(browser)
    second_phone = _page(browser)
    try:
        sign_in(facilitator, f"{team_server.url}/workshop?proposal=1", "farah", PASSWORD)
        expect(facilitator.get_by_test_id("stSidebar")).to_contain_text("facilitator", timeout=TIMEOUT)
        facilitator.get_by_text("Sign team members in with a QR code").click()
        settle(facilitator)
        box = keyed(facilitator, "link_member").get_by_role("combobox")
        box.click()
        facilitator.get_by_role("option", name=re.compile("^Alma Reyes")).click()
        settle(facilitator)
        click(facilitator, keyed(facilitator, "make_link").get_by_role("button"))
        qr = facilitator.get_by_test_id("stImage").first
        expect(qr).to_be_visible(timeout=TIMEOUT)
        link = facilitator.get_by_test_id("stCode").inner_text().strip()
        assert re.fullmatch(rf"{re.escape(team_server.url)}/join/[A-Za-z0-9_-]{{20,}}", link), link
        facilitator.screenshot(path=str(SCREENSHOTS / "workshop-qr.png"), full_page=True)

        phone.goto(link)
        expect(phone.get_by_role("button", name="Sign in as Alma Reyes")).to_be_visible(timeout=TIMEOUT)
        phone.get_by_role("button", name="Sign in as Alma Reyes").click()
        expect(nav(phone)).to_be_visible(timeout=TIMEOUT)
        settle(phone)
        expect(phone.get_by_test_id("stSidebar")).to_contain_text("Signed in as Alma Reyes", timeout=TIMEOUT)
        phone.goto(f"{team_server.url}/workshop?proposal=1")
        expect(nav(phone)).to_be_visible(timeout=TIMEOUT)
        settle(phone)
        expect(phone.get_by_test_id("stSidebar")).to_contain_text("assessor", timeout=TIMEOUT)

        second_phone.goto(link)  # the same code again: it has been used
        expect(second_phone.get_by_text("This sign-in link does not work")).to_be_visible(timeout=TIMEOUT)
        assert "risk_session" not in {c["name"] for c in second_phone.context.cookies()}
    finally:
        for p in (facilitator, phone, second_phone):
            p.context.close()
