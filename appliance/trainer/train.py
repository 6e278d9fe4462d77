"""Train, evaluate and export one model, top to bottom: data → model → fit → evaluate → export.

Every number written into the card is measured here on patients the model never saw, with the
int8 model that ships (invariant 6). Thresholds are chosen on validation patients only.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

from appliance.inference.card import InputContract, ModelCard, Thresholds
from appliance.preprocess import augmented_views, average_views
from appliance.trainer import data as datasets
from appliance.trainer import export, metrics
from appliance.trainer.model import BACKBONES, build_classifier, set_backbone_trainable


@dataclass
class TrainConfig:
    """Everything that defines a run; saved beside the bundle so the run can be repeated."""

    data: Path
    output: Path
    weights: Path | None = None
    layout: str = "idc"  # "idc" or "folders"
    classes: tuple[str, ...] = ("0", "1")
    label_names: tuple[str, ...] = ("non-IDC", "IDC")
    malignant_label: str = "IDC"
    patient_pattern: str = r"^(?P<patient>[^_]+)_"
    backbone: str = "mobilenetv2"
    alpha: float = 1.0
    input_size: int = 96
    tile_size: int = 50  # source pixels of one training patch: how the appliance tiles big images
    head_epochs: int = 2
    finetune_epochs: int = 10  # the shipped model's setting
    batch_size: int = 64
    head_lr: float = 1e-3
    finetune_lr: float = 1e-4
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 42
    target_sensitivity: float = 0.92
    band_sensitivity: float = 0.97
    band_specificity: float = 0.90
    name: str = "idc-mobilenetv2"
    version: str = "1.0.0"
    limit_per_patient: int | None = None  # for smoke tests only
    representative: int = 300  # int8 calibration patches, from training patients only
    test_time_augmentation: str = "auto"  # "none", "dihedral8", or "auto" (best on validation)
    from_float: Path | None = None  # resume: skip fitting, use this run folder's float model
    extra: dict = field(default_factory=dict)


def load_samples(config: TrainConfig) -> list[datasets.Sample]:
    if config.layout == "idc":
        samples = datasets.load_idc(config.data)
    elif config.layout == "folders":
        samples = datasets.load_class_folders(config.data, config.classes, config.patient_pattern)
    else:
        raise ValueError(f"unknown layout {config.layout!r}")
    if config.limit_per_patient:
        kept: dict[str, int] = {}
        limited = []
        for sample in samples:
            if kept.get(sample.patient, 0) < config.limit_per_patient:
                kept[sample.patient] = kept.get(sample.patient, 0) + 1
                limited.append(sample)
        samples = limited
    return samples


def augment(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Orientation is meaningless in a histology patch; stain and scanner vary a little."""
    image = tf.image.random_flip_left_right(image)
    image = tf.image.random_flip_up_down(image)
    image = tf.image.rot90(image, tf.random.uniform((), 0, 4, dtype=tf.int32))
    unit = (image + 1.0) / 2.0
    unit = tf.image.random_brightness(unit, 0.08)
    unit = tf.image.random_contrast(unit, 0.85, 1.15)
    unit = tf.image.random_saturation(unit, 0.85, 1.15)
    unit = tf.image.random_hue(unit, 0.03)
    return tf.clip_by_value(unit, 0.0, 1.0) * 2.0 - 1.0, label


def class_weights(labels: np.ndarray) -> dict[int, float]:
    counts = np.bincount(labels, minlength=2).astype(np.float64)
    return {i: float(len(labels) / (2.0 * c)) if c else 1.0 for i, c in enumerate(counts)}


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def choose_thresholds(labels: np.ndarray, scores: np.ndarray, config: TrainConfig) -> Thresholds:
    """Operating point: the highest threshold keeping validation sensitivity at the target.
    The indeterminate band widens it to where sensitivity reaches ``band_sensitivity`` below and
    specificity reaches ``band_specificity`` above."""
    point = metrics.threshold_for_sensitivity(labels, scores, config.target_sensitivity)
    low = min(point, metrics.threshold_for_sensitivity(labels, scores, config.band_sensitivity))
    high = max(point, metrics.threshold_for_specificity(labels, scores, config.band_specificity))
    low, point, high = (round(float(np.clip(v, 0.01, 0.99)), 4) for v in (low, point, high))
    return Thresholds(operating_point=point, benign_below=low, malignant_at=high)


