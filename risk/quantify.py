"""Risk in money, FAIR-style (docs/COSTS.md, Risk in money): the pure numerical core. numpy only; no database, no UI.

A risk is priced by a frequency (expected events per year, the λ of a Poisson count) and the loss of one event given
as a 90% range (its 5th and 95th percentiles), fitted to a lognormal:

    μ = (ln lo + ln hi) / 2,    σ = (ln hi − ln lo) / (2 × Z90),    Z90 = Φ⁻¹(0.95) = 1.6448536269514722

so that exp(μ ± Z90·σ) gives back lo and hi exactly. The expected annual loss in closed form is λ·exp(μ + σ²/2).
The issue writes Z as 1.6449 (rounded); the exact quantile is used here. It is the one that gives the issue's worked
figure: λ = 0.1 and a 100,000..1,000,000 range give 40,400.13 with the exact Z, 40,399.57 with 1.6449.

`simulate` draws, per risk and simulated year, N ~ Poisson(λ) events and sums N independent lognormal losses; it
reports per risk and for the proposal's total the mean annual loss (EAL) and the 50th/90th/95th/99th percentile
annual loss, the loss exceedance curve of the total, and (for risks the caller gives partner weights) each
partner's share of the EAL. `compare` sets an inherent register against a residual one: what the treatments buy.

A calibration table (`Calibration`, `SUGGESTED_CALIBRATION`) maps each qualitative level to a frequency and a loss
range, so that a qualitative register can be priced; such figures are marked derived.
"""

from __future__ import annotations

import math
import numbers
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import numpy as np

from risk.errors import RefusedError

Z90 = 1.6448536269514722  # Φ⁻¹(0.95): the 95th percentile of the standard normal (the issue rounds it to 1.6449)

MAX_ITERATIONS = 10_000_000
MAX_FREQUENCY = 1_000.0  # events per year; more is not one risk but a process, and would take minutes to simulate
PERCENTILES = (50.0, 90.0, 95.0, 99.0)
EVENTS_PER_STEP = 1_000_000  # at most about this many single-event losses are drawn at once (8 MB each array)


# --- inputs ----------------------------------------------------------------------------------------------------

