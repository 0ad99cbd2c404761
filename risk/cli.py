"""The `risk` command: a thin shell over the services.

Data goes to standard output (a table, or JSON with --format json); messages and progress go to standard
error. Exit 0 on success, 1 when input is refused, 2 on wrong usage. Whoever runs the command holds the database:
it acts as the operator, with an administrator's rights, and every change is recorded under the operating-system
login, `cli:<login>` (docs/PERMISSIONS.md)."""

from __future__ import annotations

import gc
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from risk.errors import AuditError, RefusedError, StorageError

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
matrix_app = typer.Typer(help="Risk matrices: list, show, and import CISO Assistant files.", no_args_is_help=True)
proposals_app = typer.Typer(help="Shared-service proposals.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: its keyed hash chain, its head, and the data checked against it "
                        "(docs/AUDIT.md).", no_args_is_help=True)
catalogue_app = typer.Typer(help="The starter catalogue of shared-service risk templates.", no_args_is_help=True)
app.add_typer(matrix_app, name="matrix")
app.add_typer(proposals_app, name="proposals")
app.add_typer(audit_app, name="audit")
app.add_typer(catalogue_app, name="catalogue")


class Format(StrEnum):
    table = "table"
    json = "json"


def say(message: str) -> None:
    """A message for the person at the terminal (standard error, so standard output stays data)."""
    typer.echo(message, err=True)


def refuse(message: str) -> typer.Exit:
    say(f"refused: {message}")
    return typer.Exit(code=1)


def fail(message: str) -> typer.Exit:
    """The storage failed (a full disk, a lost database): the message in words, exit 1."""
    say(f"error: {message}")
    return typer.Exit(code=1)


_collector = {"paused": False}


def _pause_collector() -> None:
    """Pause Python's cyclic garbage collector while a command starts. The start allocates the libraries' and the
    tables' definitions, all kept to the end, and the collector went through them again and again: about 0.3 s of
    a `risk export` here (docs/PERFORMANCE.md). `started()` turns it back on."""
    if gc.isenabled():
        gc.disable()
        _collector["paused"] = True


def started() -> None:
    """The command has loaded what it needs: what is loaded so far is set aside for good (gc.freeze) and the
    collector runs again, for the work itself. Called once the database is opened; nothing when it was not paused
    (a test calling the commands in its own process)."""
    if _collector["paused"]:
        _collector["paused"] = False
        gc.freeze()
        gc.enable()


def engine():
    """The configured database, migrated to the current schema when it is not; exit 1 in words when it cannot be
    reached or opened."""
    from risk.db import get_engine
    from risk.services.setup import ensure_schema

    eng = get_engine()
    started()
    try:
        made_key = ensure_schema(eng)
    except AuditError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        reason = _storage_reason(exc)
        if reason is None:
            raise
        raise fail(f"{reason}; nothing was changed") from None
    if made_key:
        say(made_key)
    return eng


def _storage_reason(exc: BaseException) -> str | None:
    from risk.store import storage_reason

    return storage_reason(exc)


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max([len(c)] + [len(str(r.get(c, "") if r.get(c) is not None else "")) for r in rows])
              for c in columns}
    typer.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    typer.echo("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        typer.echo("  ".join(str(r.get(c) if r.get(c) is not None else "").ljust(widths[c])
                             for c in columns).rstrip())


def print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.callback()
def main_options(
    as_: Annotated[str | None, typer.Option("--as", hidden=True, help="Ignored: changes are recorded under "
                                            "cli:<login>.")] = None,
) -> None:
    """Shared-Service Risk Workbench: assess the risks of sharing technology between local governments."""
    if as_ is not None:
        say(f"note: --as is ignored: the command acts as the operator and records changes under {login_actor()}, "
            "not as a team member")


@app.command()
def init() -> None:
    """Create the database, or bring its schema up to date (Alembic migrations), and make the audit key file when a
    new database has no key (docs/AUDIT.md)."""
    from risk import audit
    from risk.db import current_revision, get_engine, migrate

    eng = get_engine()
    started()
    before = current_revision(eng)
    migrate(eng)
    after = current_revision(eng)
    url = eng.url.render_as_string(hide_password=True)
    say(f"database {url}: schema {'already at' if before == after else 'migrated to'} revision {after}")
    try:
        made = audit.ensure_key(eng)
    except AuditError as exc:
        raise fail(str(exc)) from None
    if made:
        say(made)
    try:
        audit.audit_key()
    except AuditError as exc:
        say(f"warning: {exc}")
    if audit.predates_key(eng):
        say("note: the audit log predates the keyed chain, and changes are refused until `risk audit rekey` chains "
            "it with the key (docs/AUDIT.md)")


