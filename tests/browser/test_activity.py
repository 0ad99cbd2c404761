"""The Activity page in a real browser: after changes by two accounts, the proposal's history names both, says what
changed before and after, filters by risk, and offers the CSV. Saves docs/screenshots/activity.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import CHROMIUM, SCREENSHOTS, VIEWPORT, AppServer, serve

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402  (after the skip: dev-only)

from .ui import TIMEOUT, keyed, settle, sign_in  # noqa: E402

pytestmark = pytest.mark.browser

SYSTEM = "system:browser-test"
PASSWORD = "a long enough passphrase"


@pytest.fixture(scope="module")
def activity_server(tmp_path_factory) -> Iterator[AppServer]:
    """The demo portfolio, an administrator, and two changes to the first proposal's risks by two accounts."""
    from risk import accounts
    from risk.db import make_engine, migrate
    from risk.services import proposals as ps
    from risk.services.portfolio import load_demo

    db_path = tmp_path_factory.mktemp("browser_activity") / "risk.db"
    engine = make_engine(f"sqlite:///{db_path}")
    migrate(engine)
    load_demo(engine, actor=SYSTEM)
    accounts.create_account(engine, actor=SYSTEM, username="ada", full_name="Ada Admin", admin=True,
                            password=PASSWORD)
    accounts.create_account(engine, actor=SYSTEM, username="ben", full_name="Ben Okoro", admin=True,
                            password=PASSWORD)
    first, second = ps.list_risks(engine, 1)[:2]
    ps.update_risk(engine, actor="ada", risk_pk=first.id, expected_version=first.version,
                   owner="County CIO", treatment="Reduce")
    ps.update_risk(engine, actor="ben", risk_pk=second.id, expected_version=second.version,
                   title="Dispatch data retention differs between partners")
    engine.dispose()
    with serve(db_path) as server:
        yield server


def test_the_activity_page_tells_who_changed_what(browser, activity_server):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        sign_in(page, f"{activity_server.url}/activity?proposal=1", "ada", PASSWORD)
        expect(page.get_by_role("heading", name="Activity: Tri-County Regional 911/CAD Consolidation")).to_be_visible(
            timeout=TIMEOUT)
        table = page.get_by_test_id("stDataFrame").first
        expect(table).to_be_visible(timeout=TIMEOUT)
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / "activity.png"), full_page=True)
        expect(page.get_by_text("changes", exact=False).first).to_be_visible(timeout=TIMEOUT)
        expect(keyed(page, "activity_csv").get_by_role("button")).to_be_visible(timeout=TIMEOUT)
        box = keyed(page, "act_people_1").get_by_role("combobox")
        box.click()
        page.get_by_role("option", name="Ben Okoro (ben)").click()
        page.keyboard.press("Escape")
        settle(page)
        expect(page.get_by_role("heading", name="1 change")).to_be_visible(timeout=TIMEOUT)
    finally:
        context.close()
