"""The portfolio refreshes only what a change touched (risk/services/changes.py, risk/ui/common.py _Portfolio):
after each kind of change, the frames kept and partly read again equal the frames read afresh, and a change that
cannot be placed on particular proposals reads everything again."""

from __future__ import annotations

import pandas as pd
import pytest

from risk import accounts, store
from risk.services import cycles
from risk.services import decisions as ds
from risk.services import proposals as ps
from risk.services import rounds as rs
from risk.services.changes import changed_proposals
from risk.services.portfolio import load_demo
from risk.services.summary import portfolio_frame, portfolio_overview
from risk.ui.common import _Portfolio
from tests.builders import SYSTEM


@pytest.fixture
def demo(engine):
    load_demo(engine, actor=SYSTEM)
    return engine


def _first_risk(engine, pid):
    return ps.list_risks(engine, pid)[0]


def _reviewer_decides(engine):
    partners = {p.name: p.id for p, _ in ps.proposal_partners(engine, 1)}
    ps.add_team_member(engine, actor=SYSTEM, proposal_id=1, name="Karen Holt", partner_id=partners["Harmon County"],
                       team_role="reviewer")
    accounts.create_account(engine, actor=SYSTEM, username="karen", full_name="Karen Holt", partner="Harmon County")
    ds.record_decision(engine, actor="karen", proposal_id=1, partner="Harmon County", decision="reject",
                       rationale="Too costly")


def _new_revealed_round(engine):
    rid = rs.open_round(engine, actor=SYSTEM, proposal_id=2, phase="residual")
    member = next(m for m in ps.team(engine, 2) if m.team_role == "assessor")
    accounts.create_account(engine, actor=SYSTEM, username="scorer", full_name=member.name)
    ps.link_team_member(engine, actor=SYSTEM, member_id=member.id, username="scorer")
    rs.submit_score(engine, actor="scorer", round_id=rid, assessor_id=member.id,
                    risk_pk=_first_risk(engine, 2).id, likelihood=5, impact=5)
    rs.reveal_round(engine, actor=SYSTEM, round_id=rid)


# each change, and the proposals it touches (None: it cannot be placed, everything is read again)
CHANGES = {
    "a consensus": (lambda e: rs.record_consensus(e, actor=SYSTEM, risk_pk=_first_risk(e, 1).id, phase="residual",
                                                  likelihood=5, impact=5, rationale="A new contract"), {1}),
    "a risk added": (lambda e: ps.add_risk(e, actor=SYSTEM, proposal_id=3, category="legal", title="New"), {3}),
    "a risk closed": (lambda e: ps.update_risk(e, actor=SYSTEM, risk_pk=_first_risk(e, 3).id,
                                               expected_version=None, status="Closed"), {3}),
    "a risk's category": (lambda e: ps.update_risk(e, actor=SYSTEM, risk_pk=_first_risk(e, 2).id,
                                                   expected_version=None, category="societal"), {2}),
    "a proposal renamed, its appetite": (lambda e: ps.update_proposal(
        e, actor=SYSTEM, proposal_id=2, title="ERP, renamed", appetite={"legal": "Open"}), {2}),
    "a revealed round": (_new_revealed_round, {2}),
    "a government's decision": (_reviewer_decides, {1}),
    "an account (not in the portfolio)": (lambda e: accounts.create_account(
        e, actor=SYSTEM, username="someone", full_name="Some One"), set()),
    "a partner government added (shared by proposals)": (lambda e: ps.add_partner(e, actor=SYSTEM,
                                                                                   name="Elk County"), None),
    "a next cycle (a bulk import of a new proposal)": (lambda e: cycles.start_next_cycle(e, actor=SYSTEM,
                                                                                          proposal_id=2), {4}),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_portfolio_read_in_part_after_a_change_equals_the_portfolio_read_afresh(demo, change):
    held = _Portfolio()
    held.at(demo, store.data_version(demo))
    assert held.refreshes == {"full": 1, "partial": 0}
    before = store.data_version(demo)
    make, touched = CHANGES[change]
    make(demo)
    now = store.data_version(demo)
    assert changed_proposals(demo, before, now) == touched
    frame, overview = held.at(demo, now)
    assert held.refreshes == ({"full": 2, "partial": 0} if touched is None
                              else {"full": 1, "partial": 1 if touched else 0})
    pd.testing.assert_frame_equal(frame, portfolio_frame(demo))
    pd.testing.assert_frame_equal(overview, portfolio_overview(demo))


def test_an_older_version_asked_for_gets_the_newer_frames_and_the_same_version_reads_nothing(demo):
    held = _Portfolio()
    first = store.data_version(demo)
    held.at(demo, first)
    ps.update_proposal(demo, actor=SYSTEM, proposal_id=1, title="Renamed")
    newer = held.at(demo, store.data_version(demo))
    assert held.at(demo, first)[0] is newer[0]  # a session that read the version before the change
    assert held.at(demo, store.data_version(demo))[1] is newer[1]
    assert held.refreshes == {"full": 1, "partial": 1}
