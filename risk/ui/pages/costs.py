"""Costs: who pays for what (docs/COSTS.md). The chosen split and what each partner saves against going alone first
(what a county manager asks), every method side by side, year by year, what if a partner withdraws; then, for the
facilitator, recording the split and the figures behind it: the cost lines and the partners' figures."""

import datetime as dt
import re

import pandas as pd
import streamlit as st

from risk import accounts, charts, costs
from risk.errors import ConflictError, RefusedError
from risk.services import costs as cs
from risk.ui import common

proposal = common.require_proposal()
eng = common.engine()
pid = proposal.id
model = cs.cost_model(eng, pid)
cur = model.currency
names = [p.name for p in model.partners]
can_edit = common.may("edit_costs", pid)
MONEY = "accounting"  # 1,234,567.89 (negative in brackets): the currency is in each column's title
PCT = "%.2f%%"


def money(value) -> str:
    return charts.money(value, cur)


def attempt(read, *args, **kwargs):
    """A read the figures may not allow (a method whose figures a partner lacks): the refusal in words, None."""
    try:
        return read(*args, **kwargs)
    except RefusedError as exc:
        st.error(common.md(exc), icon=":material/error:")
        return None


st.title(f"Costs: {common.md(proposal.title)}")
st.caption(f"Who pays for what over {model.horizon} years, in {cur}: the shared costs split among the partner "
           "governments, what each saves against doing the service alone, and what happens if one leaves. The rules "
           "are in docs/COSTS.md.")
if not model.partners:
    st.info("This proposal has no partner governments yet: add them on the Proposal page, then their costs here.",
            icon=":material/info:")
    common.page_link("proposal", "Go to the Proposal", icon=":material/handshake:")
    st.stop()

# --- the chosen split -----------------------------------------------------------------------------------------------
chosen = model.allocation if model.allocation.get("method") else None
agreement = model.agreement()
result = attempt(cs.allocate, eng, pid) if model.lines else None
if not model.lines:
    st.info("No cost lines yet: add the shared costs under **The cost lines** below.", icon=":material/info:")
if result is not None:
    a, b, c = st.columns(3)
    a.metric(f"Shared cost over {result.horizon} years", money(result.total))
    savings = [p.saving for p in result.partners if p.saving is not None]
    b.metric(f"Saved against going alone, all partners, {result.horizon} years",
             money(sum(savings)) if savings else "no status-quo costs yet")
    ahead = sum(1 for p in result.partners if p.saving is not None and p.saving >= 0)
    c.metric("Partners who save", f"{ahead} of {len(result.partners)}")
with st.container(border=True, key=f"chosen_{pid}"):
    if chosen:
        when = dt.datetime.fromisoformat(chosen["chosen_at"]).strftime("%-d %B %Y") if chosen.get("chosen_at") else ""
        st.markdown(f"**The chosen split: {common.md(costs.agreement_label(agreement))}**")
        by = chosen.get("chosen_by") or "somebody"
        known = {a["username"]: a["name"] for a in accounts.list_accounts(eng)}  # who chose it, by name
        st.markdown(f"Chosen by {common.md(f'{known[by]} ({by})' if by in known else by)}"
                    + (f" on {when}" if when else "") + f". Why: {common.md(chosen.get('rationale', ''))}")
    else:
        st.markdown("**No split has been chosen yet.** The figures below use equal shares until the partners record "
                    "one under *Choose the split*.")

