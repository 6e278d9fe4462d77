"""The PDF's tables: the scan's facts, the verdict per case, and each case's images.

Why the AI result and the human review sit in separate columns: a review never replaces what
the model said; a reader sees both, and who reviewed when.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from typing import Any

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Image, Paragraph, Table, TableStyle

from appliance.decision import CaseVerdict, Decision, case_verdict
from appliance.report.layout import FRAME_W, THUMB, Styles
from appliance.report.words import (
    CASE_CHARS,
    NAME_CHARS,
    PATH_CHARS,
    ai_words,
    review_words,
    text,
)
from appliance.store import ImageRecord, ReviewRecord
from appliance.text import display_text

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


def summary_table(
    verdicts: list[CaseVerdict], overridden: dict[str, int], reviewed: dict[str, int], st: Styles
) -> Table:
    head = ["Case", "Verdict", "Images", "Explanation"]
    data: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", st.cell) for h in head]]
    style = list(GRID_STYLE)
    for row, verdict in enumerate(verdicts, start=1):
        explanation = text(verdict.explanation())
        if reviewed.get(verdict.case):
            explanation += (
                f"<br/>Human review: {reviewed[verdict.case]} image(s) reviewed,"
                f" {overridden.get(verdict.case, 0)} overridden (see the table for the case)."
            )
        data.append(
            [
                Paragraph(text(verdict.case, CASE_CHARS), st.cell),
                Paragraph(f"<b>{text(verdict.decision.wording)}</b>", st.cell),
                Paragraph(str(verdict.n_images), st.cell),
                Paragraph(explanation, st.cell),
            ]
        )
        style.append(("BACKGROUND", (1, row), (1, row), DECISION_TINT[verdict.decision]))
    table = Table(data, colWidths=[3.2 * cm, 3.6 * cm, 1.6 * cm, 9.0 * cm], repeatRows=1)
    table.setStyle(TableStyle(style))
    return table


def case_table(
    images: list[ImageRecord],
    reviews: dict[int, ReviewRecord],
    thresholds: dict[str, Any],
    st: Styles,
    unicode: bool,
) -> Table:
    head = ["Image", "File (on the stick)", "AI result", "Human review"]
    data: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", st.cell) for h in head]]
    style = list(GRID_STYLE)
    for row, image in enumerate(images, start=1):
        data.append(
            [
                thumbnail_flowable(image.thumbnail, st.small),
                Paragraph(text(image.path, PATH_CHARS), st.cell),
                Paragraph(ai_words(image, thresholds, unicode), st.cell),
                Paragraph(review_words(reviews.get(image.id)), st.cell),
            ]
        )
        style.append(("BACKGROUND", (2, row), (2, row), DECISION_TINT[image.effective_decision]))
    table = Table(data, colWidths=[2.5 * cm, 5.3 * cm, 4.2 * cm, 5.4 * cm], repeatRows=1)
    table.setStyle(TableStyle(style))
    return table


def group_by_case(images: list[ImageRecord]) -> dict[str, list[ImageRecord]]:
    cases: dict[str, list[ImageRecord]] = {}
    for image in images:
        cases.setdefault(image.case, []).append(image)
    return cases


def verdicts_for(cases: dict[str, list[ImageRecord]]) -> list[CaseVerdict]:
    """Case verdicts from the AI results (read errors count as unassessable, never dropped)."""
    return [
        case_verdict(
            case,
            [(display_text(i.path, NAME_CHARS), i.effective_decision, i.p_malignant) for i in rows],
        )
        for case, rows in cases.items()
    ]

