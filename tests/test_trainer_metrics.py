"""The trainer's metrics: the paper-style additions agree with the definitions and each other."""

from __future__ import annotations

import math

import numpy as np
import pytest

from appliance.trainer import metrics

# tp=3, fn=1, tn=4, fp=2 at threshold 0.5.
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
SCORES = np.array([0.9, 0.8, 0.6, 0.3, 0.1, 0.2, 0.4, 0.45, 0.7, 0.55])
# Keys the shipped model card and card_doc read: they must stay.
OLD_KEYS = {
    "threshold",
    "n",
    "balanced_accuracy",
    "sensitivity",
    "specificity",
    "precision",
    "f1",
    "mcc",
    "kappa",
    "auc",
    "accuracy",
    "fpr",
    "confusion",
}


def test_binary_metrics_keeps_old_keys_and_adds_paper_names():
    result = metrics.binary_metrics(LABELS, SCORES, 0.5)
    assert result["confusion"] == {"tp": 3, "fn": 1, "tn": 4, "fp": 2}
    assert set(result) >= OLD_KEYS
    assert result["accuracy"] == pytest.approx(0.7)
    assert result["fpr"] == pytest.approx(2 / 6)
    assert result["tnr"] == pytest.approx(4 / 6)
    assert result["tnr"] == result["specificity"]
    # p_observed 0.7, p_chance (5*4 + 5*6) / 100 = 0.5, so kappa = 0.2 / 0.5.
    assert result["cohen_kappa"] == pytest.approx(0.4)
    assert result["cohen_kappa"] == result["kappa"]


def test_cohen_kappa_matches_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    result = metrics.binary_metrics(labels, scores, 0.5)
    expected = sklearn_metrics.cohen_kappa_score(labels, (scores >= 0.5).astype(int))
    assert result["cohen_kappa"] == pytest.approx(expected, abs=1e-12)


def _tied_scores(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    # Rounded to one decimal: many ties, including ties across the two classes.
    scores = np.round(np.clip(0.25 * labels + rng.random(n) * 0.75, 0, 1), 1)
    return labels, scores


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_roc_curve_area_equals_roc_auc_with_ties(seed):
    labels, scores = _tied_scores(seed)
    assert len(np.unique(scores)) < len(scores) / 10
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    assert area == pytest.approx(metrics.roc_auc(labels, scores), abs=1e-9)


def test_roc_curve_is_monotone_from_origin_to_corner():
    labels, scores = _tied_scores(7)
    fpr, tpr, thresholds = metrics.roc_curve(labels, scores)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert thresholds[0] == np.inf and np.all(np.diff(thresholds) < 0)
    assert len(fpr) == len(tpr) == len(thresholds) == len(np.unique(scores)) + 1


def test_roc_curve_points_use_the_binary_metrics_rule():
    labels, scores = _tied_scores(11, n=120)
    fpr, tpr, thresholds = metrics.roc_curve(labels, scores)
    for i in range(1, len(thresholds)):
        at = metrics.binary_metrics(labels, scores, thresholds[i])
        assert tpr[i] == pytest.approx(at["sensitivity"])
        assert fpr[i] == pytest.approx(at["fpr"])


def test_roc_curve_matches_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    labels, scores = _tied_scores(5)
    fpr, tpr, thresholds = metrics.roc_curve(labels, scores)
    s_fpr, s_tpr, s_thr = sklearn_metrics.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, s_fpr)
    np.testing.assert_allclose(tpr, s_tpr)
    np.testing.assert_allclose(thresholds[1:], s_thr[1:])


def test_roc_curve_of_one_class_is_undefined_like_the_auc():
    fpr, tpr, _ = metrics.roc_curve(np.ones(4), np.array([0.1, 0.2, 0.2, 0.9]))
    assert np.all(np.isnan(fpr)) and tpr[-1] == 1.0
    assert math.isnan(metrics.roc_auc(np.ones(4), np.array([0.1, 0.2, 0.2, 0.9])))


