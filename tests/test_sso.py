"""Single sign-on (risk/ui/sso.py) against a real OpenID Connect provider running in this process
(oidc-provider-mock): the workbench's server (`streamlit run serve.py`) is started with secrets that point at it,
an HTTP client that keeps cookies goes through Streamlit's /auth/login, the provider's form and /oauth2callback,
and the cookies it ends with are read back by risk/ui/sso.py in this process, with the same secrets.

Only the first tests (the configuration) run without the server; the rest are `slow`."""

from __future__ import annotations

import json
import random
import secrets
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response

from risk import accounts
from risk.db import make_engine, migrate
from risk.ui import sso
from tests.appserver import free_port, serve

# the provider (oidc-provider-mock 0.3) still calls Authlib's deprecated JOSE and JWT-config API
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:authlib\..*")

REPO = Path(__file__).resolve().parents[1]
SYSTEM = "system:test"
CLIENT_ID, CLIENT_SECRET = "risk-workbench", "client-secret-for-tests"

# The provider's people: `sub` -> claims. The mock gives the standard claims of the scopes asked for (Streamlit asks
# for "openid email profile") and every other claim as it is.
PEOPLE = {
    "ann": {"email": "Ann.Smith@Example.org", "email_verified": True, "name": "Ann Smith"},
    "zed": {"email": "zed@example.org", "email_verified": True, "name": "Zed Nobody"},  # no account has it
    "una": {"email": "una@example.org", "email_verified": False, "name": "Una Unverified"},
    "dee": {"email": "dee@example.org", "email_verified": True, "name": "Dee Disabled"},
    # enough claims, and random enough not to compress, that Streamlit splits its user cookie in chunks of 4 KB
    "bea": {"email": "bea@example.org", "email_verified": True, "name": "Bea Big",
            "groups": [f"{bits:032x}" for bits in map(random.Random(14).getrandbits, [128] * 400)]},
}
ACCOUNTS = {  # username -> e-mail, made before anyone signs in
    "ann.smith": "ann.smith@example.org", "una": "una@example.org", "dee": "dee@example.org",
    "bea": "bea@example.org",
}


# --- the configuration, in this process ---------------------------------------------------------------

def _write_secrets(path: Path, *, app_url: str, provider_url: str, named: bool = True) -> Path:
    metadata = f"{provider_url}/.well-known/openid-configuration"
    text = (f'[auth]\nredirect_uri = "{app_url}/oauth2callback"\ncookie_secret = "{secrets.token_hex(32)}"\n'
            f'client_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\nserver_metadata_url = "{metadata}"\n')
    if named:
        text += (f'\n[auth.adams]\nclient_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
                 f'server_metadata_url = "{metadata}"\nlabel = "Adams County"\n')
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def streamlit_secrets(path: Path | None) -> Iterator[None]:
    """This process's Streamlit reads its secrets from `path` only (none: from a file that does not exist), as the
    server does with `--secrets.files`; the secrets are read again afterwards."""
    from streamlit import config
    from streamlit.runtime.secrets import secrets_singleton

    before, watching = config.get_option("secrets.files"), secrets_singleton._file_watchers_installed
    config.set_option("secrets.files", [str(path) if path else str(REPO / "tests" / "no-such-secrets.toml")])
    secrets_singleton._reset()
    secrets_singleton._file_watchers_installed = True  # no thread left polling a temporary file
    try:
        yield
    finally:
        config.set_option("secrets.files", before)
        secrets_singleton._reset()
        secrets_singleton._file_watchers_installed = watching


def test_without_an_auth_section_there_is_no_single_sign_on():
    with streamlit_secrets(None):
        assert sso.providers() == []
        assert sso.account_from_request(None, _request({"_streamlit_user": "anything"})) is None  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="configured providers"):
            sso.login_path("default")


def test_the_providers_are_the_top_level_one_then_each_named_one(tmp_path):
    path = _write_secrets(tmp_path / "secrets.toml", app_url="http://127.0.0.1:8501", provider_url="http://idp")
    with streamlit_secrets(path):
        assert sso.providers() == [("default", "Single sign-on"), ("adams", "Adams County")]
        for name in ("default", "adams"):
            path_ = sso.login_path(name)
            assert path_.startswith("/auth/login?provider=")
            from urllib.parse import unquote

            from streamlit.auth_util import decode_provider_token

            assert decode_provider_token(unquote(path_.split("=", 1)[1]))["provider"] == name
    half = tmp_path / "half.toml"
    half.write_text('[auth]\ncookie_secret = "x"\nclient_id = "a"\nclient_secret = "b"\nserver_metadata_url = "c"\n')
    with streamlit_secrets(half):
        assert sso.providers() == []  # no redirect_uri: Streamlit could not sign anyone in


