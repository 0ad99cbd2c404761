"""The scoring rules of docs/SCORING.md, one test per promise."""

from __future__ import annotations

import datetime as dt

import pytest

from risk import scoring
from risk.scoring import (
    LOCAL_GOV_4,
    NIST_800_30,
    ConsensusValue,
    Matrix,
    MatrixError,
    RoundScores,
    aggregate,
    axis_flags,
    disagreement_flags,
    mean_half_up,
    standing_value,
    upper_median,
)

# Table I-2 of NIST SP 800-30 Rev. 1, written out with likelihood Very High as the top row.
TABLE_I2 = {
    5: ["Very Low", "Low", "Moderate", "High", "Very High"],
    4: ["Very Low", "Low", "Moderate", "High", "Very High"],
    3: ["Very Low", "Low", "Moderate", "Moderate", "High"],
    2: ["Very Low", "Low", "Low", "Low", "Moderate"],
    1: ["Very Low", "Very Low", "Very Low", "Low", "Low"],
}


@pytest.mark.parametrize("likelihood", range(1, 6))
@pytest.mark.parametrize("impact", range(1, 6))
def test_nist_matrix_matches_table_i2_in_every_cell(likelihood, impact):
    assert NIST_800_30.level(likelihood, impact) == TABLE_I2[likelihood][impact - 1]


def test_level_is_a_lookup_not_the_product_of_likelihood_and_impact():
    # 5 x 1 = 5 and 1 x 5 = 5, yet the levels differ: Very Low against Low.
    assert NIST_800_30.level(5, 1) == "Very Low"
    assert NIST_800_30.level(1, 5) == "Low"


def test_scores_outside_one_to_five_are_refused():
    for bad in (0, 6, 3.5, "high", "", None, True):
        with pytest.raises(ValueError, match="whole number from 1 to 5"):
            scoring.check_score(bad, "likelihood")
    assert scoring.check_score("4") == 4
    assert scoring.check_score(3.0) == 3


def test_scales_have_five_labelled_points_with_descriptors():
    assert [p.score for p in scoring.LIKELIHOOD_SCALE] == [1, 2, 3, 4, 5]
    assert scoring.LIKELIHOOD_SCALE[4].label == "Very High"
    assert "≥96%" in scoring.LIKELIHOOD_SCALE[4].descriptor
    assert [p["label"] for p in scoring.IMPACT_SCALE] == list(scoring.SCORE_LABELS)
    assert scoring.IMPACT_SCALE[4]["money"] == ">25%"


def test_a_second_builtin_matrix_is_asymmetric_and_monotone():
    m = LOCAL_GOV_4
    assert m.level(1, 5) == "High" and m.level(5, 1) == "Medium"


def test_matrix_that_is_not_monotone_is_refused_naming_the_cell():
    grid = [list(r) for r in NIST_800_30.grid]
    grid[2][3] = 0  # likelihood 3, impact 4 drops to Very Low
    with pytest.raises(MatrixError, match=r"cell \(likelihood 3, impact 4\)"):
        Matrix(name="bad", levels=NIST_800_30.levels, grid=tuple(tuple(r) for r in grid))


def test_matrix_of_another_size_is_refused():
    with pytest.raises(MatrixError, match="only 5x5"):
        Matrix(name="small", levels=("L", "M", "H"), grid=((0, 1, 2), (1, 1, 2), (2, 2, 2)))


def test_upper_median_is_used_for_even_panels():
    assert upper_median([1, 2, 4, 5]) == 4
    assert upper_median([5, 1, 4, 2]) == 4
    assert upper_median([3, 1, 2]) == 2
    assert upper_median([2, 3]) == 3


def test_mean_is_rounded_half_up_to_one_decimal():
    assert mean_half_up([2, 2, 2, 3]) == 2.3  # 2.25, where banker's rounding would give 2.2
    assert mean_half_up([1, 2]) == 1.5
    assert mean_half_up([1, 1, 2]) == 1.3


def test_max_aggregation_takes_the_highest_score():
    assert aggregate([1, 2, 5], ["a", "a", "b"], "max") == 5


