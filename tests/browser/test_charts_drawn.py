"""On the demo portfolio, the charts are really drawn in a browser: the portfolio, profile and review pages
together show at least eight, each rendered by Vega (an SVG or canvas inside the chart element). Signed in as the
facilitator of the first demo proposal, a county deputy manager."""

from __future__ import annotations

import pytest

from .conftest import CHROMIUM, DEMO_ACCOUNTS, PASSWORD, SCREENSHOTS, VIEWPORT

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM.exists(),
                                                      reason=f"Chromium not found at {CHROMIUM}")]

WAIT_MS = 30_000


def settle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=WAIT_MS)
    page.wait_for_timeout(300)


def drawn_charts(page, expected: int) -> int:
    """How many chart elements hold a drawing, once at least `expected` of them do."""
    charts = page.locator("[data-testid='stVegaLiteChart']")
    page.wait_for_function(
        "n => [...document.querySelectorAll(\"[data-testid='stVegaLiteChart']\")]"
        ".filter(e => e.querySelector('svg, canvas')).length >= n", arg=expected, timeout=WAIT_MS)
    return sum(1 for k in range(charts.count()) if charts.nth(k).locator("svg, canvas").count())


def test_at_least_eight_charts_are_drawn_across_the_app_on_the_demo_portfolio(browser, demo_server):
    from .ui import expect_signed_in, sign_in

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in(page, demo_server.url, "dana", PASSWORD)
        counts = {}
        for path, expected in (("/", 1), ("/profile?proposal=1", 7), ("/review?proposal=1", 4)):
            page.goto(demo_server.url + path)
            settle(page)
            expect_signed_in(page, DEMO_ACCOUNTS["dana"][0], "dana")
            counts[path] = drawn_charts(page, expected)
            assert page.get_by_test_id("stException").count() == 0, path
        assert counts["/"] >= 1 and counts["/profile?proposal=1"] >= 7 and counts["/review?proposal=1"] >= 4
        assert sum(counts.values()) >= 8
        # printed from the browser, the review keeps its content and drops the sidebar and the buttons
        page.emulate_media(media="print")
        assert not page.get_by_test_id("stSidebar").is_visible()
        assert not page.get_by_test_id("stDownloadButton").first.is_visible()
        assert page.get_by_test_id("stVegaLiteChart").first.is_visible()
        page.emulate_media(media="screen")
        # the review page, as the county managers see it, for the documentation
        height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)})
        page.wait_for_timeout(800)
        page.screenshot(path=str(SCREENSHOTS / "review.png"), full_page=True)
    finally:
        context.close()
