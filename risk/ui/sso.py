"""Single sign-on: a government's OpenID Connect provider vouches for a person, and the workbench signs in the
account that has their e-mail address (tests/test_sso.py runs it against a real provider). It lives with the UI
because it is bound to Streamlit: it uses Streamlit's own cookie helpers and secrets (tests/test_architecture.py
lets only the UI import streamlit); risk/web.py calls it from the sign-in routes and the gate.

Streamlit does the OpenID Connect part (`st.login`'s routes, mounted by `st.App` in serve.py): `/auth/login`
sends the browser to the provider, `/oauth2callback` takes the answer, checks the ID token and keeps the person's
claims in Streamlit's signed, HttpOnly user cookie. This module only reads that cookie, with Streamlit's own
helpers and secret, and matches its `email` claim to an account, for risk/web.py to start a workbench session of
its own (the `risk_session` cookie) from which only that session counts.

Configuration is the `[auth]` section of `.streamlit/secrets.toml`, as `st.login` reads it. Without that
section there are no providers and nothing about single sign-on shows anywhere.

    [auth]
    redirect_uri = "https://risk.example.org/oauth2callback"   # this server's /oauth2callback
    cookie_secret = "a long random string"                      # signs the cookie and the login links
    # one provider, shown as "Single sign-on" (or as `label`):
    client_id = "..."
    client_secret = "..."
    server_metadata_url = "https://login.example.org/.well-known/openid-configuration"
    label = "Adams County account"                              # optional

    # or several, each with its own section; the name (no "_") is Streamlit's, `label` is what people see
    # (the name, capitalised, without one):
    [auth.adams]
    client_id = "..."
    client_secret = "..."
    server_metadata_url = "..."
    label = "Adams County"

A provider missing `client_id`, `client_secret` or `server_metadata_url`, or an `[auth]` section missing
`redirect_uri` or `cookie_secret`, is left out (and logged): Streamlit would refuse to start its sign-in.

What is trusted: only a cookie whose signature Streamlit's secret verifies (every chunk of it), made by the
callback of a provider still configured, for this server's origin, less than FRESH ago, whose `email` the provider
has not marked unverified (`email_verified` false). The cookie lives 30 days in the browser, but it serves here only
in its first minutes: a workbench session that ends (signing out, the idle timeout, an administrator's "end all
sessions") is not begun again from it; signing in again goes through the provider.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, func, select
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from risk import accounts
from risk.errors import RefusedError
from risk.models import Account

log = logging.getLogger(__name__)
_warned: set[str] = set()  # what is wrong with the configuration is logged once, not at every request

DEFAULT = "default"  # Streamlit's name for the provider configured at the top of [auth]
DEFAULT_LABEL = "Single sign-on"
REQUIRED = ("client_id", "client_secret", "server_metadata_url")  # what Streamlit requires of a provider
FRESH = dt.timedelta(minutes=10)  # an SSO cookie signed longer ago than this signs nobody in
CHUNKS_CLEARED = 8  # without the request, clear_cookies deletes this many chunks of each cookie (about 30 KB)


def _auth() -> dict[str, Any]:
    """The [auth] section of the secrets Streamlit has loaded (empty without one)."""
    from streamlit.auth_util import get_secrets_auth_section

    return get_secrets_auth_section().to_dict()


def _warn(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def _label(section: Mapping[str, Any], fallback: str) -> str:
    label = section.get("label")
    return label.strip() if isinstance(label, str) and label.strip() else fallback


def providers() -> list[tuple[str, str]]:
    """The configured providers as (Streamlit's name, label to show), the top-level one ("default") first, then
    each `[auth.<name>]` in the file's order; empty without an usable [auth] section."""
    auth = _auth()
    if not auth:
        return []
    missing = [key for key in ("redirect_uri", "cookie_secret") if not auth.get(key)]
    if missing:
        _warn(f"single sign-on is off: [auth] in secrets.toml lacks {', '.join(missing)}")
        return []
    found: list[tuple[str, str]] = []
    if not isinstance(auth.get(DEFAULT), Mapping) and any(key in auth for key in REQUIRED):
        if all(auth.get(key) for key in REQUIRED):
            found.append((DEFAULT, _label(auth, DEFAULT_LABEL)))
        else:
            _warn(f"single sign-on: [auth] lacks one of {', '.join(REQUIRED)}; its provider is left out")
    for name, section in auth.items():
        if not isinstance(section, Mapping) or name == "client_kwargs" or not any(key in section for key in REQUIRED):
            continue
        if "_" in name or not all(section.get(key) for key in REQUIRED):
            _warn(f"single sign-on: [auth.{name}] is left out (a name without '_' and {', '.join(REQUIRED)} are "
                  "needed)")
            continue
        found.append((name, _label(section, DEFAULT_LABEL if name == DEFAULT else name[:1].upper() + name[1:])))
    return found


def login_path(provider: str) -> str:
    """The path that starts signing in with `provider` (a name from providers()): Streamlit's /auth/login with the
    provider in a token signed by Streamlit (auth_util.encode_provider_token). The token lasts 2 minutes, so make
    the path when the page or redirect that carries it is made."""
    from streamlit import config
    from streamlit.auth_util import encode_provider_token
    from streamlit.url_util import make_url_path

    if provider not in {name for name, _ in providers()}:
        raise ValueError(f"provider: expected one of the configured providers, got {provider!r}")
    return make_url_path(config.get_option("server.baseUrlPath") or "", "auth/login") + \
        "?provider=" + quote(encode_provider_token(provider), safe="")


def claims(request: Request) -> dict[str, Any] | None:
    """The claims in Streamlit's user cookie when it can be trusted (see the module's docstring), else None."""
    configured = {name for name, _ in providers()}
    if not configured:
        return None
    from streamlit.auth_util import get_cookie_with_chunks, get_origin_from_redirect_uri
    from streamlit.web.server.server_util import get_cookie_secret
    from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value
    from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

    secret = get_cookie_secret()
    cookies = request.cookies

    def verified(name: str) -> bytes | None:  # as Streamlit's own routes read it, but only when fresh
        value = cookies.get(name)
        if not value:
            return None
        return decode_signed_value(secret, name, value.encode("latin-1"), max_age_days=FRESH / dt.timedelta(days=1))

    try:
        raw = get_cookie_with_chunks(verified, USER_COOKIE_NAME)
        payload = json.loads(raw) if raw else None
    except (ValueError, UnicodeError):
        return None
    if not isinstance(payload, dict) or payload.get("is_logged_in") is not True:
        return None
    if payload.get("provider") not in configured or payload.get("origin") != get_origin_from_redirect_uri():
        return None
    return payload


def _email(request: Request) -> str | None:
    """The address the provider vouches for: the `email` claim, lower case, unless `email_verified` is false."""
    found = claims(request)
    if found is None or found.get("email_verified") in (False, "false", "False"):
        return None
    try:
        return accounts.check_email(found.get("email"))
    except RefusedError:
        return None


def account_from_request(engine: Engine, request: Request) -> Account | None:
    """The enabled account whose e-mail is the one in a trusted SSO cookie of this request, else None."""
    email = _email(request)
    if email is None:
        return None
    with Session(engine) as session:
        return session.execute(select(Account).where(func.lower(Account.email) == email,
                                                     ~Account.disabled)).scalar_one_or_none()


def unknown_email(request: Request) -> str | None:
    """The verified address in a trusted SSO cookie, for the message shown when account_from_request found no
    account for it ("no account has the address ...: ask your administrator to add it"); None without one. It
    does not look at the accounts: a disabled account's address comes back too."""
    return _email(request)


def clear_cookies(response: Response, request: Request | None = None) -> None:
    """Delete Streamlit's auth cookies (the user's claims and the provider's tokens, every chunk) on `response`,
    so that signing out of the workbench forgets the SSO identity too. With the request, the chunks it carries are
    deleted (as Streamlit's own /auth/logout does); without, chunks 1 to CHUNKS_CLEARED."""
    from streamlit import config
    from streamlit.web.server.starlette.starlette_server_config import TOKENS_COOKIE_NAME, USER_COOKIE_NAME

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    paths = {"/" + base, "/"}  # Streamlit sets them at the base path; older versions at /
    for cookie in (USER_COOKIE_NAME, TOKENS_COOKIE_NAME):
        names = {cookie, *(f"{cookie}_{i}" for i in range(1, CHUNKS_CLEARED + 1))} if request is None else \
            {cookie, *(name for name in request.cookies
                       if name.startswith(cookie + "_") and name[len(cookie) + 1:].isdigit())}
        for name in sorted(names):
            for path in sorted(paths):
                response.delete_cookie(name, path=path, httponly=True, samesite="lax")