def test_one_jurisdiction_one_vote_takes_upper_median_within_then_across_partners():
    # County A has three assessors who all say 1, cities B and C one each saying 4 and 5.
    values = [1, 1, 1, 4, 5]
    partners = ["A", "A", "A", "B", "C"]
    assert aggregate(values, partners, "upper_median") == 1
    assert aggregate(values, partners, "one_jurisdiction_one_vote") == 4  # medians 1, 4, 5 -> 4


def test_unknown_aggregation_method_is_refused():
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate([1], ["a"], "mean")


def test_range_flag_is_raised_when_max_minus_min_is_at_least_three():
    assert "range" in axis_flags([1, 4])
    assert "range" not in axis_flags([2, 4])


def test_iqr_flag_uses_linear_interpolation_quartiles():
    # [1, 2, 3, 4]: numpy's linear quartiles are 1.75 and 3.25, IQR 1.5 -> no flag.
    assert "iqr" not in axis_flags([1, 2, 3, 4])
    # [1, 1, 3, 3]: quartiles 1.0 and 3.0, IQR exactly 2 -> flag.
    assert "iqr" in axis_flags([1, 1, 3, 3])


def test_spread_flag_is_raised_when_fewer_than_70_percent_are_within_one_of_the_upper_median():
    # upper median of [1, 3, 3, 5] is 3; within +-1: two of four (50%) -> flag
    assert "spread" in axis_flags([1, 3, 3, 5])
    # 7 of 10 within one of the median 3 is exactly 70% -> no flag
    assert "spread" not in axis_flags([3, 3, 3, 3, 3, 2, 4, 1, 5, 5])


def test_polarised_flag_needs_a_third_low_and_a_third_high():
    assert "polarised" in axis_flags([1, 2, 4, 5, 3, 3])  # 2 of 6 low, 2 of 6 high
    assert "polarised" not in axis_flags([1, 4, 5, 3, 3, 3])  # 1 of 6 low


def test_partners_flag_is_raised_when_two_partners_upper_medians_differ_by_two():
    assert "partners" in axis_flags([2, 2, 4], ["A", "A", "B"])
    assert "partners" not in axis_flags([2, 3, 3], ["A", "A", "B"])
    assert "partners" not in axis_flags([1, 5], ["A", "A"])  # one partner only


def test_flags_are_raised_when_either_axis_meets_them_and_returned_sorted():
    flags = disagreement_flags([3, 3, 3], [1, 5, 5], ["A", "B", "C"])
    assert flags == sorted(flags)
    assert "range" in flags and "partners" in flags


def test_a_single_score_raises_no_flag():
    assert disagreement_flags([5], [1], ["A"]) == []


def test_standing_value_prefers_the_consensus_over_the_aggregate():
    rounds = [RoundScores(1, (1, 2, 4, 5), (3, 3, 3, 3), ("A", "B", "C", "D"))]
    value = standing_value(rounds, ConsensusValue(2, 2), NIST_800_30, "upper_median")
    assert (value.source, value.likelihood, value.impact, value.level) == ("consensus", 2, 2, "Low")
    # The flags are those of the round behind the value: likelihood 1..5 spreads widely.
    assert "range" in value.flags


def test_standing_value_is_the_aggregate_of_the_latest_round_when_no_consensus():
    rounds = [RoundScores(1, (1, 1), (1, 1), ("A", "B")), RoundScores(2, (4, 5), (5, 5), ("A", "B"))]
    value = standing_value(rounds, None, NIST_800_30, "upper_median")
    assert (value.source, value.likelihood, value.impact, value.level, value.round_number) == \
        ("aggregate", 5, 5, "Very High", 2)


def test_standing_value_is_none_without_scores_or_consensus():
    value = standing_value([], None, NIST_800_30, "upper_median")
    assert value.as_dict() == {"likelihood": None, "impact": None, "level": None, "source": "none", "flags": []}


