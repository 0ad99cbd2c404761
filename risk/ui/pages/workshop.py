"""Workshop: estimate, talk, estimate. The facilitator opens a blind round; assessors score on their own devices
and see only their own scores; the facilitator's board shows who has scored how much, then reveals the spread,
steers the talk by disagreement, runs round two and records the consensus."""

import hashlib

import pandas as pd
import streamlit as st

from risk import scoring
from risk.errors import RefusedError
from risk.models import TeamRole
from risk.services import proposals as ps
from risk.services import rounds as rs
from risk.services import workshop as ws
from risk.services.matrices import load_matrix
from risk.services.register_export import FLAG_WORDS
from risk.ui import common
from risk.ui.risk_card import IMPACT_TEXT, LIKELIHOOD_TEXT
from risk.wording import count

proposal = common.require_proposal()
eng = common.engine()
pid = proposal.id
st.title(f"Workshop: {common.md(proposal.title)}")
signed_in = common.account()
me = next((m for m in ps.team(eng, pid) if signed_in is not None and m.account_id == signed_in.id), None)
risks = {r.id: r for r in ps.list_risks(eng, pid)}
current = rs.current_round(eng, pid)
partners = {p.id: p.name for p, _ in ps.proposal_partners(eng, pid)}
matrix = load_matrix(eng, proposal.matrix)


def round_label(rnd) -> str:
    return f"{rnd.phase.capitalize()} round {rnd.number}" + (" (impact on each partner)" if rnd.per_partner else "")


def stored_version(*stored: object) -> str:
    """A short fingerprint of what a form edits as stored: part of the form's widget keys, so that after a save
    (here or on another device) the form is drawn again from what is stored, not from what was typed."""
    return hashlib.blake2s(repr(stored).encode(), digest_size=4).hexdigest()


SPREAD_HELP = ("How far apart the assessors' scores were in that round: the gap between the highest and the lowest "
               "likelihood score, plus the same gap for impact. 0 means everyone gave the same score; 8 is as far "
               "apart as scores can be.")


@st.fragment(run_every=3)
@common.guarded("Workshop")
def board(round_id: int) -> None:
    """Who has scored how much: counts only, refreshed every few seconds."""
    rows = rs.progress(eng, round_id)
    st.dataframe(pd.DataFrame([{"Assessor": p.name, "Partner": partners.get(p.partner_id, "—"),
                                "Scored": p.scored / p.total if p.total else 0.0,
                                "Risks": f"{p.scored} of {p.total}"} for p in rows]),
                 hide_index=True, width="stretch", key="board_table",
                 column_config={"Scored": st.column_config.ProgressColumn("Scored", min_value=0.0, max_value=1.0,
                                                                          format="percent")})
    done = sum(p.scored == p.total for p in rows)
    if rows:
        st.caption(f"{done} of {len(rows)} {'has' if done == 1 else 'have'} scored every risk. "
                   "The board refreshes by itself.")
    else:
        st.caption("The team has no assessors yet: add them on the Proposal page.")


@st.fragment(run_every=5)
@common.guarded("Workshop")
def wait_for_round(seen: int | None) -> None:
    """An assessor's page notices by itself when the facilitator opens or reveals a round."""
    now = rs.current_round(eng, pid)
    state = (now.id, now.status) if now else None
    if state != seen:
        st.rerun()


@common.guarded("Workshop")
def _names_changed(round_id: int, key: str) -> None:
    common.run(rs.show_names, round_id=round_id, show=bool(st.session_state.get(key)))


