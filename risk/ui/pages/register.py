"""Register: the proposal's scored risk register (docs/USER_GUIDE.md, Register), filtered and sorted, with inline edits
that are checked by the services and refused with a message naming the row and the field."""

import pandas as pd
import streamlit as st

from risk import config, scoring
from risk.errors import ConflictError, RefusedError
from risk.services import proposals as ps
from risk.services.json_export import export_json
from risk.services.profile import proposal_profile
from risk.services.register_export import FLAG_WORDS, export_csv, export_xlsx, file_stem, flag_words
from risk.services.register_rows import EDITABLE, REGISTER_COLUMNS, register_rows
from risk.ui import common

proposal = common.require_proposal()
eng = common.engine()
st.title(f"Risk register: {common.md(proposal.title)}")

grid_name = f"register_editor_{proposal.id}"


def save_edits(pending: dict[int, dict], shown: list[tuple[int, str, int]]) -> None:
    """Each edited cell, against the version its row showed (a change somebody saved since is refused)."""
    name = common.actor()
    if not name:
        st.error("Sign in again to make changes: your session has ended. Your edit was not saved.",
                 icon=":material/person_alert:")
        return
    for row, changes in pending.items():
        risk_pk, risk_id, version = shown[row]
        for field, value in changes.items():
            try:
                version = ps.update_risk(eng, actor=name, risk_pk=risk_pk, expected_version=version,
                                         **{field: value})
                st.toast(f"Saved {common.md(risk_id)}: {field}", icon=":material/check_circle:")
            except ConflictError as exc:
                st.error(f"Row {common.md(risk_id)}: not saved. {common.md(exc)}", icon=":material/sync_problem:")
                break
            except RefusedError as exc:
                reason = str(exc).removeprefix(f"{field}:").strip()
                st.error(f"Row {common.md(risk_id)}, field {field}: not saved, {common.md(reason)}. The row shows "
                         "what is stored.", icon=":material/error:")


common.apply_grid_edits(grid_name, save_edits)

profile = proposal_profile(eng, proposal.id)
frame = pd.DataFrame(register_rows(profile), columns=[*REGISTER_COLUMNS, "risk_pk", "version", "residual_rank",
                                                      "sentence"])
levels = list(profile.matrix.levels)
CYCLE_COLUMNS = ["last_cycle", "previous_inherent", "previous_residual"]


@st.cache_data(show_spinner=False, max_entries=32)
def _last_cycle(url: str, version: int, proposal_id: int) -> dict:
    from risk.services import cycles

    return cycles.cycle_changes(common.engine(), proposal_id)


extra: list[str] = []
if proposal.previous_id:  # a cycle started from the last: its risks tagged against it, with last cycle's values
    try:
        changes = {r["risk_id"]: r for r in _last_cycle(config.database_url(), common.data_version(), proposal.id)[
            "risks"]}
    except RefusedError:
        changes = {}
    if changes:
        extra = CYCLE_COLUMNS
        frame["last_cycle"] = frame["risk_id"].map(lambda rid: changes.get(rid, {}).get("tag", "New"))
        for phase in ("inherent", "residual"):
            frame[f"previous_{phase}"] = frame["risk_id"].map(
                lambda rid, phase=phase: ((changes.get(rid) or {}).get("previous_values") or {}).get(phase, ""))
        removed = [r["risk_id"] for r in changes.values() if r["tag"] == "Removed"]
        if removed:
            st.info(f"Removed since the last cycle: {common.md(', '.join(removed))}.", icon=":material/history:")

f1, f2, f3, f4, f5 = st.columns([2, 2, 2, 1.8, 2], vertical_alignment="bottom")
categories = f1.multiselect("Category", sorted(frame["category"].unique()), key=f"reg_category_{proposal.id}",
                            placeholder="All categories")
level_filter = f2.multiselect("Residual level", levels[::-1], key=f"reg_level_{proposal.id}", placeholder="All levels")
owners = sorted({o for o in frame["owner_partner"].tolist() + frame["owner"].tolist() if o})
owner = f3.selectbox("Owner", owners, index=None, key=f"reg_owner_{proposal.id}", placeholder="Any owner")
only_over = f4.toggle("Over appetite", key=f"reg_over_{proposal.id}",
                      help="Only the risks above their category's appetite")
sort = f5.selectbox("Sort by", ["Residual level, highest first", "Inherent level, highest first", "Risk id"],
                    key=f"reg_sort_{proposal.id}")

view = frame
if categories:
    view = view[view["category"].isin(categories)]
