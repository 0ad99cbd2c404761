"""Importing another tool's register in a real browser: on a fresh database with no proposal, a newcomer (an
account on no team, signed in with a password) uploads a CSV written in Windows-1252 with other column names,
checks it (the unmapped columns are problems and Import stays disabled), maps the columns in the editable table,
saves the mapping, checks again (clean: two risks would be added) and imports into a new proposal, landing on its
register with the levels computed (the newcomer is its facilitator now). Then a bad file with the same columns: the
saved mapping is offered by itself, and the check lists the bad row and refuses to import. Saves
docs/screenshots/import.png.

This module starts its own server on its own SQLite file (the shared `app_server` must stay empty for the main
journey), holding only the newcomer's account. Widgets are found by the `st-key-<key>` class or by their label;
every action that makes Streamlit rerun is followed by `settle()`. The column mapping is a st.data_editor, a
glide-data-grid drawn on a canvas: a cell is double-clicked at its position to open its dropdown, and the option is
clicked in the dropdown."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest

from .conftest import CHROMIUM, PASSWORD, SCREENSHOTS, SYSTEM, VIEWPORT, AppServer, serve

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import Locator, Page, expect  # noqa: E402  (after the skip: playwright is dev-only)

from .ui import (  # noqa: E402
    TIMEOUT,
    click,
    expect_flash,
    expect_metric,
    expect_signed_in,
    go_to,
    keyed,
    keyed_like,
    open_cell_editor,
    register_values,
    settle,
    sign_in,
    table_row,
    table_with,
    type_in,
)

pytestmark = pytest.mark.browser

IMPORTER = ("lena", "Lena Okafor")  # username, full name: an account on no team, of no partner government
FILE_NAME = "county_ledger.csv"
TITLE = "County ledger"  # the title the page proposes for the new proposal, from the file name
MAPPING_NAME = "County ledger"
HEADER = ["Ref", "Risk Type", "Risk Name", "L", "I", "Notes"]
MAPPING = {"Ref": "risk_id", "Risk Type": "category", "Risk Name": "title", "L": "inherent_likelihood",
           "I": "inherent_impact", "Notes": "(leave it out)"}
# what the table's drop-down shows for each register column (the grid's accessible cells hold the value itself)
LABELS = {"risk_id": "Risk id (its key, such as LEG-03)", "category": "Category", "title": "Title",
          "inherent_likelihood": "Inherent likelihood (1-5)", "inherent_impact": "Inherent impact (1-5)",
          "(leave it out)": "(leave it out)"}
CAFE = "Cost overrun – café levy"  # an en dash and an e acute: both are single bytes in Windows-1252
GOOD_ROWS = [["RSK-1", "Financial", CAFE, "4", "3", "see minutes"],
             ["RSK-2", "Societal", "Digital divide", "2", "4", ""]]
BAD_ROWS = [["RSK-3", "Financial", "Fuel prices", "3", "3", ""],
            ["RSK-4", "Legl", "Unsigned data-sharing deal", "6", "2", ""]]  # row 3: an unknown category, a score of 6
# risk id, category (stored, shown), title, inherent likelihood and impact, inherent level on the NIST SP 800-30
# matrix (the default)
SIGN_IN_BOOKKEEPING = ("account", "signin_attempt", "account_session")  # what signing in writes
EXPECTED = [("RSK-1", "financial", "Financial", CAFE, 4, 3, "Moderate"),
            ("RSK-2", "societal", "Societal", "Digital divide", 2, 4, "Low")]


def cp1252_csv(rows: list[list[str]]) -> bytes:
    """A CSV as Excel on Windows saves it: Windows-1252, CRLF line ends."""
    return "".join(",".join(row) + "\r\n" for row in [HEADER, *rows]).encode("cp1252")


# --- helpers (the house style of test_journey.py) ---------------------------------------------------

def choose(page: Page, key: str, option: str) -> None:
    """Open a keyed selectbox (a react-aria combobox in Streamlit 1.67) and click one of its options."""
    combobox = (keyed_like(page, key) if key.endswith("_") else keyed(page, key)).get_by_role("combobox")
    combobox.scroll_into_view_if_needed()
    combobox.click()
    page.get_by_role("option", name=option).click()
    settle(page)


def expect_no_exception(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)


def screenshot(page: Page, name: str) -> None:
    """Save docs/screenshots/<name>.png of the whole page. Streamlit scrolls inside <main>, so the viewport is made
    as tall as the content for the shot, then put back."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, VIEWPORT["height"]), 6000)})
    page.mouse.move(0, 0)  # not over a table, whose toolbar would show over the select box above it
    page.wait_for_timeout(800)  # the layout and the grids follow the new size
    try:
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)
        page.wait_for_timeout(300)


