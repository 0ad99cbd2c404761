"""The scoring rules of docs/SCORING.md as pure functions: scales, matrices, aggregation,
disagreement flags, standing values, appetite and review dates. Nothing here touches the database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import NamedTuple

import numpy as np

# --- categories (docs/USER_GUIDE.md, Walkthrough) -------------------------------------------------------------

CATEGORIES: dict[str, str] = {
    "legal": "Legal",
    "operational": "Operational",
    "financial": "Financial",
    "reputational": "Reputational",
    "societal": "Societal",
    "cybersecurity": "Cybersecurity",
}
CORE_CATEGORIES = ("legal", "operational", "financial", "reputational", "societal")
CATEGORY_PREFIX = {
    "legal": "LEG",
    "operational": "OPS",
    "financial": "FIN",
    "reputational": "REP",
    "societal": "SOC",
    "cybersecurity": "CYB",
}
CATEGORY_COVERS = {
    "legal": "authority and interlocal agreement (ILA) terms, public-records/FOIA duties across jurisdictions, "
    "data ownership and retention, procurement and licensing law, CJIS/HIPAA agreements, liability, labour law",
    "operational": "service levels, single points of failure, capacity, key people, change control, "
    "incident response, migration, integration",
    "financial": "who pays for what: cost allocation, overruns, start-up costs, a partner leaving, reserves, "
    "insurance gaps",
    "reputational": "blame for outages and breaches, oversold savings, disputes between officials, "
    "loss of local identity",
    "societal": "equity of service across jurisdictions, digital divide, local job loss, democratic "
    "accountability, privacy",
    "cybersecurity": "shared attack surface, an incident across all partners",
}
COLLABORATION_TAGS = ("coordination", "division", "defection")


def category_key(value: str) -> str:
    """Accept a category's key or display name in any case; return the key. `'LEGAL'` -> `'legal'`."""
    text = (value or "").strip().lower()
    for key, name in CATEGORIES.items():
        if text in (key, name.lower()):
            return key
    raise ValueError(f"unknown category {value!r}: expected one of {', '.join(CATEGORIES.values())}")


# --- risk ids: one rule for every door (forms, CSV, XLSX, JSON, CLI) --------------------------------

# a prefix of 2-10 capital letters and digits starting with a letter, a dash, 1-4 digits: LEG-03, CYB-12, ERP2-7.
# ASCII only: without it \d also took other scripts' digits ("LEG-٠١")
RISK_ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,9}-\d{1,4}$", re.ASCII)
RISK_ID_EXAMPLE = "LEG-03"


def check_risk_id(value: object) -> str:
    """A risk's key as every door takes it: stripped and upper-cased, then matched against RISK_ID_PATTERN.
    `' leg-03 '` -> `'LEG-03'`; `'leg 01 x'` raises ValueError("expected a key such as LEG-03, got 'leg 01 x'")."""
    if isinstance(value, str):
        key = value.strip().upper()
        if RISK_ID_PATTERN.fullmatch(key):
            return key
    if isinstance(value, str) and len(value) > 40:  # a message quotes the start of a long value, not all of it
        got = f"{value[:40]!r}… ({len(value):,} characters)"
    else:
        got = {list: "a list", dict: "an object", type(None): "nothing"}.get(type(value), repr(value))
    raise ValueError(f"expected a key such as {RISK_ID_EXAMPLE}, got {got}")


# --- scales (docs/SCORING.md, Scales) -----------------------------------------------------------------

SCORE_LABELS = ("Very Low", "Low", "Moderate", "High", "Very High")  # score 1..5


@dataclass(frozen=True)
class ScalePoint:
    score: int
    label: str
    descriptor: str


LIKELIHOOD_SCALE: tuple[ScalePoint, ...] = (
    ScalePoint(1, "Very Low", "highly unlikely (<5%); less than once in 10 years"),
    ScalePoint(2, "Low", "unlikely (5–20%); less than once a year but within the term"),
    ScalePoint(3, "Moderate", "somewhat likely (21–79%); about 1–10 times a year"),
    ScalePoint(4, "High", "highly likely (80–95%); several times a year"),
    ScalePoint(5, "Very High", "almost certain (≥96%); recurs many times a year"),
)

