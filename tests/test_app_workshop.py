"""AppTests of the Workshop page (issue 12): what the reveal, the round comparison and the blind forms tell each
person, signed in as a team member (through a one-time link) at ?proposal=ID."""

from __future__ import annotations

import json

from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from risk.services import rounds as rs
from risk.services import workshop as ws
from tests.builders import ACTOR, make_proposal, score_round
from tests.signin import member_session, username_of

PAGE = "risk/ui/pages/workshop.py"


def open_workshop(proposal_id: int, member: int) -> AppTest:
    """The workshop page signed in as team member `member` (through a one-time link)."""
    from risk.ui.common import engine

    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params["proposal"] = str(proposal_id)
    at.session_state["_session_token"] = member_session(engine(), member)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def facilitator_of(b) -> int:
    return next(m for m, name in b.names.items() if name == ACTOR)


def _walk(node):
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _walk(child)


def texts(at: AppTest) -> list[str]:
    """Every markdown, caption and alert body on the main area, as sent (escaped markdown)."""
    return [e.proto.body for e in _walk(at.main) if type(e.proto).__name__ in ("Markdown", "Alert")]


def save_button(at: AppTest):
    """The blind form's "Save my score" (keyed by the risk on screen)."""
    [found] = [b for b in at.button if b.label == "Save my score"]
    return found


def widget(at: AppTest, kind: str, prefix: str):
    [found] = [w for w in getattr(at, kind) if (w.key or "").startswith(prefix)]
    return found


def test_a_recorded_dissent_is_shown_with_the_consensus_as_plain_text(app_db):
    b = make_proposal(app_db, partners=2, risks=1)
    score_round(app_db, b, "inherent", {b.risks[0]: [(2, 2), (4, 4)]})
    rs.record_consensus(app_db, actor=ACTOR, risk_pk=b.risks[0], phase="inherent", likelihood=4, impact=4,
                        rationale="Vendor lock-in", dissent="Partner 1 holds it is a **2** [see](http://x)")
    for member in (facilitator_of(b), b.members[0]):
        at = open_workshop(b.proposal_id, member)
        [agreed] = [s.value for s in at.success if "Consensus recorded" in s.value]
        assert agreed.endswith("\n\nDissent: Partner 1 holds it is a \\*\\*2\\*\\* \\[see\\]\\(http\\://x\\)"), agreed


def test_a_reveal_with_a_missing_score_names_who_did_not_score_and_does_not_call_it_agreement(app_db):
    b = make_proposal(app_db, partners=3, risks=1)
    score_round(app_db, b, "inherent", {b.risks[0]: [(3, 3), (3, 3)]})  # Assessor 3.1 did not score
    at = open_workshop(b.proposal_id, facilitator_of(b))
    shown = texts(at)
    assert "2 of 3 scored; missing: Assessor C." in shown
    [headline] = [t for t in shown if t.startswith("**LEG\\-01**")]
    assert "agreement" not in headline and ":orange-badge[1 score missing]" in headline
    at.toggle(key=f"names_{rs.current_round(app_db, b.proposal_id).id}").set_value(True).run()
    assert "2 of 3 scored; missing: Assessor 3\\.1." in texts(at)


def test_a_reveal_where_everyone_scored_alike_is_called_agreement(app_db):
    b = make_proposal(app_db, partners=2, risks=1)
    score_round(app_db, b, "inherent", {b.risks[0]: [(3, 3), (3, 3)]})
    shown = texts(open_workshop(b.proposal_id, facilitator_of(b)))
    assert "2 of 2 scored." in shown
    assert any(t.startswith("**LEG\\-01**") and t.endswith(":green-badge[agreement]") for t in shown), shown


def test_the_round_comparison_explains_what_spread_means(app_db):
    b = make_proposal(app_db, partners=3, risks=1)
    first = score_round(app_db, b, "inherent", {b.risks[0]: [(1, 1), (3, 3), (5, 5)]})
    score_round(app_db, b, "inherent", {b.risks[0]: [(3, 3), (3, 3), (4, 3)]})
    assert rs.current_round(app_db, b.proposal_id).id != first
    at = open_workshop(b.proposal_id, facilitator_of(b))
    [table] = [d for d in at.dataframe if "Spread before" in d.value.columns]
    columns = json.loads(table.proto.columns)
    for column in ("Spread before", "Spread after"):
        assert "highest and the lowest likelihood score" in columns[column]["help"]
    assert "smaller spread" in columns["Converged"]["help"]
    assert any(c.value.startswith("Spread: how far apart the assessors were") for c in at.caption)


