"""Calibration: carried in the card, checked like the rest of it, applied in one place.

A card without the section must score exactly as before (bit for bit); a calibrated card moves
every probability, tiles included, by the card's map and keeps the ranking; a malformed section
is refused with a message for the admin.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.calibration import Calibration
from appliance.errors import ModelRejected
from appliance.inference import Classifier, ModelBundle
from appliance.preprocess import average_views, preprocess
from appliance.trainer.calibrate import (
    calibrated_thresholds,
    fit_isotonic,
    fit_temperature,
    with_ece,
)
from appliance.trainer.metrics import expected_calibration_error, reliability_bins
from appliance.values import Thresholds
from tests.conftest import ROOT, TINY_BUNDLE

DEMO_PATCHES = sorted((ROOT / "demo" / "usb" / "patient-9036").glob("*.png"))[:4]


def _bundle_with(tmp_path: Path, source: Path, calibration: object) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(source, target)
    card = json.loads((target / "card.json").read_text())
    card["calibration"] = calibration
    (target / "card.json").write_text(json.dumps(card))
    return target


def _uncalibrated_p(classifier: Classifier, image: Image.Image) -> float:
    """The malignant probability as the classifier computed it before calibration existed."""
    contract = classifier.bundle.card.input
    pixels = preprocess(image.convert("RGB"), contract.size, contract.scaling, None)
    views = classifier._prepare([pixels])
    probabilities, _ = classifier._backend.predict_quantised(views)
    averaged = average_views(probabilities, contract.test_time_augmentation)
    return float(averaged[0, classifier.bundle.card.malignant_index])


def test_shipped_card_without_section_scores_bit_identically(shipped_model: Path) -> None:
    bundle = ModelBundle.load(shipped_model)
    assert bundle.card.calibration is None
    assert "calibration" not in bundle.card.to_dict()
    classifier = Classifier(bundle)
    assert DEMO_PATCHES
    for path in DEMO_PATCHES:
        image = Image.open(path)
        assert classifier.classify(image).p_malignant == _uncalibrated_p(classifier, image)


def test_temperature_section_round_trips_and_moves_p_towards_half(tmp_path: Path) -> None:
    section = {
        "method": "temperature",
        "temperature": 2.0,
        "fitted_on": "validation patients",
        "ece_before": 0.08,
        "ece_after": 0.03,
    }
    plain = Classifier(ModelBundle.load(TINY_BUNDLE))
    calibrated = Classifier(ModelBundle.load(_bundle_with(tmp_path, TINY_BUNDLE, section)))
    assert calibrated.bundle.card.calibration == Calibration.from_dict(section, 2)
    assert calibrated.bundle.card.to_dict()["calibration"] == section
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40, 3), np.uint8))
    p, q = plain.classify(image), calibrated.classify(image)
    expected = 1 / (1 + np.exp(-np.log(p.p_malignant / (1 - p.p_malignant)) / 2.0))
    assert q.p_malignant == pytest.approx(expected, abs=1e-5)
    assert abs(q.p_malignant - 0.5) <= abs(p.p_malignant - 0.5)
    assert sum(q.probabilities) == pytest.approx(1.0, abs=1e-5)


def test_temperature_one_is_the_identity() -> None:
    p = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])
    out = Calibration("temperature", "x", temperature=1.0).apply(p, 1)
    np.testing.assert_allclose(out, p, atol=1e-6)


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("hot", "must be an object"),
        ({"method": "platt", "fitted_on": "v"}, "expected one of"),
        ({"method": "temperature", "fitted_on": "v", "temperature": 0}, "must lie between"),
        ({"method": "temperature", "fitted_on": "v", "temperature": "2"}, "must be a number"),
        ({"method": "temperature", "temperature": 2.0}, "fitted_on must be text"),
        ({"method": "temperature", "fitted_on": "v", "temperature": 2.0, "x": 1}, "unknown keys"),
        (
            {"method": "isotonic", "fitted_on": "v", "knots": {"x": [0, 1], "y": [1, 0]}},
            "never decrease",
        ),
        (
            {"method": "isotonic", "fitted_on": "v", "knots": {"x": [0.5, 0.5], "y": [0, 1]}},
            "strictly increasing",
        ),
        ({"method": "isotonic", "fitted_on": "v", "knots": [0, 1]}, "lists x and y"),
    ],
)
def test_malformed_section_is_refused_for_the_admin(
    tmp_path: Path, section: object, words: str
) -> None:
    with pytest.raises(ModelRejected, match=words) as caught:
        ModelBundle.load(_bundle_with(tmp_path, TINY_BUNDLE, section))
    assert "reinstall" in str(caught.value) or "update the appliance" in str(caught.value)


def test_isotonic_section_applies_its_table(tmp_path: Path) -> None:
    knots = {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.2, 1.0]}
    section = {"method": "isotonic", "fitted_on": "validation patients", "knots": knots}
    calibration = Calibration.from_dict(section, 2)
    out = calibration.apply(np.array([[0.75, 0.25], [0.25, 0.75]]), 1)
    np.testing.assert_allclose(out[:, 1], [0.1, 0.6], atol=1e-6)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)
    assert ModelBundle.load(_bundle_with(tmp_path, TINY_BUNDLE, section)).card.calibration


def _overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose true log-odds are half what they claim (a temperature of 2 fixes them)."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(0, 3, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit / 2))).astype(int)
    return labels, 1 / (1 + np.exp(-logit))


def test_fitted_temperature_recovers_the_truth_and_lowers_ece() -> None:
    labels, scores = _overconfident()
    temperature = fit_temperature(labels, scores)
    assert temperature == pytest.approx(2.0, rel=0.15)
    test_labels, test_scores = _overconfident(seed=1)
    fitted = with_ece(
        Calibration("temperature", "v", temperature=temperature), test_labels, test_scores
    )
    assert fitted.ece_after < 0.03 < fitted.ece_before


def test_fitted_isotonic_is_monotone_and_lowers_ece() -> None:
    labels, scores = _overconfident()
    x, y = fit_isotonic(labels, scores)
    calibration = Calibration.from_dict(
        {"method": "isotonic", "fitted_on": "v", "knots": {"x": list(x), "y": list(y)}}, 2
    )
    test_labels, test_scores = _overconfident(seed=1)
    after = expected_calibration_error(test_labels, calibration.apply_scores(test_scores))
    assert after < expected_calibration_error(test_labels, test_scores) and after < 0.04


def test_ece_uses_fifteen_equal_width_bins() -> None:
    scores = np.array([0.0, 0.05, 0.5, 1.0])
    labels = np.array([0, 0, 1, 1])
    bins = reliability_bins(labels, scores)
    assert [b["n"] for b in bins] == [2, 1, 1]
    assert bins[-1]["high"] == 1.0 and bins[0]["high"] == pytest.approx(1 / 15)
    expected = (2 * 0.025 + 1 * 0.5 + 0) / 4
    assert expected_calibration_error(labels, scores) == pytest.approx(expected)


def test_thresholds_move_with_the_map_so_decisions_do_not_change() -> None:
    calibration = Calibration("temperature", "v", temperature=2.0)
    before = Thresholds(operating_point=0.2, benign_below=0.06, malignant_at=0.58)
    after = calibrated_thresholds(before, calibration)
    scores = np.linspace(0.001, 0.999, 997)
    q = calibration.apply_scores(scores)
    for old, new in [
        (before.benign_below, after.benign_below),
        (before.malignant_at, after.malignant_at),
    ]:
        disagree = (scores >= old) != (q >= new)
        assert disagree.sum() <= 2  # only at the rounding of the cut-off to 4 decimals


def test_metrics_measured_calibrated_without_the_section_are_refused(tmp_path: Path) -> None:
    target = _bundle_with(tmp_path, TINY_BUNDLE, None)
    card = json.loads((target / "card.json").read_text())
    del card["calibration"]
    card["metrics"] = {"calibration": {"method": "temperature", "temperature": 2.0}}
    (target / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelRejected, match="no calibration section"):
        ModelBundle.load(target)
