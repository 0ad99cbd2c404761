"""Registers as CSV and XLSX (docs/USER_GUIDE.md, Exports).

Text that a spreadsheet would run as a formula (beginning with =, +, -, @, tab, CR or NUL) is written as text. In CSV
with a leading ', and text that already begins with ' followed by one of those gets one more ', so that an import
can remove exactly one and the round trip is exact. In XLSX as a string cell with the "quote prefix" style, the
cell Excel makes when one types '=1+2: it shows =1+2, without the ', and stays text when edited; the cell holds the
text as it is, so an import takes it as it is. Dates are date cells. Numbers stay numbers.

The Costs and Quantified risk sheets are reports for people (one Section of Blocks per proposal): money is a number
cell in the proposal's currency with 2 decimals, a percentage a percent cell; the register import does not read
them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from risk.scoring import IMPACT_SCALE, LEVEL_COLOURS, LIKELIHOOD_SCALE, SCORE_LABELS, Matrix

FORMAT_VERSION = 1
# The workbook's own format, on its Method sheet: 2 since formula-like text is a quote-prefixed cell holding the text
# as written (format 1 wrote it with a leading ', which an import of such a workbook still removes).
WORKBOOK_FORMAT = 2
WORKBOOK_FORMAT_LABEL = "Workbook format"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")
EXCEL_MAX_ROWS = 1_048_576
DATE_FORMAT = "yyyy-mm-dd"
DATE_TEXT = "%Y-%m-%d"  # a date as text (CSV cells, and what an import reads); DATE_FORMAT is its XLSX cell format
# the columns of the workbook's Scores and Actions sheets, which the register import reads back
SCORES_COLUMNS = ("proposal", "risk_id", "phase", "round", "round_closed_on", "assessor", "partner", "likelihood",
                  "impact", "rationale")
ACTIONS_COLUMNS = ("proposal", "risk_id", "description", "owner", "due_date", "status", "cost", "paying_partner")
# the columns of the Partners and Team sheets (one row each, the Summary lists them for people to read)
PARTNERS_COLUMNS = ("proposal", "name", "kind", "role")
TEAM_COLUMNS = ("proposal", "name", "partner", "team_role")


def safe_text(value: str) -> str:
    """`=1+2` -> `'=1+2`; `'=x` -> `''=x`; anything else unchanged."""
    if value.startswith(FORMULA_START) or (value[:1] == "'" and value[1:2] and value[1] in FORMULA_START):
        return "'" + value
    return value


# text as safe_text quoted it: a ' followed by a formula character or another '
QUOTED_TEXT = re.compile("^'[" + re.escape("".join(FORMULA_START) + "'") + "]")


def unsafe_text(value: str) -> str:
    """The inverse of safe_text, for imports: one leading ' is removed only where a formula character follows."""
    return value[1:] if QUOTED_TEXT.match(value) else value


_STARTS = frozenset(FORMULA_START)


def _csv_cell(value: object) -> object:
    if value.__class__ is str:
        if value and (value[0] in _STARTS or (value[0] == "'" and value[1:2] and value[1] in _STARTS)):
            return "'" + value
        return value
    return "" if value is None else value


def register_csv(rows: Iterable[dict], columns: Sequence[str]) -> bytes:
    """The register as UTF-8 CSV with a byte-order mark, ending with a format_version column.

    Every text cell goes through the same check as `_csv_cell`, but a block of rows at a time: the block's text cells
    joined and searched once for a cell that begins with a formula character (in C), and only a block where one might
    (or where a column's kind differs from the first row's) is written cell by cell. The output is the same byte for
    byte (tests/test_spreadsheet.py compares it with the cell-by-cell writer)."""
    from itertools import islice

    from risk.memory import gc_paused

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*columns, "format_version"])
    tail = (FORMAT_VERSION,)
    rows = map(_tuple_getter(columns), rows)
    texts = others = None
    # a million short-lived lists would trigger the cyclic garbage collector over and over: pause it meanwhile
    with gc_paused():
        while block := list(islice(rows, _CSV_BLOCK)):
            if texts is None:  # the first row says which columns hold text
                kinds = [value.__class__ is str for value in block[0]]
                texts = _tuple_getter([i for i, text in enumerate(kinds) if text])
                others = _tuple_getter([i for i, text in enumerate(kinds) if not text])
            if _block_is_plain(block, texts, others):
                writer.writerows([cells + tail for cells in block])
            else:
                writer.writerows([*map(_csv_cell, cells), FORMAT_VERSION] for cells in block)
    return out.getvalue().encode("utf-8")


