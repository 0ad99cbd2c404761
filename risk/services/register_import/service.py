"""import_register, the use case the CLI and the Import page call: the request checked, the file read and checked,
the import planned, then all of it written or none, and a report of what was (or would be) done."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Engine, select

from risk import access
from risk.bundle import validate
from risk.errors import ForbiddenError, RefusedError
from risk.models import Proposal
from risk.services.bulk import load_bundles
from risk.services.register_import.files import read_register
from risk.services.register_import.plan import plan_existing, plan_new
from risk.services.register_import.problems import Problems
from risk.services.register_import.write import write_existing


def _report(added: int = 0, changed: int = 0, unchanged: int = 0, problems: Problems | None = None,
            proposal_ids: list[int] | None = None, notes: list[str] | None = None) -> dict:
    return {"added": added, "changed": changed, "unchanged": unchanged,
            "problems": problems.listed() if problems else [], "proposal_ids": proposal_ids or [],
            "notes": notes or []}


@access.audited("proposal")
def import_register(engine: Engine, data: bytes, filename: str, *, actor: str, proposal_id: int | None = None,
                    new_title: str | None = None, mapping: Mapping[str, str] | None = None,
                    saved: Mapping[str, str] | None = None, dry_run: bool = False,
                    progress: Callable[[float, str], None] | None = None) -> dict:
    """Import a CSV or XLSX register into `proposal_id` or into a new proposal titled `new_title` (exactly one of
    them). `mapping` reads their columns as ours; `saved`, a saved mapping, does so for the columns the file has.
    Returns {"added", "changed", "unchanged", "problems", "proposal_ids", "notes"}; with problems nothing was
    written. Importing into a proposal needs the permission "import" on it (a facilitator's, risk/access.py), into a
    new one "import_new" (any signed-in account); a dry run into a proposal needs "view" on it, since it reports on
    its risks. A refusal raises ForbiddenError (recorded in the audit log), not a problem of the file."""
    from risk.memory import gc_paused

    with gc_paused():  # tens of thousands of short-lived cells and rows
        return _import_register(engine, data, filename, actor=actor, proposal_id=proposal_id, new_title=new_title,
                                mapping=mapping, saved=saved, dry_run=dry_run, progress=progress)


def _may_import(engine: Engine, proposal_id: int | None, actor: str, dry_run: bool) -> None:
    """Refused before the file is read (and checked again in the writing transaction): "import" into a proposal,
    "import_new" for a new one; a dry run into a proposal only reports on it, which whoever may see it may ask."""
    from sqlmodel import Session

    action = "import_new" if proposal_id is None else "view" if dry_run else "import"
    with Session(engine) as s:
        access.require(s, actor, action, proposal_id)


def _import_register(engine: Engine, data: bytes, filename: str, *, actor: str, proposal_id: int | None,
                     new_title: str | None, mapping: Mapping[str, str] | None, saved: Mapping[str, str] | None,
                     dry_run: bool, progress: Callable[[float, str], None] | None) -> dict:
    from sqlalchemy.exc import IntegrityError

    def step(done: float, what: str) -> None:
        if progress:
            progress(done, what)

    problems = Problems()
    if (proposal_id is None) == (new_title is None):
        problems.add(None, None, "a register goes into an existing proposal (--proposal ID) or a new one "
                                 "(--new TITLE): give one of them")
        return _report(problems=problems)
    if new_title is not None and not new_title.strip():
        problems.add(None, "title", "the new proposal needs a title")
        return _report(problems=problems)
    if new_title is not None and len(new_title.strip()) > 200:
        problems.add(None, "title", f"at most 200 characters, got {len(new_title.strip())}")
        return _report(problems=problems)
    _may_import(engine, proposal_id, actor, dry_run)
    if proposal_id is not None:
        from risk.services.proposals import get_proposal

        try:
            get_proposal(engine, proposal_id)
        except RefusedError as exc:
            problems.add(None, "proposal", str(exc))
            return _report(problems=problems)
    step(0.05, "Reading the file")
    register, problems = read_register(engine, data, filename, mapping, problems, saved=saved,
                                       new=proposal_id is None)
    if register is None:
        return _report(problems=problems)
    step(0.4, "Checking the rows")
    notes = register.notes
    if proposal_id is not None:
        plan = plan_existing(engine, register, proposal_id, problems)
        if problems:
            return _report(problems=problems)
        report = _report(len(plan.added), len(plan.changed), plan.unchanged, notes=notes)
        if dry_run:
            return report
        step(0.6, "Writing")
        try:
            write_existing(engine, register, proposal_id, plan, actor, register.source)
        except ForbiddenError:
            raise
        except RefusedError as exc:
            problems.add(None, None, str(exc))
            return _report(problems=problems)
        except IntegrityError:
            problems.add(None, None, "somebody changed this proposal's risks while the import was being written; "
                                     "nothing was imported: check the file again")
            return _report(problems=problems)
        step(1.0, "Done")
        return report | {"proposal_ids": [proposal_id]}
    title = new_title.strip()
    from sqlmodel import Session

    with Session(engine) as s:
        if s.execute(select(Proposal.id).where(Proposal.title == title)).first():
            problems.add(None, "title", f"a proposal called {title!r} already exists; choose another title or "
                                        "import into it with --proposal")
            return _report(problems=problems)
    bundle = plan_new(register, title, actor, register.source)
    report = _report(added=len(bundle.risks), notes=notes)
    try:  # the bulk loader's own checks are a safety net: the column checks above should have named the row
        if dry_run:
            validate(bundle, title)
            return report
        step(0.6, "Writing")
        ids = load_bundles(engine, [bundle], actor=actor)
    except ForbiddenError:
        raise
    except RefusedError as exc:
        problems.add(None, None, str(exc))
        return _report(problems=problems)
    step(1.0, "Done")
    return report | {"proposal_ids": ids}
