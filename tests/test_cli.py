"""The `risk` command: help everywhere, data on stdout, messages on stderr, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
from typer.main import get_command

from risk.cli import app
from tests.test_matrix_import import FIXTURES, ciso_file, needs_fixtures
from tests.test_scoring import TABLE_I2


def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


def test_every_command_has_help(cli):
    for path, cmd in _commands(get_command(app)):
        assert (cmd.help or "").strip(), f"`risk {' '.join(path)}` has no help text"
        result = cli(*path, "--help")
        assert result.exit_code == 0, path


def test_init_creates_and_migrates_the_database(cli, sqlite_url):
    result = cli("init")
    assert result.exit_code == 0
    assert "migrated to revision" in result.stderr
    assert Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_matrix_show_json_is_table_i2_cell_for_cell(cli):
    result = cli("matrix", "show", "nist-800-30", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["name"] == "nist-800-30"
    assert data["levels"] == ["Very Low", "Low", "Moderate", "High", "Very High"]
    assert data["grid"] == [TABLE_I2[li] for li in range(1, 6)]  # rows likelihood 1..5


def test_unknown_matrix_is_refused_with_exit_1(cli):
    result = cli("matrix", "show", "no-such")
    assert result.exit_code == 1 and "no matrix named 'no-such'" in result.stderr and result.stdout == ""


@needs_fixtures
def test_matrix_import_stores_a_5x5_file_and_refuses_others_with_exit_1(cli):
    ok = cli("matrix", "import", str(FIXTURES / "risk-matrix-5x5-sensitive.yaml"))
    assert ok.exit_code == 0, ok.stderr
    bad = cli("matrix", "import", str(FIXTURES / "risk-matrix-6x6-detailed.yaml"))
    assert bad.exit_code == 1 and "only 5x5" in bad.stderr
    names = [m["name"] for m in json.loads(cli("matrix", "list", "--format", "json").stdout)]
    assert names == ["nist-800-30", "local-gov-4-level", "risk-matrix-5x5-sensitive"]


def test_matrix_import_is_recorded_under_the_login_and_as_is_ignored(cli, tmp_path, monkeypatch):
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "olga")
    grid = [[0, 0, 1, 1, 2], [0, 1, 1, 2, 2], [0, 1, 2, 2, 3], [1, 1, 2, 3, 3], [1, 2, 3, 3, 3]]
    f = tmp_path / "m.yaml"
    f.write_bytes(ciso_file(grid))
    result = cli("--as", "Risk Officer", "matrix", "import", str(f), "--name", "county-grid")
    assert result.exit_code == 0, result.stderr
    assert "note: --as is ignored" in result.stderr and "cli:olga" in result.stderr
    from sqlmodel import Session, select

    from risk.db import get_engine
    from risk.models import AuditEvent

    with Session(get_engine()) as s:
        ev = s.exec(select(AuditEvent)).one()
    assert ev.actor == "cli:olga" and ev.entity == "matrix" and "county-grid" in ev.after


def test_wrong_usage_exits_2(cli):
    assert cli("export").exit_code == 2  # neither --proposal nor --all
    assert cli("matrix", "show", "nist-800-30", "--format", "xml").exit_code == 2
    assert cli("no-such-command").exit_code == 2


def test_proposals_list_and_export_as_json(cli, sqlite_url):
    from risk.db import get_engine
    from tests.builders import make_proposal

    cli("init")
    make_proposal(get_engine(sqlite_url), partners=2, risks=1, title="Shared ERP")
    listed = json.loads(cli("proposals", "list", "--format", "json").stdout)
    assert [(p["id"], p["title"]) for p in listed] == [(1, "Shared ERP")]
    exported = cli("export", "--proposal", "1", "--format", "json", "-o", "-")
    assert exported.exit_code == 0
    assert json.loads(exported.stdout)["proposals"][0]["title"] == "Shared ERP"
    assert cli("export", "--proposal", "7").exit_code == 1


def test_export_to_a_file(cli, tmp_path):
    cli("init")
    out = tmp_path / "all.json"
    result = cli("export", "--all", "-o", str(out))
    assert result.exit_code == 0 and json.loads(out.read_text())["proposals"] == []


def test_audit_verify_exits_1_naming_the_first_broken_event(cli, sqlite_url):
    from risk.db import get_engine
    from tests.builders import make_proposal

    cli("init")
    make_proposal(get_engine(sqlite_url), partners=1, risks=1)
    assert cli("audit", "verify").exit_code == 0
    import sqlite3

    con = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    con.execute("UPDATE audit_event SET after = '{}' WHERE id = 4")
    con.commit()
    con.close()
    result = cli("audit", "verify")
    assert result.exit_code == 1 and "audit event 4" in result.stderr


def test_the_installed_console_script_runs(sqlite_url):
    exe = Path(sys.executable).with_name("risk")
    result = subprocess.run([str(exe), "matrix", "list", "--format", "json"], capture_output=True, text=True,
                            env={"RISK_DATABASE_URL": sqlite_url, "PATH": "/usr/bin:/bin",
                                 "RISK_AUDIT_KEY": os.environ["RISK_AUDIT_KEY"]}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["name"] == "nist-800-30"


SPY_ON_THE_COLLECTOR = """
import gc, sys
import risk.cli as cli

seen = []
real = cli.started


def spy():
    seen.append(gc.isenabled())
    real()
    seen.append(gc.isenabled())


cli.started = spy
sys.argv = ["risk", *sys.argv[1:]]
try:
    cli.main()
finally:
    print("seen", seen, "at the end", gc.isenabled(), "frozen", gc.get_freeze_count() > 0, file=sys.stderr)
"""


def test_a_command_pauses_the_collector_while_it_starts_and_turns_it_on_for_the_work(sqlite_url, tmp_path):
    """The collector is off from the command's start to the opening of the database (the imports), then on again
    with what was loaded frozen; a test calling the commands in its own process keeps its collector as it was."""
    script = tmp_path / "spy.py"
    script.write_text(SPY_ON_THE_COLLECTOR)
    env = {**os.environ, "RISK_DATABASE_URL": sqlite_url}
    for args in (["proposals", "list", "--format", "json"], ["init"]):
        done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert "seen [False, True] at the end True frozen True" in done.stderr, (args, done.stderr)


def test_the_commands_run_in_a_test_process_leave_its_collector_alone(cli):
    import gc

    assert gc.isenabled()
    assert cli("proposals", "list").exit_code == 0
    assert gc.isenabled()
