"""Each scoring rule's array form (risk.scoring, `*_rows`, `*_array`, summarise_arrays, standing_arrays,
Matrix.level_indices) gives what its scalar form gives, on random panels: 1 to 12 assessors, scores 1 to 5,
a few partners with several assessors each. And the paths that show a risk (the profile, the register rows and
the portfolio frame behind the summaries) agree with the scalar rules for over-appetite and the next review on
the demo portfolio."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from risk import scoring
from risk.scoring import LOCAL_GOV_4, NIST_800_30, ConsensusValue, RoundResult, RoundScores
from tests.builders import SYSTEM

FORMS = settings(deadline=None, derandomize=True, database=None, max_examples=150)
MATRICES = (NIST_800_30, LOCAL_GOV_4)


@st.composite
def panels(draw, max_rows: int = 12):
    """(likelihoods, impacts, slots): `rows` risks each scored by the same number of assessors (1-12), the
    assessors spread over 1-4 partners (so most partners have several), their layout either one panel for every
    row (as in a round) or drawn row by row."""
    n = draw(st.integers(1, 12))
    rows = draw(st.integers(1, max_rows))
    partners = draw(st.integers(1, min(n, 4)))
    scores = st.integers(1, 5)
    likelihoods = draw(arrays(np.int64, (rows, n), elements=scores))
    impacts = draw(arrays(np.int64, (rows, n), elements=scores))
    if draw(st.booleans()):
        layout = draw(arrays(np.int64, (n,), elements=st.integers(0, partners - 1)))
        slots = np.broadcast_to(layout, (rows, n)).copy()
    else:
        slots = draw(arrays(np.int64, (rows, n), elements=st.integers(0, partners - 1)))
    return likelihoods, impacts, slots


def _row(a: np.ndarray, r: int) -> list[int]:
    return a[r].tolist()


# --- aggregation ---------------------------------------------------------------------------------------------

@FORMS
@given(panels())
def test_upper_median_rows_equals_upper_median(panel):
    lik, _imp, slots = panel
    fast = scoring.upper_median_rows(lik).tolist()
    assert fast == [scoring.upper_median(_row(lik, r)) for r in range(len(lik))]
    masked = scoring.upper_median_rows(lik, slots == 0).tolist()
    for r in range(len(lik)):
        cells = [v for v, s in zip(_row(lik, r), _row(slots, r), strict=True) if s == 0]
        assert masked[r] == (scoring.upper_median(cells) if cells else scoring._EMPTY)


@FORMS
@given(panels())
def test_mean_half_up_rows_equals_mean_half_up(panel):
    lik, imp, _slots = panel
    for values in (lik, imp):
        assert scoring.mean_half_up_rows(values).tolist() == [scoring.mean_half_up(_row(values, r))
                                                               for r in range(len(values))]


@FORMS
@given(panels())
def test_partner_medians_rows_equals_partner_medians(panel):
    _lik, imp, slots = panel
    medians, present = scoring.partner_medians_rows(imp, slots)
    for r in range(len(imp)):
        fast = {j: medians[r, j] for j in range(medians.shape[1]) if present[r, j]}
        assert fast == scoring.partner_medians(_row(imp, r), _row(slots, r))


@FORMS
@given(panels(), st.sampled_from(scoring.AGGREGATIONS))
def test_aggregate_rows_equals_aggregate_for_every_method(panel, method):
    lik, imp, slots = panel
    for values in (lik, imp):
        fast = scoring.aggregate_rows(values, slots, method).tolist()
        assert fast == [scoring.aggregate(_row(values, r), _row(slots, r), method) for r in range(len(values))]


# --- disagreement flags --------------------------------------------------------------------------------------

@FORMS
@given(panels(), st.booleans())
def test_axis_flags_rows_equals_axis_flags(panel, with_partners):
    lik, _imp, slots = panel
    raised = scoring.axis_flags_rows(lik, slots if with_partners else None)
    assert set(raised) == set(scoring.FLAGS) - (set() if with_partners else {"partners"})
    for r in range(len(lik)):
        fast = {name for name, rows in raised.items() if rows[r]}
        assert fast == scoring.axis_flags(_row(lik, r), _row(slots, r) if with_partners else None), r


@FORMS
@given(panels())
def test_summarise_arrays_equals_summarise_round_risk_by_risk(panel):
    lik, imp, slots = panel
    a = scoring.summarise_arrays(lik, imp, slots)
    flags = scoring.flag_strings(a)
    for r in range(len(lik)):
        slow = scoring.summarise_round(RoundScores(1, tuple(_row(lik, r)), tuple(_row(imp, r)),
                                                   tuple(_row(slots, r))))
        assert tuple((m, int(a[f"lik_{m}"][r]), int(a[f"imp_{m}"][r])) for m in scoring.AGGREGATIONS) == \
            slow.by_method
        assert (a["mean_likelihood"][r], a["mean_impact"][r]) == (slow.mean_likelihood, slow.mean_impact)
        assert flags[r] == ",".join(slow.flags)  # both sorted
        assert flags[r] == ",".join(scoring.disagreement_flags(_row(lik, r), _row(imp, r), _row(slots, r)))


# --- level lookup, appetite ----------------------------------------------------------------------------------

@FORMS
@given(st.sampled_from(MATRICES), st.integers(1, 60).flatmap(
    lambda k: st.tuples(arrays(np.int64, (k,), elements=st.integers(1, 5)),
                        arrays(np.int64, (k,), elements=st.integers(1, 5)))))
def test_level_indices_and_rank5_array_equal_the_lookups_cell_by_cell(matrix, cells):
    lik, imp = cells
    idx = matrix.level_indices(lik, imp).tolist()
    assert idx == [matrix.level_index(li, im) for li, im in zip(lik.tolist(), imp.tolist(), strict=True)]
    assert matrix.level_indices(lik.astype(float), imp.astype(float)).tolist() == idx  # floats from a frame
    with_none = [-1, *idx]
    assert matrix.rank5_array(np.array(with_none)).tolist() == [-1, *(matrix.rank5(i) for i in idx)]


@FORMS
@given(st.sampled_from(MATRICES), st.data())
def test_over_appetite_array_equals_over_appetite(matrix, data):
    k = data.draw(st.integers(1, 40))
    levels = data.draw(st.lists(st.integers(-1, len(matrix.levels) - 1), min_size=k, max_size=k))
    words = data.draw(st.lists(st.sampled_from(scoring.APPETITES), min_size=k, max_size=k))
    fast = scoring.over_appetite_array(np.array(levels), np.array(words, dtype=object), matrix).tolist()
    assert fast == [scoring.over_appetite(None if i < 0 else i, w, matrix) for i, w in zip(levels, words, strict=True)]
    assert scoring.appetite_tolerance_array(words).tolist() == [scoring.appetite_tolerance(w) for w in words]


def test_an_unknown_appetite_is_refused_by_both_forms():
    for refuse in (lambda: scoring.appetite_tolerance("Reckless"),
                   lambda: scoring.appetite_tolerance_array(["Open", "Reckless"])):
        try:
            refuse()
        except ValueError as exc:
            assert "Reckless" in str(exc)
        else:
            raise AssertionError("an unknown appetite was accepted")


# --- standing values -----------------------------------------------------------------------------------------

@st.composite
def stored_rows(draw):
    """One risk's phase as the portfolio frame reads it: its method, maybe the latest round's stored result
    (every method's value), maybe a consensus."""
    method = draw(st.sampled_from(scoring.AGGREGATIONS))
    score = st.integers(1, 5)
    result = draw(st.none() | st.tuples(*[score] * (2 * len(scoring.AGGREGATIONS))))
    consensus = draw(st.none() | st.tuples(score, score))
    return method, result, consensus


@FORMS
@given(st.lists(stored_rows(), min_size=1, max_size=30), st.sampled_from(MATRICES))
def test_standing_arrays_equal_standing_value(rows, matrix):
    columns = [c for m in scoring.AGGREGATIONS for c in scoring.AGGREGATION_RESULT_COLUMNS[m]]
    latest = {c: np.array([np.nan if res is None else res[k] for _m, res, _c in rows], dtype=float)
              for k, c in enumerate(columns)}
    c_lik = np.array([np.nan if con is None else con[0] for _m, _r, con in rows], dtype=float)
    c_imp = np.array([np.nan if con is None else con[1] for _m, _r, con in rows], dtype=float)
    lik, imp, source = scoring.standing_arrays(np.array([m for m, _r, _c in rows], dtype=object), latest,
                                               c_lik, c_imp)
    scored = ~np.isnan(lik)
    idx = np.full(len(rows), -1)
    idx[scored] = matrix.level_indices(lik[scored], imp[scored])
    for r, (method, res, con) in enumerate(rows):
        results = [] if res is None else [RoundResult(1, 3, tuple(
            (m, res[2 * k], res[2 * k + 1]) for k, m in enumerate(scoring.AGGREGATIONS)), 3.0, 3.0, ())]
        slow = scoring.standing_value(results, None if con is None else ConsensusValue(*con), matrix, method)
        assert source[r] == slow.source
        if slow.source == "none":
            assert np.isnan(lik[r]) and np.isnan(imp[r]) and idx[r] == -1
        else:
            assert (lik[r], imp[r], idx[r]) == (slow.likelihood, slow.impact, slow.level_index)


# --- the paths that show a risk agree with the scalar rules, on the demo portfolio ---------------------------

def test_profile_register_and_portfolio_frame_follow_the_scalar_rules_on_the_demo(sqlite_engine):
    from risk.services.portfolio import load_demo
    from risk.services.profile import proposal_profile
    from risk.services.register_rows import register_rows
    from risk.services.summary import category_summary, portfolio_frame

    load_demo(sqlite_engine, actor=SYSTEM)
    frame = portfolio_frame(sqlite_engine).set_index(["proposal_id", "risk_id"])
    over_seen = reviews_seen = 0
    for pid in frame.index.get_level_values(0).unique():
        profile = proposal_profile(sqlite_engine, int(pid))
        matrix, appetites = profile.matrix, profile.proposal.appetite or {}
        register = {row["risk_id"]: row for row in register_rows(profile)}
        for view in profile.risks:
            appetite = appetites.get(view.risk.category, scoring.DEFAULT_APPETITE)
            over = scoring.over_appetite(view.residual.level_index, appetite, matrix)
            basis = view.residual if view.residual.source != "none" else view.inherent
            review = scoring.next_review(basis.level_index, matrix, basis.when)
            if basis.level_index is not None:
                days = scoring.REVIEW_DAYS_BY_RANK[matrix.rank5(basis.level_index)]
                assert review == basis.when + dt.timedelta(days=days)
            assert (view.appetite, view.over_appetite, view.next_review) == (appetite, over, review)
            row = register[view.risk.risk_id]
            assert row["over_appetite"] == ("yes" if over else "no")
            assert row["next_review"] == (review.isoformat() if review else "")
            in_frame = frame.loc[(pid, view.risk.risk_id)]
            assert bool(in_frame["over_appetite"]) is over
            assert in_frame["appetite"] == appetite
            assert in_frame["level"] == (view.residual.level or "")
            assert in_frame["rank"] == (matrix.rank5(view.residual.level_index)
                                        if view.residual.level_index is not None else -1)
            over_seen += over
            reviews_seen += review is not None
    assert over_seen > 0 and reviews_seen > 0  # the demo exercises both rules
    assert int(category_summary(frame.reset_index())["Over appetite"].sum()) == over_seen
