"""The first page after the server starts, beside a bare Streamlit app, and the first visit of every page beside
its warm visit (issue 18), in headless Chromium (Debian's /usr/bin/chromium; Playwright's own download does not
work here).

Each server is started the way `make run` starts it, on a fresh copy of the demo portfolio, and measured once it
answers its health check (that is when a proxy or a person can reach it). A visit is timed from the browser asking
for the page to the page's title drawn with the script finished: a new Streamlit session each time, as a person
opening a link gets. The first page is also timed until every element is drawn (DRAWN): the workbench's home page
holds a chart and data grids, whose code the browser loads and runs after the page's content has arrived. The bare
app is a title and a two-field form writing a row to SQLite."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"
BARE_APP = '''import sqlite3
import streamlit as st

st.title("Bare form")
with st.form("score"):
    likelihood = st.selectbox("Likelihood", [1, 2, 3, 4, 5])
    impact = st.selectbox("Impact", [1, 2, 3, 4, 5])
    if st.form_submit_button("Save my score"):
        with sqlite3.connect(st.session_state.setdefault("db", __file__ + ".db")) as con:
            con.execute("CREATE TABLE IF NOT EXISTS score (likelihood INT, impact INT)")
            con.execute("INSERT INTO score VALUES (?, ?)", (likelihood, impact))
        st.success("Saved")
'''
# page (its address) -> the start of its title
PAGES = {"portfolio": "Shared-service risk portfolio", "proposal": "Tri-County", "walkthrough": "Walkthrough:",
         "workshop": "Workshop:", "register": "Risk register:", "profile": "Risk profile:", "costs": "Costs:",
         "review": "Review:", "activity": "Activity:", "import_data": "Import a register"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _server(script: Path, env: dict[str, str]):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.gettempdir()) / f"risk-bench-{script.stem}-{port}.log"  # never in the repository
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([str(REPO / ".venv" / "bin" / "streamlit"), "run", str(script), "--server.port",
                                str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                                "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                               cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    started = time.perf_counter()
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 90:
                raise RuntimeError(f"{script.name} did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url, time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _address(url: str, name: str) -> str:
    """A page's address as the workbench's own links give it: the portfolio is the home page, at the root (at
    /portfolio Streamlit would first say "Page not found", and that dialog would be timed too)."""
    return f"{url}/" if name == "portfolio" else f"{url}/{name}?proposal=1"


# Every element drawn: Streamlit loads the code of most elements (a select box, a button, a data grid, a chart) the
# first time a page shows one, and draws a grey placeholder (stSkeleton) until then; a chart is drawn once it holds
# its canvas or SVG, a data grid once it holds its canvas.
DRAWN = """() => !document.querySelector("[data-testid='stSkeleton']")
  && [...document.querySelectorAll("[data-testid='stVegaLiteChart']")].every(c => c.querySelector("canvas, svg"))
  && [...document.querySelectorAll("[data-testid='stDataFrame']")].every(c => c.querySelector("canvas"))"""


def _visit(context, url: str, title: str, *, drawn: list[float] | None = None) -> float:
    """Milliseconds from asking for the page to its title drawn with the script finished; with `drawn`, the time
    until every element is drawn as well (DRAWN) is appended to it."""
    page = context.new_page()
    t = time.perf_counter()
    page.goto(url)
    page.locator("h1", has_text=title).first.wait_for(timeout=60_000)
    page.wait_for_selector(DONE, timeout=60_000)
    took = (time.perf_counter() - t) * 1000
    if drawn is not None:
        page.wait_for_function(DRAWN, polling="raf", timeout=60_000)
        drawn.append((time.perf_counter() - t) * 1000)
    page.close()
    return took


def _demo_database(folder: Path) -> tuple[Path, str]:
    """A fresh demo portfolio and a session of its administrator."""
    from risk import accounts
    from risk.db import make_engine, migrate
    from risk.services.portfolio import load_demo

    db = folder / "demo.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    load_demo(engine, actor="system:bench")
    admin = accounts.create_account(engine, actor="system:bench", username="bench.admin", full_name="Bench Admin",
                                    admin=True)
    token = accounts.start_session(engine, admin.id)
    engine.dispose()
    return db, token


def measure(runs: int = 3, big_db: Path | None = None) -> dict:
    """Medians over `runs` starts of each server: the first page (ours: the portfolio, signed in), and for ours
    the first and the warm visit of every page."""
    from playwright.sync_api import sync_playwright

    from risk.web import SESSION_COOKIE

    ours_first, bare_first, bare_warm, start_s = [], [], [], {"ours": [], "bare": []}
    ours_drawn: list[float] = []
    bare_drawn: list[float] = []
    portfolio_warm: list[float] = []
    portfolio_changed: list[float] = []
    big_first = None
    pages: dict[str, dict[str, list[float]]] = {name: {"first": [], "warm": []} for name in PAGES}
    with tempfile.TemporaryDirectory(prefix="risk-first-page-") as tmp, sync_playwright() as pw:
        folder = Path(tmp)
        bare = folder / "bare.py"
        bare.write_text(BARE_APP)
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        for run in range(runs):
            db, token = _demo_database(folder / f"run{run}") if (folder / f"run{run}").mkdir() is None else None
            with _server(REPO / "serve.py", {"RISK_DATABASE_URL": f"sqlite:///{db}"}) as (url, took):
                start_s["ours"].append(took)
                context = browser.new_context(viewport={"width": 1440, "height": 1000})
                context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
                ours_first.append(_visit(context, _address(url, "portfolio"), PAGES["portfolio"], drawn=ours_drawn))
                pages["portfolio"]["first"].append(ours_first[-1])
                for name, title in PAGES.items():
                    if name != "portfolio":
                        pages[name]["first"].append(_visit(context, _address(url, name), title))
                for name, title in PAGES.items():
                    pages[name]["warm"].append(_visit(context, _address(url, name), title))
                context.close()
            with _server(bare, {}) as (url, took):
                start_s["bare"].append(took)
                context = browser.new_context(viewport={"width": 1440, "height": 1000})
                bare_first.append(_visit(context, url, "Bare form", drawn=bare_drawn))
                bare_warm.append(_visit(context, url, "Bare form"))
                context.close()
            print(f"first page, run {run + 1}: ours {ours_first[-1]:.0f} ms, bare {bare_first[-1]:.0f} ms",
                  file=sys.stderr, flush=True)
        if big_db is not None:  # the 1,000-proposal portfolio: first, warm, and after another person's change
            from bench.pages import _admin_session, _change_elsewhere

            token = _admin_session(big_db)
            with _server(REPO / "serve.py", {"RISK_DATABASE_URL": f"sqlite:///{big_db}"}) as (url, _took):
                context = browser.new_context(viewport={"width": 1440, "height": 1000})
                context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
                big_first = _visit(context, _address(url, "portfolio"), PAGES["portfolio"])
                for k in range(5):
                    portfolio_warm.append(_visit(context, _address(url, "portfolio"), PAGES["portfolio"]))
                    _change_elsewhere(big_db, 1000 + k, None)
                    portfolio_changed.append(_visit(context, _address(url, "portfolio"), PAGES["portfolio"]))
                context.close()
        browser.close()
    med = statistics.median
    return {"runs": runs, "ours_first_ms": med(ours_first), "bare_first_ms": med(bare_first),
            "ours_drawn_ms": med(ours_drawn), "bare_drawn_ms": med(bare_drawn),
            "bare_warm_ms": med(bare_warm), "ours_start_s": med(start_s["ours"]), "bare_start_s": med(start_s["bare"]),
            "pages": {name: {"first_ms": med(v["first"]), "warm_ms": med(v["warm"])} for name, v in pages.items()},
            "big_first_ms": big_first, "portfolio_warm_ms": med(portfolio_warm) if portfolio_warm else None,
            "portfolio_changed_ms": med(portfolio_changed) if portfolio_changed else None}


def table(result: dict) -> str:
    ratio = result["ours_first_ms"] / result["bare_first_ms"]
    lines = ["| first page after the server starts | ours | bare Streamlit | ratio | target |",
             "|---|---:|---:|---:|---|",
             f"| the portfolio, signed in (bare: its form page) | {result['ours_first_ms']:,.0f} ms | "
             f"{result['bare_first_ms']:,.0f} ms | {ratio:.2f}x | ≤ 1.5x: {'met' if ratio <= 1.5 else 'NOT met'} |",
             f"| the same, until every element is drawn (no placeholder left: the code of the grids, the chart and "
             f"the widgets loaded) | {result['ours_drawn_ms']:,.0f} ms | {result['bare_drawn_ms']:,.0f} ms | "
             f"{result['ours_drawn_ms'] / result['bare_drawn_ms']:.2f}x | – |",
             f"| the server's start, to its health check answering | {result['ours_start_s']:.1f} s | "
             f"{result['bare_start_s']:.1f} s | {result['ours_start_s'] / result['bare_start_s']:.2f}x | – |",
             "", "| page | first visit | warm visit | ratio | target |", "|---|---:|---:|---:|---|"]
    for name, v in result["pages"].items():
        r = v["first_ms"] / v["warm_ms"]
        # the portfolio's first visit is the first page, in a browser that has loaded nothing yet: its target is
        # the bare app's first page (above); the target here is for every other page
        target = "the first page: above" if name == "portfolio" else f"≤ 1.5x: {'met' if r <= 1.5 else 'NOT met'}"
        lines.append(f"| {name} | {v['first_ms']:,.0f} ms | {v['warm_ms']:,.0f} ms | {r:.2f}x | {target} |")
    if result["portfolio_warm_ms"]:
        r = result["portfolio_changed_ms"] / result["portfolio_warm_ms"]
        lines += ["", "| the 1,000-proposal portfolio in the browser, opened to drawn | ms | ratio | target |",
                  "|---|---:|---:|---|",
                  f"| first, after the server started | {result['big_first_ms']:,.0f} | – | – |",
                  f"| warm | {result['portfolio_warm_ms']:,.0f} | – | – |",
                  f"| after another person changed one proposal | {result['portfolio_changed_ms']:,.0f} | "
                  f"{r:.2f}x warm | ≤ 1.2x: {'met' if r <= 1.2 else 'NOT met'} |"]
    return "\n".join(lines) + f"\n\nMedians of {result['runs']} starts of each server (bare warm visit: " \
        f"{result['bare_warm_ms']:,.0f} ms)."


if __name__ == "__main__":  # python -m bench.first_page [RUNS [BIG_DB]]
    os.environ.setdefault("RISK_AUDIT_KEY", "ab" * 32)
    print(table(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3,
                        Path(sys.argv[2]) if len(sys.argv) > 2 else None)))