def test_clearing_deletes_every_chunk_of_streamlits_cookies_and_nothing_else():
    request = _request({"_streamlit_user": "a", "_streamlit_user_1": "b", "_streamlit_user_2": "c",
                        "_streamlit_user_tokens": "d", "_streamlit_user_tokens_1": "e", "risk_session": "f"})
    response = Response()
    sso.clear_cookies(response, request)
    deleted = {header.split("=", 1)[0] for header in response.headers.getlist("set-cookie")}
    assert deleted == {"_streamlit_user", "_streamlit_user_1", "_streamlit_user_2", "_streamlit_user_tokens",
                       "_streamlit_user_tokens_1"}
    assert all("Max-Age=0" in header and "Path=/" in header for header in response.headers.getlist("set-cookie"))
    blind = Response()
    sso.clear_cookies(blind)
    names = {header.split("=", 1)[0] for header in blind.headers.getlist("set-cookie")}
    assert {"_streamlit_user", "_streamlit_user_8", "_streamlit_user_tokens_8"} <= names and "risk_session" not in names


# --- the real server and provider ------------------------------------------------------------------------

@dataclass(frozen=True)
class Server:
    url: str
    provider_url: str
    secrets_path: Path
    engine: object
    log_path: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory, sqlite_template) -> Iterator[Server]:
    """The provider (in a thread of this process, with PEOPLE), the accounts of ACCOUNTS in a fresh database, and
    the workbench's server configured for the provider; this process's Streamlit reads the same secrets."""
    import authlib.deprecate  # noqa: F401  (importing it makes its warnings "always" shown: done first, then quieted)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import User, run_server_in_thread

    folder = tmp_path_factory.mktemp("sso")
    db_path = folder / "risk.db"
    shutil.copyfile(sqlite_template, db_path)
    engine = make_engine(f"sqlite:///{db_path}")
    migrate(engine)
    for username, email in ACCOUNTS.items():
        accounts.create_account(engine, actor=SYSTEM, username=username, full_name=username.title(), email=email)
    # an administrator exists, so the sign-in page is the usual one (with the providers), not the first-run form
    accounts.create_account(engine, actor=SYSTEM, username="ada", full_name="Ada Admin", admin=True)
    accounts.disable_account(engine, actor=SYSTEM, username="dee")
    people = [User(sub=sub, claims=claims) for sub, claims in PEOPLE.items()]
    with run_server_in_thread(user_claims=people) as provider:
        provider_url = f"http://localhost:{provider.server_port}"
        port = free_port()
        app_url = f"http://127.0.0.1:{port}"
        secrets_path = _write_secrets(folder / "secrets.toml", app_url=app_url, provider_url=provider_url)
        # Streamlit's secrets from `secrets_path` only (the `secrets.files` option)
        with serve(db_path, port=port, args=("--secrets.files", str(secrets_path))) as app, \
                streamlit_secrets(secrets_path):
            yield Server(app_url, provider_url, secrets_path, engine, app.log_path)
    engine.dispose()


def _request(cookies: dict[str, str]) -> Request:
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": b"",
                    "headers": [(b"cookie", header.encode("latin-1"))]})


def sign_in_at_provider(server: Server, sub: str, provider: str = "default") -> dict[str, str]:
    """Go through the whole flow as a browser would and return the cookies the workbench's server set."""
    import httpx2

    with httpx2.Client(follow_redirects=False, timeout=30) as client:
        start = client.get(server.url + sso.login_path(provider))
        assert start.status_code in (302, 303, 307), f"/auth/login answered {start.status_code}: {start.text[:300]}"
        authorize = start.headers["location"]
        assert authorize.startswith(f"{server.provider_url}/oauth2/authorize?"), authorize
        form = client.get(authorize)
        assert form.status_code == 200 and 'name="sub"' in form.text
        back = client.post(authorize, data={"sub": sub})
        assert back.status_code in (302, 303), f"the provider answered {back.status_code}: {back.text[:300]}"
        callback = back.headers["location"]
        assert callback.startswith(f"{server.url}/oauth2callback?code="), callback
        done = client.get(callback)
        assert done.status_code in (302, 303, 307), f"/oauth2callback answered {done.status_code}: {done.text[:300]}"
        assert done.headers["location"] == "/"
        cookies = {cookie.name: cookie.value for cookie in client.cookies.jar if cookie.domain.startswith("127.0.0.1")}
    assert "_streamlit_user" in cookies, (f"no user cookie after the callback; the server's log:\n"
                                          f"{server.log_path.read_text(errors='replace')[-3000:]}")
    return cookies


