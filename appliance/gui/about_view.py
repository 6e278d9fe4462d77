"""About: which model is running (name, version, full sha256), what its card says about its
training data and test results, and which software runs it. What an auditor asks first."""

from __future__ import annotations

import html
import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QScroller, QTextBrowser, QVBoxLayout, QWidget

from appliance import __version__
from appliance.gui.widgets import label
from appliance.gui.workers import emit_is_defective

MAX_ROWS = 40


def flatten(data: object, prefix: str = "") -> list[tuple[str, str]]:
    """Nested card fields as ("a / b", "value") rows, numbers to 3 decimals."""
    rows: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix} / {key}" if prefix else str(key)
            rows.extend(flatten(value, name))
    elif isinstance(data, list | tuple) and data and all(isinstance(v, dict) for v in data):
        for index, value in enumerate(data):
            rows.extend(flatten(value, f"{prefix} [{index + 1}]"))
    else:
        if isinstance(data, float):
            text = f"{data:.3f}"
        elif isinstance(data, list | tuple):
            text = ", ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in data)
        else:
            text = str(data)
        rows.append((prefix, text))
    return rows


def _table(rows: list[tuple[str, str]]) -> str:
    if not rows:
        return "<p><i>not given on the model card</i></p>"
    shown = rows[:MAX_ROWS]
    body = "".join(
        f"<tr><td style='padding-right:16px;color:#444'>{html.escape(k)}</td>"
        f"<td>{html.escape(v)}</td></tr>"
        for k, v in shown
    )
    more = f"<p>… and {len(rows) - MAX_ROWS} more on the card.</p>" if len(rows) > MAX_ROWS else ""
    return f"<table cellspacing='2'>{body}</table>{more}"


def condition_rows(conditions) -> list[tuple[str, str]]:
    """The clock and each health reading, in full (the strip on top only warns)."""
    if conditions is None:
        return [("clock and health", "not read yet")]
    clock, health = conditions
    rows = [("clock", clock.summary + ("" if clock.believable else f". {clock.advice}"))]
    rows.extend((reading.name, reading.detail) for reading in health.readings)
    return rows


def about_html(session, source_description: str, conditions=None) -> str:
    card = session.card
    parts: list[str] = []
    if card is not None:
        t = card.thresholds
        effective = session.thresholds or t
        model_rows = [
            ("name", card.name),
            ("version", card.version),
            ("sha256", card.sha256),
            ("labels", ", ".join(card.labels)),
            ("input", _input_words(card.input)),
            (
                "thresholds (card)",
                f"benign below {t.benign_below:.2f}, malignant from {t.malignant_at:.2f},"
                f" operating point {t.operating_point:.2f};"
                f" the admin may move them within"
                f" {t.allowed_range[0]:.2f}–{t.allowed_range[1]:.2f}",
            ),
            (
                "thresholds (in use)",
                f"benign below {effective.benign_below:.2f},"
                f" malignant from {effective.malignant_at:.2f}",
            ),
            ("intended use", card.intended_use),
        ]
        parts.append("<h2>Model</h2>" + _table(model_rows))
        parts.append("<h2>What the model refuses (scope gate)</h2>" + _table(scope_rows(card)))
        parts.append("<h2>Training data</h2>" + _table(flatten(card.training_data)))
        parts.append("<h2>Test results</h2>" + _table(flatten(card.metrics)))
        parts.append("<h2>Provenance</h2>" + _table(flatten(card.provenance)))
    else:
        problem = session.model_problem
        text = f"{problem.title}: {problem.detail}" if problem else "No model is loaded."
        parts.append(f"<h2>Model</h2><p>{html.escape(text)}</p>")
    software = [
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
        software.append(("database problem", session.store_problem.detail))
    parts.append("<h2>Software</h2>" + _table(software))
    parts.append("<h2>Clock and health</h2>" + _table(condition_rows(conditions)))
    return "".join(parts)


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


def _input_words(contract) -> str:
    text = f"{contract.width}x{contract.height} RGB, {contract.dtype}, {contract.mode}"
    if contract.mode == "tiled":
        text += f" (tiles of {contract.tile_size} px every {contract.tile_stride} px)"
    return text


class AboutPage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 6)
        box.addWidget(label("About this appliance and its model", role="title"))
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        QScroller.grabGesture(
            self.text.viewport(), QScroller.ScrollerGestureType.LeftMouseButtonGesture
        )
        box.addWidget(self.text, 1)

    def refresh(self, session, source_description: str, conditions=None) -> None:
        """``conditions``: the window's last (ClockStatus, Health) reading, if any."""
        self.text.setHtml(about_html(session, source_description, conditions))
