"""Patient-wise splits and the metrics the cards report (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.trainer import metrics
from appliance.trainer.data import (
    Sample,
    load_arrays,
    load_class_folders,
    load_idc,
    patient_folds,
    patient_split,
)
from tests.conftest import shared_path


def _synthetic(n_patients: int = 40) -> list[Sample]:
    rng = np.random.default_rng(1)
    samples = []
    for p in range(n_patients):
        share = rng.uniform(0, 1)
        for i in range(int(rng.integers(5, 30))):
            samples.append(Sample(Path(f"{p}_{i}.png"), int(rng.uniform() < share), f"P{p}"))
    return samples


def test_split_never_shares_a_patient() -> None:
    split = patient_split(_synthetic(), (0.7, 0.15, 0.15), seed=3)
    groups = [{s.patient for s in part} for part in split.parts().values()]
    assert (
        not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    )
    assert sum(len(g) for g in groups) == 40
    assert all(len(g) > 0 for g in groups)


def test_split_is_reproducible() -> None:
    a = patient_split(_synthetic(), seed=7)
    b = patient_split(_synthetic(), seed=7)
    assert [s.patient for s in a.test] == [s.patient for s in b.test]


def test_folds_partition_patients() -> None:
    folds = patient_folds(_synthetic(), k=5)
    flat = [p for fold in folds for p in fold]
    assert len(flat) == len(set(flat)) == 40


def test_real_idc_split_is_patient_disjoint() -> None:
    root = shared_path("data", "idc-patches")
    samples = load_idc(root)
    assert len(samples) == 9040 and len({s.patient for s in samples}) == 224
    split = patient_split(samples)
    train = {s.patient for s in split.train}
    assert train.isdisjoint({s.patient for s in split.test})
    images, labels = load_arrays(split.test[:8], (96, 96), "minus_one_to_one")
    assert images.shape == (8, 96, 96, 3) and labels.shape == (8,)


def test_class_folders_need_a_patient_id(tmp_path: Path) -> None:
    for cls in ("benign", "malignant"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / cls / f"PX{cls}_1.png")
    samples = load_class_folders(tmp_path, ["benign", "malignant"], r"^(?P<patient>PX\w+?)_")
    assert [s.label for s in samples] == [0, 1]
    Image.new("RGB", (8, 8)).save(tmp_path / "benign" / "nopatient.png")
    with pytest.raises(ValueError, match="patient id"):
        load_class_folders(tmp_path, ["benign", "malignant"], r"^(?P<patient>PX\w+?)_")


def test_metrics_on_a_known_confusion() -> None:
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.1, 0.2, 0.3, 0.05])
    m = metrics.binary_metrics(labels, scores, 0.5)
    assert m["confusion"] == {"tp": 3, "fn": 1, "tn": 5, "fp": 1}
    assert m["sensitivity"] == pytest.approx(0.75)
    assert m["specificity"] == pytest.approx(5 / 6)
    assert m["balanced_accuracy"] == pytest.approx((0.75 + 5 / 6) / 2)
    assert m["f1"] == pytest.approx(6 / 8)
    # AUC by pair counting: pairs (pos, neg) with pos > neg, ties half.
    pairs = [(p, n) for p in scores[labels == 1] for n in scores[labels == 0]]
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert m["auc"] == pytest.approx(expected)


def test_thresholds_reach_their_targets() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.clip(labels * 0.3 + rng.uniform(0, 0.7, 500), 0, 1)
    t = metrics.threshold_for_sensitivity(labels, scores, 0.9)
    assert metrics.binary_metrics(labels, scores, t)["sensitivity"] >= 0.9
    t = metrics.threshold_for_specificity(labels, scores, 0.9)
    assert metrics.binary_metrics(labels, scores, t)["specificity"] >= 0.9


def _decided(labels, scores, low, high):
    decided = (scores < low) | (scores >= high)
    return decided.mean(), metrics.binary_metrics(labels[decided], scores[decided], high)


def test_widest_decided_band_meets_its_floors_and_beats_the_safety_band() -> None:
    rng = np.random.default_rng(5)
    labels = (rng.random(4000) < 0.27).astype(int)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, 4000) + 2.3 * labels - 1.5)))
    low, high = metrics.widest_decided_band(labels, scores, 0.95, 0.88)
    share, decided = _decided(labels, scores, low, high)
    assert decided["sensitivity"] >= 0.95 and decided["balanced_accuracy"] >= 0.88
    # 1.3.0's rule (sensitivity 0.97 below, specificity 0.90 above) refers more
    safety = (
        metrics.threshold_for_sensitivity(labels, scores, 0.97),
        metrics.threshold_for_specificity(labels, scores, 0.90),
    )
    assert share > _decided(labels, scores, *safety)[0] + 0.05
    # a narrower band (one quantile step either side) breaks a floor or decides no more
    for lower, upper in ((low * 1.02, high), (low, high * 0.98)):
        wider_share, wider = _decided(labels, scores, lower, upper)
        floors_met = wider["sensitivity"] >= 0.95 and wider["balanced_accuracy"] >= 0.88
        assert not floors_met or wider_share <= share + 1e-3


def test_widest_decided_band_is_none_when_no_band_can_meet_the_floors() -> None:
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 300)
    scores = rng.random(300)  # no signal: every decided set is a coin toss
    assert metrics.widest_decided_band(labels, scores, 0.95, 0.95) is None
    assert metrics.widest_decided_band(np.ones(10), scores[:10], 0.9, 0.9) is None


def test_bootstrap_interval_contains_point_estimate() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 300)
    scores = np.clip(labels * 0.4 + rng.uniform(0, 0.6, 300), 0, 1)
    patients = [f"p{i % 30}" for i in range(300)]
    low, high = metrics.bootstrap_patients(labels, scores, patients, 0.5, rounds=200)[
        "balanced_accuracy"
    ]
    point = metrics.binary_metrics(labels, scores, 0.5)["balanced_accuracy"]
    assert low <= point <= high
