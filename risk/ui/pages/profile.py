"""Profile: where the proposal's risks sit on its matrix before and after controls (and at target), what the
treatments buy, how far apart the assessors were, and each category and partner's exposure."""

import pandas as pd
import streamlit as st

from risk import charts, quantify
from risk.errors import RefusedError
from risk.services import costs as cost_service
from risk.services import quantify as qs
from risk.services import rounds as rs
from risk.services.profile import proposal_profile
from risk.ui import common, profile_charts

proposal = common.require_proposal()
eng = common.engine()
profile = proposal_profile(eng, proposal.id)
matrix = profile.matrix
views = profile.risks
st.title(f"Risk profile: {common.md(proposal.title)}")
st.caption(f"Matrix: {common.md(matrix.title or matrix.name)}. Levels are looked up from likelihood and impact, never "
           "multiplied. Each cell shows how many risks sit there and their ids.")

a, b, c, d = st.columns(4)
a.metric("Risks", len(views))
b.metric("Scored after controls", sum(bool(v.residual.level) for v in views))
c.metric("Over appetite", sum(v.over_appetite for v in views))
d.metric("With disagreement", sum(bool(v.inherent.flags) for v in views))

axis = st.segmented_control("Likelihood on the", ["vertical", "horizontal"], default=profile_charts.AXIS,
                            key="likelihood_axis", format_func=lambda a: f"{a} axis") or profile_charts.AXIS
pid = proposal.id
rounds = rs.list_rounds(eng, pid)
recipes = profile_charts.chart_recipes(eng, profile, rounds, axis)  # the charts this profile shows, by key


def draw(key: str) -> None:
    profile_charts.draw(pid, recipes[key])


points = profile_charts.points(profile)
for column, kind in zip(st.columns(2), ["inherent", "residual"], strict=True):
    with column:
        draw(f"heat_{kind}")
has_target = "heat_target" in recipes
shown = ["inherent", "residual", *(["target"] if has_target else [])]
left, right = st.columns(2)
if has_target:
    with left:
        draw("heat_target")
with right:
    st.markdown("**Which risks are in a cell?**")
    p, l_col, i_col = st.columns(3)
    kind = p.selectbox("Heat map", shown, format_func=profile_charts.TITLES.get, key="cell_kind")
    lik = l_col.selectbox("Likelihood", [1, 2, 3, 4, 5], index=2, key="cell_likelihood")
    imp = i_col.selectbox("Impact", [1, 2, 3, 4, 5], index=2, key="cell_impact")
    ids = {r for r, li, im in points[kind] if (li, im) == (lik, imp)}
    inside = [v for v in views if v.risk.risk_id in ids]
    if inside:
        st.markdown("\n".join(f"- **{common.md(v.risk.risk_id)}** {common.md(v.risk.title)}" for v in inside))
    else:
        st.caption(f"No risk sits at likelihood {lik}, impact {imp} ({matrix.level(lik, imp)}).")

for key in ("category_profile", "movement"):
    if key in recipes:
        draw(key)
if "partner_exposure" in recipes:
    draw("partner_exposure")
elif views:
    st.markdown("**Each partner: the risks it owns and those where it is hit hardest**")
    st.caption("Nothing to show yet: no risk has an owner partner (set one on a risk's card in the walkthrough), "
               "and no workshop round has scored the impact on each partner.")
if "disagreement" in recipes:
    draw("disagreement")

# --- risk in money (docs/COSTS.md, Risk in money) ---------------------------------------------------------------------
# The simulation runs by itself, once per version of the proposal and setting in this server process, for every
# browser session (common.shared): its small summary is kept, not the simulated years.
st.header("Risk in money", anchor="risk-in-money")
model = cost_service.cost_model(eng, pid)
cur = model.currency
st.caption("Each risk priced as a number of events a year and the loss of one event (a range from its 5th to its "
           "95th percentile): by its own figures (on its card), else by its level through the calibration table "
           "below. Simulated year by year; the rules are in docs/COSTS.md.")
s1, s2, _ = st.columns([1, 1, 2])
iterations = s1.selectbox("Simulated years", profile_charts.YEARS,
                          index=profile_charts.YEARS.index(qs.DEFAULT_ITERATIONS), key="money_iterations",
                          format_func=lambda n: f"{n:,}")
seed = int(s2.number_input("Seed (the same seed, the same figures)", 0, 2**31 - 1, value=qs.DEFAULT_SEED, step=1,
                           key="money_seed"))


bar: list = []  # the progress bar, drawn when a simulation runs (a kept result needs none)


def _progress(done: float) -> None:
    if not bar:
        bar.append(st.progress(0.0, text=f"Simulating {iterations:,} years…"))
    bar[0].progress(min(1.0, done), text=f"Simulating {iterations:,} years: {done:.0%}")


money = profile_charts.money(eng, pid, iterations, seed, progress=_progress)
if bar:
    bar[0].empty()
money_recipes = profile_charts.money_recipes(money, cur, iterations, seed)
recipes.update(money_recipes)


if not money["risks"]:
    st.info("No risk is priced yet: give risks their own figures on their cards, or fill in the calibration table "
            "below so that risks are priced by their level.", icon=":material/info:")
