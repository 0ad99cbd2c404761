"""The meeting packet's charts, drawn with reportlab's graphics: vector shapes and text in the PDF, no images.

The same data, colours and words as the app's Altair charts (risk/charts.py: `heatmap`, `heatmap_cells`,
`category_profile`), without Altair, pandas or vl-convert: a command-line packet paid 1.4 s importing those and
1.7 s rendering three PNGs in vl-convert, then 0.6 s while reportlab decoded them. The cells and the category
counts are computed here in plain Python; tests/test_packet_charts.py checks them against the app's charts so that
the two cannot drift apart.

Two charts:
- `heatmap`: a 5x5 risk matrix (the NIST layout: likelihood up the vertical axis, impact along the horizontal one),
  each cell coloured by its level with its count and up to MAX_IDS_IN_CELL risk ids as text (white on the darker
  half of the palette), the axis labels "1 Very Low" .. "5 Very High", a title and a legend of the levels.
- `category_profile`: the risks of each category as a horizontal bar stacked by residual level ("Not scored"
  first, in grey), the worst level, the appetite and how many are over it written beside the bar."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from reportlab.graphics.shapes import Drawing, Group, Line, Rect, String
from reportlab.lib.colors import Color, HexColor, black, white
from reportlab.pdfbase.pdfmetrics import stringWidth

from risk import scoring
from risk.scoring import CATEGORIES, LEVEL_COLOURS, SCORE_LABELS

MAX_IDS_IN_CELL = scoring.MAX_IDS_IN_CELL
NOT_SCORED = "Not scored"
NOT_SCORED_COLOUR = "#d9d9d9"
HEATMAP_TITLES = (("inherent", "Inherent risk (before controls)"), ("residual", "Residual risk (with controls)"))
CATEGORY_TITLE = "Each category: risks by residual level, the worst, and the appetite"

FONT, BOLD = "Helvetica", "Helvetica-Bold"
TITLE_SIZE, AXIS_TITLE_SIZE, LABEL_SIZE, LEGEND_SIZE = 9, 7.5, 7, 7
COUNT_SIZE, ID_SIZE, MIN_ID_SIZE = 8, 6.5, 4.5
GREY, GRID = HexColor("#555555"), HexColor("#e6e6e6")


# --- the data, in plain Python --------------------------------------------------------------------------------------

heatmap_cells = scoring.heatmap_cell_rows  # the cells, as the app's charts have them (one home: risk/scoring.py)


def phase_points(views: Iterable, phase: str) -> list[tuple[str, int | None, int | None]]:
    """(risk_id, likelihood, impact) of each risk's standing value in `phase` ("inherent" or "residual");
    `views` are risk.services.profile.RiskView."""
    return [(v.risk.risk_id, getattr(v, phase).likelihood, getattr(v, phase).impact) for v in views]


def category_rows(views: Iterable) -> list[dict]:
    """One row per risk as risk.services.views.risk_frame has them for the category profile: category (its name),
    level (residual, or "Not scored"), appetite, over_appetite."""
    return [{"category": CATEGORIES[v.risk.category], "level": v.residual.level or NOT_SCORED,
             "appetite": v.appetite, "over_appetite": bool(v.over_appetite)} for v in views]


def category_summary(rows: Sequence[Mapping], levels: Sequence[str]) -> list[dict]:
    """Per category present, in the order of CATEGORIES: the risks at each level ("Not scored" first, then the
    matrix's levels lowest first, only those with risks), the total, how many are over appetite, the appetite (that
    of its first risk), the worst level ("not scored" when none is scored) and the note written beside its bar, in
    the words of risk.charts.category_profile."""
    rank = {name: k for k, name in enumerate(levels)}
    domain = [NOT_SCORED, *levels]
    out = []
    for category in CATEGORIES.values():
        mine = [r for r in rows if r["category"] == category]
        if not mine:
            continue
        counts = {level: n for level in domain if (n := sum(r["level"] == level for r in mine))}
        worst = max((r["level"] for r in mine if r["level"] in rank), key=rank.get, default="not scored")
        over = sum(bool(r["over_appetite"]) for r in mine)
        appetite = mine[0]["appetite"]
        out.append({"category": category, "counts": counts, "total": len(mine), "over": over, "appetite": appetite,
                    "worst": worst,
                    "note": f"worst {worst} · appetite {appetite}" + (f" · {over} over appetite" if over else "")})
    return out


def level_colours(levels: Sequence[str]) -> dict[str, str]:
    """Each level's colour on the colour-blind-safe palette (as risk.charts.level_scale); "Not scored" light grey."""
    real = [lv for lv in levels if lv != NOT_SCORED]
    colours = dict(zip(real, LEVEL_COLOURS[len(real)], strict=True))
    if NOT_SCORED in levels:
        colours[NOT_SCORED] = NOT_SCORED_COLOUR
    return colours


