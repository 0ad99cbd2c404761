"""Every export carries the audit log's head at the time of export (docs/AUDIT.md): the JSON export's top-level
`audit_head`, the workbook's Method sheet, the meeting packet's footer beside its data SHA-256; the JSON import
takes a document with it and one without."""

from __future__ import annotations

import io
import json

from risk import audit
from tests.builders import SYSTEM, make_proposal


def test_every_export_carries_the_head_at_the_time_of_export(engine):
    from openpyxl import load_workbook

    from risk.services.json_export import export_json
    from risk.services.json_import import import_json
    from risk.services.register_export import export_packet, export_xlsx

    b = make_proposal(engine, partners=2, risks=2)
    head = audit.head(engine)
    doc = json.loads(export_json(engine, [b.proposal_id]))
    assert doc["audit_head"] == head and list(doc)[:4] == ["format", "format_version", "exported_at", "audit_head"]
    method = load_workbook(io.BytesIO(export_xlsx(engine, [b.proposal_id])))["Method"]
    assert [row for row in method.iter_rows(values_only=True) if row[0] == "Audit head"][0][1] == head
    assert f"Audit head: {head}".encode() in export_packet(engine, b.proposal_id)
    # the JSON import takes a document with the head, and one without (made before it was added)
    assert import_json(engine, json.dumps(doc).encode(), actor=SYSTEM, new_title="Copy")["problems"] == []
    del doc["audit_head"]
    assert import_json(engine, json.dumps(doc).encode(), actor=SYSTEM, new_title="Copy 2")["problems"] == []
    assert audit.verify(engine).head != head
