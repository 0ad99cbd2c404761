"""What a proposal's pages keep (their charts, the profile's simulated years) is keyed by the newest change to that
proposal (risk/services/changes.py ProposalVersions, common.proposal_version), not by the newest change anywhere:
during a workshop on one proposal, or while people sign in, a manager's profile of another proposal is not built
again on every click; a change to the proposal itself, or to a row many proposals share, builds it again."""

from __future__ import annotations

import pytest
import streamlit
from sqlmodel import Session, select

from risk import charts, store
from risk.models import Partner, Risk
from risk.services import proposals as ps
from risk.services import quantify as qs
from risk.services import strengths
from risk.services.changes import ProposalVersions
from risk.services.portfolio import load_demo
from risk.ui import common
from tests import signin
from tests.signin import SYSTEM
from tests.test_app import start

PROFILE = "risk/ui/pages/profile.py"


@pytest.fixture
def demo(engine):
    load_demo(engine, actor="system:demo")
    return engine


def _risk_of(engine, proposal_id: int) -> int:
    with Session(engine) as s:
        return s.execute(select(Risk.id).where(Risk.proposal_id == proposal_id).order_by(Risk.id)).scalars().first()


def _partner_of(engine, proposal_id: int) -> int:
    return ps.proposal_partners(engine, proposal_id)[0][0].id


def test_each_proposal_keeps_the_version_of_its_own_newest_change(demo):
    versions = ProposalVersions()
    start_at = store.data_version(demo)
    assert [versions.of(demo, start_at, pid) for pid in (1, 2, 3)] == [start_at] * 3  # the first version followed

    ps.update_risk(demo, actor=SYSTEM, risk_pk=_risk_of(demo, 2), expected_version=None, controls="Revised")
    edited = store.data_version(demo)
    assert edited > start_at
    assert [versions.of(demo, edited, pid) for pid in (1, 2, 3)] == [start_at, edited, start_at]

    signin.admin_session(demo)  # a sign-in is a write, and no proposal's page shows it
    signed = store.data_version(demo)
    assert signed > edited
    assert [versions.of(demo, signed, pid) for pid in (1, 2, 3)] == [start_at, edited, start_at]

    # a partner's strength: not in the portfolio's figures, but on the proposal's pages
    strengths.set_strength(demo, actor=SYSTEM, proposal_id=3, partner_id=_partner_of(demo, 3), capability="GIS",
                           score=4)
    strong = store.data_version(demo)
    assert [versions.of(demo, strong, pid) for pid in (1, 2, 3)] == [start_at, edited, strong]

    # read before the change this process followed: that version itself, which stands for the proposal as it was
    assert versions.of(demo, edited, 3) == edited

    # a partner is shared by many proposals: every proposal counts as changed
    ps.add_partner(demo, actor=SYSTEM, name="Northfield Township")
    shared = store.data_version(demo)
    assert [versions.of(demo, shared, pid) for pid in (1, 2, 3)] == [shared] * 3
    ps.update_risk(demo, actor=SYSTEM, risk_pk=_risk_of(demo, 1), expected_version=None, controls="Revised again")
    last = store.data_version(demo)
    assert [versions.of(demo, last, pid) for pid in (1, 2, 3)] == [last, shared, shared]


def test_a_partner_renamed_changes_every_proposal(demo):
    """A partner government's row is shared by the proposals it is in (its name is on all their pages)."""
    versions = ProposalVersions()
    start_at = store.data_version(demo)
    versions.of(demo, start_at, 1)
    with store.write(demo, SYSTEM) as unit:
        partner = unit.session.get(Partner, _partner_of(demo, 1))
        store.update(unit=unit, obj=partner, entity="partner", changes={"name": "Harmon County (renamed)"})
    renamed = store.data_version(demo)
    assert renamed > start_at
    assert [versions.of(demo, renamed, pid) for pid in (1, 2, 3)] == [renamed] * 3


def _counting(monkeypatch) -> dict[str, int]:
    """How often each of the profile's chart builders and its simulation run."""
    calls: dict[str, int] = {}

    def counted(module, name):
        real = getattr(module, name)

        def count(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, count)

    for name in ("heatmap", "category_profile", "movement", "expected_loss", "loss_exceedance"):
        counted(charts, name)
    counted(qs, "compare")
    return calls


