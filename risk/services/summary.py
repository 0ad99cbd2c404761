"""The whole portfolio at a glance: one row per risk with its standing residual value (a DataFrame built in a
few vectorised steps), and summaries per category from it. The frame is what the app caches; the summary is a
groupby over it. The highest risks of one proposal in words are in toplines.py."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access, scoring
from risk.models import Consensus, Proposal, Risk, Round
from risk.models import RoundResult as RoundResultRow
from risk.services.matrices import get_matrix
from risk.services.profile import FEEDING

RANK_NAMES = scoring.SCORE_LABELS  # the five-step scale appetite is stated on
_METHOD_COLS = scoring.AGGREGATION_RESULT_COLUMNS


def _read(session: Session, stmt) -> pd.DataFrame:
    result = session.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _visible(s: Session, actor: str | None) -> list[int] | None:
    """The proposals `actor` may see (None: no filter, for no actor and for those who see all)."""
    if actor is None:
        return None
    visible = access.visible_proposal_ids(s, actor)
    return None if visible is None else sorted(visible)


def portfolio_frame(engine: Engine, phase: str = "residual", *, actor: str | None = None,
                    only: Collection[int] | None = None) -> pd.DataFrame:
    """One row per risk of every proposal (with `actor`, of those it may see; with `only`, of those proposals),
    in the order of proposal and risk: proposal, category, the standing value of `phase` (likelihood, impact,
    level name, rank on the five-step scale, source), its flags, the appetite and whether it is over it."""
    with Session(engine) as s:
        visible = _visible(s, actor)
        if only is not None:
            visible = sorted(set(only) if visible is None else set(only) & set(visible))
        query = select(Proposal) if visible is None else select(Proposal).where(Proposal.id.in_(visible))
        proposals = {p.id: p for p in s.execute(query).scalars()}
        matrices = {name: get_matrix(s, name) for name in {p.matrix for p in proposals.values()}}
        risks_q = select(Risk.id.label("risk_pk"), Risk.proposal_id, Risk.risk_id, Risk.category, Risk.status
                         ).order_by(Risk.proposal_id, Risk.id)
        results_q = (select(RoundResultRow.risk_pk, Round.number, RoundResultRow.n,
                            *[getattr(RoundResultRow, c) for pair in _METHOD_COLS.values() for c in pair],
                            RoundResultRow.flags)
                     .join(Round, Round.id == RoundResultRow.round_id)
                     .where(Round.status.in_(FEEDING), Round.phase == phase))
        consensus_q = select(Consensus.risk_pk, Consensus.likelihood.label("c_lik"),
                             Consensus.impact.label("c_imp")).where(Consensus.phase == phase)
        if visible is not None:
            risks_q = risks_q.where(Risk.proposal_id.in_(visible))
            results_q = results_q.where(Round.proposal_id.in_(visible))
            consensus_q = consensus_q.join(Risk, Risk.id == Consensus.risk_pk).where(Risk.proposal_id.in_(visible))
        risks = _read(s, risks_q)
        results = _read(s, results_q)
        consensus = _read(s, consensus_q)
    latest = results.sort_values(["risk_pk", "number"]).drop_duplicates("risk_pk", keep="last")
    frame = risks.merge(latest, on="risk_pk", how="left").merge(consensus, on="risk_pk", how="left")
    pid = frame["proposal_id"].to_numpy()
    lik, imp, source = scoring.standing_arrays(
        pd.Series({k: p.aggregation for k, p in proposals.items()}).reindex(pid).to_numpy(),
        {c: frame[c].to_numpy(dtype=float) for pair in _METHOD_COLS.values() for c in pair},
        frame["c_lik"].to_numpy(dtype=float), frame["c_imp"].to_numpy(dtype=float))
    scored = ~np.isnan(lik)
    appetite = np.array([(proposals[p].appetite or {}).get(c, scoring.DEFAULT_APPETITE)
                         for p, c in zip(pid, frame["category"].to_numpy(), strict=True)], dtype=object)
    rank = np.full(len(frame), -1)
    level_name = np.full(len(frame), "", dtype=object)
    over = np.zeros(len(frame), dtype=bool)
    matrix_of = pd.Series({k: p.matrix for k, p in proposals.items()}).reindex(pid).to_numpy()
    for name, m in matrices.items():
        rows = (matrix_of == name) & scored
        if not rows.any():
            continue
        idx = m.level_indices(lik[rows], imp[rows])
        rank[rows] = m.rank5_array(idx)
        level_name[rows] = np.asarray(m.levels, dtype=object)[idx]
        over[rows] = scoring.over_appetite_array(idx, appetite[rows], m)
    out = pd.DataFrame({
        "proposal_id": pid,
        "proposal": pd.Series({k: p.title for k, p in proposals.items()}).reindex(pid).to_numpy(),
        "risk_id": frame["risk_id"].to_numpy(),
        "category": pd.Categorical(frame["category"], categories=list(scoring.CATEGORIES)),
        "status": frame["status"].to_numpy(),
        "likelihood": pd.array(np.where(scored, lik, np.nan), dtype="Int64"),
        "impact": pd.array(np.where(scored, imp, np.nan), dtype="Int64"),
        "level": level_name,
        "rank": rank,
        "source": source,
        "flags": frame["flags"].fillna("").to_numpy(),
        "disagreement": (frame["flags"].fillna("") != "").to_numpy(),
        "appetite": appetite,
        "over_appetite": over,
    })
    return out


SUMMARY_COLUMNS = ["Risks", "Not scored", *RANK_NAMES, "Over appetite", "Disagreement"]


def category_counts(frame: pd.DataFrame) -> np.ndarray:
    """The numbers of `category_summary`, one row per category (in scoring.CATEGORIES order): counts add up, so the
    summary of a portfolio after a change is the one before, less the changed proposals' rows as they were, plus
    their rows now (category_summary_after)."""
    codes = pd.Categorical(frame["category"], categories=list(scoring.CATEGORIES)).codes.astype(np.int64)
    rank = frame["rank"].to_numpy(dtype=np.int64)
    out = np.zeros((len(scoring.CATEGORIES), len(SUMMARY_COLUMNS)), dtype=np.int64)
    known = codes >= 0
    on_scale = known & (rank >= -1) & (rank < len(RANK_NAMES))
    np.add.at(out, (codes[on_scale], rank[on_scale] + 2), 1)  # rank -1 (not scored) is column 1, rank 0 column 2
    out[:, 0] = out[:, 1:2 + len(RANK_NAMES)].sum(axis=1)
    for column, name in ((-2, "over_appetite"), (-1, "disagreement")):
        np.add.at(out[:, column], codes[known], frame[name].to_numpy(dtype=bool)[known].astype(np.int64))
    return out


def _summary_frame(counts: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(counts, columns=SUMMARY_COLUMNS,
                        index=pd.Index([scoring.CATEGORIES[c] for c in scoring.CATEGORIES], name="Category"))


def category_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per category: how many risks, how many at each level of the five-step scale, how many unscored, how
    many over appetite and how many with disagreement flags."""
    return _summary_frame(category_counts(frame))


