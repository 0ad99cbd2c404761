"""Meta-tests on the house rules: the core imports no UI, one module commits, settings are documented."""

from __future__ import annotations

import ast
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