IMPACT_SCALE: tuple[dict[str, object], ...] = (
    {"score": 1, "label": "Very Low", "service": "no noticeable effect", "money": "<1% of a partner's IT budget",
     "legal": "none", "public": "none"},
    {"score": 2, "label": "Low", "service": "noticeable, workable", "money": "1–3%",
     "legal": "minor non-compliance", "public": "isolated complaints"},
    {"score": 3, "label": "Moderate", "service": "significant degradation", "money": "3–10%",
     "legal": "records-law penalty, formal complaint", "public": "local press"},
    {"score": 4, "label": "High", "service": "a partner's primary function stops", "money": "10–25%",
     "legal": "lawsuit or regulatory penalty", "public": "a council votes to exit"},
    {"score": 5, "label": "Very High", "service": "multi-day loss of critical services for several partners",
     "money": ">25%", "legal": "agreement voided, CJIS access lost",
     "public": "national coverage, officials forced out"},
)


def check_score(value: object, field_name: str = "score") -> int:
    """A likelihood or impact must be a whole number 1-5; returns it as an int or raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{field_name}: expected a whole number from 1 to 5, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= 5:
        raise ValueError(f"{field_name}: expected a whole number from 1 to 5, got {value!r}")
    return value


# --- matrices (docs/SCORING.md, Level) ---------------------------------------------------------------

# Colour-blind-safe sequential colours (ColorBrewer YlOrRd-like, distinguishable in grey) by number of levels.
LEVEL_COLOURS: dict[int, tuple[str, ...]] = {
    2: ("#fee08b", "#d73027"),
    3: ("#ffffbf", "#fc8d59", "#d73027"),
    4: ("#ffffcc", "#fed976", "#fd8d3c", "#bd0026"),
    5: ("#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"),
    6: ("#ffffcc", "#ffeda0", "#fed976", "#fd8d3c", "#e31a1c", "#800026"),
}


class MatrixError(ValueError):
    """A matrix that the workbench cannot score on (wrong size, not monotone, bad level names)."""


@dataclass(frozen=True)
class Matrix:
    """A 5x5 risk matrix: grid[l-1][i-1] is the level index for likelihood l and impact i (rows = likelihood)."""

    name: str
    levels: tuple[str, ...]
    grid: tuple[tuple[int, ...], ...]
    colours: tuple[str, ...] = ()
    title: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        validate_matrix(self.levels, self.grid)
        if not self.colours:
            object.__setattr__(self, "colours", LEVEL_COLOURS[len(self.levels)])

    def level_index(self, likelihood: int, impact: int) -> int:
        """docs/SCORING.md, Level: the level of a cell is looked up, never multiplied. Level index (0 = lowest).
        Example: NIST, likelihood 2, impact 5 -> 2 (Moderate)."""
        return self.grid[check_score(likelihood, "likelihood") - 1][check_score(impact, "impact") - 1]

    def level_indices(self, likelihoods: np.ndarray, impacts: np.ndarray) -> np.ndarray:
        """level_index of many cells at once, from arrays of whole scores 1-5 (values from the rules or the
        database, not checked again)."""
        lik = np.asarray(likelihoods).astype(np.int64)
        imp = np.asarray(impacts).astype(np.int64)
        return self._grid_array[lik - 1, imp - 1]

    def level(self, likelihood: int, impact: int) -> str:
        return self.levels[self.level_index(likelihood, impact)]

    def rank5(self, level_index: int) -> int:
        """docs/SCORING.md, Appetite and review: position of a level on the five-step Very Low..Very High scale that
        appetite and
        the review cadence are stated on. A five-level matrix maps one to one; others spread evenly, rounded half
        up (4 levels -> 0, 1, 3, 4)."""
        return self.ranks[level_index]

    def rank5_array(self, level_indices: np.ndarray) -> np.ndarray:
        """rank5 of many level indices at once; -1 (no value) stays -1."""
        idx = np.asarray(level_indices, dtype=np.int64)
        return np.where(idx >= 0, self._rank_array[idx], -1)

    @cached_property
    def ranks(self) -> tuple[int, ...]:
        steps = len(self.levels) - 1
        return tuple(int(Decimal(i * 4) / Decimal(steps) + Decimal("0.5")) for i in range(len(self.levels)))

    @cached_property
    def _grid_array(self) -> np.ndarray:
        return np.asarray(self.grid, dtype=np.int64)

    @cached_property
    def _rank_array(self) -> np.ndarray:
        return np.asarray(self.ranks, dtype=np.int64)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "levels": list(self.levels),
            "grid": [[self.levels[c] for c in row] for row in self.grid],
        }


def validate_matrix(levels: Sequence[str], grid: Sequence[Sequence[int]]) -> None:
    """Refuse a grid that is not 5x5, has 2-6 levels, points outside them, or is not monotone."""
    if not 2 <= len(levels) <= 6:
        raise MatrixError(f"a matrix needs 2 to 6 levels, this one has {len(levels)}")
    if any(not str(name).strip() for name in levels):
        raise MatrixError("every level needs a name")
    if len(grid) != 5 or any(len(row) != 5 for row in grid):
        size = f"{len(grid)}x{len(grid[0]) if grid else 0}"
        raise MatrixError(
            f"the grid is {size}: this workbench scores on five-level likelihood and impact scales, "
            "so only 5x5 matrices can be used"
        )
    for li, row in enumerate(grid):
        for ii, cell in enumerate(row):
            if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell < len(levels):
                raise MatrixError(
                    f"cell (likelihood {li + 1}, impact {ii + 1}) holds {cell!r}, "
                    f"not a level index from 0 to {len(levels) - 1}"
                )
    for li in range(5):
        for ii in range(5):
            cell = grid[li][ii]
            if li > 0 and cell < grid[li - 1][ii]:
                raise MatrixError(
                    f"not monotone: cell (likelihood {li + 1}, impact {ii + 1}) is {levels[cell]!r}, lower than "
                    f"the cell below it (likelihood {li}, impact {ii + 1}), {levels[grid[li - 1][ii]]!r}"
                )
            if ii > 0 and cell < grid[li][ii - 1]:
                raise MatrixError(
                    f"not monotone: cell (likelihood {li + 1}, impact {ii + 1}) is {levels[cell]!r}, lower than "
                    f"the cell to its left (likelihood {li + 1}, impact {ii}), {levels[grid[li][ii - 1]]!r}"
                )


_NIST_LEVELS = ("Very Low", "Low", "Moderate", "High", "Very High")
_VL, _L, _M, _H, _VH = range(5)

# NIST SP 800-30 Rev. 1, Table I-2, rows likelihood 1 (Very Low) .. 5 (Very High), columns impact 1..5.
NIST_800_30 = Matrix(
    name="nist-800-30",
    title="NIST SP 800-30 Rev. 1, Table I-2",
    levels=_NIST_LEVELS,
    grid=(
        (_VL, _VL, _VL, _L, _L),
        (_VL, _L, _L, _L, _M),
        (_VL, _L, _M, _M, _H),
        (_VL, _L, _M, _H, _VH),
        (_VL, _L, _M, _H, _VH),
    ),
    source="NIST SP 800-30 Rev. 1 (2012), Appendix I, Table I-2",
)

# A four-level grid of the kind many local-government ERM policies use; impact weighs a little more than
# likelihood, so the grid is deliberately asymmetric (a rare catastrophe outranks a frequent nuisance).
_Lo, _Me, _Hi, _Cr = range(4)
LOCAL_GOV_4 = Matrix(
    name="local-gov-4-level",
    title="Local-government ERM, four levels (impact-weighted)",
    levels=("Low", "Medium", "High", "Critical"),
    grid=(
        (_Lo, _Lo, _Me, _Me, _Hi),
        (_Lo, _Lo, _Me, _Hi, _Hi),
        (_Lo, _Me, _Me, _Hi, _Cr),
        (_Lo, _Me, _Hi, _Cr, _Cr),
        (_Me, _Me, _Hi, _Cr, _Cr),
    ),
    source="Workbench built-in, after common county ERM heat maps",
)

BUILTIN_MATRICES: dict[str, Matrix] = {m.name: m for m in (NIST_800_30, LOCAL_GOV_4)}
DEFAULT_MATRIX = NIST_800_30.name


# --- aggregation (docs/SCORING.md, Several assessors) ------------------------------------------------------------

AGGREGATIONS = ("upper_median", "max", "one_jurisdiction_one_vote")
AGGREGATION_INDEX = {name: k for k, name in enumerate(AGGREGATIONS)}
# where a stored round result keeps each method's (likelihood, impact): the one table from method to column
AGGREGATION_RESULT_COLUMNS = {"upper_median": ("lik_upper_median", "imp_upper_median"), "max": ("lik_max", "imp_max"),
                              "one_jurisdiction_one_vote": ("lik_ojov", "imp_ojov")}
DEFAULT_AGGREGATION = "upper_median"
# the columns of a stored round result (table round_result), in the order the bulk loader writes them
RESULT_COLUMNS = ("round_id", "risk_pk", "n", *(c for m in AGGREGATIONS for c in AGGREGATION_RESULT_COLUMNS[m]),
                  "mean_likelihood", "mean_impact", "flags")

# Each rule below comes in two forms side by side: the scalar one takes one risk's scores in one round, the
# `_rows` one takes a 2-D array whose rows are many risks' panels of n scores (the bulk loader's path) and gives
# exactly what the scalar form gives row by row (tests/test_scoring_forms.py checks it on random panels).
# In the array forms, `slots[g, k]` is a small integer naming the partner of the assessor who gave score k of
# row g (0, 1, 2, ... within the row): the array counterpart of the scalar forms' `partners`.
_EMPTY = 99  # sorts after every score: marks "no value here" in the array forms


def upper_median(values: Iterable[int]) -> int:
    """docs/SCORING.md, Several assessors: the median; with an even count, the upper of the two middle values: [1, 2,
    4, 5] -> 4."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no scores to aggregate")
    return ordered[len(ordered) // 2]


def upper_median_rows(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """upper_median of each row; with `mask`, of the cells of the row where it is true (_EMPTY for a row with none)."""
    if mask is None:
        return np.sort(values, axis=1)[:, values.shape[1] // 2]
    filled = np.sort(np.where(mask, values, _EMPTY), axis=1)
    pos = np.minimum(mask.sum(axis=1) // 2, values.shape[1] - 1)
    return np.take_along_axis(filled, pos[:, None], axis=1)[:, 0]


def mean_half_up(values: Iterable[int]) -> float:
    """docs/SCORING.md, Several assessors: the mean for display, one decimal, rounded half up: [2, 2, 2, 3] -> 2.3
    (2.25)."""
    vals = list(values)
    if not vals:
        raise ValueError("no scores to average")
    exact = Decimal(sum(vals)) / Decimal(len(vals))
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def mean_half_up_rows(values: np.ndarray) -> np.ndarray:
    """mean_half_up of each row, in integers: round(10 * total / n) half up, then / 10."""
    n = values.shape[1]
    return (20 * values.sum(axis=1) + n) // (2 * n) / 10


def partner_medians(values: Sequence[int], partners: Sequence[object]) -> dict[object, int]:
    """docs/SCORING.md, Several assessors: the upper median of each partner's scores (`partners[k]` gave `values[k]`),
    in the order the partners first appear. What one_jurisdiction_one_vote and the `partners` flag stand on."""
    by_partner: dict[object, list[int]] = {}
    for value, partner in zip(values, partners, strict=True):
        by_partner.setdefault(partner, []).append(value)
    return {p: upper_median(v) for p, v in by_partner.items()}


def partner_medians_rows(values: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """partner_medians of each row as a (rows, partners) array indexed by slot, and where a slot has scores
    (a slot without any holds _EMPTY)."""
    n_slots = int(slots.max()) + 1 if slots.size else 0
    medians = np.full((values.shape[0], n_slots), _EMPTY, dtype=np.int64)
    for j in range(n_slots):
        medians[:, j] = upper_median_rows(values, slots == j)
    return medians, medians != _EMPTY


def aggregate(values: Sequence[int], partners: Sequence[object], method: str) -> int:
    """docs/SCORING.md, Several assessors: one axis (likelihood or impact) of one risk's scores in one round, by
    `method`: upper_median, max, or one_jurisdiction_one_vote (the upper median of partner_medians).

    `partners[k]` is the partner of the assessor who gave `values[k]`; only one_jurisdiction_one_vote uses it.
    """
    if not values:
        raise ValueError("no scores to aggregate")
    if method == "upper_median":
        return upper_median(values)
    if method == "max":
        return max(values)
    if method == "one_jurisdiction_one_vote":
        return upper_median(partner_medians(values, partners).values())
    raise ValueError(f"unknown aggregation method {method!r}: expected one of {', '.join(AGGREGATIONS)}")


def aggregate_rows(values: np.ndarray, slots: np.ndarray, method: str,
                   medians: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """aggregate of each row. `medians`: partner_medians_rows(values, slots) when the caller has them already."""
    if method == "upper_median":
        return upper_median_rows(values)
    if method == "max":
        return values.max(axis=1)
    if method == "one_jurisdiction_one_vote":
        return upper_median_rows(*(medians or partner_medians_rows(values, slots)))
    raise ValueError(f"unknown aggregation method {method!r}: expected one of {', '.join(AGGREGATIONS)}")


# --- disagreement flags (docs/SCORING.md, Disagreement flags) -----------------------------------------------------

FLAGS = ("iqr", "partners", "polarised", "range", "spread")


def axis_flags(values: Sequence[int], partners: Sequence[object] | None = None) -> set[str]:
    """docs/SCORING.md, Disagreement flags: the disagreement flags one axis of scores meets.

    range: max - min >= 3; iqr: IQR >= 2 (linear interpolation, numpy's default); spread: fewer than 70% of
    scores within +-1 of the upper median; polarised: >= 1/3 of scores in 1-2 and >= 1/3 in 4-5; partners: two
    partners' upper medians differ by >= 2 (only when `partners` is given).
    """
    n = len(values)
    if n == 0:
        return set()
    flags: set[str] = set()
    if max(values) - min(values) >= 3:
        flags.add("range")
    q1, q3 = np.percentile(np.asarray(values, dtype=float), [25, 75])
    if q3 - q1 >= 2 - 1e-9:
        flags.add("iqr")
    mid = upper_median(values)
    near = sum(1 for v in values if abs(v - mid) <= 1)
    if near * 10 < 7 * n:  # fewer than 70%, in integers
        flags.add("spread")
    low = sum(1 for v in values if v <= 2)
    high = sum(1 for v in values if v >= 4)
    if 3 * low >= n and 3 * high >= n:
        flags.add("polarised")
    if partners is not None:
        medians = partner_medians(values, partners).values()
        if len(medians) >= 2 and max(medians) - min(medians) >= 2:
            flags.add("partners")
    return flags


def axis_flags_rows(values: np.ndarray, slots: np.ndarray | None = None,
                    medians: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """axis_flags of each row, as one boolean array per flag (`partners` only when `slots` is given).
    `medians`: partner_medians_rows(values, slots) when the caller has them already."""
    n = values.shape[1]
    ordered = np.sort(values, axis=1)
    mid = ordered[:, n // 2]
    q1, q3 = np.percentile(ordered.astype(float), [25, 75], axis=1)
    flags = {
        "iqr": (q3 - q1) >= 2 - 1e-9,
        "polarised": (3 * (ordered <= 2).sum(axis=1) >= n) & (3 * (ordered >= 4).sum(axis=1) >= n),
        "range": (ordered[:, -1] - ordered[:, 0]) >= 3,
        "spread": (np.abs(ordered - mid[:, None]) <= 1).sum(axis=1) * 10 < 7 * n,
    }
    if slots is not None:
        by_partner, present = medians or partner_medians_rows(values, slots)
        highest = np.where(present, by_partner, -_EMPTY).max(axis=1)
        lowest = np.where(present, by_partner, _EMPTY).min(axis=1)
        flags["partners"] = (present.sum(axis=1) >= 2) & (highest - lowest >= 2)
    return flags


def disagreement_flags(
    likelihoods: Sequence[int], impacts: Sequence[int], partners: Sequence[object] | None = None
) -> list[str]:
    """docs/SCORING.md, Disagreement flags: the flags raised on either axis, sorted."""
    return sorted(axis_flags(likelihoods, partners) | axis_flags(impacts, partners))


def flag_strings(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The raised flags of each row, sorted and joined by "," (the stored form of disagreement_flags)."""
    raised = [arrays[name].tolist() for name in FLAGS]
    return [",".join(name for name, row in zip(FLAGS, column, strict=True) if row)
            for column in zip(*raised, strict=True)]


# --- standing values ------------------------------------------------------------------------------

PHASES = ("inherent", "residual")


@dataclass(frozen=True)
class RoundScores:
    """One risk's scores in one revealed or closed round of one phase."""

    round_number: int
    likelihoods: tuple[int, ...]
    impacts: tuple[int, ...]
    partners: tuple[object, ...]
    when: dt.date | None = None


class RoundResult(NamedTuple):
    """What a round says about one risk, for every aggregation method: computed once when the round is
    revealed (its scores cannot change after that) and stored, so reading a profile needs no raw scores.
    (A NamedTuple: profiles build thousands of these, and tuples are cheap to make.)"""

    round_number: int
    n: int
    by_method: tuple[tuple[str, int, int], ...]  # (method, likelihood, impact), in AGGREGATIONS order
    mean_likelihood: float
    mean_impact: float
    flags: tuple[str, ...]
    when: dt.date | None = None

    def value(self, method: str) -> tuple[int, int]:
        for name, lik, imp in self.by_method:
            if name == method:
                return lik, imp
        raise ValueError(f"unknown aggregation method {method!r}: expected one of {', '.join(AGGREGATIONS)}")


def summarise_round(scores: RoundScores) -> RoundResult:
    """docs/SCORING.md, Several assessors: one risk's round aggregated by every method, with its mean and disagreement
    flags."""
    liks, imps, partners = scores.likelihoods, scores.impacts, scores.partners
    return RoundResult(
        round_number=scores.round_number,
        n=len(liks),
        by_method=tuple((m, aggregate(liks, partners, m), aggregate(imps, partners, m)) for m in AGGREGATIONS),
        mean_likelihood=mean_half_up(liks),
        mean_impact=mean_half_up(imps),
        flags=tuple(disagreement_flags(liks, imps, partners)),
        when=scores.when,
    )


def summarise_arrays(likelihoods: np.ndarray, impacts: np.ndarray, slots: np.ndarray) -> dict[str, np.ndarray]:
    """summarise_round of many risks at once, as arrays: each row one risk's panel of n scores.

    likelihoods[g, k] and impacts[g, k] are the k-th score of row g, and slots[g, k] names that assessor's
    partner within the row. Keys: lik_<method>, imp_<method> for each aggregation method, mean_likelihood,
    mean_impact, and one boolean array per flag (flag_strings joins them).
    """
    slots = np.asarray(slots, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    flags: dict[str, np.ndarray] = {}
    for axis, raw in (("lik", likelihoods), ("imp", impacts)):
        raw = np.asarray(raw, dtype=np.int64)
        medians = partner_medians_rows(raw, slots)
        for method in AGGREGATIONS:
            out[f"{axis}_{method}"] = aggregate_rows(raw, slots, method, medians)
        out["mean_likelihood" if axis == "lik" else "mean_impact"] = mean_half_up_rows(raw)
        for name, raised in axis_flags_rows(raw, slots, medians).items():  # raised on either axis
            flags[name] = flags[name] | raised if name in flags else raised
    return out | flags


class ConsensusValue(NamedTuple):
    likelihood: int
    impact: int
    when: dt.date | None = None


class Standing(NamedTuple):
    """A risk's value in one phase and where it comes from: `consensus`, `aggregate` or `none`."""

    source: str
    likelihood: int | None = None
    impact: int | None = None
    level: str | None = None
    level_index: int | None = None
    flags: tuple[str, ...] = ()
    mean_likelihood: float | None = None
    mean_impact: float | None = None
    assessors: int = 0
    round_number: int | None = None
    when: dt.date | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "likelihood": self.likelihood,
            "impact": self.impact,
            "level": self.level,
            "source": self.source,
            "flags": list(self.flags),
        }


NO_VALUE = Standing(source="none")


def standing_value(
    rounds: Sequence[RoundResult | RoundScores],
    consensus: ConsensusValue | None,
    matrix: Matrix,
    method: str,
) -> Standing:
    """docs/SCORING.md, Standing value: the value of one risk in one phase.

    The consensus where one is recorded; otherwise the aggregate of the latest revealed or closed round in
    which the risk was scored. Flags (and the assessor count) are those of that latest round in both cases.
    """
    latest = None
    for r in rounds:
        if not isinstance(r, RoundResult):
            if not r.likelihoods:
                continue
            r = summarise_round(r)
        if r.n and (latest is None or r.round_number > latest.round_number):
            latest = r
    if consensus is not None:
        lik, imp, when = consensus
        if latest is None:
            idx = matrix.grid[lik - 1][imp - 1]
            return Standing("consensus", lik, imp, matrix.levels[idx], idx, (), None, None, 0, None, when)
    elif latest is None:
        return NO_VALUE
    else:
        lik, imp = latest.by_method[AGGREGATION_INDEX[method]][1:] if method in AGGREGATION_INDEX \
            else latest.value(method)
        when = latest.when
    idx = matrix.grid[lik - 1][imp - 1]  # values from the rules or the database are whole numbers 1-5
    return Standing("consensus" if consensus is not None else "aggregate", lik, imp, matrix.levels[idx], idx,
                    latest.flags, latest.mean_likelihood, latest.mean_impact, latest.n, latest.round_number, when)


def standing_arrays(method: np.ndarray, latest: Mapping[str, np.ndarray], consensus_likelihood: np.ndarray,
                    consensus_impact: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """standing_value of many risks at once, without the level (Matrix.level_indices looks it up).

    `method[r]` is row r's aggregation method; `latest[column]`, for each column of AGGREGATION_RESULT_COLUMNS,
    holds the stored result of row r's latest revealed or closed round; consensus_likelihood and consensus_impact
    its recorded consensus; all floats, NaN where there is none. Returns likelihood and impact (floats, NaN where
    no value stands) and the source of each ("consensus", "aggregate" or "none").
    """
    method = np.asarray(method, dtype=object)
    lik = np.full(len(method), np.nan)
    imp = np.full(len(method), np.nan)
    for name, (lc, ic) in AGGREGATION_RESULT_COLUMNS.items():
        chosen = method == name
        lik = np.where(chosen, latest[lc], lik)
        imp = np.where(chosen, latest[ic], imp)
    c_lik = np.asarray(consensus_likelihood, dtype=float)
    has_consensus = ~np.isnan(c_lik)
    lik = np.where(has_consensus, c_lik, lik)
    imp = np.where(has_consensus, np.asarray(consensus_impact, dtype=float), imp)
    source = np.where(has_consensus, "consensus", np.where(np.isnan(lik), "none", "aggregate"))
    return lik, imp, source


# --- appetite and review (docs/SCORING.md, Appetite and review) ----------------------------------------------------

APPETITES = ("Averse", "Minimal", "Cautious", "Open", "Eager")  # tolerated: Very Low .. Very High
DEFAULT_APPETITE = "Cautious"
TREATMENTS = ("Accept", "Avoid", "Reduce", "Share/Transfer")
TREATMENT_ALIASES = {"tolerate": "Accept", "terminate": "Avoid", "treat": "Reduce", "transfer": "Share/Transfer",
                     "share": "Share/Transfer"}
RISK_STATUSES = ("Draft", "Open", "In treatment", "Monitoring", "Accepted", "Escalated", "Closed")
REVIEW_DAYS_BY_RANK = (360, 360, 180, 90, 90)  # Very Low, Low, Moderate, High, Very High


def normalise_treatment(value: str) -> str:
    """`treat` -> `Reduce`; accepts the OMB A-123 words and the Orange Book 4Ts in any case."""
    text = (value or "").strip()
    for t in TREATMENTS:
        if text.lower() == t.lower():
            return t
    if text.lower() in TREATMENT_ALIASES:
        return TREATMENT_ALIASES[text.lower()]
    raise ValueError(f"unknown treatment {value!r}: expected one of {', '.join(TREATMENTS)} (or a 4T alias)")


_TOLERANCE = {word: k for k, word in enumerate(APPETITES)}


def appetite_tolerance(appetite: str) -> int:
    """docs/SCORING.md, Appetite and review: the highest tolerated level on the five-step scale: Averse -> 0 (Very Low)
    .. Eager -> 4 (Very High)."""
    try:
        return _TOLERANCE[appetite]
    except (KeyError, TypeError):
        raise ValueError(f"unknown appetite {appetite!r}: expected one of {', '.join(APPETITES)}") from None


def appetite_tolerance_array(appetites: Sequence[str] | np.ndarray) -> np.ndarray:
    """appetite_tolerance of many appetite words at once."""
    try:
        return np.fromiter((_TOLERANCE[a] for a in appetites), dtype=np.int64, count=len(appetites))
    except (KeyError, TypeError):
        bad = next(a for a in appetites if not isinstance(a, str) or a not in _TOLERANCE)
        raise ValueError(f"unknown appetite {bad!r}: expected one of {', '.join(APPETITES)}") from None


def over_appetite(residual_level_index: int | None, appetite: str, matrix: Matrix) -> bool:
    """docs/SCORING.md, Appetite and review: true when the residual level is above what the category's appetite
    tolerates (never when no residual value stands)."""
    if residual_level_index is None:
        return False
    return matrix.ranks[residual_level_index] > appetite_tolerance(appetite)


def over_appetite_array(residual_level_index: np.ndarray, appetites: Sequence[str] | np.ndarray, matrix: Matrix
                        ) -> np.ndarray:
    """over_appetite of many risks of one matrix at once; a level index of -1 means no residual value."""
    idx = np.asarray(residual_level_index, dtype=np.int64)
    return (idx >= 0) & (matrix.rank5_array(idx) > appetite_tolerance_array(appetites))


_REVIEW_AFTER = tuple(dt.timedelta(days=d) for d in REVIEW_DAYS_BY_RANK)


def next_review(level_index: int | None, matrix: Matrix, since: dt.date | None) -> dt.date | None:
    """docs/SCORING.md, Appetite and review: review cadence by residual level: Very High/High 90 days, Moderate 180,
    Low/Very Low 360, counted from `since` (when the value was set)."""
    if level_index is None or since is None:
        return None
    return since + _REVIEW_AFTER[matrix.ranks[level_index]]


def risk_next_review(inherent: Standing, residual: Standing, matrix: Matrix) -> dt.date | None:
    """next_review of a risk: from its residual value, or from its inherent one while no residual value stands
    (docs/SCORING.md, "Appetite and review")."""
    basis = residual if residual.source != "none" else inherent
    return next_review(basis.level_index, matrix, basis.when)


def risk_sentence(cause: str, event: str, consequence: str) -> str:
    """The Orange Book sentence: "Because <cause>, <event> may occur, leading to <consequence>." """

    def clean(text: str) -> str:
        text = (text or "").strip().rstrip(".")
        if len(text) > 1 and text[1].isupper():  # keep acronyms such as "ILA" or "IT"
            return text
        return text[:1].lower() + text[1:]

    cause, event, consequence = clean(cause), clean(event), clean(consequence)
    if not (cause or event or consequence):
        return ""
    # a part not written yet is left out rather than printed empty ("Because , ...")
    sentence = f"{event or 'something not yet described'} may occur"
    if cause:
        sentence = f"Because {cause}, {sentence}"
    else:
        sentence = sentence[:1].upper() + sentence[1:]
    if consequence:
        sentence += f", leading to {consequence}"
    return sentence + "."


def default_appetite() -> dict[str, str]:
    return {key: DEFAULT_APPETITE for key in CATEGORIES}


# --- heat-map cells -------------------------------------------------------------------------------------------

MAX_IDS_IN_CELL = 4


def heatmap_cell_rows(matrix: Matrix, points: Iterable[tuple[str, int | None, int | None]]) -> list[dict]:
    """The 25 cells of a heat map with the risks that fall in each (likelihood 1-5, impact 1-5 within it), for the
    app's charts (risk/charts.py) and the packet's (risk/exchange/packet_charts.py): `points` are (risk_id,
    likelihood, impact); unscored points are left out. A cell's label is its count and up to MAX_IDS_IN_CELL ids."""
    placed: dict[tuple[int, int], list[str]] = {}
    for risk_id, lik, imp in points:
        if lik is not None and imp is not None:
            placed.setdefault((int(lik), int(imp)), []).append(risk_id)
    rows = []
    for lik in range(1, 6):
        for imp in range(1, 6):
            ids = sorted(placed.get((lik, imp), []))
            more = len(ids) - MAX_IDS_IN_CELL
            shown = ids[:MAX_IDS_IN_CELL] + ([f"+{more} more"] if more > 0 else [])
            rows.append({
                "likelihood": lik, "impact": imp,
                "likelihood_label": f"{lik} {SCORE_LABELS[lik - 1]}", "impact_label": f"{imp} {SCORE_LABELS[imp - 1]}",
                "level": matrix.level(lik, imp), "count": len(ids),
                "label": "\n".join([str(len(ids))] + [", ".join(shown[k:k + 2]) for k in range(0, len(shown), 2)])
                if ids else "",
                "risks": ", ".join(ids),
            })
    return rows
