"""AppTests of the review page's decisions (docs/DECISIONS.md): where the governments stand, a reviewer records
their government's decision, a change makes it stale with what changed, re-affirming, and what others are offered."""

from __future__ import annotations

from risk import accounts
from risk.services import decisions as ds
from risk.services import proposals as ps
from tests.signin import SYSTEM
from tests.test_app_accounts import PASSWORD, _session, open_as

REVIEW = "risk/ui/pages/review.py"


def _karen(engine) -> str:
    partners = {p.name: p.id for p, _ in ps.proposal_partners(engine, 1)}
    ps.add_team_member(engine, actor=SYSTEM, proposal_id=1, name="Karen Holt", partner_id=partners["Harmon County"],
                       team_role="reviewer")
    accounts.create_account(engine, actor=SYSTEM, username="karen", full_name="Karen Holt",
                            partner="Harmon County", password=PASSWORD)
    return _session(engine, "karen")


def _conditions(at, *rows: dict) -> None:
    """Type condition rows into the decision form's table (the first over its blank row, the rest added)."""
    at.session_state["decision_conditions_1_0"] = {"edited_rows": {0: rows[0]}, "added_rows": list(rows[1:]),
                                                   "deleted_rows": []}


def test_a_reviewer_records_the_decision_sees_it_go_stale_and_reaffirms_it(demo_db):
    at = open_as(_karen(demo_db), REVIEW, proposal_id=1)
    assert any(m.value.startswith("Waiting for City of Brookfield, City of Lakeview, City of Millbrook, Harmon County")
               for m in at.markdown)
    at.radio(key="decision_word_1_0").set_value("approve_with_conditions")
    at.text_area(key="decision_why_1_0").input("Commissioners, 4-1")
    _conditions(at, {"text": "Quarterly report to the board", "owner": "County administrator",
                     "due_date": "2027-03-31", "risk_id": "FIN-01"}, {"text": "  "})
    next(b for b in at.button if b.label == "Record the decision").click().run()
    assert not at.exception, [e.value for e in at.exception]
    harmon = next(v for v in ds.list_decisions(demo_db, 1) if v.partner == "Harmon County")
    assert (harmon.decision, harmon.by, harmon.rationale) == ("approve_with_conditions", "karen",
                                                               "Commissioners, 4-1")
    assert [(c.text, c.owner, str(c.due_date), c.risk_id, c.status) for c in harmon.conditions] == [
        ("Quarterly report to the board", "County administrator", "2027-03-31", "FIN-01", "open")]
    assert at.text_area(key="decision_why_1_1").value == ""  # the form is drawn afresh for the next decision
    table = next(d.value for d in at.dataframe if "Decision" in d.value.columns)
    assert "approved with conditions" in table["Decision"].tolist()
    ps.update_proposal(demo_db, actor=SYSTEM, proposal_id=1, appetite={"legal": "Open"})
    at.run()
    assert any("Harmon County" in w.value and "the appetites changed" in w.value for w in at.warning)
    next(b for b in at.button if b.label.startswith("Re-affirm the decision of Harmon County")).click().run()
    assert not at.exception
    assert not next(v for v in ds.list_decisions(demo_db, 1) if v.partner == "Harmon County").stale
    at.run()
    assert not any("Harmon County" in w.value for w in at.warning)


def test_a_refused_decision_says_why_and_records_nothing(demo_db):
    at = open_as(_karen(demo_db), REVIEW, proposal_id=1)
    at.radio(key="decision_word_1_0").set_value("approve")
    at.text_area(key="decision_why_1_0").input("Yes")
    _conditions(at, {"text": "A condition on a plain approval"})
    next(b for b in at.button if b.label == "Record the decision").click().run()
    assert any("only an approval with conditions has conditions" in e.value for e in at.error)
    assert all(v.decision is None for v in ds.list_decisions(demo_db, 1))