def upload(page: Page, name: str, data: bytes) -> None:
    page.locator(".st-key-import_file input[type='file']").set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": data}])
    settle(page)
    expect(keyed(page, "import_file")).to_contain_text(name, timeout=TIMEOUT)


def file_column(page: Page, theirs: str) -> Locator:
    """The mapping table's row for the file's column `theirs` (matched whole: "I" is also in "Risk Name")."""
    first_cell = page.locator("td:first-child").filter(has_text=re.compile(rf"^\s*{re.escape(theirs)}\s*$"))
    return table_with(page, "Read as").locator("tbody tr").filter(has=first_cell)


def mapping_warning(page: Page) -> Locator:
    return page.get_by_test_id("stAlert").filter(has_text="Choose how to read")


def read_as(page: Page, theirs: str, ours: str) -> None:
    """In the mapping table, set the "Read as" cell of the file's column `theirs` to `ours`: select the cell on the
    canvas and double-click it to open its dropdown, type to narrow the options, click the one wanted."""
    grid = table_with(page, "Read as")
    canvas = grid.get_by_test_id("stDataFrameResizable")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    rows = grid.locator("tbody tr").all_inner_texts()
    index = next(k for k, text in enumerate(rows) if text.split("\t")[0].strip() == theirs)
    row_height = (box["height"] - 2) / (len(rows) + 1)  # the header row and the data rows, inside a 1 px border
    page.wait_for_timeout(300)  # the scroll has ended: the box is where the grid is drawn
    x, y = box["x"] + box["width"] * 0.8, box["y"] + row_height * (index + 1.5)
    editor = page.locator("#portal .glide-select input[role='combobox']")
    open_cell_editor(page, x, y, editor)
    editor.press_sequentially(LABELS[ours])
    page.locator("#portal").get_by_role("option", name=LABELS[ours], exact=True).click()
    settle(page)
    expect(file_column(page, theirs).locator("td").last).to_have_text(ours, timeout=TIMEOUT)


# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def import_server(tmp_path_factory) -> Iterator[AppServer]:
    """The app on a fresh SQLite file of this module's own, holding no proposal and two accounts made by the
    operator: the administrator's (without one the sign-in page only offers to create it) and the importer's."""
    from risk import accounts
    from risk.db import make_engine, migrate

    db_path = tmp_path_factory.mktemp("browser_import") / "risk.db"
    engine = make_engine(f"sqlite:///{db_path}")
    migrate(engine)
    accounts.create_account(engine, actor=SYSTEM, username="ada", full_name="Ada Admin", admin=True,
                            password=PASSWORD)
    accounts.create_account(engine, actor=SYSTEM, username=IMPORTER[0], full_name=IMPORTER[1], password=PASSWORD)
    engine.dispose()
    with serve(db_path) as server:
        yield server


@pytest.fixture
def page(browser, import_server) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


# --- the journey ------------------------------------------------------------------------------------

