"""Who pays for what, stored: a proposal's cost lines, its partners' figures (population and assessed value of the
government; status-quo cost, usage figures and exit charge in this proposal), the allocation it chose with a
rationale, and the calibration table that prices risks by level. The arithmetic is risk/costs.py's; this module
reads and writes (every write checked by the rules, allowed by risk/access.py and audited).

docs/COSTS.md says it for people."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access, costs, rules, store
from risk.errors import ConflictError, NotFoundError, RefusedError
from risk.models import CostLine, Partner, Proposal, ProposalPartner, Risk

_UNSET: Any = object()


@dataclass
class PartnerRow:
    """One partner of the proposal with its figures (what the Costs page's partner grid shows)."""

    partner_id: int
    name: str
    role: str
    population: int | None
    assessed_value: float | None
    status_quo_cost: float | None
    drivers: dict[str, float]
    exit_cost: float | None

    def figures(self) -> costs.PartnerFigures:
        return costs.PartnerFigures(name=self.name, population=self.population, assessed_value=self.assessed_value,
                                    drivers=dict(self.drivers), status_quo_cost=self.status_quo_cost,
                                    exit_cost=self.exit_cost)


@dataclass
class CostModel:
    """Everything the allocation of one proposal needs, as stored."""

    proposal_id: int
    title: str
    version: int
    currency: str
    horizon: int
    allocation: dict[str, Any]  # as stored: the chosen method and its figures, rationale, chosen_by, chosen_at
    lines: list[dict[str, Any]]  # id, name, kind, amount, first_year, years, credit_partner (a name or None)
    partners: list[PartnerRow] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)  # level -> [events per year, loss low, loss high]

    def cost_lines(self) -> list[costs.CostLine]:
        return [costs.CostLine(name=x["name"], kind=x["kind"], amount=x["amount"], first_year=x["first_year"],
                               years=x["years"], credit_partner=x["credit_partner"]) for x in self.lines]

    def partner_figures(self) -> list[costs.PartnerFigures]:
        return [p.figures() for p in self.partners]

    def agreement(self, method: costs.Method | None = None) -> costs.Agreement:
        """The chosen agreement (or equal shares when none is chosen yet); `method` replaces its method and keeps
        its floors, caps and phase-in."""
        chosen = costs.agreement_from_json(self.allocation, horizon=self.horizon) if self.allocation.get("method") \
            else costs.Agreement(method=costs.Method("equal"), horizon=self.horizon)
        if method is not None:
            chosen = costs.Agreement(method=method, horizon=self.horizon, floors=chosen.floors, caps=chosen.caps)
        return chosen

    def drivers(self) -> list[str]:
        """The usage figures every partner has (those a driver method can use), in name order."""
        if not self.partners:
            return []
        common = set.intersection(*(set(p.drivers) for p in self.partners))
        return sorted(common)


def cost_model(engine: Engine, proposal_id: int) -> CostModel:
    with Session(engine) as s:
        proposal = s.get(Proposal, proposal_id)
        if proposal is None:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        rows = s.execute(select(Partner, ProposalPartner)
                         .join(ProposalPartner, ProposalPartner.partner_id == Partner.id)
                         .where(ProposalPartner.proposal_id == proposal_id)
                         .order_by(ProposalPartner.role.desc(), Partner.name)).all()
        names = {p.id: p.name for p, _link in rows}
        lines = s.execute(select(CostLine).where(CostLine.proposal_id == proposal_id).order_by(CostLine.id)).scalars()
        return CostModel(
            proposal_id=proposal_id, title=proposal.title, version=proposal.version, currency=proposal.currency,
            horizon=proposal.cost_horizon, allocation=dict(proposal.allocation or {}),
            lines=[_line_dict(x, names) for x in lines], calibration=dict(proposal.calibration or {}),
            partners=[PartnerRow(partner_id=p.id, name=p.name, role=link.role, population=p.population,
                                 assessed_value=p.assessed_value, status_quo_cost=link.status_quo_cost,
                                 drivers=dict(link.drivers or {}) or dict(p.cost_drivers or {}),
                                 exit_cost=link.exit_cost) for p, link in rows])


