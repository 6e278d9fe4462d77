"""Knowledge distillation: one student learns the shipped ensemble's soft answers (issue 13).

    python -m appliance.trainer.distill --teacher models/idc-mobilenetv2 \\
        --data ../shared/data/idc-patches --output build/distilled \\
        --weights "$WEIGHTS" --epochs 30 --kd-temperature 4 --kd-alpha 0.7 \\
        --augmentation stain --test-time-augmentation none --calibration temperature \\
        --version 2.0.0

(``WEIGHTS``: the ImageNet MobileNetV2 file named in ``docs/trainer.md``.) Why: the teacher
(3 members x 8 test-time views = 24 backbone passes per patch) is too slow on a Pi; a single
student with 1 view is 1 pass. Its soft labels carry what the ensemble learnt about ambiguous
patches, which hard labels do not.

Reads top to bottom:

1. The patient split is the teacher's own (its card's seed and fractions), and the test patients
   it gives must be exactly those the teacher's card lists: a student tested on patients its
   teacher trained on would inherit a leak. The validation patients the student chooses its
   thresholds and calibration on were seen by a teacher that pooled validation into training
   (as 1.4.0 did); the card says so.
2. The teacher's probabilities on every *training* image, as the appliance computes them
   (:class:`~appliance.inference.Classifier`: int8, the card's views, its stain normaliser), are
   computed once and cached as ``.npy`` keyed by the teacher's hash and the image list.
3. The student trains with the trainer's augmentation on ``[hard one-hot | teacher probs]``
   targets and :func:`kd_loss`; then the trainer's own int8 export and evaluation (thresholds
   and calibration on validation patients, every metric on test patients) and a normal bundle.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from appliance.inference.bundle import ModelBundle
from appliance.inference.card import InputContract, ModelCard
from appliance.inference.classifier import Classifier
from appliance.preprocess import TEST_TIME_AUGMENTATIONS, view_count
from appliance.trainer import data as datasets
from appliance.trainer import export
from appliance.trainer.augment import AUGMENTATIONS, make_augment
from appliance.trainer.cli import add_band_options, band_fields
from appliance.trainer.evaluation import card_calibration, evaluate
from appliance.trainer.ood_sets import read_rgb
from appliance.trainer.presets import set_trainable
from appliance.trainer.train import (
    TrainConfig,
    _jsonable,
    phases,
    prepare_data,
    representative_set,
    run_record,
    software_record,
    split_record,
)

BATCH = 32  # teacher images per interpreter call while caching soft labels


@dataclass(frozen=True)
class DistillSettings:
    """The teacher and how much the student listens to it."""

    teacher: Path
    temperature: float = 4.0  # softens both distributions in the KD term
    alpha: float = 0.7  # weight of the KD term; 1 - alpha on the hard labels
    cache: Path | None = None  # where soft labels are kept (default: <output>/soft-labels)


def kd_loss(temperature: float, alpha: float, classes: int):
    """Hinton et al.'s loss on targets ``[one-hot (classes) | teacher probabilities (classes)]``:
    ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(hard, student)``.

    The student outputs softmax probabilities (the appliance reads probabilities), so its
    logits are recovered as ``log p`` (softmax is shift-invariant); ``p_T = softmax(log p / T)``.
    The teacher's ``q_T`` is built the same way from its probabilities.
    """

    def loss(targets: tf.Tensor, predicted: tf.Tensor) -> tf.Tensor:
        hard, teacher = targets[:, :classes], targets[:, classes:]
        eps = 1e-7
        student_log = tf.math.log(tf.clip_by_value(predicted, eps, 1.0))
        teacher_log = tf.math.log(tf.clip_by_value(teacher, eps, 1.0))
        q = tf.nn.softmax(teacher_log / temperature)
        log_p_t = tf.nn.log_softmax(student_log / temperature)
        kl = tf.reduce_sum(q * (tf.math.log(tf.clip_by_value(q, eps, 1.0)) - log_p_t), axis=1)
        ce = -tf.reduce_sum(hard * student_log, axis=1)
        return alpha * temperature**2 * kl + (1.0 - alpha) * ce

    return loss


def _cache_key(teacher: ModelBundle, samples: list[datasets.Sample]) -> str:
    listing = "\n".join(f"{s.path}\t{s.label}" for s in samples)
    return hashlib.sha256(f"{teacher.card.sha256}\n{listing}".encode()).hexdigest()[:16]


def teacher_soft_labels(
    teacher: ModelBundle, samples: list[datasets.Sample], cache: Path, log=print
) -> np.ndarray:
    """``(n, classes)`` teacher probabilities of ``samples`` (view-averaged, int8, as the
    appliance scores whole patches), read from ``cache`` when this teacher already scored this
    exact image list."""
    path = cache / f"soft-{teacher.card.short_sha}-{_cache_key(teacher, samples)}.npy"
    classes = len(teacher.card.labels)
    if path.exists():
        soft = np.load(path)
        if soft.shape == (len(samples), classes):
            log(f"teacher soft labels: cached {path}")
            return soft
    classifier = Classifier(teacher)
    started = time.time()
    parts = []
    for start in range(0, len(samples), BATCH):
        pixels = [read_rgb(s.path) for s in samples[start : start + BATCH]]
        parts.append(classifier.features(pixels)[0])
    soft = np.concatenate(parts).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, soft)
    log(f"teacher soft labels: {len(samples)} images in {time.time() - started:.0f} s -> {path}")
    return soft


def check_split(teacher: ModelCard, split: datasets.Split) -> None:
    """Refuse a student split whose test patients are not the teacher's test patients."""
    listed = sorted(teacher.training_data.get("test_patients", []))
    found = sorted({s.patient for s in split.test})
    if listed != found:
        raise ValueError(
            f"the student's test patients ({len(found)}) are not the teacher's"
            f" ({len(listed)}): use the teacher's data folder, seed and fractions, or the"
            " student would be tested on patients the teacher trained on"
        )


