"""Storage promises, run on SQLite and (when configured) PostgreSQL: constraints in the schema, the score
upsert, the audit chain in the same transaction, and optimistic locking of risks."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from risk import store
from risk.db import writer
from risk.errors import AuditChainError, ConflictError, RefusedError
from risk.models import AuditEvent, Risk, Score
from risk.services import proposals as ps
from risk.services import rounds as rs
from tests.builders import ACTOR, SYSTEM, make_proposal


def test_every_constraint_has_a_name(engine):
    insp = inspect(engine)
    for table in insp.get_table_names():
        for ck in insp.get_check_constraints(table):
            assert ck["name"], f"unnamed CHECK on {table}"
        for uq in insp.get_unique_constraints(table):
            assert uq["name"], f"unnamed UNIQUE on {table}"
        for fk in insp.get_foreign_keys(table):
            assert fk["name"], f"unnamed FOREIGN KEY on {table}"


def test_database_refuses_a_score_outside_one_to_five(engine):
    b = make_proposal(engine, partners=1, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    for lik in (0, 6):
        with pytest.raises(IntegrityError), Session(writer(engine)) as s:
            s.execute(text("INSERT INTO score (round_id, assessor_id, risk_pk, likelihood, impact, rationale, "
                           "updated_at) VALUES (:r, :a, :k, :l, 3, '', CURRENT_TIMESTAMP)"),
                      {"r": rid, "a": b.members[0], "k": b.risks[0], "l": lik})
            s.commit()


def test_database_refuses_two_scores_for_one_round_assessor_and_risk(engine):
    b = make_proposal(engine, partners=1, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    sql = text("INSERT INTO score (round_id, assessor_id, risk_pk, likelihood, impact, rationale, updated_at) "
               "VALUES (:r, :a, :k, 3, 3, '', CURRENT_TIMESTAMP)")
    args = {"r": rid, "a": b.members[0], "k": b.risks[0]}
    with Session(writer(engine)) as s:
        s.execute(sql, args)
        s.commit()
    with pytest.raises(IntegrityError), Session(writer(engine)) as s:
        s.execute(sql, args)
        s.commit()


def test_a_score_sent_again_replaces_the_earlier_one(engine):
    b = make_proposal(engine, partners=1, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    for lik, imp in ((2, 2), (4, 5), (4, 5)):
        rs.submit_score(engine, actor=b.usernames[b.members[0]], round_id=rid, assessor_id=b.members[0],
                            risk_pk=b.risks[0],
                        likelihood=lik, impact=imp)
    with Session(engine) as s:
        rows = s.execute(select(Score.likelihood, Score.impact)).all()
    assert rows == [(4, 5)]


def test_service_refuses_bad_scores_and_leaves_the_database_as_it_was(engine):
    b = make_proposal(engine, partners=1, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    events = store.count_rows(engine, AuditEvent)
    for bad in (0, 6, 3.5, "high", ""):
        with pytest.raises(RefusedError, match="likelihood: expected a whole number from 1 to 5"):
            rs.submit_score(engine, actor=b.usernames[b.members[0]], round_id=rid, assessor_id=b.members[0],
                            risk_pk=b.risks[0],
                            likelihood=bad, impact=3)
    assert store.count_rows(engine, Score) == 0
    assert store.count_rows(engine, AuditEvent) == events


def test_scores_go_only_into_open_rounds(engine):
    b = make_proposal(engine, partners=1, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    rs.reveal_round(engine, actor=ACTOR, round_id=rid)
    with pytest.raises(RefusedError, match="scores go into an open round"):
        rs.submit_score(engine, actor=b.usernames[b.members[0]], round_id=rid, assessor_id=b.members[0],
                            risk_pk=b.risks[0],
                        likelihood=3, impact=3)


def test_every_change_writes_an_audit_event_and_the_chain_verifies(engine):
    make_proposal(engine, partners=2, risks=2)
    with Session(engine) as s:
        events = s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    # proposal, 2 partners + 2 links, 3 members, their accounts and links (by the operator), 2 risks (by the
    # facilitator)
    assert [e.entity for e in events].count("risk") == 2
    assert {e.actor for e in events} == {SYSTEM, ACTOR}
    assert {e.actor for e in events if e.entity == "risk"} == {ACTOR}
    assert store.verify_chain(engine) == len(events)


def test_audit_event_holds_before_and_after(engine):
    b = make_proposal(engine, partners=1, risks=1)
    someone = b.usernames[b.members[0]]
    ps.update_risk(engine, actor=someone, risk_pk=b.risks[0], expected_version=1, title="New title")
    with Session(engine) as s:
        ev = s.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
    assert ev.actor == someone and ev.action == "update" and ev.entity == "risk"
    assert '"title":"Risk 1"' in ev.before and '"title":"New title"' in ev.after


def test_an_edited_audit_event_is_detected(engine):
    make_proposal(engine, partners=1, risks=1)
    with Session(writer(engine)) as s:
        s.execute(update(AuditEvent).where(AuditEvent.id == 3).values(actor="mallory"))
        s.commit()
    with pytest.raises(AuditChainError, match="audit event 3 .* changed after it was written"):
        store.verify_chain(engine)


def test_a_deleted_audit_event_is_detected(engine):
    make_proposal(engine, partners=1, risks=1)
    with Session(writer(engine)) as s:
        s.execute(text("DELETE FROM audit_event WHERE id = 2"))
        s.commit()
    with pytest.raises(AuditChainError, match="audit event 3 .* does not follow"):
        store.verify_chain(engine)


def test_a_failed_change_leaves_no_audit_event(engine):
    b = make_proposal(engine, partners=1, risks=1)
    before = store.count_rows(engine, AuditEvent)
    with pytest.raises(RuntimeError), store.write(engine, ACTOR) as unit:
        store.update(unit=unit, obj=unit.session.get(Risk, b.risks[0]), entity="risk", changes={"title": "x"})
        raise RuntimeError("power cut")
    assert store.count_rows(engine, AuditEvent) == before
    with Session(engine) as s:
        assert s.get(Risk, b.risks[0]).title == "Risk 1"


def test_nothing_is_saved_anonymously(engine):
    with pytest.raises(RefusedError, match="who is acting"):
        ps.create_proposal(engine, actor="  ", title="x")


def test_the_later_of_two_edits_of_a_risk_is_refused_naming_who_saved_first(engine):
    b = make_proposal(engine, partners=1, risks=1)
    version = 1
    ana, ben = ACTOR, b.usernames[b.members[0]]  # the facilitator and an assessor
    ps.update_risk(engine, actor=ana, risk_pk=b.risks[0], expected_version=version, owner="Ana")
    with pytest.raises(ConflictError, match=f"changed by {ana} at"):
        ps.update_risk(engine, actor=ben, risk_pk=b.risks[0], expected_version=version, owner="Ben")
    with Session(engine) as s:
        risk = s.get(Risk, b.risks[0])
    assert (risk.owner, risk.version) == ("Ana", 2)


def test_insert_many_writes_one_audit_event_with_count_and_digest(engine):
    b = make_proposal(engine, partners=1, risks=0)
    before = store.count_rows(engine, AuditEvent)
    rows = [dict(proposal_id=b.proposal_id, risk_id=f"OPS-{k:02d}", category="operational", title=f"r{k}",
                 tags=[], version=1, status="Draft", cause="", event="", consequence="", owner="", controls="",
                 updated_by="bulk", updated_at=None) for k in range(1, 51)]
    for r in rows:
        r.pop("updated_at")
    with store.write(engine, "loader") as unit:
        store.insert_many(unit=unit, table=Risk, rows=rows, entity="risk")
    assert store.count_rows(engine, Risk) == 50
    assert store.count_rows(engine, AuditEvent) == before + 1
    with Session(engine) as s:
        ev = s.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
    assert ev.action == "bulk_create" and '"count":50' in ev.after and '"sha256":' in ev.after
    assert store.verify_chain(engine) == before + 1


def test_upgrading_from_an_earlier_revision_keeps_every_row(db_url):
    from risk.db import current_revision, make_engine, migrate

    eng = make_engine(db_url)
    migrate(eng, "0002")
    with Session(writer(eng)) as s:
        s.execute(text("INSERT INTO proposal (title, service_type, description, phase, status, matrix, aggregation, "
                       "cybersecurity, appetite, created_at, updated_at) VALUES ('Old', 'GIS', '', 'Assessment', "
                       "'Draft', 'nist-800-30', 'upper_median', false, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        s.execute(text("INSERT INTO risk (proposal_id, risk_id, category, title, cause, event, consequence, owner, "
                       "controls, status, tags, version, updated_at, updated_by) VALUES (1, 'LEG-01', 'legal', 'r', "
                       "'', '', '', '', '', 'Open', '[]', 1, CURRENT_TIMESTAMP, 'x')"))
        s.commit()
    migrate(eng)
    from risk.services.setup import head_revision

    assert current_revision(eng) == head_revision()
    with Session(eng) as s:
        assert s.execute(text("SELECT count(*) FROM risk")).scalar_one() == 1
        assert s.execute(text("SELECT count(*) FROM proposal")).scalar_one() == 1
    from risk.services.proposals import get_proposal, walkthrough_state

    steps, current, done = walkthrough_state(get_proposal(eng, 1))
    assert (current, done) == ("legal", []) and len(steps) == 5
    eng.dispose()
