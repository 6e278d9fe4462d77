"""Evaluation: test-time augmentation and thresholds chosen on calibration patients, then every
metric on test patients, with the int8 model that ships (invariant 6).

Apart from the fit so that a run reads top to bottom in ``train.py`` and each can be read alone;
the calibration scores come either from validation patients or, with ``--threshold-folds``, from
out-of-fold models (``train.out_of_fold_scores``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from appliance.calibration import Calibration as CardCalibration
from appliance.decision import CODES, Decision, decide_array
from appliance.preprocess import augmented_views, average_views, view_count
from appliance.trainer import export, metrics
from appliance.values import Thresholds

if TYPE_CHECKING:
    from appliance.trainer.train import Arrays, TrainConfig


@dataclass
class Calibration:
    """Int8 scores of the images the thresholds are chosen on, by test-time augmentation mode."""

    labels: np.ndarray  # class indices
    scores_by_mode: dict[str, np.ndarray]  # (n, classes) per mode
    source: str


def tta_modes(config: TrainConfig) -> tuple[str, ...]:
    if config.test_time_augmentation == "auto":
        return ("none", "dihedral8")
    return (config.test_time_augmentation,)


def predict_views(
    predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, mode: str
) -> np.ndarray:
    """Scores averaged over the test-time views, exactly as the appliance computes them."""
    chunks = []
    for start in range(0, len(images), 256):
        views = augmented_views(images[start : start + 256], mode)
        chunks.append(average_views(predict(views), mode))
    return np.concatenate(chunks)


def choose_thresholds(labels: np.ndarray, scores: np.ndarray, config: TrainConfig) -> Thresholds:
    """Operating point: the highest threshold keeping validation sensitivity at the target.

    The indeterminate band, by ``config.band_rule``:
    - ``"safety"``: widened to where sensitivity reaches ``band_sensitivity`` below and
      specificity reaches ``band_specificity`` above (1.3.0's rule);
    - ``"decided"``: the band deciding the most validation images whose decided ones keep
      sensitivity >= ``decided_sensitivity`` and balanced accuracy >=
      ``decided_balanced_accuracy`` (issue 13), falling back to ``"safety"`` when none does.
    Either way the band contains the operating point.
    """
    point = metrics.threshold_for_sensitivity(labels, scores, config.target_sensitivity)
    band = None
    if config.band_rule == "decided":
        band = metrics.widest_decided_band(
            labels, scores, config.decided_sensitivity, config.decided_balanced_accuracy
        )
    if band is None:
        band = (
            metrics.threshold_for_sensitivity(labels, scores, config.band_sensitivity),
            metrics.threshold_for_specificity(labels, scores, config.band_specificity),
        )
    low, high = min(point, band[0]), max(point, band[1])
    low, point, high = (round(float(np.clip(v, 0.01, 0.99)), 4) for v in (low, point, high))
    return Thresholds(operating_point=point, benign_below=low, malignant_at=high)


def band_outcome(labels: np.ndarray, scores: np.ndarray, thresholds: Thresholds) -> dict:
    """What the three-way decision does on a set: share referred, and metrics on the rest.

    The band is the appliance's own rule (:func:`appliance.decision.decide_array`), so the
    card's "referred" share counts exactly the images the appliance would refer."""
    decided = decide_array(scores, thresholds) != CODES.index(Decision.INDETERMINATE)
    result = {"indeterminate_fraction": float(1.0 - decided.mean())}
    if decided.any():
        result["decided"] = metrics.binary_metrics(
            labels[decided], scores[decided], thresholds.malignant_at
        )
    return result


def three_way_agreement(
    labels: np.ndarray, float_scores: np.ndarray, int8_scores: np.ndarray, thresholds: Thresholds
) -> dict:
    """How often the int8 model gives the float model's three-way answer (benign, refer,
    malignant: what the technician reads), and the float model's own three-way outcome."""
    same = decide_array(float_scores, thresholds) == decide_array(int8_scores, thresholds)
    return {
        "decision_agreement": float(same.mean()),
        "float": band_outcome(labels, float_scores, thresholds),
    }


def evaluate(
    config: TrainConfig,
    data: Arrays,
    model: keras.Model,
    int8: export.Int8Model,
    log=print,
    calibration: Calibration | None = None,
) -> tuple[dict, Thresholds, dict]:
    """Test-time augmentation and thresholds from validation patients; every metric on test.

    Returns ``(evaluation, thresholds, scores)``; ``scores`` keeps the raw test predictions for
    the plots. With more than two classes the binary numbers are "malignant class vs the rest",
    which is what the appliance's decision uses.
    """
    label_names, malignant = config.labels()
    index = label_names.index(malignant)
    modes = tta_modes(config)
    if calibration is None:
        calibration = Calibration(
            data.y_val,
            {m: predict_views(int8.predict, data.x_val, m) for m in modes},
            "validation patients",
        )
    y_val = (calibration.labels == index).astype(int)
    y_test = (data.y_test == index).astype(int)
    val_by_mode = calibration.scores_by_mode
    val_auc = {m: metrics.roc_auc(y_val, p[:, index]) for m, p in val_by_mode.items()}
    tta = max(modes, key=lambda m: -np.inf if np.isnan(val_auc[m]) else val_auc[m])
    log(f"validation AUC by test-time augmentation: {val_auc}; chosen: {tta}")
    int8_val = val_by_mode[tta][:, index]
    int8_probs = predict_views(int8.predict, data.x_test, tta)
    float_probs = predict_views(lambda x: model.predict(x, verbose=0), data.x_test, tta)
    int8_test, float_test = int8_probs[:, index], float_probs[:, index]
    fitted = fit_calibration(config, y_val, int8_val, y_test, int8_test, calibration.source)
    raw_bins = metrics.reliability_bins(y_test, int8_test)
    if fitted is not None:  # every score below, and the thresholds, on the calibrated scale
        int8_val, int8_test, float_test = (
            fitted.apply_scores(s) for s in (int8_val, int8_test, float_test)
        )
        int8_probs, float_probs = (fitted.apply(p, index) for p in (int8_probs, float_probs))
    thresholds = choose_thresholds(y_val, int8_val, config)
    point = thresholds.operating_point
    patients = [s.patient for s in data.split.test]
    evaluation = {
        "unit": "image; patients disjoint between train, validation and test"
        if not config.image_wise
        else "image; IMAGE-WISE split: patients shared between train and test (leaks)",
        "split": split_name(config),
        "operating_point": point,
        "thresholds_chosen_on": calibration.source,
        "test_time_augmentation": tta,
        "validation_auc_by_test_time_augmentation": val_auc,
        "test_int8": metrics.binary_metrics(y_test, int8_test, point),
        "test_float": metrics.binary_metrics(y_test, float_test, point),
        "validation_int8": metrics.binary_metrics(y_val, int8_val, point),
        "test_int8_patient_level": metrics.patient_level(y_test, int8_test, patients, point),
        "test_int8_ci95_patient_bootstrap": metrics.bootstrap_patients(
            y_test, int8_test, patients, point
        ),
        "test_int8_three_way": band_outcome(y_test, int8_test, thresholds),
        # what the band rule saw: the model choice between candidates is made on this
        "validation_int8_three_way": band_outcome(y_val, int8_val, thresholds),
        "test_int8_per_patient": per_patient_summary(y_test, int8_test, patients, point),
        "float_vs_int8_test": export.agreement(float_probs, int8_probs, point, index),
        "float_vs_int8_three_way": three_way_agreement(y_test, float_test, int8_test, thresholds),
        # backbone passes per patch: members x test-time views (issue 13's compute budget)
        "passes_per_patch": config.ensemble * view_count(tta),
    }
    evaluation["test_int8_ece"] = metrics.expected_calibration_error(y_test, int8_test)
    evaluation["test_int8_reliability"] = metrics.reliability_bins(y_test, int8_test)
    if fitted is not None:
        evaluation["calibration"] = fitted.to_dict()
        evaluation["test_int8_reliability_uncalibrated"] = raw_bins
    magnifications = [getattr(s, "magnification", None) for s in data.split.test]
    if any(m is not None for m in magnifications):
        evaluation["test_int8_per_magnification"] = metrics.grouped_metrics(
            y_test, int8_test, [f"{m}X" for m in magnifications], point
        )
    if len(label_names) > 2:
        predicted = int8_probs.argmax(1)
        evaluation["test_int8_multiclass"] = {
            "accuracy": float(np.mean(predicted == data.y_test)),
            "labels": list(label_names),
            "confusion": [
                [
                    int(np.sum((data.y_test == t) & (predicted == p)))
                    for p in range(len(label_names))
                ]
                for t in range(len(label_names))
            ],
        }
    log(json.dumps({k: evaluation[k] for k in ("test_int8", "float_vs_int8_test")}, indent=1))
    # the test scores, kept so tables can be redone without scoring test patients again
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "test_scores.npz", labels=y_test, int8=int8_test, float=float_test)
    return evaluation, thresholds, {"y": y_test, "float": float_test, "int8": int8_test}


