"""Service promises on both storage engines: rounds, consensus, standing values, appetite and the JSON export."""

from __future__ import annotations

import json

import pytest

from risk.errors import ForbiddenError, NotFoundError, RefusedError
from risk.services import proposals as ps
from risk.services import rounds as rs
from risk.services.json_export import export_document
from risk.services.profile import proposal_profile
from tests.builders import ACTOR, SYSTEM, account, make_proposal, member_account, score_round


def test_rounds_are_numbered_within_proposal_and_phase(engine):
    b = make_proposal(engine, partners=1, risks=1)
    r1 = score_round(engine, b, "inherent", {})
    r2 = score_round(engine, b, "inherent", {})
    r3 = score_round(engine, b, "residual", {})
    doc = export_document(engine, [b.proposal_id])["proposals"][0]
    numbers = {(r["phase"], r["number"]) for r in doc["rounds"]}
    assert numbers == {("inherent", 1), ("inherent", 2), ("residual", 1)}
    assert len({r1, r2, r3}) == 3


def test_only_one_round_of_a_phase_is_open_at_a_time(engine):
    b = make_proposal(engine, partners=1, risks=1)
    rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    with pytest.raises(RefusedError, match="already open"):
        rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="residual")


def test_a_round_moves_open_revealed_closed_and_never_back(engine):
    b = make_proposal(engine, partners=1, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    with pytest.raises(RefusedError, match="only a revealed round can be closed"):
        rs.close_round(engine, actor=ACTOR, round_id=rid)
    rs.reveal_round(engine, actor=ACTOR, round_id=rid)
    rs.close_round(engine, actor=ACTOR, round_id=rid)
    with pytest.raises(RefusedError):
        rs.reveal_round(engine, actor=ACTOR, round_id=rid)


def test_blind_scores_of_an_open_round_never_leave_the_database(engine):
    b = make_proposal(engine, partners=2, risks=1)
    score_round(engine, b, "inherent", {b.risks[0]: [(5, 5), (5, 5)]}, reveal=False)
    view = proposal_profile(engine, b.proposal_id).risks[0]
    assert view.inherent.source == "none"
    doc = export_document(engine, [b.proposal_id])["proposals"][0]
    assert doc["rounds"] == [] and doc["risks"][0]["scores"] == []


def test_standing_value_comes_from_the_latest_revealed_round(engine):
    b = make_proposal(engine, partners=4, risks=1)
    risk = b.risks[0]
    score_round(engine, b, "inherent", {risk: [(1, 1), (2, 2), (4, 4), (5, 5)]})
    score_round(engine, b, "inherent", {risk: [(3, 4), (3, 4), (4, 4), (3, 5)]})
    view = proposal_profile(engine, b.proposal_id).risks[0]
    assert (view.inherent.source, view.inherent.likelihood, view.inherent.impact) == ("aggregate", 3, 4)
    assert view.inherent.level == "Moderate"
    assert view.inherent.round_number == 2
    assert view.inherent.flags == ()


def test_even_panel_uses_the_upper_median_and_flags_the_split(engine):
    b = make_proposal(engine, partners=4, risks=1)
    score_round(engine, b, "inherent", {b.risks[0]: [(1, 3), (2, 3), (4, 3), (5, 3)]})
    view = proposal_profile(engine, b.proposal_id).risks[0]
    assert view.inherent.likelihood == 4  # upper median of 1, 2, 4, 5
    assert set(view.inherent.flags) == {"iqr", "partners", "polarised", "range", "spread"}


def test_consensus_overrides_the_aggregate_and_records_who(engine):
    b = make_proposal(engine, partners=3, risks=1)
    score_round(engine, b, "residual", {b.risks[0]: [(2, 2), (2, 2), (5, 5)]})
    rs.record_consensus(engine, actor=ACTOR, risk_pk=b.risks[0], phase="residual", likelihood=3,
                        impact=3, rationale="the host's outage history", dissent="City B holds 5/5")
    view = proposal_profile(engine, b.proposal_id).risks[0]
    assert (view.residual.source, view.residual.likelihood, view.residual.level) == ("consensus", 3, "Moderate")
    doc = export_document(engine, [b.proposal_id])["proposals"][0]
    [c] = doc["risks"][0]["consensus"]
    assert c["recorded_by"] == ACTOR and c["dissent"] == "City B holds 5/5"


def test_a_consensus_that_differs_from_the_aggregate_needs_a_rationale(engine):
    b = make_proposal(engine, partners=3, risks=1)
    score_round(engine, b, "inherent", {b.risks[0]: [(2, 2), (2, 2), (2, 2)]})
    with pytest.raises(RefusedError, match="rationale: the consensus"):
        rs.record_consensus(engine, actor=ACTOR, risk_pk=b.risks[0], phase="inherent", likelihood=4, impact=4)
    rs.record_consensus(engine, actor=ACTOR, risk_pk=b.risks[0], phase="inherent", likelihood=2, impact=2)


def test_over_appetite_uses_the_category_appetite_of_the_proposal(engine):
    b = make_proposal(engine, partners=1, risks=1, appetite={"legal": "Averse"})
    score_round(engine, b, "residual", {b.risks[0]: [(3, 2)]})  # Low
    view = proposal_profile(engine, b.proposal_id).risks[0]
    assert view.residual.level == "Low" and view.appetite == "Averse" and view.over_appetite is True
    ps.update_proposal(engine, actor=ACTOR, proposal_id=b.proposal_id, appetite={"legal": "Minimal"})
    assert proposal_profile(engine, b.proposal_id).risks[0].over_appetite is False


def test_changing_the_matrix_looks_every_level_up_again(engine):
    b = make_proposal(engine, partners=1, risks=1)
    score_round(engine, b, "inherent", {b.risks[0]: [(1, 5)]})
    assert proposal_profile(engine, b.proposal_id).risks[0].inherent.level == "Low"
    ps.update_proposal(engine, actor=ACTOR, proposal_id=b.proposal_id, matrix="local-gov-4-level")
    assert proposal_profile(engine, b.proposal_id).risks[0].inherent.level == "High"


def test_risk_ids_are_stable_keys_per_category(engine):
    b = make_proposal(engine, partners=1, risks=2)
    r3 = ps.add_risk(engine, actor=ACTOR, proposal_id=b.proposal_id, category="Financial", title="Overrun")
    keys = [r.risk_id for r in ps.list_risks(engine, b.proposal_id)]
    assert sorted(keys) == ["FIN-01", "LEG-01", "LEG-02"]
    with pytest.raises(RefusedError, match="risk_id: LEG-02 is already used"):
        ps.add_risk(engine, actor=ACTOR, proposal_id=b.proposal_id, category="legal", title="x", risk_id="LEG-02")
    assert r3


def test_bad_input_names_the_field_and_what_was_expected(engine):
    b = make_proposal(engine, partners=1, risks=1)
    cases = [
        (dict(category="weather", title="x"), "category: expected one of legal, operational"),
        (dict(category="legal", title=""), "title: a value is required"),
        (dict(category="legal", title="x", treatment="ignore"), "treatment: expected one of Accept, Avoid"),
        (dict(category="legal", title="x", target_likelihood=7), "target_likelihood: expected a whole number"),
        (dict(category="legal", title="x", status="Done"), "status: expected one of Draft"),
        (dict(category="cybersecurity", title="x"), "cybersecurity is off"),
    ]
    for fields, message in cases:
        with pytest.raises(RefusedError, match=message):
            ps.add_risk(engine, actor=ACTOR, proposal_id=b.proposal_id, **fields)
    with pytest.raises(RefusedError, match="population: expected a whole number from 0 to 1,000,000,000, got -5"):
        ps.add_partner(engine, actor=ACTOR, name="Nowhere", population=-5, proposal_id=b.proposal_id)
    with pytest.raises(RefusedError, match="appetite: legal: expected one of Averse, Minimal"):
        ps.update_proposal(engine, actor=ACTOR, proposal_id=b.proposal_id, appetite={"legal": "Reckless"})
    with pytest.raises(NotFoundError):  # for whoever may see every proposal; others are refused (test_permissions)
        ps.update_proposal(engine, actor=SYSTEM, proposal_id=999, title="x")
    assert len(ps.list_risks(engine, b.proposal_id)) == 1


def test_a_proposal_has_at_most_one_lead_partner(engine):
    b = make_proposal(engine, partners=3, risks=0)
    ps.link_partner(engine, actor=ACTOR, proposal_id=b.proposal_id, partner_id=b.partners[2], role="lead")
    roles = {p.id: role for p, role in ps.proposal_partners(engine, b.proposal_id)}
    assert roles == {b.partners[0]: "participant", b.partners[1]: "participant", b.partners[2]: "lead"}


def test_assessors_come_from_partner_governments_and_observers_do_not_score(engine):
    b = make_proposal(engine, partners=1, risks=1)
    other = ps.add_partner(engine, actor=ACTOR, name="Outside town", proposal_id=b.proposal_id)
    with pytest.raises(RefusedError, match="does not take part"):
        ps.add_team_member(engine, actor=ACTOR, proposal_id=b.proposal_id, name="X", partner_id=other)
    obs = ps.add_team_member(engine, actor=ACTOR, proposal_id=b.proposal_id, name="Press officer",
                             partner_id=None, team_role="observer")
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    with pytest.raises(ForbiddenError, match="observer of this proposal\\) may not score"):
        rs.submit_score(engine, actor=member_account(engine, obs), round_id=rid, assessor_id=obs,
                        risk_pk=b.risks[0], likelihood=3, impact=3)
    boss = account(engine, "boss", "Bo Boss", admin=True)  # an administrator linked to the observer: still no score
    ps.link_team_member(engine, actor=ACTOR, member_id=obs, username=boss)
    with pytest.raises(RefusedError, match="Press officer is an observer and does not score"):
        rs.submit_score(engine, actor=boss, round_id=rid, assessor_id=obs, risk_pk=b.risks[0], likelihood=3,
                        impact=3)


def test_export_holds_the_documented_shape(engine):
    b = make_proposal(engine, partners=2, risks=1)
    ps.add_action(engine, actor=ACTOR, risk_pk=b.risks[0], description="Add exit clause", owner="County attorney",
                  due_date="2027-03-31", cost=5000, paying_partner_id=b.partners[0])
    score_round(engine, b, "inherent", {b.risks[0]: [(4, 4), (1, 4)]})
    doc = json.loads(json.dumps(export_document(engine)))
    [p] = doc["proposals"]
    for key in ("id", "title", "matrix", "aggregation", "partners", "team", "rounds", "risks"):
        assert key in p
    assert p["matrix"] == "nist-800-30" and p["aggregation"] == "upper_median"
    [risk] = p["risks"]
    for key in ("risk_id", "category", "title", "cause", "event", "consequence", "scores", "inherent", "residual"):
        assert key in risk
    assert risk["category"] == "legal"
    assert risk["scores"] == [
        {"round": 1, "assessor": "Assessor 1.1", "partner": "Regional 911/CAD partner 1", "phase": "inherent",
         "likelihood": 4, "impact": 4, "rationale": ""},
        {"round": 1, "assessor": "Assessor 2.1", "partner": "Regional 911/CAD partner 2", "phase": "inherent",
         "likelihood": 1, "impact": 4, "rationale": ""},
    ]
    assert risk["inherent"] == {"likelihood": 4, "impact": 4, "level": "High", "source": "aggregate",
                                "flags": ["partners", "polarised", "range", "spread"]}
    assert risk["residual"] == {"likelihood": None, "impact": None, "level": None, "source": "none", "flags": []}
    assert risk["actions"][0]["paying_partner"] == "Regional 911/CAD partner 1"


def test_the_walk_resumes_where_the_team_left_off(engine):
    b = make_proposal(engine, partners=1, risks=0, cybersecurity=True)
    steps, current, done = ps.walkthrough_state(ps.get_proposal(engine, b.proposal_id))
    assert steps == ["legal", "operational", "financial", "reputational", "societal", "cybersecurity"]
    assert (current, done) == ("legal", [])
    ps.move_walkthrough(engine, actor=ACTOR, proposal_id=b.proposal_id, to="operational", mark_done="legal")
    ps.move_walkthrough(engine, actor=ACTOR, proposal_id=b.proposal_id, to="financial", mark_done="operational")
    _, current, done = ps.walkthrough_state(ps.get_proposal(engine, b.proposal_id))
    assert (current, done) == ("financial", ["legal", "operational"])
    with pytest.raises(RefusedError, match="step: expected one of"):
        ps.move_walkthrough(engine, actor=ACTOR, proposal_id=b.proposal_id, to="weather")
