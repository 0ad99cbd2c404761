"""AppTests of what accounts change on the pages: the Accounts page (administrators only), linking a team member to
an account, the workshop's sign-in codes, what a proposal's reader is offered, and the portfolio an account sees."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from risk import accounts
from risk.services import proposals as ps
from risk.services import signin_links
from tests.signin import SYSTEM, admin_session
from tests.test_app import member_id, start

PASSWORD = "a long enough passphrase"


def _session(engine, username: str) -> str:
    return accounts.start_session(engine, accounts.authenticate(engine, username, PASSWORD).id)


def open_as(token: str, page: str, proposal_id: int | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60)
    if proposal_id is not None:
        at.query_params["proposal"] = str(proposal_id)
    at.session_state["_session_token"] = token
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_an_administrator_adds_an_account_on_the_accounts_page(demo_db):
    at = start("risk/ui/pages/accounts.py")
    form = [w for w in at.text_input if w.label in ("Username", "Full name", "Password")]
    by_label = {w.label: w for w in form}
    by_label["Username"].input("Nadia.H")
    by_label["Full name"].input("Nadia Hussain")
    by_label["Password"].input(PASSWORD)
    next(b for b in at.button if b.label == "Add the account").click().run()
    assert not at.exception, [e.value for e in at.exception]
    added = next(a for a in accounts.list_accounts(demo_db) if a["username"] == "nadia.h")
    assert added["name"] == "Nadia Hussain" and added["password"] is True and added["admin"] is False
    assert "nadia.h" in at.dataframe[0].value["Username"].tolist()


def test_the_accounts_page_shows_nothing_to_anyone_but_an_administrator(demo_db):
    accounts.create_account(demo_db, actor=SYSTEM, username="otto", full_name="Otto Outsider", password=PASSWORD)
    at = open_as(_session(demo_db, "otto"), "risk/ui/pages/accounts.py")
    assert any("Only administrators" in i.value for i in at.info)
    assert not at.dataframe and not [w for w in at.text_input if w.label == "Username"]


def test_an_outsider_sees_no_proposal_in_the_portfolio_nor_through_its_address(demo_db):
    accounts.create_account(demo_db, actor=SYSTEM, username="otto", full_name="Otto Outsider", password=PASSWORD)
    token = _session(demo_db, "otto")
    at = open_as(token, "risk/ui/pages/portfolio.py")
    assert any("not on the team of any proposal" in m.value for m in at.markdown)
    assert not at.dataframe
    review = open_as(token, "risk/ui/pages/review.py", proposal_id=1)
    assert any("Choose a proposal" in i.value for i in review.info) and not review.metric


def test_a_partner_governments_account_sees_its_proposals_and_only_reads_them(demo_db):
    partner = next(p for p, _ in ps.proposal_partners(demo_db, 1))
    accounts.create_account(demo_db, actor=SYSTEM, username="pat", full_name="Pat Partner", partner=partner.name,
                            password=PASSWORD)
    at = open_as(_session(demo_db, "pat"), "risk/ui/pages/proposal.py", proposal_id=1)
    assert any("You can read this proposal" in c.value for c in at.caption)
    save = next(b for b in at.button if b.label == "Save changes")
    assert save.disabled
    assert not [b for b in at.button if b.label in ("Add partner", "Add to the team", "Link")]
    titles = at.sidebar.selectbox[0].options
    assert any("Tri-County" in t for t in titles)


def test_a_facilitator_links_a_team_member_to_an_account_with_another_name(demo_db):
    accounts.create_account(demo_db, actor=SYSTEM, username="dana.w", full_name="D. Whitfield", password=PASSWORD)
    dana = member_id(demo_db, 1, "Dana Whitfield")
    at = start("risk/ui/pages/proposal.py", proposal_id=1)
    form_user = next(w for w in at.text_input if (w.key or "").startswith("link_username_"))
    next(w for w in at.selectbox if (w.key or "").startswith("link_who_")).set_value(dana)
    form_user.input("dana.w")
    next(b for b in at.button if b.label == "Link").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert signin_links.member_accounts(demo_db, 1)[dana] == "dana.w"


def test_the_facilitator_makes_a_sign_in_code_for_a_member(demo_db):
    facilitator = member_id(demo_db, 2, "Ruth Adebayo")
    owen = member_id(demo_db, 2, "Owen Price")
    at = start("risk/ui/pages/workshop.py", proposal_id=2, actor=facilitator)
    at.selectbox(key="link_member").set_value(owen)
    at.button(key="make_link").click().run()
    assert not at.exception, [e.value for e in at.exception]
    link = at.code[0].value
    assert "/join/" in link
    token = link.rsplit("/join/", 1)[1]
    assert signin_links.link_holder(demo_db, token) == "Owen Price"


def test_an_assessor_is_offered_no_sign_in_codes_and_no_round_controls(demo_db):
    owen = member_id(demo_db, 2, "Owen Price")
    at = start("risk/ui/pages/workshop.py", proposal_id=2, actor=owen)
    assert not [e for e in at.expander if "QR code" in e.label]
    assert not [b for b in at.button if (b.key or "").startswith(("reveal_round_", "close_round_"))]


def test_an_administrator_not_on_the_team_runs_the_workshop(demo_db):
    at = open_as(admin_session(demo_db), "risk/ui/pages/workshop.py", proposal_id=2)
    assert [e for e in at.expander if "QR code" in e.label]


def test_a_facilitator_adds_a_new_partner_government_to_their_proposal(demo_db):
    at = start("risk/ui/pages/proposal.py", proposal_id=2, actor=member_id(demo_db, 2, "Ruth Adebayo"))
    next(w for w in at.text_input if (w.key or "").startswith("partner_name_")).input("Village of Elm Creek")
    next(b for b in at.button if b.label == "Add partner").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "Village of Elm Creek" in {p.name for p, _ in ps.proposal_partners(demo_db, 2)}


def test_the_activity_page_shows_a_change_in_words_and_filters_by_risk(demo_db):
    risk = ps.list_risks(demo_db, 1)[0]
    ps.update_risk(demo_db, actor=SYSTEM, risk_pk=risk.id, expected_version=risk.version, owner="Dana Whitfield")
    at = start("risk/ui/pages/activity.py", proposal_id=1)
    table = at.dataframe[0].value
    first = table.iloc[0]
    assert first["What"] == f"changed risk {risk.risk_id}" and "owner: Priya Raman → Dana Whitfield" in first["Changes"]
    at.multiselect(key="act_risks_1").set_value([risk.risk_id]).run()
    assert not at.exception
    assert set(at.dataframe[0].value["Risk"]) == {risk.risk_id}
    assert at.get("download_button")


def test_a_risk_card_shows_the_risks_history_when_asked(demo_db):
    risk = ps.list_risks(demo_db, 3)[0]
    ps.update_risk(demo_db, actor=SYSTEM, risk_pk=risk.id, expected_version=risk.version, owner="Someone")
    ps.move_walkthrough(demo_db, actor=SYSTEM, proposal_id=3, to=risk.category)
    at = start("risk/ui/pages/walkthrough.py", proposal_id=3)
    at.toggle(key=f"history_{risk.id}").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    history = next(d.value for d in at.dataframe if "Changes" in d.value.columns)
    assert "owner:" in history.iloc[0]["Changes"] and history.iloc[0]["What"] == f"changed risk {risk.risk_id}"


def test_a_page_reads_the_session_once_per_run_and_an_ended_session_stops_the_next_run(demo_db, monkeypatch):
    token = admin_session(demo_db)
    at = open_as(token, "risk/ui/pages/review.py", proposal_id=1)
    reads = []
    real = accounts.session_account
    monkeypatch.setattr(accounts, "session_account", lambda *a, **k: reads.append(1) or real(*a, **k))
    at.run()
    assert not at.exception and at.metric  # the review page, drawn in full
    assert len(reads) == 1  # one read of the session for the whole run (sidebar, page, permissions)
    at.run()
    assert len(reads) == 2  # and a new one the next run: nothing is remembered between runs
    accounts.end_session(demo_db, token)
    at.run()
    assert not at.metric and not at.dataframe
    assert any("sign in" in b.proto.url.lower() or "signin" in b.proto.url for b in at.get("link_button"))


def _made_in_one_run():
    import streamlit as st

    from risk.services import proposals as ps
    from risk.ui import common

    st.session_state["before"] = common.visible_ids()
    made = ps.create_proposal(common.engine(), title="Made in this run", service_type="GIS",
                              actor=common.actor())
    st.session_state["made"] = made
    st.session_state["after"] = common.visible_ids()
    st.session_state["version_moved"] = common.data_version() > st.session_state["version_before"]


def test_what_a_run_remembers_is_read_again_after_a_change_in_that_run(demo_db):
    """once_per_run: the account's visible proposals and the data version, remembered within a run, are read again
    once the run itself has changed something."""
    from risk import accounts as acc

    owner = acc.create_account(demo_db, actor=SYSTEM, username="nell", full_name="Nell Newcomer", password=PASSWORD)
    at = AppTest.from_function(_made_in_one_run, default_timeout=60)
    at.session_state["_session_token"] = acc.start_session(demo_db, owner.id)
    from risk.store import data_version

    at.session_state["version_before"] = data_version(demo_db)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["made"] not in at.session_state["before"]
    assert at.session_state["made"] in at.session_state["after"]
    assert at.session_state["version_moved"]
