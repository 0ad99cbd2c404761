"""Importing risk registers from spreadsheets (CSV, XLSX) into a new proposal or into an existing one.

The whole file is read and checked column by column before anything is written; every problem is reported with
its row (numbered as the spreadsheet shows it, the header being row 1) and its field. Derived columns (levels,
appetite, over_appetite, assessors, disagreement, next_review) are read but never trusted: they are recomputed
from the stored facts. A register row's scores become the standing value of the risk: through the rounds of the
workbook's Scores sheet where those give that value, otherwise as a consensus recorded by the person importing.

Into an existing proposal (`proposal_id`), rows are matched on risk_id: an existing risk is updated where the file
differs, a new risk_id is added, and risks that are not in the file are left alone. One transaction writes all rows
or none.

The steps, one module each: files.py reads the file into a table, mapping.py maps its header to our columns,
rows.py checks the rows (with cells.py and problems.py), workbook.py reads our own workbook's other sheets,
plan.py plans the import, write.py writes it, and service.py's import_register runs them in turn."""

from risk.services.register_import.columns import DERIVED, FIELDS, LIMITS, NEEDED, PAIRS, TEXT, UPDATABLE
from risk.services.register_import.files import peek, read_register
from risk.services.register_import.mapping import check_header, map_header, parse_map
from risk.services.register_import.plan import Plan, plan_existing, plan_new
from risk.services.register_import.problems import MAX_PROBLEMS, Problems
from risk.services.register_import.rows import Register, check_register
from risk.services.register_import.service import import_register
from risk.services.register_import.workbook import ACTION_FIELDS, SCORE_FIELDS
from risk.services.register_import.write import write_existing

# the names they had before the package, which tests/test_register_import.py imports
_plan_existing, _write_existing = plan_existing, write_existing

__all__ = ["ACTION_FIELDS", "DERIVED", "FIELDS", "LIMITS", "MAX_PROBLEMS", "NEEDED", "PAIRS", "SCORE_FIELDS", "TEXT",
           "UPDATABLE", "Plan", "Problems", "Register", "check_header", "check_register", "import_register",
           "map_header", "parse_map", "peek", "plan_existing", "plan_new", "read_register", "write_existing"]
