"""Loading whole portfolios: the demo and synthetic ones, through the bulk path that imports use too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk.models import Proposal
from risk.services.bulk import ProposalBundle, load_bundles


@dataclass(frozen=True)
class LoadResult:
    loaded: bool  # False when the portfolio was already there
    proposal_ids: list[int]


def _existing(engine: Engine, titles: list[str]) -> list[int]:
    with Session(engine) as s:
        return list(s.execute(select(Proposal.id).where(Proposal.title.in_(titles)).order_by(Proposal.id)).scalars())


def _load(engine: Engine, bundles: list[ProposalBundle], actor: str,
          progress: Callable[[int, int], None] | None) -> LoadResult:
    titles = [b.proposal["title"] for b in bundles]
    already = _existing(engine, titles)
    if already:
        return LoadResult(False, already)
    return LoadResult(True, load_bundles(engine, bundles, actor=actor, progress=progress))


def load_demo(engine: Engine, *, actor: str, progress: Callable[[int, int], None] | None = None) -> LoadResult:
    """Load the three demo proposals, unless they are already there (then nothing is written)."""
    from risk.demo import demo_bundles

    return _load(engine, demo_bundles(), actor, progress)


def load_synthetic(engine: Engine, *, actor: str, proposals: int, risks: int, assessors: int, seed: int,
                   progress: Callable[[int, int], None] | None = None) -> LoadResult:
    """Generate and load a synthetic portfolio; the same seed gives the same data, and loading a seed again
    writes nothing."""
    from risk.synthetic import generate

    return _load(engine, generate(proposals=proposals, risks=risks, assessors=assessors, seed=seed), actor,
                 progress)
