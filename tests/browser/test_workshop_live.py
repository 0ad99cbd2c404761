"""A live scoring workshop in a real browser: a facilitator and three assessors, each in their own browser context
(their own Streamlit session and sign-in), on one server with its own fresh SQLite file seeded through the services.

The facilitator signs in with a password and, on the Workshop page, makes a one-time sign-in code for each
assessor; each assessor opens their link in their own browser and is signed in as themselves (an account made for
them by the link). The facilitator opens a blind inherent round; each assessor scores every risk on their own page
(one risk on purpose far apart); nothing of another assessor's blind score reaches an assessor's browser (every
websocket frame is recorded and searched); the facilitator's board follows the progress by itself; the reveal is
anonymous and puts the disagreement first; round two re-scores the flagged risk and converges; the consensus
reaches the register; a closed round takes no more scores; the audit log names the account behind every score and
the consensus. Saves docs/screenshots/workshop-board.png and workshop-reveal.png.

This module does not use the shared `app_server` fixture (another test needs that database empty): it starts its
own server. Widgets are found by the `st-key-<key>` class or by their label; every action that makes Streamlit
rerun is followed by `settle()`."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import CHROMIUM, PASSWORD, SCREENSHOTS, SYSTEM, VIEWPORT, serve

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import BrowserContext, Locator, Page, expect  # noqa: E402  (after the skip: dev-only)

from risk.errors import RefusedError  # noqa: E402

from .ui import (  # noqa: E402
    TIMEOUT,
    click,
    expect_flash,
    expect_signed_in,
    go_to,
    keyed,
    keyed_like,
    nav,
    register_values,
    settle,
    sign_in,
    table_row,
    table_with,
)

pytestmark = pytest.mark.browser

TITLE = "Lakes Region Shared ERP"
PARTNERS = [("Lakes County", "county", "lead"), ("City of Northport", "city", "participant"),
            ("Pine Ridge School District", "district", "participant")]
FACILITATOR = ("Farah Nadeem", "Lakes County")
FACILITATOR_USERNAME = "farah"  # her account (a password); the assessors get theirs from their sign-in links
ASSESSORS = [("Alma Reyes", "Lakes County"), ("Bruno Okafor", "City of Northport"),
             ("Chen Liu", "Pine Ridge School District")]  # shown as Assessor A, B, C (in the order they joined)
A, B, C = (name for name, _ in ASSESSORS)
RISKS = [  # risk id, category, title, cause, event, consequence
    ("LEG-01", "legal", "Vendor contract names only the lead county",
     "the ERP vendor contract is signed by Lakes County alone", "the vendor refuses support to the other partners",
     "the city and the district lose payroll support mid-year"),
    ("OPS-01", "operational", "Cut-over during the fiscal year-end close",
     "the go-live date falls in the year-end close", "the payroll run fails on the new system",
     "staff of three governments are paid late"),
    ("FIN-01", "financial", "Licence formula ignores headcount growth",
     "the cost formula is fixed on today's headcount", "the district hires for a new school",
     "an unplanned licence bill"),
    ("REP-01", "reputational", "Late paychecks make the news",
     "paychecks depend on one shared system", "a payroll run is late",
     "local press coverage and lost trust in the partnership"),
]
DISPUTED = "LEG-01"  # the risk the assessors disagree on
ROUND_ONE = {  # risk id -> (likelihood, impact) of assessors A, B, C
    "LEG-01": [(1, 1), (3, 3), (5, 5)],
    "OPS-01": [(3, 3), (3, 4), (4, 3)],
    "FIN-01": [(2, 3), (2, 2), (3, 3)],
    "REP-01": [(2, 4), (2, 4), (3, 4)],
}
ROUND_TWO = {DISPUTED: [(3, 3), (3, 3), (4, 4)]}  # the panel comes closer after the talk
# Rationales only their author may see before the reveal; the marker in each is searched in what browsers receive.
MARKER = {B: "note B-7341", C: "note C-5802"}
SECRET = {B: f"Annex 4 names only Lakes County as the customer ({MARKER[B]})",
          C: f"The vendor dropped a non-signatory town in 2023 ({MARKER[C]})"}
CONSENSUS = (4, 4, "High", "Counsel read annex 4: the vendor can end support to non-signatories at 30 days")


# --- the server, on its own database ------------------------------------------------------------------

@dataclass(frozen=True)
class Workshop:
    url: str
    db_path: Path
    log_path: Path
    proposal_id: int
    members: dict[str, int]  # name -> team member id
    risks: dict[str, int]  # risk id -> primary key


def seed(db_url: str) -> tuple[int, dict[str, int], dict[str, int]]:
    """The proposal, its three partners, a facilitator and three assessors (one per partner), and the risks; an
    administrator's account (the workbench has one) and the facilitator's, linked to her by her name and partner
    government. The assessors have no account yet."""
    from risk import accounts
    from risk.db import make_engine, migrate
    from risk.services import proposals as ps

    engine = make_engine(db_url)
    try:
        migrate(engine)
        pid = ps.create_proposal(engine, actor=SYSTEM, title=TITLE, service_type="ERP/payroll")
        partner_ids = {}
        for name, kind, role in PARTNERS:
            partner_ids[name] = ps.add_partner(engine, actor=SYSTEM, name=name, kind=kind)
            ps.link_partner(engine, actor=SYSTEM, proposal_id=pid, partner_id=partner_ids[name], role=role)
        members = {FACILITATOR[0]: ps.add_team_member(engine, actor=SYSTEM, proposal_id=pid, name=FACILITATOR[0],
                                                      partner_id=partner_ids[FACILITATOR[1]],
                                                      team_role="facilitator", expertise="HR director")}
        for name, partner in ASSESSORS:
            members[name] = ps.add_team_member(engine, actor=SYSTEM, proposal_id=pid, name=name,
                                               partner_id=partner_ids[partner], team_role="assessor")
        risks = {risk_id: ps.add_risk(engine, actor=SYSTEM, proposal_id=pid, category=category, title=title,
                                      risk_id=risk_id, cause=cause, event=event, consequence=consequence)
                 for risk_id, category, title, cause, event, consequence in RISKS}
        accounts.create_account(engine, actor=SYSTEM, username="ada", full_name="Ada Admin", admin=True,
                                password=PASSWORD)
        accounts.create_account(engine, actor=SYSTEM, username=FACILITATOR_USERNAME, full_name=FACILITATOR[0],
                                partner=FACILITATOR[1], password=PASSWORD)
    finally:
        engine.dispose()
    return pid, members, risks


@pytest.fixture(scope="module")
def workshop_server(tmp_path_factory) -> Iterator[Workshop]:
    """The app on a fresh SQLite file of its own, seeded before it starts."""
    db_path = tmp_path_factory.mktemp("workshop_app") / "risk.db"
    pid, members, risks = seed(f"sqlite:///{db_path}")
    with serve(db_path) as server:
        yield Workshop(server.url, db_path, server.log_path, pid, members, risks)


# --- what reaches a browser ----------------------------------------------------------------------------

@dataclass
class Frames:
    """Every websocket frame a page receives (Streamlit's ForwardMsg protobufs), as raw bytes; `on_workshop` is how
    many had arrived when the page went to the Workshop page (before: the sign-in's landing on the Portfolio)."""
    received: list[bytes] = field(default_factory=list)
    on_workshop: int = 0

    def attach(self, page: Page) -> None:
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, payload: bytes | str) -> None:
        self.received.append(payload.encode() if isinstance(payload, str) else bytes(payload))

    def holding(self, text: str, upto: int | None = None) -> list[bytes]:
        needle = text.encode()
        return [f for f in self.received[:upto] if needle in f]


def where_sent(frame: bytes) -> str:
    """Where a frame puts its content: 'sidebar selectbox <key>', 'main <element>'... (for the messages)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg()
    try:
        msg.ParseFromString(frame)
    except Exception:  # noqa: BLE001 - not a ForwardMsg: report it as such
        return "unparsed frame"
    kind = msg.WhichOneof("type")
    if kind != "delta":
        return f"ForwardMsg {kind}"
    root = {0: "main", 1: "sidebar"}.get(msg.metadata.delta_path[0], "other") if msg.metadata.delta_path else "?"
    delta_kind = msg.delta.WhichOneof("type")
    if delta_kind != "new_element":
        return f"{root} {delta_kind}"
    element_kind = msg.delta.new_element.WhichOneof("type")
    element = getattr(msg.delta.new_element, element_kind)
    return f"{root} {element_kind} {getattr(element, 'id', '')}".strip()


def assert_blind(frames: dict[str, Frames]) -> dict[str, int]:
    """Before the reveal: no frame received by assessor A (or the facilitator) holds B's or C's rationale, A's
    browser received no table at all on the Workshop page, and B's and C's names never reached A's browser (there
    is no roster of the team in the sidebar any more: who is acting is the account signed in). Returns how many
    frames each page had received."""
    assert frames[A].received, "no websocket frame was recorded on A's page"
    assert frames[B].holding(MARKER[B]), "B's own browser never received B's rationale: the search cannot work"
    for marker in MARKER.values():
        assert not frames[A].holding(marker), f"{marker!r} reached A's browser before the reveal"
        assert not frames[FACILITATOR[0]].holding(marker), f"{marker!r} reached the facilitator before the reveal"
    tables = [p for p in map(where_sent, frames[A].received[frames[A].on_workshop:]) if p.startswith("main dataframe")]
    assert not tables, f"A's browser received tables (the reveal's form) before the reveal: {tables}"
    for other in (B, C):
        places = {where_sent(f) for f in frames[A].holding(other)}
        assert not places, f"{other}'s name reached A's browser before the reveal: {places}"
    return {name: len(f.received) for name, f in frames.items()}


# --- helpers (the waiting style of test_journey.py) ------------------------------------------------

def pick(page: Page, combobox: Locator, score: int) -> None:
    """Choose the score `score` in a likelihood or impact selectbox (options read "3 Moderate: ...")."""
    combobox.scroll_into_view_if_needed()
    combobox.click()
    page.get_by_role("option", name=re.compile(f"^{score} ")).click()
    expect(combobox).to_have_value(re.compile(f"^{score} "), timeout=TIMEOUT)


def tap(form: Locator, key: str, score: int) -> None:
    """Choose the score `score` among the buttons of the likelihood ("b_l_") or impact ("b_i_") row."""
    button = keyed_like(form, key).get_by_role("radio", name=re.compile(f"^{score} "))
    button.scroll_into_view_if_needed()
    button.click()
    expect(button).to_have_attribute("aria-checked", "true", timeout=TIMEOUT)


def expect_no_error(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def main_text(page: Page) -> str:
    return page.get_by_test_id("stMain").inner_text()


def scroll_to_top(page: Page, element: Locator) -> None:
    """Scroll Streamlit's main area so that `element` sits just under the header."""
    element.scroll_into_view_if_needed()
    element.evaluate("e => document.querySelector(\"[data-testid='stMain']\")"
                     ".scrollBy(0, e.getBoundingClientRect().top - 70)")
    page.wait_for_timeout(300)


