"""Import: bring in a risk register kept in a spreadsheet (CSV or Excel) or a workbench JSON export. The file is
checked in full first (a dry run shows what would be added, changed and left alone, and every problem with its row
and field); only a clean file can be imported, and it is written all at once or not at all."""

import hashlib
import json
from pathlib import PurePath

import pandas as pd
import streamlit as st

from risk import config
from risk.errors import RefusedError
from risk.services.json_import import import_json
from risk.services.mappings import best_mapping, list_mappings, save_mapping
from risk.services.register_import import FIELDS, import_register, peek
from risk.ui import common
from risk.wording import count

LEAVE_OUT = "(leave it out)"
# What the mapping table shows for each register column (the value kept is the column's name)
LABELS = {c: c.replace("_", " ").capitalize() for c in FIELDS} | {
    "risk_id": "Risk id (its key, such as LEG-03)", "owner_partner": "Owning partner",
    "inherent_likelihood": "Inherent likelihood (1-5)", "inherent_impact": "Inherent impact (1-5)",
    "residual_likelihood": "Residual likelihood (1-5)", "residual_impact": "Residual impact (1-5)",
    "proposal": "Proposal title", "format_version": "Format version", LEAVE_OUT: LEAVE_OUT}
eng = common.engine()
st.title("Import a register")
st.caption("Bring in a risk register kept in a spreadsheet (CSV or Excel), or a JSON export of this workbench. "
           "The whole file is checked first; nothing is written until every row passes, and then all rows are "
           "written at once.")

upload = st.file_uploader("Register file", type=["csv", "xlsx", "json"], key="import_file",
                          help=f"CSV (UTF-8, Windows-1252 or UTF-16), Excel .xlsx, or a workbench .json export; "
                               f"at most {config.import_max_bytes() // 1_000_000} MB and "
                               f"{config.import_max_rows():,} rows")
if upload is None:
    with st.expander("What a register file holds"):
        st.markdown("One row per risk, with a header row. The columns this workbench reads are "
                    + ", ".join(f"`{c}`" for c in FIELDS) + ". Only `risk_id`, `category` and `title` are needed; "
                    "levels, appetite, over_appetite, assessors, disagreement and next_review are recomputed, not "
                    "read. A spreadsheet with other column names can be mapped to these after upload. An Excel "
                    "workbook exported by this workbench brings its Scores and Actions sheets too.")
    st.stop()

data = upload.getvalue()
name = upload.name
suffix = PurePath(name).suffix.lower()
digest = hashlib.sha256(data).hexdigest()[:16]


def show_report(report: dict, dry_run: bool) -> None:
    for note in report.get("notes", []):
        st.info(common.md(note), icon=":material/info:")
    if report["problems"]:
        count = len(report["problems"])
        st.error(f"{count} problem{'s' if count != 1 else ''} found: nothing was written. Correct the file (or how "
                 "its columns are read, above) and check it again.", icon=":material/error:")
        st.dataframe(pd.DataFrame(report["problems"], columns=["row", "field", "message"]), hide_index=True,
                     width="stretch", column_config={
                         "row": st.column_config.NumberColumn("Row", help="As the spreadsheet numbers it: the "
                                                              "header is row 1", format="%d", width="small"),
                         "field": st.column_config.TextColumn("Field", width="small"),
                         "message": st.column_config.TextColumn("Problem", width="large")})
        return
    a, b, c = st.columns(3)
    verb = "would be " if dry_run else ""
    a.metric(f"Risks {verb}added", report["added"])
    b.metric(f"Risks {verb}changed", report["changed"])
    c.metric("Risks left as they are", report["unchanged"])
    if dry_run:
        st.success("The file passed every check. Import it to write these changes.", icon=":material/task_alt:")


def check_then_import(key: tuple, keys: tuple[str, str], check, write, done_message) -> None:
    """The two buttons: "Check the file" runs `check()` (a dry run) and keeps its report for `key` (the file, the
    target and the mapping); "Import" is enabled once that report is clean, runs `write(progress)` as the person
    acting, with a progress bar, and opens the register of what was imported."""
    c1, c2, _ = st.columns([1, 1, 4])
    if c1.button("Check the file", key=keys[0], icon=":material/fact_check:"):
        with st.spinner("Checking every row…"):
            st.session_state["import_checked"] = (key, check())
    checked = st.session_state.get("import_checked")
    clean = bool(checked and checked[0] == key and not checked[1]["problems"])
    if c2.button("Import", key=keys[1], type="primary", disabled=not clean, icon=":material/upload:",
                 help=None if clean else "Check the file first; a file with problems cannot be imported"):
        bar = st.progress(0.0, text="Importing…")
        report = write(bar)
        bar.empty()
        if report is not common.FAILED:
            st.session_state.pop("import_checked", None)
            if report["problems"]:
                show_report(report, dry_run=False)
            else:
                common.flash(done_message(report))
                common.go("register", pid=report["proposal_ids"][0])
    if checked and checked[0] == key:
        show_report(checked[1], dry_run=True)


if suffix == ".json":
    st.subheader("Import into")
    as_new = st.toggle("Import the file's one proposal under a new title", key="json_new")
    title = st.text_input("New title", key="json_title") if as_new else None
    check_then_import(
        (digest, as_new, title), ("json_check", "json_import"),
        lambda: import_json(eng, data, actor=common.actor() or "", new_title=title, dry_run=True),
        lambda bar: common.run(import_json, data, new_title=title, progress=lambda done, total: bar.progress(
            done / max(1, total), text=f"Writing proposal {done} of {total}")),
        lambda report: f"Imported {count(report['added'], 'risk')} in "
                       f"{count(len(report['proposal_ids']), 'proposal')}.")
    st.stop()