def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RefusedError(f"{what} must be a number, not {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise RefusedError(f"{what} must be a finite number, not {value!r}")
    return out


def _check_range(loss_low: object, loss_high: object, whose: str = "") -> tuple[float, float]:
    lo = _number(loss_low, f"{whose}the low end of the loss range (loss_low)")
    hi = _number(loss_high, f"{whose}the high end of the loss range (loss_high)")
    if lo <= 0:
        raise RefusedError(f"{whose}the low end of the loss range (loss_low) must be more than 0, not {lo:g}: a "
                           "lognormal loss is never zero")
    if hi <= lo:
        raise RefusedError(f"{whose}the high end of the loss range (loss_high, {hi:,.2f}) must be more than its low "
                           f"end (loss_low, {lo:,.2f})")
    return lo, hi


def _check_frequency(frequency: object, whose: str = "") -> float:
    lam = _number(frequency, f"{whose}the frequency (events per year)")
    if lam < 0:
        raise RefusedError(f"{whose}the frequency (events per year) must be 0 or more, not {lam:g}")
    if lam > MAX_FREQUENCY:
        raise RefusedError(f"{whose}the frequency must be at most {MAX_FREQUENCY:,.0f} events per year, not "
                           f"{lam:,.2f}")
    return lam


def fit_lognormal(loss_low: float, loss_high: float) -> tuple[float, float]:
    """(μ, σ) of the lognormal whose 5th and 95th percentiles are loss_low and loss_high (0 < loss_low < loss_high);
    otherwise RefusedError in words."""
    lo, hi = _check_range(loss_low, loss_high)
    ln_lo, ln_hi = math.log(lo), math.log(hi)
    return (ln_lo + ln_hi) / 2, (ln_hi - ln_lo) / (2 * Z90)


def expected_annual_loss(frequency: float, loss_low: float, loss_high: float) -> float:
    """λ·exp(μ + σ²/2): the closed-form mean annual loss (0.1, 100,000, 1,000,000 gives 40,400.13)."""
    lam = _check_frequency(frequency)
    mu, sigma = fit_lognormal(loss_low, loss_high)
    if lam == 0:
        return 0.0
    try:
        return lam * math.exp(mu + sigma * sigma / 2)
    except OverflowError:
        raise RefusedError(f"the loss range {loss_low:,.2f} to {loss_high:,.2f} is too wide: its mean loss is "
                           "beyond any number") from None


@dataclass(frozen=True)
class RiskFigures:
    """One risk in money. `partner_weights` say how its losses split among partners (non-negative, summing to 1);
    empty means the risk is not split. Checked on construction (RefusedError naming the risk and the field)."""

    risk_id: str
    frequency: float  # expected events per year (Poisson λ), ≥ 0
    loss_low: float  # 5th percentile of one event's loss
    loss_high: float  # 95th percentile
    derived: bool = False  # True when taken from the calibration table rather than given
    partner_weights: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.risk_id, str) or not self.risk_id.strip():
            raise RefusedError(f"a risk needs an id (risk_id), not {self.risk_id!r}")
        whose = f"risk {self.risk_id}: "
        object.__setattr__(self, "frequency", _check_frequency(self.frequency, whose))
        lo, hi = _check_range(self.loss_low, self.loss_high, whose)
        object.__setattr__(self, "loss_low", lo)
        object.__setattr__(self, "loss_high", hi)
        weights = {}
        for partner, w in dict(self.partner_weights or {}).items():
            if not isinstance(partner, str) or not partner.strip():
                raise RefusedError(f"{whose}a partner weight needs the partner's name, not {partner!r}")
            w = _number(w, f"{whose}the weight of partner {partner}")
            if w < 0:
                raise RefusedError(f"{whose}the weight of partner {partner} must be 0 or more, not {w:g}")
            weights[partner] = w
        if weights and abs(math.fsum(weights.values()) - 1) > 1e-6:
            raise RefusedError(f"{whose}the partner weights sum to {math.fsum(weights.values()):g}; they must sum "
                               "to 1 (or give none to leave the risk unsplit)")
        object.__setattr__(self, "partner_weights", MappingProxyType(weights))

    @property
    def lognormal(self) -> tuple[float, float]:
        return fit_lognormal(self.loss_low, self.loss_high)

    @property
    def expected_annual_loss(self) -> float:
        """The closed form λ·exp(μ + σ²/2)."""
        return expected_annual_loss(self.frequency, self.loss_low, self.loss_high)


# --- calibration -------------------------------------------------------------------------------------------------

def _level_key(level: str) -> str:
    return " ".join(str(level).split()).casefold()


def calibration_from_json(value: object) -> Calibration:
    """A calibration table as stored and exported: {level: [events per year, loss_low, loss_high]}. A level's name
    is text of at most 60 characters; at most 20 levels."""
    if not isinstance(value, Mapping):
        raise RefusedError(f"expected a calibration table (level -> [events per year, loss low, loss high]), got "
                           f"{type(value).__name__}")
    if len(value) > 20:
        raise RefusedError(f"a calibration table has at most 20 levels, got {len(value)}")
    for name in value:
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 60:
            raise RefusedError(f"calibration level {name!r}: expected a level's name (text of 1 to 60 characters)")
    rows = {}
    for name, row in value.items():
        if isinstance(row, Mapping):  # also {"frequency": .., "loss_low": .., "loss_high": ..}
            row = [row.get("frequency"), row.get("loss_low"), row.get("loss_high")]
        if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) != 3:
            raise RefusedError(f"calibration level {name!r}: needs three numbers (events per year, loss_low, "
                               f"loss_high), not {row!r}")
        rows[name.strip()] = tuple(row)
    return Calibration(rows)


def calibration_to_json(table: Calibration) -> dict[str, list[float]]:
    return {name: [freq, lo, hi] for name, (freq, lo, hi) in table.levels.items()}


