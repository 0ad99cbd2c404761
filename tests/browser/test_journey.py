"""The main journey of a new user, in a real browser: an empty database, where the first person creates the
administrator account and is signed in; a new proposal (its creator becomes its facilitator) with three partner
governments and a team; an account for an assessor, added on the Accounts page and linked to him on the team by
his name and partner government; a walkthrough of the five categories in which the assessor, signed in from his
own browser, adds a catalogue risk and an own risk each and the facilitator scores both; then the register and the
profile, and everything still there, still signed in, after a reload. Saves docs/screenshots/*.png.

Widgets are found by the `st-key-<key>` class Streamlit puts on every keyed widget; every action that makes
Streamlit rerun is followed by `settle()`."""

from __future__ import annotations

import re
import sqlite3

import pytest

from .conftest import CHROMIUM, PASSWORD, SCREENSHOTS, VIEWPORT

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import Browser, Locator, Page, expect  # noqa: E402  (after the skip: dev-only)

from .ui import (  # noqa: E402
    click,
    expect_flash,
    expect_metric,
    expect_signed_in,
    go_to,
    keyed,
    keyed_like,
    nav,
    settle,
    signed_in_page,
    table_with,
    type_in,
)

pytestmark = pytest.mark.browser

TIMEOUT = 20_000  # ms, for every expect
FIRST_USER = ("dana", "Dana Whitfield")  # username, full name: the administrator account made on the first run
TITLE = "Tri-Town Shared GIS"
PARTNERS = [  # name, kind, population, IT budget, leads or hosts
    ("Town of Ashford", "city", 12_400, 450_000, True),
    ("Town of Bexley", "city", 8_600, 310_000, False),
    ("Carrow Valley School District", "district", 5_300, 120_000, False),
]
# the team: the first user is on it already, as the facilitator who created the proposal (with no partner
# government: an administrator's account has none); the others are added. name, partner, role, expertise
CREATOR = (FIRST_USER[1], None, "facilitator", "")
TEAM = [
    ("Raj Patel", "Town of Bexley", "assessor", "IT director"),
    ("Maria Gomez", "Carrow Valley School District", "assessor", "Records officer"),
]
ASSESSOR = ("raj", "Raj Patel", "Town of Bexley")  # the account the administrator adds for him: username, name,
# partner government. He adds the risks of every category from his own browser; the facilitator scores them.
# category, label on screen, risk-id prefix, catalogue template, own risk, scores (inherent L, I, residual L, I)
# of the catalogue risk and of the own risk
WALK = [
    ("legal", "Legal", "LEG", "T-LEG-02",
     ("Base map licence covers the host only", "the county base map licence names only the Town of Ashford",
      "a licence audit by the map vendor", "back-fees and a forced re-licensing for the other two partners"),
     [(4, 4, 2, 3), (3, 5, 2, 4)]),
    ("operational", "Operational", "OPS", "T-OPS-01",
     ("One GIS analyst holds all the know-how", "the shared parcel layer is maintained by a single analyst",
      "the analyst leaves or is out for months", "stale parcel data in permits and 911 addressing"),
     [(4, 3, 3, 2), (5, 4, 3, 3)]),
    ("financial", "Financial", "FIN", "T-FIN-01",
     ("Aerial imagery refresh not budgeted", "the cost formula covers licences but not the imagery refresh",
      "the five-year imagery refresh comes due", "an unplanned bill the smaller partners cannot absorb"),
     [(3, 3, 2, 2), (4, 5, 4, 4)]),  # the imagery stays High after controls: over the Cautious appetite
    ("reputational", "Reputational", "REP", "T-REP-01",
     ("Public map shows wrong flood zones", "flood-zone layers from three towns are merged by hand",
      "a resident finds their property in the wrong zone on the public map", "press coverage and lost trust"),
     [(2, 4, 1, 3), (3, 3, 2, 2)]),
    ("societal", "Societal", "SOC", "T-SOC-01",
     ("Paper-only residents lose access", "permit maps move online-only on the shared portal",
      "residents without internet cannot see zoning maps", "unequal access to public information"),
     [(3, 4, 2, 3), (2, 2, 1, 2)]),
]
RISKS_TOTAL = 2 * len(WALK)
RISK_IDS = [f"{prefix}-0{k}" for _, _, prefix, *_ in WALK for k in (1, 2)]
OVER_APPETITE = ["FIN-02"]  # residual 4×4 is High on the default matrix; every appetite is Cautious (Moderate)


# --- helpers ----------------------------------------------------------------------------------------

