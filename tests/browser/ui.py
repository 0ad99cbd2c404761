"""What the browser tests share: waiting for a Streamlit rerun, finding widgets by key, and reading the grids.

Imported by the test modules after they have skipped when Chromium or Playwright is missing."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Locator, Page, expect

from .conftest import VIEWPORT

TIMEOUT = 30_000  # ms, for every expect: the machine's two cores are shared with other work


def settle(page: Page) -> None:
    """Wait until the rerun an action started has finished."""
    page.wait_for_timeout(300)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=TIMEOUT)
    page.wait_for_timeout(300)


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    expect(nav(page)).to_be_visible(timeout=TIMEOUT)
    settle(page)


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    """Sign in on the sign-in page (where the gate sends a browser without a session) and wait for the app."""
    page.goto(url)
    expect(page.get_by_label("Username")).to_be_visible(timeout=TIMEOUT)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(nav(page)).to_be_visible(timeout=TIMEOUT)
    settle(page)


def new_page(browser: Browser) -> Page:
    """A page in a browser context of its own: its own cookies, so its own sign-in (another person's browser)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT)
    return context.new_page()


def signed_in_page(browser: Browser, url: str, username: str, password: str) -> Page:
    """A new browser context, signed in as `username`, on `url` (where the sign-in page brings it back)."""
    page = new_page(browser)
    sign_in(page, url, username, password)
    return page


def expect_signed_in(page: Page, full_name: str, username: str, *roles: str) -> None:
    """The sidebar names the account signed in and, when `roles` are given, its roles on the proposal shown."""
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text(f"Signed in as {full_name} ({username})", timeout=TIMEOUT)
    if roles:
        expect(sidebar.get_by_test_id("stCaptionContainer").filter(has_text="On this proposal:")).to_have_text(
            f"On this proposal: {', '.join(roles)}", timeout=TIMEOUT)


def sign_out(page: Page) -> None:
    """The sidebar's Sign out, then the way back to the sign-in form."""
    click(page, page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out"))
    expect(page.get_by_text("You have signed out")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT)


def nav(page: Page) -> Locator:
    """The app's own page links in the sidebar (they carry the proposal in the address)."""
    return page.get_by_test_id("stSidebar").locator(".st-key-nav")


def keyed(page: Page | Locator, key: str) -> Locator:
    return page.locator(f".st-key-{key}")


def keyed_like(page: Page | Locator, *parts: str) -> Locator:
    """The widget whose key starts with parts[0] and contains the other parts: forms key their widgets by what they
    edit and by an instance token (`p_title_<token>`, `tpl_<proposal>_<template>`)."""
    return page.locator(f"[class*='st-key-{parts[0]}']" + "".join(f"[class*='{p}']" for p in parts[1:]))


def type_in(page: Page, key: str, text: str, rerun: bool = True) -> None:
    """Fill a text input or text area (its key, or the start of it followed by "_"); outside a form Tab sends the
    value (and reruns)."""
    field = (keyed_like(page, key) if key.endswith("_") else keyed(page, key)).locator("input, textarea")
    field.scroll_into_view_if_needed()
    field.fill(text)
    if rerun:
        field.press("Tab")
        settle(page)


def click(page: Page, button: Locator) -> None:
    button.scroll_into_view_if_needed()
    button.click()
    settle(page)


PATHS = {"Portfolio": "", "Proposal": "proposal", "Walkthrough": "walkthrough", "Workshop": "workshop",
         "Register": "register", "Profile": "profile", "Review": "review", "Import": "import_data"}


def nav_link(page: Page, title: str) -> Locator:
    return nav(page).locator(f"a[href^='{PATHS[title]}?'], a[href='{PATHS[title]}']").first


def go_to(page: Page, title: str) -> None:
    """Open a page from the sidebar's links, which keep ?proposal= in the address."""
    click(page, nav_link(page, title))
    expect(page).to_have_url(re.compile(rf"^https?://[^/]+/{PATHS[title]}(\?.*)?$"), timeout=TIMEOUT)
    settle(page)


def expect_flash(page: Page, text: str) -> None:
    expect(page.get_by_test_id("stAlert").filter(has_text=text).first).to_be_visible(timeout=TIMEOUT)


def expect_metric(page: Page, label: str, value: str) -> None:
    metric = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").filter(has_text=label))
    expect(metric.get_by_test_id("stMetricValue")).to_have_text(value, timeout=TIMEOUT)


def table_with(page: Page | Locator, column: str) -> Locator:
    """The st.dataframe or st.data_editor with a column `column`. A key on a dataframe puts no st-key class on
    it, and its cells are drawn on a canvas: their text is in the canvas's fallback <table>, which the role
    locators do not see."""
    return page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text=column))


def table_row(table: Locator, text: str) -> Locator:
    return table.locator("tbody tr").filter(has_text=text)


def register_values(page: Page, risk_id: str) -> dict[str, str]:
    """One row of the register, by column title. The grid renders only the columns in view, so the page is made
    wide enough for all of them for the read."""
    page.set_viewport_size({"width": 5200, "height": VIEWPORT["height"]})
    try:
        table = table_with(page, "Inherent level")
        expect(table.locator("th", has_text="Residual impact")).to_have_count(1, timeout=TIMEOUT)
        row = table_row(table, risk_id)
        expect(row).to_have_count(1, timeout=TIMEOUT)
        return dict(zip(table.locator("thead th").all_inner_texts(), row.locator("td").all_inner_texts(),
                        strict=True))
    finally:
        page.set_viewport_size(VIEWPORT)
        page.wait_for_timeout(300)


def open_cell_editor(page: Page, x: float, y: float, editor: Locator) -> None:
    """Open the editor of the grid cell at (x, y): a click selects the cell (and gives the grid the focus), then a
    double-click opens its editor. A double-click alone, while a button that started the last rerun still has the
    focus, only selects the cell, so it is tried again when the editor does not open."""
    for _ in range(3):
        page.mouse.click(x, y)
        page.wait_for_timeout(300)
        page.mouse.dblclick(x, y)
        try:
            expect(editor).to_be_focused(timeout=3_000)
            return
        except AssertionError:
            page.keyboard.press("Escape")
    expect(editor).to_be_focused(timeout=TIMEOUT)


def edit_cell(page: Page, grid: Locator, row: int, x_offset: float, text: str, row_height: float | None = None
              ) -> None:
    """Type `text` into the cell of data row `row` (0-based) at `x_offset` px from the grid's left edge: a click
    selects the cell, a double-click opens its editor (tried again when it does not open), Enter saves.
    `row_height`: the grid's row height in px when it is known (a grid with an "add row" line below its rows);
    otherwise measured from the grid's height and its rows."""
    canvas = grid.get_by_test_id("stDataFrameResizable")
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = canvas.bounding_box()
    assert box is not None
    header = grid.locator("thead tr").first
    rows = grid.locator("tbody tr").count()
    row_height = row_height or ((box["height"] - 2) / (rows + 1) if rows < 10 else 35)
    assert header.count() == 1
    x, y = box["x"] + x_offset, box["y"] + row_height * (row + 1.5)
    editor = page.locator("#portal textarea, #portal input").first
    open_cell_editor(page, x, y, editor)
    editor.press("Control+a")
    if text:
        editor.press_sequentially(text)
    else:
        editor.press("Delete")
    # Enter at once after the last key could commit the cell before the grid took the typed value: the edit was
    # then dropped as no change (seen on a quiet machine, for every edit of a run)
    expect(editor).to_have_value(text)
    page.wait_for_timeout(200)
    editor.press("Enter")
    settle(page)
