"""One risk in the walkthrough: its sentence, the team's agreed scores with the scale descriptors in view, the
owner, treatment and actions. Saving records the agreed scores as the consensus, under the person acting."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from risk import scoring
from risk.services import proposals as ps
from risk.services import rounds as rs
from risk.services.profile import RiskView
from risk.ui import common

LIKELIHOOD_TEXT = {p.score: f"{p.score} {p.label}: {p.descriptor}" for p in scoring.LIKELIHOOD_SCALE}
IMPACT_TEXT = {int(p["score"]): f"{p['score']} {p['label']}: {p['service']}; {p['money']} of IT budget; "
               f"legal: {p['legal']}; public: {p['public']}" for p in scoring.IMPACT_SCALE}


def scales_table() -> None:
    """The likelihood and impact scales, for the team to score against."""
    left, right = st.columns(2)
    left.dataframe(pd.DataFrame([{"Score": p.score, "Likelihood": p.label, "Means": p.descriptor}
                                 for p in reversed(scoring.LIKELIHOOD_SCALE)]), hide_index=True, width="stretch")
    right.dataframe(pd.DataFrame([{"Score": p["score"], "Impact": p["label"], "Service": p["service"],
                                   "Money": p["money"], "Legal": p["legal"], "Public": p["public"]}
                                  for p in reversed(scoring.IMPACT_SCALE)]), hide_index=True, width="stretch")


def _score_pick(label: str, texts: dict[int, str], value: int | None, key: str, optional: bool = False,
                disabled: bool = False):
    options = list(texts)
    return st.selectbox(label, options, index=options.index(value) if value in options else None,
                        format_func=texts.get, key=key, disabled=disabled,
                        placeholder="Not set" if optional else "Choose a score")


def _value_text(value: scoring.Standing) -> str:
    if value.source == "none":
        return "not scored"
    how = "agreed" if value.source == "consensus" else "from blind scores"
    flags = f"; disagreement: {', '.join(value.flags)}" if value.flags else ""
    return f"{value.level} ({value.likelihood}×{value.impact}, {how}{flags})"


def risk_card(view: RiskView, partners: dict[int, str], expanded: bool = False, *, can_edit: bool = True,
              can_agree: bool = True, can_act: bool = True) -> None:
    """One risk as a card: its statement, its fields and agreed scores to edit, its actions. `can_edit`, `can_agree`
    and `can_act` say what the signed-in account may change (risk/access.py): the rest is shown, not offered."""
    risk = view.risk
    over = " · :red[over appetite]" if view.over_appetite else ""
    label = f"**{common.md(risk.risk_id)}** {common.md(risk.title)} — inherent {_value_text(view.inherent)}, " \
            f"residual {_value_text(view.residual)}"
    with st.expander(label, expanded=expanded):
        st.markdown(f"_{common.md(scoring.risk_sentence(risk.cause, risk.event, risk.consequence))}_{over}")
        if risk.tags:
            st.caption("Collaboration risk: " + common.md(", ".join(risk.tags)))
        # keyed by the risk and the card's generation: a save or a refusal draws the card afresh from what is
        # stored, and the version checked on save is the one on screen when this card was drawn
        card = f"risk_card_{risk.id}"
        k = f"{risk.id}_{common.generation(card)}"
        on_screen = common.seen(card, {"version": risk.version, **{
            phase: (value.likelihood, value.impact) if value.source == "consensus" else None
            for phase, value in (("inherent", view.inherent), ("residual", view.residual))}}, widget=f"controls_{k}")
        with st.form(f"score_{k}"):
            st.markdown("**Scores the team agrees** (recorded as the consensus)")
            inh_l = _score_pick("Inherent likelihood (before controls)", LIKELIHOOD_TEXT, view.inherent.likelihood,
                                f"inh_l_{k}", disabled=not can_agree)
            inh_i = _score_pick("Inherent impact", IMPACT_TEXT, view.inherent.impact, f"inh_i_{k}",
                                disabled=not can_agree)
            controls = st.text_area("Controls (existing and planned)", value=risk.controls, key=f"controls_{k}",
                                    max_chars=ps.RISK_TEXT_LIMITS["controls"])
            res_l = _score_pick("Residual likelihood (with controls)", LIKELIHOOD_TEXT, view.residual.likelihood,
                                f"res_l_{k}", disabled=not can_agree)
            res_i = _score_pick("Residual impact", IMPACT_TEXT, view.residual.impact, f"res_i_{k}",
                                disabled=not can_agree)
            t1, t2 = st.columns(2)
            tgt_l = t1.selectbox("Target likelihood", [None, 1, 2, 3, 4, 5], key=f"tgt_l_{k}",
                                 index=[None, 1, 2, 3, 4, 5].index(risk.target_likelihood),
                                 format_func=lambda v: "Not set" if v is None else LIKELIHOOD_TEXT[v])
            tgt_i = t2.selectbox("Target impact", [None, 1, 2, 3, 4, 5], key=f"tgt_i_{k}",
                                 index=[None, 1, 2, 3, 4, 5].index(risk.target_impact),
                                 format_func=lambda v: "Not set" if v is None else IMPACT_TEXT[v])
            o1, o2, o3, o4 = st.columns(4)
            owner_ids = [None, *partners]
            owner_partner = o1.selectbox("Owner partner", owner_ids, index=owner_ids.index(risk.owner_partner_id)
                                         if risk.owner_partner_id in owner_ids else 0, key=f"owner_partner_{k}",
                                         format_func=lambda i: "Not set" if i is None else partners[i])
            owner = o2.text_input("Owner (person)", value=risk.owner, key=f"owner_{k}", max_chars=200)
            treatments = [None, *scoring.TREATMENTS]
            treatment = o3.selectbox("Treatment", treatments, index=treatments.index(risk.treatment),
                                     key=f"treatment_{k}", format_func=lambda t: "Not decided" if t is None else t)
            status = o4.selectbox("Status", scoring.RISK_STATUSES, index=scoring.RISK_STATUSES.index(risk.status),
                                  key=f"status_{k}")
            rationale = st.text_input("Why the team agreed on these scores (needed when they differ from the "
                                      "blind rounds)", key=f"rationale_{k}")
            dissent = st.text_input("Dissent, if any", key=f"dissent_{k}")
            save = st.form_submit_button("Save", type="primary", disabled=not can_edit)
        if save:
            _save(view, on_screen, dict(controls=controls, target_likelihood=tgt_l, target_impact=tgt_i,
                             owner_partner_id=owner_partner, owner=owner, treatment=treatment, status=status),
                  {"inherent": (inh_l, inh_i), "residual": (res_l, res_i)}, rationale, dissent)
        _actions(risk, partners, can_act)
        _history(risk)


def _save(view: RiskView, on_screen: dict, fields: dict, scores: dict, rationale: str, dissent: str) -> None:
    """Save the card: the risk's fields against the version on screen, then each agreed score that changed against
    the consensus on screen, so that nothing a colleague saved meanwhile is overwritten."""
    risk = view.risk
    card = f"risk_card_{risk.id}"

    def reload() -> None:
        common.renew(card)
        st.session_state["open_risk"] = risk.id

    version = common.run(ps.update_risk, risk_pk=risk.id, expected_version=on_screen["version"],
                         on_conflict=reload, **fields)
    if version is common.FAILED:
        return
    # the fields are saved: a consensus refused below leaves the card as typed, standing on what is now stored
    on_screen = {**on_screen, "version": version}
    common.saw(card, on_screen)
    for phase, (lik, imp) in scores.items():
        if lik is None or imp is None or on_screen[phase] == (lik, imp):  # not set, or the consensus as it was
            continue
        if common.run(rs.record_consensus, risk_pk=risk.id, phase=phase, likelihood=lik, impact=imp,
                      rationale=rationale, dissent=dissent, expected=on_screen[phase],
                      on_conflict=reload) is common.FAILED:
            return
        on_screen = {**on_screen, phase: (lik, imp)}
        common.saw(card, on_screen)
    common.flash(f"Saved {risk.risk_id}.")
    reload()
    st.rerun()


def _actions(risk, partners: dict[int, str], can_act: bool = True) -> None:
    actions = ps.risk_actions(common.engine(), risk.id)
    if actions:
        st.markdown("**Actions**")
        st.dataframe(pd.DataFrame([{"Action": a.description, "Owner": a.owner, "Due": a.due_date,
                                    "Status": a.status, "Cost ($)": a.cost,
                                    "Paid by": partners.get(a.paying_partner_id, "")} for a in actions]),
                     hide_index=True, width="stretch")
    if not can_act:
        return
    form = f"add_action_{risk.id}"
    t = common.once_token(form)
    with st.form(f"action_{risk.id}_{t}"):
        st.markdown("**Add an action**")
        a, b, c, d, e = st.columns([4, 2, 2, 2, 2])
        description = a.text_input("What will be done", key=f"act_desc_{t}", max_chars=5000)
        owner = b.text_input("Owner", key=f"act_owner_{t}", max_chars=200)
        due = c.date_input("Due", value=None, key=f"act_due_{t}")
        cost = d.number_input("Cost ($)", min_value=0.0, step=1000.0, value=None, key=f"act_cost_{t}")
        payer = e.selectbox("Paid by", list(partners), index=None, format_func=partners.get,
                            key=f"act_payer_{t}", placeholder="Partner")
        add = st.form_submit_button("Add action", key=f"act_submit_{t}")
    if add and common.run(ps.add_action, risk_pk=risk.id, description=description, owner=owner, due_date=due,
                          cost=cost, paying_partner_id=payer, request_token=t,
                          success=f"Added the action to {risk.risk_id}.") is not common.FAILED:
        common.renew(form)
        st.session_state["open_risk"] = risk.id
        st.rerun()


def _history(risk) -> None:
    """The risk's own history from the audit log, read only when asked for (docs/USER_GUIDE.md, Activity)."""
    from risk.services import activity

    if not st.toggle("Show its history", key=f"history_{risk.id}"):
        return
    entries = activity.risk_history(common.engine(), risk.proposal_id, risk.risk_id)
    if not entries:
        st.caption("Nothing recorded for this risk yet.")
        return
    st.dataframe(pd.DataFrame([{"When (UTC)": e.at[:16].replace("T", " "), "Who": e.actor, "What": e.what,
                                "Changes": "; ".join(f"{n}: {b} → {a}" for n, b, a in e.changes)}
                               for e in entries]), hide_index=True, width="stretch", key=f"history_table_{risk.id}")
