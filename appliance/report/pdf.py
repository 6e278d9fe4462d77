"""A scan's PDF report, built from the database alone (the stick may be long gone).

This module puts the report together; its parts have one job each: :mod:`~appliance.report.layout`
(fonts, page decoration, styles), :mod:`~appliance.report.words` (what is said, escaped),
:mod:`~appliance.report.tables` (the tables) and :mod:`~appliance.report.writing` (the file
appears whole or not at all).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer

from appliance.report.conditions import condition_rows, condition_warnings, report_time_note
from appliance.report.layout import (
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    Fonts,
    NumberedCanvas,
    PageDecor,
    Styles,
    fonts,
)
from appliance.report.tables import (
    case_table,
    group_by_case,
    info_table,
    summary_table,
    verdicts_for,
)
from appliance.report.words import (
    CASE_CHARS,
    PATH_CHARS,
    RESEARCH_ONLY,
    STATUS_WORDS,
    describe_thresholds,
    scope_words,
    text,
    when,
)
from appliance.report.writing import ReportError, atomic_output
from appliance.store import ImageRecord, ReviewRecord, ScanRecord, Store
from appliance.text import display_text

log = logging.getLogger(__name__)

__all__ = ["RESEARCH_ONLY", "ReportError", "build_story", "fonts", "write_scan_report"]


# -- the report ----------------------------------------------------------------------------------


def build_story(
    scan: ScanRecord,
    images: list[ImageRecord],
    reviews: dict[int, ReviewRecord],
    *,
    device: str,
    f: Fonts,
) -> list[Flowable]:
    st = Styles(f)
    cases = group_by_case(images)
    verdicts = verdicts_for(cases)
    story: list[Flowable] = [
        Paragraph(f"Scan report — scan #{scan.id}", st.title),
        Paragraph(
            f"<b>{text(RESEARCH_ONLY)}.</b> The results below are the output of a"
            " machine-learning model and are not a diagnosis.",
            st.body,
        ),
    ]
    if scan.status in STATUS_WORDS:
        warning = STATUS_WORDS[scan.status]
        if scan.message:
            warning += f" Reason recorded: {scan.message}"
        story.append(Paragraph(text(warning), st.warning))
    for warning in condition_warnings(scan):
        story.append(Paragraph(text(warning), st.warning))
    story.append(Spacer(1, 4))
    n_reviewed = sum(1 for i in images if i.id in reviews)
    story.append(
        info_table(
            [
                (
                    "Report made on",
                    text(f"{device}, {when(datetime.now(UTC).isoformat())}{report_time_note()}"),
                ),
                ("Scanned on device", text(scan.device or "not recorded")),
                ("Scan started", text(when(scan.started_at))),
                ("Scan finished", text(when(scan.finished_at))),
                (
                    "Scan status",
                    f"<b>{text(scan.status)}</b>"
                    + (f" — {text(scan.message)}" if scan.message else ""),
                ),
                ("Source", text(scan.source)),
                ("Volume label", text(scan.volume_label or "none", CASE_CHARS)),
                ("Volume path", text(scan.volume_path or "not recorded", PATH_CHARS)),
                ("Model", text(f"{scan.model_name} version {scan.model_version}")),
                ("Model sha256", text(scan.model_sha256)),
                ("Inference backend", text(scan.backend or "not recorded")),
                ("Thresholds", text(describe_thresholds(scan.thresholds))),
                ("Scope gate", text(scope_words(scan.thresholds), None)),
                *((name, text(value)) for name, value in condition_rows(scan)),
                (
                    "Images",
                    text(
                        f"{scan.n_images} in {len(cases)} case(s); {scan.n_errors} could not be"
                        f" analysed; {n_reviewed} reviewed by a person"
                    ),
                ),
            ],
            st,
        )
    )
    story.append(Paragraph("Summary per case", st.h2))
    if not verdicts:
        story.append(Paragraph("No images were recorded in this scan.", st.body))
    else:
        overridden: dict[str, int] = {}
        reviewed: dict[str, int] = {}
        for case, case_images in cases.items():
            case_reviews = [reviews[i.id] for i in case_images if i.id in reviews]
            reviewed[case] = len(case_reviews)
            overridden[case] = sum(1 for r in case_reviews if not r.agreed)
        story.append(summary_table(verdicts, overridden, reviewed, st))
        story.append(
            Paragraph(
                "A case takes the most serious result among its images: malignant, then"
                " indeterminate, then unassessable, then benign. The verdict is the AI's;"
                " human reviews are shown beside the AI result and do not replace it.",
                st.small,
            )
        )
    for verdict in verdicts:
        heading = Paragraph(
            f"Case: {text(verdict.case, CASE_CHARS)} — {text(verdict.decision.wording)}", st.h2
        )
        table = case_table(cases[verdict.case], reviews, scan.thresholds, st, f.unicode)
        story.append(KeepTogether([heading, Spacer(1, 2)]))
        story.append(table)
    return story


def write_scan_report(store: Store, scan_id: int, path: Path, *, device: str) -> Path:
    """Write the PDF report of one scan to ``path`` and return it.

    Everything comes from the database. The PDF is written beside ``path`` and renamed into place
    when complete, so a removed stick or full disk never leaves a half report under the real name.
    """
    path = Path(path)
    scan = store.scan(scan_id)
    images = store.images(scan_id)
    reviews = store.latest_reviews(scan_id)
    f = fonts()
    decor = PageDecor(
        model=f"{scan.model_name} version {scan.model_version}",
        sha256=scan.model_sha256,
        device=display_text(device, 60),
        scan_label=f"Scan #{scan.id}, {when(scan.started_at)}",
        fonts=f,
    )
    try:
        with atomic_output(path) as part:
            story = build_story(scan, images, reviews, device=device, f=f)
            doc = SimpleDocTemplate(
                str(part),
                pagesize=A4,
                leftMargin=MARGIN_X,
                rightMargin=MARGIN_X,
                topMargin=MARGIN_TOP,
                bottomMargin=MARGIN_BOTTOM,
                title=f"Scan report #{scan.id}",
                author=device,
                subject=RESEARCH_ONLY,
                creator="histo-appliance",
            )
            maker: Callable[..., canvas.Canvas] = partial(NumberedCanvas, decor=decor)
            doc.build(story, canvasmaker=maker)
    except ReportError:
        raise
    except Exception as exc:  # reportlab layout (LayoutError) or a font that cannot draw a name
        log.error("report of scan %s could not be laid out", scan_id, exc_info=True)
        raise ReportError(
            f"The report of scan {scan_id} could not be laid out ({type(exc).__name__}). The"
            " results are kept in the database; please tell the administrator (details in the log)."
        ) from exc
    store.audit("report_written", scan_id=scan_id, path=str(path), device=device)
    return path
