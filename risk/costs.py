"""Who pays for what: the cost-allocation core. Pure (no database, no pages; numpy only to split many years at
once); the Costs page, the `risk` command and the services call it with figures they have read.

A proposal's costs are `CostLine`s (one-time or recurring), its partners' figures are `PartnerFigures`
(population, assessed value, usage drivers, what each spends alone today, its exit charge), and the rule that
splits them is an `Agreement`: a `Method` (equal shares, population, assessed value, a usage driver, a blend of
these, a base fee plus usage, fixed percentages), with optional floors and caps per partner and an optional
phase-in from another method. `allocate` returns an `Allocation`: each partner's share of every year and of the
whole horizon in cents, what it pays after the credits for assets it contributes, its saving against doing the
service alone and its payback year; with `without=PARTNER`, the same with that partner gone (and its exit charge).

The rules, each exactly:

- Years run 1..horizon. A recurring line costs `amount` each year from `first_year` for `years` years, clipped to
  the horizon; a one-time line costs `amount` in `first_year` (nothing if that is after the horizon). A line's
  yearly amount is rounded to cents (half up) before anything is split.
- Each year's total is split by that year's fractions with largest-remainder rounding of cents: every partner
  gets the whole cents of its exact quota, and the cents left over go one each to the largest remainders (ties
  to the partner given first). So each year's amounts add up to that year's total exactly, and the horizon's
  shares to the horizon's total.
- Bases: equal (1/n each), population, assessed_value, driver:NAME (the partner's `drivers[NAME]`); a partner's
  fraction of a base is its figure over the sum of all partners' figures. A partner without the figure, or every
  partner at 0, is refused in words.
- Methods: one base; a blend (weights over bases, each >= 0, adding up to 1; fraction = sum of weight x base
  fraction); base plus usage (`base_share` split equally, the rest by the driver); fixed percentages (one per
  partner, adding up to 100).
- Floors and caps (percent of each year's total) are applied to the fractions: see `limit`.
- Phase-in: year k of an agreement with `phase_in_from` and `phase_in_years` = N uses
  (1 - t) x from + t x to with t = min(1, k / N): year 1 is the first step (1/N of the way), year N and later
  are the new method alone. Floors and caps apply after this blending.
- Credits: a line with a `credit_partner` is an existing asset that partner brings; the line is shared like any
  other, and the partner's `credit` is that line's amounts over the horizon. `pays` = share - credit (negative:
  the others owe it). Saving and payback compare the status quo with the share, not with `pays`.
- Status quo: `status_quo_cost` x horizon; saving = status quo - share (None without a status quo).
- Payback year: the first year y in which the cumulative sum over years 1..y of (status_quo_cost - the partner's
  amount in that year) is 0 or more; 1 when the partner is ahead from the first year; None when that never
  happens within the horizon or the partner has no status quo.
- Withdrawal (`without=PARTNER`): the same computation without that partner. Its floors and caps are dropped; the
  lines it is credited for leave with it (the asset is its own); fixed percentages are re-normalised over the
  partners who stay (their percentages scaled to add up to 100); its `exit_cost` is reported beside.

Money is `Decimal` to the cent (floats are read through their text: Decimal(str(x))); fractions are floats, the
largest-remainder split keeps every sum exact. A refusal reads `<place>: <field>: <what was expected>, got <what
came>`, as elsewhere in the workbench (risk/rules.py)."""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from risk.errors import RefusedError

KINDS = ("one_time", "recurring")
BASES = ("equal", "population", "assessed_value")  # plus "driver:NAME"
METHODS = ("equal", "population", "assessed_value", "driver", "blend", "base_plus_usage", "fixed")
MAX_HORIZON = 50
WEIGHT_TOLERANCE = 1e-9  # blend weights add up to 1 within this
PERCENT_TOLERANCE = 1e-6  # fixed percentages add up to 100 within this
LIMIT_TOLERANCE = 1e-12  # a fraction this close to its floor or cap does not break it

CENT = Decimal("0.01")


# --- the figures ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CostLine:
    """A cost of the shared service. `amount` is per year for a recurring line, the one amount of a one-time line
    (paid in `first_year`). `years` counts the years of a recurring line from `first_year` (clipped to the horizon);
    a one-time line ignores it. `credit_partner` names a partner contributing this as an existing asset."""

    name: str
    kind: str  # "one_time" | "recurring"
    amount: float
    first_year: int = 1  # 1 = the first year of the horizon
    years: int = 1
    credit_partner: str | None = None


@dataclass(frozen=True)
class PartnerFigures:
    """A partner's figures for this proposal: the bases it can be charged by, what it spends a year doing the
    service alone today, and the exit charge the agreement sets, if any."""

    name: str
    population: float | None = None
    assessed_value: float | None = None
    drivers: Mapping[str, float] = field(default_factory=dict)  # e.g. {"calls_for_service": 120000}
    status_quo_cost: float | None = None
    exit_cost: float | None = None


