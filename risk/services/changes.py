"""Which proposals changed between two data versions, read from the audit log: what lets the portfolio refresh
only the part of it that changed (risk/ui/common.py) instead of rebuilding all of it after every change anywhere.

Every write appends its audit events in the same transaction (risk/store.py), and the events' ids grow in commit
order (writers are serialised: SQLite's one writer, PostgreSQL's advisory lock in `store.write`), so the events
with an id in (since, upto] are exactly the changes between the two versions. Each event names its proposal
directly (a proposal's own events, or a row that holds `proposal_id`) or through its risk or round; a bulk event
(a reveal's results, an import) through the rows its id ranges name. An event that cannot be placed (a partner or
matrix shared by many proposals, rows since removed, a kind this module does not know) answers None: rebuild
everything, which is always right."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk.models import AuditEvent, Risk, Round

# kinds of rows that no proposal's pages show: accounts and sign-in, saved import mappings, the audit log's own
# bookkeeping
NOT_IN_PROPOSALS = frozenset({"account", "account_session", "signin_link", "signin_attempt", "column_mapping", "audit"})
# and those that no proposal's portfolio figures show besides: a partner government's strengths, snapshots (a
# decision, which the portfolio counts, has its own events), the conditions of decisions
NOT_IN_PORTFOLIO = NOT_IN_PROPOSALS | {"partner_strength", "snapshot", "decision_condition"}


def _row(text: str) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _bulk(s: Session, summary: dict[str, Any], ignore: frozenset[str]) -> set[int] | None:
    """The proposals of the rows a bulk event wrote, found by their ids in its table (None: cannot be placed)."""
    from sqlalchemy import and_, or_
    from sqlmodel import SQLModel

    t = SQLModel.metadata.tables.get(summary.get("table") or "")
    ranges = summary.get("ids")
    if t is None or not isinstance(ranges, list) or not ranges:
        return None
    if t.name in ignore:
        return set()
    within = or_(*[and_(t.c.id >= low, t.c.id <= high) for low, high in ranges])
    if t.name == "proposal":
        query = select(t.c.id).where(within)
    elif "proposal_id" in t.c:
        query = select(t.c.proposal_id).where(within)
    elif "risk_pk" in t.c:
        query = select(Risk.proposal_id).join(t, t.c.risk_pk == Risk.id).where(within)
    elif "round_id" in t.c:
        query = select(Round.proposal_id).join(t, t.c.round_id == Round.id).where(within)
    else:
        return None
    found = set(s.execute(query.distinct()).scalars())
    return found or None  # rows since removed: cannot tell whose they were


def _placed(s: Session, events: list, ignore: frozenset[str]) -> list[set[int] | None]:
    """Where each audit event (action, entity, entity_id, before, after) falls: the ids of the proposals whose rows
    it changed (empty: none of them), or None when it cannot be placed on particular proposals. Changes to the kinds
    of rows in `ignore` count for no proposal."""
    pending: list[tuple[set[int], set[int], set[int]] | None] = []  # (proposals, risks, rounds) by event
    for action, entity, entity_id, before, after in events:
        if entity in ignore:
            pending.append((set(), set(), set()))
        elif entity in ("partner", "matrix"):
            pending.append(None)  # rows shared by many proposals
        elif action.startswith("bulk"):  # many rows of one table, named by their id ranges (store._bulk_summary)
            placed_bulk = _bulk(s, _row(after), ignore)
            pending.append(None if placed_bulk is None else (placed_bulk, set(), set()))
        elif entity == "proposal" and entity_id.isdigit():
            pending.append(({int(entity_id)}, set(), set()))
        else:
            direct, risks, rounds = set(), set(), set()
            for row in (_row(before), _row(after)):
                if isinstance(row.get("proposal_id"), int):
                    direct.add(row["proposal_id"])
                elif isinstance(row.get("risk_pk"), int):
                    risks.add(row["risk_pk"])
                elif isinstance(row.get("round_id"), int):
                    rounds.add(row["round_id"])
            pending.append((direct, risks, rounds) if direct or risks or rounds else None)
    all_risks = set().union(*(p[1] for p in pending if p))
    all_rounds = set().union(*(p[2] for p in pending if p))
    risk_of = dict(s.execute(select(Risk.id, Risk.proposal_id).where(Risk.id.in_(all_risks))).all()) \
        if all_risks else {}
    round_of = dict(s.execute(select(Round.id, Round.proposal_id).where(Round.id.in_(all_rounds))).all()) \
        if all_rounds else {}
    out: list[set[int] | None] = []
    for p in pending:
        # a risk or round since removed, and its row not in the event: cannot be placed
        if p is None or not p[1] <= risk_of.keys() or not p[2] <= round_of.keys():
            out.append(None)
        else:
            out.append(p[0] | {risk_of[r] for r in p[1]} | {round_of[r] for r in p[2]})
    return out


def changed_proposals(engine: Engine, since: int, upto: int, ignore: frozenset[str] = NOT_IN_PORTFOLIO
                      ) -> set[int] | None:
    """The ids of the proposals whose rows changed in the audit events (since, upto], or None when a change
    cannot be placed on particular proposals (then everything is to be read again). Changes to the kinds of rows
    in `ignore` count for no proposal."""
    if upto <= since:
        return set()
    with Session(engine) as s:
        events = s.execute(select(AuditEvent.action, AuditEvent.entity, AuditEvent.entity_id, AuditEvent.before,
                                  AuditEvent.after).where(AuditEvent.id > since, AuditEvent.id <= upto)).all()
        placed = _placed(s, events, ignore)
    if any(p is None for p in placed):
        return None
    return set().union(*placed)


def recently_changed(engine: Engine, limit: int, scan: int = 2000) -> list[int]:
    """The ids of at most `limit` proposals that still exist, those changed most recently first, from the newest
    `scan` audit events (an event that cannot be placed on particular proposals, a partner's or a matrix's, is
    passed over)."""
    from risk.models import Proposal

    out: list[int] = []
    with Session(engine) as s:
        existing = set(s.execute(select(Proposal.id)).scalars())
        events = s.execute(select(AuditEvent.action, AuditEvent.entity, AuditEvent.entity_id, AuditEvent.before,
                                  AuditEvent.after).order_by(AuditEvent.id.desc()).limit(scan)).all()
        for placed in _placed(s, events, NOT_IN_PROPOSALS):
            out += [pid for pid in sorted(placed or (), reverse=True) if pid in existing and pid not in out]
            if len(out) >= limit:
                break
    return out[:limit]


class ProposalVersions:
    """For each proposal, the data version of the newest change to what its pages show, as one process has followed
    the audit log: what keys the charts and summaries those pages keep, so that a change elsewhere (another
    proposal, a sign-in, an account) builds none of them again. Shared by every session of a process; the log is
    read once for each new data version, whoever asks first.

    Versions before the first one asked for are not known: every proposal then counts as changed at that first
    version, as after a change that cannot be placed on particular proposals (a partner, a matrix)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._seen: int | None = None  # the newest data version followed
        self._floor = 0  # every proposal changed at this version (the first followed, or a change not placed)
        self._last: dict[int, int] = {}  # the newest change since the floor, by proposal

    def of(self, engine: Engine, version: int, proposal_id: int) -> int:
        """The version of the newest change to proposal `proposal_id` at data version `version` or before."""
        with self._lock:
            if self._seen is None:
                self._seen = self._floor = version
            elif version > self._seen:
                changed = changed_proposals(engine, self._seen, version, NOT_IN_PROPOSALS)
                if changed is None:
                    self._floor, self._last = version, {}
                else:
                    self._last.update(dict.fromkeys(changed, version))
                self._seen = version
            elif version < self._seen:  # read before a change this process has already followed: that version
                return version  # itself stands for the proposal as it was then, as precisely
            return max(self._floor, self._last.get(proposal_id, self._floor))


__all__ = ["NOT_IN_PORTFOLIO", "NOT_IN_PROPOSALS", "ProposalVersions", "changed_proposals", "recently_changed"]
