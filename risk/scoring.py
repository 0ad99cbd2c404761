"""The scoring rules of DOMAIN.md sections 3 to 6 as pure functions: scales, matrices, aggregation,
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

# --- categories (DOMAIN.md section 2) -------------------------------------------------------------

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


# --- scales (DOMAIN.md section 3) -----------------------------------------------------------------

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

IMPACT_DIMENSIONS = ("service", "money", "legal", "public")
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


# --- matrices (DOMAIN.md section 4) ---------------------------------------------------------------

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
        """Level index (0 = lowest) of a cell. Example: NIST, likelihood 2, impact 5 -> 2 (Moderate)."""
        return self.grid[check_score(likelihood, "likelihood") - 1][check_score(impact, "impact") - 1]

    def level(self, likelihood: int, impact: int) -> str:
        return self.levels[self.level_index(likelihood, impact)]

    def rank5(self, level_index: int) -> int:
        """Position of a level on the five-step Very Low..Very High scale that appetite is stated on.

        A five-level matrix maps one to one; others spread evenly, rounded half up (4 levels -> 0, 1, 3, 4).
        """
        return self.ranks[level_index]

    @cached_property
    def ranks(self) -> tuple[int, ...]:
        steps = len(self.levels) - 1
        return tuple(int(Decimal(i * 4) / Decimal(steps) + Decimal("0.5")) for i in range(len(self.levels)))

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


# --- aggregation (DOMAIN.md section 5) ------------------------------------------------------------

AGGREGATIONS = ("upper_median", "max", "one_jurisdiction_one_vote")
AGGREGATION_INDEX = {name: k for k, name in enumerate(AGGREGATIONS)}
# where a stored round result keeps each method's (likelihood, impact): the one table from method to column
AGGREGATION_RESULT_COLUMNS = {"upper_median": ("lik_upper_median", "imp_upper_median"), "max": ("lik_max", "imp_max"),
                              "one_jurisdiction_one_vote": ("lik_ojov", "imp_ojov")}
DEFAULT_AGGREGATION = "upper_median"


def upper_median(values: Iterable[int]) -> int:
    """The median; with an even count, the upper of the two middle values: [1, 2, 4, 5] -> 4."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no scores to aggregate")
    return ordered[len(ordered) // 2]


def mean_half_up(values: Iterable[int]) -> float:
    """The mean for display, one decimal, rounded half up: [2, 2, 2, 3] -> 2.3 (2.25)."""
    vals = list(values)
    if not vals:
        raise ValueError("no scores to average")
    exact = Decimal(sum(vals)) / Decimal(len(vals))
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def aggregate(values: Sequence[int], partners: Sequence[object], method: str) -> int:
    """Aggregate one axis (likelihood or impact) of one risk's scores in one round.

    `partners[k]` is the partner of the assessor who gave `values[k]`; only one_jurisdiction_one_vote uses it.
    """
    if not values:
        raise ValueError("no scores to aggregate")
    if method == "upper_median":
        return upper_median(values)
    if method == "max":
        return max(values)
    if method == "one_jurisdiction_one_vote":
        by_partner: dict[object, list[int]] = {}
        for value, partner in zip(values, partners, strict=True):
            by_partner.setdefault(partner, []).append(value)
        return upper_median(upper_median(v) for v in by_partner.values())
    raise ValueError(f"unknown aggregation method {method!r}: expected one of {', '.join(AGGREGATIONS)}")


# --- disagreement flags (DOMAIN.md section 5) -----------------------------------------------------

FLAGS = ("iqr", "partners", "polarised", "range", "spread")


def axis_flags(values: Sequence[int], partners: Sequence[object] | None = None) -> set[str]:
    """The disagreement flags one axis of scores meets.

    range: max - min >= 3; iqr: IQR >= 2 (linear interpolation, numpy's default); spread: fewer than 70% of
    scores within +-1 of the upper median; polarised: >= 1/3 of scores in 1-2 and >= 1/3 in 4-5; partners: two
    partners' upper medians differ by >= 2.
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
        by_partner: dict[object, list[int]] = {}
        for value, partner in zip(values, partners, strict=True):
            by_partner.setdefault(partner, []).append(value)
        medians = [upper_median(v) for v in by_partner.values()]
        if len(medians) >= 2 and max(medians) - min(medians) >= 2:
            flags.add("partners")
    return flags


def disagreement_flags(
    likelihoods: Sequence[int], impacts: Sequence[int], partners: Sequence[object] | None = None
) -> list[str]:
    """Flags raised on either axis, sorted."""
    return sorted(axis_flags(likelihoods, partners) | axis_flags(impacts, partners))


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
    """Aggregate one risk's round by every method, with its mean and disagreement flags."""
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


def _upper_median_rows(sorted_values: np.ndarray) -> np.ndarray:
    return sorted_values[:, sorted_values.shape[1] // 2]


_EMPTY = 99  # sorts after every score: marks "no value here" in the vectorised per-partner medians


def _masked_upper_median(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper median per row over the cells where `mask` is true, and how many there were."""
    filled = np.sort(np.where(mask, values, _EMPTY), axis=1)
    count = mask.sum(axis=1)
    pos = np.minimum(count // 2, values.shape[1] - 1)
    return np.take_along_axis(filled, pos[:, None], axis=1)[:, 0], count


def summarise_arrays(likelihoods: np.ndarray, impacts: np.ndarray, slots: np.ndarray) -> dict[str, np.ndarray]:
    """The round results of many risks at once, as arrays: each row one risk's panel of n scores.

    likelihoods[g, k] and impacts[g, k] are the k-th score of row g, and slots[g, k] a small integer naming that
    assessor's partner within the row (0, 1, 2, ...). Keys: lik_<method>, imp_<method> for each aggregation
    method, mean_likelihood, mean_impact, and one boolean array per flag. Gives exactly what summarise_round
    gives risk by risk (a test checks).
    """
    raw_l = np.asarray(likelihoods, dtype=np.int64)
    raw_i = np.asarray(impacts, dtype=np.int64)
    slots = np.asarray(slots, dtype=np.int64)
    g, n = raw_l.shape
    n_slots = int(slots.max()) + 1 if slots.size else 0

    def per_axis(raw: np.ndarray):
        sorted_v = np.sort(raw, axis=1)
        um = _upper_median_rows(sorted_v)
        mx = sorted_v[:, -1]
        medians = np.full((g, n_slots), _EMPTY)
        for j in range(n_slots):
            med, count = _masked_upper_median(raw, slots == j)
            medians[:, j] = np.where(count > 0, med, _EMPTY)
        present = medians != _EMPTY
        ojov, n_present = _masked_upper_median(medians, present)
        spread_of_partners = np.where(present, medians, -_EMPTY).max(axis=1) - np.where(present, medians, _EMPTY).min(
            axis=1)
        total = sorted_v.sum(axis=1)
        mean = (20 * total + n) // (2 * n) / 10  # half up to one decimal, in integers
        q1, q3 = np.percentile(sorted_v.astype(float), [25, 75], axis=1)
        flags = {
            "range": (mx - sorted_v[:, 0]) >= 3,
            "iqr": (q3 - q1) >= 2 - 1e-9,
            "spread": (np.abs(sorted_v - um[:, None]) <= 1).sum(axis=1) * 10 < 7 * n,
            "polarised": (3 * (sorted_v <= 2).sum(axis=1) >= n) & (3 * (sorted_v >= 4).sum(axis=1) >= n),
            "partners": (n_present >= 2) & (spread_of_partners >= 2),
        }
        return {"upper_median": um, "max": mx, "one_jurisdiction_one_vote": ojov}, mean, flags

    l_by, l_mean, l_flags = per_axis(raw_l)
    i_by, i_mean, i_flags = per_axis(raw_i)
    out: dict[str, np.ndarray] = {"mean_likelihood": l_mean, "mean_impact": i_mean}
    for method in AGGREGATIONS:
        out[f"lik_{method}"] = l_by[method]
        out[f"imp_{method}"] = i_by[method]
    for name in FLAGS:
        out[name] = l_flags[name] | i_flags[name]
    return out


def flag_strings(arrays: dict[str, np.ndarray]) -> list[str]:
    """The raised flags of each row, sorted and joined by ","."""
    raised = [arrays[name].tolist() for name in FLAGS]
    return [",".join(name for name, row in zip(FLAGS, column, strict=True) if row)
            for column in zip(*raised, strict=True)]


def summarise_rows(likelihoods: np.ndarray, impacts: np.ndarray, slots: np.ndarray, round_numbers: Sequence[int],
                   whens: Sequence[dt.date | None]) -> list[RoundResult]:
    """summarise_arrays as RoundResult objects."""
    a = summarise_arrays(likelihoods, impacts, slots)
    n = np.asarray(likelihoods).shape[1]
    cols = {k: v.tolist() for k, v in a.items() if k not in FLAGS}
    flags = flag_strings(a)
    return [
        RoundResult(
            round_number=round_numbers[r], n=n,
            by_method=tuple((m, cols[f"lik_{m}"][r], cols[f"imp_{m}"][r]) for m in AGGREGATIONS),
            mean_likelihood=cols["mean_likelihood"][r], mean_impact=cols["mean_impact"][r],
            flags=tuple(flags[r].split(",")) if flags[r] else (), when=whens[r],
        )
        for r in range(len(flags))
    ]


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
    """The value of one risk in one phase.

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


# --- appetite and review (DOMAIN.md section 6) ----------------------------------------------------

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


def appetite_tolerance(appetite: str) -> int:
    """The highest tolerated level on the five-step scale: Averse -> 0 (Very Low) .. Eager -> 4 (Very High)."""
    try:
        return APPETITES.index(appetite)
    except ValueError:
        raise ValueError(f"unknown appetite {appetite!r}: expected one of {', '.join(APPETITES)}") from None


def over_appetite(residual_level_index: int | None, appetite: str, matrix: Matrix) -> bool:
    """True when the residual level is above what the category's appetite tolerates."""
    if residual_level_index is None:
        return False
    return matrix.rank5(residual_level_index) > appetite_tolerance(appetite)


def next_review(level_index: int | None, matrix: Matrix, since: dt.date | None) -> dt.date | None:
    """Review cadence by residual level: Very High/High 90 days, Moderate 180, Low/Very Low 360."""
    if level_index is None or since is None:
        return None
    return since + dt.timedelta(days=REVIEW_DAYS_BY_RANK[matrix.rank5(level_index)])


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


def check_appetite_map(appetite: Mapping[str, str]) -> dict[str, str]:
    out = default_appetite()
    for key, word in appetite.items():
        cat = category_key(key)
        appetite_tolerance(word)
        out[cat] = word
    return out