@dataclass(frozen=True)
class Method:
    """How a total is split: `kind` is one of METHODS. `driver` names the usage figure of "driver" and
    "base_plus_usage"; `weights` maps bases to weights (a blend; adding up to 1); `base_share` is the fraction a
    "base_plus_usage" splits equally; `percentages` maps partners to percent (fixed; adding up to 100)."""

    kind: str
    driver: str | None = None
    weights: Mapping[str, float] = field(default_factory=dict)
    base_share: float | None = None
    percentages: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Agreement:
    """A method over a horizon of years, with floors and caps per partner (percent of each year's total) and an
    optional phase-in: year k uses (1 - t) x `phase_in_from` + t x `method`, t = min(1, k / `phase_in_years`)."""

    method: Method
    horizon: int = 5
    floors: Mapping[str, float] = field(default_factory=dict)
    caps: Mapping[str, float] = field(default_factory=dict)
    phase_in_from: Method | None = None
    phase_in_years: int = 0


# --- the result -------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class PartnerShare:
    """One partner over the horizon: `share` of the total, `share_pct` (percent of the total, 2 decimals), the
    `credit` for assets it brings, `pays` = share - credit, its `status_quo` (alone, over the horizon), `saving`
    = status_quo - share, and its `payback_year`."""

    partner: str
    share: Decimal
    share_pct: Decimal
    credit: Decimal
    pays: Decimal
    status_quo: Decimal | None
    saving: Decimal | None
    payback_year: int | None


@dataclass(slots=True)
class YearShare:
    """One year: its total and each partner's amount (adding up to the total exactly)."""

    year: int
    total: Decimal
    partners: list[tuple[str, Decimal]]


@dataclass(slots=True)
class Allocation:
    """The split of a proposal's costs by one agreement: `method` in words, the horizon's `total`, each partner's
    share, each year's split, the partner left out (`without`) and its `exit_cost`."""

    method: str
    total: Decimal
    partners: list[PartnerShare]
    years: list[YearShare]
    without: str | None = None
    exit_cost: Decimal | None = None
    horizon: int = 5

    def to_json(self) -> dict[str, Any]:
        """The dict the `risk` command prints: money as numbers with two decimals, share_pct as a percentage."""
        return {
            "method": self.method,
            "total": _num(self.total),
            "partners": [{"partner": p.partner, "share": _num(p.share), "share_pct": _num(p.share_pct),
                          "credit": _num(p.credit), "pays": _num(p.pays), "status_quo": _num(p.status_quo),
                          "saving": _num(p.saving), "payback_year": p.payback_year} for p in self.partners],
            "years": [{"year": y.year, "total": _num(y.total),
                       "partners": [{"partner": name, "amount": _num(amount)} for name, amount in y.partners]}
                      for y in self.years],
            "without": self.without,
            "exit_cost": _num(self.exit_cost),
        }


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# --- refusals ---------------------------------------------------------------------------------------------------

def _refuse(where: str, field_name: str, problem: str) -> RefusedError:
    return RefusedError(f"{where}: {field_name}: {problem}" if where else f"{field_name}: {problem}")


def _described(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, numbers.Real):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return f"a {type(value).__name__}"


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return math.isfinite(value)
    if kind is int:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _line_place(line: CostLine, index: int) -> str:
    return f"cost line {line.name!r}" if line.name else f"cost line {index + 1}"


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) or "none yet"


# --- words ------------------------------------------------------------------------------------------------------

def _base_words(base: str) -> str:
    if base == "equal":
        return "equal shares"
    if base.startswith("driver:"):
        return base[len("driver:"):].replace("_", " ")
    return base.replace("_", " ")


def _pct(fraction_or_percent: float) -> str:
    return f"{round(fraction_or_percent, 2):g}"


def method_label(method: Method) -> str:
    """The method in words for people, e.g. "Blend: 54% calls for service, 23% assessed value, 23% population"
    (a blend's parts by weight, largest first)."""
    kind = method.kind
    if kind == "equal":
        return "Equal shares"
    if kind in ("population", "assessed_value"):
        return f"By {_base_words(kind)}"
    if kind == "driver":
        return f"By {_base_words('driver:' + (method.driver or ''))}"
    if kind == "blend":
        parts = sorted(method.weights.items(), key=lambda kv: (-kv[1], _base_words(kv[0])))
        return "Blend: " + ", ".join(f"{_pct(w * 100)}% {_base_words(b)}" for b, w in parts)
    if kind == "base_plus_usage":
        base = method.base_share or 0.0
        return (f"Base plus usage: {_pct(base * 100)}% in equal shares, {_pct((1 - base) * 100)}% by "
                f"{_base_words('driver:' + (method.driver or ''))}")
    if kind == "fixed":
        return "Fixed: " + ", ".join(f"{p} {_pct(v)}%" for p, v in method.percentages.items())
    return kind


def agreement_label(agreement: Agreement) -> str:
    """The agreement's method in words, with its phase-in if it has one."""
    label = method_label(agreement.method)
    if agreement.phase_in_from is not None and agreement.phase_in_years > 1:
        label += (f", phased in over {agreement.phase_in_years} years from: "
                  f"{method_label(agreement.phase_in_from)}")
    return label


# --- reading a method -------------------------------------------------------------------------------------------