if result is not None:
    st.subheader("What each partner pays, and saves against going alone")
    going = charts.going_alone_frame(result)
    if len(going):
        common.chart(lambda: charts.going_alone(going, cur, result.horizon), "costs_alone", "going-alone", proposal=pid)
    st.dataframe(pd.DataFrame([{
        "Partner": p.partner, "Share (%)": float(p.share_pct), f"Share ({cur})": float(p.share),
        f"Assets it brings ({cur})": float(p.credit), f"Pays in money ({cur})": float(p.pays),
        f"Going alone ({cur})": None if p.status_quo is None else float(p.status_quo),
        f"Saving ({cur})": None if p.saving is None else float(p.saving),
        "Pays back in year": p.payback_year,
    } for p in result.partners]), hide_index=True, width="stretch", key=f"chosen_table_{pid}", column_config={
        "Share (%)": st.column_config.NumberColumn(format=PCT),
        **{k: st.column_config.NumberColumn(format=MONEY) for k in (
            f"Share ({cur})", f"Assets it brings ({cur})", f"Pays in money ({cur})", f"Going alone ({cur})",
            f"Saving ({cur})")},
        "Pays back in year": st.column_config.NumberColumn(
            help="The first year in which its savings so far cover what it has paid; empty: not within the "
                 "horizon, or no status-quo cost"),
    })
    st.caption(f"The shares add up to the shared cost, {money(result.total)}, to the cent. *Pays in money* is the "
               "share less the assets a partner brings (its dispatch floor, its servers).")

    st.subheader("Every way of splitting it, side by side")
    compared = attempt(cs.compare_methods, eng, pid)
    if compared:
        mark = costs.method_label(agreement.method) if chosen else None
        common.chart(lambda: charts.method_shares(charts.method_shares_frame(compared, mark), cur, result.horizon),
                     "costs_methods", "shares-by-method", proposal=pid)
        # a static table: a method's name is long, and here it wraps instead of being cut off; the chosen one bold
        side = pd.DataFrame([{"Method": a.method + (" (chosen)" if a.method == mark else ""),
                              **{f"{p.partner} ({cur})": float(p.share) for p in a.partners}} for a in compared])
        st.table(side.style.hide(axis="index").format("{:,.2f}", subset=list(side.columns[1:])).apply(
            lambda row: ["font-weight: bold" if row["Method"].endswith(" (chosen)") else ""] * len(row), axis=1))
        notes = []
        if agreement.floors or agreement.caps:
            notes.append("every method is shown with the chosen floors and caps")
        if agreement.phase_in_from is not None:
            notes.append("each as it would stand from year 1, without the chosen phase-in")
        if notes:
            st.caption("; ".join(notes).capitalize() + ".")

    st.subheader("Year by year, as chosen")
    years = pd.DataFrame([{"Year": y.year, **{n: float(v) for n, v in y.partners}, "Total": float(y.total)}
                          for y in result.years])
    st.dataframe(years, hide_index=True, width="stretch", key=f"years_table_{pid}",
                 column_config={c: st.column_config.NumberColumn(f"{c} ({cur})", format=MONEY)
                                for c in years.columns[1:]})

# --- choose the split ------------------------------------------------------------------------------------------------
KINDS = {"equal": "Equal shares", "population": "By population", "assessed_value": "By assessed value",
         "driver": "By a usage figure", "blend": "A blend of these, with weights",
         "base_plus_usage": "A base in equal shares, the rest by usage", "fixed": "Fixed percentages"}
allocation_form = f"allocation_{pid}"
settings_form = f"cost_settings_{pid}"


def renew_versioned() -> None:
    """The forms that save against the proposal's version, drawn afresh after one of them saved."""
    common.renew(allocation_form)
    common.renew(settings_form)