def dark_levels(levels: Sequence[str]) -> list[str]:
    """The levels whose cells take white text: the darker half of the palette (as risk.charts.heatmap)."""
    return list(levels)[len(levels) // 2 + 1:]


# --- drawing helpers ------------------------------------------------------------------------------------------------

def _width(text: str, size: float, font: str = FONT) -> float:
    return stringWidth(text, font, size)


def _text(x: float, y: float, text: str, size: float, *, font: str = FONT, anchor: str = "start",
          colour: Color = black) -> String:
    return String(x, y, text, fontName=font, fontSize=size, fillColor=colour, textAnchor=anchor)


def _vertical(x: float, y: float, text: str, size: float, font: str = BOLD) -> Group:
    """`text` read upwards, centred on (x, y) (an axis title on the left)."""
    return Group(_text(0, 0, text, size, font=font, anchor="middle"), transform=(0, 1, -1, 0, x, y))


def _clipped(text: str, size: float, room: float, font: str = FONT) -> str:
    """`text`, cut with an ellipsis if it does not fit in `room` points."""
    if _width(text, size, font) <= room:
        return text
    while text and _width(text + "…", size, font) > room:
        text = text[:-1]
    return text + "…"


def _legend(width: float, title: str, entries: Sequence[tuple[str, str]], *, one_column: bool = False
            ) -> tuple[Group, float]:
    """A legend whose top left corner is at (0, 0): its title, then a swatch and a name per entry, side by side
    in rows no wider than `width` (or one under the other). Returns it and its height."""
    shapes: list = [_text(0, -LEGEND_SIZE, title, LEGEND_SIZE, font=BOLD)]
    swatch, gap, space, leading = 7, 3, 10, LEGEND_SIZE + 4
    x, row = 0.0, 0
    for name, colour in entries:
        room = swatch + gap + _width(name, LEGEND_SIZE)
        if x and (one_column or x + room > width):
            x, row = 0.0, row + 1
        y = -LEGEND_SIZE - 4 - (row + 1) * leading
        shapes.append(Rect(x, y, swatch, swatch, fillColor=HexColor(colour), strokeColor=GREY, strokeWidth=0.25))
        shapes.append(_text(x + swatch + gap, y + 0.5, name, LEGEND_SIZE))
        x += room + space
    return Group(*shapes), LEGEND_SIZE + 4 + (row + 1) * leading


def _between(ink: Color, paper: str, share: float) -> Color:
    """`ink` moved `share` of the way towards the colour `paper` (quieter text that stays readable)."""
    p = HexColor(paper)
    return Color(*(i + (q - i) * share for i, q in ((ink.red, p.red), (ink.green, p.green), (ink.blue, p.blue))))


def _cell_lines(label: str, room_w: float, room_h: float) -> tuple[list[str], float]:
    """A cell's label (its count, then its risk ids two to a line) as the lines drawn under the count, and their
    font size: the app's pairs when they fit, one id a line when they do not, the font shrunk (to MIN_ID_SIZE) or a
    line cut with an ellipsis only when even that does not fit."""
    ids = label.split("\n")[1:]
    singles = [part for line in ids for part in line.split(", ")]
    for size in (ID_SIZE, 6, 5.5, 5, MIN_ID_SIZE):
        for lines in (ids, singles):
            if (max((_width(t, size) for t in lines), default=0) <= room_w
                    and COUNT_SIZE + 1 + len(lines) * (size + 1) <= room_h):
                return lines, size
    lines = singles[:max(0, int((room_h - COUNT_SIZE - 1) // (MIN_ID_SIZE + 1)))]
    return [_clipped(t, MIN_ID_SIZE, room_w) for t in lines], MIN_ID_SIZE


def _ticks(top: float) -> list[int]:
    """Whole-number ticks from 0 up to `top`, at most about 10 of them (steps of 1, 2, 5, 10, 20, ...)."""
    step = 1
    while top / step > 10:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return list(range(0, int(top) + 1, step))


# --- the charts -----------------------------------------------------------------------------------------------------

def heatmap(cells: Sequence[Mapping], levels: Sequence[str], title: str, width: float = 258) -> Drawing:
    """A risk matrix heat map `width` points wide (its height follows): likelihood up the vertical axis, impact
    along the horizontal one, each cell in its level's colour with its count and risk ids, a title above and a
    legend of the levels below. `cells` are heatmap_cells's rows."""
    colours, dark = level_colours(levels), set(dark_levels(levels))
    label_w = max(_width(f"{k} {name}", LABEL_SIZE) for k, name in enumerate(SCORE_LABELS, 1))
    left = AXIS_TITLE_SIZE + 4 + label_w + 4  # the axis title, its labels, then the plot
    plot_w = width - left - 2
    cell_w = plot_w / 5
    cell_h = round(cell_w * 1.15, 1)
    plot_h = 5 * cell_h
    legend, legend_h = _legend(width, "Level of risk", [(name, colours[name]) for name in levels])
    x_labels_h = 3 * (LABEL_SIZE + 1)  # "1" / "Very" / "Low"
    bottom = legend_h + 8 + AXIS_TITLE_SIZE + 4 + x_labels_h + 4  # the plot's lower edge
    height = bottom + plot_h + 6 + TITLE_SIZE + 2
    d = Drawing(width, height)
    d.add(_text(left + plot_w / 2, height - TITLE_SIZE, title, TITLE_SIZE, font=BOLD, anchor="middle"))
    for cell in cells:
        col, row = cell["impact"] - 1, cell["likelihood"] - 1
        x, y = left + col * cell_w, bottom + row * cell_h
        level = cell["level"]
        d.add(Rect(x, y, cell_w, cell_h, fillColor=HexColor(colours[level]), strokeColor=white, strokeWidth=1.5))
        ink = white if level in dark else black
        lines, size = _cell_lines(cell["label"], cell_w - 4, cell_h - 4)
        block = COUNT_SIZE + len(lines) * (size + 1)
        top = y + cell_h / 2 + block / 2
        # every cell shows its count, 0 too (the app leaves an empty cell blank; on paper a blank reads as missing),
        # an empty cell's quieter, so that the eye goes to the cells with risks
        d.add(_text(x + cell_w / 2, top - COUNT_SIZE + 1, str(cell["count"]), COUNT_SIZE,
                    font=BOLD if cell["count"] else FONT, anchor="middle",
                    colour=ink if cell["count"] else _between(ink, colours[level], 0.4)))
        for k, line in enumerate(lines):
            d.add(_text(x + cell_w / 2, top - COUNT_SIZE - (k + 1) * (size + 1) + 1, line, size, anchor="middle",
                        colour=ink))
    for k, name in enumerate(SCORE_LABELS, 1):  # likelihood labels, 1 at the bottom
        d.add(_text(left - 4, bottom + (k - 0.5) * cell_h - LABEL_SIZE / 3, f"{k} {name}", LABEL_SIZE, anchor="end"))
        for j, word in enumerate(f"{k} {name}".split(" ")):  # impact labels, a word a line
            d.add(_text(left + (k - 0.5) * cell_w, bottom - 4 - (j + 1) * (LABEL_SIZE + 1) + 1, word, LABEL_SIZE,
                        anchor="middle"))
    d.add(_vertical(AXIS_TITLE_SIZE - 1, bottom + plot_h / 2, "Likelihood", AXIS_TITLE_SIZE))
    d.add(_text(left + plot_w / 2, bottom - 4 - x_labels_h - 4 - AXIS_TITLE_SIZE + 1, "Impact", AXIS_TITLE_SIZE,
                font=BOLD, anchor="middle"))
    legend.translate(0, legend_h)
    d.add(legend)
    return d


def category_profile(rows: Sequence[Mapping], levels: Sequence[str], title: str = CATEGORY_TITLE,
                     width: float = 525) -> Drawing:
    """The risks of each category as a bar stacked by residual level, with the worst level, the appetite and how
    many are over it beside the bar, `width` points wide. `rows`: one per risk (category_rows)."""
    domain = [NOT_SCORED, *levels]
    colours = level_colours(domain)
    summary = category_summary(rows, levels)
    step, note_size = 20, LABEL_SIZE + 0.5
    legend_w = max(_width("Residual level", LEGEND_SIZE, BOLD),
                   max(_width(name, LEGEND_SIZE) for name in domain) + 7 + 3) + 4
    label_w = max(_width(s["category"], LABEL_SIZE) for s in summary)
    left = AXIS_TITLE_SIZE + 6 + label_w + 4
    plot_w = width - left - 12 - legend_w
    # the scale leaves room on the right of every bar for its note (the app's scale runs to 2.2 times the longest)
    top_total = max(s["total"] for s in summary)
    per_risk = min([plot_w / (top_total * 2.2)]
                   + [(plot_w - 4 - _width(s["note"], note_size)) / s["total"] for s in summary])
    per_risk = max(per_risk, plot_w / (top_total * 6))  # a very long note is cut rather than the bars crushed
    plot_h = step * len(summary)
    axis_h = AXIS_TITLE_SIZE + 4 + LABEL_SIZE + 6  # under the plot: its tick labels and its title
    legend, legend_h = _legend(legend_w, "Residual level", [(name, colours[name]) for name in domain], one_column=True)
    height = max(axis_h + plot_h, legend_h) + 8 + TITLE_SIZE + 2
    bottom = height - TITLE_SIZE - 10 - plot_h  # the plot right under the title, however tall the legend
    d = Drawing(width, height)
    d.add(_text(left + plot_w / 2, height - TITLE_SIZE, title, TITLE_SIZE, font=BOLD, anchor="middle"))
    for tick in _ticks(plot_w / per_risk):
        x = left + tick * per_risk
        d.add(Line(x, bottom, x, bottom + plot_h, strokeColor=GRID, strokeWidth=0.5))
        d.add(Line(x, bottom, x, bottom - 3, strokeColor=GREY, strokeWidth=0.5))
        d.add(_text(x, bottom - 4 - LABEL_SIZE + 1, str(tick), LABEL_SIZE, anchor="middle"))
    d.add(Line(left, bottom, left + plot_w, bottom, strokeColor=GREY, strokeWidth=0.5))
    d.add(Line(left, bottom, left, bottom + plot_h, strokeColor=GREY, strokeWidth=0.5))
    bar_h = step * 0.8
    for k, s in enumerate(summary):
        y = bottom + plot_h - (k + 1) * step + (step - bar_h) / 2
        middle = y + bar_h / 2 - LABEL_SIZE / 3
        d.add(_text(left - 4, middle, s["category"], LABEL_SIZE, anchor="end"))
        x = left
        for level in domain:  # "Not scored", then lowest to highest, from the axis out
            if n := s["counts"].get(level):
                d.add(Rect(x, y, n * per_risk, bar_h, fillColor=HexColor(colours[level]), strokeColor=None))
                x += n * per_risk
        d.add(_text(x + 4, middle, _clipped(s["note"], note_size, left + plot_w - x - 4), note_size))
    d.add(_vertical(AXIS_TITLE_SIZE - 1, bottom + plot_h / 2, "Category", AXIS_TITLE_SIZE))
    d.add(_text(left + plot_w / 2, bottom - axis_h + 1, "Number of risks", AXIS_TITLE_SIZE, font=BOLD,
                anchor="middle"))
    legend.translate(width - legend_w, height - TITLE_SIZE - 8)
    d.add(legend)
    return d
