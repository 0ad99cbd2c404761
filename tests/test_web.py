"""The sign-in routes and the gate of risk/web.py, driven over HTTP with Starlette's test client: the first
administrator, signing in and out, the cookie's flags, forged and cross-site forms, where a browser may be sent,
and one-time sign-in links. `/` stands in for Streamlit's page (serve.py mounts the same routes and gate in
st.App); the browser tests run the real server."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from risk import accounts, web
from tests.builders import database_state

SYSTEM = "system:test"
PASSWORD = "correct horse battery"


@pytest.fixture
def client(app_db):
    async def page(request):
        return PlainTextResponse("the workbench")

    app = Starlette(routes=[*web.ROUTES, Route("/", page), Route("/_stcore/health", page)],
                    middleware=[Middleware(web.SignInGate)])
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def _form_token(response) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', response.text).group(1)


def _post_form(client, path: str, page, **fields):
    return client.post(path, data={"form_token": _form_token(page), **fields})


def _admin(engine, username="ada", password=PASSWORD):
    return accounts.create_first_administrator(engine, actor=SYSTEM, username=username, full_name="Ada Admin",
                                               password=password)


HTML = {"accept": "text/html"}


def test_on_an_empty_database_the_first_page_creates_the_administrator_and_signs_in(client, app_db):
    first = client.get("/", headers=HTML)
    assert first.status_code == 303 and first.headers["location"] == "/signin?next=%2F"
    page = client.get("/signin")
    assert "Create the administrator account" in page.text and 'for="full_name">Full name' in page.text
    done = _post_form(client, "/signin", page, first_run="1", username="ada", full_name="Ada Admin",
                      password=PASSWORD, next="/")
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = done.headers["set-cookie"]
    assert cookie.startswith(f"{web.SESSION_COOKIE}=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    token = client.cookies[web.SESSION_COOKIE]
    assert token not in done.headers["location"]
    assert accounts.session_account(app_db, token).username == "ada"
    assert client.get("/", headers=HTML).text == "the workbench"  # a refresh: still signed in
    # the first-run form is gone for good
    client.cookies.clear()
    assert "Create the administrator account" not in client.get("/signin").text


def test_the_first_run_form_creates_no_second_administrator(client, app_db):
    page = client.get("/signin")  # drawn while there was none
    _admin(app_db)
    late = _post_form(client, "/signin", page, first_run="1", username="mallory", full_name="Mallory",
                      password=PASSWORD)
    assert late.status_code == 409 and "already exists" in late.text
    assert [a["username"] for a in accounts.list_accounts(app_db)] == ["ada"]


def test_a_bad_first_run_form_says_what_is_wrong_and_keeps_what_was_typed(client, app_db):
    page = client.get("/signin")
    bad = _post_form(client, "/signin", page, first_run="1", username="ada", full_name="Ada Admin", password="short")
    assert bad.status_code == 400 and "12" in bad.text and 'value="ada"' in bad.text
    assert not accounts.has_administrator(app_db)


def test_a_wrong_password_and_an_unknown_user_get_the_same_message_and_no_session(client, app_db):
    _admin(app_db)
    before = database_state(app_db)["rows"]["account_session"]
    wrong = _post_form(client, "/signin", client.get("/signin"), username="ada", password="not the password!")
    unknown = _post_form(client, "/signin", client.get("/signin"), username="nobody", password="not the password!")
    assert wrong.status_code == unknown.status_code == 401
    assert accounts.REFUSED in wrong.text and accounts.REFUSED in unknown.text
    assert web.SESSION_COOKIE not in client.cookies
    assert database_state(app_db)["rows"]["account_session"] == before
    assert "not the password!" not in wrong.text  # the password is never sent back


def test_a_form_without_its_token_or_from_another_site_is_refused(client, app_db):
    _admin(app_db)
    client.get("/signin")
    forged = client.post("/signin", data={"form_token": "made-up", "username": "ada", "password": PASSWORD})
    assert forged.status_code == 400 and web.SESSION_COOKIE not in client.cookies
    client.cookies.clear()  # another site's page: no form cookie of ours
    cross = client.post("/signin", data={"form_token": "x", "username": "ada", "password": PASSWORD})
    assert cross.status_code == 400 and web.SESSION_COOKIE not in client.cookies


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "javascript:alert(1)",
                                    "/\\evil.example"])
def test_after_signing_in_a_browser_goes_only_to_a_page_of_this_server(client, app_db, target):
    _admin(app_db)
    page = client.get("/signin", params={"next": target})
    done = _post_form(client, "/signin", page, username="ada", password=PASSWORD, next=target)
    assert done.status_code == 303 and done.headers["location"] == "/"


def test_the_gate_keeps_the_page_and_its_address_to_come_back_to(client, app_db):
    _admin(app_db)
    sent = client.get("/review?proposal=3", headers=HTML)
    assert sent.headers["location"] == "/signin?next=%2Freview%3Fproposal%3D3"
    page = client.get(sent.headers["location"])
    done = _post_form(client, "/signin", page, username="ada", password=PASSWORD, next="/review?proposal=3")
    assert done.headers["location"] == "/review?proposal=3"


def test_the_gate_lets_streamlit_endpoints_and_non_page_requests_through(client):
    assert client.get("/_stcore/health").status_code == 200
    assert client.get("/", headers={"accept": "application/json"}).status_code == 200


def test_signing_out_ends_the_session_and_clears_the_cookie(client, app_db):
    _admin(app_db)
    _post_form(client, "/signin", client.get("/signin"), username="ada", password=PASSWORD)
    token = client.cookies[web.SESSION_COOKIE]
    out = client.get("/signout")
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert accounts.session_account(app_db, token) is None
    assert web.SESSION_COOKIE not in client.cookies
    client.cookies.set(web.SESSION_COOKIE, token)  # the old cookie, kept by a copy: it signs nobody in
    assert client.get("/", headers=HTML).status_code == 303


def test_an_ended_or_made_up_session_cookie_opens_nothing(client, app_db):
    admin = _admin(app_db)
    token = accounts.start_session(app_db, admin.id)
    accounts.end_all_sessions(app_db, actor=SYSTEM, username="ada")
    client.cookies.set(web.SESSION_COOKIE, token)
    assert client.get("/", headers=HTML).status_code == 303
    client.cookies.set(web.SESSION_COOKIE, "x" * 43)
    assert client.get("/", headers=HTML).status_code == 303


# --- one-time sign-in links ---------------------------------------------------------------------------

def _team_member(engine):
    from risk.services import proposals as ps

    pid = ps.create_proposal(engine, actor=SYSTEM, title="Shared 911 dispatch")
    partner = ps.add_partner(engine, actor=SYSTEM, name="Lake County")
    ps.link_partner(engine, actor=SYSTEM, proposal_id=pid, partner_id=partner)
    return ps.add_team_member(engine, actor=SYSTEM, proposal_id=pid, name="Ana López", partner_id=partner,
                              team_role="assessor")


def test_a_one_time_link_signs_in_once_and_not_twice(client, app_db):
    from risk.services import signin_links

    member = _team_member(app_db)
    token = signin_links.issue_link(app_db, actor=SYSTEM, member_id=member)
    page = client.get(f"/join/{token}")
    assert page.status_code == 200 and "Sign in as Ana López" in page.text
    page = client.get(f"/join/{token}")  # looking at it again (a phone's preview first) does not use it
    assert page.status_code == 200
    done = client.post(f"/join/{token}", data={"form_token": _form_token(page)})
    assert done.status_code == 303 and done.headers["location"] == "/"
    signed_in = accounts.session_account(app_db, client.cookies[web.SESSION_COOKIE])
    assert signed_in.full_name == "Ana López"
    other = TestClient(client.app, follow_redirects=False)  # a second phone with the same code
    again = other.get(f"/join/{token}")
    assert again.status_code == 410 and signin_links.UNUSABLE in again.text
    assert other.post(f"/join/{token}", data={"form_token": "x"}).status_code == 400
    assert web.SESSION_COOKIE not in other.cookies


def test_a_link_expires_at_the_end_of_the_day_it_was_issued(app_db):
    from risk.services import signin_links

    member = _team_member(app_db)
    issued = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    token = signin_links.issue_link(app_db, actor=SYSTEM, member_id=member, now=issued)
    tomorrow = signin_links.end_of_day(issued) + dt.timedelta(seconds=1)
    assert signin_links.link_holder(app_db, token, now=issued) == "Ana López"
    assert signin_links.link_holder(app_db, token, now=tomorrow) is None
    with pytest.raises(Exception, match="used, has expired"):
        signin_links.use_link(app_db, token, now=tomorrow)


def test_the_member_gets_one_account_linked_to_the_team_whatever_the_number_of_links(app_db):
    from sqlmodel import Session

    from risk.models import TeamMember
    from risk.services import signin_links

    member = _team_member(app_db)
    signin_links.issue_link(app_db, actor=SYSTEM, member_id=member)
    signin_links.issue_link(app_db, actor=SYSTEM, member_id=member)
    names = [a for a in accounts.list_accounts(app_db) if a["name"] == "Ana López"]
    assert len(names) == 1 and names[0]["password"] is False and names[0]["partner"] == "Lake County"
    with Session(app_db) as s:
        assert s.get(TeamMember, member).account_id is not None
    assert signin_links.open_links(app_db, 1)[member] == 2
