"""Who may do what (issue 14, docs/PERMISSIONS.md): every role on a proposal x every service write x their own
proposal and another one, against a table written here (not read from risk/access.py). An allowed write happens
under the actor's name; a refused one raises ForbiddenError, leaves every table as it was and adds exactly one
`refused` event to the audit log, naming the actor. Then the rules around it: scoring only as oneself, disabled
accounts, the operator, who sees which proposal, and accounts linked to team members."""

from __future__ import annotations

import csv
import importlib
import inspect
import io
import pkgutil
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, make_url, select
from sqlmodel import Session

from risk import access, accounts
from risk.db import make_engine
from risk.errors import ForbiddenError
from risk.models import Account, AuditEvent, ColumnMapping, Proposal, Round, TeamMember
from risk.services import costs as cost_service
from risk.services import (
    cycles,
    decisions,
    json_export,
    json_import,
    mappings,
    matrices,
    portfolio,
    register_export,
    signin_links,
    strengths,
    summary,
)
from risk.services import proposals as ps
from risk.services import rounds as rs
from risk.services.bulk import load_bundles
from risk.services.register_import import import_register
from risk.store import verify_chain
from tests.builders import SYSTEM, database_state
from tests.conftest import PG_SKIP_REASON, PG_URL, _fresh_pg_database
from tests.test_matrix_import import ciso_file

pytestmark = pytest.mark.storage

# --- the people -------------------------------------------------------------------------------------------

# role -> the actor string its writes give: a username, or a name that is no account at all
ACTORS = {
    "administrator": "ada",
    "facilitator": "fay",
    "assessor": "ann",
    "observer": "oscar",
    "reviewer": "rita",
    "partner": "pat",  # an account of a partner government of the proposal, not on its team
    "outsider": "otto",  # an account with no link to the proposal
    "disabled": "dis",  # the account of a facilitator of the proposal, disabled
    "nobody": "Fay Facilitator",  # a team member's name, as the old drop-down gave it: no account
}
ROLES = list(ACTORS)
ACCOUNTS = {"administrator", "facilitator", "assessor", "observer", "reviewer", "partner", "outsider"}

# --- the table: which roles may make each write on their own proposal ---------------------------------------
# On another proposal (one they have no part in) only the administrator may, and nobody scores for somebody else.
# Writes marked "none" concern no proposal: the same on both.
FACILITATION = {"administrator", "facilitator"}
RISK_WORK = {"administrator", "facilitator", "assessor"}
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "create_proposal": ("none", ACCOUNTS),
    "update_proposal": ("proposal", FACILITATION),
    "move_walkthrough": ("proposal", FACILITATION),
    "add_partner": ("proposal", FACILITATION),
    "link_partner": ("proposal", FACILITATION),
    "set_strength": ("proposal", FACILITATION),
    "add_team_member": ("proposal", FACILITATION),
    "link_team_member": ("proposal", FACILITATION),
    "add_risk": ("proposal", RISK_WORK),
    "update_risk": ("proposal", RISK_WORK),
    "add_action": ("proposal", RISK_WORK),
    "open_round": ("proposal", FACILITATION),
    "reveal_round": ("proposal", FACILITATION),
    "close_round": ("proposal", FACILITATION),
    "show_names": ("proposal", FACILITATION),
    "submit_score": ("proposal", {"facilitator", "assessor"}),  # as themselves; an administrator is no assessor
    "record_consensus": ("proposal", FACILITATION),
    "import_register_into": ("proposal", FACILITATION),
    "import_register_new": ("none", ACCOUNTS),
    "import_json": ("none", ACCOUNTS),
    "load_bundles": ("none", ACCOUNTS),
    "load_demo": ("none", ACCOUNTS),
    "load_synthetic": ("none", ACCOUNTS),
    "save_mapping": ("none", ACCOUNTS),
    "import_matrix_file": ("none", {"administrator"}),
    "create_account": ("none", {"administrator"}),
    "disable_account": ("none", {"administrator"}),
    "set_password": ("none", {"administrator"}),
    "end_all_sessions": ("none", {"administrator"}),
    "issue_link": ("proposal", FACILITATION),  # a one-time sign-in link for a member of the team
    "save_cost_lines": ("proposal", FACILITATION),  # who pays for what (docs/COSTS.md)
    "set_partner_figures": ("proposal", FACILITATION),
    "choose_allocation": ("proposal", FACILITATION),
    "set_cost_settings": ("proposal", FACILITATION),
    "set_calibration": ("proposal", FACILITATION),
    "record_decision": ("proposal", {"administrator", "reviewer"}),  # its own government's (docs/DECISIONS.md)
    "reaffirm_decision": ("proposal", {"administrator", "reviewer"}),
    "set_condition_status": ("proposal", {"administrator", "facilitator", "reviewer"}),
    # the next cycle: a new proposal from one the account may see
    "start_next_cycle": ("proposal", {"administrator", "facilitator", "assessor", "observer", "reviewer", "partner"}),
}