def fit_calibration(
    config: TrainConfig,
    y_fit: np.ndarray,
    fit_scores: np.ndarray,
    y_test: np.ndarray,
    test_scores: np.ndarray,
    source: str,
) -> CardCalibration | None:
    """The card's calibration (``config.extra["calibration"]``: none, temperature or isotonic)
    fitted on the scores the thresholds are chosen on (validation or out-of-fold patients,
    never test), with its ECE before and after on the test patients. The raw fitting scores
    are saved as ``calibration_scores.npz`` in the run folder, so ``appliance.trainer.calibrate
    --scores`` can refit another method later without retraining."""
    method = str(config.extra.get("calibration", "none"))
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "calibration_scores.npz", labels=y_fit, scores=fit_scores)
    if method == "none":
        return None
    from appliance.trainer.calibrate import fit, with_ece

    return with_ece(fit(method, y_fit, fit_scores, source), y_test, test_scores)


def card_calibration(evaluation: dict, classes: int) -> CardCalibration | None:
    """The calibration :func:`evaluate` fitted (kept in its metrics), for the card's own
    section: the thresholds it chose are on that scale, so a card must carry both or neither."""
    fitted = evaluation.get("calibration")
    return None if fitted is None else CardCalibration.from_dict(fitted, classes)


def split_name(config: TrainConfig) -> str:
    if config.image_wise:
        return f"image-wise {list(config.split)} (leaking, for comparison only)"
    if config.kfold:
        return f"patient-wise {config.kfold}-fold, fold {config.fold} as test"
    return f"patient-wise {list(config.split)}"


def per_patient_summary(labels, scores, patients, threshold) -> dict:
    table = metrics.per_patient(labels, scores, patients, threshold)
    accuracy = [m["accuracy"] for m in table.values()]
    return {
        "patients": len(table),
        "accuracy_median": float(np.median(accuracy)),
        "accuracy_min": float(np.min(accuracy)),
        "patients_below_0.7_accuracy": int(np.sum(np.array(accuracy) < 0.7)),
    }