def screenshot(page: Page, name: str, down_to: Locator | None = None) -> None:
    """Save docs/screenshots/<name>.png: the viewport, cut below `down_to` when it is given."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    clip = None
    if down_to is not None:
        box = down_to.bounding_box()
        assert box is not None, f"{down_to} is not on screen"
        clip = {"x": 0, "y": 0, "width": VIEWPORT["width"],
                "height": min(VIEWPORT["height"], box["y"] + box["height"] + 40)}
    page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)  # no hover toolbar on a table
    page.wait_for_timeout(300)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", clip=clip)


def workshop_url(server: Workshop) -> str:
    return f"{server.url}/workshop?proposal={server.proposal_id}"


def username_of(server: Workshop, member: str) -> str:
    """The username of the account linked to a team member (made by their first sign-in link)."""
    rows = db_rows(server, "SELECT a.username FROM team_member t JOIN account a ON a.id = t.account_id "
                           "WHERE t.id = ?", server.members[member])
    assert rows, f"{member} has no account linked on the team"
    return rows[0][0]


def expect_workshop(page: Page, server: Workshop, member: str, role: str) -> None:
    expect(page.get_by_role("heading", name=f"Workshop: {TITLE}")).to_be_visible(timeout=TIMEOUT)
    expect_signed_in(page, member, username_of(server, member), role, "partner government")


def open_as_facilitator(context: BrowserContext, server: Workshop, frames: Frames) -> Page:
    """The facilitator signs in with her password in `context` and lands on the Workshop page."""
    page = context.new_page()
    frames.attach(page)
    sign_in(page, workshop_url(server), FACILITATOR_USERNAME, PASSWORD)
    expect_workshop(page, server, FACILITATOR[0], "facilitator")
    return page


def signin_section(farah: Page) -> Locator:
    return farah.get_by_test_id("stExpander").filter(has_text="Sign team members in with a QR code")


def make_signin_link(farah: Page, member: str) -> str:
    """On the facilitator's Workshop page: "Sign team members in with a QR code", the member, "Make a sign-in
    code"; returns the link the QR code holds (shown under it as code)."""
    section = signin_section(farah)

    def open_section() -> None:
        # an expander is drawn anew, closed, when a message above it (such as "The round is open") goes away
        if section.locator("details[open]").count() == 0:
            click(farah, section.locator("summary"))

    open_section()
    box = keyed(farah, "link_member").get_by_role("combobox")
    box.scroll_into_view_if_needed()
    box.click()
    farah.get_by_role("option", name=re.compile(f"^{re.escape(member)} \\(")).click()
    settle(farah)
    open_section()
    expect(box).to_have_value(re.compile(f"^{re.escape(member)} \\("), timeout=TIMEOUT)
    click(farah, keyed(farah, "make_link").get_by_role("button"))
    expect(farah.get_by_test_id("stImage").filter(has_text=f"Sign-in code for {member} (")).to_be_visible(
        timeout=TIMEOUT)
    code = farah.get_by_test_id("stCode")
    expect(code).to_have_count(1, timeout=TIMEOUT)
    link = code.inner_text().strip()
    assert re.fullmatch(r"https?://[^/]+/join/[A-Za-z0-9_-]{20,}", link), link
    return link