def _check_base_name(base: Any, where: str) -> str:
    if isinstance(base, str) and (base in BASES or (base.startswith("driver:") and base[len("driver:"):].strip())):
        return base
    raise _refuse(where, "blend weights",
                  f"a base among {_names(BASES)} or driver:NAME, got {_described(base)}")


def _number_text(text: str, place: str, field_name: str) -> float:
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1] if percent else raw)
    except ValueError:
        raise _refuse(place, field_name, f"a number, got {raw!r}") from None
    return value / 100 if percent else value


def parse_method(text: str, weights: Sequence[str] = (), *, base_share: float | None = None,
                 percentages: Mapping[str, float] | Sequence[str] | None = None) -> Method:
    """A method from words as the command line and the forms give it: "equal", "population", "assessed_value",
    "driver:NAME", "blend" with weights ["population=0.23", "assessed_value=0.23", "driver:calls=0.54"] (a
    weight may be written as a percentage: "population=23%"), "base_plus_usage:NAME" with `base_share`, and
    "fixed" with `percentages` (partner -> percent, or ["Town A=60", ...]). The method is checked (bases, weights
    adding up to 1, base_share from 0 to 1); fixed percentages are checked against the partners when used."""
    if not isinstance(text, str):
        raise _refuse("", "method", f"one of {_names(METHODS)}, got {_described(text)}")
    word = text.strip()
    kind, _, driver = word.partition(":")
    kind, driver = kind.strip(), driver.strip()
    if weights and kind != "blend":
        raise _refuse("", "weights", f"weights only with a blend, got them with {word!r}")
    if kind == "driver" or kind == "base_plus_usage":
        if not driver:
            raise _refuse("", "method", f"{kind}:NAME with the name of a usage figure (e.g. {kind}:calls_for_service)"
                                        f", got {word!r}")
    elif driver:
        raise _refuse("", "method", f"one of {_names(METHODS)} (a driver's name only after driver: or "
                                    f"base_plus_usage:), got {word!r}")
    if kind == "blend":
        parsed: dict[str, float] = {}
        for item in weights:
            base, sep, value = str(item).partition("=")
            base = base.strip()
            if not sep or not base:
                raise _refuse("", "blend weights", f"base=weight (e.g. population=0.25), got {item!r}")
            _check_base_name(base, "")
            if base in parsed:
                raise _refuse("", "blend weights", f"each base once, got {base!r} twice")
            parsed[base] = _number_text(value, "blend weights", base)
        method = Method("blend", weights=parsed)
    elif kind == "fixed":
        given: dict[str, float] = {}
        if isinstance(percentages, Mapping):
            given = dict(percentages)
        elif percentages:
            for item in percentages:
                name, sep, value = str(item).rpartition("=")
                if not sep or not name.strip():
                    raise _refuse("", "fixed percentages", f"partner=percent (e.g. Town A=60), got {item!r}")
                given[name.strip()] = _number_text(value.rstrip("%"), "fixed percentages", name.strip())
        method = Method("fixed", percentages=given)
    elif kind == "base_plus_usage":
        method = Method("base_plus_usage", driver=driver, base_share=base_share)
    elif kind == "driver":
        method = Method("driver", driver=driver)
    else:
        method = Method(kind)
    check_method(method)
    return method


def check_method(method: Method, partners: Sequence[str] | None = None, where: str = "") -> None:
    """Refuse, in words, a method that cannot split anything: an unknown kind or base, blend weights that are
    negative or do not add up to 1, a base_share outside 0..1, a missing driver name; and, when `partners` (names)
    are given, fixed percentages that are not one per partner or do not add up to 100."""
    if not isinstance(method, Method) or method.kind not in METHODS:
        raise _refuse(where, "method", f"one of {_names(METHODS)}, got "
                                       f"{_described(getattr(method, 'kind', method))}")
    kind = method.kind
    if kind in ("driver", "base_plus_usage") and not (isinstance(method.driver, str) and method.driver.strip()):
        raise _refuse(where, "driver", f"the name of a usage figure for {kind} (e.g. calls_for_service), "
                                       f"got {_described(method.driver)}")
    if kind == "blend":
        if not method.weights:
            raise _refuse(where, "blend weights", "at least one base with its weight, got none")
        for base, weight in method.weights.items():
            _check_base_name(base, where)
            if not _is_number(weight) or weight < 0:
                raise _refuse(where, "blend weights", f"{base}: a weight of 0 or more, got {_described(weight)}")
        total = math.fsum(method.weights.values())
        if abs(total - 1) > WEIGHT_TOLERANCE:
            raise _refuse(where, "blend weights", f"weights that add up to 1, got {total:g}")
    if kind == "base_plus_usage":
        share = method.base_share
        if not _is_number(share) or not 0 <= share <= 1:  # type: ignore[operator]
            raise _refuse(where, "base_share", f"the fraction split equally, from 0 to 1, got {_described(share)}")
    if kind == "fixed":
        for name, percent in method.percentages.items():
            if not _is_number(percent) or percent < 0:
                raise _refuse(where, "fixed percentages", f"{name}: a percentage of 0 or more, got "
                                                          f"{_described(percent)}")
        if partners is not None:
            missing = [p for p in partners if p not in method.percentages]
            extra = [p for p in method.percentages if p not in partners]
            if missing or extra:
                got = (f"none for {_names(missing)}" if missing else "") + ("; " if missing and extra else "") + \
                      (f"one for {_names(extra)}, not a partner" if extra else "")
                raise _refuse(where, "fixed percentages", f"one percentage for each partner ({_names(partners)}), "
                                                          f"got {got}")
        total = math.fsum(method.percentages.values())
        if abs(total - 100) > PERCENT_TOLERANCE:
            raise _refuse(where, "fixed percentages", f"percentages that add up to 100, got {total:g}")


