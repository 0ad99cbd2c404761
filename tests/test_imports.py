"""Importing the workbench's own JSON export: the round trip loses nothing, a bad file changes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from risk.db import make_engine, migrate
from risk.errors import RefusedError
from risk.models import AuditEvent, Proposal, Score
from risk.services.json_export import export_document, export_json
from risk.services.json_import import import_json, read_export
from risk.services.portfolio import load_demo
from risk.store import count_rows, verify_chain
from tests.builders import SYSTEM
from tests.test_portfolio import normalised

RISK = str(Path(sys.executable).with_name("risk"))


def fresh(tmp_path, name: str):
    engine = make_engine(f"sqlite:///{tmp_path / name}.db")
    migrate(engine)
    return engine


@pytest.fixture
def source(tmp_path):
    """A database of its own holding the demo portfolio, to export from."""
    engine = fresh(tmp_path, "source")
    load_demo(engine, actor=SYSTEM)
    return engine


@pytest.fixture
def exported(source) -> bytes:
    return export_json(source)


def test_json_exported_imported_and_exported_again_gives_the_same_content(engine, exported, source):
    report = import_json(engine, exported, actor=SYSTEM)
    assert report["problems"] == [] and report["added"] == 43 and len(report["proposal_ids"]) == 3
    assert normalised(export_document(engine)) == normalised(export_document(source))
    assert verify_chain(engine) > 0


def test_a_dry_run_reports_and_writes_nothing(tmp_path, exported):
    target = fresh(tmp_path, "dry")
    report = import_json(target, exported, actor=SYSTEM, dry_run=True)
    assert (report["added"], report["changed"], report["unchanged"], report["problems"]) == (43, 0, 0, [])
    assert count_rows(target, Proposal) == 0 and count_rows(target, AuditEvent) == 0


def test_new_takes_a_file_with_one_proposal_and_gives_it_the_new_title(tmp_path, source, exported):
    target = fresh(tmp_path, "new")
    refused = import_json(target, exported, actor=SYSTEM, new_title="Copy")
    assert "the file holds 3 proposals" in refused["problems"][0]["message"]
    one = export_json(source, [3])
    report = import_json(target, one, actor=SYSTEM, new_title="Marsh County GIS Hub (copy)")
    assert report["problems"] == []
    assert [p["title"] for p in export_document(target)["proposals"]] == ["Marsh County GIS Hub (copy)"]


def _broken(exported: bytes, change) -> bytes:
    doc = json.loads(exported)
    change(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["proposals"][0]["risks"][0]["scores"][0].update(likelihood=6),
     "likelihood: expected a whole number from 1 to 5, got 6"),
    (lambda d: d["proposals"][0]["risks"][0]["scores"][0].update(impact=3.5),
     "impact: expected a whole number from 1 to 5, got 3.5"),
    (lambda d: d["proposals"][0]["risks"][2].update(category="weather"),
     "risk LEG-03: category: expected one of legal"),
    (lambda d: d["proposals"][1]["risks"][0].update(status="Done"), "risk LEG-01: status: expected one of"),
    (lambda d: d["proposals"][0]["risks"][0].pop("title"), "risk LEG-01: title: a value is required"),
    (lambda d: d["proposals"][0]["risks"][0]["actions"][0].update(due_date="next week"),
     "due_date: expected a date as YYYY-MM-DD, got 'next week'"),
    (lambda d: d.update(format="something else"), "not a workbench export"),
])
def test_a_bad_file_is_refused_naming_the_place_and_nothing_is_written(tmp_path, exported, change, message):
    target = fresh(tmp_path, "bad")
    report = import_json(target, _broken(exported, change), actor=SYSTEM)
    assert report["added"] == 0 and report["proposal_ids"] == [] and len(report["problems"]) == 1
    assert re.search(message, report["problems"][0]["message"]), report["problems"][0]["message"]
    assert count_rows(target, Proposal) == 0 and count_rows(target, Score) == 0


def test_not_json_and_a_title_already_there_are_refused(source, exported):
    report = import_json(source, b'{"format": "risk-workbench", "proposals": [}', actor=SYSTEM)
    assert "not valid JSON" in report["problems"][0]["message"] and "line 1" in report["problems"][0]["message"]
    again = import_json(source, exported, actor=SYSTEM)
    assert "already exists" in again["problems"][0]["message"] and count_rows(source, Proposal) == 3


@pytest.mark.slow
def test_import_command_reports_as_json_and_exits_1_on_a_refused_file(tmp_path, exported):
    good = tmp_path / "portfolio.json"
    good.write_bytes(exported)
    env = {**os.environ, "RISK_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    dry = subprocess.run([RISK, "import", str(good), "--dry-run", "--format", "json"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert dry.returncode == 0 and json.loads(dry.stdout) == {"added": 43, "changed": 0, "unchanged": 0,
                                                              "problems": []}
    done = subprocess.run([RISK, "import", str(good)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "imported 3 proposals" in done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    refused = subprocess.run([RISK, "import", str(bad)], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "not valid JSON" in refused.stderr
    sheet = tmp_path / "register.csv"
    sheet.write_text("risk_id\n")
    later = subprocess.run([RISK, "import", str(sheet)], env=env, capture_output=True, text=True, timeout=120)
    assert later.returncode == 1 and "give one of them" in later.stderr


def _refused_by_reader(data: bytes) -> str:
    """The reader's own refusal (a RefusedError, never another exception)."""
    with pytest.raises(RefusedError) as caught:
        read_export(data)
    return str(caught.value)