@matrix_app.command("list")
def matrix_list(fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table) -> None:
    """The matrices proposals can score on: built-in and imported."""
    from risk.services.matrices import list_matrices

    rows = [{"name": m.name, "levels": len(m.levels), "level_names": ", ".join(m.levels), "title": m.title}
            for m in list_matrices(engine())]
    if fmt == Format.json:
        print_json([{**r, "level_names": r["level_names"].split(", ")} for r in rows])
    else:
        print_table(rows, ["name", "levels", "level_names", "title"])


@matrix_app.command("show")
def matrix_show(
    name: Annotated[str, typer.Argument(help="The matrix's name, such as nist-800-30.")],
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """One matrix: its levels (lowest first) and its grid, rows = likelihood 1 to 5, columns = impact 1 to 5."""
    from risk.services.matrices import load_matrix

    try:
        m = load_matrix(engine(), name)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    if fmt == Format.json:
        print_json(m.as_dict())
        return
    typer.echo(f"{m.name}: {m.title}")
    typer.echo(f"levels, lowest first: {', '.join(m.levels)}")
    rows = [{"likelihood": f"{li} {m_label}", **{f"impact {i}": m.levels[m.grid[li - 1][i - 1]] for i in range(1, 6)}}
            for li, m_label in reversed(list(enumerate(("Very Low", "Low", "Moderate", "High", "Very High"),
                                                       start=1)))]
    print_table(rows, ["likelihood"] + [f"impact {i}" for i in range(1, 6)])


@matrix_app.command("import")
def matrix_import(
    file: Annotated[Path, typer.Argument(help="A CISO Assistant risk-matrix library file (YAML).",
                                         exists=True, dir_okay=False, readable=True)],
    name: Annotated[str | None, typer.Option(help="Store the matrix under this name (a file with one "
                                             "matrix only); default: its ref_id.")] = None,
) -> None:
    """Import the 5x5 matrices of a CISO Assistant file; a file with any other size, a non-monotone grid or YAML
    aliases is refused and nothing is stored."""
    from risk.services.matrices import import_matrix_file

    try:
        stored = import_matrix_file(engine(), file.read_bytes(), actor=login_actor(), name=name, source=file.name)
    except RefusedError as exc:
        raise refuse(f"{file.name}: {exc}") from None
    for m in stored:
        say(f"imported matrix {m.name!r} ({len(m.levels)} levels: {', '.join(m.levels)})")


@proposals_app.command("list")
def proposals_list(fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table) -> None:
    """Every proposal, ordered by id."""
    from risk.services.proposals import list_proposals

    rows = [{"id": p.id, "title": p.title, "service_type": p.service_type, "status": p.status,
             "phase": p.phase, "matrix": p.matrix, "aggregation": p.aggregation}
            for p in list_proposals(engine(), actor=login_actor())]
    if fmt == Format.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "title", "service_type", "status", "phase", "matrix"])


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"
    pdf = "pdf"


