"""What every page shares: the cached engine (keyed by URL), the chosen proposal, the signed-in account (a few
documented session_state keys holding ids only), and a helper that turns domain errors into messages.

The proposal on screen lives in the address (see CARRIED below). Who is acting is the account signed in: its
session's token is in an HttpOnly cookie set by the sign-in page (risk/web.py), read here with st.context.cookies;
nothing in the address says who anyone is.
session_state keys:
- "sidebar_proposal": the sidebar's proposal picker, set from the address before it is drawn;
- "_session_token": a session token given to this browser session directly (tests; it takes the cookie's place),
  and "_signed_out": this browser session signed out (the cookie's session has ended too);
- "flash": (kind, message) shown once after the next rerun;
- "_gen_<form>", "_seen_<form>_<generation>": the generation of a form or grid and what it captured when drawn.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from risk import config
from risk.errors import ConflictError, RefusedError

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md(text: object) -> str:
    """User text made safe inside Streamlit markdown: every markdown character escaped, so that a title such as
    `[x](javascript:...)` or `<img onerror=...>` shows as the plain text it is."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


ACCOUNTS_PAGE = "risk/ui/pages/accounts.py"
PAGES = {
    "portfolio": "risk/ui/pages/portfolio.py",
    "proposal": "risk/ui/pages/proposal.py",
    "walkthrough": "risk/ui/pages/walkthrough.py",
    "workshop": "risk/ui/pages/workshop.py",
    "register": "risk/ui/pages/register.py",
    "profile": "risk/ui/pages/profile.py",
    "costs": "risk/ui/pages/costs.py",
    "review": "risk/ui/pages/review.py",
    "import": "risk/ui/pages/import_data.py",
    "activity": "risk/ui/pages/activity.py",
}


@st.cache_resource(show_spinner=False)
def _engine_for(url: str) -> Engine:
    from risk.db import get_engine
    from risk.services.setup import ensure_schema

    engine = get_engine(url)
    ensure_schema(engine, may_migrate=config.migrate_on_start())
    return engine


def engine() -> Engine:
    """The database engine, made and migrated once per process and URL."""
    return _engine_for(config.database_url())


