"""An import into an existing proposal written in one transaction: risks added, changed ones updated against the
version that was checked, and the register's differing values recorded as consensus."""

from __future__ import annotations

from sqlalchemy import Engine, select

from risk import access, store
from risk.models import Consensus, Partner, ProposalPartner, Risk, utcnow
from risk.services.register_import.columns import TEXT, UPDATABLE
from risk.services.register_import.plan import Plan, midnight
from risk.services.register_import.rows import Register


def write_existing(engine: Engine, register: Register, proposal_id: int, plan: Plan, actor: str,
                   source: str) -> None:
    """One transaction: new risks inserted, changed ones updated (refused if someone changed one meanwhile), and
    the register's differing values recorded as consensus."""
    data, now = register.data, utcnow()
    with store.write(engine, actor) as unit:
        access.require(unit.session, actor, "import", proposal_id)
        conn = unit.session.connection()
        partner_ids = dict(conn.execute(select(Partner.name, Partner.id).join(
            ProposalPartner, ProposalPartner.partner_id == Partner.id).where(
            ProposalPartner.proposal_id == proposal_id)).all())
        n = len(register.rows)
        new_rows = [{"proposal_id": proposal_id, "risk_id": data["risk_id"][k], "category": data["category"][k],
                     "title": data["title"][k], **{name: data[name][k] for name in TEXT[1:] if name in data},
                     "owner_partner_id": partner_ids.get((data.get("owner_partner") or [None] * n)[k]),
                     "treatment": data["treatment"][k] if "treatment" in data else None,
                     "status": (data["status"][k] if "status" in data else None) or "Open", "tags": [],
                     "target_likelihood": None, "target_impact": None, "template_id": None,
                     "version": 1, "updated_at": now, "updated_by": actor} for k in plan.added]
        new_pks = dict(zip(plan.added, store.insert_many(unit=unit, table=Risk, rows=new_rows, entity="risk"),
                           strict=True))
        rows, versions, befores = [], [], []
        for _k, pk, version, changes, before in plan.changed:
            fields = {name: value for name, value in changes.items() if name in UPDATABLE}
            if "owner_partner" in fields:
                fields["owner_partner_id"] = partner_ids.get(fields.pop("owner_partner"))
            if not fields:
                continue  # only its scores changed: recorded as consensus below
            rows.append({"id": pk, **fields})
            versions.append(version)
            befores.append(before)
        # one executemany and one audit event per set of changed columns, each risk only at the version checked
        store.update_many(unit=unit, table=Risk, rows=rows, entity="risk", entity_id=proposal_id,
                          expected_versions=versions, before=befores, before_key="risks",
                          conflict="somebody changed a risk of this proposal while the import was being checked; "
                                   "nothing was imported: check the file again")
        values = [{"risk_pk": c.get("risk_pk") or new_pks[c["position"]], "phase": c["phase"],
                   "likelihood": c["likelihood"], "impact": c["impact"], "rationale": f"Imported from {source}",
                   "dissent": "", "recorded_by": actor, "recorded_at": midnight(c["when"]) or now}
                  for c in plan.consensus]
        if values:
            store.bulk_upsert(unit=unit, table=Consensus, rows=values, keys=("risk_pk", "phase"),
                              update_cols=("likelihood", "impact", "rationale", "dissent", "recorded_by",
                                           "recorded_at"), entity="consensus",
                              before=[c["before"] for c in plan.consensus if "before" in c])