# --- fractions --------------------------------------------------------------------------------------------------

def _base_fractions(base: str, partners: Sequence[PartnerFigures]) -> list[float]:
    """Each partner's fraction of `base`: its figure over the sum of all; refused when a partner lacks the figure
    or every figure is 0."""
    n = len(partners)
    if base == "equal":
        return [1.0 / n] * n
    if base.startswith("driver:"):
        name = base[len("driver:"):]
        values = [p.drivers.get(name) for p in partners]
        field_name, words = f"drivers[{name}]", _base_words(base)
    else:
        values = [getattr(p, base) for p in partners]
        field_name, words = base, _base_words(base)
    for p, v in zip(partners, values, strict=True):
        if not _is_number(v) or v < 0:  # type: ignore[operator]
            raise _refuse(f"partner {p.name!r}", field_name,
                          f"a figure of 0 or more to split by {words}, got {_described(v)}")
    total = math.fsum(values)  # type: ignore[arg-type]
    if total <= 0:
        raise _refuse("partners", field_name, f"more than 0 for at least one partner to split by {words}, "
                                              "got 0 for every partner")
    return [v / total for v in values]  # type: ignore[operator]


def _cached(base: str, partners: Sequence[PartnerFigures], cache: dict[str, list[float]] | None) -> list[float]:
    if cache is None:
        return _base_fractions(base, partners)
    fractions = cache.get(base)
    if fractions is None:
        fractions = cache[base] = _base_fractions(base, partners)
    return fractions


def _fractions(method: Method, partners: Sequence[PartnerFigures],
               cache: dict[str, list[float]] | None = None) -> list[float]:
    """The fractions of a checked method, in partner order (adding up to 1 within float rounding). `cache` keeps
    each base's fractions for the next method over the same partners (a comparison); they are not to be changed."""
    kind = method.kind
    if kind in BASES:
        return _cached(kind, partners, cache)
    if kind == "driver":
        return _cached(f"driver:{method.driver}", partners, cache)
    if kind == "blend":
        out = [0.0] * len(partners)
        for base, weight in method.weights.items():
            if weight:
                for i, f in enumerate(_cached(base, partners, cache)):
                    out[i] += weight * f
        return out
    if kind == "base_plus_usage":
        base = float(method.base_share)  # type: ignore[arg-type]
        usage = _cached(f"driver:{method.driver}", partners, cache) if base < 1 else [0.0] * len(partners)
        even = base / len(partners)
        return [even + (1 - base) * u for u in usage]
    # fixed
    total = math.fsum(method.percentages[p.name] for p in partners)
    if total <= 0:
        raise _refuse("fixed percentages", "percentages", "more than 0 for at least one partner, got 0 for every "
                                                          "partner")
    return [method.percentages[p.name] / total for p in partners]


def fractions_for(method: Method, partners: Sequence[PartnerFigures]) -> dict[str, float]:
    """Each partner's fraction of a total by `method` (adding up to 1), after checking the method and the
    partners' figures it needs."""
    _check_partners(partners)
    check_method(method, [p.name for p in partners])
    return dict(zip((p.name for p in partners), _fractions(method, partners), strict=True))


def limit(fractions: Sequence[float], floors: Sequence[float], caps: Sequence[float]) -> list[float]:
    """Fractions held within each partner's floor and cap (fractions of 1), the rest moved pro rata.

    Each round scales the partners not yet held so that all add up to 1 (each keeps its fraction in proportion to
    the others'), then looks at who breaks a floor (short by a total D) or a cap (over by a total E). If D > E,
    the partners below their floors are held at them (the others will come down, so a cap broken now may not be
    broken then); if E > D, those above their caps are held at them; if equal, both. The rounds repeat until no
    one breaks a limit. The result is the one where every partner not held pays the same multiple of its own
    fraction, and a partner is held only if that multiple would put it past its limit: being capped never makes a
    partner pay more than it would without the cap. When the partners not held all have a fraction of 0, the
    rest is split equally among them. Feasibility (floors <= caps, floors adding up to at most 1, caps to at least
    1) is the caller's to check first."""
    n = len(fractions)
    out = list(fractions)
    held = [False] * n
    while True:
        free = [i for i in range(n) if not held[i]]
        if not free:
            return out
        remaining = 1.0 - math.fsum(out[i] for i in range(n) if held[i])
        weight = math.fsum(fractions[i] for i in free)
        for i in free:
            out[i] = fractions[i] * remaining / weight if weight > 0 else remaining / len(free)
        low = [i for i in free if out[i] < floors[i] - LIMIT_TOLERANCE]
        high = [i for i in free if out[i] > caps[i] + LIMIT_TOLERANCE]
        if not low and not high:
            return out
        short = math.fsum(floors[i] - out[i] for i in low)
        over = math.fsum(out[i] - caps[i] for i in high)
        if short >= over:
            for i in low:
                out[i], held[i] = floors[i], True
        if over >= short:
            for i in high:
                out[i], held[i] = caps[i], True