def show_reveal(round_id: int, facilitator: bool) -> None:
    shown = ws.reveal(eng, round_id, viewer=me.id if me else None)
    rnd = shown.round
    st.subheader(f"{round_label(rnd)}: the scores revealed")
    if facilitator:
        # drawn from what is stored and changed only by the facilitator's own click (a callback), so a screen
        # that was not clicked never sends its old value back over a colleague's choice
        key = f"names_{rnd.id}"
        st.session_state[key] = rnd.show_names
        st.toggle("Show assessors' names", key=key, on_change=_names_changed, args=(rnd.id, key),
                  help="Anonymous by default: assessors are shown as Assessor A, B, C...")
    st.caption(f"Aggregated by {shown.method.replace('_', ' ')}; the mean is for information. Risks with the "
               "most disagreement come first.")
    if shown.you:  # only the viewer's own letter (or name): never anyone else's
        st.info(f"You are **{common.md(shown.you)}** in this reveal; your scores are marked \"(you)\"."
                + ("" if rnd.show_names else " The others do not see which letter is yours."),
                icon=":material/person:")
    consensus = rs.recorded_consensus(eng, [r.risk_pk for r in shown.risks], rnd.phase)
    for r in shown.risks:
        with st.container(border=True):
            st.markdown(f"**{common.md(r.risk_id)}** {common.md(r.title)} — **{r.level}** ({r.likelihood}×"
                        f"{r.impact}; mean {r.mean_likelihood}×{r.mean_impact}) {badges(r)}")
            st.caption(f"{len(r.scores)} of {r.assessors} scored"
                       + (f"; missing: {common.md(', '.join(r.missing))}." if r.missing else "."))
            named = rnd.show_names or rnd.per_partner  # an anonymous reveal does not name governments either
            st.dataframe(pd.DataFrame([{"Assessor": s.assessor + (" (you)" if s.mine else ""),
                                        **({"Partner": s.partner} if named else {}),
                                        "Likelihood": s.likelihood, "Impact": s.impact, "Level": s.level,
                                        "Why": s.rationale} for s in r.scores]), hide_index=True, width="stretch")
            agreed = consensus.get(r.risk_pk)
            if agreed:
                st.success(f"Consensus recorded by {common.md(agreed.recorded_by)}: {agreed.likelihood}×"
                           f"{agreed.impact} ({matrix.level(agreed.likelihood, agreed.impact)})."
                           + (f" {common.md(agreed.rationale)}" if agreed.rationale else "")
                           + (f"\n\nDissent: {common.md(agreed.dissent)}" if agreed.dissent else ""),
                           icon=":material/handshake:")
            if rnd.per_partner:
                impacts = ", ".join(f"{common.md(p)} {v}" for p, v in r.partner_impact.items())
                st.caption(f"Impact on each partner: {impacts}. Worst hit: {common.md(', '.join(r.worst_hit))}.")
            if facilitator:
                consensus_form(r, rnd.phase, agreed)
    if shown.unscored:
        st.warning("Nobody scored " + "; ".join(f"**{common.md(risk_id)}** {common.md(title)}"
                                                for _pk, risk_id, title in shown.unscored)
                   + " in this round.", icon=":material/warning:")


def badges(r) -> str:
    """The disagreement flags; "agreement" only when every assessor of the round scored and none was raised."""
    missing = len(r.missing)
    out = [f":orange-badge[{FLAG_WORDS.get(f, (f,))[0]}]" for f in r.flags]
    if missing:
        out.append(f":orange-badge[{count(missing, 'score')} missing]")
        if not r.flags:
            out.append(f":gray-badge[no flag among the {len(r.scores)} who scored]")
    elif not r.flags:
        out.append(":green-badge[agreement]")
    return " ".join(out)


