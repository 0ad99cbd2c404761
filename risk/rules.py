"""What valid data is: one declaration per thing the workbench stores (proposal, partner, team member, risk,
score, consensus, action, round, strength), used by every door and by the database.

- The services behind the forms and the `risk` command check a value with `check(ENTITY, field, value)`.
- The bundle check (risk/bundle.py), which the JSON import, the register import, the demo and synthetic loads go
  through, checks every row with `check_row`, and every score pair with the same ranges in one vectorised pass.
- The register import's column checks (risk/services/register_import/rows.py) take their limits and words here.
- risk/models.py takes each column's length and its CHECK constraints from here (`column_length`, `checks`), and
  tests/test_rules.py shows that the migrated database has them.

Every refusal reads `<place>: <field>: <what was expected>, got <what came>`; the place is the door's (a file
row, a JSON path, nothing for a form) and the rest is the same at every door. The rules are written out for users
in docs/VALIDATION.md."""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from risk import scoring
from risk.errors import RefusedError

# --- vocabularies ---------------------------------------------------------------------------------


class ServiceType(StrEnum):
    dispatch = "911/CAD"
    erp = "ERP/payroll"
    gis = "GIS"
    data_centre = "Data centre"
    other = "Other"


class LifecyclePhase(StrEnum):
    idea = "Idea"
    assessment = "Assessment"
    decision = "Decision"
    implementation = "Implementation"
    operation = "Operation"
    review = "Review"


class ProposalStatus(StrEnum):
    draft = "Draft"
    in_assessment = "In assessment"
    approved = "Approved"
    rejected = "Rejected"
    on_hold = "On hold"
    withdrawn = "Withdrawn"


class PartnerKind(StrEnum):
    county = "county"
    city = "city"
    district = "district"
    other = "other"


class PartnerRole(StrEnum):
    lead = "lead"
    participant = "participant"


class CostKind(StrEnum):
    one_time = "one_time"
    recurring = "recurring"


class DecisionKind(StrEnum):
    approve = "approve"
    approve_with_conditions = "approve_with_conditions"
    reject = "reject"
    send_back = "send_back"


class ConditionStatus(StrEnum):
    open = "open"
    met = "met"
    missed = "missed"
    waived = "waived"


class TeamRole(StrEnum):
    facilitator = "facilitator"
    assessor = "assessor"
    observer = "observer"
    reviewer = "reviewer"  # the county manager who reads all of the proposal and records their government's decision


class RoundStatus(StrEnum):
    open = "open"
    revealed = "revealed"
    closed = "closed"


class ActionStatus(StrEnum):
    planned = "Planned"
    in_progress = "In progress"
    done = "Done"
    cancelled = "Cancelled"


def _values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(e.value for e in enum)


# --- how a refusal quotes a value -----------------------------------------------------------------