def split_cents(total: int, fractions: Sequence[float]) -> list[int]:
    """`total` cents split by `fractions` with largest-remainder rounding: each gets the whole cents of its quota
    total x fraction, and the cents left go one each to the largest remainders, ties to the earlier partner
    (remainders within a millionth of a cent count as equal, so float noise does not break a tie). The amounts add
    up to `total` exactly, whatever the fractions' float rounding. `total` is 0 or more, the fractions too."""
    if total < 0:
        raise ValueError(f"total: 0 cents or more, got {total}")
    quotas = [total * f for f in fractions]
    amounts = list(map(int, quotas))  # the whole cents (q >= 0; a float error just below 0 gives 0)
    left = total - sum(amounts)
    if left:
        keys = [int(r * 1e6 + 0.5) for r in map(operator.sub, quotas, amounts)]  # remainders in millionths
        order = sorted(range(len(quotas)), key=keys.__getitem__, reverse=True)  # stable: ties keep partner order
        if 0 < left <= len(order):  # always, unless the fractions' float error reached a whole cent
            for i in order[:left]:
                amounts[i] += 1
            return amounts
        while left > 0:
            for i in order[:left]:
                amounts[i] += 1
            left = total - sum(amounts)
        while left < 0:
            for i in reversed(order):
                if left < 0 and amounts[i] > 0:
                    amounts[i] -= 1
                    left += 1
    return amounts


def split_rows(totals: Sequence[int], rows: Sequence[Sequence[float]]) -> list[list[int]]:
    """`split_cents` of many years at once (each total with its row of fractions, every row as long), with numpy:
    the same float operations in the same order, so the same amounts; a row whose float error reached a whole cent
    (or a total too large for a float to hold every cent) goes through `split_cents` itself."""
    if not rows:
        return []
    if max(totals) >= 2**50:
        return [split_cents(t, f) for t, f in zip(totals, rows, strict=True)]
    t = np.asarray(totals, dtype=np.float64)
    quotas = t[:, None] * np.asarray(rows, dtype=np.float64)
    amounts = np.trunc(quotas)
    keys = np.trunc((quotas - amounts) * 1e6 + 0.5)
    left = t - amounts.sum(axis=1)
    order = np.argsort(-keys, axis=1, kind="stable")  # largest remainder first, ties in partner order
    ranks = np.argsort(order, axis=1)
    out: list[list[int]] = (amounts + (ranks < left[:, None])).astype(np.int64).tolist()
    for i in np.flatnonzero((left < 0) | (left > quotas.shape[1])).tolist():
        out[i] = split_cents(totals[i], rows[i])
    return out


# --- checking the inputs ----------------------------------------------------------------------------------------

def _check_partners(partners: Sequence[PartnerFigures]) -> None:
    if not partners:
        raise _refuse("", "partners", "at least one partner, got none")
    seen: set[str] = set()
    for p in partners:
        if not isinstance(p.name, str) or not p.name.strip():
            raise _refuse("", "partners", f"a name for each partner, got {_described(p.name)}")
        if p.name in seen:
            raise _refuse("", "partners", f"each partner once, got {p.name!r} twice")
        seen.add(p.name)
        for name in ("status_quo_cost", "exit_cost"):
            value = getattr(p, name)
            if value is not None and (not _is_number(value) or value < 0):
                raise _refuse(f"partner {p.name!r}", name, f"an amount of 0 or more, got {_described(value)}")


def _check_lines(lines: Sequence[CostLine], names: Sequence[str]) -> None:
    for i, line in enumerate(lines):
        place = _line_place(line, i)
        if line.kind not in KINDS:
            raise _refuse(place, "kind", f"one of {_names(KINDS)}, got {_described(line.kind)}")
        if not _is_number(line.amount) or line.amount < 0:
            raise _refuse(place, "amount", f"an amount of 0 or more, got {_described(line.amount)}")
        if not _is_whole(line.first_year) or line.first_year < 1:
            raise _refuse(place, "first_year", f"a whole number of 1 or more (1 = the first year), got "
                                               f"{_described(line.first_year)}")
        if not _is_whole(line.years) or line.years < 1:
            raise _refuse(place, "years", f"a whole number of 1 or more, got {_described(line.years)}")
        if line.credit_partner is not None and line.credit_partner not in names:
            raise _refuse(place, "credit_partner", f"one of the partners ({_names(names)}), got "
                                                   f"{_described(line.credit_partner)}")