_CSV_BLOCK = 256
# a cell that begins with a formula character, or with ' and one, among cells joined by \x1f (with one in front)
_FORMULA_CELL = re.compile("\x1f'?[" + re.escape("".join(FORMULA_START)) + "]").search


def _tuple_getter(keys) -> Callable:
    """itemgetter that returns a tuple for any number of keys (itemgetter of one key returns the bare value)."""
    from operator import itemgetter

    keys = list(keys)
    if len(keys) == 1:
        one = itemgetter(keys[0])
        return lambda row: (one(row),)
    return itemgetter(*keys) if keys else (lambda row: ())


def _block_is_plain(block: list[tuple], texts: Callable, others: Callable) -> bool:
    """True when no cell of the block needs a change: the text columns hold only text, none of which begins like a
    formula, and the other columns hold no text. False (write it cell by cell) when in doubt."""
    from itertools import chain

    if str in set(map(type, chain.from_iterable(map(others, block)))):
        return False
    try:
        joined = "\x1f" + "\x1f".join(chain.from_iterable(map(texts, block)))
    except TypeError:  # a None or a number in a column that held text in the first row
        return False
    return _FORMULA_CELL(joined) is None


@dataclass
class Workbook:
    """What one XLSX export holds, as plain values (built by the export service)."""

    title: str
    summary: list[tuple[str, object]]
    register_columns: Sequence[str]
    register: list[dict]
    matrix: Matrix
    method: list[tuple[str, object]]
    heatmaps: list[tuple[str, list[list[str]]]] = field(default_factory=list)  # title, 5x5 cell texts (L5 first)
    scores: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    partners: list[dict] = field(default_factory=list)  # PARTNERS_COLUMNS
    team: list[dict] = field(default_factory=list)  # TEAM_COLUMNS
    costs: list[Section] = field(default_factory=list)  # the Costs sheet (written when there is a section)
    quantified: list[Section] = field(default_factory=list)  # the Quantified risk sheet (likewise)
    decisions: list[Section] = field(default_factory=list)  # the Decisions sheet (likewise; docs/DECISIONS.md)