def portfolio_overview(engine: Engine, frame: pd.DataFrame | None = None, *, actor: str | None = None,
                       only: Collection[int] | None = None) -> pd.DataFrame:
    """One row per proposal (with `actor`, per proposal it may see) for the home page: service, partners, status,
    progress through the categories, risks by residual level, how many are over appetite, and the partner
    governments' decisions (how many decided, stale, rejected or sent back)."""
    from risk.models import Partner, ProposalPartner
    from risk.services.proposals import walkthrough_state

    frame = portfolio_frame(engine, actor=actor, only=only) if frame is None else frame
    with Session(engine) as s:
        visible = _visible(s, actor)
        if only is not None:
            visible = sorted(set(only) if visible is None else set(only) & set(visible))
        query = select(Proposal).order_by(Proposal.id)
        proposals = list(s.execute(query if visible is None else query.where(Proposal.id.in_(visible))).scalars())
        partners: dict[int, list[str]] = {}
        partners_q = (select(ProposalPartner.proposal_id, Partner.name, ProposalPartner.role)
                      .join(Partner, Partner.id == ProposalPartner.partner_id)
                      .order_by(ProposalPartner.proposal_id, ProposalPartner.role.desc(), Partner.name))
        if visible is not None:
            partners_q = partners_q.where(ProposalPartner.proposal_id.in_(visible))
        for pid, name, role in s.execute(partners_q):
            partners.setdefault(pid, []).append(f"{name} (lead)" if role == "lead" else name)
    from risk.services.decisions import decision_counts

    decisions = decision_counts(engine, [p.id for p in proposals])
    by_level = frame.groupby(["proposal_id", "rank"]).size().unstack(fill_value=0) if len(frame) else None
    over = frame.groupby("proposal_id")["over_appetite"].sum() if len(frame) else None
    rows = []
    for p in proposals:
        steps, _current, done = walkthrough_state(p)
        row = {"id": p.id, "Proposal": p.title, "Service": p.service_type,
               "Partners": ", ".join(partners.get(p.id, [])), "Status": p.status,
               "Progress": f"{len(done)} of {len(steps)} categories"}
        for rank, name in enumerate(RANK_NAMES):
            row[name] = int(by_level.loc[p.id, rank]) if by_level is not None and p.id in by_level.index \
                and rank in by_level.columns else 0
        row["Not scored"] = int(by_level.loc[p.id, -1]) if by_level is not None and p.id in by_level.index \
            and -1 in by_level.columns else 0
        row["Over appetite"] = int(over.get(p.id, 0)) if over is not None else 0
        row["Decisions"] = decisions.get(p.id, "")
        rows.append(row)
    columns = ["id", "Proposal", "Service", "Status", *reversed(RANK_NAMES), "Not scored", "Over appetite",
               "Decisions", "Progress", "Partners"]
    return pd.DataFrame(rows, columns=columns)