def test_likelihood_and_impact_are_aggregated_separately_before_the_lookup():
    # Assessor levels: (5,1) Very Low and (1,5) Low; aggregating each axis gives (5,5) Very High.
    rounds = [RoundScores(1, (5, 1), (1, 5), ("A", "B"))]
    value = standing_value(rounds, None, NIST_800_30, "upper_median")
    assert (value.likelihood, value.impact, value.level) == (5, 5, "Very High")


@pytest.mark.parametrize(
    ("appetite", "level", "over"),
    [("Averse", "Very Low", False), ("Averse", "Low", True), ("Minimal", "Low", False),
     ("Minimal", "Moderate", True), ("Cautious", "Moderate", False), ("Cautious", "High", True),
     ("Open", "High", False), ("Open", "Very High", True), ("Eager", "Very High", False)],
)
def test_over_appetite_when_residual_level_is_above_the_category_tolerance(appetite, level, over):
    idx = NIST_800_30.levels.index(level)
    assert scoring.over_appetite(idx, appetite, NIST_800_30) is over


def test_appetite_on_a_four_level_matrix_maps_levels_onto_the_five_step_scale():
    m = LOCAL_GOV_4  # Low, Medium, High, Critical -> ranks 0, 1, 3, 4
    assert [m.rank5(i) for i in range(4)] == [0, 1, 3, 4]
    assert scoring.over_appetite(2, "Cautious", m) is True  # High is above Moderate
    assert scoring.over_appetite(1, "Cautious", m) is False


def test_no_residual_value_is_never_over_appetite():
    assert scoring.over_appetite(None, "Averse", NIST_800_30) is False


@pytest.mark.parametrize(("level", "days"), [("Very High", 90), ("High", 90), ("Moderate", 180), ("Low", 360),
                                             ("Very Low", 360)])
def test_next_review_follows_the_cadence_by_residual_level(level, days):
    since = dt.date(2026, 1, 1)
    assert scoring.next_review(NIST_800_30.levels.index(level), NIST_800_30, since) == \
        since + dt.timedelta(days=days)


def test_treatments_accept_the_orange_book_aliases():
    assert scoring.normalise_treatment("treat") == "Reduce"
    assert scoring.normalise_treatment("TOLERATE") == "Accept"
    assert scoring.normalise_treatment("transfer") == "Share/Transfer"
    with pytest.raises(ValueError):
        scoring.normalise_treatment("ignore")


def test_category_accepts_key_or_name_in_any_case():
    assert scoring.category_key("LEGAL") == "legal"
    assert scoring.category_key("Reputational") == "reputational"
    with pytest.raises(ValueError, match="unknown category"):
        scoring.category_key("weather")


def test_risk_sentence_follows_the_orange_book_form():
    assert scoring.risk_sentence("The ILA has no exit terms", "A partner leaves.", "Litigation") == \
        "Because the ILA has no exit terms, a partner leaves may occur, leading to litigation."
    assert scoring.risk_sentence("IT staff are thin", "x", "y").startswith("Because IT staff")
    s = scoring.risk_sentence("the host has one DBA", "the DBA leaves", "an outage")
    assert s == "Because the host has one DBA, the DBA leaves may occur, leading to an outage."


def test_one_table_names_the_stored_columns_of_every_aggregation_method_in_their_order():
    from risk.models import RoundResult

    assert tuple(scoring.AGGREGATION_RESULT_COLUMNS) == scoring.AGGREGATIONS
    stored = set(RoundResult.__table__.columns.keys())
    assert all(c in stored for pair in scoring.AGGREGATION_RESULT_COLUMNS.values() for c in pair)


def test_result_columns_are_the_stored_round_result_columns_with_the_methods_in_their_order():
    from risk.models import RoundResult

    stored = set(RoundResult.__table__.columns.keys())
    assert set(scoring.RESULT_COLUMNS) == stored - {"id"}
    methods = scoring.RESULT_COLUMNS[3:3 + 2 * len(scoring.AGGREGATIONS)]
    assert methods == tuple(c for m in scoring.AGGREGATIONS for c in scoring.AGGREGATION_RESULT_COLUMNS[m])
