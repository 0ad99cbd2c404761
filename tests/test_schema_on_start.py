"""Several app servers on one database (docs/DEPLOYMENT.md): a server does not migrate under the others when told
not to (RISK_MIGRATE_ON_START=0), a server older than the database says so instead of failing on every page, and
the PostgreSQL pool is sized by RISK_DB_POOL_SIZE and RISK_DB_MAX_OVERFLOW."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from risk import config, web
from risk.db import current_revision, make_engine, migrate
from risk.services.setup import SchemaMismatchError, ensure_schema, head_revision


@pytest.fixture
def older(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0011")
    yield engine
    engine.dispose()


def test_a_server_told_not_to_migrate_refuses_a_database_behind_and_leaves_it_as_it_was(older):
    with pytest.raises(SchemaMismatchError, match=r"at revision 0011 .* needs 0012: run `risk init` once"):
        ensure_schema(older, may_migrate=False)
    assert current_revision(older) == "0011"
    ensure_schema(older)  # `make run`'s one server (and `risk init`) brings it up to date
    assert current_revision(older) == head_revision()


def test_a_database_newer_than_the_server_is_refused_in_words_however_the_server_is_set(older):
    with older.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    for may in (True, False):
        with pytest.raises(SchemaMismatchError, match="at revision 0099, newer than this version"):
            ensure_schema(older, may_migrate=may)
    with older.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0099"


def test_the_gate_answers_503_with_the_reason_while_the_versions_differ(older, monkeypatch, tmp_path):
    monkeypatch.setenv("RISK_DATABASE_URL", str(older.url))
    monkeypatch.setenv("RISK_MIGRATE_ON_START", "0")

    async def page(request):
        return PlainTextResponse("the workbench")

    app = Starlette(routes=[*web.ROUTES, Route("/", page)], middleware=[Middleware(web.SignInGate)])
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        answer = client.get("/", headers={"accept": "text/html"})
    assert answer.status_code == 503
    assert "The workbench is being upgraded" in answer.text and "run `risk init` once" in answer.text
    assert current_revision(older) == "0011"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("RISK_DB_POOL_SIZE", "0", "expected a number above 0"),
    ("RISK_DB_POOL_SIZE", "many", "expected a whole number"),
    ("RISK_DB_MAX_OVERFLOW", "-1", "expected a whole number of 0 or more"),
    ("RISK_MIGRATE_ON_START", "maybe", "expected 1 or 0"),
])
def test_a_bad_setting_is_refused_naming_it(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}: {message}"):
        {"RISK_DB_POOL_SIZE": config.db_pool_size, "RISK_DB_MAX_OVERFLOW": config.db_max_overflow,
         "RISK_MIGRATE_ON_START": config.migrate_on_start}[name]()


def test_the_postgresql_pool_is_sized_by_the_settings(monkeypatch):
    monkeypatch.setenv("RISK_DB_POOL_SIZE", "3")
    monkeypatch.setenv("RISK_DB_MAX_OVERFLOW", "2")
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")  # never connected: the pool is made lazily
    assert (engine.pool.size(), engine.pool._max_overflow) == (3, 2)
    monkeypatch.delenv("RISK_DB_POOL_SIZE")
    monkeypatch.delenv("RISK_DB_MAX_OVERFLOW")
    assert make_engine("postgresql://nobody@127.0.0.1:1/none").pool.size() == 5