@app.command()
def export(
    proposal: Annotated[list[int] | None, typer.Option("--proposal", help="A proposal's id (repeatable).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every proposal.")] = False,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="json: the full-fidelity export; csv: the register; "
                                              "xlsx: the register with summary, method, heat maps, scores and "
                                              "actions; pdf: the meeting packet")] = ExportFormat.json,
    output: Annotated[str, typer.Option("-o", "--output", help="File to write; - for standard output "
                                        "(json and csv only).")] = "-",
) -> None:
    """Export proposals: the full-fidelity JSON, the scored register as CSV or XLSX, or a meeting packet (PDF)."""
    if bool(proposal) == all_:
        raise typer.BadParameter("give --proposal ID or --all (one of them)")
    if fmt in (ExportFormat.xlsx, ExportFormat.pdf) and output == "-":
        raise typer.BadParameter(f"{fmt.value.upper()} needs a file: give -o FILE.{fmt.value}")
    if fmt == ExportFormat.pdf and (all_ or len(proposal or []) != 1):
        raise typer.BadParameter("a meeting packet is made for one proposal: give one --proposal ID")
    # the services after the usage checks: wrong usage is told at once, without importing the database layer
    from risk.services.json_export import export_json
    from risk.services.register_export import check_proposal_ids, export_csv, export_packet, export_xlsx

    eng = engine()
    ids = None if all_ else proposal
    actor = login_actor()
    try:
        if fmt == ExportFormat.json:
            if ids is not None:
                check_proposal_ids(eng, ids, actor=actor)
            data = export_json(eng, ids, actor=actor)
        elif fmt == ExportFormat.csv:
            data = export_csv(eng, ids, actor=actor)
        elif fmt == ExportFormat.pdf:
            data = export_packet(eng, ids[0], actor=actor)
        else:
            data = export_xlsx(eng, ids, progress=lambda f: say(f"xlsx: {f:.0%} of the register written"), actor=actor)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    if output == "-":
        sys.stdout.buffer.write(data if fmt != ExportFormat.json else data + b"\n")
        sys.stdout.flush()
    else:
        target = Path(output)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)  # a reader never sees half a file
        say(f"wrote {target} ({len(data):,} bytes)")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A register (.csv, .xlsx) or a workbench JSON export (.json).",
                                         exists=True, dir_okay=False, readable=True)],
    proposal: Annotated[int | None, typer.Option("--proposal", help="Import a register into this proposal: rows "
                                                 "are matched on risk_id, existing risks updated, new ones added.")
                        ] = None,
    new: Annotated[str | None, typer.Option("--new", help="Import into a new proposal with this title.")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="THEIRS=OURS: read their column as ours "
                                                   "(THEIRS= leaves it out); repeat for each column.")] = None,
    mapping: Annotated[str | None, typer.Option("--mapping", help="Use a column mapping saved in the app under "
                                                "this name (--map adds to it).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report; change nothing.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="table or json (the report)")] = Format.table,
) -> None:
    """Import a risk register from CSV or XLSX (into --proposal ID or --new TITLE), or proposals from a workbench
    JSON export (every proposal in it added as new; with --new it must hold one). The whole file is checked first;
    a refused file changes nothing, and each problem names its row (the header is row 1) and field."""
    from risk.services.json_import import import_json
    from risk.services.register_import import import_register, parse_map

    eng = engine()
    suffix = file.suffix.lower()
    data = file.read_bytes()
    if suffix == ".json":
        if proposal is not None or map_ or mapping:
            raise refuse("--proposal, --map and --mapping are for spreadsheets; a JSON export adds new proposals")
        try:
            report = import_json(eng, data, actor=login_actor(), new_title=new, dry_run=dry_run,
                                 progress=Progress(f"import {file.name}"))
        except StorageError:
            raise
        except RefusedError as exc:  # the operator is refused nothing; a refusal here is a check of the file
            raise refuse(f"{file.name}: {exc}") from None
    else:
        from risk.services.mappings import get_mapping

        try:
            saved = get_mapping(eng, mapping) if mapping else None
            columns = parse_map(map_ or [])
        except RefusedError as exc:
            raise refuse(str(exc)) from None
        try:
            report = import_register(eng, data, file.name, actor=login_actor(), proposal_id=proposal, new_title=new,
                                     mapping=columns, saved=saved, dry_run=dry_run,
                                     progress=lambda f, what: say(f"import {file.name}: {what} ({f:.0%})"))
        except StorageError:
            raise
        except RefusedError as exc:
            raise refuse(f"{file.name}: {exc}") from None
    if fmt == Format.json:
        print_json({k: report[k] for k in ("added", "changed", "unchanged", "problems")})
    elif not report["problems"]:
        typer.echo(f"added {report['added']} risks, changed {report['changed']}, unchanged {report['unchanged']}"
                   + (" (dry run: nothing written)" if dry_run else ""))
    for note in report.get("notes", []):
        say(f"note: {note}")
    if report["problems"]:
        for problem in report["problems"]:
            place = ", ".join(x for x in (f"row {problem['row']}" if problem["row"] else "", problem["field"] or "")
                              if x)
            say(f"refused: {file.name}{': ' + place if place else ''}: {problem['message']}")
        say("nothing was imported")
        raise typer.Exit(code=1)
    if not dry_run:
        ids = report["proposal_ids"]
        say(f"imported {len(ids)} proposal{'s' if len(ids) != 1 else ''} (id{'s' if len(ids) != 1 else ''} "
            f"{', '.join(map(str, ids))})" if suffix == ".json" else f"imported into proposal {ids[0]}")


@catalogue_app.command("list")
def catalogue_list(
    category: Annotated[str | None, typer.Option(help="Only this category (key or name, any case).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """The risk templates, in cause, event, consequence form, with treatment, tags and sources."""
    from risk.catalogue import templates
    from risk.scoring import category_key

    try:
        key = category_key(category) if category else None
    except ValueError as exc:
        raise refuse(f"--category: {exc}") from None
    items = templates(key)
    if fmt == Format.json:
        print_json([t.as_dict() for t in items])
    else:
        print_table([{"id": t.template_id, "category": t.category, "title": t.title, "treatment": t.treatment,
                      "tags": ", ".join(t.tags)} for t in items], ["id", "category", "title", "treatment", "tags"])


class Progress:
    """Progress on standard error: a line every tenth of the work (and at the end)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        step = done * 10 // total
        if step != self.last or done == total:
            self.last = step
            say(f"{self.what}: {done}/{total} proposals")


@app.command()
def demo(
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Generate a synthetic portfolio instead.")] = False,
    proposals: Annotated[int, typer.Option(min=1, help="Synthetic: number of proposals.")] = 10,
    risks: Annotated[int, typer.Option(min=1, max=500, help="Synthetic: risks per proposal.")] = 40,
    assessors: Annotated[int, typer.Option(min=1, max=100, help="Synthetic: assessors per proposal.")] = 8,
    seed: Annotated[int, typer.Option(help="Synthetic: random seed; the same seed gives the same data.")] = 1,
) -> None:
    """Load the demo portfolio (three realistic proposals), or a synthetic one with --synthetic."""
    from risk.services.portfolio import load_demo, load_synthetic

    eng = engine()
    try:
        if synthetic:
            result = load_synthetic(eng, actor=login_actor(), proposals=proposals, risks=risks, assessors=assessors,
                                    seed=seed, progress=Progress(f"synthetic seed {seed}"))
            what = f"synthetic portfolio with seed {seed}"
        else:
            result = load_demo(eng, actor=login_actor(), progress=Progress("demo"))
            what = "demo portfolio"
    except StorageError as exc:
        raise fail(str(exc)) from None
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    ids = ", ".join(map(str, result.proposal_ids[:10])) + (" ..." if len(result.proposal_ids) > 10 else "")
    if result.loaded and result.kept:
        say(f"completed the {what}: an earlier load had stored {result.kept} of its {len(result.proposal_ids)} "
            f"proposals, the other {len(result.proposal_ids) - result.kept} are added now (ids {ids})")
    elif result.loaded:
        say(f"loaded the {what}: {len(result.proposal_ids)} proposals (ids {ids})")
    else:
        say(f"the {what} is already there (proposal ids {ids}); nothing was added")


@audit_app.command("head")
def audit_head() -> None:
    """Print the audit log's head, ID:HASH (its latest event's number and keyed hash), as every export carries it.
    Exit 1 when the log holds no event yet."""
    from risk import audit

    found = audit.head(engine())
    if found is None:
        raise refuse("the audit log holds no events yet: there is no head")
    typer.echo(found)


@audit_app.command("verify")
def audit_verify(
    head: Annotated[str | None, typer.Option("--head", help="A head published earlier (ID:HASH, from an export, a "
                                             "packet or `risk audit head`): that event must still be in the chain, "
                                             "unchanged.")] = None,
    head_key_file: Annotated[Path | None, typer.Option("--head-key-file", help="The key the --head was made under, "
                                                       "when the key has been rotated since.", exists=True,
                                                       dir_okay=False)] = None,
) -> None:
    """Check the audit record: every event's keyed hash and its link to the one before, the published --head if
    given, and every audited table's rows against their last audited state. Exit 0 when it verifies (printing the
    events and rows checked and the head), 1 naming the first event, or table, row and field, that does not."""
    from risk import audit

    eng = engine()
    try:
        head_key = audit.read_key_file(head_key_file) if head_key_file else None
        report = audit.verify(eng, head=head, head_key=head_key)
    except AuditError as exc:
        say(f"not verified: {exc}")
        raise typer.Exit(code=1) from None
    typer.echo(report.summary())


@audit_app.command("rekey")
def audit_rekey(
    old_key_file: Annotated[Path | None, typer.Option("--old-key-file", help="The key the log is chained with now "
                                                      "(a key rotation); without it, the log must be one from before "
                                                      "the keyed chain (plain SHA-256).", exists=True,
                                                      dir_okay=False)] = None,
    unverified: Annotated[bool, typer.Option("--unverified", help="The old key is lost: chain the log again without "
                                             "checking it (recorded as such).")] = False,
    adopt_data: Annotated[bool, typer.Option("--adopt-data", help="Record every audited table's rows as they stand "
                                             "(one adopt event per table), for rows the old log cannot account "
                                             "for.")] = False,
) -> None:
    """Chain every audit event again with the audit key, once the log as it is verifies: a database from before the
    keyed chain, or a key rotation (--old-key-file). One transaction, recorded as a `rekey` event holding the head
    before. Stop the app first (docs/AUDIT.md)."""
    from risk import audit

    eng = engine()
    try:
        old_key = audit.read_key_file(old_key_file) if old_key_file else None
        report = audit.rekey(eng, actor=login_actor(), old_key=old_key, unverified=unverified, adopt=adopt_data)
    except AuditError as exc:
        raise refuse(str(exc)) from None
    say(f"chained {report.events:,} audit events again with the audit key (they were: {report.source}); head before "
        f"{report.previous_head or 'none'}" + (f"; recorded the rows of {len(report.adopted)} tables as they stand"
                                                if report.adopted else ""))
    typer.echo(report.head)


@audit_app.command("new-key")
def audit_new_key(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to write it (default: the key file, "
                                                "RISK_AUDIT_KEY_FILE or data/audit.key).")] = None,
) -> None:
    """Make a new audit key file, its owner's only (0600); an existing file is never overwritten. The key itself is
    never printed. For a rotation: move the old key aside, make a new one, then `risk audit rekey --old-key-file`."""
    from risk import audit

    path = output or audit.key_file()
    try:
        path, made = audit.create_key_file(path)
    except OSError as exc:
        raise fail(f"the key file {path} could not be written ({exc.strerror or exc})") from None
    if not made:
        raise refuse(f"{path} exists already: it is kept (move it aside first to make a new key)")
    say(f"made the audit key {path} (its owner's only); back it up apart from the database")


# --- users: accounts that sign in (docs/ACCOUNTS.md) ----------------------------------------------------

users_app = typer.Typer(help="Accounts that sign in: add, list, disable, set a password, end sessions. Changes "
                             "are recorded under your operating-system login (cli:<login>).",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")


def login_actor() -> str:
    """Who acts from the command line: `cli:<operating-system login>`, the operator (risk/access.py); never a name
    given on the command line or in the environment, which anybody may set to anything."""
    import getpass

    try:
        login = getpass.getuser()
    except Exception:  # no login name in some containers
        login = "unknown"
    return f"cli:{login}"


def read_password() -> str:
    """One line of standard input, without its line ending (the password is never an argument: arguments show in
    the process list and the shell's history)."""
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise refuse("password: expected one line on standard input, got nothing")
    return password


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="3 to 40 lower-case letters, digits, '.', '_' or '-'.")],
    name: Annotated[str, typer.Option("--name", help="The person's full name.")],
    partner: Annotated[str | None, typer.Option(help="The partner government they work for (none for "
                                                "regional or state staff).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="They administer the workbench.")] = False,
    email: Annotated[str | None, typer.Option(help="Their e-mail address.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard "
                                                 "input, one line (without it the account has no password).")
                              ] = False,
) -> None:
    """Add an account."""
    from risk.accounts import create_account

    password = read_password() if password_stdin else None
    try:
        account = create_account(engine(), actor=login_actor(), username=username, full_name=name,
                                 password=password, partner=partner, admin=admin, email=email)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    say(f"added account {account.username}" + (" (administrator)" if account.is_admin else "")
        + ("" if password else " without a password"))


@users_app.command("list")
def users_list(fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table) -> None:
    """Every account, by username (never a password or its hash)."""
    from risk.accounts import list_accounts

    rows = list_accounts(engine())
    if fmt == Format.json:
        print_json(rows)
        return
    shown = [{**r, "admin": "yes" if r["admin"] else "", "disabled": "yes" if r["disabled"] else "",
              "password": "yes" if r["password"] else "no"} for r in rows]
    print_table(shown, ["username", "name", "partner", "admin", "disabled", "email", "password", "locked_until"])


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="The account's username.")]) -> None:
    """Disable an account: it can no longer sign in, and its sessions end."""
    from risk.accounts import disable_account

    try:
        disable_account(engine(), actor=login_actor(), username=username)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    say(f"disabled account {username.strip().lower()}; its sessions ended")


