"""Settings read from the environment: one place, each documented in docs/CONFIGURATION.md."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'data' / 'risk.db'}"

# Every setting the workbench reads, with its meaning; tests/test_docs.py checks each is documented.
SETTINGS = {
    "RISK_DATABASE_URL": "SQLAlchemy URL of the database (default: sqlite:///data/risk.db in the project folder).",
    "RISK_TEST_POSTGRES_URL": "Tests only: a PostgreSQL URL on which the storage tests run a second time.",
    "RISK_IMPORT_MAX_MB": "Largest file an import takes, in megabytes (default 10, as the app's upload limit).",
    "RISK_IMPORT_MAX_ROWS": "Most rows a spreadsheet import takes (default 50,000).",
    "RISK_AUDIT_KEY": "The audit chain's key, as hexadecimal digits (at least 64: 32 bytes); overrides the key file.",
    "RISK_AUDIT_KEY_FILE": "Where the audit chain's key file is (default: data/audit.key in the project folder).",
    "RISK_DB_POOL_SIZE": "PostgreSQL: connections each process keeps open (default 5; docs/DEPLOYMENT.md sizes it).",
    "RISK_DB_MAX_OVERFLOW": "PostgreSQL: connections a process may open beyond the pool while busy (default 10).",
    "RISK_MIGRATE_ON_START": "Whether an app server brings a database that is behind up to date when it starts "
                             "(default 1, for `make run`; 0 where several servers share one database: "
                             "`risk init` migrates, once, with every server stopped).",
}
DEFAULT_AUDIT_KEY_FILE = PROJECT_ROOT / "data" / "audit.key"


@dataclass(frozen=True)
class Settings:
    database_url: str


def database_url() -> str:
    """The database URL: RISK_DATABASE_URL, or the embedded SQLite file under data/."""
    return os.environ.get("RISK_DATABASE_URL") or DEFAULT_DATABASE_URL


def audit_key_file() -> Path:
    """The audit key file: RISK_AUDIT_KEY_FILE, or data/audit.key in the project folder (risk/audit.py)."""
    raw = os.environ.get("RISK_AUDIT_KEY_FILE", "").strip()
    return Path(raw).expanduser() if raw else DEFAULT_AUDIT_KEY_FILE


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name}: expected a number above 0, got {value}")
    return value


def import_max_bytes() -> int:
    """RISK_IMPORT_MAX_MB in bytes (default 10 MB, the app's `server.maxUploadSize`)."""
    return _positive("RISK_IMPORT_MAX_MB", 10) * 1_000_000


def import_max_rows() -> int:
    return _positive("RISK_IMPORT_MAX_ROWS", 50_000)


def db_pool_size() -> int:
    return _positive("RISK_DB_POOL_SIZE", 5)


def _zero_or_more(name: str, default: int, expected: str = "a whole number of 0 or more") -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name}: expected {expected}, got {raw!r}")
    return int(raw)


def db_max_overflow() -> int:
    return _zero_or_more("RISK_DB_MAX_OVERFLOW", 10)


def portfolio_refresh_ms() -> int:
    """RISK_PORTFOLIO_REFRESH_MS: how often an app server looks for changes to bring its portfolio frames up to
    date in the background (default 500); 0 turns the background refresh off (pages then read a change
    themselves, on their next run)."""
    return _zero_or_more("RISK_PORTFOLIO_REFRESH_MS", 500, "a whole number of milliseconds, 0 or more")


def migrate_on_start() -> bool:
    """RISK_MIGRATE_ON_START: 1 (the default), or 0 where several servers share one database."""
    raw = os.environ.get("RISK_MIGRATE_ON_START", "").strip().lower()
    if raw in ("", "1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"RISK_MIGRATE_ON_START: expected 1 or 0, got {raw!r}")