else:
    stats = money["stats"]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(f"Expected loss a year ({cur})", f"{stats.eal:,.2f}", help="The average over the simulated years")
    m2.metric(f"1 year in 10 is worse than ({cur})", f"{stats.p90:,.2f}",
              help="The 90th percentile of a year's losses: a bad year")
    m3.metric(f"1 year in 20 is worse than ({cur})", f"{stats.p95:,.2f}",
              help="The 95th percentile of a year's losses")
    m4.metric(f"1 year in 100 is worse than ({cur})", f"{stats.p99:,.2f}",
              help="The 99th percentile of a year's losses: a very bad year")
    st.caption(f"{len(money['eal'])} risks priced, {iterations:,} simulated years, seed {seed}. Before controls the "
               f"expected loss would be {charts.money(money['inherent'], cur)} a year: the treatments avoid "
               f"{charts.money(money['reduction'], cur)} a year.")
    left, right = st.columns(2)
    with left:
        draw("money_eal")
    with right:
        draw("money_exceedance")

    st.markdown("**Each partner's expected loss beside its share of the costs**")
    shares = {}
    if model.lines:
        try:
            allocation = cost_service.allocate(eng, pid)
            shares = {p.partner: (float(p.share_pct), float(p.share) / allocation.horizon)
                      for p in allocation.partners}
        except RefusedError:
            pass  # no chosen split that the figures allow: the loss column alone
    total_loss = sum(e for _p, e in money["partners"]) or 1.0
    st.dataframe(pd.DataFrame([{
        "Partner": name, f"Expected loss a year ({cur})": eal, "Share of the expected loss (%)": 100 * eal / total_loss,
        "Share of the costs (%)": shares.get(name, (None, None))[0],
        f"Cost a year, on average ({cur})": shares.get(name, (None, None))[1],
    } for name, eal in money["partners"]]), hide_index=True, width="stretch", key=f"money_partners_{pid}",
        column_config={c: st.column_config.NumberColumn(format="%.2f%%" if c.endswith("(%)") else "accounting")
                       for c in (f"Expected loss a year ({cur})", "Share of the expected loss (%)",
                                 "Share of the costs (%)", f"Cost a year, on average ({cur})")})
    st.caption(f"Each risk's loss is split {common.md(money['split'])}.")
    if "money_treatments" in money_recipes:
        draw("money_treatments")
        st.caption("The loss avoided is each risk's expected loss a year before controls less that with them; the "
                   "cost of its actions is what the team entered on them.")
if money["unpriced"]:
    st.markdown("**Not priced** (no figures of their own, and no calibration row for their level): "
                + ", ".join(f"{common.md(r)} {common.md(money['titles'].get(r, ''))}" for r in money["unpriced"]))

st.subheader("The calibration table")
st.caption("Prices a risk without figures of its own by its level: events a year, and one event's loss from its "
           "5th to its 95th percentile. A starting point to calibrate against your own budgets, incidents and "
           "insurance, not a measurement.")
levels = list(matrix.levels)
stored = model.calibration
cal_form = f"calibration_{pid}"
cal_key = f"{cal_form}_{common.generation(cal_form)}"
can_price = common.may("edit_costs", pid)
suggested = quantify.SUGGESTED_CALIBRATION
asked = st.session_state.get(f"_cal_suggested_{pid}") and not stored
use_suggested = asked and all(suggested.row(level) for level in levels)  # only for the five NIST levels
rows = []
for level in [*levels, *(name for name in stored if name not in levels)]:
    given = stored.get(level) or (suggested.row(level) if use_suggested else None)
    rows.append({"Level": level, "Events a year": given[0] if given else None,
                 f"Loss low ({cur})": given[1] if given else None, f"Loss high ({cur})": given[2] if given else None})
cal = pd.DataFrame(rows).astype({c: "float64" for c in rows[0] if c != "Level"})
cal_config = {"Level": st.column_config.TextColumn(disabled=True),
              "Events a year": st.column_config.NumberColumn(min_value=0.0, max_value=1000.0, format="%.3g"),
              **{c: st.column_config.NumberColumn(min_value=0.0, format="accounting")
                 for c in (f"Loss low ({cur})", f"Loss high ({cur})")}}
if not can_price:
    if stored:
        st.dataframe(cal, hide_index=True, width="stretch", key=f"calibration_table_{pid}", column_config=cal_config)
    else:
        st.caption("No calibration table yet: the facilitator fills it in.")
else:
    cal_version = common.seen(cal_form, model.version, widget=cal_key)
    if asked and not use_suggested:
        st.info("The suggested table is for the five NIST SP 800-30 levels; this matrix's own levels are listed for "
                "the team to price.", icon=":material/info:")
    edited_cal = st.data_editor(cal, key=cal_key, hide_index=True, width="stretch", num_rows="fixed",
                                column_config=cal_config)
    with st.container(horizontal=True):
        if st.button("Save the calibration table", type="primary", key=f"save_{cal_key}"):
            table = {r["Level"]: [None if pd.isna(r[c]) else float(r[c]) for c in list(r)[1:]]
                     for r in edited_cal.to_dict("records")}
            table = {level: row for level, row in table.items() if any(v is not None for v in row)}
            if common.run(cost_service.set_calibration, proposal_id=pid, calibration=table,
                          expected_version=cal_version, on_conflict=lambda: common.renew(cal_form),
                          success="Saved the calibration table.") is not common.FAILED:
                st.session_state.pop(f"_cal_suggested_{pid}", None)
                common.renew(cal_form)
                st.rerun()
        if not stored and st.button("Start from the suggested table", key=f"suggest_{cal_key}"):
            st.session_state[f"_cal_suggested_{pid}"] = True
            common.renew(cal_form)
            st.rerun()
