"""County managers decide (risk/services/decisions.py, risk/snapshots.py): each partner government's decision
with its conditions, on a frozen snapshot; staleness after each kind of change; re-affirming; comparing snapshots;
who may decide for whom; the commands."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlmodel import Session

from risk import accounts, snapshots
from risk.errors import ConflictError, ForbiddenError, RefusedError
from risk.models import Decision, Snapshot
from risk.services import costs as cs
from risk.services import decisions as ds
from risk.services import proposals as ps
from risk.services import rounds as rs
from risk.services.portfolio import load_demo
from tests.builders import SYSTEM, database_state

PID = 1  # the demo's 911 proposal


def _reviewer(engine, username: str, full_name: str, partner: str) -> str:
    partners = {p.name: p.id for p, _ in ps.proposal_partners(engine, PID)}
    ps.add_team_member(engine, actor=SYSTEM, proposal_id=PID, name=full_name, partner_id=partners[partner],
                       team_role="reviewer")
    accounts.create_account(engine, actor=SYSTEM, username=username, full_name=full_name, partner=partner)
    return username


@pytest.fixture
def demo(engine):
    load_demo(engine, actor=SYSTEM)
    _reviewer(engine, "karen", "Karen Holt", "Harmon County")
    _reviewer(engine, "luis", "Luis Ortega", "City of Brookfield")
    return engine


def _view(engine, partner: str) -> ds.DecisionView:
    return next(v for v in ds.list_decisions(engine, PID) if v.partner == partner)


def test_a_reviewer_records_their_governments_decision_on_a_snapshot(demo):
    did = ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                             rationale="Board of commissioners, 5-0")
    view = _view(demo, "Harmon County")
    assert (view.decision, view.by, view.recorded_by, view.decision_id) == ("approve", "karen", "karen", did)
    assert not view.stale and view.changed_since == []
    with Session(demo) as s:
        shot = s.get(Snapshot, view.snapshot)
        assert shot.sha256 == snapshots.digest(shot.content) == view.sha256
        assert shot.audit_head  # the audit head when it was taken
        assert shot.content["cost_shares"]["method"].startswith("Blend")
        assert {r["risk_id"] for r in shot.content["risks"]} == {r.risk_id for r in ps.list_risks(demo, PID)}
    assert ds.standing(ds.list_decisions(demo, PID)) == \
        "Waiting for City of Brookfield, City of Lakeview, City of Millbrook."


def test_each_reviewer_decides_for_their_own_government_only(demo):
    assessor = next(m for m in ps.team(demo, PID) if m.team_role == "assessor")
    accounts.create_account(demo, actor=SYSTEM, username="marcus", full_name=assessor.name)
    before = database_state(demo)
    with pytest.raises(RefusedError, match="karen is not a reviewer of City of Brookfield"):
        ds.record_decision(demo, actor="karen", proposal_id=PID, partner="City of Brookfield", decision="approve",
                           rationale="x")
    with pytest.raises(ForbiddenError, match="may not record a decision in place of luis"):
        ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                           rationale="x", by="luis")
    with pytest.raises(ForbiddenError, match="may not record a partner government's decision"):
        ds.record_decision(demo, actor="marcus", proposal_id=PID, partner="Harmon County", decision="approve",
                           rationale="x")
    with pytest.raises(RefusedError, match="by: name the reviewer of Harmon County"):
        ds.record_decision(demo, actor="cli:clerk", proposal_id=PID, partner="Harmon County", decision="approve",
                           rationale="x")
    with pytest.raises(RefusedError, match="partner: expected one of the proposal's partner governments"):
        ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Nowhere", decision="approve",
                           rationale="x")
    assert {k: v for k, v in database_state(demo)["rows"].items() if k != "audit_event"} == \
        {k: v for k, v in before["rows"].items() if k != "audit_event"}  # refusals are audited, nothing else
    # the clerk records the council's decision for the reviewer, after the meeting
    ds.record_decision(demo, actor="cli:clerk", proposal_id=PID, partner="Harmon County", decision="reject",
                       rationale="Council vote 3-2", by="karen")
    view = _view(demo, "Harmon County")
    assert (view.decision, view.by, view.recorded_by) == ("reject", "karen", "cli:clerk")


def test_conditions_come_with_an_approval_with_conditions_and_only_with_one(demo):
    with pytest.raises(RefusedError, match="needs at least one condition"):
        ds.record_decision(demo, actor="luis", proposal_id=PID, partner="City of Brookfield",
                           decision="approve-with-conditions", rationale="x")
    with pytest.raises(RefusedError, match="only an approval with conditions has conditions"):
        ds.record_decision(demo, actor="luis", proposal_id=PID, partner="City of Brookfield", decision="approve",
                           rationale="x", conditions=["A condition"])
    with pytest.raises(RefusedError, match="condition 2: risk_id: expected a risk of this proposal"):
        ds.record_decision(demo, actor="luis", proposal_id=PID, partner="City of Brookfield",
                           decision="approve_with_conditions", rationale="x",
                           conditions=["Fine", {"text": "Tie", "risk_id": "NOPE-01"}])
    with pytest.raises(RefusedError, match="decision: expected one of approve"):
        ds.record_decision(demo, actor="luis", proposal_id=PID, partner="City of Brookfield", decision="maybe",
                           rationale="x")
    ds.record_decision(demo, actor="luis", proposal_id=PID, partner="City of Brookfield",
                       decision="approve-with-conditions", rationale="Council approved with two conditions",
                       conditions=[{"text": "Police records stay under the city's CJIS agreement", "owner": "Chief",
                                    "due_date": "2020-01-31", "risk_id": "LEG-01"},
                                   "Quarterly service-level report to council"])
    view = _view(demo, "City of Brookfield")
    assert view.decision == "approve_with_conditions"
    first, second = view.conditions
    assert (first.risk_id, first.owner, first.overdue, second.status) == ("LEG-01", "Chief", True, "open")
    ds.set_condition_status(demo, actor="luis", proposal_id=PID, condition_id=first.id, status="met")
    assert _view(demo, "City of Brookfield").conditions[0].status == "met"
    with pytest.raises(RefusedError, match="status: expected one of open, met, missed, waived"):
        ds.set_condition_status(demo, actor="luis", proposal_id=PID, condition_id=first.id, status="done")
    assert "in with conditions: City of Brookfield" in ds.standing(ds.list_decisions(demo, PID))
    from risk.services.activity import proposal_activity

    history = [e for e in proposal_activity(demo, PID) if e.kind == "Decisions"]
    assert any("recorded the decision of City of Brookfield: approve with conditions, by luis" in e.what
               for e in history)
    assert any(e.what.startswith("froze a snapshot") for e in history)
    assert any(e.entity == "decision_condition" and ("status", "open", "met") in e.changes for e in history)


def _first_risk(engine):
    return ps.list_risks(engine, PID)[0]


CHANGES = {
    "a consensus": (lambda e: rs.record_consensus(e, actor=SYSTEM, risk_pk=_first_risk(e).id, phase="residual",
                                                  likelihood=1, impact=1, rationale="After the new contract"),
                    "level"),
    "a new revealed round's scores": (lambda e: _new_round(e), "scores"),
    "a risk added": (lambda e: ps.add_risk(e, actor=SYSTEM, proposal_id=PID, category="legal", title="New risk"),
                     "risks added"),
    "a risk's text": (lambda e: ps.update_risk(e, actor=SYSTEM, risk_pk=_first_risk(e).id,
                                               expected_version=None, controls="A new control"), "controls"),
    "an appetite": (lambda e: ps.update_proposal(e, actor=SYSTEM, proposal_id=PID, appetite={"legal": "Open"}),
                    "appetites"),
    "a cost": (lambda e: cs.save_cost_lines(e, actor=SYSTEM, proposal_id=PID, lines=[
        *cs.cost_model(e, PID).lines, {"name": "Radio tower lease", "amount": 50_000, "kind": "recurring",
                                       "years": 5}]), "cost"),
    "a partner's status-quo cost": (lambda e: cs.set_partner_figures(
        e, actor=SYSTEM, proposal_id=PID, partner_id=cs.cost_model(e, PID).partners[0].partner_id,
        status_quo_cost=1), "partners"),
}


def _new_round(engine):
    rid = rs.open_round(engine, actor=SYSTEM, proposal_id=PID, phase="residual")
    member = next(m for m in ps.team(engine, PID) if m.team_role == "assessor")
    account = accounts.create_account(engine, actor=SYSTEM, username="scorer", full_name=member.name)
    ps.link_team_member(engine, actor=SYSTEM, member_id=member.id, username=account.username)
    rs.submit_score(engine, actor="scorer", round_id=rid, assessor_id=member.id, risk_pk=_first_risk(engine).id,
                    likelihood=5, impact=5)
    rs.reveal_round(engine, actor=SYSTEM, round_id=rid)


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_decision_goes_stale_when_what_it_saw_changes_and_says_what(demo, change):
    ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                       rationale="Approved")
    assert not _view(demo, "Harmon County").stale
    make, word = CHANGES[change]
    make(demo)
    view = _view(demo, "Harmon County")
    assert view.stale, change
    assert any(word in line for line in view.changed_since), view.changed_since
    assert "stale" in ds.standing(ds.list_decisions(demo, PID))


def test_what_a_decision_did_not_see_does_not_make_it_stale(demo):
    ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                       rationale="Approved")
    rs.open_round(demo, actor=SYSTEM, proposal_id=PID, phase="inherent")  # an open round's blind scores: not yet
    ps.move_walkthrough(demo, actor=SYSTEM, proposal_id=PID, to="legal")  # where the walkthrough stands
    accounts.create_account(demo, actor=SYSTEM, username="newbie", full_name="New Bie")
    assert not _view(demo, "Harmon County").stale


def test_renaming_the_proposal_or_moving_its_status_does_not_make_a_decision_stale(demo):
    ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                       rationale="Approved")
    ps.update_proposal(demo, actor=SYSTEM, proposal_id=PID, title="Tri-County 911 (as adopted)", status="Approved")
    assert not _view(demo, "Harmon County").stale
    diff = ds.compare_snapshots(demo, PID, _view(demo, "Harmon County").snapshot, "now")
    assert {c["field"] for c in diff["changed"]} == {"title", "status"}  # a compare still shows them
    ps.update_proposal(demo, actor=SYSTEM, proposal_id=PID, appetite={"legal": "Open"})
    words = _view(demo, "Harmon County").changed_since
    assert "the appetites changed" in words and not any("title" in w or "status" in w for w in words), words


def test_the_portfolio_counts_each_proposals_decisions_stale_rejected_and_sent_back(demo):
    from risk.services.summary import portfolio_overview

    assert ds.decision_counts(demo) == {}
    ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                       rationale="Approved")
    ds.record_decision(demo, actor="luis", proposal_id=PID, partner="City of Brookfield", decision="reject",
                       rationale="Too costly")
    assert ds.decision_counts(demo) == {PID: "2 of 4 decided, 1 rejected"}
    ps.update_proposal(demo, actor=SYSTEM, proposal_id=PID, appetite={"legal": "Open"})
    assert ds.decision_counts(demo) == {PID: "2 of 4 decided, 2 stale, 1 rejected"}
    assert ds.decision_counts(demo, [2, 3]) == {}
    overview = portfolio_overview(demo).set_index("id")
    assert overview.loc[PID, "Decisions"] == "2 of 4 decided, 2 stale, 1 rejected"
    assert overview.loc[2, "Decisions"] == ""


def test_a_stale_decision_is_reaffirmed_on_a_new_snapshot_keeping_its_conditions(demo):
    ds.record_decision(demo, actor="luis", proposal_id=PID, partner="City of Brookfield",
                       decision="approve_with_conditions", rationale="With a condition",
                       conditions=[{"text": "Quarterly report", "owner": "City manager"}])
    old = _view(demo, "City of Brookfield")
    ds.set_condition_status(demo, actor=SYSTEM, proposal_id=PID, condition_id=old.conditions[0].id, status="met")
    ps.update_proposal(demo, actor=SYSTEM, proposal_id=PID, appetite={"financial": "Open"})
    assert _view(demo, "City of Brookfield").stale
    new_id = ds.reaffirm_decision(demo, actor="luis", proposal_id=PID, decision_id=old.decision_id)
    view = _view(demo, "City of Brookfield")
    assert not view.stale and view.decision_id == new_id and view.snapshot != old.snapshot
    assert [(c.text, c.owner, c.status) for c in view.conditions] == [("Quarterly report", "City manager", "met")]
    with Session(demo) as s:
        assert s.get(Decision, new_id).reaffirms_id == old.decision_id
        assert len(s.execute(select(Decision).where(Decision.partner_id == s.get(Decision, new_id).partner_id))
                   .all()) == 2  # the first one stays as history


def test_comparing_snapshots_on_a_scripted_history(demo):
    ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                       rationale="First")
    first = ds.list_snapshots(demo, PID)[-1].id
    risk = _first_risk(demo)
    before_level = next(r for r in ds.snapshot_content(demo, PID, first)["risks"]
                        if r["risk_id"] == risk.risk_id)["residual"]["level"]
    rs.record_consensus(demo, actor=SYSTEM, risk_pk=risk.id, phase="residual", likelihood=5, impact=5,
                        rationale="Vendor went bankrupt")
    ps.add_risk(demo, actor=SYSTEM, proposal_id=PID, category="financial", title="Vendor failure")
    ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="send_back",
                       rationale="Assess the vendor")
    second = ds.list_snapshots(demo, PID)[-1].id
    diff = ds.compare_snapshots(demo, PID, first, second)
    new_id = max(r.risk_id for r in ps.list_risks(demo, PID) if r.category == "financial")
    assert diff["added"] == [new_id] and diff["removed"] == []
    assert {"risk_id": risk.risk_id, "phase": "residual", "before": before_level, "after": "Very High",
            "direction": "up"} in diff["level_moves"]
    assert any(c["risk_id"] == risk.risk_id and c["field"] == "consensus" for c in diff["changed"])
    assert ds.compare_snapshots(demo, PID, second, "now")["added"] == []
    assert snapshots.is_empty(ds.compare_snapshots(demo, PID, second, "now"))
    with pytest.raises(RefusedError, match="is not a snapshot of proposal 2"):
        ds.compare_snapshots(demo, 2, first, "now")


def test_a_snapshot_edited_in_the_database_is_refused_by_its_hash(demo, sqlite_url):
    ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                       rationale="First")
    shot = ds.list_snapshots(demo, PID)[-1].id
    with demo.begin() as conn:
        row = conn.execute(select(Snapshot.content).where(Snapshot.id == shot)).scalar_one()
        row["title"] = "Edited"
        conn.execute(Snapshot.__table__.update().where(Snapshot.__table__.c.id == shot).values(content=row))
    with pytest.raises(RefusedError, match="no longer matches its SHA-256"):
        ds.snapshot_content(demo, PID, shot)


def test_a_decision_is_refused_when_the_assessment_changes_while_it_is_recorded(demo, monkeypatch):
    real = ds.current_content

    def then_a_change(engine, pid):
        content = real(engine, pid)
        ps.update_proposal(engine, actor=SYSTEM, proposal_id=pid, description="Changed meanwhile")
        return content

    monkeypatch.setattr(ds, "current_content", then_a_change)
    with pytest.raises(ConflictError, match="changed while the decision was being recorded"):
        ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                           rationale="x")
    assert _view(demo, "Harmon County").decision is None


def test_all_in_when_every_partner_approves(demo):
    for username, name, partner in (("lina", "Lina Park", "City of Lakeview"),
                                    ("sam", "Sam Okafor", "City of Millbrook")):
        _reviewer(demo, username, name, partner)
    for username, partner in (("karen", "Harmon County"), ("luis", "City of Brookfield"),
                              ("lina", "City of Lakeview"), ("sam", "City of Millbrook")):
        ds.record_decision(demo, actor=username, proposal_id=PID, partner=partner, decision="approve",
                           rationale="Yes")
    assert ds.standing(ds.list_decisions(demo, PID)) == "All in."


# --- the commands --------------------------------------------------------------------------------------------

def test_the_decision_and_snapshot_commands(cli, sqlite_url):
    from risk.db import make_engine

    assert cli("demo").exit_code == 0
    engine = make_engine(sqlite_url)
    _reviewer(engine, "karen", "Karen Holt", "Harmon County")
    out = cli("decisions", "record", "--proposal", "1", "--partner", "Harmon County", "--by", "karen",
              "--decision", "approve-with-conditions", "--rationale", "Commissioners, 4-1",
              "--condition", "Report each quarter")
    assert out.exit_code == 0, out.output
    listed = json.loads(cli("decisions", "list", "--proposal", "1", "--format", "json").stdout)
    harmon = next(d for d in listed if d["partner"] == "Harmon County")
    assert set(harmon) >= {"partner", "decision", "by", "recorded_at", "snapshot", "stale", "changed_since",
                           "conditions"}
    assert (harmon["decision"], harmon["by"], harmon["stale"]) == ("approve_with_conditions", "karen", False)
    assert harmon["recorded_by"].startswith("cli:") and harmon["conditions"][0]["text"] == "Report each quarter"
    shots = json.loads(cli("snapshots", "list", "--proposal", "1", "--format", "json").stdout)
    assert [s["id"] for s in shots] == [harmon["snapshot"]] and shots[0]["sha256"] == harmon["sha256"]
    ps.update_proposal(engine, actor=SYSTEM, proposal_id=1, appetite={"legal": "Open"})
    diff = json.loads(cli("snapshots", "compare", "--proposal", "1", str(harmon["snapshot"]), "now",
                          "--format", "json").stdout)
    assert set(diff) >= {"added", "removed", "changed", "level_moves"}
    assert any(c["field"] == "appetite" and c["risk_id"] is None for c in diff["changed"])
    again = json.loads(cli("decisions", "list", "--proposal", "1", "--format", "json").stdout)
    assert next(d for d in again if d["partner"] == "Harmon County")["stale"] is True
    bad = cli("decisions", "record", "--proposal", "1", "--partner", "Harmon County", "--by", "karen",
              "--decision", "perhaps", "--rationale", "x")
    assert bad.exit_code == 1 and "decision: expected one of" in bad.output


# --- the JSON door -------------------------------------------------------------------------------------------

def _with_two_decisions(engine) -> None:
    ds.record_decision(engine, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                       rationale="First look")
    ps.update_proposal(engine, actor=SYSTEM, proposal_id=PID, appetite={"legal": "Open"})
    ds.reaffirm_decision(engine, actor="karen", proposal_id=PID,
                         decision_id=_view(engine, "Harmon County").decision_id)
    ds.record_decision(engine, actor="luis", proposal_id=PID, partner="City of Brookfield",
                       decision="approve_with_conditions", rationale="With a report",
                       conditions=[{"text": "Quarterly report", "owner": "City manager", "due_date": "2027-03-31",
                                    "risk_id": "LEG-01"}])


def test_decisions_conditions_and_snapshots_go_out_in_the_json_export_and_come_back(demo):
    from risk.services.json_export import export_document
    from risk.services.json_import import import_json

    _with_two_decisions(demo)
    doc = export_document(demo, [PID])
    p = doc["proposals"][0]
    assert len(p["snapshots"]) == 3 and [d["reaffirms"] for d in p["decisions"]] == [None, 1, None]
    assert "decisions" not in p["snapshots"][0]["content"]  # the record of decisions is not the assessment
    # into a database of its own, where the same proposal (same title) is new
    from risk.db import make_engine, migrate

    other = make_engine(str(demo.url).replace(".db", "-copy.db")) if demo.url.get_backend_name() == "sqlite" \
        else None
    if other is None:
        pytest.skip("the copy goes into a second SQLite file")
    migrate(other)
    result = import_json(other, json.dumps(doc).encode(), actor=SYSTEM)
    assert result["problems"] == [], result["problems"]
    mine, theirs = ds.list_decisions(demo, PID), ds.list_decisions(other, result["proposal_ids"][0])
    assert [(v.partner, v.decision, v.by, v.recorded_by, v.sha256, v.stale) for v in theirs] == \
        [(v.partner, v.decision, v.by, v.recorded_by, v.sha256, v.stale) for v in mine]
    assert [(c.text, c.owner, c.due_date, c.risk_id) for v in theirs for c in v.conditions] == \
        [(c.text, c.owner, c.due_date, c.risk_id) for v in mine for c in v.conditions]
    assert not any(v.stale for v in theirs if v.decision)  # the same assessment: nothing changed since


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p["snapshots"][0]["content"]["risks"][0].update(title="Edited"),
     "snapshot 1: sha256: the content does not match its SHA-256"),
    (lambda p: p["decisions"][0].update(snapshot="0" * 64), "decision 1: snapshot: expected the SHA-256"),
    (lambda p: p["decisions"][0].update(partner="Nowhere"), "decision 1: partner: expected a partner"),
    (lambda p: p["decisions"][1].update(reaffirms=2), "decision 2: reaffirms: expected the position"),
    (lambda p: p["decisions"][2].update(conditions=[]), "decision 3: conditions: an approval with conditions"),
    (lambda p: p["decisions"][2]["conditions"][0].update(risk_id="NOPE-09"),
     "decision 3, condition 1: risk_id: expected a risk of this proposal"),
    (lambda p: p["decisions"][0].update(decision="maybe"), "decision 1: decision: expected one of"),
])
def test_a_bad_decision_in_a_json_file_is_refused_naming_it(demo, change, message):
    from risk.services.json_export import export_document
    from risk.services.json_import import import_json

    _with_two_decisions(demo)
    doc = export_document(demo, [PID])
    change(doc["proposals"][0])
    before = database_state(demo)
    report = import_json(demo, json.dumps(doc).encode(), actor=SYSTEM, new_title="Copy")
    assert len(report["problems"]) == 1 and message in report["problems"][0]["message"], report["problems"]
    assert database_state(demo) == before


def test_review_due_lists_stale_decisions_overdue_conditions_and_risks_past_review(demo):
    import datetime as dt

    ds.record_decision(demo, actor="luis", proposal_id=PID, partner="City of Brookfield",
                       decision="approve_with_conditions", rationale="With a report",
                       conditions=[{"text": "Quarterly report", "due_date": "2026-01-31"}])
    ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="approve",
                       rationale="Yes")
    assert [x["kind"] for x in ds.review_due(demo, actor=SYSTEM, today=dt.date(2026, 6, 1))] == ["condition"]
    ps.update_proposal(demo, actor=SYSTEM, proposal_id=PID, appetite={"legal": "Open"})
    items = ds.review_due(demo, actor=SYSTEM, today=dt.date(2040, 1, 1))
    kinds = [x["kind"] for x in items]
    assert kinds[:2] == ["decision", "decision"] and "condition" in kinds and "risk" in kinds
    assert all(x["due"] < "2040-01-01" for x in items if x["kind"] == "risk")
    assert "the appetites changed" in items[0]["detail"]
    outsider = accounts.create_account(demo, actor=SYSTEM, username="otto", full_name="Otto Outsider")
    assert ds.review_due(demo, actor=outsider.username, today=dt.date(2040, 1, 1)) == []


def test_risk_review_due_prints_the_items_as_json(cli):
    assert cli("demo").exit_code == 0
    out = cli("review", "due", "--format", "json")
    assert out.exit_code == 0, out.output
    items = json.loads(out.stdout)
    assert all(set(x) >= {"kind", "proposal_id", "proposal", "item", "due", "detail"} for x in items)


# --- the exports -----------------------------------------------------------------------------------------------

def test_the_workbook_and_the_packet_say_each_governments_decision(demo, monkeypatch):
    import io
    import shutil
    import subprocess

    import openpyxl

    from risk.services.register_export import export_packet, export_xlsx

    if demo.url.get_backend_name() != "sqlite":
        pytest.skip("the exports are the same on both engines; made once")
    ds.record_decision(demo, actor="luis", proposal_id=PID, partner="City of Brookfield",
                       decision="approve_with_conditions", rationale="With a report",
                       conditions=[{"text": "Quarterly report", "owner": "City manager"}])
    ds.record_decision(demo, actor="karen", proposal_id=PID, partner="Harmon County", decision="reject",
                       rationale="Too costly")
    ps.update_proposal(demo, actor=SYSTEM, proposal_id=PID, appetite={"legal": "Open"})
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(demo, [PID, 2])))
    cells = [str(c) for row in book["Decisions"].iter_rows(values_only=True) for c in row if c is not None]
    assert "Out: Harmon County rejected it; sent back" not in " ".join(cells)
    assert any(c.startswith("Out: Harmon County rejected it") for c in cells)
    assert "approved with conditions" in cells and "rejected" in cells and "stale" in cells
    assert any("Quarterly report (open)" in c for c in cells)
    assert any("the appetites changed" in c for c in cells)
    assert "Four Towns Shared ERP and Payroll" in cells  # the second proposal, nobody decided yet
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext is not installed")
    from risk import charts

    monkeypatch.setattr(charts, "to_png", lambda *a, **k: _blank_png())
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=export_packet(demo, PID), capture_output=True,
                          check=True).stdout.decode()
    assert "Each government's decision" in text and "rejected (stale)" in text
    assert "Out: Harmon County rejected it" in " ".join(text.split())


def _blank_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(out, format="PNG")
    return out.getvalue()
