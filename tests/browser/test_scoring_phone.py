"""An assessor scores on a phone (docs/USER_GUIDE.md, Running a workshop): the demo's 911 proposal has a blind
round open; Priya Raman, an assessor of the City of Brookfield, signs in on a phone-sized screen, sees one risk at
a time, taps a likelihood and an impact, saves, and the panel moves on to the next risk she has not scored; her
scores are stored once each, a double tap included. Saves docs/screenshots/scoring-phone.png."""

from __future__ import annotations

import re

import pytest

from .conftest import CHROMIUM, PASSWORD, SCREENSHOTS, SYSTEM

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402  (after the skip: dev-only)

from .ui import TIMEOUT, click, expect_flash, keyed_like, settle, sign_in  # noqa: E402

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def open_round(demo_server):
    """An inherent round open on the demo's 911 proposal (all 16 risks)."""
    from risk.db import make_engine
    from risk.services import rounds as rs

    engine = make_engine(f"sqlite:///{demo_server.db_path}")
    round_id = rs.open_round(engine, actor=SYSTEM, proposal_id=1, phase="inherent")
    yield engine, round_id
    engine.dispose()


def test_an_assessor_scores_one_risk_at_a_time_on_a_phone(browser, demo_server, open_round):
    from risk.services import proposals as ps
    from risk.services import rounds as rs

    engine, round_id = open_round
    priya = next(m for m in ps.team(engine, 1) if m.name == "Priya Raman")
    risks = ps.list_risks(engine, 1)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    context.set_default_timeout(TIMEOUT)
    try:
        page = context.new_page()
        sign_in(page, demo_server.url, "priya", PASSWORD)
        page.goto(f"{demo_server.url}/workshop?proposal=1")
        settle(page)
        expect(page.get_by_test_id("stProgress")).to_contain_text(f"You have scored 0 of {len(risks)} risks",
                                                                  timeout=TIMEOUT)
        expect(page.get_by_test_id("stForm")).to_have_count(1)
        for risk, (likelihood, impact) in zip(risks[:2], ((2, 4), (3, 3)), strict=True):
            form = page.get_by_test_id("stForm")
            expect(form).to_contain_text(risk.risk_id, timeout=TIMEOUT)  # the panel brought it up by itself
            for key, score in (("b_l_", likelihood), ("b_i_", impact)):
                button = keyed_like(form, key).get_by_role("radio", name=re.compile(f"^{score} "))
                button.tap()
                expect(button).to_have_attribute("aria-checked", "true", timeout=TIMEOUT)
            if risk is risks[0]:  # the whole page on a phone, from its title to the save button
                height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
                page.set_viewport_size({"width": PHONE["width"], "height": max(height, PHONE["height"])})
                page.wait_for_timeout(800)
                page.screenshot(path=SCREENSHOTS / "scoring-phone.png", full_page=True)
                page.set_viewport_size(PHONE)
            click(page, form.get_by_role("button", name="Save my score"))
            expect_flash(page, f"Saved your score for {risk.risk_id}.")
        expect(page.get_by_test_id("stProgress")).to_contain_text(f"You have scored 2 of {len(risks)} risks",
                                                                  timeout=TIMEOUT)
        form = page.get_by_test_id("stForm")
        expect(form).to_contain_text(risks[2].risk_id)
        # a double tap on "Save my score": one score, on the risk that was on screen; the second tap (sent before the
        # screen moved on) neither saves its choices on the next risk nor carries them over to its buttons
        for key, score in (("b_l_", 5), ("b_i_", 1)):
            button = keyed_like(form, key).get_by_role("radio", name=re.compile(f"^{score} "))
            button.tap()
            expect(button).to_have_attribute("aria-checked", "true", timeout=TIMEOUT)
        form.get_by_role("button", name="Save my score").dblclick()
        expect(form).to_contain_text(risks[3].risk_id, timeout=TIMEOUT)
        settle(page)
        page.wait_for_timeout(1500)  # time for a second save, had there been one
        expect(keyed_like(form, "b_l_").get_by_role("radio", checked=True)).to_have_count(0)
        expect(keyed_like(form, "b_i_").get_by_role("radio", checked=True)).to_have_count(0)
        assert rs.my_scores(engine, round_id=round_id, assessor_id=priya.id) == {
            risks[0].id: (2, 4, ""), risks[1].id: (3, 3, ""), risks[2].id: (5, 1, "")}
        expect(page.get_by_test_id("stProgress")).to_contain_text(f"You have scored 3 of {len(risks)} risks")
        expect(form).to_contain_text(risks[3].risk_id)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sideways
    finally:
        context.close()
