"""The audit record proves itself (docs/AUDIT.md, issue 15): each tampering a test does to the database around the
services (a data row edited, added or removed; an event edited, removed or reordered; the tail or every event cut;
the chain computed again with plain SHA-256 or another key) is found by `audit.verify`, whose message names the
event, or the table, row and field; the untouched database verifies; a head published in an export catches a cut
after it and accepts later appends. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import Session

from risk import audit, store
from risk.errors import AuditChainError, AuditDataError, AuditError
from risk.services import proposals as ps
from risk.services import rounds as rs
from risk.services.json_export import export_document
from risk.services.portfolio import load_demo
from tests.builders import ACTOR, SYSTEM, make_proposal, score_round

OTHER_KEY = bytes.fromhex("0bad" * 16)


def raw(engine, *statements: str, **params) -> None:
    """A change made around the services (no audit event), committed."""
    with Session(engine) as session:
        for sql in statements:
            session.execute(text(sql), params)
        session.commit()


def one(engine, sql: str, **params):
    with Session(engine) as session:
        return session.execute(text(sql), params).scalar_one()


def workshop(engine):
    """A proposal set up and scored through the services, one event per change: two risks scored by two assessors,
    a consensus on the first, and the second retitled last."""
    b = make_proposal(engine, partners=2, risks=2)
    score_round(engine, b, "inherent", {b.risks[0]: [(2, 3), (3, 3)], b.risks[1]: [(1, 1), (2, 2)]})
    rs.record_consensus(engine, actor=ACTOR, risk_pk=b.risks[0], phase="inherent", likelihood=4, impact=4,
                        rationale="agreed in the workshop")
    ps.update_risk(engine, actor=ACTOR, risk_pk=b.risks[1], expected_version=None, title="Retitled")
    return b


def refused(engine, error=AuditError, **kwargs) -> str:
    with pytest.raises(error) as caught:
        audit.verify(engine, **kwargs)
    return str(caught.value)


def rechain(engine, hasher) -> None:
    """Compute every event's hash again, as someone holding the database would: `hasher(prev, *fields)`."""
    with Session(engine) as session:
        rows = session.execute(text('SELECT id, at, actor, action, entity, entity_id, "before", "after" '
                                    "FROM audit_event ORDER BY id")).all()
        prev = audit.GENESIS
        for row in rows:
            digest = hasher(prev, *row[1:])
            session.execute(text("UPDATE audit_event SET prev_hash = :p, hash = :h WHERE id = :i"),
                            {"p": prev, "h": digest, "i": row[0]})
            prev = digest
        session.commit()


# --- the untouched record ------------------------------------------------------------------------------

def test_an_untouched_database_verifies_every_event_and_every_row(engine):
    workshop(engine)
    load_demo(engine, actor=SYSTEM)
    report = audit.verify(engine)
    assert report.events == one(engine, "SELECT count(*) FROM audit_event")
    tables = audit.audited_tables()
    assert report.rows == sum(one(engine, f"SELECT count(*) FROM {t}") for t in tables) > 1000
    assert set(report.tables) == set(tables) and "audit_event" not in tables and "creation_token" not in tables
    last = one(engine, "SELECT hash FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")
    assert report.head == audit.head(engine) == f"{report.events}:{last}"
    assert store.verify_chain(engine) == report.events


def test_an_empty_database_verifies_with_no_head(engine):
    report = audit.verify(engine)
    assert (report.events, report.rows, report.head) == (0, 0, None)


def test_rows_changed_by_several_bulk_updates_and_single_events_still_verify(engine):
    """A load, then a register import that retitles and rescores (bulk update and upsert over the load's rows),
    the same import again with other values, single edits on top: each row's last writer is checked, and each bulk
    event's digest is rebuilt from what the later events recorded they replaced."""
    from tests.test_audit_digest import import_changes

    load_demo(engine, actor=SYSTEM)
    pid = ps.list_proposals(engine)[0].id
    import_changes(engine, pid)
    first = ps.list_risks(engine, pid)[0]
    ps.update_risk(engine, actor=SYSTEM, risk_pk=first.id, expected_version=None, owner="Treasurer")
    second = ps.list_risks(engine, pid)[1]
    ps.update_risk(engine, actor=SYSTEM, risk_pk=second.id, expected_version=None, title="Once more")
    assert audit.verify(engine).rows > 900
    raw(engine, "UPDATE risk SET owner = 'x' WHERE id = :i", i=ps.list_risks(engine, pid)[2].id)
    assert "table risk" in refused(engine, AuditDataError)


