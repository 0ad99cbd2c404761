"""Scored registers for councils, auditors and records: CSV (the register), XLSX (the whole assessment, with who
pays for what and the risk in money) and the meeting packet (PDF)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from risk import access, scoring
from risk.errors import RefusedError
from risk.exchange.spreadsheet import Block, Workbook, register_csv, register_xlsx
from risk.exchange.spreadsheet import Section as SheetSection
from risk.services.json_export import export_document
from risk.services.profile import proposal_profile
from risk.services.proposals import list_proposals
from risk.services.register_rows import REGISTER_COLUMNS, register_rows
from risk.wording import count

# The costs, the risk in money and the decisions are imported where they are used: the CSV and JSON exports need
# none of them (the workbook and the packet need all).
if TYPE_CHECKING:
    from risk import costs, quantify
    from risk.exchange.packet import Section
    from risk.services import costs as cost_service
    from risk.services import quantify as quantify_service

_NOT_ALNUM = re.compile(r"[\W_]+")  # letters and digits of any script stay


def file_stem(title: str, fallback: str, limit: int = 60) -> str:
    """A file name stem from a title: lower case, each run of other characters one hyphen, at most `limit`
    characters. `file_stem("Tri-County Regional 911 -- CAD", "x")` -> "tri-county-regional-911-cad"."""
    stem = _NOT_ALNUM.sub("-", title.lower())[:limit].strip("-")
    return stem or fallback


# The disagreement flags (docs/SCORING.md, Disagreement flags) in the words the workbook uses; the CSV and JSON keep
# the codes.
FLAG_WORDS = {
    "range": ("wide range", "the highest and lowest scores are 3 or more apart"),
    "iqr": ("wide middle half", "the middle half of the scores spans 2 or more"),
    "spread": ("scattered", "fewer than 70% of the scores are within 1 of the upper median"),
    "polarised": ("two camps", "at least a third of the scores are 1-2 and at least a third 4-5"),
    "partners": ("split between partners", "two partners' upper medians differ by 2 or more"),
}
# columns of the workbook's sheets that hold dates (ISO text in the register rows and the JSON document)
DATE_COLUMNS = ("next_review", "inherent_assessed_on", "residual_assessed_on", "round_closed_on", "due_date")


def flag_words(flags: str) -> str:
    """`"partners, range"` -> `"wide range, split between partners"` (in the order of FLAG_WORDS)."""
    raised = [f for f in map(str.strip, flags.split(",")) if f]
    return ", ".join([FLAG_WORDS[f][0] for f in FLAG_WORDS if f in raised] + [f for f in raised if f not in FLAG_WORDS])


def _for_workbook(row: dict) -> dict:
    """A register, Scores or Actions row as the workbook shows it: dates as dates, disagreement in words."""
    out = dict(row)
    for column in DATE_COLUMNS:
        if isinstance(value := out.get(column), str):
            out[column] = dt.date.fromisoformat(value[:10]) if value else None
    if isinstance(value := out.get("disagreement"), str):
        out["disagreement"] = flag_words(value)
    return out


def check_proposal_ids(engine: Engine, proposal_ids: Sequence[int] | None, *, actor: str | None = None
                       ) -> list[int]:
    """The ids asked for (all when None), refusing any that do not exist. With `actor`, all means all it may see,
    and an id it may not see is refused (ForbiddenError, recorded), whether it exists or not (risk/access.py)."""
    if actor is not None:
        proposal_ids = access.check_visible(engine, actor, proposal_ids, "export")
    known = [p.id for p in list_proposals(engine)]
    if proposal_ids is None:
        return known
    missing = [p for p in proposal_ids if p not in known]
    if missing:
        raise RefusedError(f"proposal: no proposal with id {', '.join(map(str, missing))}")
    return list(proposal_ids)


def register_table(engine: Engine, proposal_ids: Sequence[int] | None = None, *, actor: str | None = None
                   ) -> list[dict]:
    """The register rows (docs/USER_GUIDE.md, Register) of some proposals, or of all (that `actor` may see)."""
    rows: list[dict] = []
    for pid in check_proposal_ids(engine, proposal_ids, actor=actor):
        rows += register_rows(proposal_profile(engine, pid))
    return rows


def export_csv(engine: Engine, proposal_ids: Sequence[int] | None = None, *, actor: str | None = None) -> bytes:
    return register_csv(register_table(engine, proposal_ids, actor=actor), REGISTER_COLUMNS)


def _grid(profile, phase: str) -> list[list[str]]:
    placed: dict[tuple[int, int], list[str]] = {}
    for v in profile.risks:
        value = getattr(v, phase)
        if value.likelihood is not None:
            placed.setdefault((value.likelihood, value.impact), []).append(v.risk.risk_id)
    return [[f"{len(ids)}: {', '.join(sorted(ids))}" if (ids := placed.get((lik, imp))) else ""
             for imp in range(1, 6)] for lik in range(5, 0, -1)]


# --- who pays for what, and the risk in money (docs/COSTS.md) ------------------------------------------------------

# The simulation behind the workbook's Quantified risk sheet and the packet's Risk in money: fixed, so that the same
# data gives the same workbook and the same packet.
EXPORT_ITERATIONS = 20_000
EXPORT_SEED = 2026


@dataclass
class Money:
    """One proposal's costs and risk in money, as the workbook and the packet show them. `allocation` is None when
    there is nothing to split, and `no_split` says why in one sentence; `simulation` is None when no risk is
    priced (or, said in `no_price`, when the priced risks cannot be simulated)."""

    model: cost_service.CostModel
    agreement: costs.Agreement | None
    allocation: costs.Allocation | None
    no_split: str
    priced: quantify_service.PricedRisks
    simulation: quantify.Simulation | None
    levels: dict[str, str]  # risk_id -> its residual level (what a derived price was read at)
    no_price: str = ""  # why there is no simulation, in one sentence, when risks are priced but cannot be simulated

    def priced_from(self, result: quantify.RiskResult) -> str:
        if not result.derived:
            return "its own figures"
        return f"its level ({self.levels.get(result.risk_id) or 'not scored'})"

    def largest(self, n: int | None = None) -> list[quantify.RiskResult]:
        """The priced risks by expected annual loss, largest first (ties by risk_id)."""
        ranked = sorted(self.simulation.risks if self.simulation else [], key=lambda r: (-r.eal, r.risk_id))
        return ranked if n is None else ranked[:n]


def money_of(engine: Engine, profile) -> Money:
    """The chosen allocation of the proposal's costs (none when it has no partners or no cost lines, or when the
    stored figures cannot be split: said in words), and its priced risks simulated over EXPORT_ITERATIONS years
    with EXPORT_SEED."""
    from risk import costs, quantify
    from risk.services import costs as cost_service
    from risk.services import quantify as quantify_service

    pid = profile.proposal.id
    model = cost_service.cost_model(engine, pid)
    agreement = allocation = None
    no_split = ""
    if not model.partners:
        no_split = f"“{model.title}” has no partner governments yet, so there is nothing to split."
    elif not model.lines:
        no_split = f"“{model.title}” has no cost lines yet, so there is nothing to split."
    else:
        try:
            agreement = model.agreement()
            allocation = costs.allocate(model.cost_lines(), model.partner_figures(), agreement)
        except RefusedError as e:
            no_split = f"The costs of “{model.title}” cannot be split as they stand: {e}"
    priced = quantify_service.priced_risks(engine, pid)
    simulation, no_price = None, ""
    if priced.residual:
        try:
            simulation = quantify.simulate(priced.residual, EXPORT_ITERATIONS, EXPORT_SEED)
        except RefusedError as e:
            no_price = f"The priced risks of “{model.title}” cannot be simulated: {e}"
    return Money(model=model, agreement=agreement, allocation=allocation, no_split=no_split, priced=priced,
                 simulation=simulation, levels={v.risk.risk_id: v.residual.level for v in profile.risks},
                 no_price=no_price)


def _when(text: str | None) -> str:
    """"2026-10-27T15:00:00+00:00" -> "2026-10-27 15:00 UTC"; other text as it is."""
    if not text:
        return ""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.tzinfo is not None else "")


def _limits(agreement: costs.Agreement | None) -> str:
    """Floors and caps in words: "City of Fenwick at least 20%; Harmon County at most 60%"."""
    if agreement is None:
        return ""
    parts = [f"{name} at least {round(v, 2):g}%" for name, v in agreement.floors.items()]
    parts += [f"{name} at most {round(v, 2):g}%" for name, v in agreement.caps.items()]
    return "; ".join(parts)


def _method_words(m: Money) -> str:
    label = m.allocation.method if m.allocation else ""
    if m.allocation is not None and not m.model.allocation.get("method"):
        label += " (no allocation chosen yet)"
    return label


def _payback(share: costs.PartnerShare, horizon: int) -> object:
    if share.payback_year is not None:
        return share.payback_year
    return "" if share.status_quo is None else f"not within {count(horizon, 'year')}"


def _sum(values: list[Decimal | None]) -> Decimal | None:
    return None if any(v is None for v in values) else sum(values, Decimal(0))  # type: ignore[arg-type]


def costs_sheet_section(m: Money) -> SheetSection:
    """The proposal's part of the Costs sheet."""
    model, alloc = m.model, m.allocation
    section = SheetSection(heading=model.title, currency=model.currency)
    section.blocks.append(Block(lines=[("Currency", model.currency), ("Horizon (years)", model.horizon)]))
    if not model.partners:
        section.blocks.append(Block(notes=[m.no_split]))
        return section
    section.blocks.append(Block(
        title="Cost lines", notes=[] if model.lines else ["No cost lines yet."],
        columns=("Cost line", "Kind", "Amount (a year if recurring)", "First year", "Years", "Credit to partner"),
        rows=[(x["name"], x["kind"].replace("_", " "), x["amount"], x["first_year"],
               x["years"] if x["kind"] == "recurring" else None, x["credit_partner"] or "") for x in model.lines],
        kinds={"Amount (a year if recurring)": "money"}))
    drivers = sorted({name for p in model.partners for name in p.drivers})
    section.blocks.append(Block(
        title="Partners' figures",
        columns=("Partner", "Role", "Population", "Assessed value", "Status-quo cost a year", "Exit charge",
                 *(f"Usage: {name}" for name in drivers)),
        rows=[(p.name, "lead/host" if p.role == "lead" else p.role, p.population, p.assessed_value,
               p.status_quo_cost, p.exit_cost, *(p.drivers.get(name) for name in drivers)) for p in model.partners],
        kinds={"Population": "count", "Assessed value": "money", "Status-quo cost a year": "money",
               "Exit charge": "money"}))
    chosen = model.allocation
    lines: list[tuple[str, object]] = [("Method", _method_words(m) if alloc else chosen.get("method") or "none")]
    if limits := _limits(m.agreement):
        lines.append(("Floors and caps", limits))
    lines += [("Rationale", chosen.get("rationale") or ""), ("Chosen by", chosen.get("chosen_by") or ""),
              ("Chosen at", _when(chosen.get("chosen_at")))]
    section.blocks.append(Block(title="Chosen allocation", lines=lines, notes=[m.no_split] if m.no_split else []))
    if alloc is None:
        return section
    horizon = alloc.horizon
    shares = alloc.partners
    money_cols = ("Share", "Credit", "Pays", f"Status quo over {count(horizon, 'year')}", "Saving")
    section.blocks.append(Block(
        title=f"Who pays what over {count(horizon, 'year')}",
        columns=("Partner", "Share", "Share %", "Credit", "Pays", money_cols[3], "Saving", "Payback year"),
        rows=[(s.partner, s.share, s.share_pct / 100, s.credit, s.pays, s.status_quo, s.saving,
               _payback(s, horizon)) for s in shares],
        kinds={**dict.fromkeys(money_cols, "money"), "Share %": "percent"},
        total=("Total", alloc.total, Decimal(1), _sum([s.credit for s in shares]), _sum([s.pays for s in shares]),
               _sum([s.status_quo for s in shares]), _sum([s.saving for s in shares]), "")))
    names = [s.partner for s in shares]
    section.blocks.append(Block(
        title="Year by year", columns=("Year", "Total", *names),
        rows=[(y.year, y.total, *(amount for _name, amount in y.partners)) for y in alloc.years],
        kinds=dict.fromkeys(("Total", *names), "money"),
        total=("Total", alloc.total, *(s.share for s in shares))))
    return section