def _check_agreement(agreement: Agreement, names: Sequence[str]) -> None:
    horizon = agreement.horizon
    if not _is_whole(horizon) or not 1 <= horizon <= MAX_HORIZON:
        raise _refuse("", "horizon", f"a whole number of years from 1 to {MAX_HORIZON}, got {_described(horizon)}")
    for what, limits in (("floors", agreement.floors), ("caps", agreement.caps)):
        for name, percent in limits.items():
            if name not in names:
                raise _refuse(what, name, f"one of the partners ({_names(names)}), got {name!r}")
            if not _is_number(percent) or not 0 <= percent <= 100:
                raise _refuse(what, name, f"a percentage from 0 to 100, got {_described(percent)}")
    years = agreement.phase_in_years
    if not _is_whole(years) or years < 0:
        raise _refuse("", "phase_in_years", f"a whole number of 0 or more, got {_described(years)}")
    if agreement.phase_in_from is not None and years < 1:
        raise _refuse("", "phase_in_years", f"1 or more years to move from {method_label(agreement.phase_in_from)}"
                                            f", got {years}")
    if agreement.phase_in_from is None and years:
        raise _refuse("", "phase_in_from", f"the method to phase in from over {years} years, got nothing")


def _check_limits(floors: Mapping[str, float], caps: Mapping[str, float], names: Sequence[str], *,
                  every_partner: bool = True) -> None:
    """Floors and caps that some split can meet: each floor at most its cap, floors adding up to at most 100,
    caps (100 for a partner without one) adding up to at least 100 (checked only when `names` are every partner)."""
    for name in names:
        if name in floors and name in caps and floors[name] > caps[name]:
            raise _refuse("floors", name, f"a floor at most its cap ({_pct(caps[name])}%), got {_pct(floors[name])}%")
    total_floors = math.fsum(floors.get(n, 0.0) for n in names)
    if total_floors > 100 + PERCENT_TOLERANCE:
        raise _refuse("", "floors", f"floors that add up to 100% or less (no split can give everyone its floor), "
                                    f"got {_pct(total_floors)}%")
    total_caps = math.fsum(caps.get(n, 100.0) for n in names)
    if every_partner and total_caps < 100 - PERCENT_TOLERANCE:
        raise _refuse("", "caps", f"caps that add up to 100% or more (no split can cover the total within them), "
                                  f"got {_pct(total_caps)}%")


def check_partners(agreement: Agreement, partners: Sequence[str]) -> None:
    """Refuse, in words, an agreement that names other partners than `partners` (names): fixed percentages one per
    partner (of its method, and of the method it phases in from), floors and caps of these partners only, and
    floors and caps that some split can meet."""
    check_method(agreement.method, partners, "method" if agreement.phase_in_from is not None else "")
    if agreement.phase_in_from is not None:
        check_method(agreement.phase_in_from, partners, "phase_in_from")
    for what, limits in (("floors", agreement.floors), ("caps", agreement.caps)):
        for name in limits:
            if name not in partners:
                raise _refuse(what, name, f"one of the partners ({_names(partners)}), got {name!r}")
    _check_limits(agreement.floors, agreement.caps, partners, every_partner=bool(partners))


def _without_fixed(method: Method | None, partner: str) -> Method | None:
    if method is None or method.kind != "fixed":
        return method
    kept = {p: v for p, v in method.percentages.items() if p != partner}
    total = math.fsum(kept.values())
    if total <= 0:
        raise _refuse("fixed percentages", "percentages", f"more than 0 for a partner staying after {partner} "
                                                          "withdraws, got 0 for every one")
    return replace(method, percentages={p: v * 100 / total for p, v in kept.items()})


# --- allocation -------------------------------------------------------------------------------------------------

def _cents(amount: float) -> int:
    """An amount in whole cents, rounded half up from its text (0.125 -> 13)."""
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _money(cents: int) -> Decimal:
    return Decimal(cents) * CENT  # exact: 12345 -> Decimal("123.45")


@dataclass
class _Plan:
    """What every method of a comparison shares: the partners, each year's total and each partner's credits in
    cents, the floors and caps as fractions."""

    partners: list[PartnerFigures]
    horizon: int
    totals: list[int]  # totals[y - 1]: year y's total in cents
    credits: list[int]  # per partner, over the horizon
    floors: list[float]
    caps: list[float]
    without: str | None
    exit_cost: Decimal | None
    bases: dict[str, list[float]] = field(default_factory=dict)  # each base's fractions, once computed
    status_quo: list[int | None] = field(default_factory=list)  # per partner, cents a year (None: not given)
    money_totals: list[Decimal] = field(default_factory=list)  # each year's total as money