def expected_allowed(role: str, write: str, whose: str) -> bool:
    kind, allowed = EXPECTED[write]
    if role not in allowed:
        return False
    if kind == "none" or whose == "own":
        return True
    return role == "administrator" and write != "submit_score"


# --- the world: two proposals with their teams, and the accounts ----------------------------------------------

def _member(engine, pid, name, partner_id, role) -> int:
    return ps.add_team_member(engine, actor=SYSTEM, proposal_id=pid, name=name, partner_id=partner_id, team_role=role)


def build_world(engine: Engine) -> dict[str, Any]:
    """Proposal "own" (the people above are on its team or of its partner governments) and "other" (they are not),
    each with two partners, a team, two risks, a revealed residual round and an open inherent round."""
    world: dict[str, Any] = {}
    elsewhere = ps.add_partner(engine, actor=SYSTEM, name="Elsewhere")
    ps.add_partner(engine, actor=SYSTEM, name="Spare town")
    people = {  # key: (username, full name, role on "own", whose partner)
        "fay": ("Fay Facilitator", "facilitator", 0), "ann": ("Ann Assessor", "assessor", 0),
        "ann2": ("Abe Assessor", "assessor", 1), "oscar": ("Oscar Observer", "observer", None),
        "rita": ("Rita Reviewer", "reviewer", 1), "dis": ("Dis Abled", "facilitator", None),
    }
    for whose, prefix in (("own", "Own"), ("other", "Other")):
        pid = ps.create_proposal(engine, actor=SYSTEM, title=f"{prefix} proposal", service_type="911/CAD")
        partners = [ps.add_partner(engine, actor=SYSTEM, name=f"{prefix} county"),
                    ps.add_partner(engine, actor=SYSTEM, name=f"{prefix} city")]
        for k, partner in enumerate(partners):
            ps.link_partner(engine, actor=SYSTEM, proposal_id=pid, partner_id=partner,
                            role="lead" if k == 0 else "participant")
        members: dict[str, int] = {}
        for username, (name, role, partner) in people.items():
            shown = name if whose == "own" else f"{name} of {prefix}"  # another person of that role
            members[username] = _member(engine, pid, shown, None if partner is None else partners[partner], role)
        members["spare"] = _member(engine, pid, "Sam Spare", partners[1], "assessor")
        risks = [ps.add_risk(engine, actor=SYSTEM, proposal_id=pid, category="legal", title=f"Risk {k}",
                             cause="a cause", event="an event", consequence="a consequence") for k in (1, 2)]
        world[whose] = {"proposal": pid, "partners": partners, "members": members, "risks": risks}
    # the accounts: created after the members, each links itself to the "own" member of its name and partner
    partner_name = {p: n for p, n in [(world["own"]["partners"][0], "Own county"), (world["own"]["partners"][1],
                                                                                    "Own city")]}
    for username, (name, _role, partner) in people.items():
        accounts.create_account(engine, actor=SYSTEM, username=username, full_name=name,
                                partner=None if partner is None else partner_name[world["own"]["partners"][partner]])
    accounts.create_account(engine, actor=SYSTEM, username="ada", full_name="Ada Admin", admin=True)
    accounts.create_account(engine, actor=SYSTEM, username="pat", full_name="Pat Partner", partner="Own city")
    accounts.create_account(engine, actor=SYSTEM, username="otto", full_name="Otto Outsider", partner="Elsewhere")
    victim = accounts.create_account(engine, actor=SYSTEM, username="victim", full_name="Vic Tim")
    accounts.start_session(engine, victim.id)  # for end_all_sessions to end
    for whose in ("own", "other"):  # the other proposal's people get accounts of their own
        if whose == "other":
            for username, member in world["other"]["members"].items():
                if username != "spare":
                    ps.link_team_member(engine, actor=SYSTEM, member_id=member, username=accounts.create_account(
                        engine, actor=SYSTEM, username=f"{username}.other", full_name=f"{username} other").username)
        w = world[whose]
        pid, risks, members = w["proposal"], w["risks"], w["members"]
        revealed = rs.open_round(engine, actor=SYSTEM, proposal_id=pid, phase="residual")
        for k, scorer in enumerate(("ann", "ann2")):
            username = scorer if whose == "own" else f"{scorer}.other"
            for risk in risks:
                rs.submit_score(engine, actor=username, round_id=revealed, assessor_id=members[scorer],
                                risk_pk=risk, likelihood=2 + k, impact=3)
        rs.reveal_round(engine, actor=SYSTEM, round_id=revealed)
        w["rounds"] = {"revealed": revealed,
                       "open": rs.open_round(engine, actor=SYSTEM, proposal_id=pid, phase="inherent")}
    for whose in ("own", "other"):  # a decision of each proposal's second government, by its reviewer
        w = world[whose]
        w["reviewer"] = "rita" if whose == "own" else "rita.other"
        w["decision"] = decisions.record_decision(
            engine, actor=SYSTEM, proposal_id=w["proposal"], partner=w["partners"][1],
            decision="approve_with_conditions", rationale="With one condition", conditions=["A report"],
            by=w["reviewer"])
        w["condition"] = decisions.list_decisions(engine, w["proposal"])[0].conditions[0].id
    accounts.disable_account(engine, actor=SYSTEM, username="dis")
    with Session(engine) as s:
        linked = dict(s.execute(select(TeamMember.id, TeamMember.account_id)).all())
    assert all(linked[m] is not None for u, m in world["own"]["members"].items() if u != "spare")
    world["elsewhere"] = elsewhere
    return world


