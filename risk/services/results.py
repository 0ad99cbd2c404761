"""Round results: each revealed round's verdict on each risk (aggregates by every method, mean, flags),
computed once with the pure rules in risk.scoring and stored in `round_result`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select

from risk import store
from risk.models import RoundResult as RoundResultRow
from risk.models import Score, TeamMember
from risk.scoring import RESULT_COLUMNS, RoundResult, RoundScores, summarise_round


def result_row(round_id: int, risk_pk: int, result: RoundResult) -> dict:
    """One stored round result (table round_result), keyed by scoring.RESULT_COLUMNS."""
    values = (round_id, risk_pk, result.n, *(v for _method, lik, imp in result.by_method for v in (lik, imp)),
              result.mean_likelihood, result.mean_impact, ",".join(result.flags))
    return dict(zip(RESULT_COLUMNS, values, strict=True))


def results_from_scores(round_id: int, round_number: int,
                        scores: Iterable[tuple[int, int, int, object]]) -> list[dict]:
    """Result rows of one round from (risk_pk, likelihood, impact, partner) tuples."""
    by_risk: dict[int, tuple[list[int], list[int], list[object]]] = defaultdict(lambda: ([], [], []))
    for risk_pk, lik, imp, partner in scores:
        b = by_risk[risk_pk]
        b[0].append(lik)
        b[1].append(imp)
        b[2].append(partner)
    return [
        result_row(round_id, risk_pk, summarise_round(RoundScores(round_number, tuple(lk), tuple(im), tuple(pa))))
        for risk_pk, (lk, im, pa) in sorted(by_risk.items())
    ]


def store_round_results(unit: store.Unit, round_id: int) -> None:
    from risk.models import Round

    rnd = unit.session.get(Round, round_id)
    rows = unit.session.execute(
        select(Score.risk_pk, Score.likelihood, Score.impact, TeamMember.partner_id)
        .join(TeamMember, TeamMember.id == Score.assessor_id)
        .where(Score.round_id == round_id)
        .order_by(Score.risk_pk, Score.assessor_id)
    ).all()
    store.insert_many(unit=unit, table=RoundResultRow, rows=results_from_scores(round_id, rnd.number, rows),
                      entity="round_result")