@users_app.command("set-password")
def users_set_password(
    username: Annotated[str, typer.Argument(help="The account's username.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the new password from standard "
                                                 "input, one line (required).")] = False,
) -> None:
    """Set an account's password; its sessions end and a sign-in lock is lifted."""
    from risk.accounts import set_password

    if not password_stdin:
        raise refuse("password: give it on standard input with --password-stdin, never as an argument")
    password = read_password()
    try:
        set_password(engine(), actor=login_actor(), username=username, password=password)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    say(f"set the password of {username.strip().lower()}; its sessions ended")


@users_app.command("end-sessions")
def users_end_sessions(username: Annotated[str, typer.Argument(help="The account's username.")]) -> None:
    """End every session of an account (signed in on a lost device, say)."""
    from risk.accounts import end_all_sessions

    try:
        ended = end_all_sessions(engine(), actor=login_actor(), username=username)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    say(f"ended {ended} session{'s' if ended != 1 else ''} of {username.strip().lower()}")


# --- backup and restore (docs/BACKUP.md) --------------------------------------------------------------------

@app.command("backup")
def backup_(
    output: Annotated[Path, typer.Option("-o", "--output", help="The backup file to write (replaced when it "
                                         "exists, once the new backup is complete).", dir_okay=False)],
) -> None:
    """Back the database up into one file while the app runs: SQLite through its online backup API, PostgreSQL
    with pg_dump. The file appears only when complete. Prints the audit head and the rows it holds. The audit key is
    not in the database: back it up separately (docs/BACKUP.md)."""
    from risk import backup as bk
    from risk.db import get_engine

    shown = [-1]

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != shown[0]:
            shown[0] = tenth
            say(f"backup: {done * 100 // max(total, 1)}% ({done:,} of {total:,} "
                f"{'pages' if kind == 'sqlite' else 'tables'})")

    eng = get_engine()
    started()
    kind = eng.url.get_backend_name()
    try:
        report = bk.backup(eng, output, progress=progress)
    except RefusedError as exc:
        raise fail(str(exc)) from None
    say(f"wrote {report.path} ({report.kind} backup, {report.size:,} bytes)")
    typer.echo(f"head {report.head or 'none (no audit events yet)'}")
    typer.echo(f"{report.events:,} audit events, {report.rows:,} rows" +
               (f": {bk.counts_text(report.tables)}" if report.rows else ""))


