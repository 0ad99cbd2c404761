"""The portfolio frame and its category summary agree with each proposal's profile, risk by risk."""

from __future__ import annotations

from risk.services.portfolio import load_demo, load_synthetic
from risk.services.profile import proposal_profile
from risk.services.summary import category_summary, portfolio_frame


def test_portfolio_frame_matches_every_proposal_profile(engine):
    load_demo(engine, actor="demo")
    load_synthetic(engine, actor="gen", proposals=3, risks=8, assessors=4, seed=9)
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
    load_demo(sqlite_engine, actor="demo")
    frame = portfolio_frame(sqlite_engine)
    summary = category_summary(frame)
    assert list(summary.index) == ["Legal", "Operational", "Financial", "Reputational", "Societal", "Cybersecurity"]
    levels = ["Not scored", "Very Low", "Low", "Moderate", "High", "Very High"]
    assert (summary[levels].sum(axis=1) == summary["Risks"]).all()
    assert summary["Risks"].sum() == len(frame)
    assert summary.loc["Cybersecurity", "Risks"] == 2
    assert summary["Over appetite"].sum() == int(frame["over_appetite"].sum()) > 0