def _line_dict(line: CostLine, names: Mapping[int, str]) -> dict[str, Any]:
    return {"id": line.id, "name": line.name, "kind": line.kind, "amount": line.amount,
            "first_year": line.first_year, "years": line.years,
            "credit_partner": names.get(line.credit_partner_id) if line.credit_partner_id else None}


# --- the arithmetic on what is stored ---------------------------------------------------------------------------

def allocate(engine: Engine, proposal_id: int, method: costs.Method | None = None, *,
             without: str | None = None) -> costs.Allocation:
    """The proposal's costs split by its chosen agreement (or by `method` with the agreement's floors and caps);
    `without`: as if that partner withdrew."""
    model = cost_model(engine, proposal_id)
    _need_costs(model)
    return costs.allocate(model.cost_lines(), model.partner_figures(), model.agreement(method), without=without)


def candidate_methods(model: CostModel) -> list[costs.Method]:
    """The methods the stored figures allow, side by side on the Costs page: equal; population and assessed
    value when every partner has one; each usage figure every partner has; the chosen one when it is none of
    those."""
    out = [costs.Method("equal")]
    if model.partners and all(p.population for p in model.partners):
        out.append(costs.Method("population"))
    if model.partners and all(p.assessed_value for p in model.partners):
        out.append(costs.Method("assessed_value"))
    out += [costs.Method("driver", driver=name) for name in model.drivers()
            if all(p.drivers.get(name) for p in model.partners)]
    if model.allocation.get("method"):
        chosen = model.agreement().method
        if all(costs.method_label(chosen) != costs.method_label(m) for m in out):
            out.append(chosen)
    return out


def compare_methods(engine: Engine, proposal_id: int) -> list[costs.Allocation]:
    model = cost_model(engine, proposal_id)
    _need_costs(model)
    return costs.compare(model.cost_lines(), model.partner_figures(), model.agreement(), candidate_methods(model))


@dataclass
class Withdrawal:
    """What if a partner leaves: the split without it, its exit charge, and the risks it owns or hosts."""

    partner: str
    before: costs.Allocation
    after: costs.Allocation
    exit_cost: float | None
    risks: list[tuple[str, str, str]]  # risk_id, title, why it is flagged


def withdrawal(engine: Engine, proposal_id: int, partner: str) -> Withdrawal:
    model = cost_model(engine, proposal_id)
    _need_costs(model)
    row = next((p for p in model.partners if p.name == partner), None)
    if row is None:
        raise RefusedError(f"partner: {partner!r} does not take part in “{model.title}” "
                           f"(its partners: {', '.join(p.name for p in model.partners)})")
    agreement = model.agreement()
    before = costs.allocate(model.cost_lines(), model.partner_figures(), agreement)
    after = costs.allocate(model.cost_lines(), model.partner_figures(), agreement, without=partner)
    with Session(engine) as s:
        risks = s.execute(select(Risk.risk_id, Risk.title, Risk.owner_partner_id)
                          .where(Risk.proposal_id == proposal_id).order_by(Risk.risk_id)).all()
    flagged = []
    for risk_id, title, owner in risks:
        if owner == row.partner_id:
            flagged.append((risk_id, title, f"{partner} owns it"))
        elif row.role == "lead":
            flagged.append((risk_id, title, f"{partner} leads or hosts the service"))
    return Withdrawal(partner=partner, before=before, after=after, exit_cost=row.exit_cost, risks=flagged)


def _need_costs(model: CostModel) -> None:
    if not model.partners:
        raise RefusedError(f"partners: “{model.title}” has no partner governments yet; add them on the Proposal "
                           "page first")


# --- writes -------------------------------------------------------------------------------------------------------

def _proposal_for(s: Session, actor: str, proposal_id: int) -> Proposal:
    access.require(s, actor, "edit_costs", proposal_id)
    proposal = s.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFoundError(f"proposal {proposal_id} does not exist")
    return proposal


def _partner_ids(s: Session, proposal_id: int) -> dict[str, int]:
    return {name: pid for name, pid in s.execute(
        select(Partner.name, Partner.id).join(ProposalPartner, ProposalPartner.partner_id == Partner.id)
        .where(ProposalPartner.proposal_id == proposal_id)).all()}


