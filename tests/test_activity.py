"""The Activity history (risk/services/activity.py): a proposal's events in words, newest first, with each changed
field before and after; only that proposal's; blind scores without their values; refusals; the filters; the CSV."""

from __future__ import annotations

import csv
import io

import pytest

from risk.errors import ForbiddenError
from risk.services import activity
from risk.services import proposals as ps
from risk.services import rounds as rs
from tests.builders import ACTOR, SYSTEM, make_proposal


@pytest.fixture
def two(engine):
    mine = make_proposal(engine, title="Shared GIS hub")
    other = make_proposal(engine, title="Shared payroll")
    return mine, other


def test_a_change_is_shown_with_who_and_each_field_before_and_after_newest_first(engine, two):
    mine, _other = two
    risk = ps.list_risks(engine, mine.proposal_id)[0]
    ps.update_risk(engine, actor=ACTOR, risk_pk=risk.id, expected_version=risk.version, title="Parcel data gaps",
                   owner="Dana")
    entries = activity.proposal_activity(engine, mine.proposal_id)
    newest = entries[0]
    assert newest.what == f"changed risk {risk.risk_id}" and newest.risk_id == risk.risk_id
    assert newest.actor.endswith(f"({ACTOR})") and newest.kind == "Risks"
    assert ("title", "Risk 1", "Parcel data gaps") in newest.changes and ("owner", "—", "Dana") in newest.changes
    assert all(name not in ("version", "updated_at", "updated_by") for name, _b, _a in newest.changes)
    assert [e.event for e in entries] == sorted((e.event for e in entries), reverse=True)
    assert any(e.what == f"added risk {risk.risk_id} “Risk 1”" for e in entries)


def test_only_the_proposals_own_events_are_shown(engine, two):
    mine, other = two
    theirs = ps.list_risks(engine, other.proposal_id)[0]
    ps.update_risk(engine, actor=ACTOR, risk_pk=theirs.id, expected_version=theirs.version, title="Theirs only")
    shown = activity.proposal_activity(engine, mine.proposal_id)
    assert not any("Theirs only" in after for e in shown for _n, _b, after in e.changes)
    assert not any(e.what.startswith("added Assessor") and "payroll" in e.what for e in shown)
    assert {e.risk_id for e in shown if e.risk_id} == {r.risk_id for r in ps.list_risks(engine, mine.proposal_id)}


def test_a_blind_score_is_shown_without_its_values_or_reason(engine, two):
    mine, _other = two
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=mine.proposal_id, phase="inherent")
    member = mine.members[0]
    rs.submit_score(engine, actor=mine.usernames[member], round_id=rid, assessor_id=member, risk_pk=mine.risks[0],
                    likelihood=5, impact=4, rationale="my secret reason")
    entries = activity.proposal_activity(engine, mine.proposal_id)
    score = next(e for e in entries if e.entity == "score")
    assert score.what.startswith("sent a blind score for") and score.changes == []
    text = activity.activity_csv(entries).decode("utf-8")
    assert "my secret reason" not in text and "likelihood" not in text.split("sent a blind score")[1][:80]


def test_a_refused_attempt_is_shown_under_the_account_that_tried(engine, two):
    mine, _other = two
    assessor = mine.usernames[mine.members[0]]
    with pytest.raises(ForbiddenError):
        rs.open_round(engine, actor=assessor, proposal_id=mine.proposal_id, phase="inherent")
    refused = next(e for e in activity.proposal_activity(engine, mine.proposal_id) if e.kind == "Refused attempts")
    assert assessor in refused.actor and "may not run scoring rounds" in refused.what


def test_the_filters_take_people_risks_and_kinds(engine, two):
    mine, _other = two
    first, second = ps.list_risks(engine, mine.proposal_id)[:2]
    ps.update_risk(engine, actor=ACTOR, risk_pk=first.id, expected_version=first.version, owner="A")
    ps.update_risk(engine, actor=SYSTEM, risk_pk=second.id, expected_version=second.version, owner="B")
    entries = activity.proposal_activity(engine, mine.proposal_id)
    by_system = activity.filtered(entries, people=[SYSTEM])
    assert by_system and all(e.actor == SYSTEM for e in by_system)
    about_first = activity.filtered(entries, risk_ids=[first.risk_id])
    assert about_first and all(e.risk_id == first.risk_id for e in about_first)
    team = activity.filtered(entries, kinds=["Team and sign-in"])
    assert team and all(e.entity == "team_member" for e in team)
    assert activity.risk_history(engine, mine.proposal_id, second.risk_id)[0].changes == [("owner", "—", "B")]


def test_the_csv_has_a_line_per_changed_field_and_keeps_formulas_as_text(engine, two):
    mine, _other = two
    risk = ps.list_risks(engine, mine.proposal_id)[0]
    ps.update_risk(engine, actor=ACTOR, risk_pk=risk.id, expected_version=risk.version, title="=1+2", owner="Z")
    data = activity.activity_csv(activity.proposal_activity(engine, mine.proposal_id)[:1])
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == activity.CSV_COLUMNS
    assert {(r["field"], r["after"]) for r in rows} == {("owner", "Z"), ("title", "'=1+2")}