def consensus_form(r, phase: str, agreed) -> None:
    """The facilitator's form for the consensus on one risk in a phase, drawn from the consensus stored (else from
    the aggregate). Its keys hold the stored version: once a consensus is recorded, here or elsewhere, the form
    shows it; a refused one leaves what was typed, to be corrected."""
    lik0, imp0, why0, dissent0 = ((agreed.likelihood, agreed.impact, agreed.rationale, agreed.dissent) if agreed
                                  else (r.likelihood, r.impact, "", ""))
    v = f"{r.risk_pk}_{phase}_" + stored_version(agreed)
    # the stored version this person's form was drawn from last time: when it differs now, somebody recorded a
    # consensus while the form was open, and what this person submitted was made on an older screen
    drawn_key = f"c_drawn_{r.risk_pk}_{phase}"
    drawn = st.session_state.get(drawn_key, v)
    st.session_state[drawn_key] = v
    on_screen = (agreed.likelihood, agreed.impact) if agreed else None
    with st.form(f"consensus_{r.risk_pk}_{phase}"):
        a, b = st.columns(2)
        lik = a.selectbox("Agreed likelihood", list(LIKELIHOOD_TEXT), index=lik0 - 1,
                          format_func=LIKELIHOOD_TEXT.get, key=f"c_l_{v}")
        imp = b.selectbox("Agreed impact", list(IMPACT_TEXT), index=imp0 - 1, format_func=IMPACT_TEXT.get,
                          key=f"c_i_{v}")
        why = st.text_input("Rationale (required when it differs from the aggregate)", value=why0, key=f"c_why_{v}")
        dissent = st.text_input("Dissent, if any", value=dissent0, key=f"c_dissent_{v}")
        submitted = st.form_submit_button("Record the consensus")
    if submitted and drawn != v:
        st.error(f"Not saved: {common.md(agreed.recorded_by if agreed else 'somebody')} recorded the consensus on "
                 f"{common.md(r.risk_id)} after you opened this form; it now shows what is stored.",
                 icon=":material/sync_problem:")
    elif submitted and common.run(
            rs.record_consensus, risk_pk=r.risk_pk, phase=phase, likelihood=lik, impact=imp, rationale=why,
            dissent=dissent, expected=on_screen,
            success=f"Recorded the consensus on {r.risk_id}.") is not common.FAILED:
        st.rerun()


def open_round_form() -> None:
    with st.form(f"open_round_{pid}"):
        st.subheader("Open a scoring round")
        phase = st.radio("Phase", ["inherent", "residual"], horizontal=True, key=f"round_phase_{pid}",
                         format_func=lambda p: "Inherent (before controls)" if p == "inherent"
                         else "Residual (with controls)")
        cats = st.multiselect("Categories in the round", list(scoring.CATEGORIES), key=f"round_categories_{pid}",
                              format_func=scoring.CATEGORIES.get, placeholder="All categories")
        per_partner = st.toggle("Assessors score the impact on their own government", key=f"round_per_partner_{pid}")
        opened = st.form_submit_button("Open the round", type="primary")
    if opened:
        scope = [k for k, r in risks.items() if r.category in cats] if cats else None
        if cats and not scope:
            st.error("categories: none of the chosen categories has a risk yet")
        elif common.run(rs.open_round, proposal_id=pid, phase=phase, risk_pks=scope, per_partner=per_partner,
                        success="The round is open: assessors can score now.") is not common.FAILED:
            st.rerun()


def facilitator_view() -> None:
    if current is None:
        open_round_form()
    elif current.status == "open":
        st.subheader(f"{round_label(current)} is open: scores are blind")
        board(current.id)
        if st.button("Reveal the scores", type="primary", key=f"reveal_round_{current.id}") and common.run(
                rs.reveal_round, round_id=current.id, success="Revealed.") is not common.FAILED:
            st.rerun()
    else:
        show_reveal(current.id, facilitator=True)
        a, b = st.columns(2)
        flagged = ws.flagged_risks(eng, current.id)
        label = (f"Round {current.number + 1}: re-score the {count(len(flagged), 'flagged risk')}" if flagged
                 else f"Round {current.number + 1}: re-score every risk")
        if a.button(label, key=f"round_two_{current.id}") and common.run(
                rs.open_round, proposal_id=pid, phase=current.phase, risk_pks=flagged or None,
                per_partner=current.per_partner, success=f"Round {current.number + 1} is open.") is not common.FAILED:
            st.rerun()
        if b.button("Close this round", key=f"close_round_{current.id}") and common.run(
                rs.close_round, round_id=current.id, success="Closed the round.") is not common.FAILED:
            st.rerun()
        with st.expander("Open a round of another phase or for other risks"):
            open_round_form()
    comparison()


