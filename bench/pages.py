"""Server time of page reruns on the benchmark portfolio: app.py times each run of the script (sidebar, page,
charts and tables), and AppTest drives the reruns. AppTest's own wall time is not used: it polls the script thread
with sleeps. The browser's drawing is not counted."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def time_page(db: Path, page: str, proposal_id: int | None, reruns: int = 20) -> dict:
    """Median and 90th percentile of `reruns` reruns of `page`, after one warm-up run."""
    from streamlit.testing.v1 import AppTest

    os.environ["RISK_DATABASE_URL"] = f"sqlite:///{db}"
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    if proposal_id is not None:
        at.query_params["proposal"] = str(proposal_id)
    at.run()
    at.switch_page(page).run()  # warm-up: imports, engine, cached frames
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    times = []
    for _ in range(reruns):
        at.run()
        times.append(at.session_state["_rerun_ms"])  # measured inside the script run by app.py
    return {"median_ms": statistics.median(times), "p90_ms": _percentile(times, 0.9), "reruns": reruns}
