"""Browser tests: a real Streamlit server on a fresh SQLite file, driven by Playwright in Debian's Chromium.

Playwright's own browser download does not work here, so the tests use /usr/bin/chromium and are skipped when it
is missing. One server and one browser serve the whole session; each test gets a fresh page (a new Streamlit
session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.appserver import AppServer, serve  # noqa: F401  (the test modules import them from here)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1440, "height": 1000}
SYSTEM = "system:browser-test"  # the operator, for what the fixtures seed through the services
PASSWORD = "a long enough passphrase"  # every account the fixtures make signs in with it
# the accounts on the demo portfolio's server: username -> (full name, partner government, administrator). A
# member of a demo team whose name and partner government are an account's is linked to it, and acts through it.
DEMO_ACCOUNTS = {
    "ada": ("Ada Admin", None, True),  # sees every proposal
    "dana": ("Dana Whitfield", "Harmon County", False),  # facilitator of proposal 1 (the 911/CAD consolidation)
    "priya": ("Priya Raman", "City of Brookfield", False),  # an assessor of proposal 1
    "ruth": ("Ruth Adebayo", "Town of Ashford", False),  # facilitator of proposal 2 (the shared ERP)
    "lena": ("Lena Fischer", None, False),  # on no team yet: sees no proposal until she creates one
}


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[AppServer]:
    """The app on a fresh, empty SQLite database."""
    with serve(tmp_path_factory.mktemp("browser_app") / "risk.db") as server:
        yield server


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> Iterator[AppServer]:
    """The app on a database holding the demo portfolio and the DEMO_ACCOUNTS (each signs in with PASSWORD)."""
    from risk import accounts
    from risk.db import make_engine, migrate
    from risk.services.portfolio import load_demo

    db_path = tmp_path_factory.mktemp("browser_demo") / "risk.db"
    engine = make_engine(f"sqlite:///{db_path}")
    migrate(engine)
    load_demo(engine, actor=SYSTEM)
    for username, (full_name, partner, admin) in DEMO_ACCOUNTS.items():
        accounts.create_account(engine, actor=SYSTEM, username=username, full_name=full_name, partner=partner,
                                admin=admin, password=PASSWORD)
    engine.dispose()
    with serve(db_path) as server:
        yield server


@pytest.fixture
def page(browser, app_server):
    """A fresh browser context and page (a new Streamlit session) for each test."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