def test_json_nested_ten_thousand_deep_is_refused_not_a_recursion_error(tmp_path):
    target = fresh(tmp_path, "deep")
    deep = b'{"format": "risk-workbench", "format_version": 1, "proposals": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    assert "nested" in _refused_by_reader(deep)
    for data in (b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        assert "nested" in _refused_by_reader(data)
    report = import_json(target, deep, actor=SYSTEM)
    assert report["proposal_ids"] == [] and "nested" in report["problems"][0]["message"]
    assert count_rows(target, Proposal) == 0 and count_rows(target, AuditEvent) == 0


def _proposal(d) -> dict:
    return d["proposals"][0]


def _risk(d, k=0) -> dict:
    return d["proposals"][0]["risks"][k]


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: _proposal(d).update(title=["a", "list"]),
     r"^proposal 1: title: expected text of at most 200 characters, got a list$"),
    (lambda d: _proposal(d).update(title={"an": "object"}),
     r"^proposal 1: title: expected text of at most 200 characters, got an object$"),
    (lambda d: _proposal(d).update(title=None), r"^proposal 1: title: a value is required$"),
    (lambda d: _risk(d, 2).update(risk_id=["LEG-03"]),
     r"^proposal 1 \('Tri-County .*'\), risk 3: risk_id: expected a key such as LEG-03, got a list$"),
    (lambda d: _risk(d).update(category=["legal"]),
     r"^proposal 1 \('Tri-County .*'\), risk LEG-01: category: expected one of legal, .*, got a list$"),
    (lambda d: _risk(d).update(title={"x": 1}),
     r"risk LEG-01: title: expected text of at most 300 characters, got an object$"),
    (lambda d: _risk(d).update(cause=[1]),
     r"risk LEG-01: cause: expected text of at most 5,000 characters, got a list$"),
    (lambda d: _risk(d).update(tags="legal"),
     r"risk LEG-01: tags: expected a list of words of at most 40 characters each, got 'legal'$"),
    (lambda d: _risk(d)["scores"][0].update(assessor=["x"]),
     r"inherent round 1, score \d+ \(LEG-01\): assessor: expected an assessor or facilitator on the team, got a list"),
    (lambda d: _risk(d)["scores"][0].update(round="1"),
     r"risk LEG-01, score 1: round: expected a whole number from 1 to 1,000, got '1'$"),
    (lambda d: _risk(d)["consensus"].append({"phase": "residual", "likelihood": True, "impact": 2}),
     r"risk LEG-01, consensus 1: likelihood: expected a whole number from 1 to 5, got true$"),
    (lambda d: _risk(d)["actions"][0].update(description=None),
     r"risk LEG-01, action 1: description: a value is required$"),
    (lambda d: _risk(d)["actions"][0].update(cost=-5),
     r"risk LEG-01, action 1: cost: expected an amount of at least 0, got -5$"),
    (lambda d: _proposal(d)["partners"][0].update(name={"n": 1}),
     r"^proposal 1 .*, partner 1: name: expected text of at most 200 characters, got an object$"),
    (lambda d: _proposal(d)["partners"][0].update(population=-1), r"partner 1: population: expected a whole number "
                                                                  r"from 0 to 1,000,000,000, got -1$"),
    (lambda d: _proposal(d)["partners"][0].update(cost_drivers={"x": [[[]]]}), r"partner 1: cost_drivers: expected "
                                                                              r"names with numbers"),
    (lambda d: _proposal(d)["team"][0].update(partner=[]),
     r"team member 1: partner: expected a partner of this proposal, got a list$"),
    (lambda d: _proposal(d).update(appetite=["Averse"]),
     r"appetite: expected categories with one of Averse, Minimal, Cautious, Open, Eager, got a list$"),
    (lambda d: _proposal(d).update(appetite={"legal": ["Averse"]}), r"appetite: legal: expected one of Averse"),
    (lambda d: _proposal(d).update(risks={"LEG-01": {}}), r"^proposal 1 .*: risks: expected a list \[...\], got an "
                                                          r"object$"),
    (lambda d: _proposal(d)["risks"].append("LEG-99"), r"risk 17: expected an object \{...\}, got 'LEG-99'$"),
    (lambda d: _proposal(d)["rounds"][0].update(number=0),
     r"round 1: number: expected a whole number from 1 to 1,000, got 0$"),
    (lambda d: _proposal(d)["strengths"][0].update(partner=["x"]),
     r"strength 1: partner: expected a partner of this proposal, got a list$"),
    (lambda d: d.update(proposals=[7]), r"^proposal 1: expected an object \{...\}, got 7$"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_where_and_what_was_expected(tmp_path, exported, change, message):
    data = _broken(exported, change)
    dry = import_json(fresh(tmp_path, "check"), data, actor=SYSTEM, dry_run=True)["problems"][0]["message"]
    assert re.search(message, dry), dry
    target = fresh(tmp_path, "typed")
    report = import_json(target, data, actor=SYSTEM)
    assert report["proposal_ids"] == [] and len(report["problems"]) == 1
    assert re.search(message, report["problems"][0]["message"]), report["problems"][0]["message"]
    assert count_rows(target, Proposal) == 0 and count_rows(target, AuditEvent) == 0


def test_a_json_file_over_the_import_limit_is_refused_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("RISK_IMPORT_MAX_MB", "1")
    doc = {"format": "risk-workbench", "format_version": 1,
           "proposals": [{"title": "Big", "description": "d" * 1_200_000}]}
    target = fresh(tmp_path, "big")
    report = import_json(target, json.dumps(doc).encode(), actor=SYSTEM)
    assert report["proposal_ids"] == [] and "RISK_IMPORT_MAX_MB" in report["problems"][0]["message"]
    assert "at most 1 MB" in report["problems"][0]["message"] and count_rows(target, Proposal) == 0