@access.audited("proposal")
def save_cost_lines(engine: Engine, *, actor: str, proposal_id: int, lines: Sequence[Mapping[str, Any]],
                    expected: Sequence[Mapping[str, Any]] | None = None) -> None:
    """The proposal's cost lines become `lines` (each with the `id` it had, or none for a new one): lines left out
    are deleted, changed ones updated, new ones added, each audited. `expected` is the list that was on the user's
    screen: when somebody saved another since, the save is refused rather than overwriting theirs. Every line is
    checked before anything is written, and a refusal names the line."""
    with store.write(engine, actor, "the cost lines") as unit:
        s = unit.session
        _proposal_for(s, actor, proposal_id)
        ids = _partner_ids(s, proposal_id)
        names = {v: k for k, v in ids.items()}
        stored = {x.id: x for x in s.execute(select(CostLine).where(CostLine.proposal_id == proposal_id)).scalars()}
        if expected is not None:
            now = sorted((_comparable(_line_dict(x, names)) for x in stored.values()), key=str)
            seen = sorted((_comparable(x) for x in expected), key=str)
            if now != seen:
                raise ConflictError("the cost lines were changed by somebody else after you opened them; your "
                                    "changes were not saved. Reload to see theirs, then make yours again")
        checked = []
        for n, line in enumerate(lines, start=1):
            values = rules.check_cost_line(line, f"cost line {n}", list(ids))
            line_id = line.get("id")
            if line_id is not None and line_id not in stored:
                raise RefusedError(f"cost line {n}: id: {line_id} is not a cost line of this proposal")
            checked.append((line_id, values))
        kept = {line_id for line_id, _v in checked if line_id is not None}
        for line_id, row in stored.items():
            if line_id not in kept:
                store.delete(unit=unit, obj=row, entity="cost_line")
        for line_id, values in checked:
            columns = {k: v for k, v in values.items() if k != "credit_partner"}
            columns["credit_partner_id"] = ids[values["credit_partner"]] if values["credit_partner"] else None
            if line_id is None:
                store.add(unit=unit, obj=CostLine(proposal_id=proposal_id, **columns), entity="cost_line")
            else:
                store.update(unit=unit, obj=stored[line_id], entity="cost_line", changes=columns)


def _comparable(line: Mapping[str, Any]) -> tuple:
    return (line.get("id"), line.get("name"), line.get("kind"), float(line.get("amount") or 0),
            int(line.get("first_year") or 1), int(line.get("years") or 1), line.get("credit_partner") or None)


@access.audited("proposal")
def set_partner_figures(engine: Engine, *, actor: str, proposal_id: int, partner_id: int,
                        population: Any = _UNSET, assessed_value: Any = _UNSET, status_quo_cost: Any = _UNSET,
                        drivers: Any = _UNSET, exit_cost: Any = _UNSET,
                        expected: Mapping[str, Any] | None = None) -> None:
    """A partner's figures for cost allocation. Population and assessed value are the government's (the same in
    every proposal it takes part in); status-quo cost, usage figures and exit charge are its part in this one.
    `expected`: the figures that were on the user's screen (field -> value) for the fields given; when somebody
    saved another value since, the change is refused rather than overwriting theirs."""
    given = {k: v for k, v in (("population", population), ("assessed_value", assessed_value),
                               ("status_quo_cost", status_quo_cost), ("drivers", drivers),
                               ("exit_cost", exit_cost)) if v is not _UNSET}
    values = rules.check_row(rules.PARTNER, given)
    with store.write(engine, actor, "the partner's figures") as unit:
        s = unit.session
        _proposal_for(s, actor, proposal_id)
        link = s.execute(select(ProposalPartner).where(ProposalPartner.proposal_id == proposal_id,
                                                       ProposalPartner.partner_id == partner_id)).scalar_one_or_none()
        partner = s.get(Partner, partner_id)
        if link is None or partner is None:
            raise RefusedError(f"partner: partner {partner_id} does not take part in proposal {proposal_id}")
        own = {k: v for k, v in values.items() if k in ("population", "assessed_value")}
        mine = {k: v for k, v in values.items() if k not in own}
        for name, seen in (expected or {}).items():
            if name not in values:
                continue
            stored = getattr(partner if name in own else link, name)
            if name == "drivers":
                stored = dict(stored or {}) or dict(partner.cost_drivers or {})  # as cost_model shows them
            if stored != seen and stored != values[name]:
                raise ConflictError(f"{partner.name}, {name}: somebody saved {stored!r} after you opened the "
                                    f"figures (you saw {seen!r}); your change was not saved")
        if own:
            store.update(unit=unit, obj=partner, entity="partner", changes=own)
        if mine:
            store.update(unit=unit, obj=link, entity="proposal_partner", changes=mine)