def test_an_assessor_is_told_only_their_own_letter_in_an_anonymous_reveal(app_db):
    b = make_proposal(app_db, partners=3, risks=1)
    score_round(app_db, b, "inherent", {b.risks[0]: [(1, 1), (3, 3), (5, 5)]})
    at = open_workshop(b.proposal_id, b.members[1])
    assert [i.value for i in at.info if "You are" in i.value] == [
        "You are **Assessor B** in this reveal; your scores are marked \"(you)\". The others do not see which "
        "letter is yours."]
    [scores] = [d.value for d in at.dataframe if "Assessor" in d.value.columns]
    assert scores["Assessor"].tolist() == ["Assessor A", "Assessor B (you)", "Assessor C"]
    facilitator = open_workshop(b.proposal_id, facilitator_of(b))  # did not score: no letter, no mark
    assert not [i for i in facilitator.info if "You are" in i.value]
    assert not any("(you)" in d.value.to_string() for d in facilitator.dataframe)


def test_round_two_reminds_an_assessor_of_their_own_round_one_score_only(app_db):
    b = make_proposal(app_db, partners=3, risks=2)
    split, calm = b.risks
    first = score_round(app_db, b, "inherent", {split: [(1, 1), (3, 3), (4, 5)], calm: [(2, 2)] * 3})
    rs.open_round(app_db, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent",
                  risk_pks=ws.flagged_risks(app_db, first))
    at = open_workshop(b.proposal_id, b.members[2])
    reminders = [c.value for c in at.caption if c.value.startswith("Your round")]
    assert reminders == ["Your round 1 score: 4×5 (Very High)"]
    round_one = open_workshop(b.proposal_id, b.members[0])
    assert [c.value for c in round_one.caption if c.value.startswith("Your round")] == ["Your round 1 score: 1×1 "
                                                                                         "(Very Low)"]