@pytest.fixture(scope="session")
def sqlite_world(sqlite_template, tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("world") / "world.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    world = build_world(engine)
    engine.dispose()  # the last connection checkpoints the WAL into the file
    return path, world


@pytest.fixture(scope="session")
def pg_world(request) -> Iterator[tuple[str, dict]]:
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    for url in _fresh_pg_database(request.getfixturevalue("pg_template")):
        engine = make_engine(url)
        world = build_world(engine)
        engine.dispose()
        yield make_url(url).database, world


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, tmp_path) -> Iterator[tuple[Engine, dict]]:
    """A copy of the world on each storage engine, fresh for each test."""
    if request.param == "sqlite":
        path, built = request.getfixturevalue("sqlite_world")
        shutil.copyfile(path, tmp_path / "risk.db")
        engine = make_engine(f"sqlite:///{tmp_path / 'risk.db'}")
        yield engine, built
        engine.dispose()
        return
    name, built = request.getfixturevalue("pg_world")
    for url in _fresh_pg_database(name):
        engine = make_engine(url)
        yield engine, built
        engine.dispose()


# --- the writes, each a call of a service as `actor` on the proposal `w` ----------------------------------------

def _changed_register(engine: Engine, pid: int) -> bytes:
    rows = list(csv.DictReader(io.StringIO(register_export.export_csv(engine, [pid]).decode("utf-8-sig"))))
    rows[0]["title"] = "Retitled by an import"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _scorer(engine: Engine, actor: str, w: dict) -> int:
    """The member a score is sent for: the actor's own member of the proposal if it scores, else an assessor."""
    with Session(engine) as s:
        mine = s.execute(select(TeamMember.id).join(Account, Account.id == TeamMember.account_id).where(
            TeamMember.proposal_id == w["proposal"], Account.username == actor,
            TeamMember.team_role.in_(("facilitator", "assessor")))).scalar()
    return mine if mine is not None else w["members"]["ann"]


def _report(report: dict) -> dict:
    assert report["problems"] == [], report["problems"]
    return report


NEW_REGISTER = (b"risk_id,category,title,inherent_likelihood,inherent_impact\r\n"
                b"LEG-01,Legal,No agreement,4,5\r\n")