# --- what the home page derives from the frame, kept up to date after a change to a few proposals -------------
# Each `*_after` takes the value as it was, the changed proposals' rows before the change and now, and the whole
# frame now, and returns what the plain function gives on the frame now, without going over the whole frame again
# (risk/ui/common.py, _Portfolio.memo). Tests compare the two after every kind of change.

def worst_by_proposal(frame: pd.DataFrame) -> pd.Series:
    """Each proposal's worst residual rank (by title, as the chart names them), worst first."""
    return frame.groupby("proposal")["rank"].max().sort_values(ascending=False)


def _title_shared(before: pd.DataFrame, after: pd.DataFrame, frame: pd.DataFrame) -> bool:
    """Whether a changed proposal's title (old or new) is also an unchanged proposal's: then a value kept by title
    cannot be taken apart, and is made again."""
    titles = set(before["proposal"]) | set(after["proposal"])
    changed = set(before["proposal_id"]) | set(after["proposal_id"])
    return bool((frame["proposal"].isin(titles) & ~frame["proposal_id"].isin(changed)).any())


def worst_by_proposal_after(old: pd.Series, before: pd.DataFrame, after: pd.DataFrame,
                            frame: pd.DataFrame) -> pd.Series:
    if _title_shared(before, after, frame):
        return worst_by_proposal(frame)
    gone = set(before["proposal"]) | set(after["proposal"])
    parts = [s for s in (old[~old.index.isin(gone)], after.groupby("proposal")["rank"].max()) if len(s)]
    if not parts:
        return worst_by_proposal(frame)
    # in the order the plain function sorts (by title, then by rank), so that ties come out the same
    return pd.concat(parts).sort_index().sort_values(ascending=False)


def category_summary_after(old: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame,
                           frame: pd.DataFrame) -> pd.DataFrame:
    """Counts add up: the summary less the changed proposals' rows as they were, plus their rows now."""
    return _summary_frame(old.to_numpy() - category_counts(before) + category_counts(after))


def chart_cells(frame: pd.DataFrame, compare: Collection[str]) -> pd.DataFrame:
    """The portfolio chart's cells for the proposals `compare` (by title)."""
    from risk.services.views import portfolio_chart_frame

    return portfolio_chart_frame(frame[frame["proposal"].isin(list(compare))])


def chart_cells_after(compare: Collection[str]):
    """The update of `chart_cells(frame, compare)`: as it was when no compared proposal changed."""
    def after_change(old: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame,
                     frame: pd.DataFrame) -> pd.DataFrame:
        touched = set(before["proposal"]) | set(after["proposal"])
        return old if touched.isdisjoint(compare) else chart_cells(frame, compare)
    return after_change
