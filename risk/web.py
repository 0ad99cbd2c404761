"""Sign-in for the workbench's server (serve.py): the routes that set and clear the session cookie, and the gate that
sends a browser without a session to the sign-in page.

Streamlit's script cannot set a cookie, so signing in is a plain HTML form served here: the password is checked by
risk/accounts.py, the session's token goes into an HttpOnly, SameSite=Lax cookie (never into the address), and the
script reads that cookie with `st.context.cookies` (risk/ui/common.py, `account`). The gate is for people, not for
security: the script itself refuses to show anything without a valid session, and the services refuse every write
the account may not make (risk/access.py).

Routes:
- GET /signin: the sign-in form, or on an empty database the form that creates the first administrator;
- POST /signin: checks the form, starts a session, sets the cookie and goes to the workbench;
- GET /join/{token}: a one-time sign-in link (a workshop's QR code) asks to confirm who signs in;
- POST /join/{token}: uses the link (once) and signs in;
- GET /signout: ends the session, clears the cookie and shows the sign-in form again;
- GET /signin/sso/{provider}: single sign-on (risk/ui/sso.py) with a government's OpenID Connect provider, when
  `.streamlit/secrets.toml` has an `[auth]` section: Streamlit's own `st.login` routes do the OIDC part, then the gate
  (or the sign-in page) turns the provider's answer into a session of the account with that e-mail address.
Every form carries a token that must match a cookie set with it (a sign-in started from another site is refused).
"""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from risk import accounts, config
from risk.errors import RefusedError
from risk.services.setup import SchemaMismatchError

log = logging.getLogger("risk.web")

SESSION_COOKIE = "risk_session"
FORM_COOKIE = "risk_form"  # the anti-forgery token of the sign-in forms (double submit)
SIGNIN_PATH = "/signin"
# requests the gate lets through without a session: Streamlit's own endpoints and assets, and the sign-in routes
OPEN_PREFIXES = ("/_stcore/", "/static/", "/media/", "/component/", "/app/static/", "/auth/", "/oauth2callback",
                 "/favicon", SIGNIN_PATH, "/signout", "/join/")


def engine():
    """The configured database, made and migrated once per process (the first visit may be the sign-in page)."""
    from risk.db import get_engine
    from risk.services.setup import ensure_schema

    eng = get_engine(config.database_url())
    if not getattr(eng, "_risk_schema_checked", False):
        ensure_schema(eng, may_migrate=config.migrate_on_start())
        eng._risk_schema_checked = True  # type: ignore[attr-defined]
    return eng


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _next(value: Any) -> str:
    """Where to go after signing in: a path of this server only (never another site)."""
    text = str(value or "/")
    if not text.startswith("/") or text.startswith("//") or "\\" in text or any(ord(c) < 32 for c in text):
        return "/"
    return text


