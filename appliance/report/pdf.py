"""A scan's PDF report, built from the database alone (the stick may be long gone).

This module puts the report together; its parts have one job each: :mod:`~appliance.report.layout`
(fonts, page decoration, styles), :mod:`~appliance.report.contents` (the scan, read once, cases
in natural order), :mod:`~appliance.report.words` (what is said, escaped),
:mod:`~appliance.report.tables` (the tables), :mod:`~appliance.report.tilemap` (maps of tiled
images), :mod:`~appliance.report.signoff` (the block a person signs) and
:mod:`~appliance.report.writing` (the file appears whole or not at all).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
)

from appliance.decision import SEVERITY
from appliance.report.conditions import condition_rows, condition_warnings, report_time_note
from appliance.report.contents import ScanContents, ScanSource, load_contents
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
from appliance.report.signoff import signoff_block
from appliance.report.tables import case_table, info_table, summary_table
from appliance.report.tilemap import MAP_BOX, has_tile_map
from appliance.report.words import (
    CASE_CHARS,
    NAME_CHARS,
    PATH_CHARS,
    RESEARCH_ONLY,
    STATUS_WORDS,
    specimen_words,
    text,
    when,
)
from appliance.report.writing import ReportError, atomic_output
from appliance.text import display_text

log = logging.getLogger(__name__)

CASE_START = 7 * cm  # room a case needs at the foot of a page to start there

__all__ = ["RESEARCH_ONLY", "ReportError", "build_story", "fonts", "write_scan_report"]


# -- the report ----------------------------------------------------------------------------------


def build_story(contents: ScanContents, *, device: str, f: Fonts) -> list[Flowable]:
    """The report's flowables: the scan's facts, the summary per case, each case's specimen and
    images (with tile maps), then the sign-off block."""
    st = Styles(f)
    scan = contents.scan
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
    story.append(info_table(scan_facts(contents, device), st))
    story.append(Paragraph("Summary per case", st.h2))
    if not contents.cases:
        story.append(Paragraph("No images were recorded in this scan.", st.body))
    else:
        story.append(summary_table(contents, st))
        story.append(
            Paragraph(
                "A case takes the most serious result among its images: "
                + ", then ".join(d.value for d in SEVERITY)
                + ". The verdict is the AI's;"
                " human reviews are shown beside the AI result and do not replace it.",
                st.small,
            )
        )
    for case in contents.cases:
        verdict = case.verdict
        heading = Paragraph(
            f"Case: {text(verdict.case, CASE_CHARS)} — {text(verdict.decision.wording)}", st.h2
        )
        about = [Paragraph(specimen_words(case.details), st.cell)]
        about += [
            Paragraph(text(problem), st.problem)
            for problem in case.details.problems
        ]
        table = case_table(case.images, contents.reviews, contents.thresholds, st, f.unicode)
        # A new page unless the heading, the specimen lines and the table's first rows fit:
        # never a heading alone at the foot of a page, never half a page left blank.
        first = case.images[0]
        room = CASE_START + (MAP_BOX if has_tile_map(first.tiles, contents.thresholds) else 0)
        story += [CondPageBreak(room), KeepTogether([heading, *about]), Spacer(1, 3), table]
    story.append(signoff_block(contents, st))
    return story


def scan_facts(contents: ScanContents, device: str) -> list[tuple[str, str]]:
    """The first page's table: where, when, with what model and rules (markup-safe values)."""
    scan = contents.scan
    return [
        (
            "Report made on",
            text(f"{device}, {when(datetime.now(UTC).isoformat())}{report_time_note()}"),
        ),
        ("Scanned on device", text(scan.device or "not recorded")),
        ("Scan started", text(when(scan.started_at))),
        ("Scan finished", text(when(scan.finished_at))),
        (
            "Scan status",
            f"<b>{text(scan.status)}</b>" + (f" — {text(scan.message)}" if scan.message else ""),
        ),
        ("Source", text(scan.source)),
        ("Volume label", text(scan.volume_label or "none", CASE_CHARS)),
        ("Volume path", text(scan.volume_path or "not recorded", PATH_CHARS)),
        ("Model", text(f"{scan.model_name} version {scan.model_version}")),
        ("Model sha256", text(scan.model_sha256)),
        ("Inference backend", text(scan.backend or "not recorded")),
        ("Thresholds", text(scan.rules.describe())),
        ("Scope gate", text(scan.rules.describe_scope(), None)),
        *((name, text(value)) for name, value in condition_rows(scan)),
        (
            "Images",
            text(
                f"{scan.n_images} in {len(contents.cases)} case(s); {scan.n_errors} could not be"
                f" analysed; {contents.n_reviewed} reviewed by a person"
            ),
        ),
    ]


def write_scan_report(store: ScanSource, scan_id: int, path: Path, *, device: str) -> Path:
    """Write the PDF report of one scan to ``path`` and return it.

    Everything comes from the database. The PDF is written beside ``path`` and renamed into place
    when complete, so a removed stick or full disk never leaves a half report under the real name.
    """
    path = Path(path)
    contents = load_contents(store, scan_id, shown=lambda i: display_text(i.path, NAME_CHARS))
    scan = contents.scan
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
            story = build_story(contents, device=device, f=f)
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