def method_inputs(k: str, current: costs.Method) -> costs.Method:
    """The method picked by the widgets keyed `k`, checked against the partners (a RefusedError in words)."""
    kinds = list(KINDS)
    kind = st.selectbox("Method", kinds, index=kinds.index(current.kind), format_func=KINDS.get,
                        key=f"alloc_kind_{k}")
    drivers = model.drivers()
    method = costs.Method(kind)
    if kind in ("driver", "base_plus_usage"):
        if not drivers:
            raise RefusedError("method: no usage figure is given for every partner yet (add one under "
                               "The partners' figures)")
        driver = st.selectbox("Usage figure", drivers, key=f"alloc_driver_{k}",
                              index=drivers.index(current.driver) if current.driver in drivers else 0,
                              format_func=lambda d: d.replace("_", " "))
        method = costs.Method(kind, driver=driver)
        if kind == "base_plus_usage":
            base = st.number_input("Share split equally (%)", 0.0, 100.0, step=5.0, key=f"alloc_base_{k}",
                                   value=float((current.base_share if current.base_share is not None else 0.2) * 100))
            method = costs.Method(kind, driver=driver, base_share=base / 100)
    elif kind == "blend":
        bases = {"equal": "Equal shares", "population": "Population", "assessed_value": "Assessed value",
                 **{f"driver:{d}": d.replace("_", " ").capitalize() for d in drivers}}
        st.caption("Weights in percent, adding up to 100.")
        weights = {}
        for column, base in zip(st.columns(len(bases)), bases, strict=True):
            weights[base] = column.number_input(
                bases[base], 0.0, 100.0, step=1.0,
                value=float(current.weights.get(base, 0.0) * 100), key=f"alloc_w_{base}_{k}") / 100
        method = costs.Method(kind, weights={b: w for b, w in weights.items() if w})
    elif kind == "fixed":
        st.caption("Each partner's percentage, adding up to 100.")
        method = costs.Method(kind, percentages={
            n: column.number_input(n, 0.0, 100.0, step=1.0, key=f"alloc_pct_{n}_{k}",
                                   value=float(current.percentages.get(n, round(100 / len(names), 2))))
            for column, n in zip(st.columns(len(names)), names, strict=True)})
    costs.check_method(method, names)
    return method


st.subheader("Choose the split")
if not can_edit:
    st.caption("The facilitator or an administrator records the split the partners agree on.")
else:
    g = common.generation(allocation_form)
    k = f"{pid}_{g}"
    expected = common.seen(allocation_form, proposal.version, widget=f"alloc_kind_{k}")
    try:
        method = method_inputs(k, agreement.method)
    except RefusedError as exc:
        st.warning(common.md(exc), icon=":material/warning:")
        method = None
    floors, caps, start, steps = {}, {}, None, 0
    if st.toggle("Floors or caps for some partners", key=f"alloc_limits_{k}",
                 value=bool(agreement.floors or agreement.caps)):
        st.caption("Percent of each year's total; leave a cell empty for none.")
        limits = st.data_editor(
            pd.DataFrame({"Partner": names, "Floor (%)": [agreement.floors.get(n) for n in names],
                          "Cap (%)": [agreement.caps.get(n) for n in names]}).astype(
                {"Floor (%)": "float64", "Cap (%)": "float64"}),
            key=f"alloc_limits_grid_{k}", hide_index=True, num_rows="fixed", disabled=["Partner"],
            column_config={c: st.column_config.NumberColumn(min_value=0.0, max_value=100.0)
                           for c in ("Floor (%)", "Cap (%)")})
        floors = {r["Partner"]: float(r["Floor (%)"]) for r in limits.to_dict("records") if pd.notna(r["Floor (%)"])}
        caps = {r["Partner"]: float(r["Cap (%)"]) for r in limits.to_dict("records") if pd.notna(r["Cap (%)"])}
    if st.toggle("Phase it in from another method", key=f"alloc_phase_{k}", value=agreement.phase_in_from is not None):
        olds = {costs.method_label(m): m for m in cs.candidate_methods(model)}
        labels = list(olds)
        was = costs.method_label(agreement.phase_in_from) if agreement.phase_in_from else labels[0]
        p1, p2 = st.columns([3, 1])
        start = olds[p1.selectbox("From", labels, index=labels.index(was) if was in labels else 0,
                                  key=f"alloc_from_{k}")]
        steps = int(p2.number_input("Over years", 2, max(2, model.horizon), step=1, key=f"alloc_years_{k}",
                                    value=max(2, min(agreement.phase_in_years or 3, model.horizon))))
    rationale = st.text_area("Why the partners chose it (required: the record a council will ask for)",
                             key=f"alloc_rationale_{k}", max_chars=20000,
                             placeholder="e.g. Calls for service drive the centre's work, so they carry half.")
    picked = None
    if method is not None:
        picked = costs.Agreement(method=method, horizon=model.horizon, floors=floors, caps=caps,
                                 phase_in_from=start, phase_in_years=steps if start is not None else 0)
        preview = attempt(costs.allocate, model.cost_lines(), model.partner_figures(), picked) if model.lines else None
        if preview is not None:
            st.caption("With this split: " + "; ".join(f"{common.md(p.partner)} {p.share_pct}% "
                                                        f"({common.md(money(p.share))})" for p in preview.partners))
    if st.button("Record this split", type="primary", key=f"alloc_record_{k}", disabled=picked is None) and \
            common.run(cs.choose_allocation, proposal_id=pid, allocation=costs.agreement_to_json(picked),
                       rationale=rationale, expected_version=expected, on_conflict=renew_versioned,
                       success=f"Recorded the split: {costs.agreement_label(picked)}.") is not common.FAILED:
        renew_versioned()
        st.rerun()