def band_outcome(labels: np.ndarray, scores: np.ndarray, thresholds: Thresholds) -> dict:
    """What the three-way decision does on a set: share referred, and metrics on the rest."""
    decided = (scores < thresholds.benign_below) | (scores >= thresholds.malignant_at)
    result = {"indeterminate_fraction": float(1.0 - decided.mean())}
    if decided.any():
        result["decided"] = metrics.binary_metrics(
            labels[decided], scores[decided], thresholds.malignant_at
        )
    return result


@dataclass
class Arrays:
    """The three patient-disjoint parts, preprocessed with the appliance's function."""

    split: datasets.Split
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def prepare_data(config: TrainConfig, log=print) -> Arrays:
    size = (config.input_size, config.input_size)
    scaling = BACKBONES[config.backbone].scaling
    split = datasets.patient_split(load_samples(config), config.split, config.seed)
    log(f"split by patient: {json.dumps(split.summary())}")
    return Arrays(
        split,
        *datasets.load_arrays(split.train, size, scaling),
        *datasets.load_arrays(split.validation, size, scaling),
        *datasets.load_arrays(split.test, size, scaling),
    )


def fit(config: TrainConfig, data: Arrays, log=print) -> tuple[keras.Model, dict]:
    """Head first with the backbone frozen, then fine-tune everything but BatchNorm."""
    started = time.time()
    train_ds = (
        tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
        .shuffle(len(data.x_train), seed=config.seed)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(config.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    val_ds = tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val)).batch(config.batch_size)
    model, base = build_classifier(
        config.backbone, config.input_size, len(config.label_names), config.alpha, config.weights
    )
    weights = class_weights(data.y_train)
    history: dict[str, list[float]] = {}
    for phase, epochs, lr, trainable in (
        ("head", config.head_epochs, config.head_lr, False),
        ("finetune", config.finetune_epochs, config.finetune_lr, True),
    ):
        if epochs <= 0:
            continue
        set_backbone_trainable(base, trainable)
        steps = epochs * int(np.ceil(len(data.x_train) / config.batch_size))
        schedule = keras.optimizers.schedules.CosineDecay(lr, steps) if trainable else lr
        model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        log(f"fit {phase}: {epochs} epochs at lr {lr}")
        fitted = model.fit(
            train_ds, validation_data=val_ds, epochs=epochs, class_weight=weights, verbose=2
        )
        for key, values in fitted.history.items():
            history.setdefault(f"{phase}_{key}", []).extend(float(v) for v in values)
    return model, {"history": history, "train_seconds": round(time.time() - started, 1)}


def load_fitted(directory: Path) -> tuple[keras.Model, dict]:
    """Resume after fitting: the float model of an earlier run and its training record."""
    model = keras.models.load_model(Path(directory) / "float_model.keras")
    record = {"history": {}, "train_seconds": None, "resumed_from": str(directory)}
    card = Path(directory) / "card.json"
    if card.exists():
        earlier = json.loads(card.read_text()).get("provenance", {})
        record.update({k: earlier[k] for k in ("history", "train_seconds") if k in earlier})
    return model, record


def predict_views(
    predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, mode: str
) -> np.ndarray:
    """Scores averaged over the test-time views, exactly as the appliance computes them."""
    chunks = []
    for start in range(0, len(images), 256):
        views = augmented_views(images[start : start + 256], mode)
        chunks.append(average_views(predict(views), mode))
    return np.concatenate(chunks)


