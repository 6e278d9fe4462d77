"""The PDF's tables: the scan's facts, the verdict per case, and each case's images.

Why the AI result and the human review sit in separate columns: a review never replaces what
the model said; a reader sees both, and who reviewed when.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Image, Paragraph, Table, TableStyle

from appliance.decision import Decision
from appliance.report.contents import ScanContents
from appliance.report.layout import FRAME_W, THUMB, Styles
from appliance.report.tilemap import tile_map_flowable
from appliance.report.words import (
    CASE_CHARS,
    PATH_CHARS,
    ai_words,
    review_words,
    specimen_cell,
    text,
)
from appliance.store import ImageRecord, ReviewRecord
from appliance.values import Thresholds

log = logging.getLogger(__name__)

# Cell tints behind a decision's words (pale, so black text stays readable).
DECISION_TINT = {
    Decision.MALIGNANT: colors.HexColor("#f6d5d5"),
    Decision.INDETERMINATE: colors.HexColor("#fbe9c8"),
    Decision.BENIGN: colors.HexColor("#d9efd9"),
    Decision.UNASSESSABLE: colors.HexColor("#e4e4e4"),
}
GRID_STYLE: list[tuple] = [
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
]


def thumbnail_flowable(data: bytes | None, style: ParagraphStyle) -> Flowable:
    """The stored JPEG, scaled into the cell; "no image" when absent or unreadable."""
    if data:
        try:
            with PILImage.open(io.BytesIO(data)) as probe:
                width, height = probe.size
                probe.verify()
            scale = min(THUMB / width, THUMB / height)
            return Image(io.BytesIO(data), width=width * scale, height=height * scale)
        except Exception:  # a damaged thumbnail must not stop the report
            log.warning("unreadable thumbnail in the database", exc_info=True)
    return Paragraph("no image", style)


def info_table(rows: Iterable[tuple[str, str]], st: Styles) -> Table:
    data = [[Paragraph(f"<b>{text(k)}</b>", st.cell), Paragraph(v, st.cell)] for k, v in rows]
    table = Table(data, colWidths=[4.0 * cm, FRAME_W - 4.0 * cm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def summary_table(contents: ScanContents, st: Styles) -> Table:
    """One row per case: its specimen, the AI's verdict, how many images, and why."""
    head = ["Case", "Specimen", "Verdict", "Images", "Explanation"]
    data: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", st.cell) for h in head]]
    style = list(GRID_STYLE)
    for row, case in enumerate(contents.cases, start=1):
        verdict = case.verdict
        explanation = text(verdict.explanation())
        reviews = [r for image in case.images if (r := contents.review(image)) is not None]
        if reviews:
            overridden = sum(1 for r in reviews if not r.agreed)
            explanation += (
                f"<br/>Human review: {len(reviews)} image(s) reviewed,"
                f" {overridden} overridden (see the table for the case)."
            )
        data.append(
            [
                Paragraph(text(verdict.case, CASE_CHARS), st.cell),
                Paragraph(specimen_cell(case.details), st.cell),
                Paragraph(f"<b>{text(verdict.decision.wording)}</b>", st.cell),
                Paragraph(str(verdict.n_images), st.cell),
                Paragraph(explanation, st.cell),
            ]
        )
        style.append(("BACKGROUND", (2, row), (2, row), DECISION_TINT[verdict.decision]))
    widths = [3.4 * cm, 2.9 * cm, 2.8 * cm, 1.5 * cm, FRAME_W - 10.6 * cm]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(style))
    return table


def case_table(
    images: Sequence[ImageRecord],
    reviews: dict[int, ReviewRecord],
    thresholds: Thresholds | None,
    st: Styles,
    unicode: bool,
) -> Table:
    """One row per image: thumbnail, file, AI result, human review; a tiled image's row is
    followed by its tile map across the table's width."""
    head = ["Image", "File (on the stick)", "AI result", "Human review"]
    data: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", st.cell) for h in head]]
    style = list(GRID_STYLE)
    for image in images:
        row = len(data)
        data.append(
            [
                thumbnail_flowable(image.thumbnail, st.small),
                Paragraph(text(image.path, PATH_CHARS), st.cell),
                Paragraph(ai_words(image, thresholds, unicode), st.cell),
                Paragraph(review_words(reviews.get(image.id)), st.cell),
            ]
        )
        style.append(("BACKGROUND", (2, row), (2, row), DECISION_TINT[image.effective_decision]))
        tile_map = tile_map_flowable(image.tiles, thresholds, image.thumbnail, st, unicode=unicode)
        if tile_map is not None:
            data.append([tile_map, "", "", ""])
            style.append(("SPAN", (0, row + 1), (-1, row + 1)))
            style.append(("NOSPLIT", (0, row), (-1, row + 1)))  # the map stays with its image
    table = Table(data, colWidths=[2.5 * cm, 5.3 * cm, 4.2 * cm, 5.4 * cm], repeatRows=1)
    table.setStyle(TableStyle(style))
    return table
