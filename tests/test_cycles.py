"""The next assessment cycle (risk/services/cycles.py): started from the last with every field of every risk
carried, scores afresh, the last cycle as its baseline; each risk tagged New, Modified, Removed or Unchanged."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlmodel import Session

from risk.errors import RefusedError
from risk.models import Proposal, Risk, Score
from risk.services import cycles
from risk.services import proposals as ps
from risk.services.json_export import export_document
from risk.services.portfolio import load_demo
from tests.builders import SYSTEM, database_state

# what a new cycle leaves behind on purpose (scored afresh), and the bookkeeping of rows
_AFRESH = {"scores", "consensus", "inherent", "residual", "over_appetite", "next_review", "version"}


@pytest.fixture
def demo(engine):
    load_demo(engine, actor=SYSTEM)
    return engine


def test_the_next_cycle_carries_every_field_of_every_risk_and_leaves_the_scores(demo):
    new = cycles.start_next_cycle(demo, actor=SYSTEM, proposal_id=1, title="911/CAD: the 2027 review")
    old_doc, new_doc = (export_document(demo, [pid])["proposals"][0] for pid in (1, new))
    assert len(new_doc["risks"]) == len(old_doc["risks"])
    for a, b in zip(old_doc["risks"], new_doc["risks"], strict=True):
        assert {k: v for k, v in a.items() if k not in _AFRESH} == {k: v for k, v in b.items() if k not in _AFRESH}
        assert b["scores"] == [] and b["consensus"] == []
    for key in ("partners", "team", "strengths", "costs", "allocation", "calibration", "appetite", "matrix"):
        assert new_doc[key] == old_doc[key], key
    assert new_doc["rounds"] == []
    with Session(demo) as s:
        assert s.get(Proposal, new).previous_id == 1
        new_risks = s.execute(select(Risk.id).where(Risk.proposal_id == new)).scalars().all()
        assert s.execute(select(Score).where(Score.risk_pk.in_(new_risks))).first() is None
    changes = cycles.cycle_changes(demo, new)
    assert changes["previous_id"] == 1 and {r["tag"] for r in changes["risks"]} == {"Unchanged"}
    assert all(r["previous"]["residual"] and r["now"]["residual"] is None for r in changes["risks"])


def test_risks_are_tagged_new_modified_and_removed_as_the_team_works(demo):
    new = cycles.start_next_cycle(demo, actor=SYSTEM, proposal_id=1)
    risks = ps.list_risks(demo, new)
    ps.update_risk(demo, actor=SYSTEM, risk_pk=risks[0].id, expected_version=None, controls="A new control")
    added = ps.add_risk(demo, actor=SYSTEM, proposal_id=new, category="legal", title="A new law")
    with demo.begin() as conn:  # no service removes a risk yet; the tag is the comparison's
        conn.execute(Risk.__table__.delete().where(Risk.__table__.c.id == risks[1].id))
    tags = {r["risk_id"]: r for r in cycles.cycle_changes(demo, new)["risks"]}
    assert tags[risks[0].risk_id]["tag"] == "Modified" and tags[risks[0].risk_id]["changed"] == ["controls"]
    new_id = next(r.risk_id for r in ps.list_risks(demo, new) if r.id == added)
    assert tags[new_id]["tag"] == "New" and tags[new_id]["previous"] is None
    assert tags[risks[1].risk_id]["tag"] == "Removed" and tags[risks[1].risk_id]["now"] is None
    assert sum(r["tag"] == "Unchanged" for r in tags.values()) == len(risks) - 2


def test_a_cycle_with_a_title_already_used_is_refused_and_nothing_is_written(demo):
    before = database_state(demo)
    with pytest.raises(RefusedError, match="already exists"):
        cycles.start_next_cycle(demo, actor=SYSTEM, proposal_id=1, title="Four Towns Shared ERP and Payroll")
    with pytest.raises(RefusedError, match="was not started from a last cycle"):
        cycles.cycle_changes(demo, 1)
    assert database_state(demo) == before


def test_the_cycle_commands(cli):
    assert cli("demo").exit_code == 0
    out = cli("cycle", "start", "--proposal", "2", "--title", "ERP: the 2027 review")
    assert out.exit_code == 0, out.output
    new = int(out.stdout.strip())
    data = json.loads(cli("cycle", "changes", "--proposal", str(new), "--format", "json").stdout)
    assert data["previous_title"] == "Four Towns Shared ERP and Payroll"
    assert set(data["risks"][0]) >= {"risk_id", "tag", "changed", "previous", "now"}
    missing = cli("cycle", "start", "--proposal", "99")
    assert missing.exit_code == 1 and "99" in missing.output