def test_import_a_cp1252_register_with_other_column_names(page: Page, import_server: AppServer) -> None:
    # 1. The Import page, signed in as a newcomer: an account on no team, which sees no proposal yet.
    sign_in(page, import_server.url, IMPORTER[0], PASSWORD)
    expect_signed_in(page, IMPORTER[1], IMPORTER[0])
    go_to(page, "Import")
    expect(page.get_by_role("heading", name="Import a register", exact=True)).to_be_visible(timeout=TIMEOUT)

    # 2. The upload: a Windows-1252 CSV whose columns are not ours.
    upload(page, FILE_NAME, cp1252_csv(GOOD_ROWS))
    expect_no_exception(page)

    # 3. Where to import, the proposed title, no saved mapping yet, and a table to map the columns.
    expect(page.get_by_role("radio", name="A new proposal", exact=True)).to_be_checked(timeout=TIMEOUT)
    expect(page.get_by_role("radio", name="An existing proposal", exact=True)).to_be_visible()
    expect(keyed(page, "import_title").get_by_role("textbox", name="Title of the new proposal")).to_have_value(TITLE)
    expect(keyed(page, "import_mapping_name").get_by_role("combobox", name="Saved mapping")).to_have_value("")
    grid = table_with(page, "Read as")
    expect(grid.locator("th", has_text="Column in the file")).to_have_count(1, timeout=TIMEOUT)
    expect(grid.locator("tbody tr")).to_have_count(len(HEADER), timeout=TIMEOUT)
    for theirs in HEADER:
        expect(file_column(page, theirs)).to_have_count(1)
    expect(mapping_warning(page)).to_contain_text("Choose how to read “Ref”, “Risk Type”, “Risk Name”, “L”, “I”, "
                                                  "“Notes”", timeout=TIMEOUT)

    # 4. Checked unmapped: every column that is not ours is a problem of the header row; nothing can be imported.
    import_button = keyed(page, "import_go").get_by_role("button", name="Import")
    click(page, keyed(page, "import_check").get_by_role("button", name="Check the file"))
    expect_flash(page, "nothing was written")
    problems = table_with(page, "Problem")
    expect(problems.locator("thead th")).to_have_text(["Row", "Field", "Problem"], timeout=TIMEOUT)
    for theirs in HEADER:
        expect(table_row(problems, "is not a register column").filter(has_text=f"('{theirs}')")).to_have_count(1)
    expect(table_row(problems, "the column 'risk_id' is missing")).to_have_count(1)
    expect(import_button).to_be_disabled()

    # 5. Map the columns in the table, then save the mapping for the next file from the county.
    for theirs, ours in MAPPING.items():
        read_as(page, theirs, ours)
        expect_no_exception(page)
    expect(mapping_warning(page)).to_have_count(0, timeout=TIMEOUT)
    click(page, page.get_by_test_id("stPopover").get_by_role("button", name="Save this mapping"))
    type_in(page, "import_save_as", MAPPING_NAME, rerun=False)
    click(page, keyed(page, "import_save").get_by_role("button", name="Save"))
    expect_flash(page, f"Saved the mapping “{MAPPING_NAME}”")
    expect(keyed(page, "import_mapping_name").get_by_role("combobox")).to_have_value(MAPPING_NAME, timeout=TIMEOUT)
    page.keyboard.press("Escape")  # close the popover if it is still open
    for theirs, ours in MAPPING.items():  # the saved mapping, read back into the table
        expect(file_column(page, theirs).locator("td").last).to_have_text(ours, timeout=TIMEOUT)

    # 6. Checked again: clean, two risks would be added, and Import is enabled.
    click(page, keyed(page, "import_check").get_by_role("button", name="Check the file"))
    expect_flash(page, "The file passed every check")
    expect_metric(page, "Risks would be added", "2")
    expect_metric(page, "Risks would be changed", "0")
    expect(table_with(page, "Problem")).to_have_count(0)
    expect(import_button).to_be_enabled(timeout=TIMEOUT)
    expect_no_exception(page)
    screenshot(page, "import")

    # 7. Import: the new proposal's register, with the accents intact and the levels computed.
    click(page, import_button)
    expect(page.get_by_role("heading", name=f"Risk register: {TITLE}")).to_be_visible(timeout=TIMEOUT)
    expect(page).to_have_url(re.compile(r"/register\?(.*&)?proposal=\d+"), timeout=TIMEOUT)
    expect(page.get_by_test_id("stAlert").locator("p").filter(has_text=re.compile("^Imported"))).to_have_text(
        f"Imported {FILE_NAME} into “{TITLE}”: 2 risks added, 0 changed, 0 unchanged.", timeout=TIMEOUT)
    expect_metric(page, "Risks shown", "2 of 2")
    expect_signed_in(page, IMPORTER[1], IMPORTER[0], "facilitator")  # the importer is on the new proposal's team
    expect_no_exception(page)
    for risk_id, _, category, title, likelihood, impact, level in EXPECTED:
        values = register_values(page, risk_id)
        assert values["Title"] == title, values
        assert values["Category"] == category, values
        assert (values["Inherent likelihood"], values["Inherent impact"]) == (str(likelihood), str(impact)), values
        assert values["Inherent level"] == level, values

    # 8. A bad file with the same columns: the saved mapping comes by itself; the check finds row 3 and refuses.
    go_to(page, "Import")
    upload(page, "county_ledger_q2.csv", cp1252_csv(BAD_ROWS))
    expect(keyed(page, "import_mapping_name").get_by_role("combobox")).to_have_value(MAPPING_NAME, timeout=TIMEOUT)
    expect(mapping_warning(page)).to_have_count(0)
    click(page, keyed(page, "import_check").get_by_role("button", name="Check the file"))
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("2 problems found: nothing was written",
                                                                       timeout=TIMEOUT)
    problems = table_with(page, "Problem")
    expect(problems.locator("tbody tr")).to_have_count(2, timeout=TIMEOUT)
    bad_category = table_row(problems, "got 'Legl'")
    expect(bad_category.locator("td")).to_have_text(["3", "category",
                                                     re.compile(r"expected one of legal, .* \(or its name: Legal")])
    bad_score = table_row(problems, "got 6")
    expect(bad_score.locator("td")).to_have_text(["3", "inherent_likelihood",
                                                  re.compile("expected a whole number from 1 to 5")])
    expect(keyed(page, "import_go").get_by_role("button", name="Import")).to_be_disabled()
    expect_no_exception(page)

    # And in the database: one proposal with the two risks, scored as agreed by the importer, every change under
    # the importer's account (the only other actor is the operator who made the accounts).
    db = sqlite3.connect(f"file:{import_server.db_path}?mode=ro", uri=True)
    try:
        proposals = db.execute("SELECT title FROM proposal").fetchall()
        risks = db.execute("SELECT r.risk_id, r.category, r.title, c.likelihood, c.impact FROM risk r "
                           "JOIN consensus c ON c.risk_pk = r.id AND c.phase = 'inherent' ORDER BY r.risk_id"
                           ).fetchall()
        mappings = db.execute("SELECT name, updated_by FROM column_mapping").fetchall()
        events = db.execute("SELECT DISTINCT actor, entity FROM audit_event").fetchall()
        team = db.execute("SELECT t.name, t.team_role, a.username FROM team_member t "
                          "JOIN account a ON a.id = t.account_id").fetchall()
    finally:
        db.close()
    assert proposals == [(TITLE,)]
    assert risks == [(risk_id, category, title, lik, imp) for risk_id, category, _, title, lik, imp, _ in EXPECTED]
    assert mappings == [(MAPPING_NAME, IMPORTER[0])]
    # the work is the importer's; the operator made the accounts and nothing else; the sign-in itself is recorded
    # under the address it came from (risk.accounts.authenticate)
    work = {actor for actor, entity in events if entity not in SIGN_IN_BOOKKEEPING}
    assert work == {IMPORTER[0]}, events
    assert {entity for actor, entity in events if actor == SYSTEM} == {"account"}, events
    assert all(actor.startswith("sign-in from ") for actor, _ in events if actor not in (SYSTEM, IMPORTER[0])), events
    assert team == [(IMPORTER[1], "facilitator", IMPORTER[0])]