def join(context: BrowserContext, server: Workshop, link: str, member: str, frames: Frames) -> Page:
    """A team member opens their sign-in link in their own browser `context`, confirms who they are, is signed in,
    and opens the Workshop page of the proposal."""
    page = context.new_page()
    frames.attach(page)
    page.goto(link)
    confirm = page.get_by_role("button", name=f"Sign in as {member}")
    expect(confirm).to_be_visible(timeout=TIMEOUT)
    confirm.click()
    expect(nav(page)).to_be_visible(timeout=TIMEOUT)
    settle(page)
    frames.on_workshop = len(frames.received)
    page.goto(workshop_url(server))
    expect(nav(page)).to_be_visible(timeout=TIMEOUT)
    settle(page)
    expect_workshop(page, server, member, "assessor")
    return page


def blind_form(page: Page, risk_id: str) -> Locator:
    return page.get_by_test_id("stForm").filter(has_text=risk_id)


def open_risk(page: Page, risk_id: str) -> Locator:
    """The scoring panel's form on risk `risk_id`: chosen in the panel's picker when another risk is open."""
    if not blind_form(page, risk_id).count():
        box = keyed_like(page, "score_pick_").get_by_role("combobox")
        box.scroll_into_view_if_needed()
        box.click()
        page.get_by_role("option", name=re.compile(f"^(✓ )?{re.escape(risk_id)}:")).click()
        settle(page)
    expect(blind_form(page, risk_id)).to_have_count(1, timeout=TIMEOUT)
    return blind_form(page, risk_id)


