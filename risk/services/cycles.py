"""The next assessment cycle (an annual review) started from the last (docs/DECISIONS.md, The next cycle).

`start_next_cycle` makes a new proposal from the last cycle's: every field of every risk carried (through the JSON
export and import, the workbench's full-fidelity path), with its actions, partners and their figures, team,
strengths, costs, chosen allocation and calibration; the rounds, scores and consensus are left behind, so that the
team scores afresh. The last cycle's assessment as it stood is kept on the new proposal as its baseline snapshot,
and the new proposal names the last (`previous_id`). Written in one transaction: all of it or nothing.

`cycle_changes` tags each risk against the last cycle as the team works: New (not in the last cycle), Modified (its
own fields or actions changed), Removed (in the last cycle, not in this one) or Unchanged, with the last cycle's
standing values as "previous"."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access, snapshots
from risk.errors import NotFoundError, RefusedError
from risk.models import Proposal, Snapshot

BASELINE = "the last cycle's assessment as it stood when this cycle started"
# what a new cycle leaves behind: scored afresh, or derived from the scores
_AFRESH = ("scores", "consensus", "inherent", "residual", "over_appetite", "next_review")


@access.audited("proposal")
def start_next_cycle(engine: Engine, *, actor: str, proposal_id: int, title: str | None = None) -> int:
    """A new proposal for the next cycle of `proposal_id` (see the module's docstring); returns its id."""
    from risk.services.bulk import load_bundles
    from risk.services.decisions import current_content
    from risk.services.json_export import export_document
    from risk.services.json_import import read_export

    access.check_visible(engine, actor, [proposal_id], "view")
    with Session(engine) as s:
        old = s.get(Proposal, proposal_id)
        if old is None:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        old_title = old.title
    baseline = current_content(engine, proposal_id)
    doc = export_document(engine, [proposal_id])
    p = doc["proposals"][0]
    new_title = (title or "").strip() or f"{old_title} ({dt.date.today().year} review)"[:200]
    if len(new_title) > 200:
        raise RefusedError(f"title: at most 200 characters, got {len(new_title):,}")
    p["title"] = new_title
    p["rounds"], p["snapshots"], p["decisions"] = [], [], []
    for risk in p["risks"]:
        risk["scores"], risk["consensus"] = [], []
    bundle = read_export(json.dumps(doc).encode())[0]
    bundle.proposal["previous_id"] = proposal_id
    bundle.snapshots = [{"taken_by": actor, "reason": BASELINE, "sha256": snapshots.digest(baseline),
                         "audit_head": "", "content": baseline, "taken_at": None}]
    with Session(engine) as s:
        if s.execute(select(Proposal.id).where(Proposal.title == new_title)).first():
            raise RefusedError(f"title: a proposal called {new_title!r} already exists; give the new cycle "
                               "another title")
    return load_bundles(engine, [bundle], actor=actor)[0]


def _risk_fields(risk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in risk.items() if k not in _AFRESH and k != "risk_id"}


def cycle_changes(engine: Engine, proposal_id: int) -> dict[str, Any]:
    """{"previous_id", "previous_title", "risks": [{"risk_id", "title", "tag", "changed": [fields],
    "previous": {"inherent": level, "residual": level}, "now": {...}, "previous_values": {"inherent": "L4 I3 High
    (consensus)", "residual": ...}}]}; refused for a proposal that was not
    started from a last cycle."""
    from risk.services.decisions import current_content

    with Session(engine) as s:
        proposal = s.get(Proposal, proposal_id)
        if proposal is None:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        base = s.execute(select(Snapshot).where(Snapshot.proposal_id == proposal_id, Snapshot.reason == BASELINE)
                         .order_by(Snapshot.id).limit(1)).scalar_one_or_none()
        previous_title = s.get(Proposal, proposal.previous_id).title if proposal.previous_id else None
    if base is None:
        raise RefusedError(f"“{proposal.title}” was not started from a last cycle (risk cycle start makes one)")
    then = {r["risk_id"]: r for r in base.content.get("risks", [])}
    now = {r["risk_id"]: r for r in current_content(engine, proposal_id).get("risks", [])}
    out = []
    for rid in sorted(set(then) | set(now)):
        a, b = then.get(rid), now.get(rid)
        if a is None:
            tag, changed = "New", []
        elif b is None:
            tag, changed = "Removed", []
        else:
            before, after = _risk_fields(a), _risk_fields(b)
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            tag = "Modified" if changed else "Unchanged"
        out.append({"risk_id": rid, "title": (b or a)["title"], "tag": tag, "changed": changed,
                    "previous": {ph: (a or {}).get(ph, {}).get("level") for ph in ("inherent", "residual")}
                    if a else None,
                    "now": {ph: (b or {}).get(ph, {}).get("level") for ph in ("inherent", "residual")}
                    if b else None,
                    "previous_values": {ph: snapshots.standing_words(a.get(ph)) for ph in ("inherent", "residual")}
                    if a else None})
    return {"previous_id": proposal.previous_id, "previous_title": previous_title, "risks": out}


__all__ = ["BASELINE", "cycle_changes", "start_next_cycle"]
