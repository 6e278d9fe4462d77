"""Binary classification metrics, patient-level summaries and patient bootstrap intervals.

Pure numpy so they are tested without TensorFlow and reused by the evaluation of int8 models.
Also the summaries the papers report: per-group (e.g. per-magnification on BreakHis) metrics,
patient-level metrics, mean ± SD over cross-validation folds, and the ROC curve itself.
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


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve as ``(fpr, tpr, thresholds)``, one point per distinct score.

    Point ``i`` is the rate of ``scores >= thresholds[i]`` (the rule of :func:`binary_metrics`).
    The first threshold is ``+inf`` so the curve starts at (0, 0); the last is the lowest score so
    it ends at (1, 1). Tied scores share one point, so the trapezoid area under the curve equals
    :func:`roc_auc` (ties counted half) exactly. A rate whose class is absent is NaN, as the AUC is.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order]
    if not len(scores):
        return np.array([np.nan]), np.array([np.nan]), np.array([np.inf])
    # The last index of each run of equal scores: the point reached once that score is admitted.
    last = np.append(np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1)
    true_pos = np.cumsum(sorted_labels)[last]
    false_pos = (last + 1) - true_pos
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    tp = np.concatenate(([0], true_pos)).astype(np.float64)
    fp = np.concatenate(([0], false_pos)).astype(np.float64)
    tpr = tp / n_pos if n_pos else np.full_like(tp, np.nan)
    fpr = fp / n_neg if n_neg else np.full_like(fp, np.nan)
    thresholds = np.concatenate(([np.inf], sorted_scores[last]))
    return fpr, tpr, thresholds


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else float("nan")


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Metrics of ``scores >= threshold`` against ``labels`` (1 = malignant).

    ``tnr`` equals ``specificity`` and ``cohen_kappa`` equals ``kappa``: both names are kept because
    the shipped model card reads the old ones and the papers we compare with use the new ones.
    Undefined ratios (an empty class) are NaN rather than 0 so they cannot pass for a real result.
    """
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
    kappa = _ratio(p_observed - p_chance, 1.0 - p_chance)
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
        "kappa": kappa,
        # The same numbers under the names the papers use, so tables can be filled by key.
        "cohen_kappa": kappa,
        "fpr": _ratio(fp, fp + tn),
        "tnr": specificity,
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


def widest_decided_band(
    labels: np.ndarray,
    scores: np.ndarray,
    min_sensitivity: float,
    min_balanced_accuracy: float,
    candidates: int = 400,
) -> tuple[float, float] | None:
    """The referral band ``(benign_below, malignant_at)`` that decides the most images while the
    decided ones keep ``sensitivity >= min_sensitivity`` and balanced accuracy
    ``>= min_balanced_accuracy`` (issue 13: "fewer referrals at the same safety").

    The band's edges are searched over ``candidates`` quantiles of the scores (every pair, from
    cumulative counts, so 400 candidates cost 80,000 pairs, not 80,000 passes over the data);
    ties on the decided share go to the higher balanced accuracy. ``None`` when no band meets
    both floors, not even referring all but one image.
    """
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.all() or not y.any():
        return None
    edges = np.unique(np.quantile(s, np.linspace(0.0, 1.0, candidates)))
    edges = np.unique(np.concatenate([edges, [np.nextafter(s.max(), np.inf)]]))
    # images below each edge, by class: benign calls if the edge is the lower cut
    pos_below = np.searchsorted(np.sort(s[y]), edges, side="left").astype(np.float64)
    neg_below = np.searchsorted(np.sort(s[~y]), edges, side="left").astype(np.float64)
    n_pos, n_neg = float(y.sum()), float((~y).sum())
    fn, tn = pos_below[:, None], neg_below[:, None]  # lower edge on rows
    tp, fp = n_pos - pos_below[None, :], n_neg - neg_below[None, :]  # upper edge on columns
    with np.errstate(divide="ignore", invalid="ignore"):
        sensitivity = tp / (tp + fn)
        specificity = tn / (tn + fp)
    balanced = (sensitivity + specificity) / 2.0
    decided = (fn + tn + tp + fp) / (n_pos + n_neg)
    valid = np.triu(np.ones((len(edges), len(edges)), dtype=bool))  # lower <= upper
    valid &= (sensitivity >= min_sensitivity) & (balanced >= min_balanced_accuracy)
    if not valid.any():
        return None
    rank = np.where(valid, decided + 1e-9 * np.nan_to_num(balanced), -np.inf)
    low, high = np.unravel_index(int(np.argmax(rank)), rank.shape)
    return float(edges[low]), float(edges[high])


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


