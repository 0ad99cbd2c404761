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
from collections.abc import Callable

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
    _step(took, "database", _open_database,
          "warm: the database could not be opened at start; the first page will try again")
    _step(took, "portfolio", _read_portfolio,
          "warm: the portfolio could not be read at start; the home page will read it")
    _step(took, "profiles", _make_profiles,
          "warm: the profiles could not be made at start; each profile page will make its own")
    log.info("warm: %s", ", ".join(f"{k} {v:.2f} s" for k, v in took.items()))
    return took


def _step(took: dict[str, float], name: str, do: Callable[[], object], failed: str) -> None:
    """One step of the start, timed under `name`. A failure is logged with `failed` and left to the pages, which
    say what is wrong in words (the database may be down at start)."""
    t = time.perf_counter()
    try:
        do()
    except Exception:  # noqa: BLE001 - the first page tries again and reports it
        log.exception(failed)
    took[name] = time.perf_counter() - t


def _open_database() -> None:
    from risk import web

    web.engine()


def _read_portfolio() -> None:
    from risk.ui import common

    common.warm_portfolio()


def _make_profiles() -> None:
    from risk.ui import profile_charts

    profile_charts.warm_profiles()