# --- the data changed around the services ------------------------------------------------------------------

def test_a_scores_likelihood_changed_in_the_table_is_named(engine):
    b = workshop(engine)
    score = one(engine, "SELECT max(id) FROM score WHERE risk_pk = :r", r=b.risks[0])
    raw(engine, "UPDATE score SET likelihood = 5 WHERE id = :i", i=score)
    message = refused(engine, AuditDataError)
    assert f"table score, row {score}, field likelihood: 5 is stored" in message and "recorded 3" in message


def test_a_risks_title_changed_in_the_table_is_named(engine):
    b = workshop(engine)
    raw(engine, "UPDATE risk SET title = 'Nothing to see' WHERE id = :i", i=b.risks[0])
    message = refused(engine, AuditDataError)
    assert f"table risk, row {b.risks[0]}, field title: 'Nothing to see' is stored" in message
    assert "recorded 'Risk 1'" in message


def test_a_consensus_changed_in_the_table_is_named(engine):
    b = workshop(engine)
    row = one(engine, "SELECT id FROM consensus WHERE risk_pk = :r", r=b.risks[0])
    raw(engine, "UPDATE consensus SET impact = 1 WHERE id = :i", i=row)
    assert f"table consensus, row {row}, field impact: 1 is stored" in refused(engine, AuditDataError)


def test_a_value_a_bulk_load_wrote_is_named_by_table_field_and_rows(engine):
    load_demo(engine, actor=SYSTEM)
    raw(engine, "UPDATE score SET likelihood = 6 - likelihood WHERE id = 7")
    message = refused(engine, AuditDataError)
    assert "table score, rows 1–" in message and "field likelihood differs" in message and "bulk_create" in message


def test_a_row_removed_from_a_table_is_named(engine):
    workshop(engine)
    score = one(engine, "SELECT min(id) FROM score")
    raw(engine, "DELETE FROM score WHERE id = :i", i=score)
    message = refused(engine, AuditDataError)
    assert f"table score, row {score}: missing: audit event" in message and "no audit event deleted it" in message


def test_a_row_removed_from_a_bulk_load_is_named(engine):
    load_demo(engine, actor=SYSTEM)
    raw(engine, "DELETE FROM action WHERE id = 2")
    assert "table action, row 2: missing: audit event" in refused(engine, AuditDataError)


def test_a_row_added_to_a_table_is_named(engine):
    workshop(engine)
    raw(engine, "INSERT INTO partner (name, kind, cost_drivers) VALUES ('Rogue county', 'county', '{}')")
    row = one(engine, "SELECT id FROM partner WHERE name = 'Rogue county'")
    assert f"table partner, row {row}: not in the audit record" in refused(engine, AuditDataError)


# --- the events changed ----------------------------------------------------------------------------------------

def test_an_edited_event_is_named(engine):
    workshop(engine)
    event = one(engine, "SELECT min(id) FROM audit_event WHERE entity = 'risk'")
    raw(engine, "UPDATE audit_event SET \"after\" = replace(\"after\", 'Risk 1', 'Risk 9') WHERE id = :i", i=event)
    assert f"audit event {event} (create risk" in (message := refused(engine, AuditChainError))
    assert "changed after it was written" in message


def test_a_deleted_event_is_named(engine):
    workshop(engine)
    raw(engine, "DELETE FROM audit_event WHERE id = 8")
    assert "audit event 9 " in (message := refused(engine, AuditChainError)) and "event 7" in message


def test_reordered_events_are_named(engine):
    workshop(engine)
    raw(engine, "UPDATE audit_event SET id = -5 WHERE id = 5", "UPDATE audit_event SET id = 5 WHERE id = 6",
        "UPDATE audit_event SET id = 6 WHERE id = -5")
    message = refused(engine, AuditChainError)
    assert "audit event 5 " in message and "does not follow" in message and "reordered" in message


