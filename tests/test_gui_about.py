"""The About page, read as a technician would: what the model does, how often each of its three
answers was right on unseen patients, what it must not be used for, and which model it is.

Driven with a stand-in for the running appliance (only what the page reads), so the page is
tested alone; the window's own tests open it for real.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("PySide6", reason="the About page needs the 'gui' extra (PySide6)")
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QTextCursor  # noqa: E402

from appliance.config import Config  # noqa: E402
from appliance.gui.about_view import SHA_LINK, AboutPage  # noqa: E402
from appliance.inference.bundle import ModelBundle  # noqa: E402
from appliance.model_summary import summarise  # noqa: E402
from tests.conftest import TINY_BUNDLE  # noqa: E402

# What the old page showed: paths into the card's JSON and a cut-off list.
RAW = ("counts / validation", "test_int8", "confusion", "three_way", "… and", " / fp")


def running(tmp_path: Path, card=None, thresholds=None, problem=None):
    """The parts of the running appliance the page reads."""
    return SimpleNamespace(
        card=card,
        thresholds=thresholds if thresholds is not None else getattr(card, "thresholds", None),
        model_problem=problem,
        store_problem=None,
        backend_name="tflite-runtime",
        device_name="lab-pi",
        config=Config(database=tmp_path / "a.db", reports=tmp_path / "reports"),
    )


def about_text(qtbot, appliance) -> tuple[AboutPage, str]:
    page = AboutPage()
    qtbot.addWidget(page)
    page.refresh(appliance, "USB sticks (udev)")
    return page, page.text.toPlainText()


def test_the_page_gives_the_three_way_figures_from_the_card(qtbot, shipped_model, tmp_path):
    card = ModelBundle.load(shipped_model).card
    _, text = about_text(qtbot, running(tmp_path, card))
    figures = summarise(card).three_way
    assert "How often its answers were right on unseen patients" in text
    assert f"{figures.images} images of {figures.patients} patients" in text
    benign = 100 * figures.benign.right / figures.benign.given
    malignant = 100 * figures.malignant.right / figures.malignant.given
    assert f"right {benign:.1f} % of the time" in text
    assert f"right {malignant:.1f} % of the time" in text
    assert f"{figures.referred} of the {figures.images} test images" in text
    assert f"{figures.referred_malignant} of them" in text
    assert "What it does" in text and "invasive ductal carcinoma" in text
    assert "What it must not be used for" in text and card.intended_use in text
    assert "What it refuses to answer (scope gate)" in text and "H&E colour" in text
    assert not [raw for raw in RAW if raw in text]


def test_cut_offs_at_the_card_precision_and_the_admins_flagged(qtbot, shipped_model, tmp_path):
    card = ModelBundle.load(shipped_model).card
    _, text = about_text(qtbot, running(tmp_path, card))
    assert "benign below 0.0588, malignant from 0.5794" in text
    assert "between 0.0100 and 0.9900" in text and "the card's own" in text
    moved = replace(card.thresholds, malignant_at=0.6)
    _, text = about_text(qtbot, running(tmp_path, card, moved))
    assert "In use (set by the admin)" in text and "malignant from 0.6000" in text
    assert "do not describe these" in text


def test_short_hash_and_the_full_one_on_a_tap(qtbot, shipped_model, tmp_path):
    card = ModelBundle.load(shipped_model).card
    page, text = about_text(qtbot, running(tmp_path, card))
    assert card.name in text and card.version in text
    assert card.short_sha in text and card.sha256 not in text
    page.resize(800, 400)
    page.show()
    tap(qtbot, page, "tap for the full sha256")
    assert card.sha256 in page.text.toPlainText()
    tap(qtbot, page, "show less")
    assert card.sha256 not in page.text.toPlainText()


def tap(qtbot, page: AboutPage, words: str) -> None:
    """A finger on ``words`` (a link) in the page."""
    cursor = QTextCursor(page.text.document())
    cursor.setPosition(page.text.toPlainText().index(words) + 1)
    where = page.text.cursorRect(cursor).center()
    assert page.text.anchorAt(where) == SHA_LINK
    qtbot.mouseClick(page.text.viewport(), Qt.MouseButton.LeftButton, pos=where)


def test_a_card_without_test_results_says_not_measured(qtbot, tmp_path):
    card = ModelBundle.load(TINY_BUNDLE).card
    _, text = about_text(qtbot, running(tmp_path, card))
    assert "not measured" in text and card.intended_use in text
    assert not [raw for raw in RAW if raw in text]


def test_without_a_model_the_page_says_why(qtbot, tmp_path):
    problem = SimpleNamespace(
        title="No model is installed", detail="Install one with histo-appliance model install."
    )
    _, text = about_text(qtbot, running(tmp_path, problem=problem))
    assert "No model is installed: Install one" in text and "Software" in text