def _plan(lines: Sequence[CostLine], partners: Sequence[PartnerFigures], agreement: Agreement,
          without: str | None) -> _Plan:
    _check_partners(partners)
    names = [p.name for p in partners]
    _check_lines(lines, names)
    _check_agreement(agreement, names)
    exit_cost = None
    if without is not None:
        if without not in names:
            raise _refuse("", "without", f"one of the partners ({_names(names)}), got {_described(without)}")
        if len(names) == 1:
            raise _refuse("", "without", f"a partner whose leaving leaves at least one, got {without!r}, "
                                         "the only partner")
        gone = next(p for p in partners if p.name == without)
        exit_cost = None if gone.exit_cost is None else _money(_cents(gone.exit_cost))
        partners = [p for p in partners if p.name != without]
        lines = [line for line in lines if line.credit_partner != without]  # the asset leaves with its owner
        names = [p.name for p in partners]
    floors = {n: v for n, v in agreement.floors.items() if n in names}
    caps = {n: v for n, v in agreement.caps.items() if n in names}
    _check_limits(floors, caps, names)
    horizon = agreement.horizon
    totals = [0] * horizon
    credits = dict.fromkeys(names, 0)
    for line in lines:
        cents = _cents(line.amount)
        first = line.first_year
        last = first if line.kind == "one_time" else min(horizon, first + line.years - 1)
        if first > horizon:
            continue
        for y in range(first, last + 1):
            totals[y - 1] += cents
        if line.credit_partner is not None:
            credits[line.credit_partner] += cents * (last - first + 1)
    return _Plan(partners=list(partners), horizon=horizon, totals=totals, credits=[credits[n] for n in names],
                 floors=[floors.get(n, 0.0) / 100 for n in names], caps=[caps.get(n, 100.0) / 100 for n in names],
                 without=without, exit_cost=exit_cost,
                 status_quo=[None if p.status_quo_cost is None else _cents(p.status_quo_cost) for p in partners],
                 money_totals=[CENT * t for t in totals])


def _year_fractions(plan: _Plan, method: Method, start: Method | None, steps: int) -> list[list[float]]:
    """Each year's fractions: the method's, or during a phase-in (1 - t) x start + t x method with t = min(1, k /
    steps) in year k; then floors and caps."""
    to = _fractions(method, plan.partners, plan.bases)
    limited = any(plan.floors) or any(c < 1 for c in plan.caps)
    out: list[list[float]] = []
    memo: dict[float, list[float]] = {}
    old = _fractions(start, plan.partners, plan.bases) if start is not None and steps else None
    for year in range(1, plan.horizon + 1):
        t = 1.0 if old is None else min(1.0, year / steps)
        if t not in memo:
            blended = to if old is None or t == 1.0 else [(1 - t) * a + t * b for a, b in zip(old, to, strict=True)]
            memo[t] = limit(blended, plan.floors, plan.caps) if limited else blended
        out.append(memo[t])
    return out