def test_the_last_event_deleted_is_found_by_the_row_it_wrote(engine):
    b = workshop(engine)  # the last event retitled the second risk
    raw(engine, "DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")
    message = refused(engine, AuditDataError)
    assert f"table risk, row {b.risks[1]}, field title: 'Retitled' is stored" in message


def test_the_last_six_events_deleted_are_found_by_the_rows_they_wrote(engine):
    b = workshop(engine)  # the last six: three scores, the reveal, the consensus, the retitle
    raw(engine, "DELETE FROM audit_event WHERE id > (SELECT max(id) - 6 FROM audit_event)")
    message = refused(engine, AuditDataError)
    assert message.startswith("table ") and (f"row {b.risks[1]}" in message or "table score" in message)


def test_every_event_deleted_is_found(engine):
    workshop(engine)
    raw(engine, "DELETE FROM audit_event")
    message = refused(engine, AuditDataError)
    assert "not in the audit record" in message and "holds no events at all" in message


def test_the_chain_computed_again_with_plain_sha256_is_found(engine):
    workshop(engine)
    raw(engine, "UPDATE audit_event SET actor = 'mallory' WHERE id = 3")
    rechain(engine, audit.plain_hash)
    message = refused(engine, AuditChainError)
    assert message.startswith("audit event 1 ") and "plain SHA-256" in message


def test_the_chain_computed_again_under_another_key_is_found(engine):
    workshop(engine)
    rechain(engine, audit.Chain(OTHER_KEY).hash)
    assert "audit event 1 " in (message := refused(engine, AuditChainError)) and "key is not the one" in message


def test_verify_with_a_wrong_key_fails(engine):
    workshop(engine)
    message = refused(engine, AuditChainError, key=OTHER_KEY)
    assert message.startswith("audit event 1 ") and "key is not the one" in message


# --- the published head ------------------------------------------------------------------------------------------

def test_a_head_from_an_export_accepts_later_appends(engine):
    b = workshop(engine)
    published = export_document(engine)["audit_head"]
    assert published == audit.head(engine)
    ps.update_risk(engine, actor=ACTOR, risk_pk=b.risks[0], expected_version=None, title="Later")
    report = audit.verify(engine, head=published)
    assert report.checked_head == published and report.head != published


def test_a_head_from_an_export_detects_the_log_cut_before_it(engine):
    workshop(engine)
    published = export_document(engine)["audit_head"]
    event = int(published.split(":")[0])
    raw(engine, "DELETE FROM audit_event WHERE id >= :i", i=event - 1)
    message = refused(engine, AuditChainError, head=published)
    assert f"ends at event {event - 2}, before event {event} of the published head" in message
    # and an event of the head replaced by another one
    raw(engine, "UPDATE audit_event SET id = :i WHERE id = :j", i=event, j=event - 2)
    message = refused(engine, AuditChainError, head=published)
    assert f"audit event {event} (" in message and f"is not the event the published head {published} names" in message


def test_a_head_whose_event_was_rewritten_is_refused(engine):
    workshop(engine)
    published = audit.head(engine)
    rechain(engine, audit.Chain(OTHER_KEY).hash)  # whoever rewrote it had a key, but not this one
    assert "audit event" in refused(engine, AuditChainError, head=published, key=OTHER_KEY)


def test_a_malformed_head_is_refused_in_words(engine):
    with pytest.raises(AuditError, match="expected ID:HASH"):
        audit.verify(engine, head="12:nothex")


def test_the_auditors_recipe_recomputes_the_keyed_chain_without_the_workbench(engine):
    from tests.conftest import TEST_AUDIT_KEY
    from tests.test_audit_digest import auditor_namespace

    workshop(engine)
    chain_head = auditor_namespace()["chain_head"]
    url = engine.url.render_as_string(hide_password=False)
    assert chain_head(url, TEST_AUDIT_KEY) == audit.head(engine)
    with pytest.raises(ValueError, match="audit event 1 does not verify"):
        chain_head(url, OTHER_KEY.hex())