# --- what if a partner withdraws -------------------------------------------------------------------------------------
st.subheader("What if a partner withdraws?")
leaving = st.selectbox("Partner who leaves", names, index=None, key=f"withdraw_{pid}",
                       placeholder="Choose a partner to see the split without it")
if leaving and model.lines:
    gone = attempt(cs.withdrawal, eng, pid, leaving)
    if gone is not None:
        after = {p.partner: p for p in gone.after.partners}
        x, y = st.columns(2)
        x.metric(f"{leaving}'s exit charge", money(gone.exit_cost) if gone.exit_cost is not None
                 else "none in the agreement")
        y.metric(f"Shared cost without it, {gone.after.horizon} years", money(gone.after.total))
        st.dataframe(pd.DataFrame([{
            "Partner": p.partner, f"Share now ({cur})": float(p.share), "Share now (%)": float(p.share_pct),
            f"Share without {leaving} ({cur})": float(after[p.partner].share) if p.partner in after else None,
            f"Without {leaving} (%)": float(after[p.partner].share_pct) if p.partner in after else None,
            f"Change ({cur})": float(after[p.partner].share - p.share) if p.partner in after else None,
        } for p in gone.before.partners]), hide_index=True, width="stretch", key=f"withdraw_table_{pid}",
            column_config={c: st.column_config.NumberColumn(format=PCT if c.endswith("(%)") else MONEY)
                           for c in ("Share now (%)", f"Without {leaving} (%)", f"Share now ({cur})",
                                     f"Share without {leaving} ({cur})", f"Change ({cur})")})
        if gone.risks:
            st.markdown(f"**Risks to look at again if {common.md(leaving)} leaves**")
            st.markdown("\n".join(f"- **{common.md(r)}** {common.md(t)} ({common.md(why)})"
                                  for r, t, why in gone.risks))
        else:
            st.caption(f"{common.md(leaving)} owns no risk and does not lead or host the service.")
elif leaving:
    st.caption("No cost lines yet: nothing to split.")

# --- the figures behind it -----------------------------------------------------------------------------------------
st.subheader("The cost lines")
with st.container(horizontal=True, vertical_alignment="bottom", key=f"settings_{pid}"):
    sk = f"{pid}_{common.generation(settings_form)}"
    settings_version = common.seen(settings_form, proposal.version, widget=f"cost_currency_{sk}")
    currency = st.text_input("Currency", value=cur, max_chars=3, key=f"cost_currency_{sk}", width=120,
                             disabled=not can_edit, help="A three-letter code such as USD, CAD or EUR")
    horizon = st.number_input("Horizon (years)", 1, 50, value=model.horizon, step=1, key=f"cost_horizon_{sk}",
                              width=160, disabled=not can_edit)
    if can_edit and st.button("Save currency and horizon", key=f"cost_settings_save_{sk}") and common.run(
            cs.set_cost_settings, proposal_id=pid, expected_version=settings_version, currency=currency,
            cost_horizon=int(horizon), on_conflict=renew_versioned,
            success="Saved the currency and horizon.") is not common.FAILED:
        renew_versioned()
        st.rerun()

LINE_FIELDS = {"name": "name", "kind": "kind", "amount": "amount", "first_year": "first year", "years": "years",
               "credit_partner": "contributed by"}