if level_filter:
    view = view[view["residual_level"].isin(level_filter)]
if owner:
    view = view[(view["owner_partner"] == owner) | (view["owner"] == owner)]
if only_over:
    view = view[view["over_appetite"] == "yes"]
if sort.startswith("Residual"):
    view = view.sort_values(["residual_rank", "risk_id"], ascending=[False, True])
elif sort.startswith("Inherent"):
    rank = {name: k for k, name in enumerate(levels)}
    view = view.assign(_r=view["inherent_level"].map(rank).fillna(-1)).sort_values(["_r", "risk_id"],
                                                                                   ascending=[False, True])
else:
    view = view.sort_values("risk_id")
view = view.reset_index(drop=True)
view["disagreement"] = view["disagreement"].map(flag_words)  # in words, as in the workbook

c1, c2, c3 = st.columns(3)
c1.metric("Risks shown", f"{len(view)} of {len(frame)}")
c2.metric("Over appetite", int((view["over_appetite"] == "yes").sum()))
c3.metric("With disagreement", int((view["disagreement"] != "").sum()))

shown = list(zip(view["risk_pk"].tolist(), view["risk_id"].tolist(), view["version"].tolist(), strict=True))
ON_SCREEN = ["risk_id", "title", "category", "inherent_level", "residual_level", *extra, "over_appetite", "appetite",
             "disagreement", "owner_partner", "owner", "treatment", "status", "next_review", "cause", "event",
             "consequence", "controls", "inherent_likelihood", "inherent_impact", "residual_likelihood",
             "residual_impact", "assessors"]  # the proposal is in the title; exports keep every column in order
column_setup = {c: st.column_config.Column(c.replace("_", " ").capitalize(), disabled=c not in EDITABLE)
          for c in REGISTER_COLUMNS}
column_setup |= {
    "risk_id": st.column_config.TextColumn("Risk", disabled=True, pinned=True),
    "title": st.column_config.TextColumn("Title", required=True, width="medium"),
    "treatment": st.column_config.SelectboxColumn("Treatment", options=list(scoring.TREATMENTS)),
    "status": st.column_config.SelectboxColumn("Status", options=list(scoring.RISK_STATUSES)),
    "last_cycle": st.column_config.TextColumn("Against the last cycle", disabled=True,
                                              help="New, Modified or Unchanged against the last cycle"),
    "previous_inherent": st.column_config.TextColumn("Previous inherent", disabled=True,
                                                     help="The last cycle's standing inherent value"),
    "previous_residual": st.column_config.TextColumn("Previous residual", disabled=True,
                                                     help="The last cycle's standing residual value"),
    "disagreement": st.column_config.TextColumn(
        "Disagreement", disabled=True,
        help="How far apart the blind scores were: " + "; ".join(f"{w}: {m}" for w, m in FLAG_WORDS.values())),
}
can_edit = common.may("edit_risks", proposal.id)
common.editable_grid(grid_name, view[[*REGISTER_COLUMNS, *extra]], shown, hide_index=True, width="stretch",
                     column_config=column_setup, column_order=ON_SCREEN, num_rows="fixed", disabled=not can_edit)
st.caption("Title, cause, event, consequence, owner, controls, treatment and status can be edited here; scores "
           "and levels come from the walkthrough and the scoring rounds." if can_edit else
           "The team's facilitator and assessors edit the register; scores and levels come from the walkthrough "
           "and the scoring rounds.")

st.subheader("Export")

stem = file_stem(proposal.title, "register")
me = common.actor()  # the files are made on a worker thread, as this account (the services check it may see them)
downloads = st.container(horizontal=True)  # each button as wide as its label
# Each file is made when its button is pressed (Streamlit calls `data` then, on a worker thread, with a spinner on
# the button), so one click downloads it, made from the data as it is at that moment.
downloads.download_button("Excel workbook", data=lambda: export_xlsx(eng, [proposal.id], actor=me),
                  file_name=f"{stem}.xlsx",
                  mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click="ignore",
                  key="export_xlsx", icon=":material/table_view:",
                  help="Summary, register, method, heat maps, scores and actions")
downloads.download_button("CSV register", data=lambda: export_csv(eng, [proposal.id], actor=me),
                  file_name=f"{stem}.csv",
                  mime="text/csv", on_click="ignore", key="export_csv", icon=":material/description:")
downloads.download_button("JSON: everything", data=lambda: export_json(eng, [proposal.id], actor=me),
                  file_name=f"{stem}.json",
                  mime="application/json", on_click="ignore", key="export_json", icon=":material/data_object:")