def _indices_by(values: Sequence) -> dict:
    """Row indices of each distinct value, in order of first appearance."""
    groups: dict = defaultdict(list)
    for index, value in enumerate(values):
        groups[value].append(index)
    return {key: np.array(indices) for key, indices in groups.items()}


def grouped_metrics(
    labels: np.ndarray, scores: np.ndarray, groups: Sequence[str], threshold: float
) -> dict[str, dict]:
    """:func:`binary_metrics` of each group's images, e.g. per magnification ("40X", ...).

    Groups appear in order of first appearance; a group with no samples has no entry (only values
    present in ``groups`` are keys), so callers never meet an all-NaN row for an absent group.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if len(groups) != len(labels) or len(labels) != len(scores):
        raise ValueError("labels, scores and groups must have the same length")
    return {
        group: binary_metrics(labels[idx], scores[idx], threshold)
        for group, idx in _indices_by(groups).items()
        if len(idx)
    }


def patient_level(
    labels: np.ndarray, scores: np.ndarray, patients: Sequence[str], threshold: float
) -> dict:
    """Metrics with one row per patient instead of one per image, plus the ``patients`` count.

    Rule: a patient's score is the mean of its image scores, and its label is 1 (malignant) if any
    of its images is malignant (in BreakHis every patient has one diagnosis, so this is simply the
    patient's label). One row per patient stops patients with many images from dominating the
    numbers. Note this differs from the "patient recognition rate" of Spanhol et al. (2016), the
    mean over patients of each patient's share of correctly classified images; that one can be
    computed from :func:`per_patient`'s ``accuracy`` values.
    """
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=np.float64)
    if len(patients) != len(labels) or len(labels) != len(scores):
        raise ValueError("labels, scores and patients must have the same length")
    blocks = _indices_by(patients)
    patient_labels = np.array([int(labels[idx].max()) for idx in blocks.values()], dtype=int)
    patient_scores = np.array([scores[idx].mean() for idx in blocks.values()], dtype=np.float64)
    result = binary_metrics(patient_labels, patient_scores, threshold)
    result["patients"] = len(blocks)
    return result


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_number_or_missing(value: object) -> bool:
    return value is None or _is_number(value)


def fold_summary(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, sample SD (ddof=1) and count over cross-validation folds, for each numeric key.

    Only keys present and numeric in every fold are summarised (nested values such as
    ``confusion`` and text are skipped). A NaN fold (e.g. an AUC on a fold without one class) is
    left out and ``n`` counts the folds used; ``None`` (NaN after a JSON round trip that wrote
    null) counts as NaN. The SD of a single fold is 0.0, of none NaN.
    """
    if not per_fold:
        return {}
    keys = [
        key
        for key in per_fold[0]
        if all(key in fold and _is_number_or_missing(fold[key]) for fold in per_fold)
        and any(_is_number(fold[key]) for fold in per_fold)
    ]
    out: dict[str, dict[str, float]] = {}
    for key in keys:
        raw = [fold[key] for fold in per_fold]
        values = np.array([np.nan if v is None else float(v) for v in raw], dtype=np.float64)
        values = values[~np.isnan(values)]
        n = len(values)
        mean = float(values.mean()) if n else float("nan")
        sd = float(values.std(ddof=1)) if n > 1 else (0.0 if n == 1 else float("nan"))
        out[key] = {"mean": mean, "sd": sd, "n": n}
    return out


ECE_BINS = 15  # equal-width bins of the predicted malignant probability over [0, 1]


def reliability_bins(
    labels: np.ndarray, scores: np.ndarray, bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Per equal-width bin of ``scores``: count, mean predicted probability and observed
    malignant fraction (empty bins left out); what the reliability diagram draws."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    # A score of exactly 1.0 belongs to the last bin.
    index = np.minimum((scores * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        if inside.any():
            rows.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "n": int(inside.sum()),
                    "mean_predicted": float(scores[inside].mean()),
                    "observed": float(labels[inside].mean()),
                }
            )
    return rows


def expected_calibration_error(
    labels: np.ndarray, scores: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE of the malignant probability: the count-weighted mean over ``bins`` equal-width bins
    of |observed malignant fraction - mean predicted probability| (binary "top-label-free"
    form: the malignant class, which is the one the decision reads)."""
    n = len(np.asarray(labels))
    if n == 0:
        return float("nan")
    return float(
        sum(r["n"] * abs(r["observed"] - r["mean_predicted"]) for r in reliability_bins(
            labels, scores, bins
        )) / n
    )
