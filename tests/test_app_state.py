"""AppTests for what a shared tool must hold besides the three reported problems (those are browser tests in
tests/browser/test_shared_use.py): confirmations that keep the user where they were, the walkthrough saying what is
still missing, complete risk statements, one error boundary, escaped user text, and the server's exposure."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from sqlalchemy import text

from risk.errors import ConflictError, RefusedError
from risk.services import proposals as ps
from risk.services.strengths import proposal_strengths, set_strength
from tests.signin import SYSTEM, admin, username_of
from tests.test_app import keyed, member_id, plain, start

REPO = Path(__file__).resolve().parents[1]
ODD_ID = "![x](http://host/x.png)"


def test_a_strength_saved_in_the_grid_is_confirmed_and_the_grid_is_drawn_afresh(demo_db):
    at = start("risk/ui/pages/proposal.py", proposal_id=1, actor=member_id(demo_db, 1, "Dana Whitfield"))
    shown = at.session_state["strengths_editor_1_0_shown"]
    partner = next(iter(shown["values"]))
    row = 0
    new = (shown["values"][partner][row] + 1) % 6
    at.session_state["strengths_editor_1_0"] = {"edited_rows": {row: {partner: new}}, "added_rows": [],
                                                "deleted_rows": []}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.toast] == ["Saved 1 strength score."]
    assert proposal_strengths(demo_db, 1).scores[partner][shown["caps"][row]] == new
    # the next grid is a new one: the browser's copy of this edit is never read again
    assert "strengths_editor_1_1_shown" in at.session_state
    assert not at.error


def test_a_strength_changed_by_someone_else_since_the_grid_was_drawn_is_refused(demo_db):
    grid = proposal_strengths(demo_db, 1)
    partner_id = ps.proposal_partners(demo_db, 1)[0][0].id
    name = ps.proposal_partners(demo_db, 1)[0][0].name
    cap = next(iter(grid.scores[name]), "Dispatch operations")
    seen = grid.scores[name].get(cap, 0)
    set_strength(demo_db, actor=SYSTEM, proposal_id=1, partner_id=partner_id, capability=cap, score=(seen + 1) % 6,
                 expected=seen)
    with pytest.raises(ConflictError, match="somebody saved"):
        set_strength(demo_db, actor=SYSTEM, proposal_id=1, partner_id=partner_id, capability=cap,
                     score=(seen + 2) % 6, expected=seen)
    assert proposal_strengths(demo_db, 1).scores[name][cap] == (seen + 1) % 6


def test_the_walkthrough_summary_names_the_risks_still_unscored_instead_of_calling_it_ready(demo_db):
    actor = SYSTEM
    ps.add_risk(demo_db, actor=actor, proposal_id=3, category="legal", title="Unscored one", cause="c", event="e",
                consequence="q")
    proposal = ps.get_proposal(demo_db, 3)
    steps, _current, _done = ps.walkthrough_state(proposal)
    for step in steps:
        ps.move_walkthrough(demo_db, actor=actor, proposal_id=3, to="summary", mark_done=step)
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3)
    warnings = [plain(w.value) for w in at.warning]
    assert any(w.startswith("Legal: ") and "not scored before controls" in w and "LEG-" in w for w in warnings), \
        warnings
    assert not any("ready for the county managers" in s.value for s in at.success)


def test_an_own_risk_needs_its_cause_event_and_consequence(demo_db):
    with pytest.raises(RefusedError, match="^cause: a value is required"):
        ps.add_risk(demo_db, actor=SYSTEM, proposal_id=1, category="legal", title="No cause", cause=" ",
                    event="an outage", consequence="fines", complete_statement=True)
    with pytest.raises(RefusedError, match="^event, consequence: a value is required"):
        ps.add_risk(demo_db, actor=SYSTEM, proposal_id=1, category="legal", title="Half", cause="a cause",
                    complete_statement=True)


def test_the_own_risk_inputs_show_their_limits_as_they_are_typed(demo_db):
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to="legal")
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3)
    assert keyed(at.text_input, "own_title_").proto.max_chars == ps.RISK_TEXT_LIMITS["title"]
    for part in ("cause", "event", "consequence"):
        assert keyed(at.text_area, f"own_{part}_").proto.max_chars == ps.RISK_TEXT_LIMITS[part]


def test_a_sentence_with_a_part_missing_never_prints_an_empty_clause():
    from risk.scoring import risk_sentence

    assert risk_sentence("", "an outage", "fines") == "An outage may occur, leading to fines."
    assert "Because ," not in risk_sentence("", "", "fines")
    assert risk_sentence("", "", "") == ""


def test_an_unexpected_error_shows_words_and_an_incident_number_never_a_traceback(demo_db, monkeypatch, caplog):
    import risk.services.profile as profile

    def broken(*_args, **_kwargs):
        raise KeyError("internal detail /srv/risk/secret.py")

    monkeypatch.setattr(profile, "proposal_profile", broken)
    at = start("risk/ui/pages/profile.py", proposal_id=1)
    assert not at.exception, [e.value for e in at.exception]
    [error] = at.error
    assert "The Profile page stopped at an unexpected problem" in error.value and "incident number" in error.value
    assert "secret.py" not in error.value and "KeyError" not in error.value
    assert any("incident" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("upload", [b"[" * 10_000 + b"]" * 10_000,
                                    b'{"format_version": 1, "proposals": [{"title": ["a", "list"]}]}'],
                         ids=["10000-deep", "title-as-a-list"])
def test_a_hostile_json_upload_gives_a_message_not_a_traceback(app_db, upload):
    at = start("risk/ui/pages/import_data.py", actor="other", name="Records Clerk")
    at.file_uploader(key="import_file").set_value(("odd.json", upload, "application/json")).run()
    for key in ("json_check", "json_import"):
        buttons = [b for b in at.button if b.key == key and not b.disabled]
        if buttons:
            buttons[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.error, "the file was neither refused nor reported"
    assert not any("Traceback" in e.value or "File \"/" in e.value for e in at.error)
    assert ps.list_proposals(app_db) == []


def test_an_odd_risk_id_already_stored_is_shown_as_text_on_every_page(demo_db):
    with demo_db.begin() as conn:
        conn.execute(text("UPDATE risk SET risk_id = :odd WHERE proposal_id = 1 AND risk_id = 'LEG-01'"),
                     {"odd": ODD_ID})
        (category,) = conn.execute(text("SELECT category FROM risk WHERE risk_id = :odd"), {"odd": ODD_ID}).one()
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=1, to=category)
    for page in ("walkthrough", "review", "profile", "workshop", "register"):
        at = start(f"risk/ui/pages/{page}.py", proposal_id=1)
        assert not at.exception, (page, [e.value for e in at.exception])
        texts = [m.value for m in at.markdown] + [e.label for e in at.expander] + [c.value for c in at.caption]
        assert not any("![x](" in t or "](http" in t for t in texts), (page, [t for t in texts if "x.png" in t])


def test_the_portfolio_says_one_proposal_not_one_proposals(app_db):
    ps.create_proposal(app_db, actor=SYSTEM, title="Only one")
    at = start("risk/ui/pages/portfolio.py")
    assert "1 proposal" in [s.value for s in at.subheader]


def test_the_app_listens_on_localhost_and_sends_no_traceback_unless_configured_otherwise():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["client"]["showErrorDetails"] == "none"


def test_a_proposal_edit_made_on_an_older_screen_is_refused_and_the_form_shows_what_is_stored(demo_db):
    at = start("risk/ui/pages/proposal.py", proposal_id=2, actor="other", name="Omar Haddad")
    version = ps.get_proposal(demo_db, 2).version
    ruth = username_of(demo_db, member_id(demo_db, 2, "Ruth Adebayo"))  # the facilitator, signed in elsewhere
    ps.update_proposal(demo_db, actor=ruth, proposal_id=2, expected_version=version,
                       description="Ruth's description")
    keyed(at.text_area, "p_description_2_").input("Omar's older description")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert ps.get_proposal(demo_db, 2).description == "Ruth's description"
    assert any(f"changed by {ruth}" in plain(e.value) for e in at.error), [e.value for e in at.error]
    assert keyed(at.text_area, "p_description_2_").value == "Ruth's description"


@pytest.mark.storage
def test_creating_with_the_same_form_token_twice_creates_once(engine):
    first = ps.create_proposal(engine, actor=SYSTEM, title="Twice", request_token="tok-1")
    second = ps.create_proposal(engine, actor=SYSTEM, title="Twice", request_token="tok-1")
    assert first == second and len(ps.list_proposals(engine)) == 1
    pid = first
    risk = ps.add_risk(engine, actor=SYSTEM, proposal_id=pid, category="legal", title="r", request_token="tok-2")
    again = ps.add_risk(engine, actor=SYSTEM, proposal_id=pid, category="legal", title="r", request_token="tok-2")
    assert again == risk
    assert len(ps.list_risks(engine, pid)) == 1


def test_counts_and_articles_read_as_sentences():
    from risk.wording import article, count

    assert (count(1, "proposal"), count(3, "proposal"), count(1200, "risk")) == ("1 proposal", "3 proposals",
                                                                                 "1,200 risks")
    assert (article("assessor"), article("facilitator"), article("observer")) == ("an assessor", "a facilitator",
                                                                                  "an observer")


def test_a_team_member_without_a_partner_is_refused_in_good_english(demo_db):
    with pytest.raises(RefusedError, match="^partner: an assessor must come from"):
        ps.add_team_member(demo_db, actor=SYSTEM, proposal_id=1, name="Nobody", partner_id=None, team_role="assessor")


def test_the_register_and_the_workshop_say_the_disagreement_in_words(demo_db):
    at = start("risk/ui/pages/register.py", proposal_id=1)
    [grid] = [d for d in at.dataframe if "disagreement" in d.value.columns]
    shown = {v for v in grid.value["disagreement"] if v}
    assert shown and all(code not in ", ".join(shown).split(", ") for code in ("iqr", "range", "polarised"))
    assert any("split between partners" in v or "wide range" in v for v in shown), shown


def test_a_consensus_recorded_by_a_colleague_while_a_card_was_open_is_not_overwritten(demo_db):
    from risk.services import rounds as rs
    from risk.services.profile import proposal_profile

    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to="legal")
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3, actor=member_id(demo_db, 3, "Alan Brooks"))
    risk = next(v for v in proposal_profile(demo_db, 3).risks if v.risk.category == "legal").risk
    # a colleague records the residual consensus while Alan's card is open
    nadia = admin(demo_db, "Nadia Hussain").username  # an administrator, signed in elsewhere
    rs.record_consensus(demo_db, actor=nadia, risk_pk=risk.id, phase="residual", likelihood=2, impact=2,
                        rationale="agreed in the hallway")
    at.selectbox(key=f"res_l_{risk.id}_0").select(4)
    at.selectbox(key=f"res_i_{risk.id}_0").select(4)
    at.text_input(key=f"rationale_{risk.id}_0").input("Alan's older view")
    next(b for b in at.button if (b.proto.form_id or "") == f"score_{risk.id}_0" and b.label == "Save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    view = next(v for v in proposal_profile(demo_db, 3).risks if v.risk.id == risk.id)
    assert (view.residual.likelihood, view.residual.impact) == (2, 2)
    assert any(f"recorded as 2×2 by {nadia}" in plain(e.value) for e in at.error), [e.value for e in at.error]
    # the card is drawn afresh from what is stored
    assert at.selectbox(key=f"res_l_{risk.id}_1").value == 2


def test_record_consensus_refuses_when_the_consensus_on_screen_is_no_longer_stored(demo_db):
    from risk.services import rounds as rs

    risk = ps.list_risks(demo_db, 3)[0]
    nadia = admin(demo_db, "Nadia Hussain").username  # an administrator, signed in elsewhere
    rs.record_consensus(demo_db, actor=nadia, risk_pk=risk.id, phase="inherent", likelihood=3, impact=3,
                        rationale="r")
    with pytest.raises(ConflictError, match=f"by {nadia}"):
        rs.record_consensus(demo_db, actor=SYSTEM, risk_pk=risk.id, phase="inherent", likelihood=5, impact=5,
                            rationale="r", expected=None)
    rs.record_consensus(demo_db, actor=SYSTEM, risk_pk=risk.id, phase="inherent", likelihood=4, impact=4,
                        rationale="r", expected=(3, 3))


def test_coming_back_to_a_proposal_after_a_colleague_saved_shows_their_change_and_saves_without_a_conflict(demo_db):
    at = start("risk/ui/pages/proposal.py", proposal_id=2, actor="other", name="Omar Haddad")
    version = ps.get_proposal(demo_db, 2).version
    ps.update_proposal(demo_db, actor=SYSTEM, proposal_id=2, expected_version=version,
                       description="Ruth's description")
    at.switch_page("risk/ui/pages/register.py").run()
    at.switch_page("risk/ui/pages/proposal.py").run()
    assert keyed(at.text_area, "p_description_2_").value == "Ruth's description"
    keyed(at.text_input, "p_title_2_").input("Four Towns ERP, payroll and HR")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    stored = ps.get_proposal(demo_db, 2)
    assert (stored.title, stored.description) == ("Four Towns ERP, payroll and HR", "Ruth's description")


def test_a_card_refused_for_a_missing_rationale_saves_once_the_rationale_is_written(demo_db):
    from risk.services.profile import proposal_profile

    view = next(v for v in proposal_profile(demo_db, 1).risks if v.inherent.source == "aggregate")
    risk = view.risk
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=1, to=risk.category)
    at = start("risk/ui/pages/walkthrough.py", proposal_id=1, actor=member_id(demo_db, 1, "Dana Whitfield"))
    other = 1 if view.inherent.likelihood != 1 else 2
    at.selectbox(key=f"inh_l_{risk.id}_0").select(other)
    at.text_input(key=f"owner_{risk.id}_0").input("Someone new")
    save = lambda: next(b for b in at.button  # noqa: E731
                        if (b.proto.form_id or "") == f"score_{risk.id}_0" and b.label == "Save")
    save().click().run()
    assert any("write why the team agreed" in plain(e.value) for e in at.error), [e.value for e in at.error]
    assert at.selectbox(key=f"inh_l_{risk.id}_0").value == other  # what was typed stays to be completed
    at.text_input(key=f"rationale_{risk.id}_0").input("The contract was signed last week")
    save().click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    after = next(v for v in proposal_profile(demo_db, 1).risks if v.risk.id == risk.id)
    assert (after.inherent.source, after.inherent.likelihood, after.risk.owner) == ("consensus", other, "Someone new")


def test_an_error_in_a_widget_callback_shows_words_and_an_incident_number(demo_db, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def busy(*_args, **_kwargs):
        raise OperationalError("INSERT INTO risk ...", {}, Exception("database is locked"))

    monkeypatch.setattr(ps, "add_risk", busy)
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to="legal")
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3, actor=member_id(demo_db, 3, "Alan Brooks"))
    keyed(at.text_input, "own_title_").input("t")
    keyed(at.text_area, "own_cause_").input("c")
    keyed(at.text_area, "own_event_").input("e")
    keyed(at.text_area, "own_consequence_").input("q").run()
    keyed(at.button, "own_add_").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("database was busy" in e.value and "incident number" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert not any("INSERT" in e.value for e in at.error)


def test_the_import_target_follows_the_proposal_in_the_address(demo_db):
    at = start("risk/ui/pages/import_data.py", proposal_id=1, actor="other", name="Records Clerk")
    data = b"risk_id,category,title\r\nLEG-91,Legal,One more\r\n"
    at.file_uploader(key="import_file").set_value(("r.csv", data, "text/csv")).run()
    at.radio(key="import_target").set_value("An existing proposal").run()
    assert at.selectbox(key="import_proposal").value == 1
    at.selectbox(key="sidebar_proposal").set_value(2).run()
    assert at.query_params["proposal"] == "2"
    assert at.selectbox(key="import_proposal").value == 2
    at.selectbox(key="import_proposal").set_value(3).run()
    assert at.query_params["proposal"] == "3" and at.selectbox(key="sidebar_proposal").value == 3


def test_a_second_click_that_cut_the_creating_run_short_opens_what_the_first_created(app_db):
    """The first click's run created the proposal and was interrupted by the second click before the browser had
    the new address; the second click's run comes with the old address. It opens the created proposal (never an
    empty New proposal form that looks as if nothing was made), and a later New proposal is a new instance."""
    at = start("risk/ui/pages/proposal.py", actor="other", name="Dana Whitfield")
    token = at.session_state["_seen_new_proposal_0"]
    made = ps.create_proposal(app_db, actor=SYSTEM, title="Made by a first click", request_token=token)
    at.run()  # the run the second click started, with the address as it was
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["proposal"] == str(made)
    assert at.title[0].value == "Made by a first click"
    assert [p.title for p in ps.list_proposals(app_db)] == ["Made by a first click"]
    at.query_params.pop("proposal")  # New proposal again
    at.run()
    assert keyed(at.text_input, "p_title_").key != f"p_title_{token}"
    keyed(at.text_input, "p_title_").input("A different proposal")
    next(b for b in at.button if b.label == "Create proposal").click().run()
    assert sorted(p.title for p in ps.list_proposals(app_db)) == ["A different proposal", "Made by a first click"]


def test_a_colleague_moving_the_walkthrough_on_does_not_move_this_screen_or_drop_its_card(demo_db):
    from risk.services.profile import proposal_profile

    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to="legal")
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3, actor=member_id(demo_db, 3, "Alan Brooks"))
    assert at.query_params["step"] == "legal"
    risk = next(v for v in proposal_profile(demo_db, 3).risks if v.risk.category == "legal").risk
    at.text_area(key=f"controls_{risk.id}_0").input("Records liaison named in every partner")
    # Nadia clicks "Done with Legal" on her laptop
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to="operational", mark_done="legal")
    next(b for b in at.button if (b.proto.form_id or "") == f"score_{risk.id}_0" and b.label == "Save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [h.value for h in at.header][0] == "1. Legal risks"
    assert next(r for r in ps.list_risks(demo_db, 3) if r.id == risk.id).controls == \
        "Records liaison named in every partner"
    assert ps.walkthrough_state(ps.get_proposal(demo_db, 3))[1] == "operational"  # the team's step moved on


def test_two_proposals_with_one_title_are_told_apart_in_the_pickers(app_db):
    """A picker sends back the label chosen: two proposals called alike must not both come back as the first."""
    first = ps.create_proposal(app_db, actor=SYSTEM, title="Shared help desk")
    second = ps.create_proposal(app_db, actor=SYSTEM, title="Shared help desk")
    at = start("risk/ui/pages/review.py", proposal_id=first)
    picker = at.sidebar.selectbox(key="sidebar_proposal")
    assert picker.options == ["Shared help desk (no. 1)", "Shared help desk (no. 2)"]
    picker.set_value(second).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["proposal"] == str(second)
    assert at.sidebar.selectbox(key="sidebar_proposal").value == second
