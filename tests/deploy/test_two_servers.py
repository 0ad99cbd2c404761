"""The workbench as docs/DEPLOYMENT.md deploys it: one PostgreSQL database, two app servers (`streamlit run serve.py`
with deploy/config.toml as their Streamlit settings) and nginx in front, running deploy/nginx.conf itself (only its
addresses, certificate and log folder swapped for the test's), over HTTPS with a certificate made here.

A workshop on the demo's 911 proposal with its assessors split across the two servers: the facilitator opens a round
through the proxy; three assessors sign in through the proxy, each browser pinned by its `risk_route` cookie (the
sticky cookie nginx gives a new browser) to a server chosen here, and score; nginx's access log proves which server
answered every request of each browser, its WebSocket included. Then: every score is stored once, with one audit
event under its assessor; the facilitator's board counts are right seen through the proxy and seen on each server
directly (the sign-in made through the proxy is accepted by both: sessions are rows in the database); a page cached
by the data version (Activity) on each server shows the changes made through the other; after the reveal, made
through the proxy, the revealed results are the same on both servers and as the services compute them; the audit
chain, written by two processes at once, verifies.

Needs RISK_TEST_POSTGRES_URL (`.ci/run` starts a server), nginx and Debian's Chromium; skipped without them. Saves
test-artifacts/two-servers-board.png (the board through the proxy)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.appserver import free_port, healthy
from tests.browser.conftest import CHROMIUM, DEMO_ACCOUNTS, PASSWORD, SYSTEM, VIEWPORT

PG_URL = os.environ.get("RISK_TEST_POSTGRES_URL", "")
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                       if os.access(p, os.X_OK)), None)
if not PG_URL:
    pytest.skip("RISK_TEST_POSTGRES_URL is not set: the two-server deployment test needs a PostgreSQL server "
                "(.ci/run starts one)", allow_module_level=True)
if NGINX is None:
    pytest.skip("nginx is not installed (apt-get install nginx): the two-server deployment test runs the app "
                "servers behind it", allow_module_level=True)
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect  # noqa: E402  (after the skips)

from tests.browser.test_workshop_live import (  # noqa: E402  (the one-server workshop's helpers: one way to score)
    board_row,
    expect_no_error,
    reveal_block,
    score_blind,
    score_table,
    scroll_to_top,
)
from tests.browser.ui import TIMEOUT, click, expect_flash, expect_signed_in, keyed, settle, sign_in  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
STARTUP_TIMEOUT_S = 60  # two servers start at once on two shared cores

TITLE = "Tri-County Regional 911/CAD Consolidation"  # the demo's first proposal
FACILITATOR = "dana"
CATEGORY = "Legal"  # the round: its three risks, LEG-01..03
# the assessors (their accounts are linked to the demo team's members by full name and partner government), the
# app server each browser is pinned to, and what each scores: Marcus leaves LEG-03, so the board shows 2 of 3
ASSESSORS = {"priya": ("Priya Raman", "City of Brookfield", "A"),
             "tom": ("Tom Kessler", "City of Brookfield", "B"),
             "marcus": ("Marcus Oyelaran", "Harmon County", "B")}
SCORES = {"priya": {"LEG-01": (2, 3), "LEG-02": (3, 3), "LEG-03": (1, 2)},
          "tom": {"LEG-01": (4, 4), "LEG-02": (3, 3), "LEG-03": (2, 2)},
          "marcus": {"LEG-01": (3, 3), "LEG-02": (3, 4)}}
RISK_IDS = ("LEG-01", "LEG-02", "LEG-03")
TEAM_ASSESSORS = 5  # the demo team's assessors: the board lists those who have not signed in too


# --- the database: `risk init` (migrations first), then the demo and the accounts ---------------------------

def _admin_engine():
    from sqlalchemy import create_engine

    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _risk_command() -> list[str]:
    beside = Path(sys.executable).parent / "risk"
    return [str(beside)] if beside.exists() else [sys.executable, "-c", "from risk.cli import main; main()"]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A PostgreSQL database of its own, migrated by `risk init` as docs/DEPLOYMENT.md says, holding the demo
    portfolio and the accounts; dropped afterwards (its app servers' connections too)."""
    from sqlalchemy import make_url, text

    name = f"risk_two_servers_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        init = subprocess.run([*_risk_command(), "init"], cwd=REPO, env={**os.environ, "RISK_DATABASE_URL": url},
                              capture_output=True, text=True, timeout=120)
        assert init.returncode == 0, f"risk init failed:\n{init.stdout}\n{init.stderr}"
        _seed(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seed(url: str) -> None:
    from risk import accounts
    from risk.db import make_engine
    from risk.services.portfolio import load_demo

    engine = make_engine(url)
    try:
        load_demo(engine, actor=SYSTEM)
        people = {user: DEMO_ACCOUNTS[user] for user in ("ada", FACILITATOR)}  # the workbench has an administrator
        people.update({user: (name, partner, False) for user, (name, partner, _server) in ASSESSORS.items()})
        for username, (full_name, partner, admin) in people.items():
            accounts.create_account(engine, actor=SYSTEM, username=username, full_name=full_name, partner=partner,
                                    admin=admin, password=PASSWORD)
    finally:
        engine.dispose()


# --- two app servers ------------------------------------------------------------------------------------------

def _streamlit() -> list[str]:
    beside = Path(sys.executable).parent / "streamlit"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "streamlit"]


