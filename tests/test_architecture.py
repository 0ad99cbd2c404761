"""Meta-tests on the house rules: the core imports no UI, one module writes and commits, settings are
documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from risk.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_ui_imports_streamlit():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "risk").rglob("*.py")
                 if "streamlit" in _imports(p) and "ui" not in p.relative_to(ROOT / "risk").parts]
    assert offenders == []


def test_only_the_store_commits():
    offenders = []
    for p in (ROOT / "risk").rglob("*.py"):
        if p.name == "store.py" or "migrations" in p.parts:
            continue
        if ".commit()" in p.read_text():
            offenders.append(str(p.relative_to(ROOT)))
    assert offenders == []


# --- one writer: every insert, update and delete goes through risk/store.py ---------------------------------

WRITERS = ("risk/store.py", "risk/migrations/")  # the one writer, and the schema's own history
# Files outside the store still allowed a write construct, each named with why. Empty: keep it so.
ALLOWED: dict[str, str] = {}

SQLALCHEMY_WRITES = {"insert", "update", "delete", "Insert", "Update", "Delete"}
SESSION_WRITES = {"add", "add_all", "delete", "merge"}  # on a session
ANY_WRITES = {"bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings", "executemany", "to_sql"}
SQL_RUNNERS = {"text", "exec_driver_sql", "execute", "executescript"}
# transaction control and reads a driver-level statement may hold (db.py begins SQLite's write transactions)
HARMLESS_SQL = re.compile(r"\s*(BEGIN|SELECT|PRAGMA|SHOW|SET\s+(LOCAL\s+)?\w+\s*(=|TO))\b", re.I)
WRITE_SQL = (r"\s*(INSERT\s+(OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPSERT|MERGE\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM"
             r"|TRUNCATE|DROP\s+\w+|ALTER\s+\w+|CREATE\s+\w+|COPY\s+\S+\s+FROM|VACUUM|REINDEX)\b")


def _sessionish(node: ast.expr) -> bool:
    """`session`, `s`, `unit.session`, `self._session`...: what the code names a session."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name in ("s", "sess", "db") or "session" in name.lower()