@dataclass(frozen=True)
class Calibration:
    """Qualitative level name -> (events per year, loss_low, loss_high). Checked on construction."""

    levels: Mapping[str, tuple[float, float, float]]

    def __post_init__(self) -> None:
        checked = {}
        for name, row in dict(self.levels).items():
            whose = f"calibration level {name!r}: "
            try:
                freq, lo, hi = row
            except (TypeError, ValueError):
                raise RefusedError(f"{whose}needs three numbers (events per year, loss_low, loss_high), not "
                                   f"{row!r}") from None
            lo, hi = _check_range(lo, hi, whose)
            checked[name] = (_check_frequency(freq, whose), lo, hi)
        object.__setattr__(self, "levels", MappingProxyType(checked))

    def row(self, level: str) -> tuple[float, float, float] | None:
        """The level's (events per year, loss_low, loss_high); names match ignoring case and extra spaces."""
        if level in self.levels:
            return self.levels[level]
        key = _level_key(level)
        for name, row in self.levels.items():
            if _level_key(name) == key:
                return row
        return None

    def figures(self, risk_id: str, level: str, partner_weights: Mapping[str, float] | None = None
                ) -> RiskFigures | None:
        """The risk priced from its qualitative level (derived=True); None when the level is not in the table."""
        row = self.row(level)
        if row is None:
            return None
        return RiskFigures(risk_id, row[0], row[1], row[2], derived=True, partner_weights=partner_weights or {})

    def figures_from_scores(self, risk_id: str, likelihood: str, impact: str,
                            partner_weights: Mapping[str, float] | None = None) -> RiskFigures | None:
        """For a register scored on separate likelihood and impact levels: the frequency of the likelihood's level
        and the loss range of the impact's level (derived=True); None when either level is not in the table."""
        freq_row, loss_row = self.row(likelihood), self.row(impact)
        if freq_row is None or loss_row is None:
            return None
        return RiskFigures(risk_id, freq_row[0], loss_row[1], loss_row[2], derived=True,
                           partner_weights=partner_weights or {})


SUGGESTED_CALIBRATION = Calibration({
    # level: (events per year, 5th percentile loss of one event, 95th percentile)
    "Very Low": (0.05, 5_000.0, 50_000.0),  # about once in 20 years
    "Low": (0.1, 20_000.0, 200_000.0),  # once in 10 years
    "Moderate": (0.3, 100_000.0, 1_000_000.0),  # about once in 3 years
    "High": (1.0, 300_000.0, 3_000_000.0),  # once a year
    "Very High": (3.0, 1_000_000.0, 10_000_000.0),  # several times a year
})
"""A starting table for the five NIST SP 800-30 qualitative levels: frequencies 0.05, 0.1, 0.3, 1 and 3 events a year
and loss ranges (each ten-fold from its 5th to its 95th percentile) rising by about x3 to x5 a level, from
5,000..50,000 to 1,000,000..10,000,000. It is a starting point only, not a measurement: the team should calibrate it
against its own budgets, incident history and insurance figures before the money figures are relied on."""


# --- simulation ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stats:
    eal: float
    p50: float
    p90: float
    p95: float
    p99: float

    def to_json(self) -> dict:
        return {k: _cents(getattr(self, k)) for k in ("eal", "p50", "p90", "p95", "p99")}


@dataclass(frozen=True)
class RiskResult:
    risk_id: str
    frequency: float
    loss_low: float
    loss_high: float
    derived: bool
    eal: float  # the simulated mean annual loss
    p50: float
    p90: float
    p95: float
    p99: float
    mean_se: float  # the standard error of eal (sample standard deviation / sqrt(iterations))
    events: float = 0.0  # the simulated mean number of events per year (≈ frequency)

    def to_json(self) -> dict:
        return {"risk_id": self.risk_id, "frequency": self.frequency, "loss_low": _cents(self.loss_low),
                "loss_high": _cents(self.loss_high), "derived": self.derived,
                **{k: _cents(getattr(self, k)) for k in ("eal", "p50", "p90", "p95", "p99")}}


@dataclass(frozen=True)
class PartnerLoss:
    partner: str
    eal: float


def _cents(x: float) -> float:
    return round(float(x), 2)