@dataclass
class Block:
    """One part of a report sheet: a bold `title`, `lines` of label and value, `notes` (sentences), then a table
    of `columns` and `rows` (and a bold `total` row). `kinds` gives a column's cells a format: "money" (a number in
    the section's currency, 2 decimals), "percent" (a fraction shown as a percentage, 2 decimals), "count" (a whole
    number with thousands separators); other columns as written. A text value in such a column stays text."""

    title: str = ""
    lines: list[tuple[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sentences under the lines, one a row
    columns: Sequence[str] = ()
    rows: list[Sequence[object]] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    total: Sequence[object] | None = None


@dataclass
class Section:
    """One proposal's part of a report sheet: its `heading`, the `currency` of its money cells, its blocks."""

    heading: str
    currency: str = ""
    blocks: list[Block] = field(default_factory=list)


MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.00%"
COUNT_FORMAT = "#,##0"


def _number(value: object) -> object:
    """A Decimal (money as the cost arithmetic gives it) as a float for its number cell; anything else as it is."""
    return float(value) if isinstance(value, Decimal) else value


def money_format(currency: str) -> str:
    """`money_format("USD")` -> `#,##0.00 "USD"`: two decimals, thousands separated, the code after the number."""
    code = "".join(ch for ch in currency if ch.isascii() and ch.isalpha())[:3].upper()
    return f'{MONEY_FORMAT} "{code}"' if code else MONEY_FORMAT


# OOXML writes a control character in text as _xHHHH_ and escapes the "_" of a literal _xHHHH_ as _x005F_ (ECMA-376
# Part 1, 22.9.2.19 ST_Xstring; risk/exchange/reading.py undoes it). xlsxwriter (3.3) escapes only non-overlapping
# matches, so in "_x005F_x000D_" the second one, which shares the first one's closing "_", stays unescaped and reads
# back as a carriage return. Its pattern, with a lookahead, escapes every such "_": set once, checked by behaviour.
_OVERLAPPING_ESCAPES = re.compile("(_)(?=x[0-9a-fA-F]{4}_)")


def _exact_escapes() -> None:
    from xlsxwriter import xmlwriter

    def right() -> bool:
        return xmlwriter.XMLwriter._escape_control_characters("_x005F_x000D_\r") == \
            "_x005F_x005F_x005F_x000D__x000D_"

    if not right():
        xmlwriter.re_control_chars_1 = _OVERLAPPING_ESCAPES
        if not right():
            raise RuntimeError("xlsxwriter escapes text in a way this workbench does not know; see "
                               "risk/exchange/spreadsheet.py, _exact_escapes")


def _sheets_for(rows: list, name: str, room: int) -> list[tuple[str, list]]:
    """A sheet, split into "name (2)", "name (3)"... when it would pass Excel's row limit."""
    if len(rows) <= room:
        return [(name, rows)]
    return [(name if k == 0 else f"{name} ({k + 1})", rows[start:start + room])
            for k, start in enumerate(range(0, len(rows), room))]


def continued_sheets(sheetnames: Iterable[str], name: str) -> list[str]:
    """The sheets that continue `name` as _sheets_for splits it, in order: "Register (2)", "Register (3)"..."""
    pattern = re.compile(re.escape(name) + r" \((\d+)\)")
    return sorted((s for s in sheetnames if pattern.fullmatch(s)), key=lambda s: int(pattern.fullmatch(s)[1]))


def register_xlsx(book: Workbook, progress: Callable[[float], None] | None = None) -> bytes:
    """The workbook: Summary, Register (levels coloured, header frozen, filters, widths), Partners, Team, Method,
    Heat maps, Scores and Actions, then Costs and Quantified risk when the book has them. Text is always written as
    a string cell, never as a formula."""
    import xlsxwriter

    _exact_escapes()
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                      "strings_to_numbers": False})
    bold = wb.add_format({"bold": True})
    header = wb.add_format({"bold": True, "bg_color": "#f0f0f0", "border": 1, "text_wrap": True, "valign": "top"})
    # cell styles as property dicts, so that a quote-prefixed or date variant of any of them can be made
    wrap = {"text_wrap": True, "valign": "top"}
    colours = LEVEL_COLOURS[len(book.matrix.levels)]
    dark = set(book.matrix.levels[len(book.matrix.levels) // 2 + 1:])
    level_fmt = {name: {"bg_color": colour, "border": 1, "text_wrap": True, "valign": "vcenter", "align": "center",
                        "font_color": "#ffffff" if name in dark else "#000000"}
                 for name, colour in zip(book.matrix.levels, colours, strict=True)}
    formats: dict[tuple[int, str], tuple[dict | None, object]] = {}

    def style(props: dict | None, variant: str = ""):
        """The format of `props` (None: the default), plain, "quoted" (quote prefix) or "date"."""
        key = (id(props), variant)  # the props dict is kept in the value, so its id is not reused
        if key not in formats:
            extra = {"quoted": {"quote_prefix": True}, "date": {"num_format": DATE_FORMAT}}.get(variant, {})
            merged = {**(props or {}), **extra}
            formats[key] = (props, wb.add_format(merged) if merged else None)
        return formats[key][1]

    def text(ws, r: int, c: int, value: object, props: dict | None = None) -> None:
        if value.__class__ is str:
            if not value:
                ws.write_blank(r, c, None, style(props))
            elif value[0] in _STARTS:  # text, never a formula, and shown without a '
                ws.write_string(r, c, value, style(props, "quoted"))
            else:
                ws.write_string(r, c, value, style(props))
        elif isinstance(value, bool):
            ws.write_string(r, c, "yes" if value else "no", style(props))
        elif isinstance(value, int | float):
            ws.write_number(r, c, value, style(props))
        elif value is None:
            ws.write_blank(r, c, None, style(props))
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            ws.write_datetime(r, c, dt.datetime.combine(value, dt.time()), style(props, "date"))
        else:
            text(ws, r, c, str(value), props)

    def grid_block(ws, r: int, title: str, cell: Callable[[int, int], str], row_height: float | None = None) -> int:
        """A 5x5 grid under a title, likelihood 5 at the top, each cell on its level's colour; returns the last
        row written."""
        ws.write_string(r, 0, title, bold)
        r += 1
        ws.write_string(r, 0, "likelihood \\ impact", header)
        for i in range(1, 6):
            ws.write_string(r, i, f"{i} {SCORE_LABELS[i - 1]}", header)
        for lik in range(5, 0, -1):
            r += 1
            ws.write_string(r, 0, f"{lik} {SCORE_LABELS[lik - 1]}", header)
            for i in range(1, 6):
                text(ws, r, i, cell(lik, i), level_fmt[book.matrix.level(lik, i)])
            if row_height:
                ws.set_row(r, row_height)
        return r

    ws = wb.add_worksheet("Summary")
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 90)
    text(ws, 0, 0, book.title, {"bold": True, "font_size": 14})
    for k, (label, value) in enumerate(book.summary, start=2):
        ws.write_string(k, 0, label, bold)
        text(ws, k, 1, value, wrap)

    room = EXCEL_MAX_ROWS - 1
    level_columns = {c for c in book.register_columns if c.endswith("_level")}
    widths = {"title": 40, "cause": 50, "event": 50, "consequence": 50, "controls": 40, "proposal": 30}
    parts = _sheets_for(book.register, "Register", room)
    done = 0
    for name, rows in parts:
        ws = wb.add_worksheet(name)
        for c, col in enumerate(book.register_columns):
            ws.write_string(0, c, col, header)
            ws.set_column(c, c, widths.get(col, 14))
        for r, row in enumerate(rows, start=1):
            for c, col in enumerate(book.register_columns):
                value = row.get(col)
                text(ws, r, c, value, level_fmt.get(value) if col in level_columns else None)
            done += 1
            if progress and done % 2000 == 0:
                progress(done / max(1, len(book.register)))
        ws.freeze_panes(1, 2)
        ws.autofilter(0, 0, max(1, len(rows)), len(book.register_columns) - 1)

    def table(name: str, rows: list[dict], columns: Sequence[str], wide: Sequence[str]) -> None:
        """A sheet of rows under a header (split past Excel's row limit), header frozen, filters on."""
        for sheet, part in _sheets_for(rows, name, room):
            ws = wb.add_worksheet(sheet)
            for c, col in enumerate(columns):
                ws.write_string(0, c, col, header)
                ws.set_column(c, c, 40 if col in wide else 16)
            for r, row in enumerate(part, start=1):
                for c, col in enumerate(columns):
                    text(ws, r, c, row.get(col))
            ws.freeze_panes(1, 0)
            ws.autofilter(0, 0, max(1, len(part)), len(columns) - 1)

    table("Partners", book.partners, PARTNERS_COLUMNS, ("proposal", "name"))
    table("Team", book.team, TEAM_COLUMNS, ("proposal", "name", "partner"))

    ws = wb.add_worksheet("Method")
    ws.set_column(0, 0, 26)
    ws.set_column(1, 6, 24)
    r = 0
    for label, value in [*book.method, (WORKBOOK_FORMAT_LABEL, WORKBOOK_FORMAT)]:
        ws.write_string(r, 0, label, bold)
        text(ws, r, 1, value, wrap)
        r += 1
    r += 1
    ws.write_string(r, 0, "Likelihood scale", bold)
    for p in reversed(LIKELIHOOD_SCALE):
        r += 1
        ws.write_number(r, 0, p.score)
        ws.write_string(r, 1, p.label)
        ws.write_string(r, 2, p.descriptor)
    r += 2
    ws.write_string(r, 0, "Impact scale", bold)
    for c, name in enumerate(("score", "label", "service", "money", "legal", "public")):
        ws.write_string(r + 1, c, name, header)
    r += 1
    for p in reversed(IMPACT_SCALE):
        r += 1
        for c, name in enumerate(("score", "label", "service", "money", "legal", "public")):
            text(ws, r, c, p[name], wrap)
    r += 2
    grid_block(ws, r, f"Risk matrix: {book.matrix.title or book.matrix.name}", book.matrix.level)

    ws = wb.add_worksheet("Heat maps")
    ws.set_column(0, 0, 18)
    ws.set_column(1, 5, 22)
    r = 0
    for title, grid in book.heatmaps:
        r = grid_block(ws, r, title, lambda lik, imp, grid=grid: grid[5 - lik][imp - 1], row_height=45) + 2

    for name, rows in (("Scores", book.scores), ("Actions", book.actions)):
        table(name, rows, list(rows[0]) if rows else SCORES_COLUMNS if name == "Scores" else ACTIONS_COLUMNS,
              ("description", "rationale"))

    cell_props: dict[tuple[str, str, bool], dict] = {}  # one dict per cell style, made once (style() keys by id)
    heading_props, label_props = {"bold": True, "font_size": 13}, {"bold": True}

    def props_for(kind: str, currency: str, strong: bool) -> dict | None:
        number = {"money": money_format(currency), "percent": PERCENT_FORMAT, "count": COUNT_FORMAT}.get(kind)
        if number is None and not strong:
            return None
        key = (kind if number else "", currency if kind == "money" else "", strong)
        if key not in cell_props:
            cell_props[key] = {**({"num_format": number} if number else {}), **({"bold": True} if strong else {})}
        return cell_props[key]

    def report(name: str, sections: list[Section], widths: Sequence[int]) -> None:
        """A sheet for people: each section a heading, then its blocks one under another."""
        ws = wb.add_worksheet(name)
        for c, w in enumerate(widths):
            ws.set_column(c, c, w)
        r = 0
        for section in sections:
            text(ws, r, 0, section.heading, heading_props)
            r += 2
            for block in section.blocks:
                if block.title:
                    text(ws, r, 0, block.title, label_props)
                    r += 1
                for label, value in block.lines:
                    text(ws, r, 0, label, label_props)
                    text(ws, r, 1, value)
                    r += 1
                for note in block.notes:
                    text(ws, r, 0, note)
                    r += 1
                if block.columns:
                    for c, col in enumerate(block.columns):
                        ws.write_string(r, c, col, header)
                    r += 1
                    kinds = [block.kinds.get(col, "") for col in block.columns]
                    plain = [props_for(k, section.currency, False) for k in kinds]
                    for row in block.rows:
                        for c, value in enumerate(row):
                            text(ws, r, c, _number(value), plain[c] if c < len(plain) else None)
                        r += 1
                    if block.total is not None:
                        strong = [props_for(k, section.currency, True) for k in kinds]
                        for c, value in enumerate(block.total):
                            text(ws, r, c, _number(value), strong[c] if c < len(strong) else None)
                        r += 1
                r += 1
            r += 1

    if book.costs:
        report("Costs", book.costs, (42, 16, 16, 16, 16, 16, 16, 16, 16, 16))
    if book.quantified:
        report("Quantified risk", book.quantified, (36, 12, 40, 12, 16, 16, 22, 16, 16, 16, 16, 16))
    if book.decisions:
        report("Decisions", book.decisions, (30, 26, 14, 16, 17, 8, 50, 50, 66))
    wb.close()
    if progress:
        progress(1.0)
    return buffer.getvalue()
