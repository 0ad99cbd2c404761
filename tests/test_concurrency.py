"""Many writers at once: eight processes submit scores to one database at the same moment. Every score must be
stored, no writer may fail, and the audit chain must still verify (it forks if two writers append at once)."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from risk import store
from risk.db import make_engine
from risk.models import AuditEvent, Score
from risk.services import rounds as rs
from tests.builders import ACTOR, make_proposal

WRITERS = 8
RISKS = 15


def _submit_all(url: str, round_id: int, assessor_id: int, name: str, risk_pks: list[int], start_at: float) -> int:
    engine = make_engine(url)
    while time.time() < start_at:
        time.sleep(0.001)
    for k, risk_pk in enumerate(risk_pks):
        rs.submit_score(engine, actor=name, round_id=round_id, assessor_id=assessor_id,
                        risk_pk=risk_pk, likelihood=1 + (k + assessor_id) % 5, impact=1 + k % 5)
    engine.dispose()
    return len(risk_pks)


@pytest.mark.slow
def test_eight_processes_scoring_at_once_store_every_score_and_keep_the_chain(db_url):
    engine = make_engine(db_url)
    from risk.db import migrate

    migrate(engine)
    b = make_proposal(engine, partners=WRITERS, risks=RISKS)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    events_before = store.count_rows(engine, AuditEvent)
    start_at = time.time() + 3.0  # all workers start writing at the same moment
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=WRITERS, mp_context=ctx) as pool:
        futures = [pool.submit(_submit_all, db_url, rid, member, b.usernames[member], b.risks, start_at)
                   for member in b.members]
        written = [f.result(timeout=120) for f in futures]  # re-raises any writer's error
    assert written == [RISKS] * WRITERS
    assert store.count_rows(engine, Score) == WRITERS * RISKS
    assert store.count_rows(engine, AuditEvent) == events_before + WRITERS * RISKS
    assert store.verify_chain(engine) == events_before + WRITERS * RISKS
    engine.dispose()