RISK_COLUMNS = ("Proposal", "Risk", "Title", "Events a year", "Loss low", "Loss high", "Priced from",
                "Expected annual loss", "50th percentile", "90th percentile", "95th percentile", "99th percentile")


def risk_sheet_section(m: Money) -> SheetSection:
    """The proposal's part of the Quantified risk sheet."""
    priced, sim, title = m.priced, m.simulation, m.model.title
    section = SheetSection(heading=title, currency=m.model.currency)
    lines: list[tuple[str, object]] = [
        ("Currency", m.model.currency),
        ("Simulated", f"{EXPORT_ITERATIONS:,} years with seed {EXPORT_SEED}, fixed for exports so that the same "
                      "data gives the same figures"),
    ]
    if sim is None:
        section.blocks.append(Block(lines=lines, notes=[m.no_price or (
            f"No risk of “{title}” is priced: none has figures of its own (frequency and loss range) or a level "
            "in a calibration table.")]))
    else:
        lines.append(("Losses split among partners", priced.split or "not split (no partners)"))
        section.blocks.append(Block(lines=lines, notes=[
            "Each risk as it stands (residual). Loss low and loss high: the 5th and 95th percentiles of one "
            "event's loss; the percentiles: of a year's loss. The proposal's percentiles are those of its total "
            "annual loss, not sums of the risks'."]))
        money = dict.fromkeys(RISK_COLUMNS[4:6] + RISK_COLUMNS[7:], "money")
        total = sim.proposal
        section.blocks.append(Block(
            title="Each priced risk", columns=RISK_COLUMNS,
            rows=[(title, r.risk_id, priced.titles.get(r.risk_id, ""), r.frequency, r.loss_low, r.loss_high,
                   m.priced_from(r), _cents(r.eal), _cents(r.p50), _cents(r.p90), _cents(r.p95), _cents(r.p99))
                  for r in sim.risks],
            kinds=money,
            total=(title, "all", f"the proposal ({count(len(sim.risks), 'priced risk')})", None, None, None, "",
                   _cents(total.eal), _cents(total.p50), _cents(total.p90), _cents(total.p95), _cents(total.p99))))
        if sim.partners:
            section.blocks.append(Block(
                title="Each partner's expected annual loss",
                columns=("Partner", "Expected annual loss", "Share of the expected loss"),
                rows=[(p.partner, _cents(p.eal), p.eal / total.eal if total.eal else None) for p in sim.partners],
                kinds={"Expected annual loss": "money", "Share of the expected loss": "percent"}))
    if priced.unpriced:
        section.blocks.append(Block(
            title="Not priced", notes=["No figures of their own, and their level is not in a calibration table."],
            columns=("Proposal", "Risk", "Title"),
            rows=[(title, risk_id, priced.titles.get(risk_id, "")) for risk_id in priced.unpriced]))
    return section