def teacher_config(teacher: ModelCard, **fields) -> TrainConfig:
    """The student's configuration on the teacher's split (its card's seed and fractions)."""
    data = teacher.training_data
    split = tuple(data.get("fractions", (0.7, 0.15, 0.15)))
    return TrainConfig(split=split, seed=int(data.get("seed", 42)), **fields)


def fit_student(
    config: TrainConfig, x: np.ndarray, targets: np.ndarray, settings: DistillSettings, log=print
) -> tuple[keras.Model, dict]:
    """The trainer's phases (head warm-up, then fine-tuning) with the KD loss instead of the
    preset's, the trainer's augmentation, the preset's optimiser and schedule."""
    started = time.time()
    preset = config.resolved_preset()
    classes = len(config.labels()[0])
    batch = preset.optimizer.batch_size
    augment = make_augment(AUGMENTATIONS[config.augmentation], preset.scaling, config.seed)
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x, targets))
        .shuffle(len(x), seed=config.seed)
        .batch(batch)
        .map(augment)  # serial, seeded, as in train.fit; targets pass through untouched
        .prefetch(tf.data.AUTOTUNE)
    )
    model, base = preset.build(None, classes, config.weights)
    loss = kd_loss(settings.temperature, settings.alpha, classes)
    pretrained = preset.is_pretrained(config.weights)
    steps = int(np.ceil(len(x) / batch))
    history: dict[str, list[float]] = {}
    for phase in phases(preset, pretrained, config.head_epochs):
        set_trainable(base, phase.backbone_trainable, pretrained)
        if phase.name == "head" and not preset.freeze_backbone:
            rate = preset.optimizer.head_phase_lr or preset.optimizer.new_layers_lr
            optimizer = keras.optimizers.Adam(rate)
        else:
            optimizer = preset.make_optimizer(base, steps, phase.epochs)
        model.compile(optimizer=optimizer, loss=loss)
        log(f"distil {phase.name}: {phase.epochs} epochs, batch {batch}, preset {preset.name}")
        fitted = model.fit(train_ds, epochs=phase.epochs, verbose=2)
        for key, values in fitted.history.items():
            history.setdefault(f"{phase.name}_{key}", []).extend(float(v) for v in values)
    return model, {"history": history, "train_seconds": round(time.time() - started, 1)}