@app.command("restore")
def restore_(
    file: Annotated[Path, typer.Argument(help="A backup made by `risk backup`.", dir_okay=False)],
    yes: Annotated[bool, typer.Option("--yes", help="Replace a database that holds data (without it, only an "
                                      "empty or new database is restored into).")] = False,
) -> None:
    """Restore a backup into the configured database. The backup is checked first, in a scratch copy: its integrity,
    its schema, and its audit chain and data against the record (with the audit key); a backup that does not verify
    is refused and nothing is changed. Stop the app first (docs/BACKUP.md)."""
    from risk import backup as bk
    from risk.db import get_engine

    started()
    try:
        report = bk.restore(file, get_engine(), overwrite=yes, say=say)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    replaced = (f"; it replaced {sum(n for t, n in report.replaced.items() if t != 'audit_event'):,} rows and "
                f"{report.replaced.get('audit_event', 0):,} audit events" if report.replaced else "")
    say(f"restored {file}" + (f" (migrated from schema revision {report.migrated_from})" if report.migrated_from
                              else "") + replaced)
    typer.echo(f"head {report.head or 'none (no audit events)'}")
    typer.echo(f"{report.events:,} audit events, {report.rows:,} rows, verified")


def main() -> None:
    # No Pydantic plugins in a command: without this Pydantic looks for them in every installed package's metadata
    # when the tables are defined (about 50-80 ms of each command here; none is installed, and the command uses
    # Pydantic only through SQLModel). Set PYDANTIC_DISABLE_PLUGINS to something else to look for them again.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _pause_collector()
    try:
        app()
    except StorageError as exc:  # a write that the storage failed, wherever it happened
        sys.exit(fail(str(exc)).exit_code)
    except Exception as exc:  # a read that the storage failed (writes are translated by the store)
        reason = _storage_reason(exc)
        if reason is None:
            raise
        sys.exit(fail(f"{reason}; nothing was changed").exit_code)