@dataclass(frozen=True)
class Simulation:
    """The result of `simulate`. `annual` is the proposal's simulated total loss of every year (float64,
    iterations long), kept for the loss exceedance curve."""

    iterations: int
    seed: int
    risks: list[RiskResult]
    proposal: Stats
    partners: list[PartnerLoss]
    annual: np.ndarray = field(repr=False, compare=False)

    @cached_property
    def _positive_sorted(self) -> np.ndarray:
        return np.sort(self.annual[self.annual > 0])

    def exceedance_at(self, losses: Sequence[float] | np.ndarray) -> np.ndarray:
        """P(annual loss > x) for each x, from the simulated years."""
        pos = self._positive_sorted
        x = np.asarray(losses, dtype=float)
        return (pos.size - np.searchsorted(pos, x, side="right")) / self.iterations

    def loss_range(self) -> tuple[float, float] | None:
        """(the 1st percentile of the years with a loss, the largest annual loss); None when no year had a loss."""
        pos = self._positive_sorted
        if pos.size == 0:
            return None
        return float(pos[int(0.01 * (pos.size - 1))]), float(pos[-1])

    def exceedance(self, points: int = 50) -> list[tuple[float, float]]:
        """The loss exceedance curve of the proposal's annual loss: (x, P(annual loss > x)) for `points` losses x
        spaced evenly on a log scale from the 1st percentile of the years with a loss up to the largest annual
        loss (where the probability is 0). Non-increasing in x. Empty when no simulated year had a loss."""
        span = self.loss_range()
        if span is None:
            return []
        xs = _grid(span[0], span[1], points)
        return [(float(x), float(p)) for x, p in zip(xs, self.exceedance_at(xs), strict=True)]

    def to_json(self) -> dict:
        return {"iterations": self.iterations, "seed": self.seed, "risks": [r.to_json() for r in self.risks],
                "proposal": self.proposal.to_json(),
                "partners": [{"partner": p.partner, "eal": _cents(p.eal)} for p in self.partners]}


def _grid(lo: float, hi: float, points: int) -> np.ndarray:
    if isinstance(points, bool) or not isinstance(points, numbers.Integral) or points < 2:
        raise RefusedError(f"the exceedance curve needs at least 2 points, not {points!r}")
    return np.geomspace(lo, hi, int(points)) if hi > lo else np.full(int(points), hi)


def _stream(seed: int, risk_id: str) -> tuple[np.random.Generator, np.random.Generator]:
    """The risk's own two generators (event counts, event losses) from SeedSequence([seed, crc32(risk_id)]): another
    risk added or removed, the order of the risks, or the chunk size change nothing in this risk's draws."""
    counts, losses = np.random.SeedSequence([seed, zlib.crc32(risk_id.encode("utf-8"))]).spawn(2)
    return np.random.Generator(np.random.PCG64(counts)), np.random.Generator(np.random.PCG64(losses))


def _select(values: np.ndarray, kth: list[int]) -> None:
    """values.partition(kth) for ascending kth, done as one single-kth partition per kth on the part above the last
    (numpy's multi-kth partition is several times slower than that); a kth just above the last is a minimum."""
    lo = 0
    for k in kth:
        if k == lo:
            i = lo + int(np.argmin(values[lo:]))
            values[lo], values[i] = values[i], values[lo]
        else:
            values[lo:].partition(k - lo)
        lo = k + 1


def _percentiles(positive: np.ndarray, n: int, qs: Sequence[float] = PERCENTILES) -> list[float]:
    """np.percentile(values, qs) (its default 'linear' method, the same arithmetic) of n values of which only the
    positive ones are given (the rest are 0), with np.partition of just the positive ones. Reorders `positive`."""
    q = np.true_divide(np.asarray(qs, dtype=float), 100)
    virtual = (n - 1) * q
    below = np.floor(virtual).astype(np.int64)
    above = np.minimum(below + 1, n - 1)
    gamma = (virtual - below).tolist()
    zeros = n - positive.size
    _select(positive, sorted({int(i) - zeros for i in np.concatenate([below, above]) if i >= zeros}))

    def order(i: int) -> float:
        return 0.0 if i < zeros else float(positive[i - zeros])

    out = []
    for b, a, t in zip(below, above, gamma, strict=True):
        lo, hi = order(int(b)), order(int(a))
        diff = hi - lo
        out.append(float(hi - diff * (1 - t) if t >= 0.5 else lo + diff * t))
    return out


