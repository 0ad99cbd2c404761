"""What every page shares: the cached engine (keyed by URL), the chosen proposal and the person acting (a few
documented session_state keys holding ids and names only), and a helper that turns domain errors into messages.

session_state keys:
- "proposal_id": the proposal the pages show (int or None);
- "actor_choice": the team member chosen as "who is acting" (int id, or "other");
- "actor_other": a name typed in when the person is not on the roster yet (for instance before the team exists).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from risk import config
from risk.errors import RefusedError

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md(text: object) -> str:
    """User text made safe inside Streamlit markdown: every markdown character escaped, so that a title such as
    `[x](javascript:...)` or `<img onerror=...>` shows as the plain text it is."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


PAGES = {
    "portfolio": "risk/ui/pages/portfolio.py",
    "proposal": "risk/ui/pages/proposal.py",
    "walkthrough": "risk/ui/pages/walkthrough.py",
    "workshop": "risk/ui/pages/workshop.py",
    "register": "risk/ui/pages/register.py",
    "profile": "risk/ui/pages/profile.py",
    "review": "risk/ui/pages/review.py",
    "import": "risk/ui/pages/import_data.py",
}


@st.cache_resource(show_spinner=False)
def _engine_for(url: str) -> Engine:
    from risk.db import get_engine
    from risk.services.setup import ensure_schema

    engine = get_engine(url)
    ensure_schema(engine)
    return engine


def engine() -> Engine:
    """The database engine, made and migrated once per process and URL."""
    return _engine_for(config.database_url())


def data_version() -> int:
    """Grows with every change (the newest audit event): the key that keeps cached frames fresh for all users."""
    from risk.store import data_version as newest_change

    return newest_change(engine())


@st.cache_data(show_spinner=False, max_entries=4)
def portfolio_frame_cached(url: str, version: int) -> pd.DataFrame:
    from risk.services.summary import portfolio_frame

    return portfolio_frame(_engine_for(url))


def portfolio_frame() -> pd.DataFrame:
    return portfolio_frame_cached(config.database_url(), data_version())


@st.cache_data(show_spinner=False, max_entries=4)
def portfolio_overview_cached(url: str, version: int) -> pd.DataFrame:
    from risk.services.summary import portfolio_overview

    return portfolio_overview(_engine_for(url), portfolio_frame_cached(url, version))


def portfolio_overview() -> pd.DataFrame:
    """One row per proposal for the home page, rebuilt only after a change."""
    return portfolio_overview_cached(config.database_url(), data_version())


def proposal_titles() -> dict[int, str]:
    """Every proposal's title by id (cached until the next change)."""
    return _proposal_titles(config.database_url(), data_version())


@st.cache_data(show_spinner=False, max_entries=4)
def _proposal_titles(url: str, version: int) -> dict[int, str]:
    from risk.services.proposals import proposal_titles as titles

    return titles(_engine_for(url))


# --- the proposal on screen -----------------------------------------------------------------------

def _query_int(name: str) -> int | None:
    value = st.query_params.get(name)
    return int(value) if value and value.isdigit() else None


def proposal_id() -> int | None:
    """The proposal on screen. It is also kept in the address (?proposal=ID) so that a browser refresh or a
    shared link opens the same proposal."""
    if "proposal_id" not in st.session_state:
        st.session_state["proposal_id"] = _query_int("proposal")
    return st.session_state.get("proposal_id")


def open_proposal(pid: int | None) -> None:
    """Show another proposal. A team member chosen as "who is acting" belongs to the old proposal's team and is
    forgotten; a typed-in name ("someone not on the team yet") is kept."""
    st.session_state["proposal_id"] = pid
    if st.session_state.get("actor_choice") != "other":
        st.session_state.pop("actor_choice", None)
    st.query_params.pop("as", None)
    if pid is None:
        st.query_params.pop("proposal", None)
    else:
        st.query_params["proposal"] = str(pid)


def _remember_actor() -> None:
    choice = st.session_state.get("actor_choice")
    if isinstance(choice, int):
        st.query_params["as"] = str(choice)
    else:
        st.query_params.pop("as", None)


def require_proposal():
    """The chosen proposal, or a pointer to the Portfolio page and a stop."""
    from risk.services.proposals import get_proposal

    pid = proposal_id()
    if pid is None:
        st.info("Choose a proposal on the Portfolio page first, or create a new one.", icon=":material/info:")
        st.page_link(PAGES["portfolio"], label="Go to the Portfolio", icon=":material/dashboard:")
        st.stop()
    try:
        return get_proposal(engine(), pid)
    except RefusedError:
        open_proposal(None)
        st.rerun()


