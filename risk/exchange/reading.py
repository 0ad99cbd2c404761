"""Reading spreadsheet files safely (docs/VALIDATION.md): what the file really is, its encoding,
its size, and its cells as text, each row numbered as a spreadsheet shows it (the header is row 1).

Nothing here knows what a register is: it turns bytes into `Table`s or refuses with a message that says what was
expected. CSV is read with pandas as text only (`dtype=str, keep_default_na=False`), so "NA" and "007" stay as
written. XLSX is opened only after its signature and its zip directory pass the checks (total unpacked size,
compression ratio, entry count), with openpyxl in read-only, values-only mode; defusedxml is installed, so
openpyxl's XML parsing refuses entity declarations (billion laughs). A cell's text comes back exactly as it was
written: OOXML writes a control character such as a carriage return as `_x000D_` and a literal `_x000D_` as
`_x005F_x000D_` (ECMA-376 Part 1, 22.9.2.19 ST_Xstring), which openpyxl neither undoes nor keeps apart (it drops
every "x005F_" of the shared strings), so the shared strings are read here and every text cell is unescaped."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk.errors import RefusedError

# what the first bytes of a file say it is
SIGNATURES = (
    (b"PK\x03\x04", "a zip archive (such as an XLSX workbook)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 (.xls) or other Office binary file"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)
MAX_ZIP_ENTRIES = 2_000
MAX_RATIO = 200  # an entry over 1 MB unpacked may be at most this many times its packed size
UNPACKED_PER_PACKED_BYTE = 20  # the whole workbook may unpack to at most this many times the size limit


@dataclass
class Table:
    """One sheet of cells as text: the header row's names, the data as a frame of str with positional columns,
    and each data row's number as the spreadsheet shows it."""

    header: list[str]
    frame: pd.DataFrame
    rows: np.ndarray
    sheet: str = ""


def what_it_is(data: bytes) -> str | None:
    for magic, what in SIGNATURES:
        if data.startswith(magic):
            return what
    return None


def check_size(data: bytes, max_bytes: int, name: str) -> None:
    if len(data) > max_bytes:
        raise RefusedError(f"{name}: the file is {len(data) / 1e6:.1f} MB; an import takes at most "
                           f"{max_bytes / 1e6:.0f} MB (RISK_IMPORT_MAX_MB)")
    if not data:
        raise RefusedError(f"{name}: the file is empty")


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read in: UTF-8 (with or without a byte-order mark),
    UTF-16 with a byte-order mark, or Windows-1252 (cp1252, what Excel writes on Windows)."""
    what = what_it_is(data)
    if what:
        raise RefusedError(f"{name}: named as a text file but it is {what}")
    if data.startswith(codecs.BOM_UTF8):
        try:
            text, encoding = data[3:].decode("utf-8"), "UTF-8 with BOM"
        except UnicodeDecodeError as exc:
            raise RefusedError(f"{name}: starts as UTF-8 (with a byte-order mark) but byte 0x{data[3 + exc.start]:02x} "
                               f"at position {3 + exc.start} is not UTF-8; save the file as CSV UTF-8 again") from None
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text, encoding = data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError as exc:
            raise RefusedError(f"{name}: starts as UTF-16 but byte {exc.start} is not UTF-16") from None
    else:
        if b"\x00" in data:
            raise RefusedError(f"{name}: holds NUL bytes, so it is not a text file (a CSV in UTF-16 needs its "
                               "byte-order mark)")
        try:
            text, encoding = data.decode("utf-8"), "UTF-8"
        except UnicodeDecodeError:
            try:
                text, encoding = data.decode("cp1252"), "Windows-1252"
            except UnicodeDecodeError as exc:
                raise RefusedError(f"{name}: unreadable text: byte 0x{data[exc.start]:02x} at position {exc.start} "
                                   "is neither UTF-8 nor Windows-1252; save the file as CSV UTF-8") from None
    if "\x00" in text:
        raise RefusedError(f"{name}: holds NUL characters, so it is not a text file")
    return text, encoding


def _delimiter(text: str) -> str:
    """Comma, unless the header line has more semicolons or tabs (Excel in many locales writes ';')."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] > counts[","] else ","


