"""The PDF's page: fonts, geometry, paragraph styles, and what every page carries.

Why every page repeats the research-only statement, the model identity and "page N of M": a
single page printed or photographed on its own must still say what produced it and that it is
not a diagnosis.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from appliance.report.words import RESEARCH_ONLY

log = logging.getLogger(__name__)

PAGE_W, PAGE_H = A4
MARGIN_X = 1.8 * cm
MARGIN_TOP = 2.9 * cm
MARGIN_BOTTOM = 2.0 * cm
FRAME_W = PAGE_W - 2 * MARGIN_X
THUMB = 2.1 * cm
RED = colors.HexColor("#8b0000")


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
            # So <b> in a paragraph switches to the bold face (italic stays upright).
            pdfmetrics.registerFontFamily(
                f"Appliance-{stem}",
                normal=f"Appliance-{stem}",
                bold=f"Appliance-{stem}-Bold",
                italic=f"Appliance-{stem}",
                boldItalic=f"Appliance-{stem}-Bold",
            )
        except Exception as exc:  # a broken font file must not stop the report
            log.warning("cannot use font %s: %s", regular, exc)
            continue
        return Fonts(f"Appliance-{stem}", f"Appliance-{stem}-Bold", unicode=True)
    return Fonts("Helvetica", "Helvetica-Bold", unicode=False)


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
        c.setFillColor(RED)
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


class Styles:
    """The paragraph styles of one report (built per report: they carry its fonts)."""

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
        self.problem = ParagraphStyle("problem", parent=self.small, textColor=RED)
        self.warning = ParagraphStyle(
            "warning",
            parent=base,
            fontName=f.bold,
            textColor=RED,
            borderColor=RED,
            borderWidth=1,
            borderPadding=5,
            backColor=colors.HexColor("#fff1f1"),
            spaceBefore=6,
            spaceAfter=8,
        )
