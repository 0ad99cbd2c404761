"""The tables of the workbench (SQLModel). One module, one comment per class; schema changes go through
Alembic (risk/migrations), and every constraint has a name so that batch migrations on SQLite keep it.
Column lengths and the CHECK constraints of words and ranges come from the rules in risk/rules.py (`_len`,
`rules.checks`), the one definition of valid data that the forms and imports apply too."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from risk import rules
from risk.rules import (  # noqa: F401  (the vocabularies live with the rules; imported from here too)
    ACTION,
    CONDITION,
    CONSENSUS,
    COST_LINE,
    DECISION,
    PARTNER,
    PROPOSAL,
    RISK,
    ROUND,
    SCORE_ROW,
    STRENGTH,
    TEAM_MEMBER,
    ActionStatus,
    ConditionStatus,
    CostKind,
    DecisionKind,
    LifecyclePhase,
    PartnerKind,
    PartnerRole,
    ProposalStatus,
    RoundStatus,
    ServiceType,
    TeamRole,
)

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_len = rules.column_length


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class Matrix(SQLModel, table=True):
    """An imported risk matrix (the built-in ones live in risk.scoring); levels, colours and grid as JSON."""

    __tablename__ = "matrix"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    title: str = ""
    levels: list = Field(sa_column=Column(JSON, nullable=False))
    colours: list = Field(sa_column=Column(JSON, nullable=False))
    grid: list = Field(sa_column=Column(JSON, nullable=False))
    source: str = ""
    created_at: dt.datetime = Field(default_factory=utcnow)


class Proposal(SQLModel, table=True):
    """A shared-service proposal: what would be shared, how it is scored, and how much risk each category takes."""

    __tablename__ = "proposal"
    __table_args__ = (
        *rules.checks(PROPOSAL, "service_type", "phase", "status", "aggregation", "cost_horizon"),
        CheckConstraint("version >= 1", name="version"),
    )
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=_len(PROPOSAL, "title"))
    service_type: str = ServiceType.other.value
    description: str = Field(default="", max_length=_len(PROPOSAL, "description"))
    phase: str = LifecyclePhase.assessment.value
    status: str = ProposalStatus.draft.value
    matrix: str = Field(default="nist-800-30", max_length=_len(PROPOSAL, "matrix"))
    aggregation: str = "upper_median"
    cybersecurity: bool = False
    appetite: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # where the guided walk through the categories stands: {"current": key, "done": [keys]}
    walkthrough: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    # grows with every saved change, so that an edit made on an older screen is refused instead of overwriting
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    updated_by: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # who pays for what (risk/costs.py, docs/COSTS.md)
    currency: str = Field(default="USD", max_length=3, sa_column_kwargs={"server_default": "USD"})
    cost_horizon: int = Field(default=5, sa_column_kwargs={"server_default": "5"})
    allocation: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    calibration: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    # the proposal of the last assessment cycle this one was started from (risk/services/cycles.py)
    previous_id: int | None = Field(default=None, foreign_key="proposal.id", ondelete="SET NULL")


class Partner(SQLModel, table=True):
    """A participating government: a county, city or district, with the figures cost allocation needs."""

    __tablename__ = "partner"
    __table_args__ = (
        *rules.checks(PARTNER, "kind", "population", "it_budget", "assessed_value"),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=_len(PARTNER, "name"))
    kind: str = PartnerKind.county.value
    population: int | None = None
    it_budget: float | None = None
    cost_drivers: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    assessed_value: float | None = None


class ProposalPartner(SQLModel, table=True):
    """Which governments take part in a proposal, and which one leads or hosts it."""

    __tablename__ = "proposal_partner"
    __table_args__ = (
        UniqueConstraint("proposal_id", "partner_id"),
        *rules.checks(PARTNER, "role", "status_quo_cost", "exit_cost"),
    )
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True, ondelete="CASCADE")
    partner_id: int = Field(foreign_key="partner.id", index=True)
    role: str = PartnerRole.participant.value
    # this partner in this proposal: what it spends a year doing the service alone today, its usage figures
    # (calls for service, payroll records, ...) and the exit charge the agreement sets
    status_quo_cost: float | None = None
    drivers: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    exit_cost: float | None = None


class TeamMember(SQLModel, table=True):
    """A member of a proposal's Shared Service Assessment Team, from one partner government."""

    __tablename__ = "team_member"
    __table_args__ = (
        UniqueConstraint("proposal_id", "name"),
        *rules.checks(TEAM_MEMBER, "team_role"),
    )
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=_len(TEAM_MEMBER, "name"))
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    team_role: str = TeamRole.assessor.value
    expertise: str = Field(default="", max_length=_len(TEAM_MEMBER, "expertise"))
    # the account that signs in as this member (risk/access.py): set when the account's full name and partner
    # government match the member's, or linked explicitly
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="SET NULL")


