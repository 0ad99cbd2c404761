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
    assert set(took) == {"libraries", "workbench", "module map", "database", "portfolio"}
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