lines_grid = f"cost_lines_{pid}"
lines_key = f"{lines_grid}_{common.generation(lines_grid)}"
shown_lines = common.seen(lines_grid, model.lines, widget=lines_key)
pending = st.session_state.get(lines_key) or {}
if shown_lines != model.lines:
    if any(pending.get(part) for part in ("edited_rows", "added_rows", "deleted_rows")):
        st.warning("Somebody else changed the cost lines after you opened them: saving yours would overwrite theirs "
                   "and is refused. Reload the page to see theirs.", icon=":material/sync_problem:")
    else:  # nothing typed here: show what is stored now
        common.renew(lines_grid)
        lines_key = f"{lines_grid}_{common.generation(lines_grid)}"
        shown_lines = common.seen(lines_grid, model.lines, widget=lines_key)

grid = pd.DataFrame(shown_lines, columns=["id", "name", "kind", "amount", "first_year", "years", "credit_partner"])
grid = grid.astype({"id": "Int64", "amount": "float64", "first_year": "Int64", "years": "Int64", "name": "object",
                    "kind": "object", "credit_partner": "object"})
edited = st.data_editor(
    grid, key=lines_key, num_rows="dynamic" if can_edit else "fixed", disabled=not can_edit, hide_index=True,
    width="stretch", column_order=["name", "kind", "amount", "first_year", "years", "credit_partner"],
    column_config={
        "name": st.column_config.TextColumn("Cost", required=True, max_chars=200, width="large"),
        "kind": st.column_config.SelectboxColumn("Kind", options=list(costs.KINDS), required=True,
                                                 default="recurring",
                                                 format_func={"one_time": "One-time", "recurring": "Every year"}.get),
        "amount": st.column_config.NumberColumn(f"Amount ({cur})", format=MONEY, min_value=0.0, required=True,
                                                help="A one-time amount, or the amount per year of a recurring line"),
        "first_year": st.column_config.NumberColumn("First year", min_value=1, max_value=50, step=1, default=1,
                                                    help="1 is the first year of the horizon"),
        "years": st.column_config.NumberColumn("Years", min_value=1, max_value=50, step=1, default=1,
                                               help="How many years a recurring line runs"),
        "credit_partner": st.column_config.SelectboxColumn(
            "Asset brought by", options=names,
            help="A partner that contributes this as an existing asset: its value is credited to it"),
    })


