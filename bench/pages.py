"""Server time of page reruns on the benchmark portfolio: app.py times each run of the script (sidebar, page,
charts and tables), and AppTest drives the reruns. AppTest's own wall time is not used: it polls the script thread
with sleeps. The browser's drawing is not counted."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def _admin_session(db: Path) -> str:
    """A session of the bench's administrator (made the first time): the pages are measured signed in, as people
    use them; signed out they would show only the sign-in screen."""
    from sqlalchemy import select
    from sqlmodel import Session

    from risk import accounts
    from risk.db import get_engine
    from risk.models import Account

    engine = get_engine(f"sqlite:///{db}")
    with Session(engine) as s:
        found = s.execute(select(Account).where(Account.username == "bench.admin")).scalar_one_or_none()
    admin = found or accounts.create_account(engine, actor="system:bench", username="bench.admin",
                                             full_name="Bench Admin", admin=True)
    return accounts.start_session(engine, admin.id)


def _one_script_cache() -> None:
    """The server compiles each page once per process (its ScriptCache); AppTest makes a new cache for every run, so
    each rerun would also time compiling the page (about 7 ms for the review page here). One cache for all runs, as
    in the server."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    shared = ScriptCache()
    # AppTest makes one for its pages manager (which compiles the pages) and the runner one for the main script
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared


def _change_elsewhere(db: Path, k: int, avoid: int | None) -> None:
    """A change to one proposal other than `avoid`, as another person's edit: a risk's controls rewritten."""
    from sqlalchemy import select
    from sqlmodel import Session

    from risk.db import get_engine
    from risk.models import Risk
    from risk.services import proposals as ps

    engine = get_engine(f"sqlite:///{db}")
    with Session(engine) as s:
        ids = s.execute(select(Risk.id).where(Risk.proposal_id != (avoid or 0)).order_by(Risk.id)).scalars().all()
    pk = ids[(97 * k) % len(ids)]
    ps.update_risk(engine, actor="system:bench", risk_pk=pk, expected_version=None,
                   controls=f"Reviewed, pass {k} at {time.time_ns()}")  # always a change, however often it runs


def _sign_in_elsewhere(db: Path) -> None:
    """Another person signs in: a new session of the bench's administrator (a write, audited, that no page shows)."""
    _admin_session(db)


# how a rerun is preceded: (what changes first, seconds to wait before the rerun)
WAYS = {
    "warm": (None, 0.0),  # at once after the run before: nothing changed
    "idle": (None, 1.0),  # a second after the run before, nothing changed: the control of "after"
    "after": ("proposal", 1.0),  # a second after another person's change: the background refresh has read it
    "at once": ("proposal", 0.0),  # at once after the change: the rerun waits for the refresh under way
    "sign-in": ("sign-in", 1.0),  # a second after another person signed in
}


def time_page(db: Path, page: str, proposal_id: int | None, reruns: int = 20, *, ways: tuple[str, ...] = ("warm",)
              ) -> dict | dict[str, dict]:
    """Median and 90th percentile of `reruns` reruns of `page`, signed in as an administrator, after one warm-up
    run. With several `ways` (WAYS), the reruns of each way take turns in one session, so that all of them are
    timed under the same conditions, and the timings come by way."""
    from streamlit.testing.v1 import AppTest

    _one_script_cache()
    os.environ["RISK_DATABASE_URL"] = f"sqlite:///{db}"
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    if proposal_id is not None:
        at.query_params["proposal"] = str(proposal_id)
    at.session_state["_session_token"] = _admin_session(db)
    at.run()
    at.switch_page(page).run()  # warm-up: imports, engine, cached frames
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    if not any("Signed in as" in m.value for m in at.sidebar.markdown):
        raise RuntimeError(f"{page}: not signed in; the reruns would time the sign-in screen")
    times: dict[str, list[float]] = {way: [] for way in ways}
    for k in range(reruns * len(ways)):
        way = ways[k % len(ways)]
        change, pause = WAYS[way]
        if change == "proposal":
            _change_elsewhere(db, k, proposal_id)
        elif change == "sign-in":
            _sign_in_elsewhere(db)
        time.sleep(pause)
        at.run()
        times[way].append(at.session_state["_rerun_ms"])  # measured inside the script run by app.py
    out = {way: {"median_ms": statistics.median(t), "p90_ms": _percentile(t, 0.9), "reruns": reruns}
           for way, t in times.items()}
    return out[ways[0]] if len(ways) == 1 else out


def time_pages_apart(db: Path, pages: list[tuple]) -> list[dict]:
    """`time_page` for each (page, proposal id[, ways]), in a process apart from the bench and
    started as a server starts, as a server serves them: not in the bench's
    process, which by then holds the generated and loaded portfolio (about 475 MB) and measured the review page at
    twice its time in a fresh process (docs/PERFORMANCE.md, 2026-12-01)."""
    out = subprocess.run([sys.executable, "-m", "bench.pages", str(db), json.dumps(pages)], cwd=REPO,
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"timing the pages failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _start_as_a_server(db: Path) -> None:
    """What serve.py does before it listens (risk/warm.py): the portfolio read, and its background refresh
    started (RISK_PORTFOLIO_REFRESH_MS, 500 ms by default); the profiles of the proposals changed most recently."""
    from risk.ui import common, profile_charts

    os.environ["RISK_DATABASE_URL"] = f"sqlite:///{db}"
    common.warm_portfolio()
    profile_charts.warm_profiles()


if __name__ == "__main__":  # python -m bench.pages DB '[["risk/ui/pages/review.py", 122], [PAGE, null, [WAYS]]]'
    _start_as_a_server(Path(sys.argv[1]))
    timings = [time_page(Path(sys.argv[1]), page, pid, ways=tuple(rest[0]) if rest else ("warm",))
               for page, pid, *rest in json.loads(sys.argv[2])]
    rss = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
    for timing in timings:
        for one in timing.values() if "median_ms" not in timing else [timing]:
            one["process_peak_mb"] = rss  # the whole process after all its pages: a server serving them
    print(json.dumps(timings))