WRITES: dict[str, Callable[[Engine, str, dict, dict], Any]] = {
    "create_proposal": lambda e, a, w, world: ps.create_proposal(e, actor=a, title="A new proposal"),
    "update_proposal": lambda e, a, w, world: ps.update_proposal(e, actor=a, proposal_id=w["proposal"],
                                                                 description="Changed"),
    "move_walkthrough": lambda e, a, w, world: ps.move_walkthrough(e, actor=a, proposal_id=w["proposal"],
                                                                   to="summary", mark_done="legal"),
    "add_partner": lambda e, a, w, world: ps.add_partner(e, actor=a, name="New town", proposal_id=w["proposal"]),
    "link_partner": lambda e, a, w, world: ps.link_partner(e, actor=a, proposal_id=w["proposal"],
                                                           partner_id=world["elsewhere"]),
    "set_strength": lambda e, a, w, world: strengths.set_strength(
        e, actor=a, proposal_id=w["proposal"], partner_id=w["partners"][0], capability="Dispatch operations",
        score=4),
    "add_team_member": lambda e, a, w, world: ps.add_team_member(e, actor=a, proposal_id=w["proposal"],
                                                                 name="New member", partner_id=w["partners"][0]),
    "link_team_member": lambda e, a, w, world: ps.link_team_member(e, actor=a, member_id=w["members"]["spare"],
                                                                   username="victim"),
    "add_risk": lambda e, a, w, world: ps.add_risk(e, actor=a, proposal_id=w["proposal"], category="financial",
                                                   title="Cost overrun"),
    "update_risk": lambda e, a, w, world: ps.update_risk(e, actor=a, risk_pk=w["risks"][0], expected_version=None,
                                                         title="Retitled"),
    "add_action": lambda e, a, w, world: ps.add_action(e, actor=a, risk_pk=w["risks"][0], description="Sign it"),
    "open_round": lambda e, a, w, world: rs.open_round(e, actor=a, proposal_id=w["proposal"], phase="residual"),
    "reveal_round": lambda e, a, w, world: rs.reveal_round(e, actor=a, round_id=w["rounds"]["open"]),
    "close_round": lambda e, a, w, world: rs.close_round(e, actor=a, round_id=w["rounds"]["revealed"]),
    "show_names": lambda e, a, w, world: rs.show_names(e, actor=a, round_id=w["rounds"]["revealed"], show=True),
    "submit_score": lambda e, a, w, world: rs.submit_score(
        e, actor=a, round_id=w["rounds"]["open"], assessor_id=_scorer(e, a, w), risk_pk=w["risks"][0],
        likelihood=4, impact=4),
    "record_consensus": lambda e, a, w, world: rs.record_consensus(
        e, actor=a, risk_pk=w["risks"][0], phase="residual", likelihood=5, impact=5, rationale="Agreed"),
    "import_register_into": lambda e, a, w, world: _report(import_register(
        e, _changed_register(e, w["proposal"]), "r.csv", actor=a, proposal_id=w["proposal"])),
    "import_register_new": lambda e, a, w, world: _report(import_register(e, NEW_REGISTER, "r.csv", actor=a,
                                                                          new_title="From a register")),
    "import_json": lambda e, a, w, world: _report(json_import.import_json(
        e, json_export.export_json(e, [w["proposal"]]), actor=a, new_title="From a file")),
    "load_bundles": lambda e, a, w, world: load_bundles(
        e, [json_import.read_export(json_export.export_json(e, [w["proposal"]]))[0]], actor=a),
    "load_demo": lambda e, a, w, world: portfolio.load_demo(e, actor=a),
    "load_synthetic": lambda e, a, w, world: portfolio.load_synthetic(e, actor=a, proposals=1, risks=2, assessors=2,
                                                                      seed=7),
    "save_mapping": lambda e, a, w, world: mappings.save_mapping(e, actor=a, name="Ledger",
                                                                 columns={"Their title": "title"}),
    "import_matrix_file": lambda e, a, w, world: matrices.import_matrix_file(
        e, ciso_file([[0, 0, 1, 1, 2], [0, 1, 1, 2, 2], [0, 1, 2, 2, 3], [1, 1, 2, 3, 3], [1, 2, 3, 3, 3]]),
        actor=a, name="county-grid"),
    "create_account": lambda e, a, w, world: accounts.create_account(e, actor=a, username="newbie",
                                                                     full_name="New Bie"),
    "disable_account": lambda e, a, w, world: accounts.disable_account(e, actor=a, username="victim"),
    "set_password": lambda e, a, w, world: accounts.set_password(e, actor=a, username="victim",
                                                                 password="a password long enough"),
    "end_all_sessions": lambda e, a, w, world: accounts.end_all_sessions(e, actor=a, username="victim"),
    "issue_link": lambda e, a, w, world: signin_links.issue_link(e, actor=a, member_id=w["members"]["spare"]),
    "save_cost_lines": lambda e, a, w, world: cost_service.save_cost_lines(
        e, actor=a, proposal_id=w["proposal"], lines=[{"name": "Licences", "kind": "recurring", "amount": 1000,
                                                       "years": 5}]),
    "set_partner_figures": lambda e, a, w, world: cost_service.set_partner_figures(
        e, actor=a, proposal_id=w["proposal"], partner_id=w["partners"][0], status_quo_cost=5000, population=900),
    "choose_allocation": lambda e, a, w, world: cost_service.choose_allocation(
        e, actor=a, proposal_id=w["proposal"], allocation={"method": "equal"}, rationale="Same service for each",
        expected_version=None),
    "set_cost_settings": lambda e, a, w, world: cost_service.set_cost_settings(
        e, actor=a, proposal_id=w["proposal"], expected_version=None, currency="CAD", cost_horizon=7),
    "set_calibration": lambda e, a, w, world: cost_service.set_calibration(
        e, actor=a, proposal_id=w["proposal"], calibration={"High": [1, 1000, 10000]}, expected_version=None),
    "record_decision": lambda e, a, w, world: decisions.record_decision(
        e, actor=a, proposal_id=w["proposal"], partner=w["partners"][1], decision="reject", rationale="No",
        by=w["reviewer"]),
    "reaffirm_decision": lambda e, a, w, world: decisions.reaffirm_decision(
        e, actor=a, proposal_id=w["proposal"], decision_id=w["decision"], by=w["reviewer"]),
    "set_condition_status": lambda e, a, w, world: decisions.set_condition_status(
        e, actor=a, proposal_id=w["proposal"], condition_id=w["condition"], status="met"),
    "start_next_cycle": lambda e, a, w, world: cycles.start_next_cycle(e, actor=a, proposal_id=w["proposal"]),
}
assert set(WRITES) == set(EXPECTED)