def _cell(value):
    """A grid cell as the services take it: None for empty, whole numbers as int."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


def save_lines(engine, *, actor: str, lines: list[dict], expected: list[dict]) -> None:
    """save_cost_lines, its refusal naming the line by its number and name and the field in words."""
    try:
        cs.save_cost_lines(engine, actor=actor, proposal_id=pid, lines=lines, expected=expected)
    except ConflictError:
        raise
    except RefusedError as exc:
        found = re.match(r"cost line (\d+): (\w+): (.*)", str(exc), re.S)
        if not found:
            raise
        n, field, problem = int(found[1]), found[2], found[3]
        named = lines[n - 1].get("name") if n <= len(lines) else None
        raise RefusedError(f"Not saved: cost line {n}" + (f" (“{named}”)" if named else "")
                           + f", {LINE_FIELDS.get(field, field)}: {problem}. Nothing was changed.") from None


if can_edit and st.button("Save the cost lines", type="primary", key=f"save_{lines_key}"):
    rows = [{k: _cell(v) for k, v in row.items()} for row in edited.to_dict("records")]
    rows = [{**r, "amount": float(r["amount"]) if isinstance(r["amount"], int) else r["amount"]}
            for r in rows if any(r[k] is not None for k in LINE_FIELDS)]
    if common.run(save_lines, lines=rows, expected=shown_lines, on_conflict=lambda: common.renew(lines_grid),
                  success=f"Saved the cost lines ({len(rows)}).") is not common.FAILED:
        common.renew(lines_grid)
        st.rerun()

st.subheader("The partners' figures")
st.caption("Population and assessed value are the government's own (the same in every proposal); the status-quo "
           "cost (what it spends a year doing this alone today), the exit charge and the usage figures are its part "
           "in this proposal. A usage method needs its figure for every partner.")
figures_grid = f"partner_figures_{pid}"
figures_key = f"{figures_grid}_{common.generation(figures_grid)}"
extra = st.session_state.setdefault(f"_new_drivers_{pid}", [])
drivers = sorted({d for p in model.partners for d in p.drivers} | set(extra))
FIGURES = {"population": "Population", "assessed_value": f"Assessed value ({cur})",
           "status_quo_cost": f"Going alone, a year ({cur})", "exit_cost": f"Exit charge ({cur})"}


def figures_of(rows) -> dict[int, dict]:
    return {p.partner_id: {"population": p.population, "assessed_value": p.assessed_value,
                           "status_quo_cost": p.status_quo_cost, "exit_cost": p.exit_cost,
                           **{f"driver:{d}": p.drivers.get(d) for d in drivers}} for p in rows}


shown_figures = common.seen(figures_grid, figures_of(model.partners), widget=figures_key)
table = pd.DataFrame([{"partner_id": p.partner_id, "Partner": p.name,
                       **{k: shown_figures.get(p.partner_id, {}).get(k) for k in FIGURES},
                       **{f"driver:{d}": shown_figures.get(p.partner_id, {}).get(f"driver:{d}") for d in drivers}}
                      for p in model.partners])
table = table.astype({c: "float64" for c in table.columns if c not in ("partner_id", "Partner")})
figures = st.data_editor(
    table, key=figures_key, hide_index=True, width="stretch", num_rows="fixed",
    disabled=True if not can_edit else ["Partner"],
    column_order=["Partner", *FIGURES, *(f"driver:{d}" for d in drivers)],
    column_config={
        "Partner": st.column_config.TextColumn("Partner", pinned=True),
        "population": st.column_config.NumberColumn("Population", min_value=0, step=1, format="localized"),
        **{k: st.column_config.NumberColumn(FIGURES[k], min_value=0.0, format=MONEY)
           for k in ("assessed_value", "status_quo_cost", "exit_cost")},
        **{f"driver:{d}": st.column_config.NumberColumn(f"Usage: {d.replace('_', ' ')}", min_value=0.0,
                                                        format="localized") for d in drivers},
    })


def save_figures() -> None:
    """Each partner's changed figures, each checked against what its row showed (the service takes no version)."""
    now = figures_of(cs.cost_model(eng, pid).partners)
    saved = 0
    for row in figures.to_dict("records"):
        if row["partner_id"] not in shown_figures:  # a partner added since the grid was drawn: not edited here
            continue
        was, new = shown_figures[row["partner_id"]], {k: _cell(row[k]) for k in shown_figures[row["partner_id"]]}
        changed = [k for k in new if new[k] != was[k]]
        if not changed:
            continue
        if any(now[row["partner_id"]].get(k) != was[k] for k in changed):
            common.renew(figures_grid)
            common.flash(f"Not saved: {row['Partner']}'s figures were changed by somebody else after you opened "
                         "them. Their figures are shown now; make your changes again.", "error")
            st.rerun()
        given = {k: new[k] for k in changed if not k.startswith("driver:")}
        if any(k.startswith("driver:") for k in changed):
            given["drivers"] = {k.removeprefix("driver:"): v for k, v in new.items()
                                if k.startswith("driver:") and v is not None}
        seen = {k: was[k] for k in given if k != "drivers"}
        if "drivers" in given:
            seen["drivers"] = {k.removeprefix("driver:"): v for k, v in was.items()
                               if k.startswith("driver:") and v is not None}
        if common.run(cs.set_partner_figures, proposal_id=pid, partner_id=row["partner_id"], expected=seen,
                      **given) is common.FAILED:
            return
        saved += 1
    common.renew(figures_grid)
    common.flash(f"Saved the figures of {saved} partner{'s' if saved != 1 else ''}." if saved else "Nothing changed.")
    st.rerun()


if can_edit:
    with st.container(horizontal=True, vertical_alignment="bottom"):
        if st.button("Save the partners' figures", type="primary", key=f"save_{figures_key}"):
            save_figures()
        new_driver = st.text_input("New usage figure", key=f"new_driver_{figures_key}", max_chars=60, width=260,
                                   placeholder="e.g. calls_911, employees, parcels")
        if st.button("Add the column", key=f"add_driver_{figures_key}") and new_driver.strip():
            extra.append("_".join(new_driver.lower().split()))
            common.renew(figures_grid)
            st.rerun()