def test_only_a_governments_reviewer_is_offered_the_decision_form(demo_db):
    _karen(demo_db)
    facilitator = next(m for m in ps.team(demo_db, 1) if m.team_role == "facilitator")
    accounts.create_account(demo_db, actor=SYSTEM, username="dana2", full_name=facilitator.name,
                            partner="Harmon County", password=PASSWORD)
    at = open_as(_session(demo_db, "dana2"), REVIEW, proposal_id=1)
    assert not [b for b in at.button if b.label == "Record the decision"]
    assert any(m.value.startswith("Waiting for") for m in at.markdown)


def test_the_review_page_compares_a_snapshot_with_now_as_words_metrics_and_a_chart(demo_db):
    token = _karen(demo_db)
    ds.record_decision(demo_db, actor="karen", proposal_id=1, partner="Harmon County", decision="approve",
                       rationale="Yes")
    from risk.services import rounds as rs

    risk = ps.list_risks(demo_db, 1)[0]
    rs.record_consensus(demo_db, actor=SYSTEM, risk_pk=risk.id, phase="residual", likelihood=5, impact=5,
                        rationale="The vendor failed")
    ps.add_risk(demo_db, actor=SYSTEM, proposal_id=1, category="financial", title="Vendor failure")
    at = open_as(token, REVIEW, proposal_id=1)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Risks added"] == "1" and metrics["Levels up"] == "1"
    assert any(m.value.replace("\\", "").startswith(f"- {risk.risk_id}: residual level") for m in at.markdown)
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert any("Levels that moved" in str(c.proto) for c in charts), [type(c) for c in charts]


def test_the_next_cycle_is_started_from_the_review_page_and_shows_its_risks_against_the_last(demo_db):
    from tests.test_app import start

    at = start(REVIEW, proposal_id=2)
    at.button(key="cycle_ask_2").click().run()
    at.text_input(key="cycle_title_2").input("ERP: the 2027 review")
    at.button(key="cycle_start_2").click().run()
    assert not at.exception, [e.value for e in at.exception]
    new = max(p.id for p in ps.list_proposals(demo_db))
    assert str(at.query_params["proposal"]) in (str(new), str([str(new)]))
    assert any(s.value == "Against the last cycle" for s in at.subheader)
    table = next(d.value for d in at.dataframe if "Against the last cycle" in d.value.columns)
    assert set(table["Against the last cycle"]) == {"Unchanged"}
    assert set(table["Residual level now"]) == {"not scored yet"}


def test_the_portfolio_shows_each_proposals_decisions_and_what_needs_review_with_links(demo_db):
    from tests.test_app import start

    token = _karen(demo_db)
    ds.record_decision(demo_db, actor="karen", proposal_id=1, partner="Harmon County", decision="approve",
                       rationale="Approved")
    ps.update_proposal(demo_db, actor=SYSTEM, proposal_id=1, appetite={"legal": "Open"})
    at = start("risk/ui/pages/portfolio.py")
    table = next(d.value for d in at.dataframe if "Decisions" in d.value.columns).set_index("Proposal")
    assert table.loc["Tri-County Regional 911/CAD Consolidation", "Decisions"] == "1 of 4 decided, 1 stale"
    assert table.loc["Marsh County GIS Hub", "Decisions"] == ""
    assert not [d for d in at.dataframe if "Detail" in d.value.columns]  # computed only when asked for
    at.toggle(key="portfolio_due").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    due = next(d.value for d in at.dataframe if "Detail" in d.value.columns)
    stale = due[due["What"] == "Stale decision"]
    assert stale["Which"].tolist() == ["Harmon County"] and "the appetites changed" in stale["Detail"].iloc[0]
    assert any(link.label == "Review: Tri-County Regional 911/CAD Consolidation" for link in at.get("page_link"))
    # a reviewer sees what needs review on the proposals it may see
    at = open_as(token, "risk/ui/pages/portfolio.py")
    at.toggle(key="portfolio_due").set_value(True).run()
    shown = next(d.value for d in at.dataframe if "Detail" in d.value.columns)["Proposal"]
    assert set(shown) <= {"Tri-County Regional 911/CAD Consolidation"}


