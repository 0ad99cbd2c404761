"""Loading whole portfolios: the demo and synthetic ones, through the bulk path that imports use too.

A portfolio counts as there only when every one of its proposals is: a load that was interrupted (killed, a full
disk) leaves whole proposals, never part of one, and running it again adds the ones that are missing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access
from risk.bundle import ProposalBundle
from risk.models import Proposal
from risk.services.bulk import load_bundles


@dataclass(frozen=True)
class LoadResult:
    loaded: bool  # False when the whole portfolio was already there (then nothing was written)
    proposal_ids: list[int]  # every proposal of the portfolio, in its order
    kept: int = 0  # proposals an earlier, interrupted load had stored; the rest were added now


def _existing(engine: Engine, titles: list[str]) -> dict[str, int]:
    with Session(engine) as s:
        rows = s.execute(select(Proposal.title, Proposal.id).where(Proposal.title.in_(titles))
                         .order_by(Proposal.id.desc())).all()
    return dict(rows)  # the first stored proposal of a title wins


def _load(engine: Engine, bundles: list[ProposalBundle], actor: str,
          progress: Callable[[int, int], None] | None, *, atomic: bool, what: str) -> LoadResult:
    with Session(engine) as s:  # a load needs "import_new" even when there is nothing left to write
        access.require(s, actor, "import_new")
    titles = [b.proposal["title"] for b in bundles]
    already = _existing(engine, titles)
    if len(already) == len(set(titles)):
        return LoadResult(False, [already[t] for t in titles])
    # titles stored meanwhile are skipped inside each writing transaction, so two loads at once store one copy
    ids = load_bundles(engine, bundles, actor=actor, progress=progress, atomic=atomic, existing="skip", what=what)
    return LoadResult(True, ids, kept=len(already))


@access.audited("proposal")
def load_demo(engine: Engine, *, actor: str, progress: Callable[[int, int], None] | None = None) -> LoadResult:
    """Load the three demo proposals in one transaction, unless they are already there (then nothing is written);
    proposals missing from an earlier, interrupted load are added."""
    from risk.demo import demo_bundles

    return _load(engine, demo_bundles(), actor, progress, atomic=True, what="the demo portfolio")


@access.audited("proposal")
def load_synthetic(engine: Engine, *, actor: str, proposals: int, risks: int, assessors: int, seed: int,
                   progress: Callable[[int, int], None] | None = None) -> LoadResult:
    """Generate and load a synthetic portfolio; the same seed gives the same data, and loading a seed again writes
    only the proposals that are not there yet (none, after a complete load). Whole proposals are committed in
    chunks, so that other writers get their turn during a large load."""
    from risk.synthetic import generate

    return _load(engine, generate(proposals=proposals, risks=risks, assessors=assessors, seed=seed), actor,
                 progress, atomic=False, what=f"the synthetic portfolio with seed {seed}")
