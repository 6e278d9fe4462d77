"""The plain-language model summary behind the About page, the model-card page and the PDF.

Qt-free: the numbers a technician reads ("benign" right X % of the time, how many referred) are
counted from the shipped card and checked against the card's own indeterminate fraction; a card
without those measurements says "not measured" instead of failing.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.inference.bundle import ModelBundle
from appliance.model_summary import NOT_MEASURED, summarise, three_way_figures
from appliance.trainer.card_doc import render
from tests.conftest import TINY_BUNDLE

RAW_KEYS = ("test_int8", "three_way", "confusion", "decided", " / ", "indeterminate_fraction")


def _card_json(directory: Path) -> dict:
    return json.loads((directory / "card.json").read_text())


def test_three_answers_are_counted_from_the_shipped_card(shipped_model: Path) -> None:
    raw = _card_json(shipped_model)
    decided = raw["metrics"]["test_int8_three_way"]["decided"]["confusion"]
    total = raw["metrics"]["test_int8"]["confusion"]
    figures = summarise(ModelBundle.load(shipped_model).card).three_way
    assert figures is not None
    assert figures.images == raw["metrics"]["test_int8"]["n"]
    assert figures.patients == raw["training_data"]["counts"]["test"]["patients"]
    assert (figures.malignant.given, figures.malignant.right) == (
        decided["tp"] + decided["fp"],
        decided["tp"],
    )
    assert (figures.benign.given, figures.benign.right) == (
        decided["tn"] + decided["fn"],
        decided["tn"],
    )
    # An independent check: the card's own share of images in the refer band.
    fraction = raw["metrics"]["test_int8_three_way"]["indeterminate_fraction"]
    assert figures.referred == round(fraction * figures.images)
    assert figures.malignant_images == total["tp"] + total["fn"]
    assert figures.malignant.right + figures.referred_malignant + figures.missed == (
        figures.malignant_images
    )


def test_the_sentences_say_how_often_each_answer_was_right(shipped_model: Path) -> None:
    summary = summarise(ModelBundle.load(shipped_model).card)
    figures = summary.three_way
    rows = dict(summary.figure_rows())
    malignant = rows["Answered “malignant”"]
    benign = rows["Answered “benign”"]
    referred = rows["Referred (“indeterminate”)"]
    share = 100 * figures.benign.right / figures.benign.given
    assert f"right {share:.1f} %" in benign
    assert f"{figures.malignant.right} of the {figures.malignant.given}" in malignant
    assert f"{figures.referred} of the {figures.images} test images" in referred
    assert f"{figures.referred_malignant} of them" in referred
    unseen = figures.unseen()
    assert f"{figures.patients} patients" in unseen and "0.0588" in unseen and "0.5794" in unseen
    text = " ".join([summary.purpose, *summary.not_for, unseen, *rows.values()])
    assert not any(key in text for key in RAW_KEYS)


def test_what_it_does_and_must_not_be_used_for(shipped_model: Path) -> None:
    card = ModelBundle.load(shipped_model).card
    summary = summarise(card)
    assert "IDC (invasive ductal carcinoma)" in summary.purpose
    assert "H&E" in summary.purpose and "50×50 px patches" in summary.purpose
    assert summary.not_for[0] == card.intended_use
    assert any("pathologist" in line for line in summary.not_for)
    assert summary.short_sha == card.sha256[:12] and card.version in summary.identity


def test_a_card_without_test_metrics_says_not_measured() -> None:
    summary = summarise(ModelBundle.load(TINY_BUNDLE).card)
    assert summary.three_way is None
    [(_what, text)] = summary.figure_rows()
    assert text.startswith(NOT_MEASURED) and "no test results" in text
    assert not any(key in text for key in RAW_KEYS)
    assert "look malignant or benign" in summary.purpose  # its labels are the answers


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda m: m.pop("test_int8"), "no test results for the shipped"),
        (lambda m: m["test_int8_three_way"].pop("decided"), "no test results for the decided"),
        (lambda m: m["test_int8"]["confusion"].update(tp="many"), "damaged"),
        (lambda m: m["test_int8"]["confusion"].update(tp=0, fn=0), "do not add up"),
        (lambda m: m["test_int8_three_way"]["decided"].update(threshold=0.7), "measured with"),
    ],
)
def test_a_damaged_measurement_is_not_measured_never_a_crash(shipped_model, damage, words):
    card = ModelBundle.load(shipped_model).card
    metrics = json.loads(json.dumps(card.metrics))
    damage(metrics)
    summary = summarise(replace(card, metrics=metrics))
    assert summary.three_way is None and words in summary.why_not_measured
    with pytest.raises(ValueError):
        three_way_figures(metrics, card.training_data, card.thresholds)


def test_the_model_card_page_says_what_the_about_page_says(shipped_model: Path) -> None:
    bundle = ModelBundle.load(shipped_model)
    page = render(bundle)
    summary = summarise(bundle.card)
    assert summary.purpose in page
    assert all(line in page for line in summary.not_for)
    assert all(f"| {what} | {worth} |" in page for what, worth in summary.figure_rows())
    # The cut-offs at the card's precision, never rounded.
    assert "Benign below 0.0588, malignant at or above 0.5794" in page


def test_the_committed_model_card_page_is_current(shipped_model: Path) -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "model-card.md"
    assert docs.read_text() == render(ModelBundle.load(shipped_model)) + "\n"