def described(value: Any) -> str:
    """A value as a refusal quotes it: its kind, and only its start when it is long text."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "nothing"}[value]
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}… ({len(value):,} characters)"
    if isinstance(value, numbers.Real):
        return repr(value.item() if hasattr(value, "item") else value)  # 6, 2.5 (text is quoted: '6')
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class Invalid(ValueError):
    """A value that breaks its rule; the message is what was expected and what came (without the field)."""


# --- one rule per field ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """A field's rule. `kind`: text, choice, whole, amount, flag, date, words (a list of tags), figures
    (names with numbers), appetite, or key (a risk_id). `limit`: the most characters of text. `low`/`high`:
    the range of a number. `choices`: the words a choice takes (matched in any case, stored as written here).
    `parse`: a rule's own reading of a choice (category names, treatment aliases). `required`: text must not be
    blank; other kinds must be given. `optional`: a required field that a new row may leave out (its default
    stands), though it may not be given blank. `null`: absent or empty means None."""

    kind: str
    required: bool = False
    limit: int | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    parse: Callable[[str], str] | None = None
    null: bool = False
    optional: bool = False
    also: str = ""  # other words a choice takes, for the refusal: "or Tolerate, Treat, Transfer, Terminate"

    def expected(self) -> str:
        """What the field takes, in the words of a refusal."""
        if self.kind == "text":
            return f"text of at most {self.limit:,} characters" if self.limit else "text"
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}" + (f" ({self.also})" if self.also else "")
        if self.kind == "whole":
            if self.high is not None:
                return f"a whole number from {self.low:,.0f} to {self.high:,.0f}"
            return f"a whole number of at least {self.low:,.0f}"
        if self.kind == "amount":
            return f"an amount of at least {self.low:,.0f}"
        if self.kind == "flag":
            return "true or false"
        if self.kind == "date":
            return "a date as YYYY-MM-DD"
        if self.kind == "words":
            return f"a list of words of at most {self.limit} characters each"
        if self.kind == "figures":
            return "names with numbers of at least 0, such as {'road_miles': 120}"
        if self.kind == "appetite":
            return f"categories with one of {', '.join(scoring.APPETITES)}"
        if self.kind == "key":
            return f"a key such as {scoring.RISK_ID_EXAMPLE}"
        if self.kind == "object":
            return self.also
        raise AssertionError(self.kind)

    def __post_init__(self) -> None:
        # looked up once: a bundle of 10,000 risks calls a rule some 150,000 times
        object.__setattr__(self, "_check", getattr(self, f"_{self.kind}"))
        object.__setattr__(self, "_words_of", {c.lower(): c for c in self.choices})
        object.__setattr__(self, "_stored", frozenset(self.choices))

    def __call__(self, value: Any) -> Any:
        """The value as stored, or Invalid."""
        if value is None or (self.null and isinstance(value, str) and not value.strip()):
            if self.null:
                return None
            if self.kind == "text" and not self.required:
                return ""
            raise Invalid("a value is required")
        return self._check(value)

    def _bad(self, value: Any) -> Invalid:
        return Invalid(f"expected {self.expected()}, got {described(value)}")

    def _text(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self._bad(value)
        text = value.strip()
        if self.required and not text:
            raise Invalid("a value is required")
        if self.limit is not None and len(text) > self.limit:
            raise Invalid(f"at most {self.limit:,} characters, got {len(text):,}")
        return text

    def _choice(self, value: Any) -> str:
        if isinstance(value, str):
            if self.parse is not None:
                try:
                    return self.parse(value)
                except ValueError:
                    raise self._bad(value) from None
            if value in self._stored:  # the common case: already as stored
                return value
            choice = self._words_of.get(value.strip().lower())
            if choice is not None:
                return choice
        raise self._bad(value)

    def _number(self, value: Any, whole: bool) -> int | float:
        # numpy's numbers (from a grid or a spreadsheet) count; true is not 1, and text is not a number
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise self._bad(value)
        if not math.isfinite(value) or (self.low is not None and value < self.low) \
                or (self.high is not None and value > self.high):
            raise self._bad(value)
        if whole:
            if not float(value).is_integer():  # 3.0 from a JSON file or a grid column is 3; 2.5 is refused
                raise self._bad(value)
            return int(value)
        return float(value)

    def _whole(self, value: Any) -> int:
        return self._number(value, whole=True)  # type: ignore[return-value]

    def _amount(self, value: Any) -> float:
        return self._number(value, whole=False)  # type: ignore[return-value]

    def _flag(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self._bad(value)
        return value

    def _date(self, value: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise self._bad(value)

    def _words(self, value: Any) -> list[str]:
        if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
            raise self._bad(value)
        words = sorted({t.strip().lower() for t in value if t.strip()})
        if any(len(t) > (self.limit or 0) for t in words):
            raise self._bad(value)
        return words

    def _figures(self, value: Any) -> dict[str, float]:
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and k.strip() and not isinstance(v, bool) and isinstance(v, int | float)
                and math.isfinite(v) and v >= 0 for k, v in value.items()):
            raise self._bad(value)
        return {k.strip(): v for k, v in value.items()}

    def _appetite(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise self._bad(value)
        out = scoring.default_appetite()
        for key, word in value.items():
            try:
                category = scoring.category_key(key) if isinstance(key, str) else None
            except ValueError:
                category = None
            if category is None:
                raise Invalid(f"{key}: expected a category ({', '.join(scoring.CATEGORIES)}), got "
                              f"{described(key)}")
            if not isinstance(word, str) or word not in scoring.APPETITES:
                raise Invalid(f"{key}: expected one of {', '.join(scoring.APPETITES)}, got {described(word)}")
            out[category] = word
        return out

    def _object(self, value: Any) -> Any:
        """A value with a shape of its own (a currency code, an allocation, a calibration table): `parse` reads it
        as stored or raises ValueError saying what is wrong."""
        try:
            return self.parse(value)  # type: ignore[misc]
        except (ValueError, TypeError) as exc:
            raise Invalid(f"expected {self.also}, got {described(value)}" if not str(exc) else str(exc)) from None

    def _key(self, value: Any) -> str:
        try:
            return scoring.check_risk_id(value)
        except ValueError as exc:
            raise Invalid(str(exc)) from None


def _text(limit: int, *, required: bool = False) -> Rule:
    return Rule("text", required=required, limit=limit)


def _choice(values: tuple[str, ...], *, null: bool = False, parse: Callable[[str], str] | None = None,
            also: str = "") -> Rule:
    return Rule("choice", choices=values, null=null, parse=parse, also=also)


def _category(value: str) -> str:
    return scoring.category_key(value)


def _decision_word(value: str) -> str:
    word = value.strip().lower().replace("-", "_").replace(" ", "_")
    if word not in {d.value for d in DecisionKind}:
        raise ValueError(value)
    return word


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        raise ValueError(f"expected a three-letter currency code such as USD, got {described(value)}")
    return value.strip().upper()


def _allocation(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"expected an allocation (an object with a method), got {described(value)}")
    if not value:
        return {}
    from risk.costs import agreement_from_json, agreement_to_json

    return agreement_to_json(agreement_from_json(value)) | {
        k: value[k] for k in ("rationale", "chosen_by", "chosen_at") if isinstance(value.get(k), str)}


def _calibration(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"expected a calibration table (level -> [events per year, loss low, loss high]), got "
                         f"{described(value)}")
    if not value:
        return {}
    from risk.quantify import calibration_from_json, calibration_to_json

    return calibration_to_json(calibration_from_json(value))


SCORE = Rule("whole", required=True, low=1, high=5)  # a likelihood or an impact (docs/SCORING.md, Scales)
NAME = 200  # the most characters of a person's or a government's name
LONG = 5000  # the most characters of a risk's sentence parts, rationales and notes

PROPOSAL: dict[str, Rule] = {
    "title": _text(200, required=True),
    "service_type": _choice(_values(ServiceType)),
    "description": _text(20_000),
    "phase": _choice(_values(LifecyclePhase)),
    "status": _choice(_values(ProposalStatus)),
    # the name of a built-in or imported matrix (looked up by the service and the loader)
    "matrix": Rule("text", required=True, optional=True, limit=120),
    "aggregation": _choice(scoring.AGGREGATIONS),
    "cybersecurity": Rule("flag"),
    "appetite": Rule("appetite"),
    # who pays for what (docs/COSTS.md): money in `currency`, over `cost_horizon` years, split by `allocation`
    "currency": Rule("object", required=True, optional=True, limit=3, parse=_currency,
                     also="a three-letter currency code such as USD"),
    "cost_horizon": Rule("whole", required=True, optional=True, low=1, high=50),
    "allocation": Rule("object", parse=_allocation, also="an allocation: an object with a method and its figures"),
    # the levels' prices: {level: [events per year, loss low, loss high]} (docs/COSTS.md, Risk in money)
    "calibration": Rule("object", parse=_calibration,
                        also="a calibration table: level -> [events per year, loss low, loss high]"),
}
PARTNER: dict[str, Rule] = {
    "name": _text(NAME, required=True),
    "kind": _choice(_values(PartnerKind)),
    "role": _choice(_values(PartnerRole)),  # in a proposal (proposal_partner.role)
    "population": Rule("whole", low=0, high=1_000_000_000, null=True),
    "it_budget": Rule("amount", low=0, null=True),
    "cost_drivers": Rule("figures"),
    "assessed_value": Rule("amount", low=0, null=True),
    # in a proposal (proposal_partner): what it spends a year doing this alone, its usage, its exit charge
    "status_quo_cost": Rule("amount", low=0, null=True),
    "drivers": Rule("figures"),
    "exit_cost": Rule("amount", low=0, null=True),
}
# the partner's fields that belong to its part in one proposal (table proposal_partner), not to the government
PARTNER_IN_PROPOSAL = ("role", "status_quo_cost", "drivers", "exit_cost")
TEAM_MEMBER: dict[str, Rule] = {
    "name": _text(NAME, required=True),
    "team_role": _choice(_values(TeamRole)),
    "expertise": _text(500),
}
RISK: dict[str, Rule] = {
    "risk_id": Rule("key", required=True, limit=40),
    "category": Rule("choice", required=True, choices=tuple(scoring.CATEGORIES), parse=_category,
                     also=f"or its name: {', '.join(scoring.CATEGORIES.values())}"),
    "title": _text(300, required=True),
    "cause": _text(LONG),
    "event": _text(LONG),
    "consequence": _text(LONG),
    "owner": _text(NAME),
    "controls": _text(LONG),
    "treatment": _choice(scoring.TREATMENTS, null=True, parse=scoring.normalise_treatment,
                         also="or Tolerate, Treat, Transfer, Terminate"),
    "target_likelihood": Rule("whole", low=1, high=5, null=True),
    "target_impact": Rule("whole", low=1, high=5, null=True),
    "status": _choice(scoring.RISK_STATUSES),
    "tags": Rule("words", limit=40),
    "template_id": Rule("text", limit=40, null=True),
    # risk in money (docs/COSTS.md): events per year and one event's loss as a 90% range; all three or none
    "frequency": Rule("amount", low=0, high=1000, null=True),
    "loss_low": Rule("amount", low=0.01, null=True),
    "loss_high": Rule("amount", low=0.01, null=True),
}
ROUND: dict[str, Rule] = {
    "phase": Rule("choice", required=True, choices=scoring.PHASES),
    "number": Rule("whole", required=True, low=1, high=1000),
    "status": _choice(_values(RoundStatus)),
}
SCORE_ROW: dict[str, Rule] = {
    "likelihood": SCORE,
    "impact": SCORE,
    "rationale": _text(LONG),
}
CONSENSUS: dict[str, Rule] = {
    "phase": Rule("choice", required=True, choices=scoring.PHASES),
    "likelihood": SCORE,
    "impact": SCORE,
    "rationale": _text(LONG),
    "dissent": _text(LONG),
    "recorded_by": _text(NAME, required=True),
}
ACTION: dict[str, Rule] = {
    "description": _text(LONG, required=True),
    "owner": _text(NAME),
    "due_date": Rule("date", null=True),
    "status": _choice(_values(ActionStatus)),
    "cost": Rule("amount", low=0, null=True),
}
COST_LINE: dict[str, Rule] = {
    "name": _text(200, required=True),
    "kind": _choice(_values(CostKind)),
    "amount": Rule("amount", required=True, low=0, high=1e13),
    "first_year": Rule("whole", required=True, optional=True, low=1, high=50),
    "years": Rule("whole", required=True, optional=True, low=1, high=50),
    "credit_partner": Rule("text", limit=NAME, null=True),  # a partner's name (cost_line.credit_partner_id)
}
DECISION: dict[str, Rule] = {
    # approve-with-conditions and send-back are read too (the command line's spelling)
    "decision": _choice(_values(DecisionKind), parse=lambda v: _decision_word(v),
                        also="or approve-with-conditions, send-back"),
    "rationale": _text(LONG, required=True),
}
CONDITION: dict[str, Rule] = {
    "text": _text(1000, required=True),
    "owner": _text(NAME),
    "due_date": Rule("date", null=True),
    "status": _choice(_values(ConditionStatus)),
}
STRENGTH: dict[str, Rule] = {
    "capability": _text(100, required=True),
    "score": Rule("whole", required=True, low=0, high=5),
    "note": _text(1000),
}

# a rule between fields: a proposal takes cybersecurity risks only when its cybersecurity category is on
CYBERSECURITY_OFF = "cybersecurity is off for this proposal; turn it on on the Proposal page first"


def check_cost_line(line: Any, where: str = "", partners: Collection[str] | None = None) -> dict[str, Any]:
    """One cost line as stored (COST_LINE, with its defaults), the same at every door; `partners`: the names a
    credit may name (the proposal's partners)."""
    if not isinstance(line, Mapping):
        raise refusal(where, "cost line", f"expected an object with a name, kind and amount, got {described(line)}")
    values = check_row(COST_LINE, line, where, whole=True)
    values.setdefault("kind", CostKind.recurring.value)
    values.setdefault("first_year", 1)
    values.setdefault("years", 1)
    credit = values.get("credit_partner")
    if credit and partners is not None and credit not in partners:
        raise refusal(where, "credit_partner", f"expected one of the proposal's partners "
                                               f"({', '.join(sorted(partners)) or 'none yet'}), got {credit!r}")
    values["credit_partner"] = credit or None
    return values


def check_allocation_partners(allocation: Mapping[str, Any], partners: Collection[str], where: str = "") -> None:
    """The partners an allocation names (fixed percentages, floors, caps) must be the proposal's: a rule between
    the allocation and the proposal's partners."""
    from risk.costs import agreement_from_json, check_partners

    try:
        check_partners(agreement_from_json(dict(allocation)), list(partners))
    except RefusedError as exc:
        raise refusal(where, "allocation", str(exc)) from None


RISK_MONEY = ("frequency", "loss_low", "loss_high")


def check_risk_money(frequency: float | None, loss_low: float | None, loss_high: float | None,
                     where: str = "") -> None:
    """A rule between a risk's fields: its price is all three of frequency, loss_low and loss_high, or none, and
    the range's low end is below its high end."""
    given = [name for name, v in (("frequency", frequency), ("loss_low", loss_low), ("loss_high", loss_high))
             if v is not None]
    if given and len(given) < 3:
        missing = [n for n in ("frequency", "loss_low", "loss_high") if n not in given][0]
        raise refusal(where, missing, "a risk's price needs all three of frequency, loss_low and loss_high "
                                      f"(or none), got only {', '.join(given)}")
    if given and loss_low >= loss_high:  # type: ignore[operator]
        raise refusal(where, "loss_high", f"expected more than loss_low ({loss_low:,.2f}), got {loss_high:,.2f}")

ENTITIES: dict[str, dict[str, Rule]] = {
    "proposal": PROPOSAL, "partner": PARTNER, "team_member": TEAM_MEMBER, "risk": RISK, "round": ROUND,
    "score": SCORE_ROW, "consensus": CONSENSUS, "action": ACTION, "partner_strength": STRENGTH,
    "cost_line": COST_LINE, "decision": DECISION, "decision_condition": CONDITION,
}


# --- checking -------------------------------------------------------------------------------------

def refusal(where: str, field: str, problem: str) -> RefusedError:
    """The one shape of a refusal: `<where>: <field>: <problem>` (no place for a form)."""
    return RefusedError(f"{where}: {field}: {problem}" if where else f"{field}: {problem}")


def without(rules: Mapping[str, Rule], *names: str) -> dict[str, Rule]:
    """The rules of an entity but `names` (checked apart, or not the caller's to change)."""
    return {name: rule for name, rule in rules.items() if name not in names}


def check(rules: Mapping[str, Rule], field: str, value: Any, where: str = "", *, name: str | None = None) -> Any:
    """`value` of `field` as stored, or RefusedError naming the place and the field (as `name`, where a file
    calls it otherwise: a score's `round` is the round's `number`)."""
    try:
        return rules[field](value)
    except Invalid as exc:
        raise refusal(where, name or field, str(exc)) from None


def check_row(rules: Mapping[str, Rule], row: Mapping[str, Any], where: str = "", *, whole: bool = False
              ) -> dict[str, Any]:
    """The fields of `row` that `rules` declares, checked. Fields not given are left out (the caller's default
    or the stored value stands), unless `whole` (a new row): then a required field that is missing is refused."""
    if whole:
        for name, rule in rules.items():
            if rule.required and not rule.optional and name not in row:
                raise refusal(where, name, "a value is required")
    out = {}
    for name, rule in rules.items():
        if name in row:
            try:
                out[name] = rule(row[name])
            except Invalid as exc:
                raise refusal(where, name, str(exc)) from None
    return out


def problem(rule: Rule, value: Any) -> str | None:
    """What is wrong with `value` by `rule` (the refusal without place and field), or None when it is valid."""
    try:
        rule(value)
    except Invalid as exc:
        return str(exc)
    return None


def from_cell(text: str) -> Any:
    """A spreadsheet cell's text as the value it stands for, before a rule of a number sees it: '' is nothing,
    '6' is 6, '2.5' is 2.5; anything else ('high', '1e0', '3,5') stays text, which a number rule refuses."""
    text = text.strip()
    if not text:
        return None
    if _DECIMAL.fullmatch(text):
        return float(text) if "." in text else int(text)
    return text


_DECIMAL = re.compile(r"[+-]?\d{1,15}(\.\d{1,15})?", re.ASCII)


# --- what the database takes from the rules -------------------------------------------------------

def column_length(rules: Mapping[str, Rule], field: str) -> int | None:
    """The column length of a text field (its limit)."""
    return rules[field].limit


def checks(rules: Mapping[str, Rule], *fields: str) -> list:
    """CHECK constraints for `fields`: a choice's words, a number's range. Named after the field, so that the
    naming convention in risk/models.py makes them `ck_<table>_<field>`."""
    from sqlalchemy import CheckConstraint

    out = []
    for name in fields:
        rule = rules[name]
        if rule.kind == "choice":
            words = ", ".join("'" + c.replace("'", "''") + "'" for c in rule.choices)
            sql = f"{name} IN ({words})"
        elif rule.kind in ("whole", "amount") and rule.high is not None:
            sql = f"{name} BETWEEN {rule.low:.0f} AND {rule.high:.0f}"
        elif rule.kind in ("whole", "amount"):
            sql = f"{name} >= {rule.low:.0f}"
        else:
            raise ValueError(f"{name}: a {rule.kind} field has no CHECK constraint")
        if rule.null:
            sql = f"{name} IS NULL OR {sql}"
        out.append(CheckConstraint(sql, name=name))
    return out


# --- the rules for people -------------------------------------------------------------------------

TITLES = {"proposal": "Proposal", "partner": "Partner government", "team_member": "Team member", "risk": "Risk",
          "round": "Scoring round", "score": "Score", "consensus": "Consensus", "action": "Action",
          "partner_strength": "Partner strength", "cost_line": "Cost line", "decision": "Decision",
          "decision_condition": "Condition of a decision"}


def table_markdown() -> str:
    """The rules as the tables of docs/VALIDATION.md (a test keeps that file equal to this)."""
    lines = []
    for entity, fields in ENTITIES.items():
        lines += [f"### {TITLES[entity]}", "", "| Field | Takes | Needed |", "|---|---|---|"]
        for name, rule in fields.items():
            needed = "yes" if rule.required and not rule.optional else ("no (blank is nothing)" if rule.null else
                                                                        "no")
            lines.append(f"| `{name}` | {rule.expected().replace('|', '/')} | {needed} |")
        lines.append("")
    return "\n".join(lines)
