"""A scan's PDF report, built from the database alone (the stick may be long gone).

Why every page repeats the research-only statement, the model identity and "page N of M": a
single page printed or photographed on its own must still say what produced it and that it is
not a diagnosis. Why everything from the stick or a person is escaped: file names and notes are
text, and a name like ``<b>x</b>.png`` must print as written, not change the report's layout.
"""

from __future__ import annotations

import contextlib
import glob
import io
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from appliance.decision import CaseVerdict, Decision, case_verdict
from appliance.errors import ApplianceError
from appliance.report.conditions import condition_rows, condition_warnings, report_time_note
from appliance.store import ImageRecord, ReviewRecord, ScanRecord, Store
from appliance.text import display_text

log = logging.getLogger(__name__)

RESEARCH_ONLY = "For research use only — not for diagnostic use"

PAGE_W, PAGE_H = A4
MARGIN_X = 1.8 * cm
MARGIN_TOP = 2.9 * cm
MARGIN_BOTTOM = 2.0 * cm
THUMB = 2.1 * cm

DECISION_TINT = {
    Decision.MALIGNANT: colors.HexColor("#f6d5d5"),
    Decision.INDETERMINATE: colors.HexColor("#fbe9c8"),
    Decision.BENIGN: colors.HexColor("#d9efd9"),
    Decision.UNASSESSABLE: colors.HexColor("#e4e4e4"),
}
STATUS_WORDS = {
    "running": "NOT FINISHED — the scan was still running (or the appliance stopped) when this"
    " report was made; images after the last one listed were not analysed.",
    "interrupted": "INTERRUPTED — the scan stopped before every image was analysed (for example"
    " the stick was removed). Only the images listed below have results.",
    "cancelled": "CANCELLED — the scan was stopped by the user before every image was analysed."
    " Only the images listed below have results.",
    "failed": "FAILED — the scan stopped because of an error. Only the images listed below have"
    " results.",
}


class ReportError(ApplianceError):
    """The report could not be written (disk full, stick removed, folder not writable)."""


# -- fonts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    unicode: bool  # False for the built-in Helvetica: no "≥", no non-Latin file names


_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    (os.path.join(os.path.dirname(reportlab.__file__), "fonts", "Vera.ttf"), "VeraBd.ttf"),
)


@lru_cache(maxsize=1)
def fonts() -> Fonts:
    """DejaVu Sans if installed (wide Unicode cover for names), else reportlab's own Vera, else
    Helvetica (WinAnsi: has the em dash of the research-only statement, little else)."""
    candidates = list(_FONT_CANDIDATES)
    candidates[1:1] = [
        (found, "DejaVuSans-Bold.ttf")
        for found in sorted(glob.glob("/usr/share/fonts/**/DejaVuSans.ttf", recursive=True))
    ]
    for regular, bold_name in candidates:
        bold = os.path.join(os.path.dirname(regular), bold_name)
        if not (os.path.isfile(regular) and os.path.isfile(bold)):
            continue
        stem = Path(regular).stem
        try:
            pdfmetrics.registerFont(TTFont(f"Appliance-{stem}", regular))
            pdfmetrics.registerFont(TTFont(f"Appliance-{stem}-Bold", bold))
        except Exception as exc:  # a broken font file must not stop the report
            log.warning("cannot use font %s: %s", regular, exc)
            continue
        return Fonts(f"Appliance-{stem}", f"Appliance-{stem}-Bold", unicode=True)
    return Fonts("Helvetica", "Helvetica-Bold", unicode=False)


# -- page decoration (two passes: "page N of M") -------------------------------------------------


@dataclass(frozen=True)
class PageDecor:
    """What every page carries, whatever page it is."""

    model: str
    sha256: str
    device: str
    scan_label: str
    fonts: Fonts

    def draw(self, c: canvas.Canvas, page: int, total: int) -> None:
        c.saveState()
        top = PAGE_H - 1.1 * cm
        c.setFillColor(colors.HexColor("#8b0000"))
        c.setFont(self.fonts.bold, 10)
        c.drawString(MARGIN_X, top, RESEARCH_ONLY)
        c.setFillColor(colors.black)
        c.setFont(self.fonts.regular, 7.5)
        c.drawString(MARGIN_X, top - 11, f"Model: {self.model}")
        c.drawString(MARGIN_X, top - 21, f"Model sha256: {self.sha256}")
        c.setStrokeColor(colors.grey)
        c.line(MARGIN_X, top - 27, PAGE_W - MARGIN_X, top - 27)
        bottom = 1.1 * cm
        c.line(MARGIN_X, bottom + 10, PAGE_W - MARGIN_X, bottom + 10)
        c.setFont(self.fonts.regular, 7.5)
        c.drawString(MARGIN_X, bottom, f"{self.scan_label} · Device: {self.device}")
        c.drawCentredString(PAGE_W / 2, bottom - 10, RESEARCH_ONLY)
        c.setFont(self.fonts.bold, 8)
        c.drawRightString(PAGE_W - MARGIN_X, bottom, f"Page {page} of {total}")
        c.restoreState()