class Risk(SQLModel, table=True):
    """One risk of a proposal, written as cause, event and consequence, with its stable key (LEG-03)."""

    __tablename__ = "risk"
    __table_args__ = (
        UniqueConstraint("proposal_id", "risk_id"),
        *rules.checks(RISK, "category", "target_likelihood", "target_impact", "status", "treatment",
                     "frequency", "loss_low", "loss_high"),
        CheckConstraint("version >= 1", name="version"),
    )
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True, ondelete="CASCADE")
    risk_id: str = Field(max_length=_len(RISK, "risk_id"))
    category: str
    title: str = Field(max_length=_len(RISK, "title"))
    cause: str = Field(default="", max_length=_len(RISK, "cause"))
    event: str = Field(default="", max_length=_len(RISK, "event"))
    consequence: str = Field(default="", max_length=_len(RISK, "consequence"))
    owner_partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    owner: str = Field(default="", max_length=_len(RISK, "owner"))
    controls: str = Field(default="", max_length=_len(RISK, "controls"))
    treatment: str | None = None
    target_likelihood: int | None = None
    target_impact: int | None = None
    status: str = "Draft"
    tags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    template_id: str | None = Field(default=None, max_length=_len(RISK, "template_id"))
    # its price (risk/quantify.py): events per year and one event's loss as a 90% range (5th to 95th percentile)
    frequency: float | None = None
    loss_low: float | None = None
    loss_high: float | None = None
    version: int = 1
    updated_at: dt.datetime = Field(default_factory=utcnow)
    updated_by: str = ""


class Action(SQLModel, table=True):
    """A treatment step for a risk: who does it, by when, what it costs and which partner pays."""

    __tablename__ = "action"
    __table_args__ = (
        *rules.checks(ACTION, "status", "cost"),
    )
    id: int | None = Field(default=None, primary_key=True)
    risk_pk: int = Field(foreign_key="risk.id", index=True, ondelete="CASCADE")
    description: str = Field(max_length=_len(ACTION, "description"))
    owner: str = Field(default="", max_length=_len(ACTION, "owner"))
    due_date: dt.date | None = None
    status: str = ActionStatus.planned.value
    cost: float | None = None
    paying_partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)


class CostLine(SQLModel, table=True):
    """A cost of the shared service: one-time (in its first year) or recurring (each year for `years`), optionally an
    existing asset a partner contributes (a credit against that partner's share)."""

    __tablename__ = "cost_line"
    __table_args__ = (
        *rules.checks(COST_LINE, "kind", "amount", "first_year", "years"),
    )
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=_len(COST_LINE, "name"))
    kind: str = CostKind.recurring.value
    amount: float
    first_year: int = 1
    years: int = 1
    credit_partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)


class Snapshot(SQLModel, table=True):
    """The whole assessment of a proposal as it stood at a moment (risk/services/decisions.py): its JSON document
    with standing values, revealed scores, consensus, actions, appetites and cost shares, with its SHA-256 and the
    audit head then. Written once and never changed (no service updates it; `risk audit verify` checks the row
    against the audit record)."""

    __tablename__ = "snapshot"
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True, ondelete="CASCADE")
    taken_at: dt.datetime = Field(default_factory=utcnow)
    taken_by: str = Field(max_length=200)
    reason: str = Field(default="", max_length=300)
    sha256: str = Field(max_length=64)
    audit_head: str = Field(default="", max_length=200)
    content: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Decision(SQLModel, table=True):
    """A partner government's decision on a proposal, taken by its reviewer, on the snapshot it saw. The latest
    decision of each partner stands; earlier ones stay as its history."""

    __tablename__ = "decision"
    __table_args__ = (
        *rules.checks(DECISION, "decision"),
    )
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True, ondelete="CASCADE")
    partner_id: int = Field(foreign_key="partner.id", index=True)
    decision: str = DecisionKind.approve.value
    rationale: str = Field(max_length=_len(DECISION, "rationale"))
    decided_by: str = Field(max_length=40)  # the reviewer's username
    recorded_by: str = Field(max_length=200)  # who entered it (the reviewer, or an operator for them)
    recorded_at: dt.datetime = Field(default_factory=utcnow)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    reaffirms_id: int | None = Field(default=None, foreign_key="decision.id")