def _result(plan: _Plan, by_year: list[list[int]], label: str) -> Allocation:
    """The allocation from each year's amounts in cents (by_year[y - 1][i]: partner i in year y)."""
    names = [p.name for p in plan.partners]
    total = sum(plan.totals)
    columns = list(zip(*by_year, strict=True))  # each partner's amounts, year by year
    money = CENT.__mul__  # cents -> Decimal: 12345 -> Decimal("123.45"), exact (Decimal only at the end)
    out_partners = []
    for name, column, credit_cents, yearly in zip(names, columns, plan.credits, plan.status_quo, strict=True):
        cents = sum(column)
        share = money(cents)
        pct = money((cents * 20_000 + total) // (2 * total) if total else 0)  # hundredths, half up
        credit = money(credit_cents)
        status_quo = saving = payback = None
        if yearly is not None:
            status_quo = money(yearly * plan.horizon)
            saving = status_quo - share
            payback = payback_year(yearly, column)
        out_partners.append(PartnerShare(name, share, pct, credit, share - credit if credit_cents else share,
                                         status_quo, saving, payback))
    years = [YearShare(y, year_total, list(zip(names, map(money, amounts), strict=True)))
             for y, (year_total, amounts) in enumerate(zip(plan.money_totals, by_year, strict=True), start=1)]
    return Allocation(method=label, total=money(total), partners=out_partners, years=years, without=plan.without,
                      exit_cost=plan.exit_cost, horizon=plan.horizon)


def payback_year(status_quo_per_year: float, amounts: Sequence[float]) -> int | None:
    """The first year y (1-based) in which the cumulative sum over years 1..y of (status_quo_per_year - amount of
    that year) is 0 or more; 1 when the first year already is; None when no year within `amounts` is."""
    running = 0.0
    for year, amount in enumerate(amounts, start=1):
        running += status_quo_per_year - amount
        if running >= 0:
            return year
    return None


def allocate(lines: Sequence[CostLine], partners: Sequence[PartnerFigures], agreement: Agreement, *,
             without: str | None = None) -> Allocation:
    """Split `lines` among `partners` by `agreement` over its horizon (the rules are in this module's docstring);
    with `without`, as if that partner had withdrawn: its floors and caps dropped, the lines it is credited for
    removed (the asset leaves with it), fixed percentages re-normalised over the partners who stay, and its exit
    charge reported as `exit_cost`. Inputs that cannot be split are refused in words (RefusedError)."""
    _check_partners(partners)
    names = [p.name for p in partners]
    check_method(agreement.method, names, "method" if agreement.phase_in_from is not None else "")
    if agreement.phase_in_from is not None:
        check_method(agreement.phase_in_from, names, "phase_in_from")
    plan = _plan(lines, partners, agreement, without)
    method, start = agreement.method, agreement.phase_in_from
    if without is not None:
        method, start = _without_fixed(method, without), _without_fixed(start, without)  # type: ignore[assignment]
    shown = replace(agreement, method=method, phase_in_from=start)  # type: ignore[arg-type]
    fractions = _year_fractions(plan, method, start, agreement.phase_in_years if start is not None else 0)
    return _result(plan, split_rows(plan.totals, fractions), agreement_label(shown))


def compare(lines: Sequence[CostLine], partners: Sequence[PartnerFigures], agreement: Agreement,
            methods: Sequence[Method], *, without: str | None = None) -> list[Allocation]:
    """One allocation per method, side by side, with the agreement's lines, horizon, floors and caps (its own
    method and phase-in are not used: each method is shown as it would stand from year 1)."""
    _check_partners(partners)
    names = [p.name for p in partners]
    for i, m in enumerate(methods):
        check_method(m, names, f"methods[{i}]" if len(methods) > 1 else "")
    plan = _plan(lines, partners, replace(agreement, phase_in_from=None, phase_in_years=0), without)
    used = [_without_fixed(m, without) if without is not None else m for m in methods]
    rows = [fr for m in used for fr in _year_fractions(plan, m, None, 0)]  # type: ignore[arg-type]
    amounts = split_rows(plan.totals * len(used), rows)  # every method's years in one batch
    h = plan.horizon
    return [_result(plan, amounts[k * h:(k + 1) * h], method_label(m))  # type: ignore[arg-type]
            for k, m in enumerate(used)]


# --- stored form ------------------------------------------------------------------------------------------------

def method_to_json(method: Method) -> dict[str, Any]:
    """A method as stored: {"method": kind} and only the fields its kind uses."""
    out: dict[str, Any] = {"method": method.kind}
    if method.kind in ("driver", "base_plus_usage"):
        out["driver"] = method.driver
    if method.kind == "blend":
        out["weights"] = dict(method.weights)
    if method.kind == "base_plus_usage":
        out["base_share"] = method.base_share
    if method.kind == "fixed":
        out["percentages"] = dict(method.percentages)
    return out


def method_from_json(value: Any, where: str = "") -> Method:
    """A method from its stored form (method_to_json), checked; "driver:NAME" and "base_plus_usage:NAME" are read
    as the kind and its driver."""
    if not isinstance(value, Mapping):
        raise _refuse(where, "method", f"an object with a method, got {_described(value)}")
    word = value.get("method")
    if not isinstance(word, str):
        raise _refuse(where, "method", f"one of {_names(METHODS)}, got {_described(word)}")
    kind, _, driver = word.partition(":")
    weights = value.get("weights") or {}
    percentages = value.get("percentages") or {}
    for name, given in (("weights", weights), ("percentages", percentages)):
        if not isinstance(given, Mapping):
            raise _refuse(where, name, f"an object (name -> number), got {_described(given)}")
    method = Method(kind=kind.strip(), driver=(driver.strip() or value.get("driver")) or None,
                    weights=dict(weights), base_share=value.get("base_share"), percentages=dict(percentages))
    check_method(method, where=where)
    return method


def agreement_to_json(agreement: Agreement) -> dict[str, Any]:
    """An agreement as a proposal stores it: the method's fields at the top, then floors, caps and the phase-in
    (each only when set). The horizon is not in it (the proposal keeps its own cost horizon)."""
    out = method_to_json(agreement.method)
    if agreement.floors:
        out["floors"] = dict(agreement.floors)
    if agreement.caps:
        out["caps"] = dict(agreement.caps)
    if agreement.phase_in_from is not None:
        out["phase_in"] = {"from": method_to_json(agreement.phase_in_from), "years": agreement.phase_in_years}
    return out


def agreement_from_json(value: Any, *, horizon: int | None = None) -> Agreement:
    """An agreement from its stored form (agreement_to_json), checked as far as it can be without the partners;
    other keys (a rationale, who chose it) are ignored. The horizon is `horizon`, else the value's "horizon", else
    5."""
    method = method_from_json(value)
    for name in ("floors", "caps"):
        given = value.get(name) or {}
        if not isinstance(given, Mapping):
            raise _refuse("", name, f"an object (partner -> percent), got {_described(given)}")
        for partner, percent in given.items():
            if not _is_number(percent) or not 0 <= percent <= 100:
                raise _refuse(name, partner, f"a percentage from 0 to 100, got {_described(percent)}")
    start, years = None, 0
    phase = value.get("phase_in")
    if phase:
        if not isinstance(phase, Mapping):
            raise _refuse("", "phase_in", f"an object with from and years, got {_described(phase)}")
        start = method_from_json(phase.get("from"), "phase_in")
        years = phase.get("years")
        if not _is_whole(years) or years < 1:
            raise _refuse("phase_in", "years", f"a whole number of 1 or more, got {_described(years)}")
    chosen = horizon if horizon is not None else value.get("horizon", 5)
    agreement = Agreement(method=method, horizon=chosen, floors=dict(value.get("floors") or {}),
                          caps=dict(value.get("caps") or {}), phase_in_from=start, phase_in_years=years)
    named = list(dict.fromkeys([*agreement.floors, *agreement.caps]))
    _check_agreement(agreement, named)
    _check_limits(agreement.floors, agreement.caps, named, every_partner=False)
    return agreement