def pick(page: Page, combobox: Locator, option: str | re.Pattern, rerun: bool = True) -> None:
    """Open a selectbox (a react-aria combobox in Streamlit 1.67) and click one of its options."""
    combobox.scroll_into_view_if_needed()
    combobox.click()
    page.get_by_role("option", name=option).click()
    if rerun:
        settle(page)


def choose(page: Page, key: str, option: str | re.Pattern, rerun: bool = True) -> None:
    """Pick in the selectbox keyed `key` (or whose key starts with `key` when it ends with "_")."""
    box = keyed_like(page, key) if key.endswith("_") else keyed(page, key)
    pick(page, box.get_by_role("combobox"), option, rerun)


def create_administrator(page: Page, url: str, username: str, full_name: str) -> None:
    """On an empty database the first page is the form that creates the administrator account, who is then signed
    in."""
    page.goto(url)
    create = page.get_by_role("button", name="Create the administrator account")
    expect(create).to_be_visible(timeout=TIMEOUT)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Full name").fill(full_name)
    page.get_by_label("Password").fill(PASSWORD)
    create.click()
    expect(nav(page)).to_be_visible(timeout=30_000)
    settle(page)


def add_account(page: Page, username: str, full_name: str, partner: str) -> None:
    """On the Accounts page (administrators only): a new account with a password."""
    form = page.get_by_test_id("stForm").filter(has_text="Add an account")
    expect(form).to_be_visible(timeout=TIMEOUT)
    form.get_by_label("Username", exact=True).fill(username)
    form.get_by_label("Full name", exact=True).fill(full_name)
    pick(page, form.get_by_role("combobox", name="Partner government"), partner, rerun=False)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    click(page, form.get_by_role("button", name="Add the account"))
    expect_flash(page, f"Account {username} added.")


