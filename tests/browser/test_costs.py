"""Who pays for what, in a real browser: the facilitator of the demo's 911 proposal opens its Costs page, sees the
methods side by side (the chart drawn, the chosen one marked in the table) and the Profile's risk in money, then
records another split with its reason and finds it recorded after a reload. Saves docs/screenshots/costs.png and
quantified.png."""

from __future__ import annotations

import re

import pytest

from .conftest import CHROMIUM, DEMO_ACCOUNTS, PASSWORD, SCREENSHOTS, VIEWPORT

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import Locator, Page, expect  # noqa: E402  (after the skip: dev-only)

from .ui import (  # noqa: E402
    TIMEOUT,
    click,
    expect_flash,
    expect_signed_in,
    keyed,
    nav,
    settle,
    sign_in,
    table_with,
)

pytestmark = pytest.mark.browser

RATIONALE = "Population is the figure every council already budgets by."


def drawn_charts(page: Page, at_least: int) -> int:
    """How many charts hold a drawing (Vega's SVG or canvas), once at least `at_least` do."""
    page.wait_for_function(
        "n => [...document.querySelectorAll(\"[data-testid='stVegaLiteChart']\")]"
        ".filter(e => e.querySelector('svg, canvas')).length >= n", arg=at_least, timeout=TIMEOUT)
    charts = page.get_by_test_id("stVegaLiteChart")
    return sum(1 for k in range(charts.count()) if charts.nth(k).locator("svg, canvas").count())


def methods_table(page: Page) -> Locator:
    """The table of every method's shares (a static table: its cells' text is the page's)."""
    return page.get_by_test_id("stTable").filter(has=page.locator("th", has_text="Method"))


def shot(page: Page, name: str, top: Locator, bottom: Locator) -> None:
    """docs/screenshots/<name>.png: the page 1440 px wide from the top of `top` to the bottom of `bottom`.
    Streamlit scrolls inside <main>, so the viewport is made as tall as the content for the shot, then put back."""
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(height, VIEWPORT["height"])})
    page.wait_for_timeout(1500)  # layout and charts follow the new size
    try:
        first, last = top.bounding_box(), bottom.bounding_box()
        y = max(0, first["y"] - 4)
        clip = {"x": 0, "y": y, "width": VIEWPORT["width"], "height": last["y"] + last["height"] + 8 - y}
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True, clip=clip)
    finally:
        page.set_viewport_size(VIEWPORT)
        page.wait_for_timeout(300)


def test_the_facilitator_compares_the_methods_records_a_split_and_finds_it_after_a_reload(browser, demo_server):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    try:
        sign_in(page, demo_server.url, "dana", PASSWORD)
        page.goto(f"{demo_server.url}/costs?proposal=1")
        settle(page)
        expect_signed_in(page, DEMO_ACCOUNTS["dana"][0], "dana", "facilitator", "partner government")
        expect(nav(page).get_by_role("link", name="Costs")).to_be_visible()
        expect(page.get_by_text("The chosen split: Blend: 54% calls 911, 23% assessed value, 23% population")
               ).to_be_visible(timeout=TIMEOUT)
        assert drawn_charts(page, 2) >= 2  # going alone against sharing, and the methods side by side
        side = methods_table(page)
        expect(side.locator("tr").filter(has_text="(chosen)")).to_have_count(1, timeout=TIMEOUT)
        expect(side.locator("tr").filter(has_text="(chosen)")).to_contain_text("Blend: 54% calls 911")
        expect(side.locator("tr").filter(has_text="Equal shares")).to_contain_text("9,670,000.00")
        assert page.get_by_test_id("stException").count() == 0
        shot(page, "costs", page.get_by_role("heading", name=re.compile("^Costs: Tri-County")), side)

        # the profile's risk in money, as the demo has it (before the split below changes the partners' part)
        page.goto(f"{demo_server.url}/profile?proposal=1")
        settle(page)
        money = page.get_by_role("heading", name="Risk in money")
        expect(money).to_be_visible(timeout=TIMEOUT)
        expect(page.get_by_test_id("stMetricLabel").filter(has_text="Expected loss a year (USD)")).to_be_visible(
            timeout=TIMEOUT)
        assert drawn_charts(page, 9) >= 9  # the profile's own charts and the three of risk in money
        assert page.get_by_test_id("stException").count() == 0
        shot(page, "quantified", money, table_with(page, "Events a year"))

        page.goto(f"{demo_server.url}/costs?proposal=1")
        settle(page)

        box = keyed(page, "alloc_kind_1_0").get_by_role("combobox")
        box.scroll_into_view_if_needed()
        box.click()
        page.get_by_role("option", name="By population", exact=True).click()
        settle(page)
        rationale = keyed(page, "alloc_rationale_1_0").locator("textarea")
        rationale.fill(RATIONALE)
        rationale.press("Tab")
        settle(page)
        click(page, page.get_by_role("button", name="Record this split"))
        expect_flash(page, "Recorded the split: By population.")

        page.reload()
        settle(page)
        expect(page.get_by_text("The chosen split: By population")).to_be_visible(timeout=TIMEOUT)
        expect(page.get_by_text(RATIONALE)).to_be_visible(timeout=TIMEOUT)
        expect(page.get_by_text(re.compile(r"^Chosen by Dana Whitfield \(dana\) on \d+ \w+ \d{4}"))).to_be_visible()
        expect(methods_table(page).locator("tr").filter(has_text="(chosen)")).to_contain_text("By population")

    finally:
        context.close()