# --- a spreadsheet register -------------------------------------------------------------------------
peeked = st.session_state.get("import_peek")
if not peeked or peeked[0] != digest:  # read once per file, not on every rerun
    try:
        peeked = (digest, peek(data, name))
    except RefusedError as exc:
        peeked = (digest, exc)
    st.session_state["import_peek"] = peeked
if isinstance(peeked[1], RefusedError):
    st.error(common.md(peeked[1]), icon=":material/error:")
    st.stop()
header, file_title = peeked[1]

st.subheader("Import into")
titles = common.proposal_titles()
target = st.radio("Import into", ["A new proposal", "An existing proposal"], horizontal=True, key="import_target",
                  label_visibility="collapsed")
proposal_id = new_title = None
if target == "A new proposal":
    stem = " ".join(PurePath(name).stem.replace("_", " ").replace("-", " ").split())
    default = file_title or stem[:1].upper() + stem[1:]
    # Streamlit forgets a widget's value while the widget is not shown (after "An existing proposal"): put the
    # default back then too
    if st.session_state.get("import_title_for") != digest or "import_title" not in st.session_state:
        st.session_state["import_title"] = default
        st.session_state["import_title_for"] = digest
    new_title = st.text_input("Title of the new proposal", key="import_title")
elif titles:
    ids = list(titles)
    current = common.proposal_id()
    # the target is the proposal in the address (the sidebar's): choosing another here opens it, so the two never
    # disagree about where the rows go
    st.session_state["import_proposal"] = current if current in ids else ids[0]
    proposal_id = st.selectbox("Proposal", ids, format_func=common.unique_labels(titles).__getitem__,
                               key="import_proposal",
                               on_change=lambda: common.open_proposal(st.session_state["import_proposal"]))
    st.caption("Rows are matched on risk_id: a risk already in the proposal is updated where the file differs, a "
               "new risk_id is added, and risks not in the file are left as they are.")
else:
    st.info("There is no proposal yet: import into a new one.", icon=":material/info:")
    st.stop()

st.subheader("Columns")
saved = list_mappings(eng)
names = [m.name for m in saved]
if st.session_state.get("import_mapping_for") != digest:
    best = best_mapping(eng, header)
    st.session_state["import_mapping_name"] = best.name if best else None
    st.session_state["import_mapping_for"] = digest
chosen = st.selectbox("Saved mapping", names, key="import_mapping_name", index=None,
                      placeholder="None: columns are matched by name",
                      help="A mapping saved from an earlier import of a file with the same columns")
base = next((dict(m.columns) for m in saved if m.name == chosen), {})


def default_for(theirs: str) -> str | None:
    if theirs in base:
        return base[theirs] or LEAVE_OUT
    plain = "_".join(theirs.strip().lower().split())
    return plain if plain in FIELDS else None


grid = pd.DataFrame({"their_column": header, "our_column": [default_for(h) for h in header]})
st.caption("Each column of the file, and the register column it is read as. Double-click a cell under **Read as** "
           "to choose another, or “(leave it out)”.")
edited = st.data_editor(grid, key=f"import_map_{digest}_{chosen}", hide_index=True, width="stretch",
                        disabled=["their_column"], num_rows="fixed", column_config={
                            "their_column": st.column_config.TextColumn("Column in the file"),
                            "our_column": st.column_config.SelectboxColumn(
                                "Read as", options=[LEAVE_OUT, *FIELDS], format_func=LABELS.get,
                                help="The register column this one holds, or leave it out")})
mapping = {}
for theirs, ours in zip(edited["their_column"], edited["our_column"], strict=True):
    if ours == LEAVE_OUT:
        mapping[theirs] = ""
    elif isinstance(ours, str) and ours and ours != "_".join(theirs.strip().lower().split()):
        mapping[theirs] = ours
unmapped = [h for h, o in zip(edited["their_column"], edited["our_column"], strict=True) if not o]
if unmapped:
    st.warning("Choose how to read " + ", ".join(f"“{common.md(h)}”" for h in unmapped)
               + ": a register column, or leave it out.", icon=":material/rule:")
with st.popover("Save this mapping", icon=":material/save:"):
    save_as = st.text_input("Name", value=chosen or "", key="import_save_as",
                            placeholder="For example: Marsh County register")
    if st.button("Save", key="import_save"):
        columns = {theirs: ("" if ours == LEAVE_OUT else ours) for theirs, ours in
                   zip(edited["their_column"], edited["our_column"], strict=True) if ours}
        if common.run(save_mapping, name=save_as, columns=columns) is not common.FAILED:
            common.flash(f"Saved the mapping “{save_as.strip()}”: it is offered for the next file with these "
                         "columns.")
            st.session_state["import_mapping_for"] = None
            st.rerun()

check_then_import(
    (digest, proposal_id, new_title, json.dumps(mapping, sort_keys=True)), ("import_check", "import_go"),
    lambda: import_register(eng, data, name, actor=common.actor() or "", proposal_id=proposal_id,
                            new_title=new_title, mapping=mapping, dry_run=True),
    lambda bar: common.run(import_register, data, name, proposal_id=proposal_id, new_title=new_title,
                           mapping=mapping, progress=lambda done, what: bar.progress(done, text=what)),
    lambda report: (f"Imported {name} into “{new_title or titles.get(proposal_id, '')}”: "
                    f"{count(report['added'], 'risk')} added, {report['changed']} changed, {report['unchanged']} "
                    "unchanged."))