def score_blind(page: Page, risk_id: str, likelihood: int, impact: int, why: str = "") -> None:
    """An assessor's blind score of one risk: the risk open in the scoring panel, a tap on each row of scores,
    then "Save my score"; the panel says so and moves on."""
    form = open_risk(page, risk_id)
    tap(form, "b_l_", likelihood)
    tap(form, "b_i_", impact)
    if why:
        form.get_by_label("Why (optional)").fill(why)
    click(page, form.get_by_role("button", name="Save my score"))
    expect_flash(page, f"Saved your score for {risk_id}.")


def board_row(page: Page, name: str) -> Locator:
    return table_row(table_with(page, "Risks"), name)


def reveal_block(page: Page, risk_id: str) -> Locator:
    """The bordered container of one risk in the reveal: the innermost block that holds the risk's line and a table
    (not the last such block in the page: an outer block holding several risks' tables matched too)."""
    holding = page.get_by_test_id("stVerticalBlock").filter(
        has=page.get_by_test_id("stMarkdown").filter(has_text=re.compile(f"^{risk_id} "))).filter(
        has=page.get_by_test_id("stDataFrame"))
    return holding.filter(has_not=holding).last


def score_table(block: Locator) -> Locator:
    """The table of scores in a risk's reveal block, as drawn by the newest run: while a run draws the page, the
    element it replaces stays on screen, marked stale, and the block held two tables."""
    return block.locator("[data-testid='stElementContainer']:not([data-stale='true']) [data-testid='stDataFrame']")


