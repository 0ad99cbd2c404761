"""The meeting packet: a few PDF pages a council can read (reportlab). Summary, heat maps, the top risks in plain
sentences, category profile, open actions, then its sections (who pays for what, risk in money: headings,
sentences and tables in the open actions' style), and the SHA-256 of the data the packet was made from beside the
audit log's head when it was read.
The charts are reportlab drawings (risk/exchange/packet_charts.py): vector shapes and text, no images.
User text is escaped before it reaches reportlab's paragraph markup."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reportlab.lib import colors
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

if TYPE_CHECKING:
    from reportlab.graphics.shapes import Drawing

MARGIN = 0.6 * inch
TEXT_WIDTH = letter[0] - 2 * MARGIN  # the tables' width
CHART_WIDTH = TEXT_WIDTH - 12  # a chart as wide as the page: the frame's width inside its padding (6 points a side)
HALF_WIDTH = (CHART_WIDTH - 10) / 2  # the two heat maps side by side, 10 points apart


def escape(text: str) -> str:
    """Text for reportlab's paragraph markup: &, < and > as entities (xml.sax.saxutils.escape, whose import
    pulls in urllib.request and the email package: 60 ms of a command-line packet)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class PacketTable:
    """A table of a section: a header row and rows of text; `widths` are fractions of the text width; the columns
    from `figures_from` on hold figures (right-aligned); with `total`, the last row is a total (bold)."""

    columns: list[str]
    rows: list[list[str]]
    widths: list[float]
    figures_from: int = 1
    total: bool = False


@dataclass
class Section:
    """A heading, then its parts in order: a sentence (str), a sentence after a bold label ((label, text)) or a
    table."""

    heading: str
    parts: list[str | tuple[str, str] | PacketTable] = field(default_factory=list)


@dataclass
class Packet:
    title: str
    subtitle: str
    summary: list[tuple[str, str]]
    heatmaps: list[Drawing]  # inherent, residual: HALF_WIDTH wide (packet_charts.heatmap)
    category: Drawing | None  # the category profile: CHART_WIDTH wide (packet_charts.category_profile)
    top_risks: list[tuple[str, str]]  # (heading, sentence)
    actions: list[list[str]]  # rows: risk, action, owner, due, status, paid by
    data_sha256: str
    made_at: str
    audit_head: str = ""  # the audit log's head (ID:HASH) when the data was read: `risk audit verify --head`
    sections: list[Section] = field(default_factory=list)  # after the open actions, from a new page


def _table(t: PacketTable, width: float, style: ParagraphStyle) -> Table:
    """A section's table in the open actions' style (grey grid, shaded header), figures right-aligned."""
    right = ParagraphStyle("figures", parent=style, alignment=2)
    bold = ParagraphStyle("total", parent=style, fontName="Helvetica-Bold")
    bold_right = ParagraphStyle("total_figures", parent=right, fontName="Helvetica-Bold")
    last = len(t.rows) if t.total else -1

    def cell(text: str, r: int, c: int) -> Paragraph:
        strong = r == last
        if c >= t.figures_from:
            return Paragraph(escape(str(text)), bold_right if strong else right)
        return Paragraph(escape(str(text)), bold if strong else style)

    rows = [t.columns, *t.rows]
    table = Table([[cell(text, r, c) for c, text in enumerate(row)] for r, row in enumerate(rows)],
                  colWidths=[f * width for f in t.widths], repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def packet_pdf(p: Packet) -> bytes:
    """The packet as PDF bytes (page content uncompressed, so that its text can be searched and checked)."""
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=9.5, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9, textColor=colors.HexColor("#555555"))
    footer_text = f"Data SHA-256: {p.data_sha256} · made {p.made_at}"
    head_text = f"Audit head: {p.audit_head}" if p.audit_head else ""

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(0.6 * inch, 0.45 * inch, footer_text)
        if head_text:
            canvas.drawString(0.6 * inch, 0.33 * inch, head_text)
        canvas.drawRightString(letter[0] - 0.6 * inch, 0.45 * inch, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(buffer, pagesize=letter, leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=MARGIN, bottomMargin=0.7 * inch, title=p.title, pageCompression=0)
    width = TEXT_WIDTH
    story = [Paragraph(escape(p.title), styles["Title"]), Paragraph(escape(p.subtitle), body), Spacer(1, 8)]
    table = Table([[Paragraph(f"<b>{escape(k)}</b>", body), Paragraph(escape(str(v)), body)] for k, v in p.summary],
                  colWidths=[1.9 * inch, width - 1.9 * inch])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [table, Spacer(1, 10)]
    if p.heatmaps:
        maps = Table([p.heatmaps], colWidths=[HALF_WIDTH + 10] * (len(p.heatmaps) - 1) + [HALF_WIDTH])
        maps.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 10),
                                  ("RIGHTPADDING", (-1, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 0),
                                  ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(maps)
    story.append(PageBreak())
    story.append(Paragraph("The highest residual risks", styles["Heading2"]))
    for heading, sentence in p.top_risks:
        story.append(Paragraph(f"<b>{escape(heading)}</b>: {escape(sentence)}", body))
        story.append(Spacer(1, 4))
    if p.category is not None:
        story += [Spacer(1, 8), p.category, Spacer(1, 4)]
    story.append(Paragraph("Open actions", styles["Heading2"]))
    if p.actions:
        rows = [["Risk", "Action", "Owner", "Due", "Status", "Paid by"]] + p.actions
        actions = Table([[Paragraph(escape(str(c)), small) for c in row] for row in rows],
                        colWidths=[0.6 * inch, 2.9 * inch, 1.2 * inch, 0.8 * inch, 0.8 * inch, width - 6.3 * inch],
                        repeatRows=1)
        actions.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
                                     ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")),
                                     ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(actions)
    else:
        story.append(Paragraph("No open actions.", body))
    for k, section in enumerate(p.sections):
        story.append(PageBreak() if k == 0 else Spacer(1, 10))
        story.append(Paragraph(escape(section.heading), styles["Heading2"]))
        for part in section.parts:
            if isinstance(part, PacketTable):
                story += [_table(part, width, small), Spacer(1, 6)]
            elif isinstance(part, tuple):
                story += [Paragraph(f"<b>{escape(part[0])}</b>: {escape(part[1])}", body), Spacer(1, 4)]
            else:
                story += [Paragraph(escape(part), body), Spacer(1, 4)]
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