if __name__ == "__main__":
    main()


# --- who pays for what, and risk in money (docs/COSTS.md) ------------------------------------------------------

costs_app = typer.Typer(help="Who pays for what: a proposal's costs split among its partners (docs/COSTS.md).",
                        no_args_is_help=True)
app.add_typer(costs_app, name="costs")


def _money(value) -> str:
    return "" if value is None else f"{float(value):,.2f}"


@costs_app.command("allocate")
def costs_allocate(
    proposal: Annotated[int, typer.Option("--proposal", help="The proposal's id.")],
    method: Annotated[str | None, typer.Option(
        "--method", help="equal, population, assessed_value, driver:NAME, blend (with --weight), "
        "base_plus_usage:NAME (with --base-share) or fixed (with --percent); without it, the proposal's chosen "
        "allocation")] = None,
    weight: Annotated[list[str] | None, typer.Option(
        "--weight", help="blend: BASE=W, repeatable, weights summing to 1; a base is equal, population, "
        "assessed_value or driver:NAME")] = None,
    base_share: Annotated[float | None, typer.Option(
        "--base-share", help="base_plus_usage: the fraction split equally (0 to 1)")] = None,
    percent: Annotated[list[str] | None, typer.Option(
        "--percent", help="fixed: PARTNER=PERCENT, repeatable, summing to 100")] = None,
    without: Annotated[str | None, typer.Option("--without", help="As if this partner withdrew.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Each partner's share of the proposal's costs over its horizon, its saving against going alone and its
    payback year; --without PARTNER shows the split if that partner left. Floors, caps and the phase-in of the
    chosen allocation apply to --method too."""
    from risk import costs
    from risk.services import costs as cost_service

    eng = engine()
    try:
        chosen = None
        if method is not None:
            percentages = {}
            for item in percent or []:
                name, _, value = item.rpartition("=")
                try:
                    percentages[name.strip()] = float(value)
                except ValueError:
                    raise RefusedError(f"--percent: expected PARTNER=PERCENT, got {item!r}") from None
            chosen = costs.parse_method(method, weight or [], base_share=base_share, percentages=percentages)
        result = cost_service.allocate(eng, proposal, chosen, without=without)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    data = result.to_json()
    if fmt == Format.json:
        print_json(data)
        return
    say(f"{data['method']}: total {_money(data['total'])} over {len(data['years'])} years"
        + (f", without {data['without']} (its exit charge: {_money(data['exit_cost']) or 'none set'})"
           if data.get("without") else ""))
    print_table([{**p, "share": _money(p["share"]), "status_quo": _money(p["status_quo"]),
                  "saving": _money(p["saving"]), "credit": _money(p.get("credit")), "pays": _money(p.get("pays")),
                  "share_pct": f"{p['share_pct']:.2f}%"} for p in data["partners"]],
                ["partner", "share_pct", "share", "credit", "pays", "status_quo", "saving", "payback_year"])


@app.command()
def quantify(
    proposal: Annotated[int, typer.Option("--proposal", help="The proposal's id.")],
    iterations: Annotated[int, typer.Option("--iterations", min=1, max=10_000_000,
                                            help="Simulated years.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same figures.")] = 2026,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Risk in money: each priced risk's expected annual loss and bad years (90th, 95th, 99th percentile), the
    proposal's, and each partner's expected loss, by a seeded Monte Carlo simulation (docs/COSTS.md)."""
    from risk.services import quantify as qs

    eng = engine()
    shown = [-1]

    def progress(fraction: float) -> None:
        if int(fraction * 10) != shown[0]:
            shown[0] = int(fraction * 10)
            say(f"quantify: {fraction:.0%} of {iterations:,} years simulated")

    try:
        priced, simulation = qs.simulate(eng, proposal, iterations, seed, progress=progress)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    data = {**simulation.to_json(), "currency": priced.currency, "not_priced": priced.unpriced}
    if fmt == Format.json:
        print_json(data)
        return
    if priced.unpriced:
        say(f"not priced (no figures of their own and no calibration for their level): {', '.join(priced.unpriced)}")
    print_table([{**r, **{k: _money(r[k]) for k in ("loss_low", "loss_high", "eal", "p50", "p90", "p95", "p99")},
                  "derived": "from its level" if r["derived"] else "its own"} for r in data["risks"]],
                ["risk_id", "frequency", "loss_low", "loss_high", "derived", "eal", "p90", "p95", "p99"])
    total = data["proposal"]
    say(f"proposal: expected annual loss {_money(total['eal'])} {priced.currency}, 90th percentile "
        f"{_money(total['p90'])}, 95th {_money(total['p95'])}, 99th {_money(total['p99'])}")


# --- decisions and snapshots (docs/DECISIONS.md) -----------------------------------------------------------------

decisions_app = typer.Typer(help="Each partner government's decision on a proposal, on a frozen snapshot "
                            "(docs/DECISIONS.md).", no_args_is_help=True)
snapshots_app = typer.Typer(help="Frozen snapshots of an assessment, and what changed between them.",
                            no_args_is_help=True)
app.add_typer(decisions_app, name="decisions")
app.add_typer(snapshots_app, name="snapshots")


class DecisionWord(StrEnum):
    approve = "approve"
    approve_with_conditions = "approve-with-conditions"
    reject = "reject"
    send_back = "send-back"


@decisions_app.command("record")
def decisions_record(
    proposal: Annotated[int, typer.Option("--proposal", help="The proposal's id.")],
    partner: Annotated[str, typer.Option("--partner", help="The partner government whose decision it is.")],
    by: Annotated[str, typer.Option("--by", help="The username of that government's reviewer, whose decision "
                                    "it is.")],
    decision: Annotated[str, typer.Option("--decision", help="approve, approve-with-conditions, reject or "
                                          "send-back")],
    rationale: Annotated[str, typer.Option("--rationale", help="Why: the record a council will ask for.")],
    condition: Annotated[list[str] | None, typer.Option("--condition", help="A condition of an approval with "
                                                        "conditions (repeatable).")] = None,
) -> None:
    """Record a partner government's decision taken in a meeting, for its reviewer (--by), on a snapshot of the
    assessment as it stands. The audit log names both the operator and the reviewer."""
    from risk.services import decisions as ds

    eng = engine()
    try:
        decision_id = ds.record_decision(eng, actor=login_actor(), proposal_id=proposal, partner=partner,
                                         decision=decision, rationale=rationale, conditions=condition or [], by=by)
    except StorageError as exc:
        raise fail(str(exc)) from None
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    view = next(v for v in ds.list_decisions(eng, proposal) if v.decision_id == decision_id)
    say(f"recorded decision {decision_id}: {view.partner} {ds.WORDS[view.decision]} (by {view.by}, on snapshot "
        f"{view.snapshot}, SHA-256 {view.sha256})")


@decisions_app.command("list")
def decisions_list(
    proposal: Annotated[int, typer.Option("--proposal", help="The proposal's id.")],
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Each partner government's standing decision, whether the assessment changed since (stale) and how."""
    from risk.services import decisions as ds

    eng = engine()
    try:
        from risk import access

        access.check_visible(eng, login_actor(), [proposal], "view")
        views = ds.list_decisions(eng, proposal)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    if fmt == Format.json:
        print_json([v.to_json() for v in views])
        return
    say(ds.standing(views))
    print_table([{"partner": v.partner, "decision": ds.WORDS.get(v.decision or "", "not decided"), "by": v.by,
                  "recorded_at": v.recorded_at.strftime("%Y-%m-%d %H:%M") if v.recorded_at else "",
                  "snapshot": v.snapshot, "stale": "stale" if v.stale else "",
                  "conditions": len(v.conditions) or ""} for v in views],
                ["partner", "decision", "by", "recorded_at", "snapshot", "stale", "conditions"])
    for v in views:
        for line in v.changed_since:
            say(f"{v.partner}: changed since its decision: {line}")


@snapshots_app.command("list")
def snapshots_list(
    proposal: Annotated[int, typer.Option("--proposal", help="The proposal's id.")],
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """The snapshots of a proposal: when, by whom, why, their SHA-256 and the audit head then."""
    from risk.services import decisions as ds

    eng = engine()
    rows = [{"id": x.id, "taken_at": x.taken_at.isoformat(timespec="seconds"), "taken_by": x.taken_by,
             "reason": x.reason, "sha256": x.sha256, "audit_head": x.audit_head}
            for x in ds.list_snapshots(eng, proposal)]
    if fmt == Format.json:
        print_json(rows)
    else:
        print_table([{**r, "sha256": r["sha256"][:16] + "…"} for r in rows],
                    ["id", "taken_at", "taken_by", "reason", "sha256"])


@snapshots_app.command("compare")
def snapshots_compare(
    a: Annotated[str, typer.Argument(help="A snapshot's id (or now).")],
    b: Annotated[str, typer.Argument(help="Another snapshot's id, or now.")],
    proposal: Annotated[int, typer.Option("--proposal", help="The proposal's id.")],
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """What changed from snapshot A to B: risks added and removed, fields changed, levels that moved."""
    from risk import snapshots
    from risk.services import decisions as ds

    def which(text: str) -> int | str:
        if text.strip().lower() == "now":
            return "now"
        if not text.strip().isdigit():
            raise RefusedError(f"snapshot: expected a snapshot's id or now, got {text!r}")
        return int(text)

    eng = engine()
    try:
        diff = ds.compare_snapshots(eng, proposal, which(a), which(b))
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    if fmt == Format.json:
        print_json(diff)
        return
    for line in snapshots.in_words(diff, limit=200) or ["nothing changed"]:
        typer.echo(line)


review_app = typer.Typer(help="What needs review across the portfolio.", no_args_is_help=True)
app.add_typer(review_app, name="review")


@review_app.command("due")
def review_due_(fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table) -> None:
    """Risks past their next review date, conditions of decisions open past their due date, and stale decisions,
    across every proposal."""
    from risk.services import decisions as ds

    eng = engine()
    items = ds.review_due(eng, actor=login_actor())
    if fmt == Format.json:
        print_json(items)
        return
    if not items:
        say("nothing is due for review")
        return
    print_table(items, ["kind", "proposal_id", "item", "due", "detail"])


cycle_app = typer.Typer(help="Assessment cycles: start next year's assessment from this year's (docs/DECISIONS.md).",
                        no_args_is_help=True)
app.add_typer(cycle_app, name="cycle")


@cycle_app.command("start")
def cycle_start(
    proposal: Annotated[int, typer.Option("--proposal", help="The last cycle's proposal.")],
    title: Annotated[str | None, typer.Option("--title", help="The new cycle's title (default: the last one's "
                                              "with the year's review).")] = None,
) -> None:
    """Start the next assessment cycle from the last: every risk with every field, its actions, the partners,
    team and costs carried; scores to be given afresh; the last cycle kept as the baseline."""
    from risk.services import cycles

    eng = engine()
    try:
        new_id = cycles.start_next_cycle(eng, actor=login_actor(), proposal_id=proposal, title=title)
    except StorageError as exc:
        raise fail(str(exc)) from None
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    typer.echo(new_id)
    say(f"started the next cycle of proposal {proposal} as proposal {new_id}")


@cycle_app.command("changes")
def cycle_changes_(
    proposal: Annotated[int, typer.Option("--proposal", help="A proposal started from a last cycle.")],
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Each risk tagged New, Modified, Removed or Unchanged against the last cycle, with its previous levels."""
    from risk.services import cycles

    eng = engine()
    try:
        data = cycles.cycle_changes(eng, proposal)
    except RefusedError as exc:
        raise refuse(str(exc)) from None
    if fmt == Format.json:
        print_json(data)
        return
    print_table([{"risk_id": r["risk_id"], "tag": r["tag"], "changed": ", ".join(r["changed"]),
                  "previous residual": (r["previous"] or {}).get("residual") or "",
                  "now residual": (r["now"] or {}).get("residual") or ""} for r in data["risks"]],
                ["risk_id", "tag", "previous residual", "now residual", "changed"])