def comparison() -> None:
    done = [r for r in rs.list_rounds(eng, pid) if r.status != "open"]
    for phase in scoring.PHASES:
        mine = [r for r in done if r.phase == phase]
        if len(mine) >= 2:
            first, second = mine[-2], mine[-1]
            moved = ws.compare(eng, first.id, second.id)
            if moved:
                st.subheader(f"{phase.capitalize()} rounds {first.number} and {second.number} side by side")
                st.dataframe(pd.DataFrame([{
                    "Risk": m.risk_id, "Title": m.title, f"Round {first.number}": f"{m.before[2]} ({m.before[0]}×"
                    f"{m.before[1]})", f"Round {second.number}": f"{m.after[2]} ({m.after[0]}×{m.after[1]})",
                    "Spread before": m.spread_before, "Spread after": m.spread_after,
                    "Converged": "yes" if m.converged else "no"} for m in moved]), hide_index=True, width="stretch",
                    key=f"compare_{phase}", column_config={
                        "Spread before": st.column_config.NumberColumn(help=SPREAD_HELP),
                        "Spread after": st.column_config.NumberColumn(help=SPREAD_HELP),
                        "Converged": st.column_config.TextColumn(
                            help="Yes when the scores came closer in the later round (a smaller spread) and no new "
                                 "disagreement flag was raised.")})
                st.caption("Spread: how far apart the assessors were, the gap between the highest and the lowest "
                           "likelihood plus the same gap for impact (0: everyone agreed; 8: as far apart as "
                           "possible). It is not the reveal's \"spread\" flag, which is raised when fewer than 7 "
                           "in 10 scores are within one step of the middle score.")


LIKELIHOOD_SHORT = {p.score: f"{p.score} {p.label}" for p in scoring.LIKELIHOOD_SCALE}
IMPACT_SHORT = {int(p["score"]): f"{p['score']} {p['label']}" for p in scoring.IMPACT_SCALE}


def assessor_view() -> None:
    wait_for_round((current.id, current.status) if current else None)
    if current is None:
        st.info("No round is open. When the facilitator opens one, it appears here by itself.",
                icon=":material/hourglass_empty:")
        return
    if current.status != "open":
        _said(current.id, me.id)  # a save refused as the round was revealed
        show_reveal(current.id, facilitator=False)
        return
    st.subheader(f"{round_label(current)}: your blind scores")
    st.caption("Nobody sees your scores until the facilitator reveals the round; you can change them until then."
               + (" Score the impact on your own government." if current.per_partner else ""))
    scoring_panel(current.id, me.id)


def _save_score(round_id: int, member_id: int, risk_pk: int, risk_id: str, v: str, order: list[int]) -> None:
    """"Save my score" (a callback: it runs before the panel is drawn again, so one run of the panel saves the
    score, says so and moves on to the next risk not yet scored)."""
    said = f"score_said_{round_id}_{member_id}"
    if st.session_state.get(f"score_loaded_{v}", (None,))[0] != risk_pk:  # drawn for another risk: never save it
        st.session_state[said] = ("error", f"{risk_id}: not saved, the form was showing another risk; try again",
                                  risk_pk)
        return
    lik, imp = st.session_state.get(f"b_l_{v}"), st.session_state.get(f"b_i_{v}")
    if lik is None or imp is None:
        st.session_state[said] = ("error", f"{risk_id}: choose both a likelihood and an impact", risk_pk)
        st.session_state[f"score_keep_{v}"] = True  # to be completed, not chosen again
        return
    name = common.actor()
    if not name:
        st.session_state[said] = ("error", "Sign in again to make changes: your session has ended.", risk_pk)
        return
    try:
        rs.submit_score(common.engine(), actor=name, round_id=round_id, assessor_id=member_id, risk_pk=risk_pk,
                        likelihood=lik, impact=imp, rationale=st.session_state.get(f"b_why_{v}") or "")
    except RefusedError as exc:
        st.session_state[said] = ("error", str(exc), risk_pk)
        st.session_state[f"score_keep_{v}"] = True
        return
    mine = rs.my_scores(common.engine(), round_id=round_id, assessor_id=member_id)
    k = order.index(risk_pk)
    upcoming = next((pk for pk in order[k + 1:] + order[:k] if pk not in mine), None)
    if upcoming is not None:
        st.session_state[f"score_pick_{round_id}_{member_id}"] = upcoming
    st.session_state[said] = ("success", f"Saved your score for {risk_id}.", upcoming or risk_pk)