def read_csv(data: bytes, name: str, max_rows: int) -> tuple[Table, str]:
    """The CSV's cells as text (and the encoding it was read in); blank lines are skipped but counted."""
    import csv
    import re

    text, encoding = decode_text(data, name)
    if not text.strip():
        raise RefusedError(f"{name}: the file holds no rows")
    if not text.split("\n", 1)[0].strip():
        raise RefusedError(f"{name}: row 1 is empty; the column names (the header) must be on row 1")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=_delimiter(text), header=None, dtype=str, keep_default_na=False,
                            na_filter=False, skip_blank_lines=False, engine="c", quoting=csv.QUOTE_MINIMAL)
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            raise RefusedError(f"{name}: row {found[2]} has {found[3]} cells where the header has {found[1]} (a "
                               "separator inside a value that is not in quotes?)") from None
        raise RefusedError(f"{name}: not a well-formed CSV: {str(exc).strip()}") from None
    except (pd.errors.EmptyDataError, ValueError) as exc:
        raise RefusedError(f"{name}: not a readable CSV: {str(exc).strip()}") from None
    frame = frame.fillna("")
    if len(frame) - 1 > max_rows:
        raise RefusedError(f"{name}: the file holds {len(frame) - 1:,} rows; an import takes at most {max_rows:,} "
                           "(RISK_IMPORT_MAX_ROWS)")
    header = [str(h).strip() for h in frame.iloc[0].tolist()]
    body = frame.iloc[1:]
    rows = np.arange(2, len(frame) + 1)
    blank = (body == "").all(axis=1).to_numpy()
    if blank.any():
        body, rows = body.loc[~blank], rows[~blank]
    body.columns = range(body.shape[1])
    return _without_empty_unnamed(header, body.reset_index(drop=True), rows), encoding


def _without_empty_unnamed(header: list[str], frame: pd.DataFrame, rows: np.ndarray, sheet: str = "") -> Table:
    """Columns with neither a name nor a value are dropped (spreadsheets often carry a few); a column with values
    but no name is kept, for the check to name it."""
    keep = [k for k in range(frame.shape[1])
            if (k < len(header) and header[k]) or (frame[k] != "").any()]
    if len(keep) < max(frame.shape[1], len(header)):
        header = [header[k] if k < len(header) else "" for k in keep]
        frame = frame[keep]
        frame.columns = range(len(keep))
    return Table(header=header, frame=frame, rows=rows, sheet=sheet)


def _check_zip(data: bytes, name: str, max_bytes: int) -> zipfile.ZipFile:
    what = what_it_is(data)
    if not data.startswith(b"PK\x03\x04"):
        raise RefusedError(f"{name}: named .xlsx but it is not an Excel workbook (it is {what or 'not a zip file'})"
                           + ("; save it as .xlsx or CSV" if what and ".xls" in what else ""))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise RefusedError(f"{name}: a damaged zip file ({exc})") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise RefusedError(f"{name}: the workbook holds {len(infos):,} parts; a workbook may hold at most "
                           f"{MAX_ZIP_ENTRIES:,}")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > max_bytes * UNPACKED_PER_PACKED_BYTE:
        raise RefusedError(f"{name}: the workbook would unpack to {unpacked / 1e6:,.0f} MB (at most "
                           f"{max_bytes * UNPACKED_PER_PACKED_BYTE / 1e6:,.0f} MB); refused as a possible zip bomb")
    for i in infos:
        if i.file_size > 1_000_000 and i.file_size > MAX_RATIO * max(1, i.compress_size):
            raise RefusedError(f"{name}: the part {i.filename} is compressed {i.file_size // max(1, i.compress_size):,}"
                               f" to 1 (at most {MAX_RATIO} to 1); refused as a possible zip bomb")
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise RefusedError(f"{name}: a zip file but not an Excel workbook (it has no xl/workbook.xml)")
    return archive


# OOXML's escape of a character in text (ST_Xstring): "_x" four hex digits "_"; "_x005F_" is the escape of "_"
_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")


def _escaped(found: re.Match) -> str:
    return chr(int(found[1], 16))


