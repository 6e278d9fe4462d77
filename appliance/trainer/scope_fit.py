"""Fit a model's scope gate on its training patients and measure it on everything else.

    python -m appliance.trainer.scope_fit --bundle models/idc-mobilenetv2 \\
        --data ../shared/data/idc-patches --photos ../shared/weights/tflite-imagenet \\
        --breakhis ../shared/data/breakhis-samples --report build/scope/report.json

Reads top to bottom:

1. The bundle's model gets feature outputs (:mod:`appliance.trainer.feature_outputs`); its
   probabilities are proven bit-identical on real patches before anything is written.
2. Every patch of the *training* patients (the card's test patients are left out) goes
   through the appliance's own :class:`~appliance.inference.Classifier` (int8, the card's
   views), giving the features and hand-made measures the appliance will compute.
3. Each limit is set at :data:`QUANTILE` of the training patches (hue range, H&E fraction,
   sharpness, tissue fraction, feature score), so each check alone rejects about 0.5 % of
   training tissue. Nothing else is tuned.
4. The finished bundle is loaded as the appliance loads it, and the rates are measured through
   ``Classifier.classify``: on the test patients' patches (real tissue nobody fitted on) and on
   the assembled out-of-scope sets (:mod:`appliance.trainer.ood_sets`). The rates go into the
   card's ``scope.calibration`` and into the JSON report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from appliance.decision import decide
from appliance.errors import ImageError
from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from appliance.scope.gate import OutOfScope
from appliance.scope.measures import (
    MIN_CHROMA,
    he_fraction,
    hue_degrees,
    sharpness,
    tissue_fraction,
    tissue_mask,
)
from appliance.scope.ood import fit_feature_scope
from appliance.scope.spec import FeatureLimit, ScopeSpec
from appliance.trainer import ood_sets
from appliance.trainer.data import load_idc
from appliance.trainer.export import write_bundle, write_card
from appliance.trainer.feature_outputs import add_feature_outputs, check_same_answers

QUANTILE = 0.005  # share of training patches each limit rejects on its own
COMPONENTS = 32
SCOPE_FILE = "scope.npz"
BATCH = 32


def _features(classifier: Classifier, pixels: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(
        [classifier.features(pixels[i : i + BATCH])[1] for i in range(0, len(pixels), BATCH)]
    )


def _hue_range(pixels: list[np.ndarray]) -> tuple[float, float]:
    """The hues of training tissue pixels, from the ``QUANTILE`` to the ``1 - QUANTILE`` point,
    measured on the circle from the hue opposite their circular mean (so the range may wrap
    through red at 0°)."""
    hues = []
    for patch in pixels[::3]:
        hue, chroma = hue_degrees(patch.reshape(-1, 3)[tissue_mask(patch)])
        hues.append(hue[chroma >= MIN_CHROMA])
    hue = np.concatenate(hues)
    radians = np.deg2rad(hue)
    centre = np.rad2deg(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean())) % 360
    offset = (hue - centre + 180.0) % 360.0
    low, high = np.quantile(offset, [QUANTILE, 1 - QUANTILE])
    return (
        float(round((low + centre - 180) % 360, 1)),
        float(round((high + centre - 180) % 360, 1)),
    )


def fit_spec(
    classifier: Classifier, train: list[np.ndarray], tile: int
) -> tuple[ScopeSpec, bytes]:
    """Every limit from training patches alone; returns the spec and the scope file's bytes.

    The checks run in order (size, tissue, colour, focus, features), so each later limit is set
    on the patches that pass the earlier ones: a sliver of glass at a slide's edge has no
    colour to measure and must not drag the colour limit down to zero.
    """
    min_side = max(8, tile // 2)
    sized = [p for p in train if min(p.shape[:2]) >= min_side]
    tissue = np.array([tissue_fraction(p) for p in sized])
    min_tissue = float(round(np.quantile(tissue, QUANTILE), 4))
    usable = [p for p, t in zip(sized, tissue, strict=True) if t >= min_tissue]
    hue_range = _hue_range(usable)
    he = np.array([he_fraction(p, hue_range) for p in usable])
    sharp = np.array([sharpness(p) for p in usable])
    features = _features(classifier, usable)
    scope = fit_feature_scope(features, COMPONENTS)
    scores = scope.scores(features)
    data = scope.to_bytes()
    spec = ScopeSpec(
        min_side_px=min_side,
        min_tissue_fraction=min_tissue,
        he_hue_range=hue_range,
        min_he_fraction=float(round(np.quantile(he, QUANTILE), 4)),
        min_sharpness=float(round(np.quantile(sharp, QUANTILE), 4)),
        max_rejected_tile_share=0.5,
        features=FeatureLimit(
            file=SCOPE_FILE,
            sha256=hashlib.sha256(data).hexdigest(),
            components=COMPONENTS,
            max_score=float(round(np.quantile(scores, 1 - QUANTILE), 4)),
            quantile=1 - QUANTILE,
        ),
    )
    return spec, data


def outcome_rates(classifier: Classifier, images: list[np.ndarray]) -> dict[str, object]:
    """Classify each image as the appliance does: how many are stopped, and why."""
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    thresholds = classifier.bundle.card.thresholds
    for pixels in images:
        try:
            p = classifier.classify(Image.fromarray(pixels)).p_malignant
        except OutOfScope as exc:
            counts["stopped"] += 1
            reasons.update(reason.value for reason in exc.verdict.reasons[:1])
            continue
        except ImageError:
            counts["stopped"] += 1
            reasons["unreadable_or_no_tissue"] += 1
            continue
        counts[decide(p, thresholds).value] += 1
    n = len(images)
    return {
        "images": n,
        "stopped": counts["stopped"],
        "stopped_share": round(counts["stopped"] / n, 4) if n else None,
        "confident_answers": counts["malignant"] + counts["benign"],
        "answers": {k: counts[k] for k in ("malignant", "indeterminate", "benign")},
        "first_reasons": dict(reasons.most_common()),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    source = ModelBundle.load(args.bundle)
    card = source.card
    samples = load_idc(args.data)
    test_patients = set(card.training_data.get("test_patients", []))
    if not test_patients:
        raise SystemExit("the card lists no test patients: cannot keep them out of the fit")
    train = [s for s in samples if s.patient not in test_patients]
    test = [s for s in samples if s.patient in test_patients]
    train_pixels = [ood_sets.read_rgb(s.path) for s in train]
    test_pixels = [ood_sets.read_rgb(s.path) for s in test]

    out = Path(args.out or args.bundle)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / card.file
        added = add_feature_outputs(source.model_path, model)
        probe = np.stack([classifier_input(p, card.input.size) for p in test_pixels[:64]])
        check_same_answers(source.model_path, model, probe)
        model_bytes = model.read_bytes()
    sha = hashlib.sha256(model_bytes).hexdigest()
    plain = replace(card, sha256=sha, scope=None)
    with tempfile.TemporaryDirectory() as tmp:
        write_bundle(Path(tmp), model_bytes, plain)
        spec, scope_bytes = fit_spec(
            Classifier(ModelBundle.load(Path(tmp))), train_pixels, card.input.tile_size or 50
        )

    calibration = {
        "fitted_on": f"{len(train)} patches of {len({s.patient for s in train})} training"
        " patients",
        "limits_at": f"{QUANTILE:.1%} of training patches per check",
        "feature_tensors": added,
        "features": "per-channel mean and standard deviation of each tensor, averaged over"
        " the card's test-time views; Mahalanobis in 32 principal components plus residual",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    version = args.version or card.version
    provenance = {
        **card.provenance,
        "scope_added_to": {
            "sha256": card.sha256,
            "version": card.version,
            "probabilities": "bit-identical (checked on 64 test patches)",
        },
    }
    final = replace(
        card,
        sha256=sha,
        version=version,
        provenance=provenance,
        scope=replace(spec, calibration=calibration),
    )
    write_bundle(out, model_bytes, final)
    (out / SCOPE_FILE).write_bytes(scope_bytes)
    classifier = Classifier(ModelBundle.load(out))
    rates = {
        "training_patches": {
            "meaning": f"real tissue: every {args.train_stride}th patch of the training patients",
            **outcome_rates(classifier, train_pixels[:: args.train_stride]),
        },
        "test_patches": {
            "meaning": "real tissue of the test patients (never used to fit or choose)",
            **outcome_rates(classifier, test_pixels),
        },
    }
    for ood in _ood(args, test_pixels):
        rates[ood.name] = {"meaning": ood.meaning, **outcome_rates(classifier, list(ood.images))}
    calibration["rates"] = rates
    final = replace(final, scope=replace(spec, calibration=calibration))
    write_card(out, final)  # the rates are measurements, not part of any hashed file
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(final.scope.to_dict(), indent=2) + "\n")
    return rates


def classifier_input(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A real patch as an int8 input (pixel - 128) of ``size`` (height, width) for the
    bit-identity check; any int8 array is a valid input, and real tissue exercises the value
    range the model meets."""
    height, width = size
    image = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
    return (np.asarray(image, np.int16) - 128).astype(np.int8)