def _said(round_id: int, member_id: int, on_screen: int | None = None, where=st) -> None:
    """What the last "Save my score" came to, for as long as the panel shows the risk it left on screen (the next
    one after a save, the same one after a refusal); gone once the assessor picks another risk. Kept in the session
    until then, not taken at the first showing: a run stopped for a rerun (the page's timer) would lose it, and the
    assessor would see no word of a save that was made."""
    key = f"score_said_{round_id}_{member_id}"
    kind, message, risk_pk = st.session_state.get(key, (None, None, None))
    if on_screen is None or risk_pk != on_screen:  # no panel (the round was revealed meanwhile): said once
        st.session_state.pop(key, None)
        if on_screen is not None:
            return
    if message:
        (where.success if kind == "success" else where.error)(
            common.md(message), icon=":material/check_circle:" if kind == "success" else ":material/error:")


@st.fragment
def scoring_panel(round_id: int, member_id: int) -> None:
    """One risk at a time, its form the only one open, with two rows of buttons for the scores: a save runs this
    panel once (not the page, and not twice), which matters on a phone in a workshop of many."""
    mine = rs.my_scores(eng, round_id=round_id, assessor_id=member_id)
    earlier = rs.previous_scores(eng, round_id=round_id, assessor_id=member_id)  # only this assessor's own
    order = [pk for pk in (current.scope or list(risks)) if pk in risks]  # a risk removed meanwhile is left out
    if not order:
        st.info("This round has no risks to score.")
        return
    st.progress(len(set(mine) & set(order)) / len(order),
                text=f"You have scored {len(set(mine) & set(order))} of {count(len(order), 'risk')}")
    pick = f"score_pick_{round_id}_{member_id}"
    if st.session_state.get(pick) not in order:  # the first risk not scored yet
        st.session_state[pick] = next((pk for pk in order if pk not in mine), order[0])
    # Every element of the panel keeps its place from run to run, a message or an earlier score or none: a run
    # whose end reaches a busy phone marked "early for a rerun" leaves what it did not redraw on screen, and an
    # element moved up or down by one left the form drawn twice, or the old risk's form under the new message.
    _said(round_id, member_id, st.session_state[pick], where=st.empty())
    risk_pk = st.selectbox(
        "Risk", order, key=pick,
        format_func=lambda pk: f"{'✓ ' if pk in mine else ''}{risks[pk].risk_id}: {risks[pk].title}",
        help="The next risk not yet scored comes up after each save; choose any risk to score it or change your "
             "score")
    risk = risks[risk_pk]
    # One set of widgets for the panel, keyed by the round and the assessor (never one assessor's score shown to
    # another on the same device), whose values are set from what is stored whenever the risk on screen or its
    # stored score changes: after a save, another device's save, a choice in the picker. The browser then updates
    # the same buttons instead of drawing a new form for each risk (a save replaced 100 of its 126 elements).
    # The buttons show what is stored on every run but the one after a refused save (whose choices are kept to be
    # put right): choices reach the server only with a save, so any other run that carries them comes from a screen
    # that was not drawn again (a phone that missed the last update under load) and must not carry them over.
    v = f"{round_id}_{member_id}"
    shown = (risk_pk, stored_version(mine[risk_pk]) if risk_pk in mine else "")
    if not st.session_state.pop(f"score_keep_{v}", False) or st.session_state.get(f"score_loaded_{v}") != shown:
        lik0, imp0, why0 = mine.get(risk_pk, (None, None, ""))
        st.session_state.update({f"b_l_{v}": lik0, f"b_i_{v}": imp0, f"b_why_{v}": why0, f"score_loaded_{v}": shown})
    with st.form(f"blind_{round_id}_{member_id}", border=True):
        st.markdown(f"**{common.md(risk.risk_id)}** {common.md(risk.title)}" + ("  ✓" if risk_pk in mine else ""))
        st.caption(common.md(scoring.risk_sentence(risk.cause, risk.event, risk.consequence)))
        before, slot = earlier.get(risk_pk), st.empty()
        if before:
            slot.caption(f"Your round {before.round_number} score: {before.likelihood}×{before.impact} "
                       f"({matrix.level(before.likelihood, before.impact)})")
        st.pills("Likelihood", list(LIKELIHOOD_SHORT), format_func=LIKELIHOOD_SHORT.get, key=f"b_l_{v}",
                 help="; ".join(LIKELIHOOD_TEXT.values()))
        st.pills("Impact", list(IMPACT_SHORT), format_func=IMPACT_SHORT.get, key=f"b_i_{v}",
                 help="; ".join(IMPACT_TEXT.values()))
        st.text_input("Why (optional)", key=f"b_why_{v}")
        # keyed by the risk: a click on a screen still showing an earlier risk (a phone that missed the last update)
        # finds no button and saves nothing, instead of saving its choices on the risk the server has moved on to
        st.form_submit_button("Save my score", type="primary", on_click=_save_score, key=f"save_{v}_{risk_pk}",
                              args=(round_id, member_id, risk_pk, risk.risk_id, v, order))