class NumberedCanvas(canvas.Canvas):
    """Holds every page until the end, so each can say how many pages there are in all."""

    def __init__(self, *args: Any, decor: PageDecor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decor = decor
        self._saved_pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._saved_pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved_pages)
        for number, state in enumerate(self._saved_pages, start=1):
            self.__dict__.update(state)
            self._decor.draw(self, number, total)
            super().showPage()
        super().save()


# -- text helpers --------------------------------------------------------------------------------


def when(iso: str | None) -> str:
    """Stored UTC ISO-8601 → '2024-05-01 12:00:00 UTC' (said as UTC: no guessing the zone)."""
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(iso).astimezone(UTC)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# Longest text (in characters) any one stick- or person-given value may take in the PDF. A table
# row cannot be split across pages, so a cell taller than a page makes reportlab give up
# (LayoutError): every such value is shortened in the middle to fit well inside one page.
PATH_CHARS = 300  # a file path in the 5.3 cm column: about 9 lines
CASE_CHARS = 160  # a case (folder) name in the 3.2 cm summary column and in headings
NAME_CHARS = 120  # a file name quoted inside a sentence (case explanations)
LONG_CHARS = 1200  # messages in full-width or wide cells
CELL_CHARS = 400  # an error message in the 4.2 cm AI-result column
NOTE_CHARS = 500  # a review note in the 5.4 cm review column
WHO_CHARS = 80  # a reviewer's name


def text(value: object, max_len: int | None = LONG_CHARS) -> str:
    """User or stick text made safe for a Paragraph: shown literally, never read as markup,
    without bytes the font cannot draw or characters that break lines, and never longer than
    ``max_len`` (see :func:`appliance.text.display_text`)."""
    return escape(display_text(value, max_len))


def note_lines(value: object, max_len: int = NOTE_CHARS, max_lines: int = 8) -> str:
    """Like :func:`text`, but a person's line breaks (a review note) stay line breaks; at most
    ``max_lines`` lines and about ``max_len`` characters in all."""
    parts = ("" if value is None else str(value)).splitlines()[:max_lines] or [""]
    each = max(max_len // len(parts), 8)
    return "<br/>".join(text(part, each) for part in parts)


def describe_thresholds(thresholds: dict[str, Any]) -> str:
    names = {
        "benign_below": "benign below",
        "malignant_at": "malignant at or above",
        "operating_point": "operating point",
        "allowed_range": "admin may set within",
    }
    parts = []
    for key, value in thresholds.items():
        if key == "scope":  # shown in its own row (scope_words)
            continue
        if isinstance(value, float):
            value = f"{value:.3f}"
        elif isinstance(value, list | tuple):
            value = "–".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
        parts.append(f"{names.get(key, key.replace('_', ' '))} {value}")
    return "; ".join(parts) or "not recorded"


def scope_words(thresholds: dict[str, Any]) -> str:
    """The scope gate's limits the scan ran with: what an image had to be to get an answer."""
    lines = thresholds.get("scope")
    if not lines:
        return "none recorded (only images too small were refused)"
    return "; ".join(f"{what}: {limit}" for what, limit in lines)


def tile_probabilities(tiles: Any) -> list[float] | None:
    """The per-tile malignant probabilities in a stored tile map, whatever its layout.

    Accepts a list (or grid of lists) of numbers, a list of ``{"p": ...}`` / ``{"p_malignant":
    ...}`` items, or a dict holding one of those under ``tiles`` / ``probabilities`` / ``p`` /
    ``grid``. ``None`` entries (tiles skipped as background) are not counted.
    """
    if isinstance(tiles, dict):
        for key in ("tiles", "probabilities", "p", "grid", "map"):
            if key in tiles:
                return tile_probabilities(tiles[key])
        return None
    if not isinstance(tiles, list | tuple):
        return None
    found: list[float] = []
    for item in tiles:
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int | float):
            found.append(float(item))
        elif isinstance(item, dict):
            p = item.get("p", item.get("p_malignant"))
            if isinstance(p, int | float):
                found.append(float(p))
        elif isinstance(item, list | tuple):
            found.extend(tile_probabilities(list(item)) or [])
    return found


