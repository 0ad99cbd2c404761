"""The frame of the workbench: page config, navigation over risk/ui/pages, and the shared sidebar."""

import gc
import time

import streamlit as st

from risk.services.setup import SchemaMismatchError
from risk.ui import common

started = time.perf_counter()
st.set_page_config(page_title="Shared-Service Risk Workbench", page_icon=":material/shield:", layout="wide")
try:
    common.engine()  # created and migrated once per process
except SchemaMismatchError as exc:  # this server and the database are of different versions (docs/DEPLOYMENT.md)
    st.error(f"The workbench is being upgraded: {common.md(exc)}", icon=":material/upgrade:")
    st.stop()

# Printing from the browser (the review page is printed for council packets): no sidebar, no buttons, and charts
# kept whole on a page. A fixed stylesheet: no user text goes into it.
st.html("""<style>@media print {
  [data-testid="stSidebar"], [data-testid="stHeader"], [data-testid="stToolbar"],
  [data-testid="stDownloadButton"], [data-testid="stBaseButton-secondary"], [data-testid="stSidebarCollapsedControl"]
  { display: none !important; }
  [data-testid="stMain"] { margin-left: 0 !important; }
  [data-testid="stVegaLiteChart"], [data-testid="stMetric"] { break-inside: avoid; }
}</style>""")

# The pages' own links (in the sidebar, common.nav_links) carry the proposal in the address; Streamlit's built-in
# navigation would drop it, so it is hidden.
page = st.navigation([st.Page(common.PAGES[key], title=title, icon=icon, default=key == "portfolio")
                      for key, title, icon in common.NAV]
                     + [st.Page(common.ACCOUNTS_PAGE, title="Accounts", icon=":material/manage_accounts:")],
                     position="hidden")
if page.url_path != "":  # not the home page (the portfolio): this session no longer keeps its refresh going
    common.left_portfolio()
try:
    signed_in = common.account()
    if signed_in is None:  # nothing of the workbench without a valid session, whatever the address says
        common.signed_out_page()
    else:
        common.sidebar(signed_in)
        common.show_flash()
        page.run()
except Exception as exc:  # noqa: BLE001 - the one error boundary: a message in words here, the traceback in the log
    common.show_incident(page.title, exc)

# The server time of this rerun, for bench/pages.py (a number in the session, shown nowhere).
st.session_state["_rerun_ms"] = (time.perf_counter() - started) * 1000

# Streamlit runs a full garbage collection after every rerun; freezing the long-lived objects once the heavy
# imports are loaded keeps that pass short (docs/PERFORMANCE.md).
if not st.session_state.get("_gc_frozen"):
    gc.freeze()
    st.session_state["_gc_frozen"] = True
