"""Fit the card's calibration (temperature or isotonic) and add it to an existing bundle.

    python -m appliance.trainer.calibrate --bundle models/idc-mobilenetv2 \\
        --data ../shared/data/idc-patches --out build/calibrated

The fit uses only the card's ``validation_patients`` (the patient split the card records, the
same way :mod:`appliance.trainer.scope_fit` re-derives it), or, with ``--scores``, out-of-fold
scores saved by the trainer (an ``.npz`` with ``labels`` and ``scores``, malignant probability
per development image). The test patients are read once, only to report the ECE before and
after (15 equal-width bins). The thresholds are moved onto the calibrated scale by the same map
(calibration is monotone, so every decision stays what it was); the model file is unchanged.

The fitting functions are pure numpy and are also used by the trainer's evaluation.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from appliance.calibration import EPSILON, MAX_KNOTS, Calibration
from appliance.errors import ImageError
from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from appliance.trainer import ood_sets
from appliance.trainer.data import Sample, load_idc
from appliance.trainer.metrics import expected_calibration_error, reliability_bins
from appliance.values import Thresholds


def _nll(labels: np.ndarray, scores: np.ndarray, temperature: float) -> float:
    q = Calibration("temperature", "", temperature=temperature).apply_scores(scores)
    q = np.clip(q, EPSILON, 1 - EPSILON)
    return float(-np.mean(labels * np.log(q) + (1 - labels) * np.log(1 - q)))


def fit_temperature(labels: np.ndarray, scores: np.ndarray) -> float:
    """The temperature minimising the log-loss of the malignant probability: a coarse log grid
    over [0.05, 20], then a golden-section search around the best point (the loss is smooth
    and unimodal in log T)."""
    labels = np.asarray(labels, dtype=np.float64)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 61))
    losses = [_nll(labels, scores, t) for t in grid]
    best = int(np.argmin(losses))
    low, high = np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, len(grid) - 1)])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if _nll(labels, scores, np.exp(a)) < _nll(labels, scores, np.exp(b)):
            high = b
        else:
            low = a
    return round(float(np.exp((low + high) / 2)), 4)


def fit_isotonic(
    labels: np.ndarray, scores: np.ndarray, knots: int = 64
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Pool-adjacent-violators on the sorted scores, then at most ``knots`` knots (block means),
    anchored at 0 and 1 so every probability has a value."""
    order = np.argsort(scores, kind="stable")
    x = np.asarray(scores, dtype=np.float64)[order]
    y = np.asarray(labels, dtype=np.float64)[order]
    means: list[float] = []
    weights: list[float] = []
    xs: list[float] = []
    for xi, yi in zip(x, y, strict=True):
        means.append(yi)
        weights.append(1.0)
        xs.append(xi)
        while len(means) > 1 and means[-2] > means[-1]:
            w = weights[-2] + weights[-1]
            m = (means[-2] * weights[-2] + means[-1] * weights[-1]) / w
            xm = (xs[-2] * weights[-2] + xs[-1] * weights[-1]) / w
            means[-2:], weights[-2:], xs[-2:] = [m], [w], [xm]
    pick = np.unique(np.linspace(0, len(xs) - 1, min(len(xs), knots - 2)).round().astype(int))
    kx = [0.0, *(float(xs[i]) for i in pick), 1.0]
    ky = [float(means[0]), *(float(means[i]) for i in pick), float(means[-1])]
    out_x, out_y = [kx[0]], [round(ky[0], 6)]
    for a, b in zip(kx[1:], ky[1:], strict=True):
        a, b = round(a, 6), round(b, 6)  # as the card stores them: compare what is stored
        if a > out_x[-1]:
            out_x.append(a)
            out_y.append(max(b, out_y[-1]))
    return tuple(out_x[:MAX_KNOTS]), tuple(out_y[:MAX_KNOTS])


def fit(method: str, labels: np.ndarray, scores: np.ndarray, fitted_on: str) -> Calibration:
    if method == "temperature":
        return Calibration("temperature", fitted_on, temperature=fit_temperature(labels, scores))
    x, y = fit_isotonic(labels, scores)
    return Calibration("isotonic", fitted_on, knots_x=x, knots_y=y)


def with_ece(calibration: Calibration, labels: np.ndarray, scores: np.ndarray) -> Calibration:
    """The calibration with its ECE before and after on ``labels``/``scores`` (test patients)."""
    return replace(
        calibration,
        ece_before=round(expected_calibration_error(labels, scores), 4),
        ece_after=round(expected_calibration_error(labels, calibration.apply_scores(scores)), 4),
    )


