"""The bulk digest (docs/AUDIT.md): every audit event that summarises many rows records the table, the columns,
the ids and a SHA-256 that an auditor recomputes from the database alone, on both engines; a stored value changed
behind the workbench's back makes the recomputation differ."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from risk import store
from risk.services.portfolio import load_demo
from risk.services.proposals import list_proposals, team
from risk.services.register_export import export_csv
from risk.services.register_import import import_register
from tests.builders import SYSTEM, member_account

ROOT = Path(__file__).resolve().parent.parent
# every table the demo load writes in bulk
LOADED = {"proposal", "partner", "proposal_partner", "partner_strength", "team_member", "risk", "round", "score",
          "round_result", "consensus", "action", "cost_line"}


def recorded(engine, since: int = 0) -> list[tuple[int, str, str, str]]:
    return [e for e in store.bulk_events(engine) if e[0] > since]


def mismatches(engine, events) -> list[tuple[int, str, str]]:
    return [(event_id, action, table) for event_id, action, table, sha in events
            if store.recompute_bulk_digest(engine, event_id) != sha]


def raw(engine, sql: str) -> None:
    """A change made behind the workbench's back (no audit event)."""
    with Session(engine) as session:
        session.execute(text(sql))
        session.commit()


def auditor_namespace() -> dict:
    """The recipe of docs/AUDIT.md, run as written (it imports nothing of the workbench): its functions."""
    doc = (ROOT / "docs" / "AUDIT.md").read_text(encoding="utf-8")
    [code] = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert "risk" not in re.findall(r"^(?:from|import) (\w+)", code, flags=re.M)
    namespace: dict = {}
    exec(compile(code, "docs/AUDIT.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


def auditor_recipe():
    return auditor_namespace()["recompute"]


def import_changes(engine, pid: int) -> dict:
    """A register import into proposal `pid` that retitles one risk, rescores another and adds one."""
    rows = list(csv.DictReader(io.StringIO(export_csv(engine, [pid]).decode("utf-8-sig"))))
    rows[0]["title"] = "Retitled by the records office, «naïve» ✓"
    rows[1]["residual_likelihood"], rows[1]["residual_impact"] = "1", "1"
    rows[2]["owner"] = "County clerk"
    rows.append({**rows[3], "risk_id": rows[3]["risk_id"][:4] + "99", "title": "From the county's own register"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    facilitator = member_account(engine, next(m.id for m in team(engine, pid) if m.team_role == "facilitator"))
    report = import_register(engine, out.getvalue().encode("utf-8"), "r.csv", actor=facilitator, proposal_id=pid)
    assert report["problems"] == [] and (report["added"], report["changed"]) == (1, 3), report
    return report


def test_every_bulk_digest_of_a_load_and_an_import_recomputes_from_the_stored_rows(engine):
    load_demo(engine, actor=SYSTEM)
    loaded = recorded(engine)
    assert {table for _id, action, table, _sha in loaded if action == "bulk_create"} == LOADED
    assert mismatches(engine, loaded) == []

    import_changes(engine, list_proposals(engine)[0].id)
    imported = recorded(engine, since=loaded[-1][0])
    assert {(action, table) for _id, action, table, _sha in imported} >= {
        ("bulk_create", "risk"), ("bulk_update", "risk"), ("bulk_upsert", "consensus")}
    assert mismatches(engine, imported) == []
    # the load's events of tables the import did not touch still match; the risk and consensus ones were overtaken,
    # and so was the team's (the load records each member's account_id, which signing the facilitator up changed)
    untouched = [e for e in loaded if e[2] not in ("risk", "consensus", "team_member")]
    assert mismatches(engine, untouched) == []
    assert store.verify_chain(engine) > 0

    recompute = auditor_recipe()  # an independent implementation, from the documentation, agrees on every event
    url = engine.url.render_as_string(hide_password=False)
    assert [recompute(url, e[0]) for e in untouched + imported] == [True] * len(untouched + imported)


@pytest.mark.parametrize("table, change", [
    ("score", "UPDATE score SET likelihood = 6 - likelihood WHERE id = (SELECT max(id) FROM score)"),
    ("score", "UPDATE score SET rationale = rationale || ' ' WHERE id = (SELECT min(id) FROM score)"),
    ("round", "UPDATE round SET opened_at = closed_at WHERE id = (SELECT min(id) FROM round)"),
    ("proposal", "UPDATE proposal SET cybersecurity = NOT cybersecurity WHERE id = 2"),
    ("round_result", "UPDATE round_result SET mean_impact = mean_impact + 0.001 WHERE id = 7"),
    ("action", "DELETE FROM action WHERE id = (SELECT max(id) FROM action)"),
])
def test_one_stored_value_changed_behind_the_workbench_makes_the_load_digest_differ(engine, table, change):
    load_demo(engine, actor=SYSTEM)
    events = recorded(engine)
    assert mismatches(engine, events) == []
    raw(engine, change)
    assert {t for _id, _action, t in mismatches(engine, events)} == {table}
    assert store.verify_chain(engine) > 0  # the chain itself is intact: only the rows changed


def test_a_value_changed_after_an_import_makes_its_update_digest_differ(engine):
    load_demo(engine, actor=SYSTEM)
    before = recorded(engine)[-1][0]
    import_changes(engine, list_proposals(engine)[0].id)
    updates = [e for e in recorded(engine, since=before) if e[1] == "bulk_update"]
    assert updates and mismatches(engine, updates) == []
    ids = [i for e in updates for a, b in json.loads(event_after(engine, e[0]))["ids"] for i in range(a, b + 1)]
    raw(engine, f"UPDATE risk SET updated_by = 'someone else' WHERE id = {ids[0]}")
    assert len(mismatches(engine, updates)) == 1


def event_after(engine, event_id: int) -> str:
    from risk.models import AuditEvent

    with Session(engine) as session:
        return session.get(AuditEvent, event_id).after


def test_the_digest_is_the_sha256_of_the_canonical_json_of_the_columns():
    values = {"title": ["Ä", "b\"c"], "id_like": [1, 2], "when": ["2026-01-01T00:00:00", None],
              "tags": [{"b": 1, "a": [True, 1.5]}, []]}
    whole = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    import hashlib

    assert store.bulk_digest(values) == hashlib.sha256(whole.encode("utf-8")).hexdigest()
    assert store.id_ranges([7, 1, 2, 3, 9, 8]) == [[1, 3], [7, 9]]
