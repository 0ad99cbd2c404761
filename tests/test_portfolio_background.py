"""The background refresh of a server's portfolio (risk/ui/common.py, _Refresher): another person's change is read
off the request path, with what the home page keeps from the frames, so the next page run finds it ready; the
titles every page's picker shows come with the frames instead of a read of their own."""

from __future__ import annotations

import logging
import time

import pytest
from streamlit.testing.v1 import AppTest

from risk import config, store
from risk.services import proposals as ps
from risk.services.summary import category_summary, category_summary_after, portfolio_frame, worst_by_proposal
from risk.ui import common
from tests import signin
from tests.builders import SYSTEM


@pytest.fixture
def held(demo_db):
    """The home page's frames read as at a server's start, and a fast background refresh of them."""
    common.portfolio_state.clear()
    state = common.portfolio_state(config.database_url())
    state.at(demo_db, store.data_version(demo_db), "someone on the home page")
    refresher = common.start_refresher(state, demo_db, 0.02)
    yield state, refresher
    common.stop_refresher()
    common.portfolio_state.clear()


def _caught_up(state, engine, refresher=None, refreshes: int = 0, timeout: float = 10.0) -> None:
    """Until the frames are as of the newest change (and `refresher` has counted `refreshes`, which it does once
    its refresh has also carried what the page keeps)."""
    newest = store.data_version(engine)
    until = time.monotonic() + timeout
    while state.version != newest or (refresher is not None and refresher.refreshed < refreshes):
        assert time.monotonic() < until, f"the refresh stayed at version {state.version}, newest {newest}"
        time.sleep(0.01)


def test_another_persons_change_is_read_in_the_background_with_what_the_page_keeps(demo_db, held):
    state, refresher = held
    frame = state.frame
    kept = state.memo("category_summary", None, frame, category_summary, category_summary_after)
    risk = ps.list_risks(demo_db, 2)[0]
    ps.update_risk(demo_db, actor=SYSTEM, risk_pk=risk.id, expected_version=None, category="societal")
    _caught_up(state, demo_db, refresher, 1)
    assert state.refreshes == {"full": 1, "partial": 1}  # the start read all, the refresh the changed proposal
    assert refresher.refreshed == 1
    fresh = portfolio_frame(demo_db)
    assert state.frame.equals(fresh)
    made_at, summary = state.derived[("category_summary", None)]
    assert made_at == state.generation  # carried up to date in the background too
    assert summary.equals(category_summary(fresh)) and not summary.equals(kept)


def test_the_next_home_page_finds_the_change_ready_and_reads_nothing(demo_db, held, monkeypatch):
    state, _ = held
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["_session_token"] = signin.admin_session(demo_db)
    at.run()
    assert not at.exception
    ps.update_proposal(demo_db, actor=SYSTEM, proposal_id=2, title="Regional GIS hub, second phase")
    _caught_up(state, demo_db)
    reads = {"titles": 0, "frames": 0}

    def counted(name, real):
        def call(*args, **kwargs):
            reads[name] += 1
            return real(*args, **kwargs)
        return call

    from risk.services import proposals, summary
    monkeypatch.setattr(proposals, "proposal_titles", counted("titles", proposals.proposal_titles))
    monkeypatch.setattr(summary, "portfolio_frame", counted("frames", summary.portfolio_frame))
    at.run()
    assert not at.exception
    assert reads == {"titles": 0, "frames": 0}  # the run read neither the frames nor the titles: both were ready
    assert "Regional GIS hub, second phase" in at.dataframe[0].value["Proposal"].tolist()
    assert "Regional GIS hub, second phase" in at.selectbox(key="portfolio_pick").options


def test_titles_come_from_the_frames_only_when_they_are_current(demo_db):
    common.portfolio_state.clear()
    state = common.portfolio_state(config.database_url())
    version = store.data_version(demo_db)
    assert state.titles_at(version) is None  # never read: the page reads the titles itself
    state.at(demo_db, version)
    assert state.titles_at(version) == ps.proposal_titles(demo_db)
    ps.update_proposal(demo_db, actor=SYSTEM, proposal_id=1, title="Renamed")
    assert state.titles_at(store.data_version(demo_db)) is None  # older than the change: not used
    common.portfolio_state.clear()