def wait_for(condition, what: str, timeout_s: float = TIMEOUT / 1000) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.25)


def submit_late_score(server: Workshop, round_id: int) -> None:
    """Assessor A tries to send a score into a round through the service, as the page would: as her account."""
    from risk.db import make_engine
    from risk.services import rounds as rs

    engine = make_engine(f"sqlite:///{server.db_path}")
    try:
        rs.submit_score(engine, actor=username_of(server, A), round_id=round_id, assessor_id=server.members[A],
                        risk_pk=server.risks[DISPUTED], likelihood=5, impact=5, rationale="too late")
    finally:
        engine.dispose()


def db_rows(server: Workshop, sql: str, *params) -> list[tuple]:
    db = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def scores_in_db(server: Workshop) -> list[tuple]:
    return db_rows(server, "SELECT ro.number, t.name, r.risk_id, s.likelihood, s.impact, s.rationale FROM score s "
                           "JOIN round ro ON ro.id = s.round_id JOIN team_member t ON t.id = s.assessor_id "
                           "JOIN risk r ON r.id = s.risk_pk ORDER BY ro.number, t.id, r.risk_id")


# --- the workshop ------------------------------------------------------------------------------------

def test_live_workshop(browser, workshop_server: Workshop) -> None:
    server = workshop_server
    contexts: list[BrowserContext] = []

    def context() -> BrowserContext:
        ctx = browser.new_context(viewport=VIEWPORT)
        ctx.set_default_timeout(TIMEOUT)
        contexts.append(ctx)
        return ctx

    try:
        run_workshop(server, context)
    finally:
        for ctx in contexts:
            ctx.close()