def _settings(currency: str | None, cost_horizon: int | None) -> dict[str, Any]:
    """The currency and horizon given, checked by the rules."""
    given = {k: v for k, v in (("currency", currency), ("cost_horizon", cost_horizon)) if v is not None}
    return rules.check_row(rules.PROPOSAL, given)


@access.audited("proposal")
def choose_allocation(engine: Engine, *, actor: str, proposal_id: int, allocation: Mapping[str, Any],
                      rationale: str, expected_version: int | None, currency: str | None = None,
                      cost_horizon: int | None = None) -> int:
    """Record the allocation the partners chose (its method, weights, floors, caps and phase-in, as
    `costs.agreement_to_json` writes them) with the reason, who chose it and when; optionally the currency and the
    horizon. Refused when the proposal was saved by somebody else since `expected_version`. Returns the new
    version."""
    rationale = rules.check(rules.CONSENSUS, "rationale", rationale)
    if not rationale:
        raise RefusedError("rationale: a value is required (why the partners chose this split: the record a "
                           "council will ask for)")
    changes = _settings(currency, cost_horizon)
    with store.write(engine, actor, "the allocation") as unit:
        s = unit.session
        proposal = _proposal_for(s, actor, proposal_id)
        horizon = changes.get("cost_horizon", proposal.cost_horizon)
        stored = rules.check(rules.PROPOSAL, "allocation", dict(allocation))
        if not stored:
            raise RefusedError("allocation: expected a method, got nothing")
        agreement = costs.agreement_from_json(stored, horizon=horizon)
        ids = _partner_ids(s, proposal_id)
        costs.check_partners(agreement, list(ids))
        changes["allocation"] = {**stored, "rationale": rationale, "chosen_by": unit.actor,
                                 "chosen_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        return store.update_versioned(unit=unit, obj=proposal, entity="proposal", label=proposal.title,
                                      expected_version=expected_version, changes=changes).version


@access.audited("proposal")
def set_cost_settings(engine: Engine, *, actor: str, proposal_id: int, expected_version: int | None,
                      currency: str | None = None, cost_horizon: int | None = None) -> int:
    """The proposal's currency and horizon (years). Returns the new version."""
    changes = _settings(currency, cost_horizon)
    with store.write(engine, actor, "the cost settings") as unit:
        proposal = _proposal_for(unit.session, actor, proposal_id)
        return store.update_versioned(unit=unit, obj=proposal, entity="proposal", label=proposal.title,
                                      expected_version=expected_version, changes=changes).version


@access.audited("proposal")
def set_calibration(engine: Engine, *, actor: str, proposal_id: int, calibration: Mapping[str, Any],
                    expected_version: int | None) -> int:
    """The table that prices a risk by its level (level -> events per year, loss low, loss high); empty: risks
    are priced only by their own figures. Returns the new version."""
    table = rules.check(rules.PROPOSAL, "calibration", dict(calibration))
    with store.write(engine, actor, "the calibration table") as unit:
        proposal = _proposal_for(unit.session, actor, proposal_id)
        return store.update_versioned(unit=unit, obj=proposal, entity="proposal", label=proposal.title,
                                      expected_version=expected_version, changes={"calibration": table}).version


__all__ = ["CostModel", "PartnerRow", "Withdrawal", "allocate", "candidate_methods",
           "choose_allocation", "compare_methods", "cost_model", "save_cost_lines", "set_calibration",
           "set_cost_settings", "set_partner_figures", "withdrawal"]