def expect_no_error(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def screenshot(page: Page, name: str, full_page: bool = True) -> None:
    """Save docs/screenshots/<name>.png. Streamlit scrolls inside <main>, so for a full page the viewport is made
    as tall as the content for the shot, then put back."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if not full_page:
        page.screenshot(path=path)
        return
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, VIEWPORT["height"]), 6000)})
    page.wait_for_timeout(800)  # layout and charts follow the new size
    try:
        page.screenshot(path=path, full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)
        page.wait_for_timeout(300)


def scroll_to_top(page: Page, element: Locator) -> None:
    """Scroll Streamlit's main area so that `element` sits just under the header."""
    element.scroll_into_view_if_needed()
    element.evaluate("e => document.querySelector(\"[data-testid='stMain']\")"
                     ".scrollBy(0, e.getBoundingClientRect().top - 70)")
    page.wait_for_timeout(300)


def risk_card(page: Page, risk_id: str) -> Locator:
    return page.get_by_test_id("stExpander").filter(has=page.locator("summary", has_text=risk_id))


def walkthrough_step(page: Page, number: int, label: str) -> None:
    """Open the Walkthrough from the sidebar: it opens on the step the team is at."""
    go_to(page, "Walkthrough")
    expect(page.get_by_role("heading", name=f"{number}. {label} risks")).to_be_visible(timeout=TIMEOUT)


def score_risk(page: Page, risk_id: str, scores: tuple[int, int, int, int]) -> None:
    """Open the risk's card, choose the four agreed scores and save them."""
    card = risk_card(page, risk_id)
    expect(card).to_have_count(1, timeout=TIMEOUT)
    if card.locator("details[open]").count() == 0:
        click(page, card.locator("summary"))
    labels = ["Inherent likelihood (before controls)", "Inherent impact", "Residual likelihood (with controls)",
              "Residual impact"]
    for label, score in zip(labels, scores, strict=True):
        pick(page, card.get_by_role("combobox", name=label, exact=True), re.compile(f"^{score} "), rerun=False)
    click(page, card.get_by_role("button", name="Save", exact=True))
    expect_flash(page, f"Saved {risk_id}.")
    il, ii, rl, ri = scores
    expect(risk_card(page, risk_id).locator("summary")).to_contain_text(
        re.compile(rf"inherent .+ \({il}×{ii}, agreed\), residual .+ \({rl}×{ri}, agreed\)"), timeout=TIMEOUT)


# --- the journey ------------------------------------------------------------------------------------

def test_new_user_journey(page: Page, browser: Browser, app_server) -> None:
    # 1. The empty database: the first person creates the administrator account and is signed in; a welcome with
    # the two ways to start.
    create_administrator(page, app_server.url, *FIRST_USER)
    expect(page.get_by_role("heading", name="Welcome", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(keyed(page, "load_demo").get_by_role("button", name="Load the demo portfolio")).to_be_visible()
    expect(keyed(page, "new_proposal").get_by_role("button", name="New proposal")).to_be_visible()
    expect_signed_in(page, FIRST_USER[1], FIRST_USER[0])
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stCaptionContainer")).to_have_text("Administrator")
    expect_no_error(page)
    screenshot(page, "welcome")

    # 2. Create the proposal, as the account signed in: its creator becomes its facilitator.
    click(page, keyed(page, "new_proposal").get_by_role("button"))
    expect(page.get_by_role("heading", name="New proposal", exact=True)).to_be_visible(timeout=TIMEOUT)
    type_in(page, "p_title_", TITLE, rerun=False)
    choose(page, "p_service_", "GIS", rerun=False)
    click(page, page.get_by_role("button", name="Create proposal"))
    expect_flash(page, f"Created “{TITLE}”")
    expect(page.get_by_role("heading", name=TITLE, exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(keyed(page, "sidebar_proposal").get_by_role("combobox")).to_have_value(TITLE, timeout=TIMEOUT)
    expect_signed_in(page, FIRST_USER[1], FIRST_USER[0], "administrator", "facilitator")

    # 3. Three new partner governments, then the team: one assessor from each of the other two partners.
    for name, kind, population, budget, lead in PARTNERS:
        type_in(page, "partner_name_", name, rerun=False)
        choose(page, "partner_kind_", kind, rerun=False)
        type_in(page, "partner_population_", str(population), rerun=False)
        type_in(page, "partner_budget_", str(budget), rerun=False)
        if lead:
            keyed_like(page, "partner_lead_").locator("label").click()
        click(page, page.get_by_role("button", name="Add partner"))
        expect_flash(page, "Added the partner government.")
        expect_no_error(page)
    partners_table = page.get_by_role("tabpanel").get_by_test_id("stDataFrame")
    expect(partners_table).to_be_visible(timeout=TIMEOUT)
    for name, *_ in PARTNERS:
        expect(partners_table).to_contain_text(name, timeout=TIMEOUT)

    click(page, page.get_by_role("tab", name="Assessment team"))
    team_table = page.get_by_role("tabpanel").get_by_test_id("stDataFrame")
    expect(team_table).to_contain_text(FIRST_USER[1], timeout=TIMEOUT)  # the creator, already on the team
    for name, partner, role, expertise in TEAM:
        type_in(page, "member_name_", name, rerun=False)
        choose(page, "member_partner_", partner, rerun=False)
        choose(page, "member_role_", role, rerun=False)
        type_in(page, "member_expertise_", expertise, rerun=False)
        click(page, page.get_by_role("button", name="Add to the team"))
        expect_flash(page, f"Added {name} to the team.")
        expect_no_error(page)
    expect(page.get_by_role("tab", name="Assessment team")).to_have_attribute("aria-selected", "true")
    for name, *_ in [CREATOR, *TEAM]:
        expect(team_table).to_contain_text(name, timeout=TIMEOUT)

    # 4. The administrator adds the assessor's account; it is linked to him on the team by his name and partner.
    click(page, nav(page).get_by_role("link", name="Accounts"))
    expect(page.get_by_role("heading", name="Accounts", exact=True)).to_be_visible(timeout=TIMEOUT)
    add_account(page, *ASSESSOR)
    expect(table_with(page, "Has a password")).to_contain_text(ASSESSOR[0], timeout=TIMEOUT)
    expect_no_error(page)
    pick(page, keyed(page, "sidebar_proposal").get_by_role("combobox"), TITLE)  # the Accounts page has none
    go_to(page, "Proposal")
    click(page, page.get_by_role("tab", name="Assessment team"))
    raj_row = team_table.locator("tbody tr").filter(has_text=ASSESSOR[1])
    expect(raj_row).to_contain_text(ASSESSOR[0], timeout=TIMEOUT)  # "Signs in as"
    screenshot(page, "proposal")

    # 5. The walkthrough: the assessor, signed in from his own browser, adds a catalogue risk and an own risk in
    # each category; the facilitator scores both, then moves the team to the next step.
    raj = signed_in_page(browser, f"{app_server.url}/?proposal=1", ASSESSOR[0], PASSWORD)
    try:
        walk(page, raj)
        register_and_profile(raj)
        after_a_reload(raj)
    finally:
        raj.context.close()
    check_database(app_server)


def walk(page: Page, raj: Page) -> None:
    expect_signed_in(raj, ASSESSOR[1], ASSESSOR[0], "assessor", "partner government")
    expect(keyed(raj, "sidebar_proposal").get_by_role("combobox")).to_have_value(TITLE, timeout=TIMEOUT)
    for number, (category, label, prefix, template, own, scores) in enumerate(WALK, start=1):
        walkthrough_step(raj, number, label)
        expect(raj.get_by_test_id("stProgress")).to_contain_text(f"{number - 1} of 5 categories done",
                                                                 timeout=TIMEOUT)
        click(raj, keyed_like(raj, "tpl_", f"_{template}").get_by_role("button", name="Add"))
        expect(keyed_like(raj, "tpl_", f"_{template}").get_by_role("button", name="Added")).to_be_disabled(
            timeout=TIMEOUT)

        own_title, cause, event, consequence = own
        for field, text in zip(("title", "cause", "event", "consequence"), own, strict=True):
            type_in(raj, f"own_{field}_", text)
        expect(raj.get_by_test_id("stAlert").filter(has_text=f"Because {cause}, {event} may occur")).to_be_visible(
            timeout=TIMEOUT)
        click(raj, keyed_like(raj, "own_add_").get_by_role("button"))
        expect_flash(raj, f"Added “{own_title}”.")
        expect(keyed_like(raj, "own_title_").locator("input")).to_have_value("", timeout=TIMEOUT)
        expect(keyed_like(raj, "own_cause_").locator("textarea")).to_have_value("", timeout=TIMEOUT)
        expect(raj.get_by_role("heading", name=f"{label} risks of this proposal (2)")).to_be_visible(
            timeout=TIMEOUT)
        expect_no_error(raj)

        walkthrough_step(page, number, label)  # the facilitator's screen, showing what the assessor added
        expect(page.get_by_role("heading", name=f"{label} risks of this proposal (2)")).to_be_visible(
            timeout=TIMEOUT)
        for k, risk_scores in enumerate(scores, start=1):
            score_risk(page, f"{prefix}-0{k}", risk_scores)
            if category == "operational" and k == 1:
                scroll_to_top(page, page.get_by_role("heading", name=f"{label} risks of this proposal"))
                screenshot(page, "walkthrough", full_page=False)
        expect_no_error(page)

        click(page, keyed_like(page, "walk_next_").get_by_role("button"))
        expect(page.get_by_test_id("stProgress")).to_contain_text(f"{number} of 5 categories done",
                                                                  timeout=TIMEOUT)

    expect(page.get_by_role("heading", name="Summary", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_test_id("stAlert").filter(has_text="Every category has been walked through and every risk is "
                                                 "scored")).to_be_visible(
        timeout=TIMEOUT)
    expect(page.get_by_test_id("stDataFrame")).to_contain_text(WALK[-1][4][0], timeout=TIMEOUT)
    screenshot(page, "summary")


def register_and_profile(page: Page) -> None:
    """What the assessor sees once the walkthrough is done."""
    # 6. The register lists every risk.
    go_to(page, "Register")
    expect(page.get_by_role("heading", name=f"Risk register: {TITLE}")).to_be_visible(timeout=TIMEOUT)
    expect_metric(page, "Risks shown", f"{RISKS_TOTAL} of {RISKS_TOTAL}")
    expect_metric(page, "Over appetite", str(len(OVER_APPETITE)))
    expect_no_error(page)
    screenshot(page, "register")

    # 7. The profile draws both heat maps.
    go_to(page, "Profile")
    expect(page.get_by_role("heading", name=f"Risk profile: {TITLE}")).to_be_visible(timeout=TIMEOUT)
    charts = page.get_by_test_id("stVegaLiteChart")
    # two heat maps, the category profile and movement (no target set, no blind rounds); no partner owns a risk
    # yet, which the page says instead of drawing an empty partner chart
    expect(charts).to_have_count(4, timeout=TIMEOUT)
    expect(page.get_by_text("Nothing to show yet: no risk has an owner partner")).to_be_visible(timeout=TIMEOUT)
    for title in ("Inherent risk (before controls)", "Residual risk (with controls)"):
        heatmap = charts.filter(has_text=title)
        expect(heatmap).to_have_count(1, timeout=TIMEOUT)
        expect(heatmap).to_be_visible()
        # each cell is an SVG mark labelled "...; Risks: n; Risk ids: A, B": every risk sits in one cell
        cells = heatmap.locator("[role='graphics-symbol'][aria-label*='Risk ids:']").evaluate_all(
            "marks => marks.map(m => m.getAttribute('aria-label'))")
        placed = sorted(i.strip() for c in cells for i in c.split("Risk ids:")[1].split(",") if i.strip())
        assert placed == sorted(RISK_IDS), (title, cells)
    expect_metric(page, "Scored after controls", str(RISKS_TOTAL))
    expect_metric(page, "Over appetite", str(len(OVER_APPETITE)))
    expect_no_error(page)
    screenshot(page, "profile")



def after_a_reload(page: Page) -> None:
    # 8. After a reload (a new Streamlit session) the address still names the proposal, and the cookie keeps the
    # assessor signed in.
    page.reload()
    expect(nav(page)).to_be_visible(timeout=30_000)
    settle(page)
    expect(page.get_by_role("heading", name=f"Risk profile: {TITLE}")).to_be_visible(timeout=TIMEOUT)
    expect(keyed(page, "sidebar_proposal").get_by_role("combobox")).to_have_value(TITLE, timeout=TIMEOUT)
    expect_signed_in(page, ASSESSOR[1], ASSESSOR[0], "assessor", "partner government")
    go_to(page, "Walkthrough")
    expect(page.get_by_test_id("stProgress")).to_contain_text("5 of 5 categories done", timeout=TIMEOUT)
    expect(page.get_by_role("heading", name="Summary", exact=True)).to_be_visible(timeout=TIMEOUT)
    go_to(page, "Register")
    expect_metric(page, "Risks shown", f"{RISKS_TOTAL} of {RISKS_TOTAL}")
    expect_no_error(page)


def check_database(app_server) -> None:
    # And in the database: every risk with an agreed inherent and residual score, every change under an account.
    db = sqlite3.connect(f"file:{app_server.db_path}?mode=ro", uri=True)
    try:
        proposals = db.execute("SELECT title, service_type FROM proposal").fetchall()
        partners = db.execute("SELECT p.name, p.kind, p.population, p.it_budget, pp.role = 'lead' FROM partner p "
                              "JOIN proposal_partner pp ON pp.partner_id = p.id ORDER BY p.id").fetchall()
        team = db.execute("SELECT t.name, p.name, t.team_role, t.expertise FROM team_member t "
                          "LEFT JOIN partner p ON p.id = t.partner_id ORDER BY t.id").fetchall()
        signs_in_as = db.execute("SELECT t.name, a.username FROM team_member t JOIN account a ON a.id = t.account_id "
                                 "ORDER BY t.id").fetchall()
        risks = db.execute("SELECT risk_id, category FROM risk ORDER BY risk_id").fetchall()
        consensus = db.execute("SELECT r.risk_id, c.phase, c.likelihood, c.impact, c.recorded_by "
                               "FROM consensus c JOIN risk r ON r.id = c.risk_pk").fetchall()
        events = db.execute("SELECT actor, action, entity FROM audit_event").fetchall()
    finally:
        db.close()
    assert proposals == [(TITLE, "GIS")]
    assert partners == [(n, k, pop, float(budget), int(lead)) for n, k, pop, budget, lead in PARTNERS]
    assert team == [CREATOR, *TEAM]
    assert signs_in_as == [(FIRST_USER[1], FIRST_USER[0]), (ASSESSOR[1], ASSESSOR[0])]
    assert risks == sorted((f"{prefix}-0{k}", category) for category, _, prefix, *_ in WALK for k in (1, 2))
    assert len(consensus) == 2 * RISKS_TOTAL
    expected_scores = {}
    for _, _, prefix, _, _, scores in WALK:
        for k, (il, ii, rl, ri) in enumerate(scores, start=1):
            expected_scores[(f"{prefix}-0{k}", "inherent")] = (il, ii)
            expected_scores[(f"{prefix}-0{k}", "residual")] = (rl, ri)
    assert {(r, phase): (lik, imp) for r, phase, lik, imp, _ in consensus} == expected_scores
    assert {by for *_, by in consensus} == {FIRST_USER[1]}  # the facilitator, by her name on the team
    # Every change is recorded under the account that made it: the assessor created the risks, the facilitator
    # did the rest. Accounts and signing in are recorded apart (sign-in attempts under the address they came from).
    work = [(actor, action, entity) for actor, action, entity in events
            if entity not in ("account", "signin_attempt", "account_session")]
    assert {actor for actor, *_ in work} == {FIRST_USER[0], ASSESSOR[0]}, events
    assert {actor for actor, action, entity in work if (action, entity) == ("create", "risk")} == {ASSESSOR[0]}
    assert {entity for actor, _, entity in work if actor == ASSESSOR[0]} == {"risk"}, work
    # the administrator's account was made by the first run, the assessor's by the administrator
    assert [actor for actor, action, entity in events if (action, entity) == ("create", "account")] == [
        "system:first run", FIRST_USER[0]]
