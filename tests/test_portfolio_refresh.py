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


def _derived(compare):
    """What the home page derives: (name, make, after), the recipes risk/ui/pages/portfolio.py asks for."""
    from risk.ui.common import home_recipe

    return [(name, *home_recipe(name)) for name in ("worst", "category_summary", ("cells", tuple(compare)))]


def _assert_same(got, fresh):
    if isinstance(fresh, pd.Series):
        pd.testing.assert_series_equal(got, fresh)
    else:
        pd.testing.assert_frame_equal(got, fresh)


@pytest.mark.parametrize("visible", [None, frozenset({1, 2})], ids=["all proposals", "two of them"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_what_the_page_derives_is_carried_over_a_change_and_equals_it_made_afresh(demo, change, visible):
    held = _Portfolio()
    frame, _ = held.at(demo, store.data_version(demo))
    compare = sorted(set(frame["proposal"]))[:2]
    made = []

    def counted(make):
        return lambda f: made.append(1) or make(f)

    for name, make, after in _derived(compare):
        held.memo(name, visible, frame, counted(make), after)
    assert len(made) == 3
    make_change, touched = CHANGES[change]
    make_change(demo)
    frame, _ = held.at(demo, store.data_version(demo))
    made.clear()
    seen = frame if visible is None else frame[frame["proposal_id"].isin(visible)]
    for name, make, after in _derived(compare):
        _assert_same(held.memo(name, visible, frame, counted(make), after), make(seen))
    if touched:  # carried from the changed proposals' rows: nothing made again over the whole frame
        assert made == []
    elif touched is None:  # read afresh: made afresh
        assert len(made) == 3


def test_a_derived_value_two_changes_behind_or_from_older_frames_is_made_again(demo):
    from risk.services.summary import category_summary, category_summary_after

    held = _Portfolio()
    old_frame, _ = held.at(demo, store.data_version(demo))
    held.memo("s", None, old_frame, category_summary, category_summary_after)
    for title in ("One", "Two"):  # two changes before the page asks again: the one step kept does not reach back
        ps.update_proposal(demo, actor=SYSTEM, proposal_id=3, title=title)
        frame, _ = held.at(demo, store.data_version(demo))
    made = []
    got = held.memo("s", None, frame, lambda f: made.append(1) or category_summary(f), category_summary_after)
    assert made == [1]
    pd.testing.assert_frame_equal(got, category_summary(frame))
    # a session still holding the frames from before the changes gets its own value, not kept for the others
    assert held.memo("s", None, old_frame, category_summary, category_summary_after).equals(
        category_summary(old_frame))
    assert held.memo("s", None, frame, lambda f: made.append(1), None) is got


def test_a_title_two_proposals_share_makes_the_worst_list_again(demo):
    from risk.services.summary import worst_by_proposal, worst_by_proposal_after

    ps.update_proposal(demo, actor=SYSTEM, proposal_id=3, title=ps.get_proposal(demo, 2).title)
    held = _Portfolio()
    frame, _ = held.at(demo, store.data_version(demo))
    held.memo("worst", None, frame, worst_by_proposal, worst_by_proposal_after)
    ps.update_risk(demo, actor=SYSTEM, risk_pk=_first_risk(demo, 3).id, expected_version=None, status="Closed")
    frame, _ = held.at(demo, store.data_version(demo))
    pd.testing.assert_series_equal(held.memo("worst", None, frame, worst_by_proposal, worst_by_proposal_after),
                                   worst_by_proposal(frame))