def test_the_register_of_a_next_cycle_shows_last_cycles_values_and_tags(demo_db):
    from risk.services import cycles
    from tests.test_app import start

    new = cycles.start_next_cycle(demo_db, actor=SYSTEM, proposal_id=2, title="ERP: the 2027 review")
    first = ps.list_risks(demo_db, new)[0]
    ps.update_risk(demo_db, actor=SYSTEM, risk_pk=first.id, expected_version=None, controls="A new control")
    ps.add_risk(demo_db, actor=SYSTEM, proposal_id=new, category="legal", title="A risk new this cycle")
    at = start("risk/ui/pages/register.py", proposal_id=new)
    assert not at.exception, [e.value for e in at.exception]
    grid = next(d.value for d in at.dataframe if "last_cycle" in d.value.columns).set_index("risk_id")
    assert grid.loc[first.risk_id, "last_cycle"] == "Modified"
    assert (grid["last_cycle"] == "New").sum() == 1
    assert set(grid["last_cycle"]) == {"Modified", "New", "Unchanged"}
    old = {r["risk_id"]: r for r in cycles.cycle_changes(demo_db, new)["risks"]}
    assert grid.loc[first.risk_id, "previous_residual"] == old[first.risk_id]["previous_values"]["residual"]
    assert grid.loc[first.risk_id, "previous_residual"].startswith("L")  # the demo ERP risks were scored


def test_an_administrator_records_a_decision_for_a_governments_reviewer_and_marks_a_condition_met(demo_db):
    from tests.test_app import start

    at = start(REVIEW, proposal_id=1)  # an administrator; nobody reviews for any government yet
    assert any("No partner government has a reviewer" in c.value for c in at.caption)
    assert not [b for b in at.button if b.label == "Record the decision"]
    _karen(demo_db)
    at.run()
    assert at.selectbox(key="decision_partner_1").options == ["Harmon County"]  # only those with a reviewer
    assert at.selectbox(key="decision_by_1").options == ["karen (Harmon County)"]
    at.radio(key="decision_word_1_0").set_value("approve_with_conditions")
    at.text_area(key="decision_why_1_0").input("Taken at the board meeting of 2 December")
    _conditions(at, {"text": "Annual audit of the dispatch contract", "owner": "Finance director"})
    next(b for b in at.button if b.label == "Record the decision").click().run()
    assert not at.exception, [e.value for e in at.exception]
    harmon = next(v for v in ds.list_decisions(demo_db, 1) if v.partner == "Harmon County")
    assert (harmon.decision, harmon.by, harmon.recorded_by) == ("approve_with_conditions", "karen", "ada.admin")
    condition = harmon.conditions[0]
    at.selectbox(key="condition_pick_1").set_value(condition.id)
    at.selectbox(key="condition_to_1").set_value("met")
    next(b for b in at.button if b.label == "Save the status").click().run()
    assert not at.exception
    assert next(v for v in ds.list_decisions(demo_db, 1) if v.partner == "Harmon County").conditions[0].status == "met"
    assert "Annual audit of the dispatch contract (Finance director, met)" in next(
        d.value for d in at.dataframe if "Conditions" in d.value.columns)["Conditions"].tolist()


def test_an_assessor_is_not_offered_the_condition_status_form(demo_db):
    _karen(demo_db)
    ds.record_decision(demo_db, actor="karen", proposal_id=1, partner="Harmon County",
                       decision="approve_with_conditions", rationale="x", conditions=["A condition"])
    assessor = next(m for m in ps.team(demo_db, 1) if m.team_role == "assessor")
    accounts.create_account(demo_db, actor=SYSTEM, username="marcus", full_name=assessor.name, password=PASSWORD)
    ps.link_team_member(demo_db, actor=SYSTEM, member_id=assessor.id, username="marcus")
    at = open_as(_session(demo_db, "marcus"), REVIEW, proposal_id=1)
    assert not [b for b in at.button if b.label in ("Save the status", "Record the decision")]
    assert any("A condition (open)" in x for x in next(
        d.value for d in at.dataframe if "Conditions" in d.value.columns)["Conditions"].tolist())
