"""One risk_id rule for every door: risk.scoring.check_risk_id, and the JSON import refusing what it refuses."""

from __future__ import annotations

import json

import pytest

from risk.models import AuditEvent, Proposal, Risk
from risk.scoring import RISK_ID_PATTERN, check_risk_id
from risk.services.json_import import import_json
from risk.store import count_rows
from tests.builders import SYSTEM, make_proposal

BAD_IDS = ["leg 01 x", 7, "L" * 100, "![x](http://host/x.png)", "[t](http://x)"]


@pytest.mark.parametrize(("value", "key"), [("LEG-03", "LEG-03"), (" leg-03 ", "LEG-03"), ("ERP2-7", "ERP2-7"),
                                            ("cyb-1234", "CYB-1234")])
def test_a_risk_id_is_stripped_and_upper_cased(value, key):
    assert check_risk_id(value) == key and RISK_ID_PATTERN.fullmatch(key)


@pytest.mark.parametrize("value", [*BAD_IDS, "", "L-1", "LEG-12345", "1EG-01", "LEG-٠١", "LEG_01", None,
                                   ["LEG-01"], True])
def test_anything_else_is_refused_with_an_example_of_a_key(value):
    with pytest.raises(ValueError, match=r"^expected a key such as LEG-03, got "):
        check_risk_id(value)


def test_the_message_quotes_the_value_and_only_the_start_of_a_long_one():
    with pytest.raises(ValueError) as caught:
        check_risk_id("leg 01 x")
    assert str(caught.value) == "expected a key such as LEG-03, got 'leg 01 x'"
    with pytest.raises(ValueError) as caught:
        check_risk_id("L" * 100)
    assert "100 characters" in str(caught.value) and "L" * 41 not in str(caught.value)


def _export(*risk_ids) -> bytes:
    risks = [{"risk_id": rid, "category": "legal", "title": f"Risk {k}"} for k, rid in enumerate(risk_ids, start=1)]
    return json.dumps({"format": "risk-workbench", "format_version": 1,
                       "proposals": [{"title": "Imported", "risks": risks}]}).encode()


def _counts(engine) -> tuple[int, int, int]:
    return count_rows(engine, Proposal), count_rows(engine, Risk), count_rows(engine, AuditEvent)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_the_json_import_refuses_a_risk_id_off_the_pattern_naming_the_risk_and_the_field(sqlite_engine, bad):
    make_proposal(sqlite_engine, risks=2)
    before = _counts(sqlite_engine)
    report = import_json(sqlite_engine, _export("LEG-01", bad), actor=SYSTEM)
    assert report["added"] == 0 and report["proposal_ids"] == [] and len(report["problems"]) == 1
    message = report["problems"][0]["message"]
    assert message.startswith("proposal 1 ('Imported'), risk 2: risk_id: expected a key such as LEG-03, got ")
    assert _counts(sqlite_engine) == before
    assert import_json(sqlite_engine, _export("LEG-01", bad), actor=SYSTEM, dry_run=True)["problems"]


def test_the_json_import_takes_a_key_in_lower_case_as_the_key(sqlite_engine):
    report = import_json(sqlite_engine, _export(" leg-07 "), actor=SYSTEM)
    assert report["problems"] == []
    assert count_rows(sqlite_engine, Risk) == 1
    from risk.services.json_export import export_document

    assert export_document(sqlite_engine)["proposals"][0]["risks"][0]["risk_id"] == "LEG-07"


def test_two_keys_that_differ_only_in_case_are_one_key_repeated(sqlite_engine):
    report = import_json(sqlite_engine, _export("LEG-01", "leg-01"), actor=SYSTEM)
    assert "LEG-01 appears twice" in report["problems"][0]["message"] and count_rows(sqlite_engine, Proposal) == 0


@pytest.mark.parametrize("bad", [b for b in BAD_IDS if isinstance(b, str)] + ["7"])
def test_a_register_file_with_an_odd_risk_id_is_refused_naming_row_and_field_and_writes_nothing(engine, bad):
    import csv
    import io

    from risk.services.register_import import import_register

    out = io.StringIO()
    csv.writer(out).writerows([["risk_id", "category", "title"], ["LEG-01", "Legal", "fine"], [bad, "Legal", "odd"]])
    before = (count_rows(engine, Proposal), count_rows(engine, Risk), count_rows(engine, AuditEvent))
    report = import_register(engine, out.getvalue().encode(), "r.csv", actor=SYSTEM, new_title="Odd ids")
    assert [(p["row"], p["field"]) for p in report["problems"]] == [(3, "risk_id")]
    assert report["problems"][0]["message"].startswith("expected a key such as LEG-03, got ")
    assert (count_rows(engine, Proposal), count_rows(engine, Risk), count_rows(engine, AuditEvent)) == before


def test_the_form_door_refuses_the_same_ids(engine):
    from risk.errors import RefusedError
    from risk.services import proposals as ps

    built = make_proposal(engine)
    for bad in ("leg 01 x", "![x](http://host/x.png)"):
        with pytest.raises(RefusedError, match="^risk_id: expected a key such as LEG-03"):
            ps.add_risk(engine, actor=SYSTEM, proposal_id=built.proposal_id, category="legal", title="t", risk_id=bad)
