"""The app as people share it: with the demo loaded, several proposals, refreshes, second tabs, two people (two
accounts, each signed in from their own browser) on the same register, double clicks. Problems 1-3 of the state
issue are done here exactly as they were reported, signed in.

Each test opens its own browser context (a new Streamlit session, its own sign-in cookie) against one server
holding the demo portfolio and the accounts of conftest.DEMO_ACCOUNTS; tests assert on what they changed, so their
order does not matter."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator

import pytest

from .conftest import CHROMIUM, DEMO_ACCOUNTS, PASSWORD, VIEWPORT

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests",
                allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright (a dev dependency) is not installed")

from playwright.sync_api import BrowserContext, Locator, Page, expect  # noqa: E402

from .ui import (  # noqa: E402
    PATHS,
    TIMEOUT,
    click,
    edit_cell,
    expect_flash,
    expect_signed_in,
    go_to,
    keyed,
    keyed_like,
    nav,
    settle,
    sign_in,
    table_with,
    type_in,
)

pytestmark = pytest.mark.browser


# --- helpers ----------------------------------------------------------------------------------------

def db_rows(server, sql: str, *args) -> list[tuple]:
    db = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def proposal_row(server, pid: int) -> tuple:
    return db_rows(server, "SELECT title, service_type, status, description, aggregation, appetite FROM proposal "
                           "WHERE id = ?", pid)[0]


def open_page(context: BrowserContext, url: str, username: str | None = None) -> Page:
    """A new page of `context` on `url`, signing in as `username` first (the sign-in page brings the browser back
    to `url`); without a username the context is signed in already."""
    page = context.new_page()
    if username is not None:
        sign_in(page, url, username, PASSWORD)
        expect_signed_in(page, full_name(username), username)
        return page
    page.goto(url)
    expect(nav(page)).to_be_visible(timeout=TIMEOUT)
    settle(page)
    return page


def full_name(username: str) -> str:
    return DEMO_ACCOUNTS[username][0]


def audit_actors(server, entity: str, entity_id: int) -> set[str]:
    return {a for (a,) in db_rows(server, "SELECT DISTINCT actor FROM audit_event WHERE entity = ? AND entity_id = ?",
                                  entity, str(entity_id))}


def pick(page: Page, box: Locator, option: str | re.Pattern) -> None:
    combobox = box.get_by_role("combobox")
    combobox.scroll_into_view_if_needed()
    combobox.click()
    page.get_by_role("option", name=option).click()
    settle(page)


def sidebar_proposal(page: Page) -> Locator:
    return keyed(page, "sidebar_proposal").get_by_role("combobox")


def expect_no_traceback(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in page.get_by_test_id("stMain").inner_text()


def register_legal_by_id(page: Page) -> None:
    """Only the legal risks, by risk id: every row is drawn (the grid draws only the rows in view)."""
    pick(page, keyed_like(page, "reg_sort_"), "Risk id")
    pick(page, keyed_like(page, "reg_category_"), "Legal")
    page.keyboard.press("Escape")
    settle(page)


def register_title(page: Page, risk_id: str) -> str:
    grid = table_with(page, "Inherent level")
    row = grid.locator("tbody tr").filter(has=page.locator("td", has_text=re.compile(rf"^\s*{risk_id}\s*$")))
    return row.locator("td").nth(1).inner_text().strip()


def risk_title(server, pid: int, risk_id: str) -> str:
    return db_rows(server, "SELECT title FROM risk WHERE proposal_id = ? AND risk_id = ?", pid, risk_id)[0][0]


def saved_title(server, pid: int, risk_id: str, expected: str, timeout_s: float = 20.0) -> str:
    """The title as stored, once it is `expected` or the time is up: an edit is saved by the rerun it starts, which
    a loaded machine may finish after the page looked settled."""
    deadline = time.monotonic() + timeout_s
    while (title := risk_title(server, pid, risk_id)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return title


@pytest.fixture
def context(browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


# --- problem 1: a new proposal when others exist ------------------------------------------------------

def test_new_proposal_from_a_fresh_tab_opens_what_was_created_and_a_second_click_makes_no_duplicate(
        context, demo_server):
    # Lena's account is on no team: any account may start a proposal, and becomes its facilitator
    page = open_page(context, demo_server.url, "lena")
    click(page, keyed(page, "new_proposal").get_by_role("button"))
    expect(page.get_by_role("heading", name="New proposal", exact=True)).to_be_visible(timeout=TIMEOUT)
    title = "Shared fleet telematics"
    type_in(page, "p_title_", title, rerun=False)
    create = page.get_by_role("button", name="Create proposal")
    click(page, create)
    expect_flash(page, f"Created “{title}”")
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(sidebar_proposal(page)).to_have_value(title, timeout=TIMEOUT)
    [(pid,)] = db_rows(demo_server, "SELECT id FROM proposal WHERE title = ?", title)
    expect(page).to_have_url(re.compile(rf"/proposal\?(.*&)?proposal={pid}(&|$)"), timeout=TIMEOUT)
    # the form is now the proposal's own: it saves, it does not create
    expect(page.get_by_role("button", name="Create proposal")).to_have_count(0)
    expect(page.get_by_role("button", name="Save changes")).to_be_visible()
    expect_signed_in(page, "Lena Fischer", "lena", "facilitator")
    click(page, page.get_by_role("button", name="Save changes"))
    assert db_rows(demo_server, "SELECT count(*) FROM proposal WHERE title = ?", title) == [(1,)]
    assert audit_actors(demo_server, "proposal", pid) == {"lena"}  # recorded under the account that created it
    expect_no_traceback(page)


def test_a_double_click_on_create_makes_one_proposal(context, demo_server):
    page = open_page(context, f"{demo_server.url}/proposal", "lena")
    expect(page.get_by_role("heading", name="New proposal", exact=True)).to_be_visible(timeout=TIMEOUT)
    title = "Joint records storage"
    type_in(page, "p_title_", title, rerun=False)
    page.get_by_role("button", name="Create proposal").dblclick()
    settle(page)
    page.wait_for_timeout(1500)  # a second submit, had there been one, has run by now
    settle(page)
    assert db_rows(demo_server, "SELECT count(*) FROM proposal WHERE title = ?", title) == [(1,)]
    # ...and the page opens what was created. A product bug (it predates sign-in) sometimes leaves the page on an
    # empty "New proposal" form, or on the first proposal of the sidebar's picker, after a double click.
    [(pid,)] = db_rows(demo_server, "SELECT id FROM proposal WHERE title = ?", title)
    expect(page.get_by_role("heading", level=1), f"a double click on Create proposal made proposal {pid} once but "
           f"the page at {page.url} does not show it").to_have_text(title, timeout=TIMEOUT)


# --- problem 2: a new proposal must not overwrite the one that was open -------------------------------

def test_new_proposal_from_the_second_proposal_never_touches_it(context, demo_server):
    # signed in as the second proposal's facilitator, who may change it: a save that went astray would land there
    before = proposal_row(demo_server, 2)
    second_title = before[0]
    page = open_page(context, demo_server.url, "ruth")
    pick(page, keyed(page, "sidebar_proposal"), second_title)
    expect_signed_in(page, "Ruth Adebayo", "ruth", "facilitator", "partner government")
    go_to(page, "Portfolio")
    click(page, keyed(page, "new_proposal").get_by_role("button"))
    expect(page.get_by_role("heading", name="New proposal", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(page).not_to_have_url(re.compile(r"proposal=2(&|$)"))
    title = "Regional permitting portal"
    type_in(page, "p_title_", title, rerun=False)
    click(page, page.get_by_role("button", name="Create proposal"))  # the first click creates
    expect_flash(page, f"Created “{title}”")
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=TIMEOUT)
    assert db_rows(demo_server, "SELECT count(*) FROM proposal WHERE title = ?", title) == [(1,)]
    # Save changes saves the new proposal, never the second one
    type_in(page, "p_description_", "One portal for building permits across the towns.", rerun=False)
    click(page, page.get_by_role("button", name="Save changes"))
    expect_flash(page, "Saved the proposal.")
    assert proposal_row(demo_server, 2) == before
    assert db_rows(demo_server, "SELECT description FROM proposal WHERE title = ?", title) == [
        ("One portal for building permits across the towns.",)]
    expect_no_traceback(page)


# --- problem 3: a refused stale edit is never saved by the next edit ----------------------------------

def test_a_refused_stale_edit_is_dropped_and_the_next_edit_saves_only_itself(browser, demo_server):
    # two people, each signed in to their own account in their own browser: the facilitator and an assessor
    a_ctx = browser.new_context(viewport=VIEWPORT)
    b_ctx = browser.new_context(viewport=VIEWPORT)
    try:
        a = open_page(a_ctx, f"{demo_server.url}/register?proposal=1", "dana")
        b = open_page(b_ctx, f"{demo_server.url}/register?proposal=1", "priya")
        expect_signed_in(a, "Dana Whitfield", "dana", "facilitator", "partner government")
        expect_signed_in(b, "Priya Raman", "priya", "assessor", "partner government")
        for page in (a, b):
            expect(page.get_by_role("heading", name=re.compile("^Risk register: "))).to_be_visible(timeout=TIMEOUT)
            register_legal_by_id(page)
        ids = [r.locator("td").first.inner_text().strip()
               for r in table_with(a, "Inherent level").locator("tbody tr").all()]
        row, other_row = ids.index("LEG-03"), ids.index("LEG-01")
        title_x = 60 + 90  # the pinned Risk column, then inside the Title column

        # A changes LEG-03's title and it is saved.
        edit_cell(a, table_with(a, "Inherent level"), row, title_x, "Data ownership agreed by A")
        assert saved_title(demo_server, 1, "LEG-03", "Data ownership agreed by A") == "Data ownership agreed by A"

        # B's older edit of the same row is refused, naming A's account; the row shows what is stored.
        edit_cell(b, table_with(b, "Inherent level"), row, title_x, "B's older wording")
        expect(b.get_by_test_id("stAlert").filter(has_text="changed by dana")).to_be_visible(timeout=TIMEOUT)
        assert risk_title(demo_server, 1, "LEG-03") == "Data ownership agreed by A"
        expect(table_with(b, "Inherent level")).to_contain_text("Data ownership agreed by A", timeout=TIMEOUT)
        assert "B's older wording" not in table_with(b, "Inherent level").inner_text()

        # B edits another row: only that edit is saved; A's title stays.
        edit_cell(b, table_with(b, "Inherent level"), other_row, title_x, "Bargaining units differ")
        assert saved_title(demo_server, 1, "LEG-01", "Bargaining units differ") == "Bargaining units differ"
        assert risk_title(demo_server, 1, "LEG-03") == "Data ownership agreed by A"
        expect(b.get_by_test_id("stAlert").filter(has_text="changed by")).to_have_count(0)

        # An invalid value (an empty title) is refused once and dropped: the next edit does not bring it back.
        edit_cell(b, table_with(b, "Inherent level"), other_row, title_x, "")
        expect(b.get_by_test_id("stAlert").filter(has_text="a value is required")).to_be_visible(timeout=TIMEOUT)
        assert risk_title(demo_server, 1, "LEG-01") == "Bargaining units differ"
        edit_cell(b, table_with(b, "Inherent level"), row, title_x, "Data ownership, final")
        expect(b.get_by_test_id("stAlert").filter(has_text="a value is required")).to_have_count(0)
        assert saved_title(demo_server, 1, "LEG-03", "Data ownership, final") == "Data ownership, final"
        assert risk_title(demo_server, 1, "LEG-01") == "Bargaining units differ"
        # every save is recorded under the account that made it
        assert db_rows(demo_server, "SELECT updated_by FROM risk WHERE proposal_id = 1 AND risk_id IN "
                                    "('LEG-01', 'LEG-03') ORDER BY risk_id") == [("priya",), ("priya",)]
        expect_no_traceback(b)
    finally:
        a_ctx.close()
        b_ctx.close()


# --- the address keeps the proposal ----------------------------------------------------------------

def test_a_refresh_on_every_page_and_moving_between_pages_keep_the_proposal(context, demo_server):
    title = proposal_row(demo_server, 2)[0]
    page = open_page(context, f"{demo_server.url}/?proposal=2", "ruth")
    for name in PATHS:
        go_to(page, name)
        expect(page).to_have_url(re.compile(r"proposal=2(&|$)"), timeout=TIMEOUT)
        page.reload()
        expect(nav(page)).to_be_visible(timeout=TIMEOUT)
        settle(page)
        expect(sidebar_proposal(page)).to_have_value(title, timeout=TIMEOUT)
        expect_signed_in(page, "Ruth Adebayo", "ruth", "facilitator", "partner government")
        if name not in ("Portfolio", "Import"):
            expect(page.get_by_role("heading", level=1)).to_contain_text(title, timeout=TIMEOUT)
        expect_no_traceback(page)


def test_a_second_tab_on_another_proposal_changes_nothing_in_the_first(context, demo_server):
    # one person (an administrator, who may change both proposals) in two tabs of one browser: one sign-in
    first_title, third_title = proposal_row(demo_server, 1)[0], proposal_row(demo_server, 3)[0]
    one = open_page(context, f"{demo_server.url}/proposal?proposal=1", "ada")
    type_in(one, "p_description_", "Typed in the first tab.", rerun=False)
    two = open_page(context, f"{demo_server.url}/proposal?proposal=1")
    expect_signed_in(two, "Ada Admin", "ada")
    pick(two, keyed(two, "sidebar_proposal"), third_title)
    expect(two.get_by_role("heading", level=1)).to_have_text(third_title, timeout=TIMEOUT)
    # back in the first tab, after something else reran it, it is still on proposal 1 and saves there
    one.bring_to_front()
    click(one, one.get_by_role("tab", name="Assessment team"))
    expect(one.get_by_role("heading", level=1)).to_have_text(first_title, timeout=TIMEOUT)
    expect(sidebar_proposal(one)).to_have_value(first_title, timeout=TIMEOUT)
    click(one, one.get_by_role("button", name="Save changes"))
    expect_flash(one, "Saved the proposal.")
    assert proposal_row(demo_server, 1)[3] == "Typed in the first tab."
    assert proposal_row(demo_server, 3)[3] != "Typed in the first tab."


def test_a_strength_saved_in_the_grid_is_confirmed_and_the_user_stays_on_the_strengths_tab(context, demo_server):
    page = open_page(context, f"{demo_server.url}/proposal?proposal=1", "dana")
    click(page, page.get_by_role("tab", name="Strengths"))
    grid = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="Best placed to lead"))
    expect(grid).to_be_visible(timeout=TIMEOUT)
    before = dict(((p, c), s) for p, c, s in db_rows(
        demo_server, "SELECT partner_id, capability, score FROM partner_strength WHERE proposal_id = 1"))
    width = grid.get_by_test_id("stDataFrameResizable").bounding_box()["width"]
    edit_cell(page, grid, 0, width * 0.3, "1")
    expect(page.get_by_test_id("stToast").filter(has_text="Saved 1 strength score.")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("tab", name="Strengths")).to_have_attribute("aria-selected", "true")
    after = dict(((p, c), s) for p, c, s in db_rows(
        demo_server, "SELECT partner_id, capability, score FROM partner_strength WHERE proposal_id = 1"))
    changed = {k: v for k, v in after.items() if before.get(k, 0) != v}
    assert list(changed.values()) == [1], changed
    [(last_actor,)] = db_rows(demo_server, "SELECT actor FROM audit_event WHERE entity = 'partner_strength' "
                                           "ORDER BY id DESC LIMIT 1")
    assert last_actor == "dana"  # recorded under the account that saved it
    expect_no_traceback(page)
