"""The portfolio frame and its category summary agree with each proposal's profile, risk by risk."""

from __future__ import annotations

from risk.services.portfolio import load_demo, load_synthetic
from risk.services.profile import proposal_profile
from risk.services.summary import category_summary, portfolio_frame
from tests.builders import SYSTEM


def test_portfolio_frame_matches_every_proposal_profile(engine):
    load_demo(engine, actor=SYSTEM)
    load_synthetic(engine, actor=SYSTEM, proposals=3, risks=8, assessors=4, seed=9)
    frame = portfolio_frame(engine).set_index(["proposal_id", "risk_id"])
    compared = 0
    for pid in frame.index.get_level_values(0).unique():
        for view in proposal_profile(engine, int(pid)).risks:
            row = frame.loc[(pid, view.risk.risk_id)]
            assert row["level"] == (view.residual.level or ""), (pid, view.risk.risk_id)
            assert row["source"] == view.residual.source
            assert bool(row["over_appetite"]) is view.over_appetite
            assert row["flags"] == ",".join(view.residual.flags)
            compared += 1
    assert compared == len(frame) == 43 + 24


def test_category_summary_counts_add_up(sqlite_engine):
    load_demo(sqlite_engine, actor=SYSTEM)
    frame = portfolio_frame(sqlite_engine)
    summary = category_summary(frame)
    assert list(summary.index) == ["Legal", "Operational", "Financial", "Reputational", "Societal", "Cybersecurity"]
    levels = ["Not scored", "Very Low", "Low", "Moderate", "High", "Very High"]
    assert (summary[levels].sum(axis=1) == summary["Risks"]).all()
    assert summary["Risks"].sum() == len(frame)
    assert summary.loc["Cybersecurity", "Risks"] == 2
    assert summary["Over appetite"].sum() == int(frame["over_appetite"].sum()) > 0


def test_chart_frames_aggregate_before_charting(sqlite_engine):
    from risk.services.profile import proposal_profile
    from risk.services.views import disagreement_frame, partner_exposure_frame, portfolio_chart_frame, risk_frame

    load_demo(sqlite_engine, actor=SYSTEM)
    profile = proposal_profile(sqlite_engine, 1)
    frame = risk_frame(profile)
    assert len(frame) == 16 and set(frame["category"]) >= {"Legal", "Cybersecurity"}
    exposure = partner_exposure_frame(sqlite_engine, profile)
    assert exposure[exposure["role"] == "owns"]["count"].sum() == 16  # every demo risk has an owner partner
    spread = disagreement_frame(sqlite_engine, 1)
    assert set(spread["round"]) == {"Inherent round 1", "Inherent round 2"}
    first = spread[spread["round"] == "Inherent round 1"]["spread"].sum()
    second = spread[spread["round"] == "Inherent round 2"]["spread"].sum()
    assert second < first  # the demo's panels converged after talking
    chart_frame = portfolio_chart_frame(portfolio_frame(sqlite_engine))
    assert len(chart_frame) == 16  # 6 + 5 + 5 proposal-category cells
    assert set(chart_frame["worst"]) <= {"Very Low", "Low", "Moderate", "High", "Very High", "Not scored"}