def _text_of(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def write_constructs(source: str) -> list[tuple[int, str]]:
    """(line, what) of every construct in `source` that writes to the database on its own: SQLAlchemy's insert,
    update and delete (however imported), a table's .insert()/.update()/.delete(), session.add/delete/merge, the
    bulk_* and executemany paths, pandas' to_sql, driver-level SQL (exec_driver_sql) other than transaction
    control, and SQL text that inserts, updates, deletes or changes the schema."""
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []
    modules: set[str] = set()  # names bound to sqlalchemy modules (import sqlalchemy as sa)
    writers: set[str] = set()  # names bound to sqlalchemy's insert/update/delete (from sqlalchemy import insert)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update((a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("sqlalchemy"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("sqlalchemy", "sqlmodel")):
            for a in node.names:
                if a.name in SQLALCHEMY_WRITES:
                    writers.add(a.asname or a.name)
                    found.append((node.lineno, f"imports {node.module}.{a.name}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.match(WRITE_SQL, node.value):
            found.append((node.lineno, f"SQL that writes: {node.value.strip()[:40]!r}"))
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if isinstance(func, ast.Name) and func.id in writers:
            found.append((node.lineno, f"calls {func.id}()"))
        elif isinstance(func, ast.Attribute):
            base = ast.unparse(func.value)
            if name in SQLALCHEMY_WRITES and (base.split(".")[0] in modules or "__table__" in base
                                               or "tables[" in base or "sqlalchemy" in base):
                found.append((node.lineno, f"calls {base}.{name}()"))
            elif name in SESSION_WRITES and _sessionish(func.value):
                found.append((node.lineno, f"calls {base}.{name}()"))
            elif name in ANY_WRITES:
                found.append((node.lineno, f"calls {base}.{name}()"))
        if name in SQL_RUNNERS and node.args:
            sql = _text_of(node.args[0])
            if name == "exec_driver_sql" and (sql is None or not HARMLESS_SQL.match(sql)):
                found.append((node.lineno, f"runs driver-level SQL: {ast.unparse(node.args[0])[:40]}"))
            elif sql is not None and re.match(WRITE_SQL, sql, re.I):
                found.append((node.lineno, f"runs SQL that writes: {sql.strip()[:40]!r}"))
    return sorted(set(found))


def test_only_the_store_writes():
    """Every insert, update and delete goes through risk/store.py, which audits it in the same transaction."""
    offenders = {}
    for p in sorted((ROOT / "risk").rglob("*.py")):
        rel = p.relative_to(ROOT).as_posix()
        if rel.startswith(WRITERS) or rel in ALLOWED:
            continue
        found = write_constructs(p.read_text(encoding="utf-8"))
        if found:
            offenders[rel] = found
    assert offenders == {}, "write outside risk/store.py: " + "; ".join(
        f"{rel}:{line} {what}" for rel, found in offenders.items() for line, what in found)


def test_the_write_scan_catches_each_kind_of_write():
    planted = {
        "from sqlalchemy import update\nupdate(t).values(x=1)": 2,
        "from sqlalchemy import insert as ins\nconn.execute(ins(t), rows)": 2,
        "from sqlalchemy.dialects.postgresql import insert\n": 1,
        "import sqlalchemy as sa\nconn.execute(sa.delete(t))": 1,
        "conn.execute(Risk.__table__.update().values(title='x'))": 1,
        "unit.session.add(Risk(title='x'))": 1,
        "session.delete(obj)": 1,
        "s.merge(obj)": 1,
        "session.bulk_save_objects(objs)": 1,
        "cur.executemany('INSERT INTO score VALUES (?, ?)', rows)": 2,
        "conn.exec_driver_sql(sql, rows)": 1,
        "conn.exec_driver_sql('delete from score')": 1,
        "session.execute(text('UPDATE risk SET title = :t'))": 2,
        "session.execute(text(f'delete from {name} where id = 1'))": 1,
        "cursor.execute('insert or replace into risk (id) values (1)')": 1,
        "frame.to_sql('risk', engine)": 1,
        "SQL = 'DELETE FROM audit_event'": 1,
    }
    for source, count in planted.items():
        assert len(write_constructs(source)) >= count, source
    harmless = ("conn.exec_driver_sql('BEGIN IMMEDIATE')", "problems.add(1, 'title', 'delete from the list')",
                "frame.merge(other)", "d.update(x=1)", "counts.insert(0, 'Risks', 1)", "items.delete(3)",
                "session.execute(select(Risk))", "msg = 'Update the risk, then delete from the list'",
                "session.execute(text('SELECT pg_advisory_xact_lock(:k)'))")
    for source in harmless:
        assert write_constructs(source) == [], source


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "CONFIGURATION.md").read_text()
    for name in SETTINGS:
        assert f"`{name}`" in doc, f"{name} is not documented in docs/CONFIGURATION.md"


def test_the_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


def test_every_page_has_an_app_test():
    pages = sorted(p.stem for p in (ROOT / "risk" / "ui" / "pages").glob("*.py"))
    tested = (ROOT / "tests" / "test_app.py").read_text()
    missing = [p for p in pages if f"pages/{p}.py" not in tested]
    assert missing == []


def test_every_document_the_code_and_the_docs_cite_exists_in_the_repository():
    """A docstring or a page that cites a file names one a reader of the repository can open."""
    import re

    cited = re.compile(r"\b((?:docs/)?[A-Z][A-Z_]+\.md)\b")
    missing = []
    sources = [*(ROOT / "risk").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py"),
               ROOT / "app.py", ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    for path in sources:
        for name in cited.findall(path.read_text()):
            if not ((ROOT / name).exists() or (ROOT / "docs" / name).exists()):
                missing.append(f"{path.relative_to(ROOT)} cites {name}")
    assert missing == []


def test_the_user_guide_lists_the_register_columns_in_their_order():
    from risk.services.register_rows import REGISTER_COLUMNS

    guide = (ROOT / "docs" / "USER_GUIDE.md").read_text()
    listed = ", ".join(f"`{c}`" for c in REGISTER_COLUMNS)
    assert listed in " ".join(guide.split()), "docs/USER_GUIDE.md, Register: the columns differ from register_rows"