def _render_streamlit_config(home: Path) -> None:
    """deploy/config.toml as the service user's ~/.streamlit/config.toml (where the systemd unit has it), with the
    test's host name in server.allowedHosts."""
    text, n = re.subn(r'^allowedHosts = \[.*\]$', 'allowedHosts = ["127.0.0.1"]',
                      (REPO / "deploy" / "config.toml").read_text(), flags=re.M)
    assert n == 1, "deploy/config.toml: no `allowedHosts = [...]` line to point at the test's host"
    (home / ".streamlit").mkdir(parents=True)
    (home / ".streamlit" / "config.toml").write_text(text)


def application_name(server: str) -> str:
    """How a server's connections are named in pg_stat_activity (PGAPPNAME, as the systemd unit sets it)."""
    return f"risk-workbench-{server}"


@dataclass(frozen=True)
class AppServer:
    name: str  # "A" or "B"
    url: str  # http://127.0.0.1:<port>, for opening it directly (the public reaches it only through nginx)
    address: str  # 127.0.0.1:<port>, as nginx's log names it
    log_path: Path


@pytest.fixture(scope="module")
def app_servers(database: str, tmp_path_factory) -> Iterator[dict[str, AppServer]]:
    """Servers A and B on the one database, started as the systemd unit starts them (the same environment on
    both: the database, the audit key, the cookie secret), at once, and stopped afterwards."""
    folder = tmp_path_factory.mktemp("app_servers")
    home = folder / "home"
    _render_streamlit_config(home)
    env = {**os.environ, "RISK_DATABASE_URL": database, "HOME": str(home),
           "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32)}
    assert env.get("RISK_AUDIT_KEY"), "tests/conftest.py sets the audit key every process of the tests uses"
    servers: dict[str, AppServer] = {}
    processes: list[subprocess.Popen] = []
    try:
        for name in ("A", "B"):
            port = free_port()
            log_path = folder / f"server-{name}.log"
            with log_path.open("wb") as log:
                processes.append(subprocess.Popen(
                    [*_streamlit(), "run", str(REPO / "serve.py"), "--server.port", str(port),
                     "--server.address", "127.0.0.1"], cwd=REPO, env={**env, "PGAPPNAME": application_name(name)},
                    stdout=log, stderr=subprocess.STDOUT))
            servers[name] = AppServer(name, f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", log_path)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        for process, server in zip(processes, servers.values(), strict=True):
            while not healthy(server.url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"app server {server.name} did not start (exit code {process.poll()}):\n"
                                f"{server.log_path.read_text(errors='replace')}")
                time.sleep(0.25)
        for server in servers.values():
            log = server.log_path.read_text(errors="replace")
            assert "is not a valid config option" not in log, f"deploy/config.toml has an unknown option:\n{log}"
        yield servers
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


# --- nginx in front ----------------------------------------------------------------------------------------------

def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day: (certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def render_site(text: str, *, http_port: int, https_port: int, upstreams: list[str], cert: Path, key: Path,
                logs: Path) -> str:
    """deploy/nginx.conf with the test's addresses, certificate and log folder. Each change must find exactly what
    it expects, so that the test runs the file as shipped, not a guess at it."""
    def sub(pattern: str, replacement, expected: int) -> None:
        nonlocal text
        text, n = re.subn(pattern, replacement, text, flags=re.M)
        assert n == expected, f"deploy/nginx.conf: expected {expected} of {pattern!r}, found {n}"

    sub(r"^\s*listen \[::\]:\d+.*\n", "", 2)  # no IPv6 in the test
    sub(r"listen 80;", f"listen 127.0.0.1:{http_port};", 1)
    sub(r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", 1)
    sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", 1)
    sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", 1)
    sub(r"/var/log/nginx/", f"{logs}/", 2)
    servers = iter(upstreams)
    sub(r"^(\s*)server \S+:\d+\b", lambda m: f"{m.group(1)}server {next(servers)}", len(upstreams))
    return text


@dataclass(frozen=True)
class Deployment:
    proxy: str  # https://127.0.0.1:<port>: what the public opens
    plain: str  # http://127.0.0.1:<port>: the redirect to HTTPS
    servers: dict[str, AppServer]
    access_log: Path
    error_log: Path  # the site's, as deploy/nginx.conf names it
    tls: ssl.SSLContext  # trusts the test's certificate

    def server_of(self, upstream: str) -> str:
        return next((s.name for s in self.servers.values() if s.address == upstream), upstream)

    def log_lines(self) -> list[tuple[str, str, int, str, str]]:
        """(method, path, status, app server name, route) of each request nginx has logged."""
        pattern = re.compile(r'"(\S+) (\S+) [^"]*" (\d{3}) \d+ upstream=(.*?) route=([0-9a-f]{32}) ')
        return [(m[1], m[2], int(m[3]), self.server_of(m[4]), m[5])
                for m in map(pattern.search, self.access_log.read_text().splitlines()) if m]


@pytest.fixture(scope="module")
def deployment(app_servers: dict[str, AppServer], tmp_path_factory) -> Iterator[Deployment]:
    """nginx (unprivileged, in the foreground) on deploy/nginx.conf in front of servers A and B."""
    folder = tmp_path_factory.mktemp("nginx")
    for sub in ("logs", "temp"):
        (folder / sub).mkdir()
    cert, key = _certificate(folder)
    http_port, https_port = free_port(), free_port()
    site = render_site((REPO / "deploy" / "nginx.conf").read_text(), http_port=http_port, https_port=https_port,
                       upstreams=[s.address for s in app_servers.values()], cert=cert, key=key,
                       logs=folder / "logs")
    (folder / "risk-workbench.conf").write_text(site)
    temp = folder / "temp"
    # what Debian's /etc/nginx/nginx.conf gives the site file, with every path in the test's folder (as root, the
    # workers would otherwise run as nobody, who cannot enter pytest's private temporary folders)
    (folder / "nginx.conf").write_text(
        ("user root root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/logs/error.log warn;\n"
        "events { worker_connections 512; }\nhttp {\n"
        + "".join(f"    {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                        "scgi"))
        + f"    include {folder}/risk-workbench.conf;\n}}\n")
    command = [NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder), "-e", str(folder / "logs" / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, f"nginx -t refused deploy/nginx.conf:\n{checked.stderr}"
    tls = ssl.create_default_context(cafile=str(cert))
    deployed = Deployment(proxy=f"https://127.0.0.1:{https_port}", plain=f"http://127.0.0.1:{http_port}",
                          servers=app_servers, access_log=folder / "logs" / "risk-workbench.access.log",
                          error_log=folder / "logs" / "risk-workbench.error.log", tls=tls)
    with (folder / "logs" / "nginx.out").open("wb") as out:
        process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while _get(deployed, "/_stcore/health")[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not start (exit code {process.poll()}):\n"
                            f"{(folder / 'logs' / 'error.log').read_text(errors='replace')}")
            time.sleep(0.2)
        yield deployed
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


def _get(deployed: Deployment, path: str, *, base: str | None = None, cookie: str | None = None
         ) -> tuple[int, dict[str, list[str]]]:
    """GET through nginx without following redirects: (status, headers by lower-case name), or (0, {})."""
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=deployed.tls))
    request = urllib.request.Request((base or deployed.proxy) + path, headers={"Cookie": cookie} if cookie else {})
    try:
        with opener.open(request, timeout=5) as response:
            status, headers = response.status, response.headers
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
    except (urllib.error.URLError, OSError):
        return 0, {}
    found: dict[str, list[str]] = {}
    for name, value in headers.items():
        found.setdefault(name.lower(), []).append(value)
    return status, found


def route_to(deployed: Deployment) -> dict[str, str]:
    """A `risk_route` value that nginx sends to each app server: consistent hashing decides, so the test asks nginx
    (a request with each candidate, and the access log says where it went)."""
    found: dict[str, str] = {}
    for k in range(200):
        route = f"{k:032x}"
        status, headers = _get(deployed, "/_stcore/health", cookie=f"risk_route={route}")
        assert status == 200, status
        assert not [c for c in headers.get("set-cookie", []) if c.startswith("risk_route=")], \
            "nginx gave a new route to a browser that had a valid one"
        deadline = time.monotonic() + 5
        while not (went := [s for (_m, _p, _c, s, r) in deployed.log_lines() if r == route]):
            assert time.monotonic() < deadline, f"nginx did not log the request with route {route}"
            time.sleep(0.05)
        found.setdefault(went[0], route)
        if len(found) == len(deployed.servers):
            return found
    pytest.fail(f"200 routes all went to {set(found)}: is the upstream's hash on the route?")


# --- the browsers -------------------------------------------------------------------------------------------------

class Browsers:
    """Browser contexts (each a person's own browser), closed at the end whatever happens."""

    def __init__(self, browser: Browser) -> None:
        self.browser, self.contexts = browser, []

    def new(self) -> BrowserContext:
        context = self.browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)
        context.set_default_timeout(TIMEOUT)
        self.contexts.append(context)
        return context

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


# --- helpers ------------------------------------------------------------------------------------------------------

def db_rows(url: str, sql: str, **params) -> list[tuple]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


POOL_MOST = 15  # SQLAlchemy's QueuePool: 5 connections kept, 10 more while busy (docs/DEPLOYMENT.md)


def connections(url: str, peak: dict[str, int]) -> None:
    """Each app server's connections to the database now (pg_stat_activity), kept in `peak` when higher."""
    for name, count in db_rows(url, "SELECT application_name, count(*) FROM pg_stat_activity "
                                    "WHERE datname = current_database() GROUP BY application_name"):
        peak[name] = max(peak.get(name, 0), count)


def workshop_url(base: str, pid: int) -> str:
    return f"{base}/workshop?proposal={pid}"


def expect_workshop(page: Page, full_name: str, username: str, role: str) -> None:
    expect(page.get_by_role("heading", name=f"Workshop: {TITLE}")).to_be_visible(timeout=TIMEOUT)
    expect_signed_in(page, full_name, username, role, "partner government")


def open_directly(browsers: Browsers, server: AppServer, session_token: str, path: str) -> Page:
    """The facilitator's session opened on one app server directly, in a browser of its own holding only the
    session cookie that signing in through the proxy made (the server may well be the other one)."""
    context = browsers.new()
    context.add_cookies([{"name": "risk_session", "value": session_token, "url": server.url}])
    page = context.new_page()
    page.goto(server.url + path)
    settle(page)
    return page


def changes_shown(page: Page) -> Locator:
    """The Activity page's count of changes ("N changes")."""
    heading = page.get_by_role("heading", name=re.compile(r"^[\d,]+ changes?$"))
    expect(heading).to_be_visible(timeout=TIMEOUT)
    return heading


def revealed(page: Page) -> list[tuple[str, str]]:
    """The reveal as a page shows it: each risk's headline and the text of its table of scores."""
    headlines = page.get_by_test_id("stMarkdown").filter(has_text=re.compile(r"^LEG-\d\d .+ — "))
    expect(headlines).to_have_count(len(RISK_IDS), timeout=TIMEOUT)
    shown = []
    for line in headlines.all_inner_texts():
        table = score_table(reveal_block(page, line.split(" ", 1)[0]))
        expect(table).to_contain_text(re.compile(r"Assessor [A-E]"), timeout=TIMEOUT)
        shown.append((line.strip(), table.text_content() or ""))
    return shown


# --- the tests ----------------------------------------------------------------------------------------------------

def test_plain_http_is_sent_to_https_and_a_new_browser_gets_a_route(deployment: Deployment) -> None:
    status, headers = _get(deployment, "/workshop?proposal=1", base=deployment.plain)
    assert status == 301 and headers["location"][0].startswith("https://127.0.0.1/workshop?proposal=1"), headers
    status, headers = _get(deployment, "/_stcore/health")
    route = [c for c in headers.get("set-cookie", []) if c.startswith("risk_route=")]
    assert status == 200 and len(route) == 1, headers
    assert re.fullmatch(r"risk_route=[0-9a-f]{32}; Path=/; HttpOnly; Secure; SameSite=Lax", route[0]), route
    assert headers["strict-transport-security"] == ["max-age=31536000"]


def test_a_workshop_split_across_two_app_servers(browser: Browser, deployment: Deployment, database: str) -> None:
    browsers = Browsers(browser)
    routes: dict[str, str] = {}  # username -> the route cookie of their browser
    try:
        run_workshop(browsers, deployment, database, routes)
    finally:
        browsers.close()
    # every request of each browser went to one app server, the one it was pinned to; its WebSocket too (nginx
    # logs a WebSocket when it closes: the contexts are closed now)
    deadline = time.monotonic() + 15
    while True:
        lines = deployment.log_lines()
        served = {who: {server for (_m, _p, _c, server, r) in lines if r == route} for who, route in routes.items()}
        sockets = {who: {server for (_m, path, status, server, r) in lines
                         if r == route and path == "/_stcore/stream" and status == 101}
                   for who, route in routes.items()}
        if all(sockets.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    for who, (_name, _partner, server) in ASSESSORS.items():
        assert served[who] == {server}, f"{who}'s browser was served by {served[who]}, not by {server} alone"
        assert sockets[who] == {server}, f"{who}'s WebSocket: {sockets[who]}"
    assert len(served[FACILITATOR]) == 1 and sockets[FACILITATOR] == served[FACILITATOR], \
        f"the facilitator's browser, routed by the cookie nginx gave it, was served by {served[FACILITATOR]}"
    assert {server for *_rest, server in ASSESSORS.values()} == set(deployment.servers)
    # nginx never failed to reach an app server (a failure counts towards taking the server out, which moves its
    # browsers to the other one)
    failed = [line for line in deployment.error_log.read_text().splitlines() if "upstream" in line]
    assert failed == [], "\n".join(failed)


def run_workshop(browsers: Browsers, deployed: Deployment, db_url: str, routes: dict[str, str]) -> None:
    from risk.db import make_engine
    from risk.services import activity
    from risk.services import workshop as ws

    servers = deployed.servers
    ((pid,),) = db_rows(db_url, "SELECT id FROM proposal WHERE title = :t", t=TITLE)
    pins = route_to(deployed)
    peak: dict[str, int] = {}  # application name -> the most connections seen at once

    # 1. The facilitator signs in through the proxy, in a browser that has no route yet: nginx gives it one.
    farah = browsers.new().new_page()
    sign_in(farah, workshop_url(deployed.proxy, pid), FACILITATOR, PASSWORD)
    expect_workshop(farah, DEMO_ACCOUNTS[FACILITATOR][0], FACILITATOR, "facilitator")
    cookies = {c["name"]: c for c in farah.context.cookies()}
    assert re.fullmatch(r"[0-9a-f]{32}", cookies["risk_route"]["value"]), cookies["risk_route"]
    routes[FACILITATOR] = cookies["risk_route"]["value"]
    session = cookies["risk_session"]
    assert session["secure"] and session["httpOnly"], "through HTTPS the sign-in cookie is Secure (X-Forwarded-Proto)"

    # 2. The same session on each app server directly: both accept it (sessions are rows in the database). Each
    # shows the Activity page first, so that each server has cached it at today's data version.
    direct = {name: open_directly(browsers, server, session["value"], f"/activity?proposal={pid}")
              for name, server in servers.items()}
    before = {name: changes_shown(page).inner_text() for name, page in direct.items()}
    assert before["A"] == before["B"], before

    # 3. The facilitator opens a blind round on the legal risks, through the proxy.
    form = farah.get_by_test_id("stForm").filter(has_text="Open a scoring round")
    expect(form).to_be_visible(timeout=TIMEOUT)
    categories = keyed(farah, f"round_categories_{pid}")
    categories.click()
    farah.get_by_role("option", name=CATEGORY, exact=True).click()
    farah.keyboard.press("Escape")
    expect(categories).to_contain_text(CATEGORY, timeout=TIMEOUT)
    click(farah, form.get_by_role("button", name="Open the round"))
    expect_flash(farah, "The round is open: assessors can score now.")
    open_heading = farah.get_by_role("heading", name=re.compile(r"^Inherent round \d+ is open: scores are blind$"))
    expect(open_heading).to_be_visible(timeout=TIMEOUT)
    number = int(re.search(r"round (\d+)", open_heading.inner_text())[1])
    ((round_id, scope),) = db_rows(db_url, "SELECT id, scope FROM round WHERE proposal_id = :p AND status = 'open'",
                                   p=pid)
    risk_pks = dict(db_rows(db_url, "SELECT risk_id, id FROM risk WHERE proposal_id = :p", p=pid))
    assert sorted(scope) == sorted(risk_pks[r] for r in RISK_IDS)

    # 4. The assessors sign in through the proxy, each browser pinned to its server, and score; their saves go to
    # the two servers in turn.
    pages: dict[str, Page] = {}
    for username, (full_name, _partner, server) in ASSESSORS.items():
        context = browsers.new()
        context.add_cookies([{"name": "risk_route", "value": pins[server], "url": deployed.proxy}])
        routes[username] = pins[server]
        pages[username] = page = context.new_page()
        sign_in(page, workshop_url(deployed.proxy, pid), username, PASSWORD)
        expect_workshop(page, full_name, username, "assessor")
        expect(page.get_by_role("heading", name=f"Inherent round {number}: your blind scores")).to_be_visible(
            timeout=TIMEOUT)
    for risk_id in RISK_IDS:
        for username, scores in SCORES.items():
            if risk_id in scores:
                score_blind(pages[username], risk_id, *scores[risk_id])
    for username, scores in SCORES.items():
        expect(pages[username].get_by_test_id("stProgress")).to_contain_text(
            f"You have scored {len(scores)} of {len(RISK_IDS)} risks", timeout=TIMEOUT)
        expect_no_error(pages[username])

    connections(db_url, peak)

    # 5. Every score stored once, with one audit event under its assessor's account.
    stored = db_rows(db_url, "SELECT a.username, r.risk_id, s.likelihood, s.impact FROM score s "
                             "JOIN team_member t ON t.id = s.assessor_id JOIN account a ON a.id = t.account_id "
                             "JOIN risk r ON r.id = s.risk_pk WHERE s.round_id = :r", r=round_id)
    expected = sorted((user, risk_id, *value) for user, scores in SCORES.items() for risk_id, value in scores.items())
    assert sorted(stored) == expected
    events = db_rows(db_url, "SELECT actor, action, count(*) FROM audit_event WHERE entity = 'score' "
                             "AND entity_id LIKE :prefix GROUP BY actor, action", prefix=f"{round_id}/%")
    assert sorted(events) == sorted((user, "create", len(scores)) for user, scores in SCORES.items())

    # 6. The board's counts, through the proxy and on each server directly (where the page is opened now: the
    # board then follows by itself, every 3 s).
    for name, page in direct.items():
        page.goto(workshop_url(servers[name].url, pid))
        settle(page)
    boards = {"proxy": farah, **direct}
    names = {user: full_name for user, (full_name, _p, _s) in ASSESSORS.items()}
    for page in boards.values():
        for username, scores in SCORES.items():
            expect(board_row(page, names[username])).to_contain_text(f"{len(scores)} of {len(RISK_IDS)}",
                                                                     timeout=TIMEOUT)
        for nobody in ("Elena Vargas", "Sam Greer"):
            expect(board_row(page, nobody)).to_contain_text(f"0 of {len(RISK_IDS)}", timeout=TIMEOUT)
        caption = page.get_by_test_id("stCaptionContainer").filter(has_text="have scored every risk")
        expect(caption).to_contain_text(f"2 of {TEAM_ASSESSORS} have scored every risk", timeout=TIMEOUT)
        expect_no_error(page)
    connections(db_url, peak)
    scroll_to_top(farah, open_heading)
    ARTIFACTS.mkdir(exist_ok=True)
    farah.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)
    farah.screenshot(path=ARTIFACTS / "two-servers-board.png")

    # 7. The Activity page, cached by the data version on each server, shows what was done through the other.
    engine = make_engine(db_url)
    try:
        changes = len(activity.proposal_activity(engine, pid))
        for name, page in direct.items():
            page.goto(f"{servers[name].url}/activity?proposal={pid}")
            settle(page)
            expect(changes_shown(page)).to_have_text(f"{changes:,} changes", timeout=TIMEOUT)
        assert f"{changes:,} changes" != before["A"]

        # 8. The reveal, through the proxy; the assessors' pages on both servers show it by themselves.
        click(farah, keyed(farah, f"reveal_round_{round_id}").get_by_role("button", name="Reveal the scores"))
        expect_flash(farah, "Revealed.")
        revealed_heading = f"Inherent round {number}: the scores revealed"
        expect(farah.get_by_role("heading", name=revealed_heading)).to_be_visible(timeout=TIMEOUT)
        for page in pages.values():
            expect(page.get_by_role("heading", name=revealed_heading)).to_be_visible(timeout=TIMEOUT)

        # ...the same on both servers, and what the services compute.
        shown = {"proxy": revealed(farah)}
        for name, page in direct.items():
            page.goto(workshop_url(servers[name].url, pid))
            settle(page)
            expect(page.get_by_role("heading", name=revealed_heading)).to_be_visible(timeout=TIMEOUT)
            shown[name] = revealed(page)
            expect_no_error(page)
        assert shown["A"] == shown["B"] == shown["proxy"], shown
        truth = ws.reveal(engine, round_id).risks
        for (line, table), risk in zip(shown["A"], truth, strict=True):
            assert line.startswith(f"{risk.risk_id} {risk.title} — {risk.level} ({risk.likelihood}×{risk.impact}; "
                                   f"mean {risk.mean_likelihood}×{risk.mean_impact})"), (line, risk)
            assert len(re.findall(r"Assessor [A-E]", table)) == len(risk.scores), table
        assessor_lines = {user: [line for line, _t in revealed(page)] for user, page in pages.items()}
        for user, lines in assessor_lines.items():
            assert lines == [line for line, _t in shown["A"]], (user, lines)

        # 9. Two processes wrote the audit chain at once: it verifies, rows and all.
        from risk import audit

        audit.verify(engine)
    finally:
        engine.dispose()

    # 10. Each server used its own pool, within its bounds.
    connections(db_url, peak)
    print(f"connections per app server, at most: {peak}")
    for name in servers:
        assert 1 <= peak.get(application_name(name), 0) <= POOL_MOST, peak