def calibrated_thresholds(thresholds: Thresholds, calibration: Calibration) -> Thresholds:
    """The same cut-offs moved onto the calibrated scale (a monotone map keeps decisions)."""
    moved = calibration.apply_scores(
        np.array([thresholds.benign_below, thresholds.operating_point, thresholds.malignant_at])
    )
    low, point, high = (round(float(np.clip(v, 0.01, 0.99)), 4) for v in moved)
    return replace(thresholds, benign_below=low, operating_point=point, malignant_at=high)


def _scored(
    classifier: Classifier, samples: list[Sample], malignant: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and malignant probabilities of the patches the appliance answers for, scored as
    it scores them; patches its scope gate stops (glass, slivers) are left out, as on the
    appliance, where they get no probability."""
    labels, scores = [], []
    for sample in samples:
        try:
            p = classifier.classify(Image.fromarray(ood_sets.read_rgb(sample.path))).p_malignant
        except ImageError:  # OutOfScope is one
            continue
        labels.append(int(sample.label == malignant))
        scores.append(p)
    return np.array(labels), np.array(scores)


def _measure(
    classifier: Classifier, samples: list[Sample], test_patients: set[str], malignant: int
) -> dict[str, object]:
    """The bundle's ECE and reliability bins on its test patients, as the appliance scores them
    (nothing fitted, nothing written)."""
    test = [s for s in samples if s.patient in test_patients]
    labels, scores = _scored(classifier, test, malignant)
    return {
        "test_patches": len(test),
        "answered": len(scores),
        "ece": round(expected_calibration_error(labels, scores), 4),
        "reliability": reliability_bins(labels, scores),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    bundle = ModelBundle.load(args.bundle)
    card = bundle.card
    if not args.measure_only and args.out is None:
        raise SystemExit("--out is required: the calibrated bundle is written beside the original")
    if card.calibration is not None and not args.measure_only:
        raise SystemExit("the bundle is already calibrated; start from the uncalibrated bundle")
    samples = load_idc(args.data)
    malignant = card.labels.index(card.malignant_label)
    test_patients = set(card.training_data.get("test_patients", []))
    validation = set(card.training_data.get("validation_patients", []))
    classifier = Classifier(bundle)
    if args.measure_only:
        return _measure(classifier, samples, test_patients, malignant)
    if args.scores:
        saved = np.load(args.scores)
        fit_labels, fit_scores = saved["labels"].astype(int), saved["scores"].astype(float)
        source = f"out-of-fold scores ({args.scores.name}, {len(fit_labels)} images)"
    elif validation:
        chosen = [s for s in samples if s.patient in validation]
        fit_labels, fit_scores = _scored(classifier, chosen, malignant)
        source = f"{len(chosen)} patches of {len(validation)} validation patients"
    else:
        raise SystemExit(
            "the card lists no validation patients (its thresholds came from out-of-fold"
            " models, which the bundle does not keep). Pass --scores with the trainer's saved"
            " out-of-fold scores; fitting on training or test patients would not be honest."
        )
    test = [s for s in samples if s.patient in test_patients]
    test_labels, test_scores = _scored(classifier, test, malignant)
    calibration = with_ece(
        fit(args.method, fit_labels, fit_scores, source), test_labels, test_scores
    )
    final = replace(
        card,
        version=args.version or card.version,
        calibration=calibration,
        thresholds=calibrated_thresholds(card.thresholds, calibration),
    )
    from appliance.trainer.export import write_bundle  # TensorFlow: only when writing

    write_bundle(args.out, bundle.model_path.read_bytes(), final)
    for extra in bundle.directory.iterdir():  # the scope file and the float model travel along
        if extra.name not in (card.file, "card.json") and extra.is_file():
            (args.out / extra.name).write_bytes(extra.read_bytes())
    ModelBundle.load(args.out)  # as the appliance will load it
    return calibration.to_dict()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the IDC patches folder")
    parser.add_argument("--out", type=Path, help="where to write the new bundle")
    parser.add_argument("--method", choices=("temperature", "isotonic"), default="temperature")
    parser.add_argument("--scores", type=Path, help=".npz of out-of-fold labels and scores")
    parser.add_argument("--version", help="the new bundle's version (default: unchanged)")
    parser.add_argument(
        "--measure-only",
        action="store_true",
        help="only report the bundle's ECE on its test patients (writes nothing)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(run(build_parser().parse_args(argv)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