def test_a_kept_value_no_page_asked_for_lately_is_not_refreshed(demo_db, held):
    state, _ = held
    for k in range(state.KEEP_FRESH + 3):
        state.memo(("worst", k), None, state.frame, worst_by_proposal)
    assert len(state.recipes) == state.KEEP_FRESH
    assert (("worst", 0), None) not in state.recipes  # (name, the proposals the account sees)
    assert (("worst", state.KEEP_FRESH + 2), None) in state.recipes


def test_a_database_away_is_said_once_and_the_refresh_goes_on(demo_db, held, caplog):
    state, refresher = held
    caplog.set_level(logging.ERROR, logger="risk.ui.common")
    real = state.refresh
    failures = []

    def away(engine, version):
        failures.append(version)
        if len(failures) <= 5:
            raise OSError("database unreachable")
        return real(engine, version)

    state.refresh = away
    ps.update_proposal(demo_db, actor=SYSTEM, proposal_id=3, title="Back again")
    _caught_up(state, demo_db)  # read once the database answered again
    assert len(failures) > 5
    assert caplog.text.count("the background portfolio refresh failed") == 1
    assert refresher.thread.is_alive()


def test_with_nobody_on_the_portfolio_page_changes_are_left_to_the_next_visit(demo_db, held):
    """A workshop's saves are not each read into a portfolio nobody is looking at."""
    state, refresher = held
    state.leave("someone on the home page")  # they went to the workshop
    ps.update_proposal(demo_db, actor=SYSTEM, proposal_id=2, title="Nobody looking")
    time.sleep(0.3)  # fifteen ticks of the refresh
    assert state.version < store.data_version(demo_db) and refresher.refreshed == 0
    frame, overview = state.at(demo_db, store.data_version(demo_db), "back home")  # read then, and in use again
    assert "Nobody looking" in overview["Proposal"].tolist() and state.in_use()
    before = refresher.refreshed  # 0, or 1 when a tick came in just as the page asked
    ps.update_proposal(demo_db, actor=SYSTEM, proposal_id=2, title="Looking again")
    _caught_up(state, demo_db, refresher, before + 1)
    assert refresher.refreshed == before + 1
    state.viewers["back home"] -= state.IN_USE_S + 1  # gone quiet for over ten minutes: forgotten
    assert not state.in_use() and not state.viewers


def test_a_session_that_opens_another_page_leaves_the_portfolio(demo_db):
    common.portfolio_state.clear()
    common.warm_portfolio()
    state = common.portfolio_state(config.database_url())
    assert not state.in_use()  # the server's start is nobody on the page
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["_session_token"] = signin.admin_session(demo_db)
    at.run()  # the home page
    assert not at.exception and state.in_use()
    at.switch_page("risk/ui/pages/workshop.py").run()
    assert not at.exception and not state.in_use()
    at.switch_page("risk/ui/pages/portfolio.py").run()
    assert state.in_use()
    common.stop_refresher()
    common.portfolio_state.clear()


def test_frames_never_read_are_left_to_the_first_page(demo_db):
    common.portfolio_state.clear()
    state = common.portfolio_state(config.database_url())
    assert state.refresh(demo_db, store.data_version(demo_db)) is False
    assert state.version is None and state.refreshes == {"full": 0, "partial": 0}
    common.portfolio_state.clear()


def test_the_server_start_runs_the_refresh_unless_it_is_turned_off(demo_db, monkeypatch):
    common.portfolio_state.clear()
    common.warm_portfolio()
    assert len(common._REFRESHER) == 1 and common._REFRESHER[0].seconds == 0.5
    monkeypatch.setenv("RISK_PORTFOLIO_REFRESH_MS", "0")
    common.stop_refresher()
    common.warm_portfolio()
    assert not common._REFRESHER
    monkeypatch.setenv("RISK_PORTFOLIO_REFRESH_MS", "soon")
    with pytest.raises(ValueError, match="RISK_PORTFOLIO_REFRESH_MS: expected a whole number of milliseconds"):
        config.portfolio_refresh_ms()
    common.portfolio_state.clear()
