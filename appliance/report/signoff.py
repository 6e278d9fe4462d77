"""The sign-off block at the end of a report: who reviewed the printed results, when, signed.

Why on paper and not only in the database: a lab files the printed report, and the person who
takes responsibility for reading it signs it there. The block lists who reviewed images on the
appliance (from the stored reviews) so the signer sees what was already looked at, and leaves
lines to write on; the appliance never fills in a signature.
"""

from __future__ import annotations

from collections import Counter

from reportlab.lib import colors
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table, TableStyle

from appliance.report.contents import ScanContents
from appliance.report.layout import FRAME_W, Styles
from appliance.report.words import RESEARCH_ONLY, WHO_CHARS, text


def reviewers_words(contents: ScanContents) -> str:
    """Who reviewed how many images on the appliance (review in force), markup-safe."""
    counts = Counter(review.reviewer for review in contents.reviews.values())
    if not counts:
        return "none — no image of this scan was reviewed on the appliance"
    return "; ".join(
        f"{text(name, WHO_CHARS)} ({n} image{'s' if n != 1 else ''})"
        for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    )


def signoff_block(contents: ScanContents, st: Styles) -> Flowable:
    """The sign-off section, kept on one page."""

    def label(words: str) -> Paragraph:
        return Paragraph(f"<b>{words}</b>", st.cell)

    rows = [
        [label("Reviewed on the appliance by"), Paragraph(reviewers_words(contents), st.cell)],
        [label("Results read by (name)"), "", label("Role"), ""],
        [label("Date"), "", label("Signature"), ""],
        ["", "", "", ""],  # room below the last line to write on
    ]
    rows[0] += ["", ""]
    first = 4.2 * cm
    table = Table(rows, colWidths=[first, FRAME_W / 2 - first, 2.0 * cm, FRAME_W / 2 - 2.0 * cm])
    table.setStyle(
        TableStyle(
            [
                ("SPAN", (1, 0), (-1, 0)),
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("TOPPADDING", (0, 1), (-1, 2), 18),
                # the lines to write on
                ("LINEBELOW", (1, 1), (1, 2), 0.6, colors.black),
                ("LINEBELOW", (3, 1), (3, 2), 0.6, colors.black),
                ("BOX", (0, 0), (-1, -1), 0.5, colors.grey),
            ]
        )
    )
    return KeepTogether(
        [
            Paragraph("Sign-off", st.h2),
            Paragraph(
                f"Signed by the person who read the results above for scan #{contents.scan.id}"
                f" ({len(contents.cases)} case(s)). {text(RESEARCH_ONLY)}: signing confirms the"
                " results were read, not that they are a diagnosis.",
                st.small,
            ),
            Spacer(1, 4),
            table,
        ]
    )
