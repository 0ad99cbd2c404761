"""The server's start (risk/warm.py, serve.py's lifespan): before anyone arrives it imports what the pages use, opens
the database and reads the portfolio, and the first person's home page uses what it read instead of reading it
again."""

from __future__ import annotations

import inspect
import logging

import pytest
from streamlit.testing.v1 import AppTest

from risk import config, store
from risk.ui import common
from risk.warm import warm
from tests import signin


@pytest.fixture(autouse=True)
def _no_refresh_left_running():
    """A start also starts the background refresh (tests/test_portfolio_background.py): stopped after each test."""
    yield
    common.stop_refresher()


def test_the_start_reads_the_portfolio_and_the_first_home_page_uses_it(demo_db):
    common.portfolio_state.clear()
    took = warm()
    assert set(took) == {"libraries", "workbench", "module map", "database", "portfolio", "profiles"}
    held = common.portfolio_state(config.database_url())
    assert held.version == store.data_version(demo_db)  # the frames as of the newest change, read at the start
    assert held.refreshes == {"full": 1, "partial": 0}
    assert len(held.overview) == 3 and held.frame["proposal_id"].nunique() == 3

    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["_session_token"] = signin.admin_session(demo_db)
    at.run()
    assert not at.exception
    assert at.title[0].value == "Shared-service risk portfolio"
    # the sign-in itself is a change (a session started): one that touches no proposal, so nothing is read again
    assert held.refreshes["full"] == 1 and held.refreshes["partial"] == 0
    common.portfolio_state.clear()


def test_the_start_maps_the_modules_to_their_files_once(demo_db):
    """Streamlit's first element asks inspect.stack() whether it runs in a REPL: after the start, inspect knows the
    file of every module loaded, so that question does not walk them all on the first page."""
    warm()
    assert inspect._filesbymodname  # filled by inspect.stack() during the start
    common.portfolio_state.clear()


def test_a_database_that_cannot_be_read_at_the_start_is_left_to_the_first_page(monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="risk.warm")
    garbage = tmp_path / "risk.db"
    garbage.write_bytes(b"not a database " * 1000)
    monkeypatch.setenv("RISK_DATABASE_URL", f"sqlite:///{garbage}")
    common.portfolio_state.clear()
    took = warm()  # logged, not raised: the server starts and the first page says what is wrong in words
    assert "database" in took and "portfolio" in took
    assert "could not be opened at start" in caplog.text
    assert "could not be read at start" in caplog.text
    common.portfolio_state.clear()


def test_the_start_on_an_empty_database_reads_an_empty_portfolio(app_db):
    """A fresh `make run`: nothing to read yet, and nothing logged as a failure."""
    common.portfolio_state.clear()
    warm()
    held = common.portfolio_state(config.database_url())
    assert held.version == store.data_version(app_db) and len(held.overview) == 0 and len(held.frame) == 0
    common.portfolio_state.clear()


def test_the_start_makes_the_home_page_for_everyone_and_for_those_signed_in(demo_db, monkeypatch):
    """What the home page derives, and its chart, are made at the start for the whole portfolio (administrators)
    and for the accounts signed in: their first home page after a restart makes none of it again."""
    from sqlmodel import Session, select

    from risk import access, accounts, charts
    from risk.models import TeamMember
    from risk.services import summary

    with Session(demo_db) as s:
        member = s.execute(select(TeamMember).where(TeamMember.proposal_id == 1)).scalars().first()
        other = s.execute(select(TeamMember).where(TeamMember.proposal_id == 3)).scalars().first()
    admin_token = signin.admin_session(demo_db)
    member_token = signin.member_session(demo_db, member.id)
    accounts.end_session(demo_db, signin.member_session(demo_db, other.id))  # signed out: not made for
    with Session(demo_db) as s:
        member_sees = frozenset(access.visible_proposal_ids(s, signin.username_of(demo_db, member.id)))
        other_sees = frozenset(access.visible_proposal_ids(s, signin.username_of(demo_db, other.id)))
    assert member_sees != other_sees

    common.portfolio_state.clear()
    common._chart_spec.clear()
    common.warm_portfolio()
    held = common.portfolio_state(config.database_url())
    views = {visible for _, visible in held.derived}
    assert None in views and member_sees in views and other_sees not in views
    assert {name for name, visible in held.derived if visible is None} == {
        "worst", "category_summary", ("cells", tuple(held.derived[("worst", None)][1].index[:common.MAX_IN_CHART]))}

    made = []

    def counted(module, name):
        make = getattr(module, name)

        def count(*args, **kwargs):
            made.append(name)
            return make(*args, **kwargs)
        monkeypatch.setattr(module, name, count)

    for name in ("worst_by_proposal", "category_summary", "chart_cells"):
        counted(summary, name)
    counted(charts, "portfolio")
    for token in (admin_token, member_token):
        at = AppTest.from_file("../app.py", default_timeout=60)
        at.session_state["_session_token"] = token
        at.run()
        assert not at.exception and at.title[0].value == "Shared-service risk portfolio"
        assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    assert made == []  # the first home page of each found everything made
    common.portfolio_state.clear()
