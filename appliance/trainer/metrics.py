"""Binary classification metrics, patient-level summaries and patient bootstrap intervals.

Pure numpy so they are tested without TensorFlow and reused by the evaluation of int8 models.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def confusion(labels: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    labels = np.asarray(labels).astype(bool)
    predicted = np.asarray(predicted).astype(bool)
    return {
        "tp": int(np.sum(labels & predicted)),
        "fn": int(np.sum(labels & ~predicted)),
        "tn": int(np.sum(~labels & ~predicted)),
        "fp": int(np.sum(~labels & predicted)),
    }


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties counted half."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(scores)]))
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else float("nan")


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Metrics of ``scores >= threshold`` against ``labels`` (1 = malignant)."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    c = confusion(labels, scores >= threshold)
    tp, fn, tn, fp = c["tp"], c["fn"], c["tn"], c["fp"]
    sensitivity = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    precision = _ratio(tp, tp + fp)
    mcc_den = np.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    total = tp + fn + tn + fp
    p_observed = _ratio(tp + tn, total)
    p_chance = _ratio((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp), total * total)
    return {
        "threshold": float(threshold),
        "n": int(total),
        "accuracy": p_observed,
        "balanced_accuracy": (sensitivity + specificity) / 2.0,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "precision": precision,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "mcc": _ratio((tp * tn - fp * fn), mcc_den),
        "kappa": _ratio(p_observed - p_chance, 1.0 - p_chance),
        "fpr": _ratio(fp, fp + tn),
        "auc": roc_auc(labels, scores),
        "confusion": c,
    }


def threshold_for_sensitivity(labels: np.ndarray, scores: np.ndarray, target: float) -> float:
    """The highest threshold whose sensitivity is at least ``target``."""
    positives = np.sort(np.asarray(scores)[np.asarray(labels).astype(bool)])
    if len(positives) == 0:
        return 0.5
    index = int(np.floor((1.0 - target) * len(positives)))
    return float(positives[min(index, len(positives) - 1)])


def threshold_for_specificity(labels: np.ndarray, scores: np.ndarray, target: float) -> float:
    """The lowest threshold whose specificity is at least ``target``."""
    negatives = np.sort(np.asarray(scores)[~np.asarray(labels).astype(bool)])
    if len(negatives) == 0:
        return 0.5
    index = int(np.ceil(target * len(negatives))) - 1
    return float(np.nextafter(negatives[min(max(index, 0), len(negatives) - 1)], 1.0))


def per_patient(
    labels: np.ndarray, scores: np.ndarray, patients: Sequence[str], threshold: float
) -> dict[str, dict[str, float]]:
    """Metrics of each patient's own images: how well the model does patient by patient."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, patient in enumerate(patients):
        groups[patient].append(index)
    out = {}
    for patient, indices in sorted(groups.items()):
        idx = np.array(indices)
        out[patient] = binary_metrics(labels[idx], scores[idx], threshold)
    return out


def bootstrap_patients(
    labels: np.ndarray,
    scores: np.ndarray,
    patients: Sequence[str],
    threshold: float,
    keys: Sequence[str] = ("balanced_accuracy", "sensitivity", "specificity", "f1", "auc", "mcc"),
    rounds: int = 1000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals from resampling whole patients with replacement.

    Resampling images would pretend correlated patches are independent and give intervals that are
    too narrow; patients are the unit that was sampled.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for index, patient in enumerate(patients):
        groups[patient].append(index)
    blocks = [np.array(v) for v in groups.values()]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {key: [] for key in keys}
    for _ in range(rounds):
        chosen = rng.integers(0, len(blocks), len(blocks))
        idx = np.concatenate([blocks[i] for i in chosen])
        result = binary_metrics(labels[idx], scores[idx], threshold)
        for key in keys:
            draws[key].append(result[key])
    return {
        key: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5)))
        for key, v in draws.items()
    }