def run_workshop(server: Workshop, context) -> None:
    frames = {name: Frames() for name in (FACILITATOR[0], A, B, C)}

    # 0. The facilitator signs in with her password and makes assessor A a one-time sign-in code; A opens its link
    # in her own browser, is signed in as herself and is on the Workshop page before any round is open: it waits.
    farah = open_as_facilitator(context(), server, frames[FACILITATOR[0]])
    alma = join(context(), server, make_signin_link(farah, A), A, frames[A])
    expect(alma.get_by_text("No round is open.")).to_be_visible(timeout=TIMEOUT)

    # 1. The facilitator opens an inherent round on every category.
    open_form = farah.get_by_test_id("stForm").filter(has_text="Open a scoring round")
    expect(open_form).to_be_visible(timeout=TIMEOUT)
    expect(open_form.get_by_role("radio", name="Inherent (before controls)")).to_be_checked()
    click(farah, open_form.get_by_role("button", name="Open the round"))
    expect_flash(farah, "The round is open: assessors can score now.")
    expect(farah.get_by_role("heading", name="Inherent round 1 is open: scores are blind")).to_be_visible(
        timeout=TIMEOUT)
    expect(board_row(farah, A)).to_contain_text(f"0 of {len(RISKS)}", timeout=TIMEOUT)
    expect_no_error(farah)

    # 2. Assessor A's page notices the round by itself (no reload); B and C join by the codes the facilitator makes
    # while the round is open, each in their own browser. Each scores blind, signed in as themselves.
    expect(alma.get_by_role("heading", name="Inherent round 1: your blind scores")).to_be_visible(timeout=TIMEOUT)
    bruno = join(context(), server, make_signin_link(farah, B), B, frames[B])
    chen = join(context(), server, make_signin_link(farah, C), C, frames[C])
    if signin_section(farah).locator("details[open]").count():  # everyone is in: the codes are put away
        click(farah, signin_section(farah).locator("summary"))
    pages = {A: alma, B: bruno, C: chen}
    for k, (name, page) in enumerate(pages.items()):
        expect(page.get_by_test_id("stProgress")).to_contain_text(f"You have scored 0 of {len(RISKS)} risks",
                                                                  timeout=TIMEOUT)
        for risk_id, *_ in RISKS:
            likelihood, impact = ROUND_ONE[risk_id][k]
            score_blind(page, risk_id, likelihood, impact, SECRET.get(name, "") if risk_id == DISPUTED else "")
        expect(page.get_by_test_id("stProgress")).to_contain_text(
            f"You have scored {len(RISKS)} of {len(RISKS)} risks", timeout=TIMEOUT)
        expect_no_error(page)

    # 3. Blindness. B sees their own rationale (so the search below can find it)...
    expect(open_risk(bruno, DISPUTED).get_by_label("Why (optional)")).to_have_value(SECRET[B], timeout=TIMEOUT)
    # ...A's page shows nothing of B's or C's...
    alma_text = alma.locator("body").inner_text()
    for hidden in (B, C, MARKER[B], MARKER[C], "Assessor B", "Assessor C"):
        assert hidden not in alma_text, f"A's page shows {hidden!r} before the reveal"
    expect(alma.get_by_test_id("stDataFrame")).to_have_count(0)
    # ...and nothing the server sent to A's browser holds their rationales (checked again just before the reveal).
    assert_blind(frames)
    assert scores_in_db(server) == [(1, name, risk_id, *ROUND_ONE[risk_id][k], SECRET.get(name, "")
                                     if risk_id == DISPUTED else "")
                                    for k, name in enumerate((A, B, C)) for risk_id in sorted(ROUND_ONE)]

    # 4. The facilitator's board followed by itself (a fragment every 3 s): every assessor has scored all.
    for name in (A, B, C):
        expect(board_row(farah, name)).to_contain_text(f"{len(RISKS)} of {len(RISKS)}", timeout=TIMEOUT)
    caption = farah.get_by_test_id("stCaptionContainer").filter(has_text="have scored every risk")
    expect(caption).to_contain_text("3 of 3 have scored every risk", timeout=TIMEOUT)  # the assessors only
    scroll_to_top(farah, farah.get_by_role("heading", name="Inherent round 1 is open: scores are blind"))
    screenshot(farah, "workshop-board", down_to=keyed_like(farah, "reveal_round_"))

    # 5. The reveal: anonymous, with aggregate, mean, level and flags, the disagreement first.
    before_reveal = assert_blind(frames)
    click(farah, keyed_like(farah, "reveal_round_").get_by_role("button", name="Reveal the scores"))
    expect_flash(farah, "Revealed.")
    heading = farah.get_by_role("heading", name="Inherent round 1: the scores revealed")
    expect(heading).to_be_visible(timeout=TIMEOUT)
    headlines = farah.get_by_test_id("stMarkdown").filter(has_text=re.compile(r"^[A-Z]{3}-\d\d .+ — "))
    expect(headlines).to_have_count(len(RISKS), timeout=TIMEOUT)
    order = [line.split(" ", 1)[0] for line in headlines.all_inner_texts()]
    assert order[0] == DISPUTED, f"the disagreement is not first in the reveal: {order}"
    assert sorted(order) == sorted(r[0] for r in RISKS)
    disputed = reveal_block(farah, DISPUTED)
    expect(disputed.get_by_test_id("stMarkdown").first).to_contain_text("(3×3; mean 3.0×3.0)")
    for flag in ("wide range", "two camps"):  # the flags in words
        expect(disputed.get_by_test_id("stMarkdown").first).to_contain_text(flag)
    table = disputed.get_by_test_id("stDataFrame")
    for alias in ("Assessor A", "Assessor B", "Assessor C", MARKER[B], MARKER[C]):
        expect(table).to_contain_text(alias, timeout=TIMEOUT)
    for risk_id, *_ in RISKS[1:]:
        expect(reveal_block(farah, risk_id).get_by_test_id("stMarkdown").first).to_contain_text("agreement")
    revealed_text = main_text(farah)
    for name in (A, B, C):
        assert name not in revealed_text, f"the anonymous reveal names {name}"
    expect_no_error(farah)
    scroll_to_top(farah, heading)
    screenshot(farah, "workshop-reveal")

    # A's page shows the reveal by itself (a fragment every 5 s), without a reload; now B's rationale reaches A.
    expect(alma.get_by_role("heading", name="Inherent round 1: the scores revealed")).to_be_visible(timeout=TIMEOUT)
    expect(score_table(reveal_block(alma, DISPUTED))).to_contain_text(MARKER[B], timeout=TIMEOUT)
    assert frames[A].holding(MARKER[B]), "the recorder missed B's rationale after the reveal"
    assert not frames[A].holding(MARKER[B], upto=before_reveal[A])
    assert any(where_sent(f).startswith("main dataframe") for f in frames[A].received[before_reveal[A]:]), \
        "the reveal's tables were not recognised in A's frames: the check for tables before the reveal is blind"

    # 6. Round two re-scores the flagged risk; the panel converges.
    click(farah, keyed_like(farah, "round_two_").get_by_role("button", name="Round 2: re-score the 1 flagged risk"))
    expect_flash(farah, "Round 2 is open.")
    expect(farah.get_by_role("heading", name="Inherent round 2 is open: scores are blind")).to_be_visible(
        timeout=TIMEOUT)
    for k, page in enumerate(pages.values()):
        expect(page.get_by_role("heading", name="Inherent round 2: your blind scores")).to_be_visible(
            timeout=TIMEOUT)
        expect(page.get_by_test_id("stProgress")).to_contain_text("of 1 risk", timeout=TIMEOUT)  # the flagged one
        likelihood, impact = ROUND_TWO[DISPUTED][k]
        score_blind(page, DISPUTED, likelihood, impact)
    for name in (A, B, C):
        expect(board_row(farah, name)).to_contain_text("1 of 1", timeout=TIMEOUT)
    click(farah, keyed_like(farah, "reveal_round_").get_by_role("button", name="Reveal the scores"))
    expect(farah.get_by_role("heading", name="Inherent round 2: the scores revealed")).to_be_visible(
        timeout=TIMEOUT)
    expect(reveal_block(farah, DISPUTED).get_by_test_id("stMarkdown").first).to_contain_text(
        "(3×3; mean 3.3×3.3) agreement")
    expect(alma.get_by_role("heading", name="Inherent round 2: the scores revealed")).to_be_visible(
        timeout=TIMEOUT)
    expect(farah.get_by_role("heading", name="Inherent rounds 1 and 2 side by side")).to_be_visible(timeout=TIMEOUT)
    compare = table_with(farah, "Converged")
    expect(compare.locator("tr")).to_have_count(2, timeout=TIMEOUT)  # the header and the one re-scored risk
    expect(table_row(compare, DISPUTED)).to_contain_text("yes", timeout=TIMEOUT)
    expect_no_error(farah)

    # 7. The consensus on the flagged risk: another value than the aggregate needs a rationale.
    form = reveal_block(farah, DISPUTED).get_by_test_id("stForm")
    expect(form.get_by_role("combobox", name="Agreed likelihood")).to_have_value(re.compile("^3 "))
    expect(form.get_by_role("combobox", name="Agreed impact")).to_have_value(re.compile("^3 "))
    likelihood, impact, level, why = CONSENSUS
    pick(farah, form.get_by_role("combobox", name="Agreed likelihood"), likelihood)
    pick(farah, form.get_by_role("combobox", name="Agreed impact"), impact)
    click(farah, form.get_by_role("button", name="Record the consensus"))
    refusal = farah.get_by_test_id("stAlertContentError").filter(has_text="write why the team agreed on it")
    expect(refusal).to_be_visible(timeout=TIMEOUT)
    form = reveal_block(farah, DISPUTED).get_by_test_id("stForm")
    form.get_by_label("Rationale (required when it differs from the aggregate)").fill(why)
    click(farah, form.get_by_role("button", name="Record the consensus"))
    recorded = [(DISPUTED, "inherent", likelihood, impact, why, FACILITATOR[0])]
    wait_for(lambda: db_rows(server, "SELECT r.risk_id, c.phase, c.likelihood, c.impact, c.rationale, "
                                     "c.recorded_by FROM consensus c JOIN risk r ON r.id = c.risk_pk") == recorded,
             "the consensus in the database")
    expect(farah.get_by_test_id("stAlertContentError")).to_have_count(0, timeout=TIMEOUT)
    confirmed = farah.get_by_test_id("stAlert").filter(has_text=f"Recorded the consensus on {DISPUTED}.")
    expect(confirmed).to_be_visible(timeout=TIMEOUT)
    expect(reveal_block(farah, DISPUTED)).to_contain_text(f"Consensus recorded by {FACILITATOR[0]}",
                                                          timeout=TIMEOUT)

    # ...and the register shows it.
    go_to(farah, "Register")
    expect(farah.get_by_role("heading", name=f"Risk register: {TITLE}")).to_be_visible(timeout=TIMEOUT)
    register_row = register_values(farah, DISPUTED)
    assert (register_row["Inherent likelihood"], register_row["Inherent impact"], register_row["Inherent level"]) \
        == (str(likelihood), str(impact), level), register_row
    expect_no_error(farah)

    # 8. The facilitator closes round two; no score goes into it any more.
    go_to(farah, "Workshop")
    expect(farah.get_by_role("heading", name="Inherent round 2: the scores revealed")).to_be_visible(
        timeout=TIMEOUT)
    scores = scores_in_db(server)
    click(farah, keyed_like(farah, "close_round_").get_by_role("button", name="Close this round"))
    expect_flash(farah, "Closed the round.")
    assert db_rows(server, "SELECT number, status FROM round ORDER BY number")[-1] == (2, "closed")
    expect(alma.get_by_role("button", name="Save my score")).to_have_count(0, timeout=TIMEOUT)
    closed_round = db_rows(server, "SELECT id FROM round WHERE number = 2")[0][0]
    with pytest.raises(RefusedError, match="closed"):  # the service refuses a late score...
        submit_late_score(server, closed_round)
    assert scores_in_db(server) == scores  # ...and nothing changed
    expect(farah.get_by_role("heading", name="Inherent round 1: the scores revealed")).to_have_count(0)
    expect(farah.get_by_role("heading", name="Open a scoring round")).to_be_visible(timeout=TIMEOUT)
    assert db_rows(server, "SELECT number, status FROM round ORDER BY number") == [(1, "closed"), (2, "closed")]
    expect_no_error(farah)
    expect_no_error(alma)

    # 9. The audit log names the account behind each change: every assessor's scores are theirs, the consensus and
    # the rounds the facilitator's; nobody was refused for lack of permission (a closed round's refusal is no such
    # refusal: A may score, the round takes no more scores).
    usernames = {name: username_of(server, name) for name in (A, B, C)}
    score_actors = dict(db_rows(server, "SELECT entity_id, actor FROM audit_event WHERE entity = 'score' "
                                        "AND action IN ('create', 'update')"))
    members = {server.members[name]: username for name, username in usernames.items()}
    assert score_actors and all(actor == members[int(key.split("/")[1])] for key, actor in score_actors.items()), \
        score_actors
    assert set(score_actors.values()) == set(usernames.values())
    assert {a for (a,) in db_rows(server, "SELECT DISTINCT actor FROM audit_event WHERE entity IN "
                                          "('consensus', 'round') AND action != 'refused'")} == {FACILITATOR_USERNAME}
    assert db_rows(server, "SELECT actor, after FROM audit_event WHERE action = 'refused'") == []