def _cents(x: float) -> float:
    return round(float(x), 2)


def _amount(value: Decimal | float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def who_pays_section(m: Money) -> Section:
    """The packet's "Who pays for what": the chosen method and why, each partner's share, saving and payback year,
    and the total; one sentence when there is nothing to split."""
    from risk.exchange.packet import PacketTable, Section  # reportlab, only when a packet is made

    heading = "Who pays for what"
    alloc, model = m.allocation, m.model
    if alloc is None:
        return Section(heading, [m.no_split])
    chosen = model.allocation
    parts: list = [("Method", _method_words(m))]
    if limits := _limits(m.agreement):
        parts.append(("Floors and caps", limits))
    if chosen.get("rationale"):
        parts.append(("Why", chosen["rationale"]))
    if chosen.get("chosen_by") or chosen.get("chosen_at"):
        parts.append(("Chosen", " on ".join(x for x in (chosen.get("chosen_by"), _when(chosen.get("chosen_at")))
                                             if x)))
    years = count(alloc.horizon, "year")
    parts.append(f"Over {years}, in {model.currency}: each partner's share of the costs, the credit for the assets "
                 f"it brings, what it pays in money, what doing the service alone would cost it over the same "
                 f"{years}, the saving, and the first year its cumulative saving is no longer negative.")
    shares = alloc.partners
    rows = [[s.partner, _amount(s.share), f"{s.share_pct:.2f}%", _amount(s.credit), _amount(s.pays),
             _amount(s.status_quo), _amount(s.saving), str(_payback(s, alloc.horizon))] for s in shares]
    rows.append(["Total", _amount(alloc.total), "100.00%", _amount(_sum([s.credit for s in shares])),
                 _amount(_sum([s.pays for s in shares])), _amount(_sum([s.status_quo for s in shares])),
                 _amount(_sum([s.saving for s in shares])), ""])
    parts.append(PacketTable(["Partner", "Share", "Share %", "Credit", "Pays", f"Alone, {years}", "Saving",
                              "Payback year"], rows, [0.22, 0.12, 0.08, 0.1, 0.12, 0.12, 0.12, 0.12], total=True))
    parts.append(("Total", f"{_amount(alloc.total)} {model.currency} over {years}"))
    return Section(heading, parts)


def risk_in_money_section(m: Money, largest: int = 5) -> Section:
    """The packet's "Risk in money": the proposal's expected annual loss and bad years, its largest risks by
    expected annual loss, each partner's expected loss; one sentence when no risk is priced."""
    from risk.exchange.packet import PacketTable, Section

    heading = "Risk in money"
    sim, priced, currency = m.simulation, m.priced, m.model.currency
    if sim is None:
        return Section(heading, [m.no_price or "No risk of this proposal is priced yet: none has figures of its own "
                                               "(frequency and loss range) or a level in a calibration table."])
    own = sum(not r.derived for r in sim.risks)
    total = len(sim.risks) + len(priced.unpriced)
    parts: list = [
        f"{len(sim.risks)} of {count(total, 'risk')} priced ({own} from their own figures, {len(sim.risks) - own} "
        f"from their level in the calibration table), as they stand, in {currency}; {EXPORT_ITERATIONS:,} "
        f"simulated years (seed {EXPORT_SEED}). A bad year: the loss exceeded one year in 10 (90th percentile), "
        "in 20 (95th) and in 100 (99th).",
        PacketTable(["", "Expected annual loss", "90th percentile", "95th percentile", "99th percentile"],
                    [["The proposal", *(_amount(getattr(sim.proposal, k)) for k in ("eal", "p90", "p95", "p99"))]],
                    [0.2, 0.2, 0.2, 0.2, 0.2]),
        f"The {min(largest, len(sim.risks))} largest risks by expected annual loss:",
        PacketTable(["Risk", "Title", "Priced from", "Expected annual loss", "90th percentile", "99th percentile"],
                    [[r.risk_id, priced.titles.get(r.risk_id, ""), m.priced_from(r), _amount(r.eal),
                      _amount(r.p90), _amount(r.p99)] for r in m.largest(largest)],
                    [0.09, 0.37, 0.14, 0.14, 0.13, 0.13], figures_from=3),
    ]
    if sim.partners:
        parts.append(f"Each partner's expected annual loss. Each risk's loss is split {priced.split}.")
        parts.append(PacketTable(["Partner", "Expected annual loss", "Share"],
                                 [[p.partner, _amount(p.eal), f"{p.eal / sim.proposal.eal:.2%}"
                                   if sim.proposal.eal else ""] for p in sim.partners], [0.4, 0.3, 0.3]))
    if priced.unpriced:
        parts.append(("Not priced", ", ".join(priced.unpriced)))
    return Section(heading, parts)


_DECISION_COLUMNS = ("Partner", "Decision", "By", "Recorded by", "When", "Stale", "Changed since", "Conditions",
                     "Snapshot SHA-256")


def _decision_row(v) -> list[str]:
    from risk.services import decisions as ds

    return [v.partner, ds.WORDS.get(v.decision or "", "not decided yet"), v.by or "", v.recorded_by or "",
            v.recorded_at.strftime("%Y-%m-%d %H:%M") if v.recorded_at else "", "stale" if v.stale else "",
            "; ".join(v.changed_since),
            "; ".join(f"{c.text} ({c.status}{', overdue' if c.overdue else ''}"
                      f"{', due ' + c.due_date.isoformat() if c.due_date else ''})" for c in v.conditions),
            v.sha256 or ""]


def decisions_sheet_section(engine: Engine, proposal_id: int, title: str) -> SheetSection:
    """The workbook's "Decisions" part of one proposal: where the governments stand, each one's decision."""
    from risk.services import decisions as ds

    views = ds.list_decisions(engine, proposal_id)
    block = Block(title="Each government's decision", lines=[("Where they stand", ds.standing(views))],
                  columns=_DECISION_COLUMNS, rows=[_decision_row(v) for v in views])
    return SheetSection(heading=title, blocks=[block])


def decisions_section(engine: Engine, proposal_id: int, views: Sequence | None = None):
    """The packet's "Each government's decision": where they stand, and a table of the decisions (`views`: the
    proposal's list_decisions when the caller has read them already)."""
    from risk.exchange.packet import PacketTable, Section
    from risk.services import decisions as ds

    views = ds.list_decisions(engine, proposal_id) if views is None else views
    parts: list = [("Where they stand", ds.standing(views))]
    if any(v.decision for v in views):
        parts.append(PacketTable(["Partner", "Decision", "By, when", "Conditions", "Snapshot"],
                                 [[v.partner, ds.WORDS.get(v.decision or "", "not decided yet")
                                   + (" (stale)" if v.stale else ""),
                                   f"{v.by or ''} {v.recorded_at.strftime('%Y-%m-%d') if v.recorded_at else ''}",
                                   "; ".join(f"{c.text} ({c.status})" for c in v.conditions),
                                   (v.sha256 or "")[:16]] for v in views],
                                 [0.2, 0.2, 0.18, 0.28, 0.14], figures_from=5))
        for v in views:
            if v.stale:
                parts.append((f"{v.partner}: changed since its decision", "; ".join(v.changed_since)))
    return Section("Each government's decision", parts)


def export_xlsx(engine: Engine, proposal_ids: Sequence[int] | None = None,
                progress: Callable[[float], None] | None = None, *, actor: str | None = None) -> bytes:
    """One workbook; with several proposals, one row per risk of every proposal (the method and heat maps of the
    first). With `actor`, only proposals it may see."""
    ids = check_proposal_ids(engine, proposal_ids, actor=actor)
    if not ids:
        raise RefusedError("proposal: there is no proposal to export")
    profiles = [proposal_profile(engine, pid) for pid in ids]
    doc = export_document(engine, ids)
    register = [row for p in profiles for row in register_rows(p)]
    first, first_doc = profiles[0], doc["proposals"][0]
    levels = Counter(r["residual_level"] or "not scored" for r in register)
    if len(ids) == 1:
        title = first.proposal.title
        summary = [
            ("Proposal", first.proposal.title), ("Service", first.proposal.service_type),
            ("Status", first.proposal.status), ("Lifecycle phase", first.proposal.phase),
            ("Decision", "not decided"),
            ("Partners", "; ".join(f"{p['name']} ({p['kind']}{', lead/host' if p['role'] == 'lead' else ''})"
                                   for p in first_doc["partners"])),
            ("Assessment team", "; ".join(f"{m['name']} ({m['partner'] or 'no partner'}, {m['team_role']})"
                                          for m in first_doc["team"])),
        ]
    else:
        title = f"{len(ids)} shared-service proposals"
        summary = [("Proposals", "; ".join(p.proposal.title for p in profiles)), ("Decision", "not decided")]
    summary += [("Risks", len(register))]
    summary += [(f"Residual {name}", levels.get(name, 0)) for name in reversed(first.matrix.levels)]
    summary += [("Not scored", levels.get("not scored", 0)),
                ("Over appetite", sum(r["over_appetite"] == "yes" for r in register))]
    method = [("Matrix", first.matrix.title or first.matrix.name),
              ("Levels, lowest first", ", ".join(first.matrix.levels)),
              ("Aggregation", first.proposal.aggregation.replace("_", " ")),
              ("Mean", "shown for information, one decimal, rounded half up")]
    method += [(f"Appetite: {scoring.CATEGORIES[c]}", (first.proposal.appetite or {}).get(c, scoring.DEFAULT_APPETITE))
               for c in scoring.CATEGORIES]
    method += [("Disagreement", "; ".join(f"{word}: {meaning}" for word, meaning in FLAG_WORDS.values()))]
    method += [("Audit head", doc["audit_head"] or "none (no audit events yet)")]  # `risk audit verify --head`
    method += [("Costs sheet", "one block per proposal: its currency and horizon, cost lines, partners' figures, "
                               "the chosen allocation, each partner's share, and the year-by-year split; money in "
                               "the proposal's currency with 2 decimals, percentages as percent cells. For "
                               "reading: the register import does not read it back (the JSON export carries the "
                               "costs)"),
               ("Quantified risk sheet", f"each priced risk as it stands, simulated over {EXPORT_ITERATIONS:,} years "
                                         f"with seed {EXPORT_SEED} (fixed for exports, so that the same data gives "
                                         "the same workbook); the proposal's totals; each partner's expected loss; "
                                         "the risks not priced. For reading, like the Costs sheet")]
    money = [money_of(engine, p) for p in profiles]
    scores, actions = [], []
    # partners and team one row each (the Summary's lines are for people; a name may hold "; " or parentheses)
    partners = [{"proposal": p["title"], "name": x["name"], "kind": x["kind"], "role": x["role"]}
                for p in doc["proposals"] for x in p["partners"]]
    team = [{"proposal": p["title"], "name": m["name"], "partner": m["partner"], "team_role": m["team_role"]}
            for p in doc["proposals"] for m in p["team"]]
    for p in doc["proposals"]:
        closed_on = {(r["phase"], r["number"]): (r["closed_at"] or r["revealed_at"] or "")[:10] for r in p["rounds"]}
        for risk in p["risks"]:
            scores += [{"proposal": p["title"], "risk_id": risk["risk_id"], "phase": s["phase"], "round": s["round"],
                        "round_closed_on": closed_on.get((s["phase"], s["round"]), ""), "assessor": s["assessor"],
                        "partner": s["partner"], "likelihood": s["likelihood"], "impact": s["impact"],
                        "rationale": s["rationale"]} for s in risk["scores"]]
            actions += [{"proposal": p["title"], "risk_id": risk["risk_id"], "description": a["description"],
                         "owner": a["owner"], "due_date": a["due_date"], "status": a["status"], "cost": a["cost"],
                         "paying_partner": a["paying_partner"]} for a in risk["actions"]]
    book = Workbook(title=title, summary=summary, register_columns=REGISTER_COLUMNS,
                    register=[_for_workbook(row) for row in register],
                    matrix=first.matrix, method=method,
                    heatmaps=[(f"Inherent risk: {first.proposal.title}", _grid(first, "inherent")),
                              (f"Residual risk: {first.proposal.title}", _grid(first, "residual"))],
                    scores=[_for_workbook(row) for row in scores], actions=[_for_workbook(row) for row in actions],
                    partners=partners, team=team, costs=[costs_sheet_section(m) for m in money],
                    quantified=[risk_sheet_section(m) for m in money],
                    decisions=[decisions_sheet_section(engine, p.proposal.id, p.proposal.title)
                               for p in profiles])
    return register_xlsx(book, progress)


def export_packet(engine: Engine, proposal_id: int, progress: Callable[[float, str], None] | None = None, *,
                  actor: str | None = None) -> bytes:
    """The meeting packet (PDF) of one proposal, stamped with the SHA-256 of the data it was made from (the
    proposals part of the JSON export, with sorted keys) and the audit log's head when it was read. Its charts are
    reportlab drawings (risk/exchange/packet_charts.py): no Altair, pandas or vl-convert on this path."""
    import hashlib
    import json

    from risk.exchange import packet_charts
    from risk.exchange.packet import CHART_WIDTH, HALF_WIDTH, Packet, packet_pdf
    from risk.models import utcnow
    from risk.services import decisions as ds
    from risk.services.proposals import OPEN_ACTION_STATUSES

    def step(done: float, what: str) -> None:
        if progress:
            progress(done, what)

    check_proposal_ids(engine, [proposal_id], actor=actor)
    step(0.05, "Reading the proposal")
    doc = export_document(engine, [proposal_id])
    digest = hashlib.sha256(json.dumps(doc["proposals"], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    profile = proposal_profile(engine, proposal_id)
    matrix, views, data = profile.matrix, profile.risks, doc["proposals"][0]
    levels = Counter(v.residual.level or "not scored" for v in views)
    decisions = ds.list_decisions(engine, proposal_id)  # read once: the summary's line and the section
    summary = [
        ("Service", data["service_type"]), ("Status", data["status"]),
        ("Decisions", ds.standing(decisions)),
        ("Partners", "; ".join(f"{p['name']}{' (lead/host)' if p['role'] == 'lead' else ''}"
                               for p in data["partners"])),
        ("Assessment team", f"{count(len(data['team']), 'member')} from "
                            f"{count(len({m['partner'] for m in data['team']}), 'partner')}"),
        ("Risks", str(len(views))),
        ("By residual level", ", ".join(f"{name} {levels.get(name, 0)}" for name in reversed(matrix.levels))),
        ("Over appetite", str(sum(v.over_appetite for v in views))),
        ("Matrix and method", f"{matrix.title or matrix.name}; {data['aggregation'].replace('_', ' ')}"),
    ]
    step(0.2, "Drawing the heat maps and the category profile")
    heatmaps = [packet_charts.heatmap(packet_charts.heatmap_cells(matrix, packet_charts.phase_points(views, phase)),
                                      matrix.levels, title, width=HALF_WIDTH)
                for phase, title in packet_charts.HEATMAP_TITLES]
    category = (packet_charts.category_profile(packet_charts.category_rows(views), matrix.levels, width=CHART_WIDTH)
                if views else None)
    from risk.services.toplines import risk_line, top_risks

    top = [(line.heading, line.sentence) for line in map(risk_line, top_risks(profile, 10))]
    actions = [[risk["risk_id"], a["description"], a["owner"], a["due_date"] or "", a["status"],
                a["paying_partner"] or ""]
               for risk in data["risks"] for a in risk["actions"] if a["status"] in OPEN_ACTION_STATUSES]
    step(0.4, "Splitting the costs and pricing the risks")
    money = money_of(engine, profile)
    packet = Packet(title=data["title"], subtitle=data["description"], summary=summary, heatmaps=heatmaps,
                    category=category, top_risks=top, actions=actions, data_sha256=digest,
                    made_at=utcnow().strftime("%Y-%m-%d %H:%M UTC"), audit_head=doc["audit_head"] or "none",
                    sections=[who_pays_section(money), risk_in_money_section(money),
                              decisions_section(engine, proposal_id, decisions)])
    step(0.7, "Laying out the pages")
    pdf = packet_pdf(packet)
    step(1.0, "Done")
    return pdf