def run(config: TrainConfig, settings: DistillSettings, log=print) -> Path:
    keras.utils.set_random_seed(config.seed)
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    teacher = ModelBundle.load(settings.teacher)
    label_names, malignant = config.labels()
    if tuple(teacher.card.labels) != tuple(label_names):
        raise ValueError(f"teacher labels {teacher.card.labels} differ from {label_names}")
    data = prepare_data(config, log)
    check_split(teacher.card, data.split)
    cache = settings.cache or out / "soft-labels"
    soft = teacher_soft_labels(teacher, data.split.train, cache, log)
    hard = np.eye(len(label_names), dtype=np.float32)[data.y_train]
    targets = np.concatenate([hard, soft], axis=1)
    model, record = fit_student(config, data.x_train, targets, settings, log)
    model.save(out / "float_model.keras")
    tflite = export.to_int8_tflite(model, representative_set(config, data.x_train))
    evaluation, thresholds, _ = evaluate(config, data, model, export.Int8Model(tflite), log)
    views = view_count(evaluation["test_time_augmentation"])
    teacher_views = view_count(teacher.card.input.test_time_augmentation)
    members = int((teacher.card.provenance.get("ensemble") or {}).get("members", 1))
    preset = config.resolved_preset()
    height, width = preset.input_size
    card = ModelCard(
        name=config.name,
        version=config.version,
        file="model.tflite",
        sha256=export.sha256_bytes(tflite),
        labels=tuple(label_names),
        malignant_label=malignant,
        input=InputContract(
            height=height,
            width=width,
            scaling=preset.scaling,
            mode=teacher.card.input.mode,
            tile_size=teacher.card.input.tile_size,
            tile_stride=teacher.card.input.tile_stride,
            test_time_augmentation=evaluation["test_time_augmentation"],
            stain_normalization=data.stain,
        ),
        thresholds=thresholds,
        training_data={
            **{k: v for k, v in teacher.card.training_data.items() if k != "counts"},
            **split_record(config, data.split, evaluation),
        },
        metrics=evaluation,
        provenance={
            **run_record("appliance.trainer.distill"),
            "preset": preset.name,
            "backbone": preset.description,
            "distilled_from": {
                "name": teacher.card.name,
                "version": teacher.card.version,
                "sha256": teacher.card.sha256,
                "passes_per_patch": teacher_views * members,
                "kd_temperature": settings.temperature,
                "kd_alpha": settings.alpha,
                "soft_labels": "the teacher's int8 view-averaged probabilities on the"
                " training patients' images, as the appliance computes them",
                "caveat": "validation patients may be among the teacher's training patients",
            },
            **software_record(model),
            **record,
            "config": _jsonable(asdict(config)),
        },
        calibration=card_calibration(evaluation, len(label_names)),
    )
    card_path = export.write_bundle(out, tflite, card)
    log(f"student bundle written: {card_path} ({views} passes per patch)")
    return card_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", type=Path, required=True, help="the teacher's bundle")
    parser.add_argument("--data", type=Path, required=True, help="the teacher's IDC folder")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--cache", type=Path, help="soft-label cache (default: in --output)")
    parser.add_argument("--kd-temperature", type=float, default=4.0)
    parser.add_argument("--kd-alpha", type=float, default=0.7)
    parser.add_argument("--preset", default="mobilenetv2")
    parser.add_argument("--weights", type=Path, help="ImageNet weights; none = from scratch")
    parser.add_argument("--width", type=float, default=1.0, help="MobileNet width (alpha)")
    parser.add_argument("--input-size", type=int, help="square input; default: the preset's")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--head-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--augmentation", default="light", choices=sorted(AUGMENTATIONS))
    parser.add_argument(
        "--test-time-augmentation", choices=["auto", *TEST_TIME_AUGMENTATIONS], default="none"
    )
    parser.add_argument(
        "--calibration", choices=["none", "temperature", "isotonic"], default="temperature"
    )
    add_band_options(parser)
    parser.add_argument("--name", default="idc-mobilenetv2-distilled")
    parser.add_argument("--version", default="2.0.0")
    parser.add_argument("--limit-per-patient", type=int, help="smoke tests only")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    teacher = ModelBundle.load(args.teacher).card
    config = teacher_config(
        teacher,
        data=args.data,
        output=args.output,
        preset=args.preset,
        weights=args.weights,
        alpha=args.width,
        input_size=(args.input_size, args.input_size) if args.input_size else None,
        epochs=args.epochs,
        head_epochs=args.head_epochs,
        batch_size=args.batch_size,
        augmentation=args.augmentation,
        test_time_augmentation=args.test_time_augmentation,
        name=args.name,
        version=args.version,
        limit_per_patient=args.limit_per_patient,
        plots=False,
        extra={"calibration": args.calibration} if args.calibration != "none" else {},
        **band_fields(args),
    )
    settings = DistillSettings(args.teacher, args.kd_temperature, args.kd_alpha, args.cache)
    print(run(config, settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
