"""Accounts (administrators only): who can sign in, for which partner government, and what to do when a laptop is
lost or somebody leaves. The services refuse these changes to anyone else (risk/accounts.py, risk/access.py)."""

import pandas as pd
import streamlit as st

from risk import accounts
from risk.services.proposals import list_partners
from risk.ui import common

st.title("Accounts")
eng = common.engine()
signed_in = common.account()
if signed_in is None or not signed_in.is_admin:
    st.info("Only administrators manage accounts. Ask your administrator to add a colleague or reset a password.",
            icon=":material/lock:")
    st.stop()

rows = accounts.list_accounts(eng)
st.caption("Accounts sign in with a password, with a one-time link from a workshop's facilitator, or with single "
           "sign-on where it is set up. A team member whose full name and partner government match an account "
           "acts as that account on the proposal.")
st.dataframe(pd.DataFrame([{"Username": r["username"], "Full name": r["name"], "Partner government":
                            r["partner"] or "—", "Administrator": r["admin"], "Disabled": r["disabled"],
                            "Has a password": r["password"], "Sign-in locked until": r["locked_until"] or ""}
                           for r in rows]),
             hide_index=True, width="stretch", key="accounts_table")

partners = {p.name: p.name for p in list_partners(eng)}
with st.form("new_account", clear_on_submit=False, border=True):
    st.subheader("Add an account")
    username = st.text_input("Username", max_chars=40, help="3 to 40 characters: lower-case letters, digits, dot, "
                             "dash or underscore")
    full_name = st.text_input("Full name", max_chars=200, help="As on the proposal's team, so that the account is "
                              "linked to its team memberships")
    partner = st.selectbox("Partner government", [None, *partners], format_func=lambda p: p or "None (regional or "
                           "state staff)")
    admin = st.checkbox("Administrator", help="Administrators see every proposal and manage accounts")
    password = st.text_input("Password", type="password", help=f"At least {accounts.PASSWORD_MIN} characters; "
                             "leave it empty for an account that signs in only with one-time links")
    if st.form_submit_button("Add the account", type="primary"):
        result = common.run(accounts.create_account, username=username, full_name=full_name,
                            password=password or None, partner=partner, admin=admin,
                            success=f"Account {username.strip().lower()} added.")
        if result is not common.FAILED:
            st.rerun()

if rows:
    st.subheader("Change an account")
    names = [r["username"] for r in rows]
    chosen = st.selectbox("Account", names, key="account_chosen")
    left, middle, right = st.columns(3)
    if left.button("End all its sessions", key="end_sessions", icon=":material/devices_off:",
                   help="Signs it out everywhere, for example on a lost laptop"):
        ended = common.run(accounts.end_all_sessions, username=chosen)
        if ended is not common.FAILED:
            st.success(f"Ended {ended} session(s) of {chosen}.")
    if middle.button("Disable it", key="disable", icon=":material/person_off:",
                     help="It can no longer sign in; its history stays"):
        if common.run(accounts.disable_account, username=chosen, success=f"{chosen} is disabled.") \
                is not common.FAILED:
            st.rerun()
    with right.popover("Set a password", icon=":material/password:"):
        new_password = st.text_input("New password", type="password", key="new_password")
        if st.button("Set the password", key="set_password"):
            common.run(accounts.set_password, username=chosen, password=new_password,
                       success=f"The password of {chosen} is set; its sessions have ended.")
