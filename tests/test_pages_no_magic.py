"""Streamlit's "magic" (a bare expression on a line of its own is written to the page) is turned off in
.streamlit/config.toml: no page uses it, and without it each page's first run in a server process skips a pass over
its syntax tree. This keeps it so: an expression statement in a page is a call, or a docstring."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((REPO / "risk" / "ui" / "pages").glob("*.py")) + [REPO / "app.py"]


def test_magic_is_turned_off():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_page_writes_a_bare_expression(script):
    bare = [f"{script.name}:{node.lineno}: {ast.unparse(node)[:60]}" for node in ast.walk(ast.parse(script.read_text()))
            if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call | ast.Await)
            and not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str))]
    assert not bare, "with magic off these show nothing; write them with st.write:\n" + "\n".join(bare)
