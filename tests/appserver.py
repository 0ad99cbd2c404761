"""The workbench's real server for tests: `streamlit run serve.py` (app.py behind the sign-in routes, as `make run`
serves it) on a free port over a SQLite file, waited for until it answers, stopped afterwards. Used by the browser
tests (tests/browser/conftest.py) and the single sign-on tests (tests/test_sso.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 30


@dataclass(frozen=True)
class AppServer:
    url: str
    db_path: Path
    log_path: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def serve(db_path: Path, *, port: int | None = None, args: Sequence[str] = ()) -> Iterator[AppServer]:
    """The server on `port` (a free one by default) over the SQLite file `db_path` (the app creates and migrates
    it), with Streamlit options `args` besides the usual ones; its output goes to `db_path` with suffix .log."""
    log_path = db_path.with_suffix(".log")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RISK_DATABASE_URL": f"sqlite:///{db_path}"}
    command = [str(REPO / ".venv" / "bin" / "streamlit"), "run", str(REPO / "serve.py"),
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
               "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *args]
    if not Path(command[0]).exists():  # fall back to the interpreter running the tests
        command[:1] = [sys.executable, "-m", "streamlit"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not healthy(url):
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer {url}/_stcore/health within {STARTUP_TIMEOUT_S} s:\n"
                            f"{log_path.read_text(errors='replace')}")
            time.sleep(0.25)
        yield AppServer(url=url, db_path=db_path, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