def signin_links_section() -> None:
    """The facilitator's one-time sign-in links: one QR code per team member, scanned from a phone to join."""
    import io

    import segno

    from risk.services import signin_links

    # keyed, so that it stays open when a message above it comes or goes between reruns
    with st.expander("Sign team members in with a QR code", icon=":material/qr_code_2:", key=f"qr_section_{pid}"):
        st.caption("Each code signs one person in once, on one device, until the end of today. Nobody needs a "
                   "password. Show a code only to the person it names.")
        team_now = ps.team(eng, pid)
        if not team_now:
            st.info("Add the team on the Proposal page first.")
            return
        labels = {m.id: f"{m.name} ({partners.get(m.partner_id, 'no partner')}, {m.team_role})" for m in team_now}
        member_id = st.selectbox("Team member", list(labels), format_func=labels.__getitem__, key="link_member")
        if st.button("Make a sign-in code", key="make_link", icon=":material/qr_code:"):
            token = common.run(signin_links.issue_link, member_id=member_id)
            if token is not common.FAILED:
                st.session_state["_link_shown"] = (member_id, token)
        shown = st.session_state.get("_link_shown")
        if shown and shown[0] == member_id:
            from urllib.parse import urlsplit

            here = urlsplit(str(st.context.url or ""))
            link = f"{here.scheme}://{here.netloc}/join/{shown[1]}" if here.netloc else f"/join/{shown[1]}"
            image = io.BytesIO()
            segno.make(link, error="m").save(image, kind="png", scale=8, border=2)
            st.image(image.getvalue(), caption=f"Sign-in code for {labels[member_id]}", width=260)
            st.code(link, language=None)


if common.may("issue_signin_links", pid):
    signin_links_section()
if (me is None or me.team_role == TeamRole.facilitator.value) and common.may("run_rounds", pid):
    facilitator_view()  # the team's facilitator, or an administrator running the workshop
elif me is None:
    st.info("You are not on this proposal's team: the facilitator runs the rounds and the team's assessors score. "
            "The results appear here once a round is revealed.", icon=":material/person_search:")
    if current is not None and current.status != "open":
        show_reveal(current.id, facilitator=False)
elif me.team_role == TeamRole.assessor.value:
    assessor_view()
else:
    st.info("Observers and reviewers follow the workshop; they do not score.")
    if current is not None and current.status != "open":
        show_reveal(current.id, facilitator=False)