# --- who is acting --------------------------------------------------------------------------------

def actor() -> str | None:
    """The name changes are recorded under, or None while nobody has said who they are."""
    from risk.services.proposals import team

    choice = st.session_state.get("actor_choice")
    if choice == "other":
        name = (st.session_state.get("actor_other") or "").strip()
        return name or None
    pid = proposal_id()
    if choice is None or pid is None:
        return None
    member = next((m for m in team(engine(), pid) if m.id == choice), None)
    return member.name if member else None


def sidebar() -> None:
    """The proposal picker and the "who is acting" choice, on every page."""
    from risk.services.proposals import proposal_partners, team

    eng = engine()
    # Streamlit drops a widget's state when the page changes; writing it back keeps who is acting across pages.
    for key in ("actor_choice", "actor_other"):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    with st.sidebar:
        titles = proposal_titles()
        if titles:
            ids = list(titles)
            current = proposal_id()
            picked = st.selectbox("Proposal", ids, index=ids.index(current) if current in ids else None,
                                  format_func=lambda i: titles[i], placeholder="Choose a proposal",
                                  key="sidebar_proposal")
            if picked != current:
                open_proposal(picked)
                st.rerun()
        st.markdown("**Who is acting**")
        members = team(eng, proposal_id()) if proposal_id() else []
        if "actor_choice" not in st.session_state and _query_int("as") in {m.id for m in members}:
            st.session_state["actor_choice"] = _query_int("as")  # kept across a browser refresh
        partner_names = {p.id: p.name for p, _role in proposal_partners(eng, proposal_id())} if proposal_id() else {}
        options: list[Any] = [m.id for m in members] + ["other"]
        labels = {m.id: f"{m.name} ({partner_names.get(m.partner_id, 'no partner')}, {m.team_role})" for m in members}
        labels["other"] = "Someone not on the team yet"
        st.selectbox("I am", options, key="actor_choice", index=None, format_func=lambda o: labels.get(o, str(o)),
                     placeholder="Choose yourself from the team", on_change=_remember_actor)
        if st.session_state.get("actor_choice") == "other":
            st.text_input("Your name", key="actor_other", placeholder="First and last name")
        name = actor()
        if name:
            st.caption(f"Changes are recorded in the audit log as **{md(name)}**.")
        else:
            st.caption("Choose who you are to make changes: nothing is saved anonymously.")


FAILED = object()  # what run() returns when the change was refused


def run(action: Callable[..., Any], *args: Any, success: str | None = None, **kwargs: Any) -> Any:
    """Call a service as the acting person. A refusal becomes an error message and FAILED is returned; on
    success the result is returned and `success` is shown after the next rerun."""
    name = actor()
    if not name:
        st.error("Choose who you are in the sidebar first: every change is recorded under a name.",
                 icon=":material/person_alert:")
        return FAILED
    try:
        result = action(engine(), *args, actor=name, **kwargs)
    except RefusedError as exc:
        st.error(str(exc), icon=":material/error:")
        return FAILED
    if success:
        st.session_state["flash"] = success
    return result


def show_flash() -> None:
    """The confirmation of the last change, once."""
    message = st.session_state.pop("flash", None)
    if message:
        st.success(md(message), icon=":material/check_circle:")


@st.cache_data(max_entries=512, show_spinner=False)
def _chart_spec(cache_key: tuple, _build: Callable[[], Any]) -> dict:
    """A chart's Vega-Lite spec, built once per `cache_key` (which names the chart and the data version it shows).
    Building an Altair chart and serialising it took 20-30 ms a chart here; a cached spec costs a copy."""
    return _build().to_dict(validate=False)


def chart(build: Callable[[], Any], key: str, file_name: str, *parts: Any) -> None:
    """Draw the chart `build()` makes, with PNG and SVG downloads rendered offline only when clicked.

    `parts` are what the chart depends on besides the database (for example the proposal and a setting); with the
    data version they key the cached spec, so a rerun with nothing changed does not rebuild the chart."""
    from risk import charts

    spec = _chart_spec((config.database_url(), data_version(), key, *parts), build)
    st.vega_lite_chart(spec=spec, key=key)
    with st.container(horizontal=True):  # buttons as wide as their labels, also under a half-width chart
        st.download_button("PNG", data=lambda: charts.to_png(spec), file_name=f"{file_name}.png",
                           mime="image/png", key=f"{key}_png", on_click="ignore", icon=":material/download:")
        st.download_button("SVG", data=lambda: charts.to_svg(spec), file_name=f"{file_name}.svg",
                           mime="image/svg+xml", key=f"{key}_svg", on_click="ignore", icon=":material/download:")