_RUN_MEMOS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def once_per_run(key: tuple, make: Callable[[], Any]) -> Any:
    """`make()`, remembered for the rest of this script run under `key` (and the number of changes this process has
    committed, so that a change made during the run is seen at once). Every run starts afresh, fragments' runs and
    callbacks too: Streamlit makes a new ParallelFragmentCoordinator for each run, and the memo lives on it. Outside
    a script run (or should Streamlit change that) it simply calls `make()`."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    from risk import store

    ctx = get_script_run_ctx(suppress_warning=True)
    run = getattr(ctx, "parallel_coordinator", None) if ctx is not None else None
    if run is None:
        return make()
    try:
        memo = _RUN_MEMOS.setdefault(run, {})
    except TypeError:  # not weakly referable
        return make()
    full_key = (*key, store.commits_here())
    if full_key not in memo:
        memo[full_key] = make()
    return memo[full_key]


def data_version() -> int:
    """Grows with every change (the newest audit event): the key that keeps cached frames fresh for all users. Read
    once per script run (and again after a change in it)."""
    from risk.store import data_version as newest_change

    return once_per_run(("data_version",), lambda: newest_change(engine()))


@st.cache_resource(show_spinner=False)
def _proposal_versions(url: str) -> Any:
    from risk.services.changes import ProposalVersions

    return ProposalVersions()


def proposal_version(proposal_id: int) -> int:
    """The data version of the newest change to what proposal `proposal_id`'s pages show: the key of what they
    keep (charts, the simulation), so that a change elsewhere, another proposal's or a sign-in, builds none of it
    again. Read once per script run (and again after a change in it)."""
    url = config.database_url()
    return once_per_run(("proposal_version", proposal_id),
                        lambda: _proposal_versions(url).of(_engine_for(url), data_version(), proposal_id))


@st.cache_resource(show_spinner=False)
def _shared_results() -> dict[tuple, Any]:
    return {}


# results kept by `shared`, the most recently used
SHARED_KEEP = 32


def shared(key: tuple, make: Callable[[], Any]) -> Any:
    """`make()` once for `key` in this process, its result shared by every browser session: for what costs seconds
    and is the same for everyone allowed to see it (the profile's simulation of years of losses), so that a second
    tab or a colleague does not pay for it again. `key` holds all it depends on (the database, the proposal's
    version, the settings); the SHARED_KEEP most recently used results are kept. Two sessions asking at the same
    moment may each make it once."""
    kept = _shared_results()
    if key in kept:
        value = kept.pop(key)  # moved to the end: the most recently used
    else:
        value = make()
    kept[key] = value
    while len(kept) > SHARED_KEEP:
        kept.pop(next(iter(kept)), None)
    return value


class _Portfolio:
    """The portfolio's frames as of one data version, shared by every session of this process: after a change, only
    the proposals the change touched are read again (risk/services/changes.py), and the rest is kept."""

    # more proposals changed at once than this: read everything again (one query beats many small ones)
    REBUILD_OVER = 100
    # the values the background refresh keeps up to date: the most recently asked for
    KEEP_FRESH = 16
    # the background refresh runs while someone is on the portfolio page (their last run of it within this many
    # seconds, and no run of another page since): a workshop's many saves are not each read into a portfolio nobody
    # is looking at (the next person to open it reads them then)
    IN_USE_S = 600.0

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.version: int | None = None
        self.frame: pd.DataFrame | None = None
        self.overview: pd.DataFrame | None = None
        self.refreshes = {"full": 0, "partial": 0}  # how each new version was read (tests and the bench look)
        self.generation = 0  # counts the frames read: each new frame gets the next number
        # what the page derives, by (name, the proposals the account sees): (the generation it was made from, value)
        self.derived: dict[tuple, tuple[int, Any]] = {}
        # the last partial refresh: (generation before, generation after, the changed proposals' rows before, now)
        self.step: tuple[int, int, pd.DataFrame, pd.DataFrame] | None = None
        # how each kept value is made and carried, by the same key, most recently asked for last: what `refresh`
        # brings up to date off the request path
        self.recipes: dict[tuple, tuple[Callable[..., Any], Callable[..., Any] | None]] = {}
        self._titles: tuple[int, dict[int, str]] | None = None  # (generation, every proposal's title by id)
        # the browser sessions on the portfolio page: when each last ran it
        self.viewers: dict[str, float] = {}

    def look(self, viewer: str) -> None:
        import time

        self.viewers[viewer] = time.monotonic()

    def leave(self, viewer: str) -> None:
        self.viewers.pop(viewer, None)

    def in_use(self) -> bool:
        """Whether someone is on the portfolio page (the sessions gone quiet for IN_USE_S are forgotten)."""
        import time

        now = time.monotonic()
        for viewer, seen_at in list(self.viewers.items()):
            if now - seen_at > self.IN_USE_S:
                self.viewers.pop(viewer, None)
        return bool(self.viewers)

    def at(self, engine: Engine, version: int, viewer: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The frames as of `version` or newer, read (in part) when they are older. `viewer`: the browser session
        of the portfolio page asking, which keeps the background refresh going (in_use)."""
        if viewer is not None:
            self.look(viewer)
        with self.lock:
            self._read(engine, version)
            return self.frame, self.overview

    def _read(self, engine: Engine, version: int) -> bool:
        """Bring the frames up to `version` (the lock held); whether they were older."""
        from risk.services.changes import changed_proposals
        from risk.services.summary import portfolio_frame, portfolio_overview

        if self.version is not None and self.version >= version:  # as new as asked for, or newer
            return False
        changed = None if self.version is None else changed_proposals(engine, self.version, version)
        if changed is None or len(changed) > self.REBUILD_OVER:
            frame = portfolio_frame(engine)
            overview = portfolio_overview(engine, frame)
            self.refreshes["full"] += 1
        elif not changed:  # nothing the portfolio shows (an account, a sign-in): the frames stand
            frame, overview = self.frame, self.overview
        else:
            ids = sorted(changed)
            part = portfolio_frame(engine, only=ids)
            frame = self._splice(self.frame, part, "proposal_id", ids)
            overview = self._splice(self.overview, portfolio_overview(engine, part, only=ids), "id", ids)
            self.refreshes["partial"] += 1
            # what was derived is brought up to date from these rows when next asked for (memo)
            before = self.frame[self.frame["proposal_id"].isin(ids)]
            self.step = (self.generation, self.generation + 1, before, part)
        if frame is not self.frame:
            self.generation += 1
            if changed is None or len(changed) > self.REBUILD_OVER:
                self.derived, self.step = {}, None
        self.version, self.frame, self.overview = version, frame, overview
        return True

    @staticmethod
    def _splice(old: pd.DataFrame, new: pd.DataFrame, column: str, ids: list[int]) -> pd.DataFrame:
        """`old` (sorted by `column`) with the rows of proposals `ids` replaced by those of `new`, still sorted: cut
        at the changed proposals instead of filtering and sorting the whole frame."""
        import numpy as np

        keys = old[column].to_numpy()
        pieces, at = [], 0
        for pid in ids:
            low, high = np.searchsorted(keys, pid, "left"), np.searchsorted(keys, pid, "right")
            pieces += [old.iloc[at:low], new[new[column] == pid]]
            at = high
        pieces.append(old.iloc[at:])
        return pd.concat([p for p in pieces if len(p)] or [old.iloc[:0]], ignore_index=True)

    def memo(self, name: Any, visible: frozenset[int] | None, base: pd.DataFrame,
             make: Callable[[pd.DataFrame], Any], after: Callable[..., Any] | None = None) -> Any:
        """What the page derives from the frames (a summary, the chart's cells): `make(frame)`, where `frame` is
        `base` (the whole frame the caller holds) cut to the proposals `visible`. Made once and kept; after a change
        to a few proposals, `after(value, rows before, rows now, frame)` brings it up to date from the changed
        proposals' rows alone (made again when there is no `after`, or when more than one change came since)."""
        def cut(rows: pd.DataFrame) -> pd.DataFrame:
            return rows if visible is None else rows[rows["proposal_id"].isin(visible)]

        key = (name, visible)
        with self.lock:
            if base is not self.frame:  # a session still on frames older than the newest: made, not kept
                return make(cut(base))
            made_at, value = self.derived.get(key, (None, None))
            if made_at != self.generation and after is not None and self.step is not None \
                    and made_at == self.step[0] and self.step[1] == self.generation:  # one change since: carried
                _, _, before, now = self.step
                value, made_at = after(value, cut(before), cut(now), cut(base)), self.generation
            if made_at != self.generation:
                if len(self.derived) > 64:
                    self.derived.clear()
                value = make(cut(base))
            self.derived[key] = (self.generation, value)
            self.recipes.pop(key, None)
            self.recipes[key] = (make, after)
            while len(self.recipes) > self.KEEP_FRESH:
                self.recipes.pop(next(iter(self.recipes)))
            return value

    def titles_at(self, version: int) -> dict[int, str] | None:
        """Every proposal's title by id (ordered by id) from the overview, when the frames are as new as `version`
        (None when they are older or were never read): after a change, the titles come with the refresh instead of
        a read of their own."""
        with self.lock:
            if self.version is None or self.version < version:
                return None
            if self._titles is None or self._titles[0] != self.generation:
                ids = self.overview["id"].tolist()
                self._titles = (self.generation, dict(zip(ids, self.overview["Proposal"].tolist(), strict=True)))
            return self._titles[1]

    def refresh(self, engine: Engine, version: int) -> bool:
        """Bring the frames, and every value kept from them, up to `version` (the background refresh). Returns
        whether anything was read. Frames never read, or with nobody on the portfolio page (in_use), are left
        alone: the next page to ask reads them."""
        with self.lock:
            if self.version is None or not self.in_use() or not self._read(engine, version):
                return False
            frame = self.frame
        for (name, visible), (make, after) in list(self.recipes.items()):
            self.memo(name, visible, frame, make, after)
        self.titles_at(version)
        return True


@st.cache_resource(show_spinner=False)
def portfolio_state(url: str) -> _Portfolio:
    return _Portfolio()


def warm_portfolio() -> int:
    """At the server's start (risk/warm.py), before anyone arrives: the shared portfolio frames read as of the
    newest change, and what the home page derives from them made, chart included (warm_home), for the whole
    portfolio and for the people signed in when the server stopped; then the background refresh that keeps them
    so (RISK_PORTFOLIO_REFRESH_MS). Returns how many proposals were read."""
    from risk import accounts
    from risk.store import data_version as newest_change

    url = config.database_url()
    eng = _engine_for(url)
    state = portfolio_state(url)
    state.at(eng, newest_change(eng))  # kept fresh while someone is on the portfolio page
    for visible in [None, *accounts.views_of_signed_in(eng, WARM_VIEWS - 1)]:
        warm_home(state, visible)
    if seconds := config.portfolio_refresh_ms() / 1000:
        start_refresher(state, eng, seconds)
    return len(state.overview)


# the views of the home page made at the server's start: the whole portfolio, and the sets of proposals of the
# accounts most recently signed in (a server restarted in the middle of a workshop: they come back first)
WARM_VIEWS = 4
# the home page's chart compares at most this many proposals (the worst first by default)
MAX_IN_CHART = 25


def home_recipe(name: Any) -> tuple[Callable[[pd.DataFrame], Any], Callable[..., Any]]:
    """What the home page derives from the portfolio frames, by name: how to make it, and how to bring it up to date
    after a change (risk/services/summary.py). Names: "worst", "category_summary", ("cells", proposals compared)."""
    from risk.services import summary

    if name == "worst":
        return summary.worst_by_proposal, summary.worst_by_proposal_after
    if name == "category_summary":
        return summary.category_summary, summary.category_summary_after
    compared = list(name[1])
    return (lambda frame: summary.chart_cells(frame, compared)), summary.chart_cells_after(compared)


def portfolio_chart(cells: pd.DataFrame, compared: tuple[str, ...]) -> None:
    """The home page's chart of the proposals `compared` (their cells from home_recipe), keyed by what it shows."""
    from risk import charts

    chart(lambda: charts.portfolio(cells), "portfolio_chart", "portfolio", compared, content=digest_of(cells))


def warm_home(state: _Portfolio, visible: frozenset[int] | None) -> None:
    """Make what the home page derives for an account that sees `visible` (None: every proposal), as its first
    visit would, its chart's spec included: the worst-first list, the cells of the proposals compared by
    default and the category summary."""
    from risk import charts

    with state.lock:
        base = state.frame
    if base is None or not len(base):
        return
    worst = state.memo("worst", visible, base, *home_recipe("worst"))
    compared = tuple(worst.index[:MAX_IN_CHART])
    if compared:
        cells = state.memo(("cells", compared), visible, base, *home_recipe(("cells", compared)))
        _chart_spec(_chart_key(config.database_url(), digest_of(cells), "portfolio_chart", compared),
                    lambda: charts.portfolio(cells))
    state.memo("category_summary", visible, base, *home_recipe("category_summary"))


class _Refresher:
    """The background refresh of one server process: every `seconds` it reads the data version (one indexed
    query), and when it moved it brings the shared portfolio frames and the values kept from them up to date
    (_Portfolio.refresh), off the request path. Another person's change, made through this server or another
    one on the same database, is then usually read before anyone's next page run needs it; a run that comes
    first waits for the refresh under way instead of reading it twice."""

    def __init__(self, state: _Portfolio, eng: Engine, seconds: float) -> None:
        import threading

        self.state, self.engine, self.seconds = state, eng, seconds
        self.refreshed = 0  # refreshes that read something (tests look)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="portfolio-refresh", daemon=True)

    def _loop(self) -> None:
        import logging

        from risk.store import data_version as newest_change

        failing = False
        while not self.stopping.wait(self.seconds):
            try:
                if self.state.refresh(self.engine, newest_change(self.engine)):
                    self.refreshed += 1
                failing = False
            except Exception:  # noqa: BLE001 - the database away for a moment: said once, tried again next tick
                if not failing:
                    logging.getLogger(__name__).exception("the background portfolio refresh failed; retrying")
                failing = True

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


_REFRESHER: list[_Refresher] = []  # the running one, if any (one per process)


def start_refresher(state: _Portfolio, eng: Engine, seconds: float) -> _Refresher:
    """Start the process's background refresh of `state` (stopping one already running)."""
    stop_refresher()
    refresher = _Refresher(state, eng, seconds)
    _REFRESHER.append(refresher)
    refresher.thread.start()
    return refresher


def stop_refresher() -> None:
    while _REFRESHER:
        _REFRESHER.pop().stop()


def digest_of(frame: pd.DataFrame) -> str:
    """A digest of a frame's index and values: to key what is built from it (a chart) by what it holds."""
    import hashlib

    return hashlib.sha256(pd.util.hash_pandas_object(frame).to_numpy().tobytes()).hexdigest()


def _visible_rows(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    visible = visible_ids()
    return frame if visible is None else frame[frame[column].isin(visible)]


def _viewer() -> str:
    """This browser session, as a viewer of the portfolio page (_Portfolio.viewers)."""
    import uuid

    return st.session_state.setdefault("_portfolio_viewer", uuid.uuid4().hex)


def left_portfolio() -> None:
    """This session runs a page other than the portfolio: it no longer keeps the background refresh going."""
    if "_portfolio_viewer" in st.session_state:
        portfolio_state(config.database_url()).leave(st.session_state["_portfolio_viewer"])


def portfolio_frame() -> pd.DataFrame:
    """The risks of the proposals the signed-in account may see (the shared frame holds all of them)."""
    url = config.database_url()
    return _visible_rows(portfolio_state(url).at(_engine_for(url), data_version(), _viewer())[0], "proposal_id")


def portfolio_derived(name: Any) -> Any:
    """The home page's value `name` (home_recipe) made from portfolio_frame(), kept until the portfolio next changes
    (per set of proposals the account sees), then brought up to date from the changed proposals' rows."""
    url = config.database_url()
    visible = visible_ids()
    base = portfolio_state(url).at(_engine_for(url), data_version(), _viewer())[0]
    return portfolio_state(url).memo(name, None if visible is None else frozenset(visible), base, *home_recipe(name))


def portfolio_overview() -> pd.DataFrame:
    """One row per proposal the signed-in account may see, for the home page (the rows of the proposals a change
    touched are read again)."""
    url = config.database_url()
    return _visible_rows(portfolio_state(url).at(_engine_for(url), data_version(), _viewer())[1], "id")


def proposal_titles() -> dict[int, str]:
    """The title of every proposal the signed-in account may see, by id (cached until the next change)."""
    titles = _all_titles()
    visible = visible_ids()
    return titles if visible is None else {i: t for i, t in titles.items() if i in visible}


def unique_labels(titles: dict[int, str]) -> dict[int, str]:
    """Each proposal's title as a picker shows it, with its number added where two proposals share a title. A
    picker sends the label of the option chosen, not the id: with two equal labels the browser's choice would come
    back as the first proposal of that title."""
    from collections import Counter

    seen = Counter(titles.values())
    return {i: t if seen[t] == 1 else f"{t} (no. {i})" for i, t in titles.items()}


def any_proposal() -> bool:
    """Whether the workbench holds any proposal at all, seen or not."""
    return bool(_all_titles())


def _all_titles() -> dict[int, str]:
    """Every proposal's title by id: from the shared portfolio frames when they are current (the server's start and
    the background refresh keep them so), else read and cached until the next change."""
    url = config.database_url()
    version = data_version()
    held = portfolio_state(url).titles_at(version)
    return held if held is not None else _proposal_titles(url, version)


@st.cache_data(show_spinner=False, max_entries=4)
def _proposal_titles(url: str, version: int) -> dict[int, str]:
    from risk.services.proposals import proposal_titles as titles

    return titles(_engine_for(url))


# --- the proposal on screen lives in the address --------------------------------------------------------
# The address is the one source of truth for the proposal on screen (?proposal=ID). Every link between pages
# carries it (nav_links, go), so a refresh, a copied link or a page switch opens the same thing, and two tabs never
# share it. A link opens only what the signed-in account may see (visible_ids).

def guarded(page_title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The error boundary for code Streamlit runs outside the page script: widget callbacks (run before the
    script) and fragment reruns. An unexpected error shows the same message and incident number as the page's."""
    import functools

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the boundary: words here, the traceback in the log
                show_incident(page_title, exc)
                return None

        return inner

    return wrap


CARRIED = ("proposal",)
NAV = (("portfolio", "Portfolio", ":material/dashboard:"), ("proposal", "Proposal", ":material/handshake:"),
       ("walkthrough", "Walkthrough", ":material/checklist:"), ("workshop", "Workshop", ":material/groups:"),
       ("register", "Register", ":material/table_rows:"), ("profile", "Profile", ":material/grid_on:"),
       ("costs", "Costs", ":material/payments:"), ("review", "Review", ":material/gavel:"),
       ("activity", "Activity", ":material/history:"), ("import", "Import", ":material/upload_file:"))


def _query_int(name: str) -> int | None:
    value = st.query_params.get(name)
    return int(value) if value and value.isdigit() else None


def proposal_id() -> int | None:
    """The proposal on screen: the one in the address."""
    return _query_int("proposal")


def carried(**changes: Any) -> dict[str, str]:
    """The query parameters every link keeps (the proposal), with `changes` applied; a change to None drops the
    parameter."""
    params = {k: st.query_params[k] for k in CARRIED if st.query_params.get(k)}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return params


def open_proposal(pid: int | None) -> None:
    """Show another proposal (None: none) on the page that is open."""
    st.query_params.from_dict(carried(proposal=pid))


def go(page: str, pid: Any = "same") -> None:
    """Switch to `page` (a key of PAGES), on proposal `pid` (None: no proposal; "same": the one on screen)."""
    params = carried() if pid == "same" else carried(proposal=pid)
    st.switch_page(PAGES[page], query_params=params)


def page_link(page: str, label: str, icon: str | None = None, container: Any = None, **kwargs: Any) -> None:
    """A link to `page` that keeps the proposal."""
    (container or st).page_link(PAGES[page], label=label, icon=icon, query_params=carried(), **kwargs)


def require_proposal():
    """The chosen proposal, or a pointer to the Portfolio page and a stop."""
    from risk.services.proposals import get_proposal

    pid = proposal_id()
    visible = visible_ids()
    if pid is not None and visible is not None and pid not in visible:
        pid = None  # one the account may not see is treated as no proposal (its existence is not revealed)
    if pid is None:
        st.info("Choose a proposal in the sidebar or on the Portfolio page first, or create a new one.",
                icon=":material/info:")
        page_link("portfolio", "Go to the Portfolio", icon=":material/dashboard:")
        st.stop()
    try:
        return get_proposal(engine(), pid)
    except RefusedError:
        st.warning(f"There is no proposal {pid} (it may have been removed). Choose one in the sidebar.",
                   icon=":material/search_off:")
        page_link("portfolio", "Go to the Portfolio", icon=":material/dashboard:")
        st.stop()


# --- who is acting: the signed-in account ------------------------------------------------------------------

def session_token() -> str | None:
    """The token of this browser's session: given directly (tests), else the sign-in cookie's."""
    from risk.web import SESSION_COOKIE

    if st.session_state.get("_signed_out"):
        return None
    return st.session_state.get("_session_token") or st.context.cookies.get(SESSION_COOKIE) or None


def account():
    """The signed-in account (its session valid: not ended, not idle too long, the account not disabled), or
    None. Read from the database on every run, so that an ended session or a disabled account stops at once."""
    from risk import accounts

    token = session_token()
    if not token:
        return None
    return once_per_run(("account", token), lambda: accounts.session_account(engine(), token))


def actor() -> str | None:
    """The username changes are recorded under (the services check what it may do), or None when nobody is
    signed in."""
    signed_in = account()
    return signed_in.username if signed_in else None


def visible_ids() -> set[int] | None:
    """The proposals the signed-in account may see (None: all of them, for an administrator)."""
    from sqlmodel import Session

    from risk import access

    def read() -> set[int] | None:
        with Session(engine()) as session:
            return access.visible_proposal_ids(session, actor() or "")

    found = once_per_run(("visible_ids", actor()), read)
    return None if found is None else set(found)  # a copy: callers may change theirs


def my_roles(proposal_id_: int) -> frozenset[str]:
    """The signed-in account's roles on a proposal (its team roles, "partner", "admin")."""
    from sqlmodel import Session

    from risk import access

    name = actor()
    if not name:
        return frozenset()

    def read() -> frozenset[str]:
        with Session(engine()) as session:
            return access.roles(session, access.principal(session, name), proposal_id_)

    return once_per_run(("roles", name, proposal_id_), read)


def may(action: str, proposal_id_: int | None = None) -> bool:
    """Whether the signed-in account may do `action` (risk/access.py) on a proposal: for hiding what a person may
    not do. The services are what refuse."""
    from sqlmodel import Session

    from risk import access

    name = actor()
    if not name:
        return False

    def read() -> bool:
        with Session(engine()) as session:
            return access.may(session, name, action, proposal_id_)

    return once_per_run(("may", name, action, proposal_id_), read)


def sign_out() -> None:
    """End this browser's session: in the database (so the cookie no longer signs anyone in) and here."""
    from risk import accounts

    token = session_token()
    if token:
        accounts.end_session(engine(), token)
    st.session_state["_signed_out"] = True
    st.session_state.pop("_session_token", None)


def signed_out_page() -> None:
    """What a browser without a valid session sees: the way to sign in (or, on an empty database, to create the
    administrator account). Nothing of any proposal."""
    from risk import accounts
    from risk.web import SIGNIN_PATH

    st.title("Shared-Service Risk Workbench")
    if not accounts.has_administrator(engine()):
        st.info("This workbench has no administrator yet. Create the administrator account first: it can add the "
                "other accounts, load the demo or start a proposal.", icon=":material/admin_panel_settings:")
        st.link_button("Create the administrator account", SIGNIN_PATH, type="primary")
        return
    if st.session_state.get("_signed_out"):
        st.success("You have signed out. Nothing of the workbench is shown until you sign in again.",
                   icon=":material/logout:")
    else:
        st.info("Sign in to see the proposals you take part in. Your session may have ended after a time "
                "without use.", icon=":material/login:")
    # after signing out here, /signout also clears the cookie of the ended session, then shows the sign-in form
    st.link_button("Sign in", "/signout" if st.session_state.get("_signed_out") else SIGNIN_PATH, type="primary")


@guarded("sidebar")
def _picked_proposal() -> None:
    open_proposal(st.session_state.get("sidebar_proposal"))


ROLE_WORDS = {"admin": "administrator", "partner": "partner government", "facilitator": "facilitator",
              "assessor": "assessor", "observer": "observer", "reviewer": "reviewer"}


def nav_links() -> None:
    """The pages, each link keeping the proposal."""
    with st.container(key="nav"):
        for key, title, icon in NAV:
            page_link(key, title, icon=icon, width="stretch")
        signed_in = account()
        if signed_in is not None and signed_in.is_admin:
            st.page_link(ACCOUNTS_PAGE, label="Accounts", icon=":material/manage_accounts:", width="stretch",
                         query_params=carried())


def sidebar(signed_in) -> None:
    """The pages, the proposal picker and who is signed in, on every page. The picker shows what the address says
    (set before it is drawn), so a widget never pushes a stale value back."""
    pid = proposal_id()
    with st.sidebar:
        nav_links()
        st.divider()
        titles = proposal_titles()
        if titles:
            ids = list(titles)
            st.session_state["sidebar_proposal"] = pid if pid in ids else None
            labels = unique_labels(titles)
            st.selectbox("Proposal", ids, format_func=labels.__getitem__, placeholder="Choose a proposal",
                         key="sidebar_proposal", on_change=_picked_proposal)
        st.divider()
        roles = [ROLE_WORDS[r] for r in sorted(my_roles(pid))] if pid in titles else []
        st.markdown(f"Signed in as **{md(signed_in.full_name)}** ({md(signed_in.username)})")
        if roles:
            st.caption("On this proposal: " + md(", ".join(roles)))
        elif signed_in.is_admin:
            st.caption("Administrator")
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            sign_out()
            st.rerun()


def show_incident(page_title: str, exc: BaseException) -> None:
    """What an unexpected error shows: what failed in words and an incident number; the traceback goes to the
    server's log under that number, never to the browser."""
    import logging
    import uuid

    incident = uuid.uuid4().hex[:8].upper()
    logging.getLogger("risk").error("incident %s on the %s page", incident, page_title, exc_info=exc)
    st.error(f"The {page_title} page stopped at an unexpected problem: {_in_words(exc)}. Nothing that was saved "
             f"before is lost. If it happens again, give your administrator incident number **{incident}**; the "
             "details are in the server's log under that number.", icon=":material/report:")


def _in_words(exc: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read"
    if isinstance(exc, MemoryError):
        return "the server ran out of memory"
    if isinstance(exc, DBAPIError):
        text = str(exc.orig).lower()
        if "full" in text or "disk" in text:
            return "the database is full; nothing more can be written until space is freed"
        if "locked" in text or "timeout" in text:
            return "the database was busy for too long"
        return "the database refused the request"
    if isinstance(exc, (UnicodeError, ValueError, TypeError, KeyError)):
        return "some data could not be read as expected"
    return "an error the workbench did not expect"


FAILED = object()  # what run() returns when the change was refused


def flash(message: str, kind: str = "success") -> None:
    """A message shown once, after the next rerun ("success", "error" or "warning")."""
    st.session_state["flash"] = (kind, message)


def run(action: Callable[..., Any], *args: Any, success: str | None = None,
        on_conflict: Callable[[], None] | None = None, **kwargs: Any) -> Any:
    """Call a service as the acting person. A refusal becomes an error message and FAILED is returned; on
    success the result is returned and `success` is shown after the next rerun. When somebody else saved the
    same thing first (ConflictError) and `on_conflict` is given, it is called (to drop what is on screen), the
    message is kept for the next run and the page reruns, so the stored values are shown with the message."""
    name = actor()
    if not name:
        st.error("Sign in again to make changes: your session has ended.", icon=":material/person_alert:")
        return FAILED
    try:
        result = action(engine(), *args, actor=name, **kwargs)
    except ConflictError as exc:
        if on_conflict is None:
            st.error(md(exc), icon=":material/sync_problem:")
            return FAILED
        on_conflict()
        flash(f"Not saved: {exc}", "error")
        st.rerun()
    except RefusedError as exc:
        st.error(md(exc), icon=":material/error:")
        return FAILED
    if success:
        flash(success)
    return result


def show_flash() -> None:
    """The confirmation (or refusal) of the last change, once."""
    kind, message = st.session_state.pop("flash", (None, None))
    if message:
        {"success": st.success, "error": st.error, "warning": st.warning}[kind](
            md(message), icon={"success": ":material/check_circle:", "error": ":material/sync_problem:",
                               "warning": ":material/warning:"}[kind])


# --- forms that show what is stored ------------------------------------------------------------------
# A form (or grid) is drawn under a generation number. Its widgets are keyed by the id of what they edit and by
# that generation; the version of what it edits is captured when the generation is first drawn. After a save or
# a refusal the generation grows, so the next run draws fresh widgets from what is stored, and the browser's copy
# of the old edits (a data_editor keeps its edited_rows there) belongs to a key that is never read again.

def generation(name: str) -> int:
    return st.session_state.get(f"_gen_{name}", 0)


def renew(name: str) -> None:
    """Draw form or grid `name` afresh from what is stored on the next run."""
    st.session_state[f"_gen_{name}"] = generation(name) + 1


def seen(name: str, value: Any, widget: str | None = None) -> Any:
    """`value` as it was when this generation of form `name` was first drawn (its version on screen). `widget` is
    the key of one of the form's widgets: when Streamlit has dropped the widgets (the user went to another page and
    came back), they are drawn afresh from what is stored, and `value` is captured again with them."""
    key = f"_seen_{name}_{generation(name)}"
    if widget is not None and widget not in st.session_state:
        st.session_state[key] = value
    return st.session_state.setdefault(key, value)


def _grid_key(name: str) -> str:
    return f"{name}_{generation(name)}"


def apply_grid_edits(name: str, apply: Callable[[dict[int, dict], Any], None]) -> None:
    """Edits made in grid `name` since it was drawn: `apply(edited_rows, shown)` gets them by row with what that
    drawing showed (kept by `editable_grid`), checked against it rather than against anything read later. Then the
    grid starts a new generation: the next drawing comes fresh from what is stored, so a refused value never stays
    on screen, and the browser's copy of these edits (a data_editor sends all of them again with every edit)
    belongs to a key that is never read again."""
    key = _grid_key(name)
    pending = st.session_state.get(key, {}).get("edited_rows", {})
    shown = st.session_state.get(f"{key}_shown")
    if pending and shown is not None:
        apply({int(row): changes for row, changes in pending.items()}, shown)
        renew(name)


def editable_grid(name: str, data: Any, shown: Any, **kwargs: Any) -> None:
    """Draw grid `name` (a data_editor keyed by the grid and its generation), keeping `shown` (what each row is
    and the version it shows) for `apply_grid_edits` on the next run."""
    key = _grid_key(name)
    st.session_state[f"{key}_shown"] = shown
    st.data_editor(data, key=key, **kwargs)


def saw(name: str, value: Any) -> None:
    """Record that form `name` now stands on `value` (part of it was saved, the rest refused and kept on screen):
    the next save is checked against this, not against what the form was first drawn from."""
    st.session_state[f"_seen_{name}_{generation(name)}"] = value


def once_token(name: str) -> str:
    """A token for this instance of creation form `name`: a double click or a repeated submit sends the same
    token, and the service creates once. `renew(name)` after a creation starts a new instance."""
    import uuid

    return seen(name, uuid.uuid4().hex)


@st.cache_data(max_entries=512, show_spinner=False)
def _chart_spec(cache_key: tuple, _build: Callable[[], Any]) -> tuple[dict, dict]:
    """A chart's Vega-Lite spec, built once per `cache_key` (which names the chart and the data version it shows):
    the spec to draw, whose datasets are already Arrow IPC bytes (what Streamlit would convert them to on every
    rerun, and passes on as they are when they are bytes), and the plain spec for the PNG and SVG downloads.
    Building an Altair chart and serialising it took 20-30 ms a chart here, converting its data a few more."""
    spec = _build().to_dict(validate=False)
    shown = dict(spec)
    if isinstance(spec.get("datasets"), dict):
        try:
            from streamlit import dataframe_util

            shown["datasets"] = {name: dataframe_util.convert_anything_to_arrow_bytes(pd.DataFrame(rows))
                                 if isinstance(rows, list) else rows for name, rows in spec["datasets"].items()}
        except Exception:  # noqa: BLE001 - Streamlit converts them itself then, as before
            shown = spec
    return shown, spec


def _chart_key(url: str, version: int | str, key: str, *parts: Any) -> tuple:
    """What a chart's spec is cached under (_chart_spec): the database, the data version or a digest of the chart's
    data, the chart's key and what else it depends on."""
    return (url, version, key, *parts)


def chart_spec(build: Callable[[], Any], key: str, *parts: Any, content: str | None = None,
               proposal: int | None = None) -> tuple[dict, dict]:
    """The spec of the chart `build()` makes, from the cache when it holds it (as `chart` keys it): the spec to
    draw (its datasets as Arrow) and the plain one. Also what the server's start calls to make a page's charts."""
    if content is not None:
        version: int | str = content
    elif proposal is not None:
        version, parts = proposal_version(proposal), (proposal, *parts)
    else:
        version = data_version()
    return _chart_spec(_chart_key(config.database_url(), version, key, *parts), build)


def chart(build: Callable[[], Any], key: str, file_name: str, *parts: Any, content: str | None = None,
          proposal: int | None = None) -> None:
    """Draw the chart `build()` makes, with PNG and SVG downloads rendered offline only when clicked.

    `parts` are what the chart depends on besides the database (for example a setting); with the data version they
    key the cached spec, so a rerun with nothing changed does not rebuild the chart. `proposal`: the chart shows
    this proposal only, and is keyed by its newest change (proposal_version) instead of the whole database's.
    `content`: a digest of the chart's own data, to key it by instead (then no change elsewhere rebuilds it)."""
    from risk import charts

    shown, spec = chart_spec(build, key, *parts, content=content, proposal=proposal)
    st.vega_lite_chart(spec=shown, key=key)
    with st.container(horizontal=True):  # buttons as wide as their labels, also under a half-width chart
        st.download_button("PNG", data=lambda: charts.to_png(spec), file_name=f"{file_name}.png",
                           mime="image/png", key=f"{key}_png", on_click="ignore", icon=":material/download:")
        st.download_button("SVG", data=lambda: charts.to_svg(spec), file_name=f"{file_name}.svg",
                           mime="image/svg+xml", key=f"{key}_svg", on_click="ignore", icon=":material/download:")
