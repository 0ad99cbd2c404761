"""The starter catalogue in data/: enough templates in every category, in cause-event-consequence form."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from risk.catalogue import CATALOGUE_FILE, read_catalogue, templates
from risk.cli import app
from risk.scoring import CORE_CATEGORIES


def test_catalogue_has_at_least_40_templates_and_8_per_core_category():
    items = templates()
    counts = Counter(t.category for t in items)
    assert len(items) >= 40
    assert all(counts[c] >= 8 for c in CORE_CATEGORIES), counts


def test_every_template_has_cause_event_consequence_treatment_and_source():
    for t in templates():
        assert t.cause and t.event and t.consequence and t.suggested_treatment and t.source, t.template_id
        assert t.sentence.startswith("Because ") and " may occur, leading to " in t.sentence


def test_collaboration_tags_are_offered_where_they_fit():
    tagged = Counter(tag for t in templates() for tag in t.tags)
    assert set(tagged) == {"coordination", "division", "defection"}


def test_a_catalogue_row_with_a_bad_field_is_refused_naming_row_and_field(tmp_path):
    lines = CATALOGUE_FILE.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "catalogue.csv"
    bad.write_text("\n".join([lines[0], lines[1].replace(",legal,", ",weather,", 1)]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 2: category 'weather'"):
        read_catalogue(bad)


def test_catalogue_list_filters_by_category_as_json():
    result = CliRunner().invoke(app, ["catalogue", "list", "--category", "Financial", "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows and {r["category"] for r in rows} == {"financial"}
    assert {"template_id", "cause", "event", "consequence", "treatment", "tags", "source"} <= set(rows[0])
    assert CliRunner().invoke(app, ["catalogue", "list", "--category", "weather"]).exit_code == 1
