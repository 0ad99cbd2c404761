"""The starter risk templates for shared technology services (data/catalogue.csv): cause, event and
consequence, a suggested treatment, collaboration tags and sources."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from risk.scoring import CATEGORIES, COLLABORATION_TAGS, TREATMENTS, risk_sentence

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "data" / "catalogue.csv"
COLUMNS = ("template_id", "category", "title", "cause", "event", "consequence", "treatment",
           "suggested_treatment", "tags", "source")


@dataclass(frozen=True)
class Template:
    template_id: str
    category: str
    title: str
    cause: str
    event: str
    consequence: str
    treatment: str
    suggested_treatment: str
    tags: tuple[str, ...]
    source: str

    @property
    def sentence(self) -> str:
        return risk_sentence(self.cause, self.event, self.consequence)

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        d["sentence"] = self.sentence
        return d


def read_catalogue(path: Path = CATALOGUE_FILE) -> list[Template]:
    """Read and check the catalogue file; a bad row raises ValueError naming the row and the field."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path.name}: expected the columns {', '.join(COLUMNS)}, got {reader.fieldnames}")
        out: list[Template] = []
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            for key in ("template_id", "title", "cause", "event", "consequence", "source"):
                if not (row[key] or "").strip():
                    raise ValueError(f"{path.name} row {line}: {key} is empty")
            if row["category"] not in CATEGORIES:
                raise ValueError(f"{path.name} row {line}: category {row['category']!r} is not a category key")
            if row["treatment"] not in TREATMENTS:
                raise ValueError(f"{path.name} row {line}: treatment {row['treatment']!r}: expected one of "
                                 f"{', '.join(TREATMENTS)}")
            tags = tuple(t.strip() for t in row["tags"].split(";") if t.strip())
            if any(t not in COLLABORATION_TAGS for t in tags):
                raise ValueError(f"{path.name} row {line}: tags {row['tags']!r}: expected "
                                 f"{', '.join(COLLABORATION_TAGS)}")
            if row["template_id"] in seen:
                raise ValueError(f"{path.name} row {line}: template_id {row['template_id']} appears twice")
            seen.add(row["template_id"])
            out.append(Template(**{k: row[k].strip() for k in COLUMNS if k != "tags"}, tags=tags))
    return out


@cache
def catalogue() -> tuple[Template, ...]:
    return tuple(read_catalogue())


def templates(category: str | None = None) -> list[Template]:
    return [t for t in catalogue() if category is None or t.category == category]


def template(template_id: str) -> Template:
    for t in catalogue():
        if t.template_id == template_id:
            return t
    raise KeyError(f"no template {template_id!r} in the catalogue")
