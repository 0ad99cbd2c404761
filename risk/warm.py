"""Warm a server process before anyone arrives (serve.py's lifespan): import what the pages use, open the
database and read the portfolio the home page shows, and make the profiles of the proposals changed most recently
(their charts and simulated years), so the first person does not wait for it.

The first page after a start spent most of its time importing pandas, SQLAlchemy, numpy, Altair and pydantic and
the workbench's own modules, after Streamlit had loaded (issue 18: 6.0 s against 2.0 s for a bare app). The server
starts listening only once this is done, so a proxy's health check sees a server that is ready."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import time

log = logging.getLogger(__name__)

# the libraries the pages import, heaviest first
LIBRARIES = ("pandas", "numpy", "pyarrow", "altair", "sqlalchemy", "sqlmodel", "pydantic", "xlsxwriter")
# not imported ahead: scripts (the pages), the command line, the migrations (imported by Alembic when it runs them)
_SKIP = ("risk.ui.pages", "risk.cli", "risk.migrations")


def modules() -> list[str]:
    """The workbench's modules a server process may import, by name."""
    import risk

    return [m.name for m in pkgutil.walk_packages(risk.__path__, "risk.")
            if not m.name.startswith(_SKIP)]


def warm() -> dict[str, float]:
    """Import the libraries and the workbench's modules, open the configured database and bring its schema up to
    date, read the portfolio (as the first page would) and make the recent proposals' profiles. Returns the seconds
    each step took; a step that fails is logged and left to the first page, which reports it in words."""
    took: dict[str, float] = {}
    t = time.perf_counter()
    for name in LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional library missing: the page that needs it says so
            log.warning("warm: %s could not be imported", name)
    took["libraries"] = time.perf_counter() - t
    t = time.perf_counter()
    for name in modules():
        importlib.import_module(name)
    took["workbench"] = time.perf_counter() - t
    t = time.perf_counter()
    # Streamlit asks once per process, at the first element any page draws, whether it runs in a REPL: it calls
    # inspect.stack(), which maps every loaded module to its file (realpath on each). With the libraries and the
    # workbench loaded that took 0.3 s of the first page. Asked here once, inspect keeps the map, and the first
    # page's question costs a few milliseconds.
    inspect.stack()
    took["module map"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        from risk import web

        web.engine()
    except Exception:  # noqa: BLE001 - the database may be down at start; the first page says so in words
        log.exception("warm: the database could not be opened at start; the first page will try again")
    took["database"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        from risk.ui import common

        common.warm_portfolio()
    except Exception:  # noqa: BLE001 - as above: the home page reads the portfolio itself then
        log.exception("warm: the portfolio could not be read at start; the home page will read it")
    took["portfolio"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        from risk.ui import profile_charts

        profile_charts.warm_profiles()
    except Exception:  # noqa: BLE001 - as above: each profile page makes its own charts then
        log.exception("warm: the profiles could not be made at start; each profile page will make its own")
    took["profiles"] = time.perf_counter() - t
    log.info("warm: %s", ", ".join(f"{k} {v:.2f} s" for k, v in took.items()))
    return took