def describe_tiles(tiles: Any, thresholds: dict[str, Any], *, unicode: bool) -> str | None:
    probabilities = tile_probabilities(tiles)
    if not probabilities:
        return None
    cut = tiles.get("threshold") if isinstance(tiles, dict) else None
    if not isinstance(cut, int | float):
        cut = thresholds.get("malignant_at")
    if not isinstance(cut, int | float):
        return f"tiles: {len(probabilities)}"
    over = sum(p >= cut for p in probabilities)
    sign = "≥" if unicode else ">="
    words = f"tiles: {len(probabilities)} ({over} {sign} threshold {cut:.2f})"
    skipped = tiles.get("skipped_background") if isinstance(tiles, dict) else None
    if isinstance(skipped, int) and skipped > 0:
        words += f"; {skipped} background tiles skipped"
    return words


# -- building blocks -----------------------------------------------------------------------------


class Styles:
    def __init__(self, f: Fonts) -> None:
        base = ParagraphStyle("base", fontName=f.regular, fontSize=9, leading=11.5)
        self.body = base
        self.small = ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5)
        self.cell = ParagraphStyle("cell", parent=base, fontSize=8, leading=10, alignment=TA_LEFT)
        self.cell_bold = ParagraphStyle("cellb", parent=self.cell, fontName=f.bold)
        self.title = ParagraphStyle(
            "title", parent=base, fontName=f.bold, fontSize=16, leading=20, spaceAfter=4
        )
        self.h2 = ParagraphStyle(
            "h2",
            parent=base,
            fontName=f.bold,
            fontSize=11.5,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
        )
        self.warning = ParagraphStyle(
            "warning",
            parent=base,
            fontName=f.bold,
            textColor=colors.HexColor("#8b0000"),
            borderColor=colors.HexColor("#8b0000"),
            borderWidth=1,
            borderPadding=5,
            backColor=colors.HexColor("#fff1f1"),
            spaceBefore=6,
            spaceAfter=8,
        )


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


def review_words(review: ReviewRecord | None) -> str:
    """The review in force, as markup-safe text (the AI result stays in its own column)."""
    if review is None:
        return "not reviewed"
    if review.agreed:
        verdict = "<b>agreed</b> with the AI result"
    else:
        corrected = review.corrected_decision or ""
        with contextlib.suppress(ValueError):
            corrected = Decision(corrected).wording
        verdict = f"<b>overridden to {text(corrected)}</b>"
    parts = [f"{text(review.reviewer, WHO_CHARS)}: {verdict}"]
    if review.note:
        parts.append(f"Note: “{note_lines(review.note)}”")
    parts.append(when(review.created_at))
    return "<br/>".join(parts)


def ai_words(image: ImageRecord, thresholds: dict[str, Any], unicode: bool) -> str:
    if image.status != "ok":
        return (
            f"<b>{text(Decision.UNASSESSABLE.wording)}</b><br/>"
            f"Could not be analysed: {text(image.error or 'no reason recorded', CELL_CHARS)}"
        )
    decision = image.effective_decision
    lines = [f"<b>{text(decision.wording)}</b>"]
    if image.p_malignant is not None:
        lines.append(f"p(malignant) = {image.p_malignant:.3f}")
    tiles = describe_tiles(image.tiles, thresholds, unicode=unicode)
    if tiles:
        lines.append(text(tiles))
    if image.reused_from is not None:
        lines.append(f"same file and model as image #{image.reused_from}: result reused")
    return "<br/>".join(lines)


def info_table(rows: Iterable[tuple[str, str]], st: Styles) -> Table:
    data = [[Paragraph(f"<b>{text(k)}</b>", st.cell), Paragraph(v, st.cell)] for k, v in rows]
    table = Table(data, colWidths=[4.0 * cm, PAGE_W - 2 * MARGIN_X - 4.0 * cm])
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
    style: list[tuple] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
    ]
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
    style: list[tuple] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
    ]
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
    part = path.with_name(path.name + ".part")
    try:
        story = build_story(scan, images, reviews, device=device, f=f)
        path.parent.mkdir(parents=True, exist_ok=True)
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
        with open(part, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(part, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise ReportError(
            f"Could not write the report to {path}: {exc.strerror or exc}. Check that the"
            " destination is still plugged in, writable and not full, then try again."
        ) from exc
    except Exception as exc:  # reportlab layout (LayoutError) or a font that cannot draw a name
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        log.error("report of scan %s could not be laid out", scan_id, exc_info=True)
        raise ReportError(
            f"The report of scan {scan_id} could not be laid out ({type(exc).__name__}). The"
            " results are kept in the database; please tell the administrator (details in the log)."
        ) from exc
    store.audit("report_written", scan_id=scan_id, path=str(path), device=device)
    return path