@pytest.fixture(scope="module")
def ann(server) -> dict[str, str]:
    return sign_in_at_provider(server, "ann")


def _username(account) -> str | None:
    return account.username if account is not None else None


@pytest.mark.slow
def test_signing_in_at_the_provider_gives_the_account_with_that_email(server, ann):
    request = _request(ann)
    assert _username(sso.account_from_request(server.engine, request)) == "ann.smith"  # Ann.Smith@Example.org
    assert sso.unknown_email(request) == "ann.smith@example.org"
    claims = sso.claims(request)
    assert claims["provider"] == "default" and claims["name"] == "Ann Smith" and claims["origin"] == server.url


@pytest.mark.slow
def test_a_named_provider_signs_in_the_same_way(server):
    cookies = sign_in_at_provider(server, "ann", provider="adams")
    assert _username(sso.account_from_request(server.engine, _request(cookies))) == "ann.smith"
    assert sso.claims(_request(cookies))["provider"] == "adams"


@pytest.mark.slow
def test_an_email_no_account_has_signs_nobody_in_and_is_named(server):
    request = _request(sign_in_at_provider(server, "zed"))
    assert sso.account_from_request(server.engine, request) is None
    assert sso.unknown_email(request) == "zed@example.org"


@pytest.mark.slow
def test_an_email_the_provider_has_not_verified_signs_nobody_in(server):
    request = _request(sign_in_at_provider(server, "una"))
    assert sso.claims(request)["email"] == "una@example.org"  # the cookie is good, the address is not vouched for
    assert sso.account_from_request(server.engine, request) is None
    assert sso.unknown_email(request) is None


@pytest.mark.slow
def test_a_disabled_account_is_not_signed_in(server):
    request = _request(sign_in_at_provider(server, "dee"))
    assert sso.account_from_request(server.engine, request) is None


@pytest.mark.slow
def test_a_cookie_in_chunks_is_read_whole_and_refused_when_a_chunk_is_missing_or_changed(server):
    cookies = sign_in_at_provider(server, "bea")
    chunks = sorted(name for name in cookies if name.startswith("_streamlit_user_") and name[16:].isdigit())
    assert len(chunks) >= 2, f"expected Streamlit to split the cookie, got {sorted(cookies)}"
    assert _username(sso.account_from_request(server.engine, _request(cookies))) == "bea"
    assert sso.account_from_request(server.engine, _request({k: v for k, v in cookies.items() if k != chunks[-1]})) \
        is None
    changed = dict(cookies)
    changed[chunks[0]] = _flip(changed[chunks[0]])
    assert sso.account_from_request(server.engine, _request(changed)) is None


def _flip(signed: str) -> str:
    """The same signed value with one character of its payload changed."""
    at = 3
    return signed[:at] + ("A" if signed[at] != "A" else "B") + signed[at + 1:]


@pytest.mark.slow
def test_a_tampered_forged_or_unsigned_cookie_signs_nobody_in(server, ann):
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value, decode_signed_value

    user = ann["_streamlit_user"]
    assert sso.account_from_request(server.engine, _request({**ann, "_streamlit_user": _flip(user)})) is None
    assert sso.account_from_request(server.engine, _request({**ann, "_streamlit_user": user[:-2]})) is None
    with open(server.secrets_path, "rb") as f:
        import tomllib

        secret = tomllib.load(f)["auth"]["cookie_secret"]
    payload = json.loads(decode_signed_value(secret, "_streamlit_user", user.encode("latin-1")))
    assert payload["email"] == "Ann.Smith@Example.org"  # as the provider gave it
    zed = json.dumps({**payload, "email": "ann.smith@example.org", "sub": "zed"})
    # signed by someone who does not hold the secret
    forged = create_signed_value("not-the-secret", "_streamlit_user", zed).decode()
    assert sso.account_from_request(server.engine, _request({"_streamlit_user": forged})) is None
    # the right secret, but another cookie's name (the salt)
    other = create_signed_value(secret, "_streamlit_user_tokens", zed).decode()
    assert sso.account_from_request(server.engine, _request({"_streamlit_user": other})) is None
    # not signed at all
    assert sso.account_from_request(server.engine, _request({"_streamlit_user": zed})) is None
    assert sso.account_from_request(server.engine, _request({"_streamlit_user": "chunks-1", "_streamlit_user_1": zed}))\
        is None
    # signed with the secret: trusted (what the callback makes), as long as it says it was made for this server
    good = create_signed_value(secret, "_streamlit_user", zed).decode()
    assert _username(sso.account_from_request(server.engine, _request({"_streamlit_user": good}))) == "ann.smith"
    elsewhere = create_signed_value(secret, "_streamlit_user", json.dumps({**json.loads(zed),
                                                                           "origin": "http://evil.example"})).decode()
    assert sso.account_from_request(server.engine, _request({"_streamlit_user": elsewhere})) is None
    gone = create_signed_value(secret, "_streamlit_user", json.dumps({**json.loads(zed), "provider": "gone"})).decode()
    assert sso.account_from_request(server.engine, _request({"_streamlit_user": gone})) is None