def run(config: TrainConfig, log=print) -> Path:
    keras.utils.set_random_seed(config.seed)
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)

    # --- Data: patient-wise split, then the appliance's own preprocessing ---------------------
    data = prepare_data(config, log)

    # --- Model + fit (or resume from an earlier run's float model) ---------------------------
    if config.from_float:
        model, fit_record = load_fitted(config.from_float)
        log(f"fit skipped: float model loaded from {config.from_float}")
    else:
        model, fit_record = fit(config, data, log)
    # The float model is kept beside the bundle (without optimizer state) for the parity test
    # and for resuming; the appliance never loads it.
    keras.Model(model.inputs, model.outputs).save(out / "float_model.keras")

    # --- Export: int8 with a representative set from training patients only -----------------
    rng = np.random.default_rng(config.seed)
    pick = rng.choice(
        len(data.x_train), min(config.representative, len(data.x_train)), replace=False
    )
    tflite = export.to_int8_tflite(model, data.x_train[pick])

    # --- Evaluate: choices on validation patients, metrics on test patients -----------------
    index = config.label_names.index(config.malignant_label)
    int8 = export.Int8Model(tflite)
    modes = (
        ("none", "dihedral8")
        if config.test_time_augmentation == "auto"
        else (config.test_time_augmentation,)
    )
    val_by_mode = {m: predict_views(int8.predict, data.x_val, m) for m in modes}
    val_auc = {m: metrics.roc_auc(data.y_val, p[:, index]) for m, p in val_by_mode.items()}
    tta = max(modes, key=lambda m: val_auc[m])
    log(f"validation AUC by test-time augmentation: {val_auc}; chosen: {tta}")
    int8_val = val_by_mode[tta]
    int8_test = predict_views(int8.predict, data.x_test, tta)
    float_test = predict_views(lambda x: model.predict(x, verbose=0), data.x_test, tta)
    thresholds = choose_thresholds(data.y_val, int8_val[:, index], config)
    point = thresholds.operating_point
    y_test, test_patients = data.y_test, [s.patient for s in data.split.test]
    evaluation = {
        "unit": "image (patch); patients disjoint between train, validation and test",
        "operating_point": point,
        "test_time_augmentation": tta,
        "validation_auc_by_test_time_augmentation": val_auc,
        "test_int8": metrics.binary_metrics(y_test, int8_test[:, index], point),
        "test_float": metrics.binary_metrics(y_test, float_test[:, index], point),
        "validation_int8": metrics.binary_metrics(data.y_val, int8_val[:, index], point),
        "test_int8_ci95_patient_bootstrap": metrics.bootstrap_patients(
            y_test, int8_test[:, index], test_patients, point
        ),
        "test_int8_three_way": band_outcome(y_test, int8_test[:, index], thresholds),
        "test_int8_per_patient": _per_patient_summary(
            y_test, int8_test[:, index], test_patients, point
        ),
        "float_vs_int8_test": export.agreement(float_test, int8_test, point, index),
    }
    log(json.dumps({k: evaluation[k] for k in ("test_int8", "float_vs_int8_test")}, indent=1))

    # --- Bundle: model + card ----------------------------------------------------------------
    card = ModelCard(
        name=config.name,
        version=config.version,
        file="model.tflite",
        sha256=export.sha256_bytes(tflite),
        labels=tuple(config.label_names),
        malignant_label=config.malignant_label,
        input=InputContract(
            height=config.input_size,
            width=config.input_size,
            dtype="int8",
            scaling=BACKBONES[config.backbone].scaling,
            mode="tiled",
            tile_size=config.tile_size,
            tile_stride=config.tile_size,
            test_time_augmentation=tta,
        ),
        thresholds=thresholds,
        training_data={
            "dataset": "Breast Histopathology Images (IDC), 50x50 px H&E patches"
            if config.layout == "idc"
            else str(config.data),
            "source": str(config.data),
            "split": "patient-wise, stratified by patient tumour share",
            "fractions": list(config.split),
            "seed": config.seed,
            "counts": data.split.summary(),
            "test_patients": sorted(set(test_patients)),
            "validation_patients": sorted({s.patient for s in data.split.validation}),
        },
        metrics=evaluation,
        provenance={
            "trainer": "appliance.trainer.train",
            "git_commit": git_commit(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "backbone": f"{config.backbone} alpha {config.alpha}",
            "pretrained_weights": Path(config.weights).name
            if config.weights
            else "none (from scratch)",
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU, no GPU",
            **fit_record,
            "config": _jsonable(asdict(config)),
            "quantization": "full integer int8 (input, weights, activations, output);"
            f" representative set: {len(pick)} training-patient patches",
        },
    )
    card_path = export.write_bundle(out, tflite, card)
    log(f"bundle written: {card_path} (sha256 {card.sha256[:12]}…)")
    return card_path


def _per_patient_summary(labels, scores, patients, threshold) -> dict:
    table = metrics.per_patient(labels, scores, patients, threshold)
    accuracy = [m["accuracy"] for m in table.values()]
    return {
        "patients": len(table),
        "accuracy_median": float(np.median(accuracy)),
        "accuracy_min": float(np.min(accuracy)),
        "patients_below_0.7_accuracy": int(np.sum(np.array(accuracy) < 0.7)),
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