def _check_run(risks: Sequence[RiskFigures], iterations: object, seed: object, chunk: object) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) \
            or not 1 <= iterations <= MAX_ITERATIONS:
        raise RefusedError(f"the number of simulated years (iterations) must be a whole number from 1 to "
                           f"{MAX_ITERATIONS:,}, not {iterations!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise RefusedError(f"the seed must be a whole number, 0 or more, not {seed!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 1:
        raise RefusedError(f"the chunk (years simulated at a time) must be a whole number, 1 or more, not {chunk!r}")
    seen = set()
    for r in risks:
        if not isinstance(r, RiskFigures):
            raise RefusedError(f"a risk to simulate must be RiskFigures, not {type(r).__name__}")
        if r.risk_id in seen:
            raise RefusedError(f"risk {r.risk_id} is given twice: each risk is simulated once, under its own id")
        seen.add(r.risk_id)


def simulate(risks: Sequence[RiskFigures], iterations: int = 100_000, seed: int = 2026, *,
             progress: Callable[[float], None] | None = None, chunk: int = 200_000) -> Simulation:
    """Monte Carlo of `iterations` years. Per risk and year: N ~ Poisson(frequency) events, the year's loss the sum of
    N independent lognormal losses (fit_lognormal of the risk's range). A frequency of 0 gives zero loss.

    Reproducible: each risk draws from its own streams, `SeedSequence([seed, zlib.crc32(risk_id)])` spawned into
    one for the event counts and one for the event losses, so the same seed gives identical results, and adding,
    removing or reordering other risks or changing `chunk` leaves a risk's draws (and its results) unchanged. The
    same seed for an inherent and a residual register gives common random numbers (see `compare`).

    Work and memory: the risks are simulated one after another, each in steps of `chunk` years (fewer when the
    frequency is high, so that about 1,000,000 event losses at most are drawn at once). Kept throughout: the
    proposal's total per year (float64, 8 bytes a year) and one buffer of the current risk's non-zero annual losses
    (float64, at most 8 bytes a year, reused from risk to risk); per-risk percentiles are exact (np.partition of that
    buffer, the zero years counted, the same arithmetic as np.percentile). Memory therefore does not grow with the
    number of risks: 1,000,000 years x 40 risks needs about 16 MB plus a step's arrays (about 30 MB at most),
    10,000,000 years about 160 MB plus the step.

    `progress(fraction)` is called after each step (the last call with 1.0). Partner losses: for every risk the
    caller gave partner weights, each partner gets weight x the risk's simulated EAL; a risk without weights is
    not split, so the caller supplies weights for every risk it wants split (the partners' sum equals the
    proposal's EAL only when every risk has them).

    Refused (RefusedError, in words): iterations outside 1..10,000,000, a negative seed, the same risk id twice, a
    loss range so wide that the simulated losses overflow. RiskFigures checks its own figures."""
    risks = list(risks)
    _check_run(risks, iterations, seed, chunk)
    n, chunk = int(iterations), int(chunk)
    total = np.zeros(n)
    buffer = np.empty(n) if any(r.frequency > 0 for r in risks) else np.empty(0)
    year_index = np.arange(min(chunk, n))

    plans = []  # (risk, years per step)
    for r in risks:
        step = 0 if r.frequency == 0 else min(chunk, n, max(1, int(EVENTS_PER_STEP / r.frequency)))
        plans.append((r, step))
    steps_total = sum(-(-n // step) for _, step in plans if step) or 1
    steps_done = 0

    results: dict[str, RiskResult] = {}
    for r, step in sorted(plans, key=lambda p: p[0].risk_id):  # the same sum order whatever the caller's order
        if not step:
            results[r.risk_id] = RiskResult(r.risk_id, r.frequency, r.loss_low, r.loss_high, r.derived,
                                            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            continue
        mu, sigma = r.lognormal
        count_rng, loss_rng = _stream(int(seed), r.risk_id)
        kept = 0  # years with a loss, their losses in buffer[:kept]
        events = 0
        if step > year_index.size:
            year_index = np.arange(step)
        for start in range(0, n, step):
            years = min(step, n - start)
            counts = count_rng.poisson(r.frequency, years)
            m = int(counts.sum())
            if m:
                events += m
                losses = loss_rng.lognormal(mu, sigma, m)
                yearly = np.bincount(np.repeat(year_index[:years], counts), weights=losses, minlength=years)
                total[start:start + years] += yearly
                hit = yearly[counts > 0]
                buffer[kept:kept + hit.size] = hit
                kept += hit.size
            steps_done += 1
            if progress is not None:
                progress(min(steps_done / steps_total, 1.0))
        positive = buffer[:kept]
        eal = float(positive.sum()) / n
        if not math.isfinite(eal):
            raise RefusedError(f"risk {r.risk_id}: the loss range {r.loss_low:,.2f} to {r.loss_high:,.2f} is too "
                               "wide to simulate (a simulated loss is beyond any number)")
        spread = float(np.square(positive - eal).sum()) + (n - kept) * eal * eal
        se = math.sqrt(spread / (n - 1) / n) if n > 1 else 0.0
        p50, p90, p95, p99 = _percentiles(positive, n)
        results[r.risk_id] = RiskResult(r.risk_id, r.frequency, r.loss_low, r.loss_high, r.derived,
                                        eal, p50, p90, p95, p99, se, events / n)
    if progress is not None and steps_done == 0:
        progress(1.0)

    proposal = Stats(float(total.mean()), *_percentiles(total[total > 0], n))
    shares: dict[str, float] = {}
    for r in risks:
        for partner, w in r.partner_weights.items():
            shares[partner] = shares.get(partner, 0.0) + w * results[r.risk_id].eal
    return Simulation(n, int(seed), [results[r.risk_id] for r in risks], proposal,
                      [PartnerLoss(p, e) for p, e in shares.items()], total)


# --- inherent against residual -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reduction:
    """What the treatments buy for one risk (risk_id) or the proposal (risk_id None): the fall in expected annual
    loss from the inherent to the residual figures."""

    risk_id: str | None
    inherent_eal: float
    residual_eal: float

    @property
    def reduction(self) -> float:
        return self.inherent_eal - self.residual_eal

    def to_json(self) -> dict:
        return {"risk_id": self.risk_id, "inherent_eal": _cents(self.inherent_eal),
                "residual_eal": _cents(self.residual_eal), "reduction": _cents(self.reduction)}


@dataclass(frozen=True)
class Comparison:
    inherent: Simulation
    residual: Simulation
    risks: list[Reduction]  # per risk, in the inherent order
    total: Reduction  # the proposal: inherent EAL − residual EAL of the total annual loss

    def exceedance(self, points: int = 50) -> list[tuple[float, float, float]]:
        """Both loss exceedance curves on one log-spaced grid (from the lower of the two 1st percentiles of years
        with a loss to the larger maximum): (x, P(inherent annual loss > x), P(residual annual loss > x))."""
        spans = [s for s in (self.inherent.loss_range(), self.residual.loss_range()) if s is not None]
        if not spans:
            return []
        xs = _grid(min(s[0] for s in spans), max(s[1] for s in spans), points)
        return [(float(x), float(a), float(b)) for x, a, b in
                zip(xs, self.inherent.exceedance_at(xs), self.residual.exceedance_at(xs), strict=True)]

    def to_json(self) -> dict:
        return {"iterations": self.inherent.iterations, "seed": self.inherent.seed,
                "inherent": self.inherent.to_json(), "residual": self.residual.to_json(),
                "risks": [r.to_json() for r in self.risks], "total": self.total.to_json()}


def compare(inherent: Sequence[RiskFigures], residual: Sequence[RiskFigures], iterations: int = 100_000,
            seed: int = 2026, *, progress: Callable[[float], None] | None = None,
            chunk: int = 200_000) -> Comparison:
    """Simulate the inherent and the residual figures of the same risks with the same seed, and the reduction in
    expected annual loss per risk and in total: what the treatments buy. Each risk draws the same random numbers on
    both sides (its own streams), so the reductions are not blurred by sampling noise between the two runs.

    Both sides must hold the same risk ids (RefusedError naming those missing from either): a risk left out of the
    residual figures is not a risk with no loss; give it its inherent figures if it has no treatment.
    `progress` gets 0..0.5 for the inherent run and 0.5..1 for the residual one."""
    inherent, residual = list(inherent), list(residual)
    ids_in = [r.risk_id for r in inherent if isinstance(r, RiskFigures)]
    ids_res = {r.risk_id for r in residual if isinstance(r, RiskFigures)}
    missing = [i for i in ids_in if i not in ids_res]
    extra = sorted(ids_res - set(ids_in))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"the residual figures lack {', '.join(missing)}")
        if extra:
            parts.append(f"the inherent figures lack {', '.join(extra)}")
        raise RefusedError(f"inherent and residual must price the same risks: {'; '.join(parts)}")

    def half(offset: float) -> Callable[[float], None] | None:
        return None if progress is None else (lambda f: progress(offset + f / 2))

    a = simulate(inherent, iterations, seed, progress=half(0.0), chunk=chunk)
    b = simulate(residual, iterations, seed, progress=half(0.5), chunk=chunk)
    res_by_id = {r.risk_id: r for r in b.risks}
    risks = [Reduction(r.risk_id, r.eal, res_by_id[r.risk_id].eal) for r in a.risks]
    return Comparison(a, b, risks, Reduction(None, a.proposal.eal, b.proposal.eal))