def _events_since(engine: Engine, after_id: int) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id)).scalars())


def _head_id(engine: Engine) -> int:
    with Session(engine) as s:
        return s.execute(select(func.max(AuditEvent.id))).scalar() or 0


def check_refused(engine: Engine, world: dict, actor: str, write: str, whose: str) -> ForbiddenError:
    """The write raises ForbiddenError; every table is as it was but for one `refused` event naming the actor."""
    before = database_state(engine)
    head = _head_id(engine)
    with pytest.raises(ForbiddenError) as refusal:
        WRITES[write](engine, actor, world[whose], world)
    after = database_state(engine)
    assert {t: n for t, n in after["rows"].items() if t != "audit_event"} == \
           {t: n for t, n in before["rows"].items() if t != "audit_event"}
    assert after["rows"]["audit_event"] == before["rows"]["audit_event"] + 1
    [event] = _events_since(engine, head)
    assert (event.action, event.actor) == ("refused", actor.strip() or "anonymous")
    assert event.prev_hash == (before["audit_head"][1] if before["audit_head"] else "0" * 64)
    assert str(refusal.value) in event.after
    if actor.strip():
        assert actor in str(refusal.value)
    return refusal.value


def check_allowed(engine: Engine, world: dict, actor: str, write: str, whose: str) -> None:
    """The write happens: new audit events, none of them a refusal, all under the actor's name."""
    head = _head_id(engine)
    WRITES[write](engine, actor, world[whose], world)
    events = _events_since(engine, head)
    assert events, f"{write} by {actor} wrote nothing"
    assert {(e.actor, e.action == "refused") for e in events} == {(actor, False)}


CASES = [(role, write, whose) for write, (kind, _allowed) in EXPECTED.items() for role in ROLES
         for whose in (("own", "other") if kind == "proposal" else ("none",))]


@pytest.mark.slow
@pytest.mark.parametrize(("role", "write", "whose"), CASES, ids=["-".join(c) for c in CASES])
def test_each_role_may_make_exactly_the_writes_of_the_table(world, role, write, whose):
    engine, built = world
    actor = ACTORS[role]
    target = "own" if whose == "none" else whose
    if expected_allowed(role, write, target):
        check_allowed(engine, built, actor, write, target)
    else:
        check_refused(engine, built, actor, write, target)


def test_nobody_signed_in_is_refused_every_write_and_each_refusal_is_recorded(world):
    """The quick version of the table above, for the refusals that leave the database as it was: every write by
    an unknown name, by nothing at all and by a disabled account, one after another on one database."""
    engine, built = world
    for write in WRITES:
        for actor in ("Fay Facilitator", "", "dis"):
            exc = check_refused(engine, built, actor, write, "own")
            assert "not signed in" in str(exc) or "nobody" in str(exc)
    assert verify_chain(engine) > 0