@pytest.mark.slow
def test_a_cookie_older_than_fresh_signs_nobody_in(server, ann, monkeypatch):
    """The browser keeps Streamlit's cookie 30 days; only its first minutes count (risk/ui/sso.py, FRESH)."""
    import itsdangerous.timed

    real = time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real + sso.FRESH.total_seconds() + 5)
    assert sso.account_from_request(server.engine, _request(ann)) is None
    assert sso.unknown_email(_request(ann)) is None
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real + sso.FRESH.total_seconds() - 30)
    assert _username(sso.account_from_request(server.engine, _request(ann))) == "ann.smith"


@pytest.mark.slow
def test_clearing_the_cookies_on_a_response_forgets_the_identity(server):
    import httpx2

    cookies = sign_in_at_provider(server, "bea")
    response = Response()
    sso.clear_cookies(response, _request(cookies))
    with httpx2.Client() as client:
        for name, value in cookies.items():
            client.cookies.set(name, value, domain="127.0.0.1", path="/")
        client.cookies.extract_cookies(httpx2.Response(200, headers=response.headers.raw,
                                                       request=httpx2.Request("GET", server.url + "/signout")))
        left = {cookie.name: cookie.value for cookie in client.cookies.jar}
    assert not any(name.startswith("_streamlit_user") for name in left), left
    assert sso.account_from_request(server.engine, _request(left)) is None


@pytest.mark.slow
def test_the_gate_lets_the_providers_answer_through(server):
    import httpx2

    with httpx2.Client(follow_redirects=False, timeout=30) as client:
        answer = client.get(f"{server.url}/oauth2callback?code=x&state=y",
                            headers={"accept": "text/html,application/xhtml+xml"})
    assert not answer.headers.get("location", "").startswith("/signin")


def _browser_flow(server, sub: str, start: str = "/signin"):
    """A browser's whole way: the sign-in page's link for the provider, the provider's form, the callback, then
    the workbench's gate at / (where Streamlit sends the browser back). Returns the client (its cookies) and the
    gate's answer."""
    import httpx2

    html_accept = {"accept": "text/html,application/xhtml+xml"}
    client = httpx2.Client(follow_redirects=False, timeout=30, headers=html_accept)
    page = client.get(server.url + start)
    link = next(part.split('"', 1)[0] for part in page.text.split('href="')[1:] if part.startswith("/signin/sso/"))
    assert "Sign in with Single sign-on" in page.text
    authorize = client.get(server.url + link).headers["location"]  # /signin/sso/default -> /auth/login?provider=
    authorize = client.get(server.url + authorize if authorize.startswith("/") else authorize).headers["location"]
    assert authorize.startswith(f"{server.provider_url}/oauth2/authorize?"), authorize
    client.get(authorize)
    callback = client.post(authorize, data={"sub": sub}).headers["location"]
    assert client.get(callback).headers["location"] == "/"
    return client, client.get(server.url + "/")


@pytest.mark.slow
def test_the_gate_turns_the_providers_answer_into_a_workbench_session_and_forgets_the_providers_cookie(server):
    from risk import web

    client, gate = _browser_flow(server, "ann")
    try:
        assert gate.status_code == 303 and gate.headers["location"] == "/"
        token = client.cookies.get(web.SESSION_COOKIE)
        assert token and accounts.session_account(server.engine, token).username == "ann.smith"
        assert not any(c.name.startswith("_streamlit_user") for c in client.cookies.jar)
        assert client.get(server.url + "/").status_code == 200  # the app's page, signed in
        client.get(server.url + "/signout")
        assert accounts.session_account(server.engine, token) is None
        assert client.get(server.url + "/").headers["location"].startswith("/signin")  # not signed in again
    finally:
        client.close()


@pytest.mark.slow
def test_a_provider_answer_for_an_address_with_no_account_signs_nobody_in_and_says_so(server):
    from risk import web

    client, gate = _browser_flow(server, "zed")
    try:
        assert gate.status_code == 403 and "No enabled account has the address zed@example.org" in gate.text
        assert web.SESSION_COOKIE not in client.cookies
        assert not any(c.name.startswith("_streamlit_user") for c in client.cookies.jar)  # asked only once
        assert client.get(server.url + "/").headers["location"].startswith("/signin")
    finally:
        client.close()