class DecisionCondition(SQLModel, table=True):
    """A condition of an approval: what must happen, who sees to it, by when, and where it stands; optionally tied
    to a risk or an action."""

    __tablename__ = "decision_condition"
    __table_args__ = (
        *rules.checks(CONDITION, "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="decision.id", index=True, ondelete="CASCADE")
    text: str = Field(max_length=_len(CONDITION, "text"))
    owner: str = Field(default="", max_length=_len(CONDITION, "owner"))
    due_date: dt.date | None = None
    status: str = ConditionStatus.open.value
    risk_pk: int | None = Field(default=None, foreign_key="risk.id", ondelete="SET NULL")
    action_id: int | None = Field(default=None, foreign_key="action.id", ondelete="SET NULL")


class Round(SQLModel, table=True):
    """A round of blind scoring for one proposal and phase, numbered 1, 2, ... and open -> revealed -> closed."""

    __tablename__ = "round"
    __table_args__ = (
        UniqueConstraint("proposal_id", "phase", "number"),
        *rules.checks(ROUND, "phase", "status", "number"),
    )
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True, ondelete="CASCADE")
    phase: str
    number: int
    status: str = RoundStatus.open.value
    # the risks in the round (their ids); empty means every risk of the proposal
    scope: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    # assessors score the impact on their own government (per-partner impact)
    per_partner: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # the reveal names the assessors (anonymous by default)
    show_names: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    opened_at: dt.datetime = Field(default_factory=utcnow)
    revealed_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None


class Score(SQLModel, table=True):
    """One assessor's blind score of one risk in one round; sending it again replaces it (an upsert)."""

    __tablename__ = "score"
    __table_args__ = (
        UniqueConstraint("round_id", "assessor_id", "risk_pk"),
        *rules.checks(SCORE_ROW, "likelihood", "impact"),
        Index("ix_score_risk_round", "risk_pk", "round_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True, ondelete="CASCADE")
    assessor_id: int = Field(foreign_key="team_member.id", index=True)
    risk_pk: int = Field(foreign_key="risk.id", ondelete="CASCADE")
    likelihood: int
    impact: int
    rationale: str = Field(default="", max_length=_len(SCORE_ROW, "rationale"))
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Consensus(SQLModel, table=True):
    """The value the team agreed for a risk in a phase, overriding the aggregate, with any dissent."""

    __tablename__ = "consensus"
    __table_args__ = (
        UniqueConstraint("risk_pk", "phase"),
        *rules.checks(CONSENSUS, "phase", "likelihood", "impact"),
    )
    id: int | None = Field(default=None, primary_key=True)
    risk_pk: int = Field(foreign_key="risk.id", index=True, ondelete="CASCADE")
    phase: str
    likelihood: int
    impact: int
    rationale: str = Field(default="", max_length=_len(CONSENSUS, "rationale"))
    dissent: str = Field(default="", max_length=_len(CONSENSUS, "dissent"))
    recorded_by: str = Field(max_length=_len(CONSENSUS, "recorded_by"))
    recorded_at: dt.datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """One change: who, when, what, before and after; `hash` chains it to the event before it."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: str  # ISO timestamp, kept as text so the hash is computed over exactly what is stored
    actor: str
    action: str
    entity: str
    entity_id: str = ""
    before: str = ""  # canonical JSON, or empty
    after: str = ""
    prev_hash: str
    hash: str = Field(unique=True)


class RoundResult(SQLModel, table=True):
    """A revealed round's verdict on one risk, by every aggregation method, with mean and flags. Written once
    when the round is revealed (its scores are frozen from then on), so profiles read it instead of raw scores."""

    __tablename__ = "round_result"
    __table_args__ = (
        UniqueConstraint("round_id", "risk_pk"),
        CheckConstraint("n >= 1", name="n"),
        CheckConstraint(
            "lik_upper_median BETWEEN 1 AND 5 AND imp_upper_median BETWEEN 1 AND 5 AND lik_max BETWEEN 1 AND 5 "
            "AND imp_max BETWEEN 1 AND 5 AND lik_ojov BETWEEN 1 AND 5 AND imp_ojov BETWEEN 1 AND 5",
            name="scores",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True, ondelete="CASCADE")
    risk_pk: int = Field(foreign_key="risk.id", index=True, ondelete="CASCADE")
    n: int
    lik_upper_median: int
    imp_upper_median: int
    lik_max: int
    imp_max: int
    lik_ojov: int
    imp_ojov: int
    mean_likelihood: float
    mean_impact: float
    flags: str = ""  # sorted flag names joined by ","


class PartnerStrength(SQLModel, table=True):
    """How well placed a partner is to support a capability of the shared service (0 none .. 5 excellent):
    "seek the strengths of each participating government"."""

    __tablename__ = "partner_strength"
    __table_args__ = (
        UniqueConstraint("proposal_id", "partner_id", "capability"),
        *rules.checks(STRENGTH, "score"),
    )
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True, ondelete="CASCADE")
    partner_id: int = Field(foreign_key="partner.id", index=True)
    capability: str = Field(max_length=_len(STRENGTH, "capability"))
    score: int
    note: str = Field(default="", max_length=_len(STRENGTH, "note"))


class ColumnMapping(SQLModel, table=True):
    """A saved mapping of a spreadsheet's column names to the register's (theirs -> ours, "" leaves a column out),
    so that the next file from the same source imports without mapping again."""

    __tablename__ = "column_mapping"
    __table_args__ = (UniqueConstraint("name"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    columns: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_by: str = ""
    updated_at: dt.datetime = Field(default_factory=utcnow)


class CreationToken(SQLModel, table=True):
    """One form instance's creation: a double click or a repeated submit of the same form finds the row it
    already made here (written in the same transaction as the row) instead of creating a second one."""

    __tablename__ = "creation_token"
    token: str = Field(primary_key=True, max_length=64)
    entity: str = Field(max_length=40)
    entity_id: int
    created_at: dt.datetime = Field(default_factory=utcnow)


class Account(SQLModel, table=True):
    """A person who signs in: a unique lower-case username, the partner government they work for (none for
    regional or state staff), whether they administer the workbench or are disabled, and the Argon2 hash of their
    password (none for an account that will sign in only by single sign-on or a one-time link). The hash is left
    out of every dump and repr of the row (`exclude`, `repr`), so that it never reaches the audit log or a log
    line; risk/accounts.py writes it."""

    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint("length(username) BETWEEN 3 AND 40 AND username = lower(username)", name="username"),
        CheckConstraint("failed_signins >= 0", name="failed_signins"),
    )
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=40)
    full_name: str = Field(max_length=200)
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    is_admin: bool = False
    disabled: bool = False
    password_hash: str | None = Field(default=None, max_length=255, exclude=True, repr=False)
    email: str | None = Field(default=None, unique=True, max_length=254)
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    # failed sign-ins since the last one that succeeded, and until when sign-in is refused after too many
    failed_signins: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    locked_until: dt.datetime | None = None


class AccountSession(SQLModel, table=True):
    """A signed-in session of an account. Only the SHA-256 (hex) of its token is stored, never the token, and that
    hash is left out of every dump of the row too. It ends when ended, after a time without use, or at its
    `expires_at` (risk/accounts.py has the durations)."""

    __tablename__ = "account_session"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(unique=True, max_length=64, exclude=True, repr=False)
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_seen_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime
    ended_at: dt.datetime | None = None
    address: str | None = Field(default=None, max_length=100)


class SigninLink(SQLModel, table=True):
    """A one-time sign-in link for an account (a workshop's QR code): only the SHA-256 of its token is stored; it
    signs in once, before `expires_at` (the end of the day it was issued)."""

    __tablename__ = "signin_link"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(unique=True, max_length=64, exclude=True, repr=False)
    issued_by: str = Field(max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime
    used_at: dt.datetime | None = None


class SigninAttempt(SQLModel, table=True):
    """One attempt to sign in, successful or not, with the username tried and where from: repeated failures for a
    username or from an address slow further attempts down."""

    __tablename__ = "signin_attempt"
    __table_args__ = (
        Index("ix_signin_attempt_username_at", "username", "at"),
        Index("ix_signin_attempt_address_at", "address", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=200)
    address: str | None = Field(default=None, max_length=100)
    at: dt.datetime = Field(default_factory=utcnow)
    succeeded: bool = False
