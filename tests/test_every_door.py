"""Every door refuses the same bad value with the same words: the services behind the forms, the register import
(CSV), the JSON import and the `risk import` command. The refusal ends with `<field>: <what was expected>, got
<what came>` from risk/rules.py, after a place that is each door's own (a file row, a JSON path, nothing for a
form); the database is as it was (every table's row count and the audit chain's head), on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from risk.errors import RefusedError
from risk.services import proposals as ps
from risk.services.json_import import import_json
from risk.services.register_import import import_register
from risk.services.rounds import record_consensus
from tests.builders import SYSTEM, database_state

pytestmark = [pytest.mark.storage, pytest.mark.slow]  # the command-line doors start a process per case
RISK = str(Path(sys.executable).with_name("risk"))
HEADER = ["risk_id", "category", "title", "cause", "event", "consequence", "owner", "status"]
ROW = ["LEG-01", "Legal", "No interlocal agreement", "no ILA is signed", "a dispute arises", "costs are unclear",
       "Clerk", "Open"]


def document() -> dict:
    """A valid workbench export of one proposal: partners, a team, two risks, a closed round, consensus, actions."""
    return {"format": "risk-workbench", "format_version": 1, "proposals": [{
        "title": "Shared GIS hub", "cybersecurity": False,
        "partners": [{"name": "North County", "kind": "county", "role": "lead"},
                     {"name": "South City", "kind": "city"}],
        "team": [{"name": "Ann", "partner": "North County", "team_role": "facilitator"},
                 {"name": "Bo", "partner": "South City", "team_role": "assessor"}],
        "rounds": [{"phase": "inherent", "number": 1, "status": "closed"}],
        "strengths": [{"partner": "North County", "capability": "Dispatch", "score": 4}],
        "risks": [{"risk_id": "LEG-01", "category": "legal", "title": "No agreement",
                   "scores": [{"phase": "inherent", "round": 1, "assessor": "Bo", "likelihood": 3, "impact": 4}],
                   "consensus": [{"phase": "residual", "likelihood": 2, "impact": 2, "recorded_by": "Ann"}],
                   "actions": [{"description": "Sign the ILA", "cost": 1200.5}]},
                  {"risk_id": "OPS-01", "category": "operational", "title": "Cutover fails"}]}]}


@dataclass
class Setup:
    """A proposal made through the services, for the doors that work on one."""

    proposal_id: int
    risk_pk: int
    partner_id: int


def setup(engine: Engine) -> Setup:
    pid = ps.create_proposal(engine, actor=SYSTEM, title="Regional ERP")
    partner = ps.add_partner(engine, actor=SYSTEM, name="East County")
    ps.link_partner(engine, actor=SYSTEM, proposal_id=pid, partner_id=partner, role="lead")
    ps.add_team_member(engine, actor=SYSTEM, proposal_id=pid, name="Ann", partner_id=partner, team_role="facilitator")
    risk = ps.add_risk(engine, actor=SYSTEM, proposal_id=pid, category="legal", title="No agreement")
    return Setup(pid, risk, partner)


@dataclass
class Case:
    """One bad value and what every door that can carry it must answer (`field: message`)."""

    name: str
    refusal: str
    service: Callable[[Engine, Setup], Any] | None = None
    json: Callable[[dict], Any] | None = None  # changes the document in place
    csv: Callable[[list[str]], Any] | None = None  # changes the register row in place
    new_title: str | None = None  # a register imported into a new proposal of this title
    into_proposal: bool = False  # the register goes into the set-up proposal rather than a new one
    doors: tuple[str, ...] = field(default=())


def _p(d: dict) -> dict:
    return d["proposals"][0]


def _r(d: dict, k: int = 0) -> dict:
    return d["proposals"][0]["risks"][k]


LONG_ID = "LEG" + "0" * 97
CASES = [
    Case("proposal title of 400 characters", "title: at most 200 characters, got 400",
         service=lambda e, s: ps.create_proposal(e, actor=SYSTEM, title="T" * 400),
         json=lambda d: _p(d).update(title="T" * 400), new_title="T" * 400),
    Case("proposal title of 10,000 characters", "title: at most 200 characters, got 10,000",
         service=lambda e, s: ps.update_proposal(e, actor=SYSTEM, proposal_id=s.proposal_id, title="T" * 10_000),
         json=lambda d: _p(d).update(title="T" * 10_000)),
    Case("description of 20,001 characters", "description: at most 20,000 characters, got 20,001",
         service=lambda e, s: ps.update_proposal(e, actor=SYSTEM, proposal_id=s.proposal_id, description="d" * 20_001),
         json=lambda d: _p(d).update(description="d" * 20_001)),
    Case("risk title of 10,000 characters", "title: at most 300 characters, got 10,000",
         service=lambda e, s: ps.add_risk(e, actor=SYSTEM, proposal_id=s.proposal_id, category="legal",
                                          title="R" * 10_000),
         json=lambda d: _r(d).update(title="R" * 10_000), csv=lambda row: row.__setitem__(2, "R" * 10_000)),
    *[Case(f"risk_id {bad!r}", f"risk_id: expected a key such as LEG-03, got {shown}",
           service=lambda e, s, bad=bad: ps.add_risk(e, actor=SYSTEM, proposal_id=s.proposal_id, category="legal",
                                                     title="A risk", risk_id=bad),
           json=lambda d, bad=bad: _r(d).update(risk_id=bad), csv=lambda row, bad=bad: row.__setitem__(0, bad))
      for bad, shown in (("leg 01 x", "'leg 01 x'"), ("7", "'7'"),
                         (LONG_ID, f"{LONG_ID[:40]!r}… (100 characters)"), ("**LEG-01**", "'**LEG-01**'"))],
    Case("risk title given as a number", "title: expected text of at most 300 characters, got 5",
         service=lambda e, s: ps.add_risk(e, actor=SYSTEM, proposal_id=s.proposal_id, category="legal", title=5),
         json=lambda d: _r(d).update(title=5)),
    Case("risk category given as a list", "category: expected one of legal, operational, financial, reputational, "
                                          "societal, cybersecurity (or its name: Legal, Operational, Financial, "
                                          "Reputational, Societal, Cybersecurity), got a list",
         service=lambda e, s: ps.add_risk(e, actor=SYSTEM, proposal_id=s.proposal_id, category=["legal"],
                                          title="A risk"),
         json=lambda d: _r(d).update(category=["legal"])),
    Case("a cybersecurity risk while cybersecurity is off",
         "category: cybersecurity is off for this proposal; turn it on on the Proposal page first",
         service=lambda e, s: ps.add_risk(e, actor=SYSTEM, proposal_id=s.proposal_id, category="cybersecurity",
                                          title="A breach"),
         json=lambda d: _r(d).update(category="cybersecurity"),
         csv=lambda row: row.__setitem__(1, "Cybersecurity"), into_proposal=True),
    Case("a consensus likelihood of true", "likelihood: expected a whole number from 1 to 5, got true",
         service=lambda e, s: record_consensus(e, actor=SYSTEM, risk_pk=s.risk_pk, phase="inherent", likelihood=True,
                                               impact=3, rationale="agreed"),
         json=lambda d: _r(d)["consensus"][0].update(likelihood=True)),
    Case("a forged recorded_by", "recorded_by: expected a facilitator or assessor on the team, got 'The Mayor'",
         json=lambda d: _r(d)["consensus"][0].update(recorded_by="The Mayor")),
    Case("round -1", "number: expected a whole number from 1 to 1,000, got -1",
         json=lambda d: _p(d)["rounds"][0].update(number=-1)),
    Case("an action cost of -5000", "cost: expected an amount of at least 0, got -5000",
         service=lambda e, s: ps.add_action(e, actor=SYSTEM, risk_pk=s.risk_pk, description="Pay", cost=-5000),
         json=lambda d: _r(d)["actions"][0].update(cost=-5000)),
    Case("an action cost of '-5 budget cut'", "cost: expected an amount of at least 0, got '-5 budget cut'",
         service=lambda e, s: ps.add_action(e, actor=SYSTEM, risk_pk=s.risk_pk, description="Pay",
                                            cost="-5 budget cut"),
         json=lambda d: _r(d)["actions"][0].update(cost="-5 budget cut")),
    Case("a matrix that does not exist", "matrix: no matrix named 'nowhere'",
         service=lambda e, s: ps.create_proposal(e, actor=SYSTEM, title="P", matrix="nowhere"),
         json=lambda d: _p(d).update(matrix="nowhere")),
    Case("a team member's name given as a list", "name: expected text of at most 200 characters, got a list",
         service=lambda e, s: ps.add_team_member(e, actor=SYSTEM, proposal_id=s.proposal_id, name=["Cy"],
                                                 partner_id=s.partner_id),
         json=lambda d: _p(d)["team"][1].update(name=["Bo"])),
    Case("cybersecurity given as 'yes'", "cybersecurity: expected true or false, got 'yes'",
         service=lambda e, s: ps.update_proposal(e, actor=SYSTEM, proposal_id=s.proposal_id, cybersecurity="yes"),
         json=lambda d: _p(d).update(cybersecurity="yes")),
    Case("a partner's population of -1", "population: expected a whole number from 0 to 1,000,000,000, got -1",
         service=lambda e, s: ps.add_partner(e, actor=SYSTEM, name="West City", population=-1),
         json=lambda d: _p(d)["partners"][0].update(population=-1)),
]


def _csv(case: Case) -> bytes:
    row = list(ROW)
    if case.csv:
        case.csv(row)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([HEADER, row])
    return out.getvalue().encode()


def _json(case: Case) -> bytes:
    doc = copy.deepcopy(document())
    case.json(doc)
    return json.dumps(doc).encode()


def _doors(case: Case) -> list[str]:
    return [d for d, there in (("service", case.service), ("json", case.json), ("cli-json", case.json),
                               ("register", case.csv or case.new_title), ("cli-register", case.csv or case.new_title))
            if there]


def _refusal(door: str, case: Case, engine: Engine, s: Setup, tmp_path: Path) -> str:
    """The refusal's text at one door."""
    if door == "service":
        with pytest.raises(RefusedError) as caught:
            case.service(engine, s)
        return str(caught.value)
    if door == "json":
        report = import_json(engine, _json(case), actor=SYSTEM)
        assert report["proposal_ids"] == [] and len(report["problems"]) == 1, report
        dry = import_json(engine, _json(case), actor=SYSTEM, dry_run=True)["problems"]
        assert dry == report["problems"]  # a dry run refuses alike
        return report["problems"][0]["message"]
    where = {"proposal_id": s.proposal_id} if case.into_proposal else {"new_title": case.new_title or "Imported"}
    if door == "register":
        report = import_register(engine, _csv(case), "register.csv", actor=SYSTEM, **where)
        assert report["proposal_ids"] == [] and report["problems"], report
        problem = report["problems"][0]
        return f"{problem['field']}: {problem['message']}" if problem["field"] else problem["message"]
    path = tmp_path / ("in.json" if door == "cli-json" else "in.csv")
    path.write_bytes(_json(case) if door == "cli-json" else _csv(case))
    args = [] if door == "cli-json" else (["--proposal", str(s.proposal_id)] if case.into_proposal else
                                          ["--new", case.new_title or "Imported"])
    env = {**os.environ, "RISK_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    done = subprocess.run([RISK, "--as", "Ann", "import", str(path), *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "SQL" not in done.stderr
    return done.stderr.strip()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_door_refuses_the_same_bad_value_with_the_same_words_and_changes_nothing(engine, tmp_path, case):
    s = setup(engine)
    before = database_state(engine)
    seen = {}
    for door in _doors(case):
        seen[door] = _refusal(door, case, engine, s, tmp_path)
        assert database_state(engine) == before, f"{door} changed the database"
    assert len(seen) >= 2, seen
    for door, text in seen.items():
        assert text.endswith(case.refusal) or case.refusal + "\n" in text + "\n" or f"{case.refusal}." in text, \
            f"{door}: {text!r} does not end with {case.refusal!r}"