def test_an_outsider_is_refused_every_write_on_a_proposal_and_the_facilitator_makes_them(world):
    engine, built = world
    for write, (kind, _allowed) in EXPECTED.items():
        if kind == "proposal":
            exc = check_refused(engine, built, "otto", write, "own")
            assert "otto (not on this proposal's team, nor of one of its partner governments) may not" in str(exc)
    for write in ("update_proposal", "add_risk", "record_consensus", "reveal_round", "link_team_member"):
        check_allowed(engine, built, "fay", write, "own")


# --- scoring only as oneself ----------------------------------------------------------------------------------

def test_an_assessor_cannot_score_as_another_assessor(world):
    engine, built = world
    own = built["own"]
    before = database_state(engine)
    with pytest.raises(ForbiddenError, match="ann \\(assessor of this proposal\\) may not score in place of "
                                             "Abe Assessor"):
        rs.submit_score(engine, actor="ann", round_id=own["rounds"]["open"], assessor_id=own["members"]["ann2"],
                        risk_pk=own["risks"][0], likelihood=1, impact=1)
    assert database_state(engine)["rows"]["score"] == before["rows"]["score"]
    rs.submit_score(engine, actor="ann", round_id=own["rounds"]["open"], assessor_id=own["members"]["ann"],
                    risk_pk=own["risks"][0], likelihood=1, impact=1)
    assert rs.my_scores(engine, round_id=own["rounds"]["open"], assessor_id=own["members"]["ann"]) == {
        own["risks"][0]: (1, 1, "")}


def test_an_administrator_and_the_operator_score_for_nobody_but_a_member_linked_to_them(world):
    engine, built = world
    own = built["own"]
    for actor in ("ada", SYSTEM, "cli:olga"):
        with pytest.raises(ForbiddenError, match="may not score in place of Ann Assessor"):
            rs.submit_score(engine, actor=actor, round_id=own["rounds"]["open"], assessor_id=own["members"]["ann"],
                            risk_pk=own["risks"][0], likelihood=5, impact=5)
    member = ps.add_team_member(engine, actor="ada", proposal_id=own["proposal"], name="Ada Admin",
                                partner_id=None, team_role="facilitator")  # her name and no partner: she is linked
    rs.submit_score(engine, actor="ada", round_id=own["rounds"]["open"], assessor_id=member,
                    risk_pk=own["risks"][0], likelihood=5, impact=5)


def test_a_disabled_account_is_refused_even_on_the_team_it_facilitates(world):
    engine, built = world
    with Session(engine) as s:
        assert s.get(TeamMember, built["own"]["members"]["dis"]).account_id is not None
    exc = check_refused(engine, built, "dis", "open_round", "own")
    assert str(exc).startswith("dis (not signed in: no account of that name, or it is disabled) may not run")
    with Session(engine) as s:
        assert access.visible_proposal_ids(s, "dis") == set()
        assert access.roles(s, "dis", built["own"]["proposal"]) == frozenset()


# --- who is who -------------------------------------------------------------------------------------------

def test_the_operator_is_cli_or_system_with_a_name_and_anything_else_is_nobody(world):
    engine, _built = world
    with Session(engine) as s:
        for actor in ("cli:olga", "system:demo", "  system:test  "):
            p = access.principal(s, actor)
            assert (p.operator, p.is_admin, p.signed_in, p.account_id) == (True, True, True, None)
        for actor in ("cli:", "system:", "", "   ", "Ada Admin", "ADA", "Cli:olga", None):
            p = access.principal(s, actor)
            assert (p.operator, p.is_admin, p.signed_in) == (False, False, False), actor
        ada = access.principal(s, "ada")
        assert (ada.signed_in, ada.is_admin, ada.operator) == (True, True, False) and ada.account_id


def test_each_role_sees_its_own_proposals_and_no_other(world):
    engine, built = world
    own, other = built["own"]["proposal"], built["other"]["proposal"]
    expected = {"administrator": None, "facilitator": {own}, "assessor": {own}, "observer": {own},
                "reviewer": {own}, "partner": {own}, "outsider": set(), "disabled": set(), "nobody": set()}
    with Session(engine) as s:
        seen = {role: access.visible_proposal_ids(s, actor) for role, actor in ACTORS.items()}
        assert access.visible_proposal_ids(s, SYSTEM) is None
        assert access.visible_proposal_ids(s, "fay.other") == {other}
        roles = {role: access.roles(s, actor, own) for role, actor in ACTORS.items()}
    assert seen == expected
    # fay, ann and rita work for partner governments of the proposal too
    assert roles == {"administrator": {"admin"}, "facilitator": {"facilitator", "partner"},
                     "assessor": {"assessor", "partner"},
                     "observer": {"observer"}, "reviewer": {"reviewer", "partner"}, "partner": {"partner"},
                     "outsider": set(), "disabled": set(), "nobody": set()}