def ooxml_text(value: str) -> str:
    """A cell's text as written: `"a_x000D_\\nb"` -> `"a\\r\\nb"`, `"_x005F_x000D_"` -> `"_x000D_"` (one pass, left
    to right, so an escaped escape stays literal)."""
    return _ESCAPE.sub(_escaped, value) if "_x" in value else value


def _shared_strings(source) -> list[str]:
    """The shared strings of a workbook as they are stored (still escaped): openpyxl's reader without its
    `replace("x005F_", "")`, which loses the difference between `_x000D_` and `_x005F_x000D_`."""
    from openpyxl.cell.text import Text
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    tag = f"{{{SHEET_MAIN_NS}}}si"
    strings = []
    for _, node in iterparse(source):
        if node.tag == tag:
            strings.append(Text.from_tree(node).content)
            node.clear()
    return strings


def _load(data: bytes):
    """openpyxl's load_workbook(read_only=True, data_only=True, keep_vba=False, keep_links=False), with the shared
    strings kept as stored (see _shared_strings)."""
    from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

    class Reader(ExcelReader):
        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as source:
                    self.shared_strings = _shared_strings(source)

    reader = Reader(io.BytesIO(data), read_only=True, keep_vba=False, data_only=True, keep_links=False)
    reader.read()
    return reader.wb


def _text(value: object) -> str:
    if value is None:
        return ""
    if value.__class__ is str:  # shared or inline, a text cell's text is escaped alike
        return ooxml_text(value) if "_x" in value else value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class Workbook:
    """An XLSX workbook opened safely; `sheet(name)` reads one sheet as a Table."""

    def __init__(self, data: bytes, name: str, max_bytes: int, max_rows: int):
        from defusedxml import DefusedXmlException

        self.name, self.max_rows = name, max_rows
        _check_zip(data, name, max_bytes)
        self._defused = DefusedXmlException
        self._book = self._guard(lambda: _load(data))
        self.sheetnames: list[str] = list(self._book.sheetnames)

    def _guard(self, work):
        try:
            return work()
        except RefusedError:
            raise
        except Exception as exc:  # openpyxl raises many kinds of error on a damaged workbook
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, self._defused):
                cause = cause.__cause__ or cause.__context__
            if cause is not None:
                raise RefusedError(f"{self.name}: the workbook's XML declares entities ({type(cause).__name__}); "
                                   "refused, as such a file can expand without bound (XML entity expansion)") from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RefusedError(f"{self.name}: not a readable Excel workbook ({type(exc).__name__}: {first})") from None

    def sheet(self, title: str, limit: int | None = None, empty_ok: bool = False) -> Table:
        """One sheet as text; `limit` stops after that many data rows (for a look at the header)."""
        def read() -> Table:
            ws = self._book[title]
            ws.reset_dimensions()  # the declared used range may be stale: read every row and column there is
            header: list[str] | None = None
            values: list[tuple] = []
            numbers: list[int] = []
            for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
                if header is None:
                    header = [_text(v).strip() for v in row]
                    continue
                if all(v is None or v == "" for v in row):
                    continue
                if limit is not None and len(values) >= limit:
                    break
                if len(values) >= self.max_rows:
                    raise RefusedError(f"{self.name}: the sheet {title!r} holds more than {self.max_rows:,} rows; an "
                                       f"import takes at most {self.max_rows:,} (RISK_IMPORT_MAX_ROWS)")
                values.append(row)
                numbers.append(number)
            if header is None:
                if empty_ok:
                    return Table(header=[], frame=pd.DataFrame(dtype="str"), rows=np.array([], dtype=np.int64),
                                 sheet=title)
                raise RefusedError(f"{self.name}: the sheet {title!r} is empty")
            width = max([len(header), *(len(v) for v in values)]) if values else len(header)
            frame = pd.DataFrame([tuple(_text(v) for v in row) + ("",) * (width - len(row)) for row in values],
                                 columns=range(width), dtype="str") if values else \
                pd.DataFrame({k: pd.Series([], dtype="str") for k in range(width)})
            return _without_empty_unnamed(header, frame, np.array(numbers, dtype=np.int64), title)

        return self._guard(read)

    def close(self) -> None:
        self._book.close()
