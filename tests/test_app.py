"""AppTests: every page runs without an exception on an empty database and on one with data."""

from __future__ import annotations

import sys

import pytest
from streamlit.testing.v1 import AppTest

from risk.db import get_engine, migrate
from tests.builders import make_proposal


@pytest.fixture
def app_db(sqlite_url, monkeypatch):
    # AppTest runs the script as __main__ and leaves it in sys.modules; a later test that spawns processes
    # would then re-run app.py in each child. Put the real __main__ back afterwards.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    monkeypatch.setenv("RISK_DATABASE_URL", sqlite_url)
    engine = get_engine(sqlite_url)
    migrate(engine)
    return engine


def run_app() -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_portfolio_page_on_an_empty_database_says_there_are_no_proposals(app_db):
    at = run_app()
    at.switch_page("risk/ui/pages/portfolio.py").run()
    assert not at.exception
    assert any("No proposals yet" in i.value for i in at.info)


def test_portfolio_page_lists_proposals(app_db):
    make_proposal(app_db, partners=2, risks=1, title="County-wide GIS hub")
    at = run_app()
    assert "County-wide GIS hub" in at.dataframe[0].value["Proposal"].tolist()
