"""The screens with names a stick should not have: not UTF-8, control and bidi characters, very
long and unbroken. Records are built directly, so the views are tested whatever the store does.
Qt cuts a string at a surrogate without a word (``caf\\udce9.png`` shows as ``caf``): every such
name must show whole, escaped, and no name may widen the 800 x 480 screen."""

from __future__ import annotations

from dataclasses import fields

import pytest

pytest.importorskip("PySide6", reason="the GUI needs the 'gui' extra (PySide6)")
pytestmark = pytest.mark.gui

from PySide6.QtWidgets import QAbstractButton, QLabel  # noqa: E402

from appliance.gui.result_view import ResultPage  # noqa: E402
from appliance.gui.state_views import ScanView  # noqa: E402
from appliance.gui.widgets import label, qt_text  # noqa: E402
from appliance.store import ImageRecord, ScanRecord  # noqa: E402

NON_UTF8 = b"caf\xe9".decode("utf-8", "surrogateescape")
HOSTILE = [
    f"{NON_UTF8}/{NON_UTF8}-1.png",
    "case/evil\u202egnp.png",
    "case/two\nlines\x1b[31m.png",
    "case/" + "x" * 300 + ".png",
    "/".join(["d" * 60] * 68) + "/deep.png",
]


def _image(number: int, path: str) -> ImageRecord:
    return ImageRecord(
        id=number,
        scan_id=1,
        path=path,
        case=path.rsplit("/", 1)[0],
        sha256=None,
        size_bytes=10,
        width=8,
        height=8,
        status="error" if number % 2 else "ok",
        decision=None if number % 2 else "benign",
        p_malignant=None if number % 2 else 0.1,
        error=f"could not be read: {path}" if number % 2 else None,
        tiles=None,
        thumbnail=None,
        elapsed_ms=1.0,
        reused_from=None,
        created_at="2026-12-02T01:00:00+00:00",
    )


def _scan() -> ScanRecord:
    return ScanRecord(
        id=1,
        started_at="2026-12-02T01:00:00+00:00",
        finished_at="2026-12-02T01:01:00+00:00",
        status="failed",
        message="stopped at " + HOSTILE[0] + HOSTILE[-1],
        source="usb",
        volume_label=b"ST\xffICK\n".decode("utf-8", "surrogateescape"),
        volume_path="/media/x",
        device="pi",
        model_name="m",
        model_version="1",
        model_sha256="0" * 64,
        backend="litert",
        **_rules(),
    )


def _rules() -> dict:
    """The scan's cut-offs as the store gives them (a value; a dict before it did)."""
    if "rules" in {f.name for f in fields(ScanRecord)}:
        from appliance.values import ScanRules, Thresholds

        return {"rules": ScanRules(Thresholds(0.5, 0.3, 0.7))}
    return {"thresholds": {"benign_below": 0.3, "malignant_at": 0.7}}


def _all_text(view) -> list[str]:
    texts = [w.text() for kind in (QLabel, QAbstractButton) for w in view.findChildren(kind)]
    for table in (view.images, view.cases):
        for row in range(table.rowCount()):
            for column in range(table.columnCount()):
                item = table.item(row, column)
                texts.append(item.text() if item else "")
    return texts


def _assert_safe(texts: list[str]) -> None:
    for text in texts:
        assert not any("\ud800" <= c <= "\udfff" for c in text), text
        assert "\u202e" not in text and "\x1b" not in text, text


def test_a_finished_scan_with_hostile_names_shows_them_escaped(qtbot) -> None:
    view = ScanView()
    qtbot.addWidget(view)
    view.resize(800, 480)
    images = [_image(n, path) for n, path in enumerate(HOSTILE, start=1)]
    view.show_scan(_scan(), images, {}, stick=_scan().volume_label)
    view.show()
    texts = _all_text(view)
    _assert_safe(texts)
    joined = "\n".join(texts)
    assert "caf\ufffd-1.png" in joined  # whole, not cut at the bad byte
    assert "evil\\u202egnp.png" in joined
    assert "two\\nlines\\x1b[31m.png" in joined
    assert "ST\ufffdICK\\n" in joined
    assert max(len(t) for t in texts) < 1000
    assert view.minimumSizeHint().width() <= 800


def test_the_result_screen_title_is_shortened_and_escapes(qtbot) -> None:
    page = ResultPage()
    qtbot.addWidget(page)
    page.resize(800, 480)
    elided = []
    for number, path in enumerate(HOSTILE, start=1):
        page.show_record(_image(number, path), _scan(), [], (0, 1), None, False)
        page.show()
        texts = [w.text() for w in page.findChildren(QLabel)]
        _assert_safe(texts)
        assert page.minimumSizeHint().width() <= 800, path[:40]
        if page.title.is_elided():
            elided.append(page.title.toolTip() == page.title.text())
    # A long name is shortened in the middle on screen and whole in its tooltip.
    assert elided and all(elided)


def test_qt_text_is_the_net_under_every_label(qtbot) -> None:
    assert qt_text("caf\udce9.png") == "caf\ufffd.png"
    assert qt_text("plain\nlines") == "plain\nlines"  # our own text keeps its line breaks
    widget = label("caf\udce9.png")
    qtbot.addWidget(widget)
    assert widget.text() == "caf\ufffd.png"