def test_lists_and_exports_for_an_actor_hold_only_what_it_may_see(world):
    engine, built = world
    own, other = built["own"]["proposal"], built["other"]["proposal"]
    assert [p.id for p in ps.list_proposals(engine, actor="pat")] == [own]
    assert [p.id for p in ps.list_proposals(engine, actor="otto")] == []
    assert [p.id for p in ps.list_proposals(engine, actor="ada")] == [own, other]
    assert [p.id for p in ps.list_proposals(engine)] == [own, other]  # no actor: every proposal (internal callers)
    assert list(ps.proposal_titles(engine, actor="rita")) == [own]
    assert set(summary.portfolio_frame(engine, actor="ann")["proposal_id"]) == {own}
    assert summary.portfolio_frame(engine, actor="otto").empty
    assert list(summary.portfolio_overview(engine, actor="oscar")["id"]) == [own]
    assert set(summary.portfolio_frame(engine)["proposal_id"]) == {own, other}
    assert [p["id"] for p in json_export.export_document(engine, actor="fay")["proposals"]] == [own]
    assert {r["proposal"] for r in register_export.register_table(engine, actor="ann")} == {"Own proposal"}
    assert register_export.export_csv(engine, [own], actor="pat").startswith(b"\xef\xbb\xbf")
    for export in (lambda: register_export.export_csv(engine, [own, other], actor="pat"),
                   lambda: json_export.export_json(engine, [other], actor="fay"),
                   lambda: register_export.export_csv(engine, [999], actor="fay")):  # absent or hidden: alike
        head = _head_id(engine)
        with pytest.raises(ForbiddenError, match="may not export proposal"):
            export()
        [event] = _events_since(engine, head)
        assert event.action == "refused" and event.actor in ("pat", "fay")


def test_the_ui_may_ask_what_an_account_may_do_without_writing_anything(world):
    engine, built = world
    own, other = built["own"]["proposal"], built["other"]["proposal"]
    before = database_state(engine)
    with Session(engine) as s:
        assert access.may(s, "fay", "issue_signin_links", own) and not access.may(s, "fay", "issue_signin_links", other)
        assert access.may(s, "ann", "score", own) and not access.may(s, "oscar", "score", own)
        assert access.may(s, "rita", "view", own) and access.may(s, "pat", "export", own)
        assert not access.may(s, "pat", "view", other) and not access.may(s, "otto", "view", own)
        assert access.may(s, "otto", "create_proposal") and not access.may(s, "otto", "manage_accounts")
        assert access.may(s, "ada", "manage_accounts") and access.may(s, SYSTEM, "run_rounds", other)
        assert not access.may(s, "Fay Facilitator", "view", own)
    assert database_state(engine) == before


# --- accounts linked to team members --------------------------------------------------------------------

def test_a_member_is_linked_to_the_one_account_of_their_name_and_partner(world):
    engine, built = world
    own = built["own"]
    pid, county = own["proposal"], own["partners"][0]
    accounts.create_account(engine, actor=SYSTEM, username="lee", full_name="Lee Linked", partner="Own county")
    linked = ps.add_team_member(engine, actor="fay", proposal_id=pid, name="Lee Linked", partner_id=county)
    accounts.create_account(engine, actor=SYSTEM, username="jo.one", full_name="Jo Twice", partner="Own county")
    accounts.create_account(engine, actor=SYSTEM, username="jo.two", full_name="Jo Twice", partner="Own county")
    twice = ps.add_team_member(engine, actor="fay", proposal_id=pid, name="Jo Twice", partner_id=county)
    other_partner = ps.add_team_member(engine, actor="fay", proposal_id=pid, name="Lee Linked 2",
                                       partner_id=own["partners"][1])
    later = ps.add_team_member(engine, actor="fay", proposal_id=pid, name="Kim Later", partner_id=county)
    accounts.create_account(engine, actor=SYSTEM, username="kim", full_name="Kim Later", partner="Own county")
    with Session(engine) as s:
        account_of = {m: s.get(TeamMember, m).account_id for m in (linked, twice, other_partner, later)}
        ids = dict(s.execute(select(Account.username, Account.id)).all())
    assert account_of == {linked: ids["lee"], twice: None, other_partner: None, later: ids["kim"]}
    ps.link_team_member(engine, actor="fay", member_id=twice, username="jo.two")  # linked by hand
    with pytest.raises(ForbiddenError, match="ann \\(assessor of this proposal\\) may not change this proposal's team"):
        ps.link_team_member(engine, actor="ann", member_id=twice, username="ann")
    with pytest.raises(Exception, match="lee is linked to Lee Linked on this proposal's team already"):
        ps.link_team_member(engine, actor="fay", member_id=other_partner, username="lee")
    with Session(engine) as s:
        assert s.get(TeamMember, twice).account_id == ids["jo.two"]
    assert access.visible_proposal_ids(Session(engine), "jo.two") == {pid}