def test_the_profile_is_not_built_again_after_changes_elsewhere_and_is_after_its_own(demo_db, monkeypatch):
    common._chart_spec.clear()
    calls = _counting(monkeypatch)
    at = start(PROFILE, proposal_id=1)
    assert calls.get("heatmap", 0) >= 2 and calls.get("compare") == 1
    risks_before = int(next(m.value for m in at.metric if m.label == "Risks"))

    calls.clear()
    ps.update_risk(demo_db, actor=SYSTEM, risk_pk=_risk_of(demo_db, 2), expected_version=None,
                   controls="Reviewed by the other workshop")
    signin.admin_session(demo_db, "Bea Manager")  # somebody else signs in
    at.run()
    assert not at.exception
    assert calls == {}  # nothing of the profile built again, no second simulation

    # a second browser session (a colleague, a second tab) on the same profile: the charts and the simulation's
    # result are the process's, not made again for it
    other = start(PROFILE, proposal_id=1, actor="other", name="Cal Colleague")
    assert calls == {}
    assert {m.label: m.value for m in other.metric} == {m.label: m.value for m in at.metric}

    # a change to this proposal: built again, and what it shows is the new state
    ps.add_risk(demo_db, actor=SYSTEM, proposal_id=1, category="operational", title="Radio console vendor exits")
    at.run()
    assert not at.exception
    assert calls.get("heatmap", 0) >= 2 and calls.get("compare") == 1
    assert int(next(m.value for m in at.metric if m.label == "Risks")) == risks_before + 1


def test_the_simulation_is_kept_per_setting_and_proposal(demo_db, monkeypatch):
    calls = _counting(monkeypatch)
    at = start(PROFILE, proposal_id=1)
    assert calls.get("compare") == 1
    at.selectbox(key="money_iterations").select(10_000).run()
    assert not at.exception and calls["compare"] == 2  # another setting: simulated for it
    at.selectbox(key="money_iterations").select(100_000).run()
    assert calls["compare"] == 2  # back to the first: kept
    second = start(PROFILE, proposal_id=2)
    assert not second.exception and calls["compare"] == 3  # another proposal: its own


def test_the_kept_results_are_bounded(monkeypatch):
    monkeypatch.setattr(common, "SHARED_KEEP", 3)
    common._shared_results.clear()
    made = []
    for k in range(5):
        assert common.shared(("bounded", k), lambda k=k: made.append(k) or k * 10) == k * 10
    assert common.shared(("bounded", 4), lambda: made.append("again")) == 40  # kept
    common.shared(("bounded", 0), lambda: made.append("made again"))  # the oldest went
    assert made == [0, 1, 2, 3, 4, "made again"]
    assert len(common._shared_results()) == 3
    common._shared_results.clear()


def test_a_progress_bar_is_shown_only_while_simulating(demo_db, monkeypatch):
    shown = []
    real = streamlit.progress
    monkeypatch.setattr(streamlit, "progress", lambda *a, **k: shown.append(a) or real(*a, **k))
    start(PROFILE, proposal_id=3)
    first = len(shown)
    assert first >= 1
    start(PROFILE, proposal_id=3, actor="other", name="Cal Colleague")
    assert len(shown) == first  # the second session found the result: no bar


def test_recently_changed_lists_the_proposals_changed_last_first_and_only_those_that_exist(demo):
    from risk.services.changes import recently_changed

    assert set(recently_changed(demo, 3)) == {1, 2, 3}
    ps.update_risk(demo, actor=SYSTEM, risk_pk=_risk_of(demo, 2), expected_version=None, controls="Newest")
    assert recently_changed(demo, 1) == [2]
    signin.admin_session(demo)  # no proposal's change
    assert recently_changed(demo, 1) == [2]
    ps.update_risk(demo, actor=SYSTEM, risk_pk=_risk_of(demo, 1), expected_version=None, controls="Newer still")
    assert recently_changed(demo, 2) == [1, 2]
    # a proposal since deleted is not offered
    with store.write(demo, SYSTEM) as unit:
        from risk.models import Proposal
        store.delete(unit=unit, obj=unit.session.get(Proposal, 1), entity="proposal")
    assert 1 not in recently_changed(demo, 3)


def test_the_start_makes_the_recent_profiles_and_their_first_visit_builds_nothing(demo_db, monkeypatch):
    from risk.services.changes import recently_changed
    from risk.ui import profile_charts

    common._chart_spec.clear()
    common._shared_results.clear()
    ps.update_risk(demo_db, actor=SYSTEM, risk_pk=_risk_of(demo_db, 2), expected_version=None, controls="Latest")
    assert recently_changed(demo_db, 1) == [2]
    monkeypatch.setattr(profile_charts, "WARM_PROFILES", 1)
    assert profile_charts.warm_profiles(1) == [2]

    calls = _counting(monkeypatch)
    at = start(PROFILE, proposal_id=2)
    assert not at.exception
    assert calls == {}  # its charts and its simulation were made at the start
    assert specs_titles(at) >= {"Inherent risk (before controls)", "Residual risk (with controls)"}
    other = start(PROFILE, proposal_id=3)  # not among the recent: made on its first visit
    assert not other.exception and calls.get("heatmap", 0) >= 2 and calls.get("compare") == 1


def specs_titles(at) -> set[str]:
    import json

    from tests.test_app import _walk

    titles = set()
    for e in _walk(at.main):
        if type(e.proto).__name__ == "VegaLiteChart":
            title = json.loads(e.proto.spec).get("title")
            titles.add(title if isinstance(title, str) else (title or {}).get("text"))
    return titles
