"""Two governments decide, in real browsers (docs/DECISIONS.md): the reviewers of Harmon County and of the City of
Brookfield, each signed in in a browser of their own, record their decisions on the demo's 911 proposal from its
review page; then the facilitator records a consensus that moves a level, and both decisions show as stale with
what changed, for both reviewers, after a reload. Saves docs/screenshots/decisions.png."""

from __future__ import annotations

import pytest

from .conftest import CHROMIUM, PASSWORD, SCREENSHOTS, SYSTEM, VIEWPORT

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402  (after the skip: dev-only)

from .ui import TIMEOUT, click, edit_cell, settle, sign_in  # noqa: E402

pytestmark = pytest.mark.browser

REVIEWERS = {"karen": ("Karen Holt", "Harmon County"), "luis": ("Luis Ortega", "City of Brookfield")}


@pytest.fixture(scope="module")
def reviewers(demo_server):
    """The two governments' reviewers on the 911 proposal's team, each with an account."""
    from risk import accounts
    from risk.db import make_engine
    from risk.services import proposals as ps

    engine = make_engine(f"sqlite:///{demo_server.db_path}")
    partners = {p.name: p.id for p, _ in ps.proposal_partners(engine, 1)}
    for username, (name, partner) in REVIEWERS.items():
        ps.add_team_member(engine, actor=SYSTEM, proposal_id=1, name=name, partner_id=partners[partner],
                           team_role="reviewer")
        accounts.create_account(engine, actor=SYSTEM, username=username, full_name=name, partner=partner,
                                password=PASSWORD)
    yield engine
    engine.dispose()


def decide(page: Page, url: str, decision: str, rationale: str, conditions: str = "") -> None:
    page.goto(f"{url}/review?proposal=1")
    settle(page)
    form = page.get_by_test_id("stForm")
    expect(form).to_be_visible(timeout=TIMEOUT)
    form.get_by_text(decision, exact=True).click()
    form.get_by_label("Rationale").fill(rationale)
    if conditions:  # the first row of the conditions table, its Condition column
        edit_cell(page, form.get_by_test_id("stDataFrame"), 0, 60, conditions, row_height=35)
    click(page, form.get_by_role("button", name="Record the decision"))
    settle(page)


def test_two_governments_decide_and_a_later_change_makes_both_decisions_stale(browser, demo_server, reviewers):
    from risk.services import decisions as ds
    from risk.services import proposals as ps
    from risk.services import rounds as rs

    pages = {}
    contexts = []
    try:
        for username in REVIEWERS:
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(TIMEOUT)
            contexts.append(context)
            pages[username] = context.new_page()
            sign_in(pages[username], demo_server.url, username, PASSWORD)
        decide(pages["karen"], demo_server.url, "Approved", "Board of commissioners, 4-1")
        decide(pages["luis"], demo_server.url, "Approved with conditions", "City council, 5-2",
               "Quarterly service report to the council")
        standing = {v.partner: v for v in ds.list_decisions(reviewers, 1)}
        assert standing["Harmon County"].decision == "approve" and standing["Harmon County"].by == "karen"
        assert standing["City of Brookfield"].conditions[0].text == "Quarterly service report to the council"
        for page in pages.values():
            page.reload()
            settle(page)
            expect(page.get_by_text("in with conditions: City of Brookfield")).to_be_visible(timeout=TIMEOUT)

        # the facilitator's consensus moves a risk's level: both decisions saw the earlier state
        risk = ps.list_risks(reviewers, 1)[0]
        rs.record_consensus(reviewers, actor=SYSTEM, risk_pk=risk.id, phase="residual", likelihood=5, impact=5,
                            rationale="The vendor went bankrupt")
        for page in pages.values():
            page.reload()
            settle(page)
            for partner in ("Harmon County", "City of Brookfield"):
                warning = page.get_by_test_id("stAlertContentWarning").filter(has_text=partner)
                expect(warning).to_contain_text(f"{risk.risk_id}: residual level", timeout=TIMEOUT)
        assert all(v.stale for v in ds.list_decisions(reviewers, 1) if v.decision)

        page = pages["karen"]
        page.get_by_text("What changed between two states of the assessment").click()
        settle(page)
        expect(page.get_by_test_id("stMetric").filter(has_text="Levels up")).to_contain_text("1")
        height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
        page.set_viewport_size({"width": VIEWPORT["width"], "height": max(height, VIEWPORT["height"])})
        page.wait_for_timeout(1500)
        top = page.get_by_role("heading", name="Each government's decision").bounding_box()
        page.screenshot(path=SCREENSHOTS / "decisions.png", full_page=True,
                        clip={"x": 0, "y": top["y"] - 8, "width": VIEWPORT["width"],
                              "height": height - top["y"] + 8})
    finally:
        for context in contexts:
            context.close()