def test_an_account_that_creates_a_proposal_facilitates_it_and_the_operator_does_not_join(world):
    engine, _built = world
    mine = ps.create_proposal(engine, actor="otto", title="Otto's idea")
    by_operator = ps.create_proposal(engine, actor=SYSTEM, title="Operator's")
    assert [(m.name, m.team_role, m.partner_id) for m in ps.team(engine, mine)] == [
        ("Otto Outsider", "facilitator", None)]
    assert ps.team(engine, by_operator) == []
    rs_member = ps.team(engine, mine)[0]
    with Session(engine) as s:
        assert rs_member.account_id == s.execute(select(Account.id).where(Account.username == "otto")).scalar()
        assert mine in access.visible_proposal_ids(s, "otto")
    ps.update_proposal(engine, actor="otto", proposal_id=mine, description="Mine to change")
    report = import_register(engine, NEW_REGISTER, "r.csv", actor="otto", new_title="Otto's register")
    assert report["problems"] == []
    with Session(engine) as s:
        assert set(report["proposal_ids"]) <= access.visible_proposal_ids(s, "otto")


def test_a_consensus_is_recorded_under_the_facilitators_team_name(world):
    engine, built = world
    own = built["own"]
    rs.record_consensus(engine, actor="fay", risk_pk=own["risks"][0], phase="residual", likelihood=4, impact=4,
                        rationale="Agreed in the room")
    agreed = rs.recorded_consensus(engine, [own["risks"][0]], "residual")[own["risks"][0]]
    assert agreed.recorded_by == "Fay Facilitator"  # a member of the team, as an export names it
    events = _events_since(engine, _head_id(engine) - 1)
    assert events[-1].actor == "fay"


# --- every write goes through the table ----------------------------------------------------------------

# service writes that are not audited through access.audited, each with why
NOT_THROUGH_THE_TABLE = {
    "risk.accounts.create_first_administrator": "the first-run form: allowed only while there is no administrator",
    "risk.services.decisions.review_due": "a read: it lists only what the actor may see (tests/test_decisions.py)",
}


def _service_writes() -> list[tuple[str, Callable]]:
    import risk.accounts
    import risk.services

    modules = [risk.accounts] + [importlib.import_module(m.name) for m in
                                 pkgutil.walk_packages(risk.services.__path__, "risk.services.")]
    found = []
    for module in modules:
        for name, fn in vars(module).items():
            if not inspect.isfunction(fn) or getattr(fn, "__module__", None) != module.__name__ or name.startswith("_"):
                continue
            params = inspect.signature(fn).parameters
            if "actor" in params and params["actor"].kind == inspect.Parameter.KEYWORD_ONLY \
                    and params["actor"].default is inspect.Parameter.empty:
                found.append((f"{module.__name__}.{name}", fn))
    return found


def test_every_service_write_checks_the_table_and_records_its_refusals():
    writes = _service_writes()
    assert len(writes) >= 25
    unaudited = [name for name, fn in writes if not getattr(fn, "audited", False) and name not in
                 NOT_THROUGH_THE_TABLE]
    assert unaudited == []
    covered = set(EXPECTED) | {"import_register"}  # the table above has every audited write
    missing = [name for name, fn in writes if getattr(fn, "audited", False) and name.rsplit(".", 1)[1] not in covered]
    assert missing == [], "add these writes to EXPECTED and WRITES"


def test_a_refused_save_mapping_leaves_no_mapping(world):
    engine, _built = world
    check_refused(engine, _built, "Fay Facilitator", "save_mapping", "own")
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(ColumnMapping)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(Proposal)).scalar_one() == 2
        assert s.execute(select(func.count()).select_from(Round)).scalar_one() == 4