def test_the_blind_form_counts_one_risk_in_the_singular(app_db):
    b = make_proposal(app_db, partners=1, risks=1)
    rs.open_round(app_db, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    at = open_workshop(b.proposal_id, b.members[0])
    [bar] = [e for e in _walk(at.main) if type(e.proto).__name__ == "Progress"]
    assert bar.proto.text == "You have scored 0 of 1 risk"
    board = open_workshop(b.proposal_id, facilitator_of(b))
    assert any(c.value.startswith("0 of 1 have scored every risk") for c in board.caption)


def test_a_risk_id_with_markdown_is_shown_as_plain_text_in_the_blind_form_and_the_reveal(app_db):
    b = make_proposal(app_db, partners=1, risks=2)
    with app_db.begin() as conn:  # such keys come from older data or imports; the page must not render them
        conn.execute(text("UPDATE risk SET risk_id = :a WHERE id = :i"), {"a": "![x](http://host/x.png)",
                                                                         "i": b.risks[0]})
        conn.execute(text("UPDATE risk SET risk_id = :a WHERE id = :i"), {"a": "[t](http://x)", "i": b.risks[1]})
    rid = rs.open_round(app_db, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    at = open_workshop(b.proposal_id, b.members[0])
    at.selectbox(key=f"score_pick_{rid}_{b.members[0]}").set_value(b.risks[1])
    at.run()
    # nothing chosen
    save_button(at).click().run()
    from risk.ui.common import md

    assert [e.value for e in at.error] == [md("[t](http://x): choose both a likelihood and an impact")]
    assert "\\[t\\]\\(http\\://x\\)" in at.error[0].value  # shown as text, not as a link
    rs.submit_score(app_db, actor=username_of(app_db, b.members[0]), round_id=rid, assessor_id=b.members[0],
                    risk_pk=b.risks[0], likelihood=3, impact=3)
    rs.reveal_round(app_db, actor=ACTOR, round_id=rid)
    for page in (at, open_workshop(b.proposal_id, facilitator_of(b))):
        page.run()
        shown = " ".join(texts(page))
        assert "](http" not in shown and "![x]" not in shown and "[t]" not in shown
        assert "\\!\\[x\\]\\(http" in shown and "\\[t\\]\\(http" in shown  # the unscored one too


def test_the_consensus_form_shows_the_consensus_stored_after_a_save_and_keeps_a_refused_entry(app_db):
    b = make_proposal(app_db, partners=2, risks=1)
    pk = b.risks[0]
    score_round(app_db, b, "inherent", {pk: [(2, 2), (4, 4)]})  # aggregate 4x4
    rs.record_consensus(app_db, actor=ACTOR, risk_pk=pk, phase="inherent", likelihood=3, impact=4,
                        rationale="Contracts signed", dissent="Partner 2 says 4")
    at = open_workshop(b.proposal_id, facilitator_of(b))
    prefix = f"{pk}_inherent_"
    assert (widget(at, "selectbox", f"c_l_{prefix}").value, widget(at, "selectbox", f"c_i_{prefix}").value,
            widget(at, "text_input", f"c_why_{prefix}").value,
            widget(at, "text_input", f"c_dissent_{prefix}").value) == (3, 4, "Contracts signed", "Partner 2 says 4")
    # refused: another value than the aggregate without a rationale; what was typed stays to be corrected
    widget(at, "selectbox", f"c_l_{prefix}").select(2)
    widget(at, "text_input", f"c_why_{prefix}").input("")
    at.button(key=f"FormSubmitter:consensus_{pk}_inherent-Record the consensus").click().run()
    assert any("write why the team agreed on it" in e.value for e in at.error)
    assert widget(at, "selectbox", f"c_l_{prefix}").value == 2
    assert rs.recorded_consensus(app_db, [pk], "inherent")[pk].likelihood == 3
    # saved: the form is drawn again from what is stored (the rationale as stored, trimmed)
    widget(at, "text_input", f"c_why_{prefix}").input("  Only one partner signed  ")
    at.button(key=f"FormSubmitter:consensus_{pk}_inherent-Record the consensus").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    stored = rs.recorded_consensus(app_db, [pk], "inherent")[pk]
    assert (stored.likelihood, stored.rationale) == (2, "Only one partner signed")
    assert (widget(at, "selectbox", f"c_l_{prefix}").value,
            widget(at, "text_input", f"c_why_{prefix}").value) == (2, "Only one partner signed")
    # recorded elsewhere (another device): the form follows what is stored
    rs.record_consensus(app_db, actor=ACTOR, risk_pk=pk, phase="inherent", likelihood=4, impact=4)
    at.run()
    assert (widget(at, "selectbox", f"c_l_{prefix}").value, widget(at, "text_input", f"c_why_{prefix}").value,
            widget(at, "text_input", f"c_dissent_{prefix}").value) == (4, "", "")


def test_the_blind_form_shows_the_score_as_stored_after_a_save(app_db):
    b = make_proposal(app_db, partners=1, risks=1)
    pk = b.risks[0]
    rid = rs.open_round(app_db, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    at = open_workshop(b.proposal_id, b.members[0])
    widget(at, "button_group", f"b_l_{rid}_{b.members[0]}").set_value(2)
    widget(at, "button_group", f"b_i_{rid}_{b.members[0]}").set_value(3)
    widget(at, "text_input", f"b_why_{rid}_{b.members[0]}").input("  Two towns already share it  ")
    save_button(at).click().run()
    assert not at.exception and not at.error
    assert rs.my_scores(app_db, round_id=rid, assessor_id=b.members[0]) == {pk: (2, 3, "Two towns already share it")}
    assert widget(at, "text_input", f"b_why_{rid}_{b.members[0]}").value == "Two towns already share it"
    rs.submit_score(app_db, actor=username_of(app_db, b.members[0]), round_id=rid, assessor_id=b.members[0], risk_pk=pk,
                    likelihood=5, impact=5)  # from the assessor's other device
    at.run()
    v = f"{rid}_{b.members[0]}"
    assert (widget(at, "button_group", f"b_l_{v}").value, widget(at, "text_input", f"b_why_{v}").value) == (5, "")


def test_a_consensus_recorded_elsewhere_while_the_form_was_open_is_not_overwritten(app_db):
    b = make_proposal(app_db, partners=2, risks=1)
    pk = b.risks[0]
    score_round(app_db, b, "inherent", {pk: [(2, 2), (4, 4)]})  # aggregate 4x4
    at = open_workshop(b.proposal_id, facilitator_of(b))
    prefix = f"{pk}_inherent_"
    # another device records a consensus while this facilitator's form is open
    rs.record_consensus(app_db, actor=ACTOR, risk_pk=pk, phase="inherent", likelihood=3, impact=4,
                        rationale="Agreed on the other laptop")
    widget(at, "selectbox", f"c_l_{prefix}").select(1)
    widget(at, "text_input", f"c_why_{prefix}").input("An older view")
    at.button(key=f"FormSubmitter:consensus_{pk}_inherent-Record the consensus").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("after you opened this form" in e.value for e in at.error), [e.value for e in at.error]
    stored = rs.recorded_consensus(app_db, [pk], "inherent")[pk]
    assert (stored.likelihood, stored.impact, stored.rationale) == (3, 4, "Agreed on the other laptop")
    assert widget(at, "selectbox", f"c_l_{prefix}").value == 3  # the form shows what is stored


def test_a_screen_that_was_not_clicked_never_undoes_a_colleagues_names_choice(app_db):
    b = make_proposal(app_db, partners=2, risks=1)
    rid = score_round(app_db, b, "inherent", {b.risks[0]: [(2, 2), (4, 4)]})
    at = open_workshop(b.proposal_id, facilitator_of(b))
    assert at.toggle(key=f"names_{rid}").value is False
    rs.show_names(app_db, actor=ACTOR, round_id=rid, show=True)  # the facilitator's other screen
    at.run()
    assert rs.current_round(app_db, b.proposal_id).show_names is True
    assert at.toggle(key=f"names_{rid}").value is True
    at.toggle(key=f"names_{rid}").set_value(False).run()  # a click on this screen does change it
    assert rs.current_round(app_db, b.proposal_id).show_names is False


def test_the_scoring_panel_shows_one_risk_at_a_time_and_moves_on_to_the_next_not_scored(app_db):
    b = make_proposal(app_db, partners=1, risks=3)
    me = b.members[0]
    rid = rs.open_round(app_db, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    rs.submit_score(app_db, actor=username_of(app_db, me), round_id=rid, assessor_id=me, risk_pk=b.risks[1],
                    likelihood=4, impact=4)  # the second one scored earlier (another device)
    at = open_workshop(b.proposal_id, me)
    assert len(at.get("form")) == 1  # one risk's form open, not one per risk
    pick = at.selectbox(key=f"score_pick_{rid}_{me}")
    assert pick.value == b.risks[0] and pick.options[1].startswith("✓ ")
    widget(at, "button_group", f"b_l_{rid}_{me}").set_value(1)
    widget(at, "button_group", f"b_i_{rid}_{me}").set_value(2)
    save_button(at).click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success][-1].startswith("Saved your score for")
    assert at.selectbox(key=f"score_pick_{rid}_{me}").value == b.risks[2]  # past the one scored already
    [bar] = [e for e in _walk(at.main) if type(e.proto).__name__ == "Progress"]
    assert bar.proto.text == "You have scored 2 of 3 risks"
    # back to the risk scored elsewhere: its stored score is what the buttons show
    at.selectbox(key=f"score_pick_{rid}_{me}").set_value(b.risks[1]).run()
    assert (widget(at, "button_group", f"b_l_{rid}_{me}").value,
            widget(at, "button_group", f"b_i_{rid}_{me}").value) == (4, 4)
    # a choice not saved does not follow to another risk: the one not scored yet shows nothing chosen
    widget(at, "button_group", f"b_l_{rid}_{me}").set_value(1)
    at.selectbox(key=f"score_pick_{rid}_{me}").set_value(b.risks[2]).run()
    assert (widget(at, "button_group", f"b_l_{rid}_{me}").value,
            widget(at, "button_group", f"b_i_{rid}_{me}").value) == (None, None)
    assert rs.my_scores(app_db, round_id=rid, assessor_id=me)[b.risks[1]][:2] == (4, 4)


def scoring(app_db, risks: int):
    """A proposal of `risks` risks with a blind round open, and its first assessor's workshop page."""
    b = make_proposal(app_db, partners=1, risks=risks)
    me = b.members[0]
    rid = rs.open_round(app_db, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    return b, me, rid, open_workshop(b.proposal_id, me)


def tap(at: AppTest, rid: int, me: int, likelihood: int | None, impact: int | None) -> None:
    """Tap a likelihood and an impact (None: leave it)."""
    for axis, value in (("l", likelihood), ("i", impact)):
        if value is not None:
            widget(at, "button_group", f"b_{axis}_{rid}_{me}").set_value(value)


def test_a_score_refused_because_the_round_was_revealed_meanwhile_says_so_and_saves_nothing(app_db):
    b, me, rid, at = scoring(app_db, risks=2)
    tap(at, rid, me, 3, 3)
    rs.submit_score(app_db, actor=username_of(app_db, me), round_id=rid, assessor_id=me, risk_pk=b.risks[1],
                    likelihood=2, impact=2)
    rs.reveal_round(app_db, actor=ACTOR, round_id=rid)  # the facilitator reveals it while the form is open
    save_button(at).click().run()
    assert not at.exception
    assert at.error and "round" in at.error[0].value.lower()
    assert set(rs.my_scores(app_db, round_id=rid, assessor_id=me)) == {b.risks[1]}


def test_the_word_of_a_save_outlasts_a_run_stopped_for_a_rerun_and_goes_when_another_risk_is_picked(app_db):
    """The page's own timer may stop the panel's run to rerun it: the "Saved" message must not be taken by the run
    that was stopped. It stays while the panel shows the risk the save moved on to, and goes with a pick."""
    b, me, rid, at = scoring(app_db, risks=3)
    tap(at, rid, me, 2, 5)
    save_button(at).click().run()
    saved = [s.value for s in at.success]
    assert saved and saved[-1].startswith("Saved your score for")
    at.run()  # the rerun that follows a stopped run (or any rerun before the next tap)
    assert [s.value for s in at.success][-1:] == saved[-1:]
    assert at.selectbox(key=f"score_pick_{rid}_{me}").value == b.risks[1]
    at.selectbox(key=f"score_pick_{rid}_{me}").set_value(b.risks[2]).run()  # another risk picked: the word goes
    assert not [s.value for s in at.success if s.value.startswith("Saved your score")]
    # a refusal stays with the risk it is about until the assessor does something else
    tap(at, rid, me, 3, None)
    save_button(at).click().run()
    assert at.error and "choose both" in at.error[0].value
    at.run()
    assert at.error and "choose both" in at.error[0].value


def test_a_save_from_a_screen_that_missed_the_update_never_lands_on_another_risk(app_db):
    """A phone that missed the panel's update (or a second tap sent before it came) still shows the risk just saved
    and its choices. Its "Save my score" is that risk's button, gone from the panel that moved on: the tap saves
    nothing, and the choices it carries are not put on the next risk's buttons."""
    b, me, rid, at = scoring(app_db, risks=3)
    first = save_button(at)
    assert first.key == f"save_{rid}_{me}_{b.risks[0]}"
    tap(at, rid, me, 2, 5)
    first.click().run()
    assert rs.my_scores(app_db, round_id=rid, assessor_id=me) == {b.risks[0]: (2, 5, "")}
    assert save_button(at).key == f"save_{rid}_{me}_{b.risks[1]}"  # the button of the risk now on screen
    # the old screen's choices arrive with a run that is not a save of the risk on screen
    tap(at, rid, me, 4, 4)
    at.run()
    assert rs.my_scores(app_db, round_id=rid, assessor_id=me) == {b.risks[0]: (2, 5, "")}
    assert (widget(at, "button_group", f"b_l_{rid}_{me}").value,
            widget(at, "button_group", f"b_i_{rid}_{me}").value) == (None, None)
    # a refused save keeps what was chosen, to be completed
    tap(at, rid, me, 3, None)
    save_button(at).click().run()
    assert at.error and "choose both" in at.error[0].value
    assert widget(at, "button_group", f"b_l_{rid}_{me}").value == 3
    tap(at, rid, me, None, 1)
    save_button(at).click().run()
    assert rs.my_scores(app_db, round_id=rid, assessor_id=me)[b.risks[1]] == (3, 1, "")
