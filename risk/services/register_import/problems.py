"""The problems a check finds in a register file, each with its row and field; the first MAX_PROBLEMS by row are
listed and the rest counted."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

MAX_PROBLEMS = 500


class Problems:
    """Problems found while checking a file: {"row", "field", "message"}; the first MAX_PROBLEMS by row are
    listed, the rest counted."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.more = 0

    def add(self, row: int | None, field_name: str | None, message: str) -> None:
        if len(self.items) < 100 * MAX_PROBLEMS:
            self.items.append({"row": row, "field": field_name, "message": message})
        else:
            self.more += 1

    def where(self, mask: np.ndarray, rows: np.ndarray, values: Sequence[str], field_name: str,
              message: Callable[[str], str]) -> None:
        """One problem per row where `mask` is set (the loop runs over bad rows only). Each check keeps its first
        MAX_PROBLEMS rows, so the first MAX_PROBLEMS of the file by row are among those kept."""
        bad = np.flatnonzero(mask)
        for k in bad[:MAX_PROBLEMS]:
            self.add(int(rows[k]), field_name, message(values[k]))
        self.more += max(0, len(bad) - MAX_PROBLEMS)

    def __bool__(self) -> bool:
        return bool(self.items)

    def listed(self) -> list[dict]:
        """The problems in row order (file-wide ones first), as found within a row."""
        items = sorted(self.items, key=lambda p: p["row"] or 0)
        more = self.more + max(0, len(items) - MAX_PROBLEMS)
        items = items[:MAX_PROBLEMS]
        if more:
            items.append({"row": None, "field": None, "message": f"and {more:,} more problems of these kinds"})
        return items