# --- the pages ------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: "Source Sans Pro", system-ui, sans-serif; background: #f7f8fa; color: #262730; margin: 0; }
main { max-width: 26rem; margin: 4rem auto; background: #fff; padding: 2rem 2.25rem; border-radius: .75rem;
       box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } p.lead { color: #555; margin: 0 0 1.5rem; }
label { display: block; font-weight: 600; margin: 1rem 0 .35rem; }
input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .6rem .7rem; font-size: 1rem;
       border: 1px solid #bbb; border-radius: .4rem; }
button { margin-top: 1.5rem; width: 100%; padding: .7rem; font-size: 1rem; font-weight: 600; color: #fff;
       background: #0b5cad; border: 0; border-radius: .4rem; cursor: pointer; }
.error { background: #fdecea; color: #8a1c12; padding: .75rem 1rem; border-radius: .4rem; margin-bottom: 1rem; }
.note { background: #e8f1fb; color: #0b3d6e; padding: .75rem 1rem; border-radius: .4rem; margin-bottom: 1rem; }
small { color: #555; display: block; margin-top: .35rem; }
a.sso { display: block; text-align: center; padding: .7rem; border: 1px solid #0b5cad; border-radius: .4rem;
        color: #0b5cad; font-weight: 600; text-decoration: none; } p.or { color: #555; margin: 1.25rem 0 0; }
"""


def _page(title: str, body: str, *, status: int = 200, form_token: str | None = None,
          request: Request | None = None) -> HTMLResponse:
    """A small page of its own (no script, no user text unescaped), with the form token's cookie when it has a
    form. It is never cached and never framed by another site."""
    document = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
                f"content=\"width=device-width, initial-scale=1\"><title>{html.escape(title)} · Shared-Service Risk "
                f"Workbench</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>")
    response = HTMLResponse(document, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    response.headers["Referrer-Policy"] = "no-referrer"
    if form_token is not None:
        response.set_cookie(FORM_COOKIE, form_token, httponly=True, samesite="strict", path="/",
                            secure=bool(request and _secure(request)))
    return response


def _field(label: str, name: str, kind: str = "text", value: str = "", hint: str = "", autocomplete: str = "") -> str:
    extra = f' autocomplete="{autocomplete}"' if autocomplete else ""
    note = f"<small>{html.escape(hint)}</small>" if hint else ""
    return (f'<label for="{name}">{html.escape(label)}</label><input id="{name}" name="{name}" type="{kind}" '
            f'value="{html.escape(value)}" required{extra}>{note}')


def _sso_links(next_path: str) -> str:
    """A link per single sign-on provider (none without an `[auth]` section)."""
    from risk.ui import sso

    links = "".join(f'<p><a class="sso" href="{SIGNIN_PATH}/sso/{quote(name)}?next={quote(next_path, safe="")}">'
                    f"Sign in with {html.escape(label)}</a></p>" for name, label in sso.providers())
    return f'<div class="sso-box">{links}<p class="or">or with a username and password:</p></div>' if links else ""


def _signin_page(request: Request, *, message: str = "", username: str = "", status: int = 200,
                 first_run: bool = False, full_name: str = "", next_path: str = "/") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    error = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    hidden = (f'<input type="hidden" name="form_token" value="{token}">'
              f'<input type="hidden" name="next" value="{html.escape(next_path)}">')
    if first_run:
        body = ("<h1>Shared-Service Risk Workbench</h1><p class=\"lead\">This workbench has no administrator yet. "
                "Create the administrator account: it can add the other accounts, load the demo or start a "
                "proposal.</p>" + error + f'<form method="post" action="{SIGNIN_PATH}">' + hidden
                + '<input type="hidden" name="first_run" value="1">'
                + _field("Username", "username", value=username, autocomplete="username",
                         hint="3 to 40 characters: lower-case letters, digits, dot, dash or underscore")
                + _field("Full name", "full_name", value=full_name, autocomplete="name")
                + _field("Password", "password", "password", autocomplete="new-password",
                         hint=f"At least {accounts.PASSWORD_MIN} characters")
                + "<button type=\"submit\">Create the administrator account</button></form>")
        return _page("Create the administrator account", body, status=status, form_token=token, request=request)
    body = ("<h1>Shared-Service Risk Workbench</h1><p class=\"lead\">Sign in with the account your administrator "
            "gave you.</p>" + error + _sso_links(next_path) + f'<form method="post" action="{SIGNIN_PATH}">' + hidden
            + _field("Username", "username", value=username, autocomplete="username")
            + _field("Password", "password", "password", autocomplete="current-password")
            + "<button type=\"submit\">Sign in</button></form>")
    return _page("Sign in", body, status=status, form_token=token, request=request)


def _signed_in(request: Request, session_token: str, next_path: str) -> Response:
    response = RedirectResponse(_next(next_path), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_token, max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
                        httponly=True, samesite="lax", secure=_secure(request), path="/")
    response.delete_cookie(FORM_COOKIE, path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_ok(request: Request, form: Any) -> bool:
    sent, kept = str(form.get("form_token") or ""), request.cookies.get(FORM_COOKIE) or ""
    return bool(sent) and secrets.compare_digest(sent, kept)


async def _from_sso(request: Request, eng, target: str) -> Response | None:
    """When the provider has just vouched for someone (Streamlit's signed cookie, risk/ui/sso.py): a session of the
    account with that e-mail address and the way back to `target`; the sign-in page saying that no account has the
    address; or None when there is no such answer."""
    from risk.ui import sso

    account = await run_in_threadpool(sso.account_from_request, eng, request)
    if account is not None:
        token = await run_in_threadpool(accounts.start_session, eng, account.id, _address(request))
        response = _signed_in(request, token, target)
        sso.clear_cookies(response, request)  # from now on only the workbench's own session counts
        return response
    email = sso.unknown_email(request)
    if email:
        response = _signin_page(request, status=403, next_path=target, message=(
            f"No enabled account has the address {email}: ask your administrator to add it to your account."))
        sso.clear_cookies(response, request)
        return response
    return None


async def signin_form(request: Request) -> Response:
    eng = await run_in_threadpool(engine)
    current = request.cookies.get(SESSION_COOKIE)
    target = _next(request.query_params.get("next"))
    if current and await run_in_threadpool(accounts.session_account, eng, current) is not None:
        return RedirectResponse(target, status_code=303)
    answered = await _from_sso(request, eng, target)
    if answered is not None:
        return answered
    first_run = not await run_in_threadpool(accounts.has_administrator, eng)
    return _signin_page(request, first_run=first_run, next_path=target)


async def signin_sso(request: Request) -> Response:
    """Start single sign-on with a provider: a fresh link into Streamlit's `st.login` route (its token lasts two
    minutes, so it is made when clicked, not when the page was drawn)."""
    from risk.ui import sso

    name = request.path_params["provider"]
    if name not in {n for n, _label in sso.providers()}:
        return _signin_page(request, status=404, message="That single sign-on provider is not set up here.")
    response = RedirectResponse(sso.login_path(name), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


async def signin_submit(request: Request) -> Response:
    eng = await run_in_threadpool(engine)
    form = await request.form()
    username = str(form.get("username") or "").strip()
    next_path = _next(form.get("next"))
    first_run = not await run_in_threadpool(accounts.has_administrator, eng)
    if not _form_ok(request, form):
        return _signin_page(request, status=400, first_run=first_run, username=username, next_path=next_path,
                            message="This form has expired or came from another site; please try again.")
    password = str(form.get("password") or "")
    address = _address(request)
    if first_run:
        full_name = str(form.get("full_name") or "").strip()
        try:
            await run_in_threadpool(lambda: accounts.create_first_administrator(
                eng, actor="system:first run", username=username, full_name=full_name, password=password))
        except RefusedError as exc:
            return _signin_page(request, message=str(exc), username=username, full_name=full_name, status=400,
                                first_run=True, next_path=next_path)
    elif form.get("first_run"):
        return _signin_page(request, status=409, next_path=next_path,
                            message="The administrator account already exists: sign in instead.")
    try:
        account = await run_in_threadpool(accounts.authenticate, eng, username, password, address)
        token = await run_in_threadpool(accounts.start_session, eng, account.id, address)
    except RefusedError as exc:
        return _signin_page(request, message=str(exc), username=username, status=401, next_path=next_path)
    return _signed_in(request, token, next_path)


async def signout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        eng = await run_in_threadpool(engine)
        await run_in_threadpool(accounts.end_session, eng, token)
    from risk.ui import sso

    response = RedirectResponse(SIGNIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    sso.clear_cookies(response, request)
    response.headers["Cache-Control"] = "no-store"
    return response


async def join_form(request: Request) -> Response:
    from risk.services import signin_links

    eng = await run_in_threadpool(engine)
    token = request.path_params["token"]
    who = await run_in_threadpool(signin_links.link_holder, eng, token)
    if who is None:
        return _page("Sign-in link", "<h1>This sign-in link does not work</h1><p class=\"error\" role=\"alert\">"
                     f"{html.escape(signin_links.UNUSABLE)}</p><p><a href=\"{SIGNIN_PATH}\">Sign in with a "
                     "password</a></p>", status=410)
    form_token = secrets.token_urlsafe(24)
    body = (f"<h1>Sign in as {html.escape(who)}</h1><p class=\"lead\">This link signs in once, on this device."
            "</p>" f'<form method="post" action="/join/{quote(token)}">'
            f'<input type="hidden" name="form_token" value="{form_token}">'
            f"<button type=\"submit\">Sign in as {html.escape(who)}</button></form>")
    return _page("Sign-in link", body, form_token=form_token, request=request)


async def join_submit(request: Request) -> Response:
    from risk.services import signin_links

    eng = await run_in_threadpool(engine)
    form = await request.form()
    if not _form_ok(request, form):
        return _page("Sign-in link", "<h1>Please try again</h1><p class=\"error\" role=\"alert\">This form has "
                     "expired or came from another site. Open the link again.</p>", status=400)
    try:
        session_token = await run_in_threadpool(signin_links.use_link, eng, request.path_params["token"],
                                                _address(request))
    except RefusedError as exc:
        return _page("Sign-in link", "<h1>This sign-in link does not work</h1><p class=\"error\" role=\"alert\">"
                     f"{html.escape(str(exc))}</p><p><a href=\"{SIGNIN_PATH}\">Sign in with a password</a></p>",
                     status=410)
    return _signed_in(request, session_token, "/")


ROUTES = [
    Route(SIGNIN_PATH, signin_form, methods=["GET"]),
    Route(SIGNIN_PATH, signin_submit, methods=["POST"]),
    Route(SIGNIN_PATH + "/sso/{provider}", signin_sso, methods=["GET"]),
    Route("/signout", signout, methods=["GET"]),
    Route("/join/{token}", join_form, methods=["GET"]),
    Route("/join/{token}", join_submit, methods=["POST"]),
]


# --- the gate -------------------------------------------------------------------------------------------

class SignInGate:
    """ASGI middleware: a browser asking for a page of the workbench without a valid session is sent to the
    sign-in page (which creates the administrator on an empty database). Streamlit's endpoints, assets and the
    sign-in routes pass; so does anything that is not a GET of a page."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or scope["path"].startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if "text/html" not in request.headers.get("accept", ""):
            await self.app(scope, receive, send)
            return
        token = request.cookies.get(SESSION_COOKIE)
        try:
            eng = await run_in_threadpool(engine)
        except SchemaMismatchError as exc:  # this server and the database are of different versions: say so
            await _page("The workbench is being upgraded", f"<p>{html.escape(str(exc))}</p><p>Try again in a few "
                        "minutes; if this stays, tell the administrator.</p>", status=503)(scope, receive, send)
            return
        if token and await run_in_threadpool(accounts.session_account, eng, token) is not None:
            await self.app(scope, receive, send)
            return
        target = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
        answered = await _from_sso(request, eng, _next(target))  # back from the provider (Streamlit sends to /)
        if answered is not None:
            await answered(scope, receive, send)
            return
        response = RedirectResponse(f"{SIGNIN_PATH}?next={quote(_next(target), safe='')}", status_code=303)
        response.headers["Cache-Control"] = "no-store"
        await response(scope, receive, send)
