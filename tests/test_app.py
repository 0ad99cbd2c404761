"""AppTests: every page runs without an exception on the demo portfolio and on an empty database, and one
interaction per page works (widgets found by key)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from risk.db import migrate
from risk.services import proposals as ps
from risk.services.portfolio import load_demo
from risk.services.profile import proposal_profile
from tests.signin import SYSTEM, admin_session, member_session, username_of

PAGES = ["risk/ui/pages/portfolio.py", "risk/ui/pages/proposal.py", "risk/ui/pages/walkthrough.py",
         "risk/ui/pages/workshop.py", "risk/ui/pages/register.py", "risk/ui/pages/profile.py",
         "risk/ui/pages/review.py", "risk/ui/pages/import_data.py", "risk/ui/pages/accounts.py",
         "risk/ui/pages/activity.py", "risk/ui/pages/costs.py"]


def start(page: str | None = None, proposal_id: int | None = None, actor: int | str | None = None,
          name: str | None = None, signed_in: bool = True) -> AppTest:
    """The app opened at ?proposal=ID, signed in: as team member `actor` (a member id, through a one-time link),
    as an administrator called `name` (actor="other"), or as the administrator Ada Admin; or not signed in."""
    from risk.ui.common import engine

    at = AppTest.from_file("../app.py", default_timeout=60)
    if proposal_id is not None:
        at.query_params["proposal"] = str(proposal_id)
    if signed_in:
        eng = engine()
        at.session_state["_session_token"] = (member_session(eng, actor) if isinstance(actor, int)
                                              else admin_session(eng, name or "Ada Admin"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page:
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def keyed(widgets, prefix: str):
    """The one widget whose key starts with `prefix` (forms key their widgets by what they edit and an instance)."""
    [widget] = [w for w in widgets if (w.key or "").startswith(prefix)]
    return widget


def submit(at: AppTest, form_prefix: str, label: str):
    """The submit button of the form whose key starts with `form_prefix`."""
    return next(b for b in at.button if (b.proto.form_id or "").startswith(form_prefix) and b.label == label)


def plain(markdown: str) -> str:
    """Text as the user reads it: user text reaches markdown with every special character escaped."""
    return markdown.replace("\\", "")


def member_id(engine, proposal_id: int, name: str) -> int:
    return next(m.id for m in ps.team(engine, proposal_id) if m.name == name)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_the_demo_portfolio(demo_db, page):
    start(page, proposal_id=1)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_an_empty_database(app_db, page):
    start(page)


def test_portfolio_page_on_an_empty_database_offers_the_demo_and_a_new_proposal(app_db):
    at = start("risk/ui/pages/portfolio.py")
    assert at.button(key="load_demo").label == "Load the demo portfolio"
    assert at.button(key="new_proposal").label == "New proposal"
    at.button(key="load_demo").click().run()
    assert not at.exception
    assert len(ps.list_proposals(app_db)) == 3
    table = at.dataframe[0].value
    assert "Tri-County Regional 911/CAD Consolidation" in table["Proposal"].tolist()
    assert {"Very High", "High", "Moderate", "Low", "Very Low", "Over appetite", "Progress"} <= set(table.columns)


def test_proposal_page_creates_a_proposal_under_the_signed_in_account(app_db):
    at = start("risk/ui/pages/proposal.py", actor="other", name="Dana Whitfield")
    keyed(at.text_input, "p_title_").input("Shared data centre")
    keyed(at.selectbox, "p_service_").select("Data centre")
    submit(at, "proposal_form_", "Create proposal").click().run()
    assert not at.exception
    [p] = ps.list_proposals(app_db)
    assert (p.title, p.service_type) == ("Shared data centre", "Data centre")
    from sqlmodel import Session, select

    from risk.models import AuditEvent

    with Session(app_db) as s:
        actors = set(s.exec(select(AuditEvent.actor).where(AuditEvent.entity == "proposal")).all())
    assert actors == {"dana.whitfield"}


def test_without_signing_in_nothing_of_the_workbench_is_shown(demo_db):
    """Whatever the address says (?proposal=, or the ?as= of the days before accounts), a browser without a session
    sees the way to sign in and nothing of any proposal."""
    admin_session(demo_db)  # the workbench has accounts
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params["proposal"] = "1"
    at.query_params["as"] = "1"
    at.run()
    assert not at.exception
    shown = " ".join(str(e.proto) for e in _every(at))
    assert "Sign in" in shown and "Tri-County" not in shown and "Dana Whitfield" not in shown
    assert not at.sidebar.selectbox and not at.dataframe


def test_on_an_empty_database_the_first_page_offers_to_create_the_administrator(app_db):
    at = start(signed_in=False)
    assert "Create the administrator account" in " ".join(str(e.proto) for e in _every(at))


def test_signing_out_ends_the_session_and_shows_nothing(demo_db):
    from risk import accounts

    at = start("risk/ui/pages/review.py", proposal_id=1)
    token = at.session_state["_session_token"]
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception
    assert accounts.session_account(demo_db, token) is None
    shown = " ".join(str(e.proto) for e in _every(at))
    assert "You have signed out" in shown and "Tri-County" not in shown


def _every(at):
    def walk(node):
        for child in getattr(node, "children", {}).values():
            yield child
            yield from walk(child)
    yield from walk(at._tree)


def test_walkthrough_adds_a_catalogue_template_and_marks_it_added(demo_db):
    actor = member_id(demo_db, 3, "Alan Brooks")
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to="legal")
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3, actor=actor)
    before = len(ps.list_risks(demo_db, 3))
    at.button(key="tpl_3_T-LEG-05").click().run()
    assert not at.exception
    assert len(ps.list_risks(demo_db, 3)) == before + 1
    assert at.button(key="tpl_3_T-LEG-05").disabled


def test_walkthrough_scores_a_risk_as_the_consensus_of_the_person_acting(demo_db):
    actor = member_id(demo_db, 3, "Alan Brooks")
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to="legal")
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3, actor=actor)
    risk = next(v for v in proposal_profile(demo_db, 3).risks if v.risk.risk_id == "LEG-01").risk
    at.selectbox(key=f"res_l_{risk.id}_0").select(1)
    at.selectbox(key=f"res_i_{risk.id}_0").select(2)
    at.text_input(key=f"rationale_{risk.id}_0").input("Retention schedule adopted by all three")
    submit(at, f"score_{risk.id}_0", "Save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    view = next(v for v in proposal_profile(demo_db, 3).risks if v.risk.risk_id == "LEG-01")
    assert (view.residual.source, view.residual.likelihood, view.residual.impact) == ("consensus", 1, 2)


def test_register_refuses_an_invalid_edit_naming_row_and_field(demo_db):
    actor = member_id(demo_db, 1, "Dana Whitfield")
    at = start("risk/ui/pages/register.py", proposal_id=1, actor=actor)
    shown = at.session_state["register_editor_1_0_shown"]
    row = next(k for k, (_pk, rid, _v) in enumerate(shown) if rid == "LEG-01")
    at.session_state["register_editor_1_0"] = {"edited_rows": {row: {"title": ""}}, "added_rows": [],
                                               "deleted_rows": []}
    at.run()
    assert any("Row LEG-01, field title: not saved, a value is required" in plain(e.value) for e in at.error), \
        [e.value for e in at.error]
    assert next(r for r in ps.list_risks(demo_db, 1) if r.risk_id == "LEG-01").title != ""


def test_register_refuses_the_later_of_two_edits_naming_who_saved_first(demo_db):
    actor = member_id(demo_db, 1, "Dana Whitfield")
    at = start("risk/ui/pages/register.py", proposal_id=1, actor=actor)
    shown = at.session_state["register_editor_1_0_shown"]
    row, (pk, _rid, version) = next((k, s) for k, s in enumerate(shown) if s[1] == "OPS-01")
    priya = username_of(demo_db, member_id(demo_db, 1, "Priya Raman"))  # a colleague, signed in elsewhere
    ps.update_risk(demo_db, actor=priya, risk_pk=pk, expected_version=version, owner="Priya")
    at.session_state["register_editor_1_0"] = {"edited_rows": {row: {"owner": "Dana"}}, "added_rows": [],
                                               "deleted_rows": []}
    at.run()
    assert any(f"changed by {priya}" in plain(e.value) for e in at.error), [e.value for e in at.error]
    assert next(r for r in ps.list_risks(demo_db, 1) if r.risk_id == "OPS-01").owner == "Priya"


def test_profile_page_draws_heat_maps_with_counts_and_ids(demo_db):
    import json

    at = start("risk/ui/pages/profile.py", proposal_id=1)
    specs = [json.loads(e.proto.spec) for e in _walk(at.main) if type(e.proto).__name__ == "VegaLiteChart"]
    titles = [s.get("title") for s in specs]
    assert "Inherent risk (before controls)" in titles and "Residual risk (with controls)" in titles
    heat = next(s for s in specs if s.get("title") == "Residual risk (with controls)")
    assert heat["layer"][1]["mark"]["type"] == "text"
    assert heat["layer"][0]["encoding"]["x"]["title"] == "Impact"


def _walk(node):
    """Every element under a block of the AppTest tree (charts are not typed elements in AppTest)."""
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _walk(child)


def test_walkthrough_moves_to_the_next_category_and_remembers_it(demo_db):
    actor = member_id(demo_db, 2, "Ruth Adebayo")
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=2, to="legal")
    at = start("risk/ui/pages/walkthrough.py", proposal_id=2, actor=actor)
    at.button(key="walk_next_2_legal").click().run()
    assert not at.exception
    _steps, current, _done = ps.walkthrough_state(ps.get_proposal(demo_db, 2))
    assert current == "operational"


def test_a_browser_refresh_keeps_the_proposal_and_who_is_signed_in(demo_db):
    """The address holds ?proposal=ID and the cookie the session, so a new session of the script (a refresh) opens
    where the user was, as the same account; an ?as= in the address changes nothing."""
    member = member_id(demo_db, 1, "Marcus Oyelaran")
    token = member_session(demo_db, member)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params["proposal"] = "1"
    at.query_params["as"] = str(member_id(demo_db, 1, "Dana Whitfield"))  # a forged "who is acting": ignored
    at.session_state["_session_token"] = token
    at.run()
    assert not at.exception
    assert at.query_params["proposal"] == "1"
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Marcus Oyelaran" in sidebar and "Dana Whitfield" not in sidebar


def test_workshop_facilitator_opens_a_round_and_an_assessor_sees_only_their_own_scores(demo_db):
    facilitator = member_id(demo_db, 2, "Ruth Adebayo")
    at = start("risk/ui/pages/workshop.py", proposal_id=2, actor=facilitator)
    at.radio(key="round_phase_2").set_value("residual")
    at.multiselect(key="round_categories_2").set_value(["legal"])
    at.button(key="FormSubmitter:open_round_2-Open the round").click().run()
    assert not at.exception, [e.value for e in at.exception]
    from risk.services import rounds as rs

    current = rs.current_round(demo_db, 2)
    assert (current.phase, current.number, current.status, len(current.scope)) == ("residual", 2, "open", 3)
    greg, owen = member_id(demo_db, 2, "Greg Tamsin"), member_id(demo_db, 2, "Owen Price")
    rs.submit_score(demo_db, actor=username_of(demo_db, owen), round_id=current.id, assessor_id=owen,
                    risk_pk=current.scope[0], likelihood=5, impact=5, rationale="Owen's secret view")
    page = start("risk/ui/pages/workshop.py", proposal_id=2, actor=greg)
    first = current.scope[0]
    assert page.selectbox(key=f"score_pick_{current.id}_{greg}").value == first  # the first risk to score
    page.button_group(key=f"b_l_{current.id}_{greg}").set_value(2)
    page.button_group(key=f"b_i_{current.id}_{greg}").set_value(3)
    page.button(key=f"save_{current.id}_{greg}_{first}").click().run()
    assert not page.exception, [e.value for e in page.exception]
    assert rs.my_scores(demo_db, round_id=current.id, assessor_id=greg) == {first: (2, 3, "")}
    assert page.selectbox(key=f"score_pick_{current.id}_{greg}").value == current.scope[1]  # on to the next
    everything = " ".join(str(e.proto) for e in _walk(page.main))
    assert "Owen's secret view" not in everything and "Owen Price" not in everything
    board = start("risk/ui/pages/workshop.py", proposal_id=2, actor=facilitator)
    board.button(key=f"reveal_round_{current.id}").click().run()
    assert not board.exception, [e.value for e in board.exception]
    assert rs.current_round(demo_db, 2).status == "revealed"


def test_user_text_is_shown_as_plain_text_not_markdown_or_html(demo_db):
    hostile = "[x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    ps.add_risk(demo_db, actor=SYSTEM, proposal_id=3, category="legal", title=hostile, cause="c", event="e",
                consequence="q")
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to="legal")
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3)
    labels = [e.label for e in at.expander if "javascript" in e.label]
    assert labels == ["**LEG\\-04** \\[x\\]\\(javascript\\:alert\\(1\\)\\) \\<img src=x onerror=alert\\(1\\)\\> "
                      "— inherent not scored, residual not scored"]


def test_adding_the_teams_own_risk_empties_the_form_so_it_is_not_added_twice(demo_db):
    actor = member_id(demo_db, 3, "Alan Brooks")
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to="financial")
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3, actor=actor)
    before = len(ps.list_risks(demo_db, 3))
    keyed(at.text_input, "own_title_").input("Fuel for the GIS van")
    keyed(at.text_area, "own_cause_").input("the county pays all mileage")
    keyed(at.text_area, "own_event_").input("a dispute over mileage")
    keyed(at.text_area, "own_consequence_").input("a late invoice").run()
    keyed(at.button, "own_add_").click().run()
    assert not at.exception
    assert len(ps.list_risks(demo_db, 3)) == before + 1
    assert keyed(at.text_input, "own_title_").value == ""
    keyed(at.button, "own_add_").click().run()
    assert len(ps.list_risks(demo_db, 3)) == before + 1  # the empty form is refused, nothing is added
    assert any("title, cause, event, consequence: a value is required" in plain(e.value) for e in at.error)


def test_the_creator_of_a_proposal_stays_signed_in_and_on_it(app_db):
    # (the New proposal button's page switch is followed in the browser journeys; AppTest does not follow it)
    at = start("risk/ui/pages/proposal.py", actor="other", name="Dana Whitfield")
    keyed(at.text_input, "p_title_").input("Shared help desk")
    submit(at, "proposal_form_", "Create proposal").click().run()
    assert not at.exception
    assert at.query_params["proposal"] == "1" and "as" not in at.query_params
    assert any("Dana Whitfield" in m.value for m in at.sidebar.markdown)


def test_review_page_gives_the_headline_numbers_and_the_ten_highest_risks(demo_db):
    at = start("risk/ui/pages/review.py", proposal_id=1)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Risks"] == "16" and metrics["Over appetite"] == "5" and metrics["Open actions"] == "7"
    sentences = [m.value for m in at.markdown if m.value.startswith("- **")]
    assert len(sentences) == 10 and all("Because" in s and "may occur, leading to" in s for s in sentences)
    specs = [json.loads(e.proto.spec) for e in _walk(at.main) if type(e.proto).__name__ == "VegaLiteChart"]
    assert {s.get("title") for s in specs} >= {"Inherent risk (before controls)", "Residual risk (with controls)"}
    assert len(specs) == 4


def test_profile_page_turns_the_heat_maps_round_when_asked(demo_db):
    at = start("risk/ui/pages/profile.py", proposal_id=1)
    at.session_state["likelihood_axis"] = "horizontal"  # the segmented control's key
    at.run()
    assert not at.exception
    specs = [json.loads(e.proto.spec) for e in _walk(at.main) if type(e.proto).__name__ == "VegaLiteChart"]
    heat = next(s for s in specs if s.get("title") == "Residual risk (with controls)")
    assert heat["layer"][0]["encoding"]["x"]["title"] == "Likelihood"
    assert len(specs) >= 7  # three heat maps, category profile, movement, partner exposure, disagreement


IMPORT = "risk/ui/pages/import_data.py"
THEIRS = ("Ref,Risk Type,Risk Name,L,I,Notes\r\nRSK-1,Financial,Cost overrun,4,3,see minutes\r\n"
          "RSK-2,Societal,Digital divide,2,4,\r\n").encode("cp1252")


def _problems(at) -> list[dict]:
    return at.session_state["import_checked"][1]["problems"]


def test_import_page_maps_columns_checks_then_imports_into_a_new_proposal(app_db):
    from risk.services.register_export import register_table

    at = start(IMPORT, actor="other", name="Records Clerk")
    at.file_uploader(key="import_file").set_value(("county-ledger.csv", THEIRS, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="import_title").value == "County ledger"
    assert any("Choose how to read" in w.value for w in at.warning)
    assert at.button(key="import_go").disabled  # nothing to import before a clean check

    at.button(key="import_check").click().run()
    fields = {p["field"] for p in _problems(at)}
    assert {"Ref", "Risk Type", "Risk Name", "L", "I", "Notes"} <= fields
    assert at.button(key="import_go").disabled

    import hashlib

    editor = f"import_map_{hashlib.sha256(THEIRS).hexdigest()[:16]}_None"
    at.session_state[editor] = {"edited_rows": {str(k): {"our_column": v} for k, v in enumerate(
        ["risk_id", "category", "title", "inherent_likelihood", "inherent_impact", "(leave it out)"])},
        "added_rows": [], "deleted_rows": []}
    at.run()
    at.button(key="import_check").click().run()
    assert _problems(at) == [] and at.session_state["import_checked"][1]["added"] == 2
    assert not at.button(key="import_go").disabled
    at.button(key="import_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    rows = register_table(app_db)
    assert [(r["proposal"], r["risk_id"], r["inherent_level"]) for r in rows] == [
        ("County ledger", "RSK-1", "Moderate"), ("County ledger", "RSK-2", "Low")]


def test_import_page_saves_a_mapping_and_offers_it_for_the_next_file(app_db):
    from risk.services.mappings import list_mappings, save_mapping

    save_mapping(app_db, actor=SYSTEM, name="County ledger", columns={
        "Ref": "risk_id", "Risk Type": "category", "Risk Name": "title", "L": "inherent_likelihood",
        "I": "inherent_impact", "Notes": ""})
    at = start(IMPORT, actor="other", name="Records Clerk")
    at.file_uploader(key="import_file").set_value(("next-month.csv", THEIRS, "text/csv")).run()
    assert at.selectbox(key="import_mapping_name").value == "County ledger"
    at.button(key="import_check").click().run()
    assert _problems(at) == []
    at.text_input(key="import_save_as").input("County ledger v2").run()
    at.button(key="import_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.name for m in list_mappings(app_db)] == ["County ledger", "County ledger v2"]


def test_import_page_shows_each_problem_with_row_and_field_and_writes_nothing(demo_db):
    from risk.models import Risk
    from risk.store import count_rows

    before = count_rows(demo_db, Risk)
    bad = b"risk_id,category,title,inherent_likelihood,inherent_impact\r\nXY-1,Legal,Fine,3,3\r\nXY-2,Legl,Bad,6,3\r\n"
    at = start(IMPORT, proposal_id=1, actor="other", name="Records Clerk")
    at.file_uploader(key="import_file").set_value(("bad.csv", bad, "text/csv")).run()
    at.radio(key="import_target").set_value("An existing proposal").run()
    at.button(key="import_check").click().run()
    assert [(p["row"], p["field"]) for p in _problems(at)] == [(3, "category"), (3, "inherent_likelihood")]
    assert at.dataframe and at.button(key="import_go").disabled
    assert any("nothing was written" in e.value for e in at.error)
    assert count_rows(demo_db, Risk) == before


def test_import_page_refuses_a_file_that_is_not_what_its_name_says(app_db):
    at = start(IMPORT)
    at.file_uploader(key="import_file").set_value(("register.xlsx", b"MZ" + b"\0" * 100,
                                                   "application/octet-stream")).run()
    assert not at.exception
    assert any("a Windows program" in e.value for e in at.error)


def test_import_page_takes_a_workbench_json_export(app_db, tmp_path):
    from risk.db import make_engine
    from risk.services.json_export import export_json

    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    migrate(source)
    load_demo(source, actor=SYSTEM)
    at = start(IMPORT, actor="other", name="Records Clerk")
    at.file_uploader(key="import_file").set_value(("portfolio.json", export_json(source), "application/json")).run()
    at.button(key="json_check").click().run()
    assert at.session_state["import_checked"][1]["added"] == 43
    at.button(key="json_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(ps.list_proposals(app_db)) == 3


def test_import_page_keeps_the_new_title_when_the_target_is_switched_back(demo_db):
    at = start(IMPORT, proposal_id=1)
    at.file_uploader(key="import_file").set_value(("my-register.csv", THEIRS, "text/csv")).run()
    assert at.text_input(key="import_title").value == "My register"
    at.radio(key="import_target").set_value("An existing proposal").run()
    at.radio(key="import_target").set_value("A new proposal").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="import_title").value == "My register"


def test_profile_page_says_why_the_partner_chart_is_missing_instead_of_drawing_it_empty(app_db):
    from risk.services.register_import import import_register

    data = b"risk_id,category,title,inherent_likelihood,inherent_impact\r\nLEG-01,Legal,No agreement,3,4\r\n"
    report = import_register(app_db, data, "r.csv", actor=SYSTEM, new_title="No owners")
    at = start("risk/ui/pages/profile.py", proposal_id=report["proposal_ids"][0])
    assert any("Nothing to show yet: no risk has an owner partner" in c.value for c in at.caption)
