"""About: what the running model does, how far its answers can be trusted, what it must not be
used for and which model it is (name, version, sha256), then the software and the Pi's health.

Why written for a technician and not as a dump of the card: the question at the bench is "when it
says benign, how often is that right, and how many does it refer?", not "test_int8 / confusion /
fp". The words come from :mod:`appliance.model_summary`, so this page, the model-card page and
the PDF say the same thing; only the layout is here.
"""

from __future__ import annotations

import html
import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QUrl, qVersion
from PySide6.QtWidgets import QScroller, QTextBrowser, QVBoxLayout, QWidget

from appliance import __version__
from appliance.gui.widgets import label
from appliance.gui.workers import emit_is_defective
from appliance.model_summary import ModelSummary, summarise

# The link that shows or hides the full sha256 (a tap on the short one).
SHA_LINK = "about:sha256"


def _table(rows: list[tuple[str, str]], raw: bool = False) -> str:
    """Rows as a two-column table; ``raw``: the values are already HTML."""
    if not rows:
        return "<p><i>not given on the model card</i></p>"
    body = "".join(
        f"<tr><td style='padding-right:16px;color:#444' valign='top'>{html.escape(k)}</td>"
        f"<td>{v if raw else html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table cellspacing='4'>{body}</table>"


def _bullets(lines: tuple[str, ...] | list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def condition_rows(conditions) -> list[tuple[str, str]]:
    """The clock and each health reading, in full (the strip on top only warns)."""
    if conditions is None:
        return [("clock and health", "not read yet")]
    clock, health = conditions
    rows = [("clock", clock.summary + ("" if clock.believable else f". {clock.advice}"))]
    rows.extend((reading.name, reading.detail) for reading in health.readings)
    return rows


def identity_html(summary: ModelSummary, full_sha: bool) -> str:
    """Name, version and hash; the short hash is a link that shows the full one."""
    if full_sha:
        sha = (
            f"<span style='font-family:monospace'>{html.escape(summary.sha256)}</span>"
            f" <a href='{SHA_LINK}'>show less</a>"
        )
    else:
        sha = (
            f"<a href='{SHA_LINK}'><span style='font-family:monospace'>"
            f"{html.escape(summary.short_sha)}…</span> (tap for the full sha256)</a>"
        )
    name = f"<b>{html.escape(summary.name)}</b> version {html.escape(summary.version)}"
    return f"<p>Model: {name} · sha256 {sha}</p>"


def figures_html(summary: ModelSummary) -> str:
    """The three answers on unseen patients, or why they are not known."""
    figures = summary.three_way
    if figures is None:
        return _table(summary.figure_rows())
    intro = f"<p>Measured on {html.escape(figures.unseen())}.</p>"
    return intro + _table(figures.rows())


def threshold_rows(card, in_use) -> list[tuple[str, str]]:
    """The card's cut-offs and the ones in force, each at the card's precision."""
    t = card.thresholds
    low, high = t.allowed_range
    rows = [("On the model card", t.describe())]
    if in_use is None or (in_use.benign_below, in_use.malignant_at) == (
        t.benign_below,
        t.malignant_at,
    ):
        rows.append(("In use", "the card's own"))
    else:
        rows.append(
            (
                "In use (set by the admin)",
                f"{in_use.describe()}. The figures above were measured with the card's"
                " cut-offs, so they do not describe these.",
            )
        )
    rows.append(("The admin may move them", f"between {t.show(low)} and {t.show(high)}"))
    return rows


def scope_rows(card) -> list[tuple[str, str]]:
    """The gate's limits, then what they were measured to stop (from the card)."""
    if card.scope is None:
        return [
            ("scope", "this model's card sets no scope limits: only images too small are refused")
        ]
    rows = list(card.scope.describe())
    for rate in card.scope.measured_rates():
        rows.append(
            (
                f"measured: {rate.what}",
                f"{rate.stopped} of {rate.images} stopped,"
                f" {rate.confident_answers} answered benign or malignant",
            )
        )
    return rows


def model_html(session, full_sha: bool = False) -> str:
    """Everything about the loaded model, or what stopped it from loading."""
    card = session.card
    if card is None:
        problem = session.model_problem
        text = f"{problem.title}: {problem.detail}" if problem else "No model is loaded."
        return f"<h3>Model</h3><p>{html.escape(text)}</p>"
    summary = summarise(card)
    return "".join(
        [
            identity_html(summary, full_sha),
            f"<h3>What it does</h3><p>{html.escape(summary.purpose)}</p>",
            "<h3>How often its answers were right on unseen patients</h3>" + figures_html(summary),
            "<h3>What it must not be used for</h3>" + _bullets(summary.not_for),
            "<h3>Cut-offs</h3>" + _table(threshold_rows(card, session.thresholds)),
            "<h3>What it refuses to answer (scope gate)</h3>"
            "<p>Such images are answered “unassessable”, with the reason.</p>"
            + _table(scope_rows(card)),
        ]
    )


def software_rows(session, source_description: str) -> list[tuple[str, str]]:
    rows = [
        ("appliance", f"histo-appliance {__version__}"),
        ("interpreter", session.backend_name or "not loaded"),
        ("Python", platform.python_version()),
        (
            "Qt / PySide6",
            f"{qVersion()} / {pyside_version}"
            + (
                " — this PySide6 has a known defect (references lost in Signal.emit);"
                " the admin should install PySide6-Essentials 6.11 or 6.8"
                if emit_is_defective()
                else ""
            ),
        ),
        ("system", f"{platform.system()} {platform.release()} on {platform.machine()}"),
        ("device name", session.device_name),
        ("database", str(session.config.database)),
        ("reports folder", str(session.config.reports)),
        ("sticks", source_description),
    ]
    if session.store_problem is not None:
        rows.append(("database problem", session.store_problem.detail))
    return rows


def about_html(session, source_description: str, conditions=None, full_sha: bool = False) -> str:
    return "".join(
        [
            model_html(session, full_sha),
            "<h3>Software</h3>" + _table(software_rows(session, source_description)),
            "<h3>Clock and health</h3>" + _table(condition_rows(conditions)),
        ]
    )


class AboutPage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._shown: tuple | None = None  # the last refresh's arguments, to re-render
        self._full_sha = False
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 6)
        box.addWidget(label("About this appliance and its model", role="title"))
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.text.anchorClicked.connect(self._link)
        QScroller.grabGesture(
            self.text.viewport(), QScroller.ScrollerGestureType.LeftMouseButtonGesture
        )
        box.addWidget(self.text, 1)

    def refresh(self, session, source_description: str, conditions=None) -> None:
        """``conditions``: the window's last (ClockStatus, Health) reading, if any."""
        self._shown = (session, source_description, conditions)
        self._render()

    def show_full_sha(self, on: bool) -> None:
        """Show the model's full sha256 (a tap on the short one) or only its start."""
        self._full_sha = on
        self._render()

    def _link(self, url: QUrl) -> None:
        if url.toString() == SHA_LINK:
            self.show_full_sha(not self._full_sha)

    def _render(self) -> None:
        if self._shown is None:
            return
        bar = self.text.verticalScrollBar()
        position = bar.value()
        self.text.setHtml(about_html(*self._shown, full_sha=self._full_sha))
        bar.setValue(position)
