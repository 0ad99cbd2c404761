"""The register's columns as an import knows them: which it needs, which it reads as text or as score pairs,
which an import may update, and how long their text may be (the columns themselves: risk/services/register_rows.py)."""

from __future__ import annotations

from risk import rules
from risk.services.register_rows import REGISTER_COLUMNS

FIELDS = (*REGISTER_COLUMNS, "format_version")
NEEDED = ("risk_id", "category", "title")
# read but never trusted: recomputed from the stored facts
DERIVED = ("inherent_level", "residual_level", "appetite", "over_appetite", "assessors", "disagreement",
           "next_review")
TEXT = ("title", "cause", "event", "consequence", "owner", "controls")
PAIRS = (("inherent", "inherent_likelihood", "inherent_impact", "inherent_assessed_on"),
         ("residual", "residual_likelihood", "residual_impact", "residual_assessed_on"))
UPDATABLE = ("category", "title", "cause", "event", "consequence", "owner_partner", "owner", "controls", "treatment",
             "status")
# the text columns and the rule that limits each (risk/rules.py), as when a risk is typed in
LIMITS = {**{name: rules.RISK[name] for name in TEXT}, "owner_partner": rules.PARTNER["name"]}
