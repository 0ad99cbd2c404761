"""The rules (risk/rules.py) are the one definition of valid data: the migrated database holds the column lengths
and CHECK constraints the models take from them, on SQLite and PostgreSQL, and the database itself refuses what
the rules refuse when a write gets past the services."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from risk import rules
from risk.errors import RefusedError
from risk.services import proposals as ps
from tests.builders import SYSTEM

pytestmark = pytest.mark.storage


def test_the_migrated_database_matches_the_models_column_for_column(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_every_rule_with_words_or_a_range_is_a_check_constraint_of_the_migrated_database(engine):
    inspector = inspect(engine)
    expected = {(t.name, c.name) for t in SQLModel.metadata.sorted_tables for c in t.constraints
                if isinstance(c, CheckConstraint)}
    found = {(t, c["name"]) for t in inspector.get_table_names() if t != "alembic_version"
             for c in inspector.get_check_constraints(t)}
    assert expected <= found
    for table, fields in (("proposal", ("service_type", "phase", "status", "aggregation")),
                          ("risk", ("category", "status", "treatment", "target_likelihood", "target_impact")),
                          ("partner", ("kind", "population", "it_budget")), ("action", ("status", "cost")),
                          ("round", ("phase", "status", "number")), ("score", ("likelihood", "impact")),
                          ("consensus", ("phase", "likelihood", "impact")), ("partner_strength", ("score",))):
        assert {(table, f"ck_{table}_{f}") for f in fields} <= found


def test_every_text_rule_with_a_limit_is_its_column_length():
    tables = {t.name: t for t in SQLModel.metadata.sorted_tables}
    for entity, table in (("proposal", "proposal"), ("partner", "partner"), ("team_member", "team_member"),
                          ("risk", "risk"), ("consensus", "consensus"), ("action", "action"),
                          ("partner_strength", "partner_strength"), ("score", "score")):
        for name, rule in rules.ENTITIES[entity].items():
            if rule.kind in ("text", "key") and name in tables[table].c:
                assert tables[table].c[name].type.length == rule.limit, (table, name)


def test_the_database_refuses_a_status_the_rules_refuse_even_past_the_services(engine):
    pid = ps.create_proposal(engine, actor=SYSTEM, title="Shared data centre")
    ps.add_risk(engine, actor=SYSTEM, proposal_id=pid, category="legal", title="No agreement")
    for column, value in (("status", "Finished"), ("treatment", "Ignore")):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(f"UPDATE risk SET {column} = :v"), {"v": value})


@pytest.mark.parametrize(("rule", "value", "expected"), [
    (rules.SCORE, True, "expected a whole number from 1 to 5, got true"),
    (rules.SCORE, 2.5, "expected a whole number from 1 to 5, got 2.5"),
    (rules.SCORE, "3", "expected a whole number from 1 to 5, got '3'"),
    (rules.SCORE, float("nan"), "expected a whole number from 1 to 5, got nan"),
    (rules.RISK["title"], "x" * 301, "at most 300 characters, got 301"),
    (rules.RISK["title"], "   ", "a value is required"),
    (rules.RISK["title"], ["a"], "expected text of at most 300 characters, got a list"),
    (rules.RISK["risk_id"], "leg 01 x", "expected a key such as LEG-03, got 'leg 01 x'"),
    (rules.RISK["status"], "Done", "expected one of Draft, Open, In treatment, Monitoring, Accepted, Escalated, "
                                   "Closed, got 'Done'"),
    (rules.ACTION["cost"], float("inf"), "expected an amount of at least 0, got inf"),
    (rules.ACTION["due_date"], "31/12/2026", "expected a date as YYYY-MM-DD, got '31/12/2026'"),
    (rules.PARTNER["cost_drivers"], {"road_miles": -1}, "expected names with numbers of at least 0, such as "
                                                        "{'road_miles': 120}, got an object"),
    (rules.PROPOSAL["appetite"], {"weather": "Open"}, "weather: expected a category (legal, operational, "
                                                      "financial, reputational, societal, cybersecurity), got "
                                                      "'weather'"),
])
def test_a_rule_refuses_with_what_it_expected_and_what_came(rule, value, expected):
    assert rules.problem(rule, value) == expected
    with pytest.raises(RefusedError, match="^field: "):
        rules.check({"field": rule}, "field", value)


@pytest.mark.parametrize(("rule", "value", "stored"), [
    (rules.SCORE, 3.0, 3), (rules.RISK["category"], "LEGAL", "legal"), (rules.RISK["category"], "Legal", "legal"),
    (rules.RISK["treatment"], "tolerate", "Accept"), (rules.RISK["treatment"], "", None),
    (rules.RISK["status"], "in treatment", "In treatment"), (rules.RISK["risk_id"], " leg-03 ", "LEG-03"),
    (rules.RISK["tags"], ["Budget", "budget ", "ILA"], ["budget", "ila"]), (rules.RISK["title"], "  A risk ", "A risk"),
])
def test_a_rule_stores_a_valid_value_in_one_form(rule, value, stored):
    assert rule(value) == stored


@pytest.mark.parametrize(("text_", "value"), [("6", 6), ("2.5", 2.5), ("", None), ("high", "high"),
                                              ("1e0", "1e0"), ("3,5", "3,5"), ("-1", -1)])
def test_a_cell_is_read_as_the_number_it_shows_and_nothing_else(text_, value):
    assert rules.from_cell(text_) == value


def test_the_user_guide_to_validation_lists_the_rules_as_they_are():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "VALIDATION.md").read_text()
    listed = doc.split("<!-- rules:start -->\n", 1)[1].split("<!-- rules:end -->", 1)[0]
    assert listed.strip() == rules.table_markdown().strip(), \
        "docs/VALIDATION.md differs from risk/rules.py: regenerate it with rules.table_markdown()"