def _ood(args: argparse.Namespace, test_pixels: list[np.ndarray]) -> list[ood_sets.OodSet]:
    rng = np.random.default_rng(0)
    full = [p for p in test_pixels if p.shape[:2] == (50, 50)]
    chosen = [full[i] for i in rng.choice(len(full), min(300, len(full)), replace=False)]
    sets = [ood_sets.photographs(args.photos)]
    if args.breakhis:
        sets.append(ood_sets.breakhis(args.breakhis))
    return [s for s in [*sets, *ood_sets.derived(chosen), ood_sets.blank()] if s.images]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the IDC patches folder")
    parser.add_argument("--photos", type=Path, nargs="*", default=[])
    parser.add_argument("--breakhis", type=Path)
    parser.add_argument("--out", type=Path, help="where to write the bundle (default: in place)")
    parser.add_argument("--version", help="the bundle's new version (default: unchanged)")
    parser.add_argument("--report", type=Path)
    parser.add_argument(
        "--train-stride",
        type=int,
        default=4,
        help="measure the training rejection on every n-th training patch",
    )
    rates = run(parser.parse_args(argv))
    for name, rate in rates.items():
        print(
            f"{name:20s} stopped {rate['stopped']:5d} of {rate['images']:5d}"
            f"  confident {rate['confident_answers']:5d}  {rate['first_reasons']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