def test_grouped_metrics_is_binary_metrics_per_group():
    groups = ["40X", "100X"] * 5
    result = metrics.grouped_metrics(LABELS, SCORES, groups, 0.5)
    assert list(result) == ["40X", "100X"]
    for name in ("40X", "100X"):
        mask = np.array(groups) == name
        expected = metrics.binary_metrics(LABELS[mask], SCORES[mask], 0.5)
        assert result[name]["confusion"] == expected["confusion"]
        assert result[name]["n"] == 5
    assert "200X" not in result  # a magnification with no images has no row
    assert sum(r["confusion"]["tp"] for r in result.values()) == 3


def test_grouped_metrics_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        metrics.grouped_metrics(LABELS, SCORES, ["40X"] * 3, 0.5)


def test_patient_level_uses_mean_score_and_any_malignant_label():
    labels = np.array([0, 1, 0, 0, 1, 1, 0])
    scores = np.array([0.2, 0.8, 0.1, 0.3, 0.4, 0.5, 0.9])
    patients = ["a", "a", "b", "b", "c", "c", "d"]
    # a: label 1 (one malignant image), score 0.5 -> tp.  b: label 0, score 0.2 -> tn.
    # c: label 1, score 0.45 -> fn.  d: label 0, score 0.9 -> fp.
    result = metrics.patient_level(labels, scores, patients, 0.5)
    assert result["patients"] == 4
    assert result["n"] == 4
    assert result["confusion"] == {"tp": 1, "fn": 1, "tn": 1, "fp": 1}
    assert result["accuracy"] == pytest.approx(0.5)
    # AUC on the patient table: positives {0.5, 0.45} vs negatives {0.2, 0.9} -> 2 of 4 pairs.
    assert result["auc"] == pytest.approx(0.5)


def test_fold_summary_mean_sd_n_and_nan_folds():
    folds = [
        {"auc": 0.8, "sensitivity": 0.9, "n": 10, "confusion": {"tp": 1}, "name": "f0"},
        {"auc": 0.9, "sensitivity": float("nan"), "n": 12, "confusion": {"tp": 2}, "name": "f1"},
        {"auc": 1.0, "sensitivity": 0.7, "n": 14, "confusion": {"tp": 3}, "name": "f2"},
    ]
    summary = metrics.fold_summary(folds)
    assert set(summary) == {"auc", "sensitivity", "n"}
    assert summary["auc"]["mean"] == pytest.approx(0.9)
    assert summary["auc"]["sd"] == pytest.approx(0.1)  # sample SD, ddof=1
    assert summary["auc"]["n"] == 3
    assert summary["sensitivity"] == pytest.approx({"mean": 0.8, "sd": np.sqrt(0.02), "n": 2})
    assert summary["n"]["mean"] == pytest.approx(12.0)


def test_fold_summary_edge_cases():
    assert metrics.fold_summary([]) == {}
    one = metrics.fold_summary([{"auc": 0.75}])
    assert one == {"auc": {"mean": 0.75, "sd": 0.0, "n": 1}}
    # Only keys common to all folds; a key that is NaN everywhere has n = 0.
    partial = metrics.fold_summary([{"auc": float("nan"), "mcc": 0.1}, {"auc": float("nan")}])
    assert set(partial) == {"auc"}
    assert partial["auc"]["n"] == 0 and math.isnan(partial["auc"]["mean"])
    # None (NaN written to JSON as null) is a missing fold, not a reason to drop the key.
    with_none = metrics.fold_summary([{"auc": 0.8}, {"auc": None}, {"auc": 0.6}])
    assert with_none["auc"] == pytest.approx({"mean": 0.7, "sd": np.sqrt(0.02), "n": 2})


def test_fold_summary_of_binary_metrics_folds():
    labels, scores = _tied_scores(1)
    folds = [metrics.binary_metrics(labels[i::3], scores[i::3], 0.5) for i in range(3)]
    summary = metrics.fold_summary(folds)
    assert "confusion" not in summary
    expected = np.mean([f["balanced_accuracy"] for f in folds])
    assert summary["balanced_accuracy"]["mean"] == pytest.approx(expected)
    assert summary["balanced_accuracy"]["n"] == 3
