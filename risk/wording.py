"""Small helpers for sentences shown to people: "1 proposal", "3 proposals", "an assessor"."""

from __future__ import annotations


def count(n: int, singular: str, plural: str | None = None) -> str:
    """`count(1, "risk")` -> "1 risk"; `count(3, "risk")` -> "3 risks"; thousands separated."""
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


def article(word: str) -> str:
    """`article("assessor")` -> "an assessor"; `article("facilitator")` -> "a facilitator"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
