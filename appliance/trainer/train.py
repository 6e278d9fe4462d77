"""Train, evaluate and export one model, top to bottom: data → model → fit → evaluate → export.

Every number written into the card is measured here on patients the model never saw, with the
int8 model that ships (invariant 6), by :mod:`appliance.trainer.evaluation`. Thresholds are
chosen on validation (or out-of-fold) patients only. Any preset of
:mod:`appliance.trainer.presets` trains through this one path; the run's configuration is saved
beside the bundle (``config.json``) so ``histo-appliance-train --config`` repeats it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

from appliance.inference.card import InputContract, ModelCard
from appliance.preprocess import to_rgb
from appliance.stain import MacenkoNormalizer, ReinhardNormalizer, new_normalizer
from appliance.trainer import data as datasets
from appliance.trainer import distribute, ensemble, export, loaders, synthetic
from appliance.trainer.augment import AUGMENTATIONS, make_augment
from appliance.trainer.evaluation import (
    Calibration,
    card_calibration,
    evaluate,
    predict_views,
    tta_modes,
)
from appliance.trainer.presets import Preset, get_preset, set_trainable

# Class names and the malignant class of each layout, when the user names none.
BAND_RULES = ("safety", "decided")  # how the refer band is chosen: TrainConfig.band_rule
DEFAULT_LABELS = {
    "idc": (("non-IDC", "IDC"), "IDC"),
    "breakhis": (("benign", "malignant"), "malignant"),
    "bach": (loaders.BACH_CLASSES, "Invasive"),
    "bach-binary": (loaders.BACH_BINARY_LABELS, "carcinoma"),
}


@dataclass
class TrainConfig:
    """Everything that defines a run; saved beside the bundle so the run can be repeated."""

    data: Path
    output: Path
    preset: str = "mobilenetv2"
    weights: Path | None = None  # local ImageNet weights; None = from scratch (the card says so)
    layout: str = "idc"  # "idc", "folders", "breakhis", "bach", "bach-binary"
    classes: tuple[str, ...] = ("0", "1")  # class folder names ("folders" layout)
    label_names: tuple[str, ...] | None = None  # None: the layout's own
    malignant_label: str | None = None  # None: the layout's own
    patient_pattern: str = r"^(?P<patient>[^_]+)_"
    magnifications: tuple[int, ...] | None = None  # BreakHis: train/validate on these only
    test_magnifications: tuple[int, ...] | None = None  # BreakHis: test on these (cross-mag.)
    alpha: float = 1.0  # MobileNet width
    input_size: tuple[int, int] | None = None  # (height, width); None: the preset's
    input_mode: str | None = None  # "tiled" / "whole"; None: tiled for IDC patches, else whole
    tile_size: int = 50  # source pixels of one training patch: how the appliance tiles big images
    head_epochs: int = 2  # head-only warm-up before fine-tuning a pretrained, unfrozen backbone
    epochs: int | None = None  # the main phase; None: the preset's
    batch_size: int | None = None  # None: the preset's
    augmentation: str = "light"  # a key of appliance.trainer.augment.AUGMENTATIONS
    # "macenko" or "reinhard": normalise every image to a target built from training patients;
    # the target goes into the card and the appliance applies the same normalisation.
    stain_normalization: str | None = None
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    kfold: int | None = None  # patient-wise k-fold cross-validation: this run is one fold
    fold: int = 1  # 1..kfold: which fold's patients are the test set
    image_wise: bool = False  # the seed papers' leaking split, only to measure the leak
    # Thresholds and test-time augmentation from out-of-fold predictions of this many patient
    # folds over train + validation, then the final model fits on all of them (None: choose on
    # the validation patients).
    threshold_folds: int | None = None
    seed: int = 42
    # The model's initial weights, shuffling and augmentation (ensemble members INIT..INIT+N-1);
    # None: ``seed``, which also draws the patient split. One split, several of these: how much
    # of a difference is the initialisation's (issue 14's study).
    init_seed: int | None = None
    target_sensitivity: float = 0.92
    band_sensitivity: float = 0.97
    band_specificity: float = 0.90
    # "safety" (1.3.0: the band from band_sensitivity / band_specificity) or "decided" (the
    # band deciding the most validation images at these floors on the decided ones; issue 13)
    band_rule: str = "safety"
    decided_sensitivity: float = 0.95
    decided_balanced_accuracy: float = 0.88
    name: str = "idc-mobilenetv2"
    version: str = "1.0.0"
    limit_per_patient: int | None = None  # for smoke tests only
    representative: int = 300  # int8 calibration patches, from training patients only
    test_time_augmentation: str = "auto"  # "none", "dihedral8", or "auto" (best on validation)
    # Members of one recipe that differ only in their seed, averaged in one exported model
    # (appliance.trainer.ensemble); 1 = a single model.
    ensemble: int = 1
    from_float: Path | None = None  # skip fitting, use this run folder's float model
    resume: bool = False  # continue an interrupted fit from its checkpoints in ``output``
    plots: bool = True  # ROC, confusion matrix and learning curves as PNG beside the bundle
    # appliance.trainer.distribute: "default" (one device, as before), "mirrored" (local GPUs)
    # or "multiworker" (machines named in TF_CONFIG)
    strategy: str = "default"
    # gan generate's folder (DIR/<class index>/*.png) and synthetic images per real training
    # image of each class found there; training part only (appliance.trainer.synthetic)
    synthetic: Path | None = None
    synthetic_ratio: float = 1.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Checked here, not when fitting starts: a typo must not cost the minutes of reading data.
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(
                f"unknown augmentation {self.augmentation!r}; expected one of"
                f" {', '.join(AUGMENTATIONS)}"
            )
        if self.band_rule not in BAND_RULES:
            raise ValueError(f"unknown band rule {self.band_rule!r}; expected one of {BAND_RULES}")
        if self.ensemble < 1:
            raise ValueError(f"an ensemble needs at least one member, not {self.ensemble}")
        if self.synthetic is not None:
            synthetic.check(self)

    @property
    def fit_seed(self) -> int:
        """The seed of the model's initialisation, shuffling and augmentation."""
        return self.seed if self.init_seed is None else self.init_seed

    def labels(self) -> tuple[tuple[str, ...], str]:
        """(class names, malignant class): the user's, else the layout's."""
        names, malignant = DEFAULT_LABELS.get(self.layout, (tuple(self.classes), None))
        names = tuple(self.label_names or names)
        malignant = self.malignant_label or malignant or names[-1]
        if malignant not in names:
            raise ValueError(f"malignant label {malignant!r} is not one of {names}")
        return names, malignant

    def resolved_preset(self) -> Preset:
        preset = get_preset(self.preset)
        changes: dict = {"alpha": self.alpha}
        if self.batch_size:
            changes["batch_size"] = self.batch_size
        if self.input_size:
            changes["input_size"] = self.input_size
        if self.epochs is not None:
            changes["epochs"] = self.epochs
        return preset.with_overrides(**changes)

    @classmethod
    def from_json(cls, path: Path, **overrides) -> TrainConfig:
        """The configuration saved by an earlier run (``config.json``), fields overridden."""
        raw = {**json.loads(Path(path).read_text()), **overrides}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - names
        if unknown:
            raise ValueError(f"{path}: unknown configuration fields {sorted(unknown)}")
        for key in ("data", "output", "weights", "from_float", "synthetic"):
            if raw.get(key) is not None:
                raw[key] = Path(raw[key])
        for key in ("classes", "label_names", "magnifications", "test_magnifications", "split"):
            if raw.get(key) is not None:
                raw[key] = tuple(raw[key])
        if raw.get("input_size") is not None:
            raw["input_size"] = tuple(raw["input_size"])
        return cls(**raw)


# --- Data ------------------------------------------------------------------------------------


def load_samples(config: TrainConfig) -> list[datasets.Sample]:
    if config.layout == "idc":
        samples = datasets.load_idc(config.data)
    elif config.layout == "folders":
        samples = datasets.load_class_folders(config.data, config.classes, config.patient_pattern)
    elif config.layout == "breakhis":
        samples = loaders.load_breakhis(config.data, "binary")
    elif config.layout in ("bach", "bach-binary"):
        samples = loaders.load_bach(config.data, binary=config.layout == "bach-binary")
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


def make_split(config: TrainConfig, samples: list[datasets.Sample]) -> datasets.Split:
    """Patient-wise (fixed fractions, or fold ``fold`` of ``kfold``), or the leaking image-wise
    split when asked for by name. Magnification filters apply after the patient split, so the
    cross-magnification protocol never shares a patient between training and test."""
    if config.image_wise:  # image_wise_split itself warns that it leaks, every time
        split = datasets.image_wise_split(
            samples, config.split, config.seed, i_understand_this_leaks=True
        )
    elif config.kfold:
        if not 1 <= config.fold <= config.kfold:
            raise ValueError(f"fold must be between 1 and {config.kfold}, not {config.fold}")
        rest, test = datasets.patient_kfold(samples, config.kfold, config.seed)[config.fold - 1]
        val_share = config.split[1] / (config.split[0] + config.split[1])
        inner = datasets.patient_split(rest, (1 - val_share, val_share, 0.0), config.seed)
        split = datasets.Split(inner.train, inner.validation, test)
    else:
        split = datasets.patient_split(samples, config.split, config.seed)

    def at(part, magnifications):
        if not magnifications:
            return part
        return [s for s in part if getattr(s, "magnification", None) in magnifications]

    split = datasets.Split(
        at(split.train, config.magnifications),
        at(split.validation, config.magnifications),
        at(split.test, config.test_magnifications or config.magnifications),
    )
    for name, part in split.parts().items():
        if not part:
            raise ValueError(f"the {name} part is empty: too few patients or images for this split")
    return split


@dataclass
class Arrays:
    """The three parts, preprocessed with the appliance's function."""

    split: datasets.Split
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    stain: dict | None = None  # the stain normalisation all three parts went through
    synthetic: synthetic.SyntheticImages | None = None  # joined to x_train only in fit()


STAIN_TARGET_IMAGES = 16  # training images in the normalisation target's mosaic
STAIN_TARGET_SIDE = 128  # pixels per mosaic cell


def stain_target(
    method: str, train: list[datasets.Sample], seed: int
) -> MacenkoNormalizer | ReinhardNormalizer:
    """A normaliser fitted on a mosaic of training-patient images: a target that describes the
    training stain as a whole rather than one arbitrary image, and that never sees a test
    patient."""
    normalizer = new_normalizer(method)  # refuses an unknown method before reading images
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(train), min(STAIN_TARGET_IMAGES, len(train)), replace=False)
    side = int(np.ceil(np.sqrt(len(picked))))
    mosaic = np.full((side * STAIN_TARGET_SIDE, side * STAIN_TARGET_SIDE, 3), 255, np.uint8)
    for cell, index in enumerate(picked):
        with Image.open(train[index].path) as image:
            tile = to_rgb(image).resize((STAIN_TARGET_SIDE, STAIN_TARGET_SIDE))
        row, col = divmod(cell, side)
        mosaic[
            row * STAIN_TARGET_SIDE : (row + 1) * STAIN_TARGET_SIDE,
            col * STAIN_TARGET_SIDE : (col + 1) * STAIN_TARGET_SIDE,
        ] = np.asarray(tile)
    return normalizer.fit(mosaic)


def prepare_data(config: TrainConfig, log=print) -> Arrays:
    preset = config.resolved_preset()
    split = make_split(config, load_samples(config))
    log(f"split: {json.dumps(split.summary())}")
    stain = None
    if config.stain_normalization:
        stain = stain_target(config.stain_normalization, split.train, config.seed).to_dict()
        log(f"stain normalisation: {config.stain_normalization}, target from training patients")
    size, scaling = preset.input_size, preset.scaling
    return Arrays(
        split,
        *datasets.load_arrays(split.train, size, scaling, stain=stain),
        *datasets.load_arrays(split.validation, size, scaling, stain=stain),
        *datasets.load_arrays(split.test, size, scaling, stain=stain),
        stain=stain,
        synthetic=synthetic.load(config, split.train, size, scaling, stain, log),
    )


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return {i: float(len(labels) / (n_classes * c)) if c else 1.0 for i, c in enumerate(counts)}


# --- Fit ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    name: str
    epochs: int
    backbone_trainable: bool


def phases(preset: Preset, pretrained: bool, head_epochs: int) -> list[Phase]:
    """A pretrained backbone gets a head-only warm-up, then fine-tuning (unless the paper keeps
    it frozen); a backbone from scratch trains in one phase with the rest (a frozen random
    network would be a random feature extractor)."""
    if pretrained and preset.freeze_backbone:
        return [Phase("head", preset.epochs, False)]
    if pretrained and head_epochs > 0:
        return [Phase("head", head_epochs, False), Phase("finetune", preset.epochs, True)]
    return [Phase("finetune" if pretrained else "train", preset.epochs, True)]


def fit(config: TrainConfig, data: Arrays, log=print) -> tuple[keras.Model, dict]:
    """Fit phase by phase. Each phase checkpoints every epoch (Keras' BackupAndRestore) and
    leaves its weights when it ends, so ``resume`` continues an interrupted run where it was."""
    started = time.time()
    preset = config.resolved_preset()
    label_names, _ = config.labels()
    pretrained = preset.is_pretrained(config.weights)
    batch = preset.optimizer.batch_size
    augment = make_augment(AUGMENTATIONS[config.augmentation], preset.scaling, config.fit_seed)
    x_train, y_train = synthetic.training_arrays(data)
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=config.fit_seed)
        .batch(batch)
        # Serial on purpose: a parallel map draws the seeded augmentations in a different order
        # every run; one batch costs ~20 ms here against ~100 ms for its training step.
        .map(augment)
        .prefetch(tf.data.AUTOTUNE)
    )
    val_ds = (
        tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val)).batch(batch)
        if len(data.x_val)
        else None  # the final fit of a cross-validated-threshold run uses every patient
    )
    strategy = distribute.make_strategy(config.strategy)
    with strategy.scope():  # the default strategy's scope changes nothing
        model, base = preset.build(None, len(label_names), config.weights)
    weights = class_weights(y_train, len(label_names))
    checkpoints = Path(config.output) / "checkpoints"
    history: dict[str, list[float]] = {}
    steps_per_epoch = int(np.ceil(len(x_train) / batch))
    for phase in phases(preset, pretrained, config.head_epochs):
        done = checkpoints / f"{phase.name}.done.weights.h5"
        record = checkpoints / f"{phase.name}.history.json"
        if config.resume and done.exists() and record.exists():
            model.load_weights(done)
            for key, values in json.loads(record.read_text()).items():
                history.setdefault(key, []).extend(values)
            log(f"fit {phase.name}: already done, weights restored from {done}")
            continue
        set_trainable(base, phase.backbone_trainable, pretrained)
        with strategy.scope():
            if phase.name == "head" and not preset.freeze_backbone:  # warm-up before fine-tuning
                head_lr = preset.optimizer.head_phase_lr or preset.optimizer.new_layers_lr
                optimizer = keras.optimizers.Adam(head_lr)
                model.compile(optimizer=optimizer, loss=preset.loss(), metrics=["accuracy"])
            else:
                preset.compile(model, base, steps_per_epoch, phase.epochs)
        log(f"fit {phase.name}: {phase.epochs} epochs, batch {batch}, preset {preset.name}")
        backup = checkpoints / phase.name
        if not config.resume and backup.exists():
            for stale in backup.iterdir():
                stale.unlink()
        callbacks = [keras.callbacks.BackupAndRestore(str(backup)), *preset.callbacks()]
        fitted = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=phase.epochs,
            class_weight=weights,
            callbacks=callbacks,
            verbose=1 if sys.stdout.isatty() else 2,  # a progress bar on a terminal
        )
        phase_history = {
            f"{phase.name}_{key}": [float(v) for v in values]
            for key, values in fitted.history.items()
        }
        checkpoints.mkdir(parents=True, exist_ok=True)
        model.save_weights(done)
        record.write_text(json.dumps(phase_history))
        for key, values in phase_history.items():
            history.setdefault(key, []).extend(values)
    return model, {"history": history, "train_seconds": round(time.time() - started, 1)}


def fit_model(config: TrainConfig, data: Arrays, log=print) -> tuple[keras.Model, dict]:
    """One model, or an ensemble of ``config.ensemble`` members averaged in one graph."""
    if config.ensemble > 1:
        return ensemble.fit_members(config, data, log, fit)
    return fit(config, data, log)


def load_fitted(directory: Path) -> tuple[keras.Model, dict]:
    """Skip fitting: the float model of an earlier run and its training record."""
    model = keras.models.load_model(Path(directory) / "float_model.keras", compile=False)
    record = {"history": {}, "train_seconds": None, "resumed_from": str(directory)}
    card = Path(directory) / "card.json"
    if card.exists():
        earlier = json.loads(card.read_text()).get("provenance", {})
        record.update({k: earlier[k] for k in ("history", "train_seconds") if k in earlier})
    return model, record


# --- Calibration: the int8 representative set, out-of-fold thresholds -----------------------


def representative_set(config: TrainConfig, images: np.ndarray) -> np.ndarray:
    """The int8 calibration images: a seeded sample of the training images only."""
    rng = np.random.default_rng(config.seed)
    return images[rng.choice(len(images), min(config.representative, len(images)), replace=False)]


def out_of_fold_scores(config: TrainConfig, data: Arrays, log=print) -> Calibration:
    """Fit one model per patient fold of train + validation and score the fold it left out
    with its own int8 export: every development image gets a score from a model that never saw
    its patient, so the operating point rests on all development patients instead of the
    validation share alone."""
    k = int(config.threshold_folds or 0)
    samples = data.split.train + data.split.validation
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    patients = np.array([s.patient for s in samples])
    scores: dict[str, np.ndarray] = {}
    for index, held_out in enumerate(datasets.patient_folds(samples, k, config.seed), 1):
        mask = np.isin(patients, held_out)
        log(f"threshold fold {index}/{k}: {int(mask.sum())} images of {len(held_out)} patients")
        inner = Arrays(data.split, x[~mask], y[~mask], x[mask], y[mask], x[:0], y[:0])
        folder = Path(config.output) / "threshold-folds" / f"fold-{index}"
        model, _ = fit_model(dataclasses.replace(config, output=folder), inner, log)
        int8 = export.Int8Model(export.to_int8_tflite(model, representative_set(config, x[~mask])))
        for mode in tta_modes(config):
            part = predict_views(int8.predict, x[mask], mode)
            scores.setdefault(mode, np.zeros((len(x), part.shape[1]), np.float32))[mask] = part
    return Calibration(y, scores, f"out-of-fold int8 scores of {k} patient folds")


def pooled_development(data: Arrays) -> Arrays:
    """Train + validation as one training set (no validation part), the test part unchanged."""
    split = datasets.Split(data.split.train + data.split.validation, [], data.split.test)
    return Arrays(
        split,
        np.concatenate([data.x_train, data.x_val]),
        np.concatenate([data.y_train, data.y_val]),
        data.x_val[:0],
        data.y_val[:0],
        data.x_test,
        data.y_test,
        data.stain,
    )


# --- Run ---------------------------------------------------------------------------------------


def run(config: TrainConfig, log=print) -> Path:
    keras.utils.set_random_seed(config.fit_seed)
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(_jsonable(asdict(config)), indent=1) + "\n")
    preset = config.resolved_preset()
    label_names, malignant = config.labels()

    # --- Data: the split, then the appliance's own preprocessing -----------------------------
    data = prepare_data(config, log)
    calibration = None
    if config.threshold_folds and config.from_float:
        raise ValueError("--threshold-folds refits every fold; it cannot reuse --from-float")
    if config.threshold_folds:
        calibration = out_of_fold_scores(config, data, log)
        data = pooled_development(data)

    # --- Model + fit (or an earlier run's float model) ----------------------------------------
    if config.from_float:
        model, fit_record = load_fitted(config.from_float)
        log(f"fit skipped: float model loaded from {config.from_float}")
    else:
        model, fit_record = fit_model(config, data, log)
    # The float model is kept beside the bundle (without optimizer state) for the parity test
    # and for re-exporting; the appliance never loads it.
    keras.Model(model.inputs, model.outputs).save(out / "float_model.keras")

    # --- Export: int8 with a representative set from training patients only -----------------
    calibration_images = representative_set(config, data.x_train)
    tflite = export.to_int8_tflite(model, calibration_images)

    # --- Evaluate: choices on validation patients, metrics on test patients -----------------
    int8 = export.Int8Model(tflite)
    evaluation, thresholds, scores = evaluate(config, data, model, int8, log, calibration)
    if config.plots:
        from appliance.trainer.plots import write_evaluation_plots

        write_evaluation_plots(
            out,
            scores["y"],
            scores["float"],
            scores["int8"],
            thresholds.operating_point,
            fit_record.get("history") or {},
            _negative_and_malignant(label_names, malignant),
        )

    # --- Bundle: model + card ----------------------------------------------------------------
    mode = config.input_mode or ("tiled" if config.layout == "idc" else "whole")
    height, width = preset.input_size
    split = data.split
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
            dtype="int8",
            scaling=preset.scaling,
            mode=mode,
            tile_size=config.tile_size if mode == "tiled" else None,
            tile_stride=config.tile_size if mode == "tiled" else None,
            test_time_augmentation=evaluation["test_time_augmentation"],
            stain_normalization=data.stain,
        ),
        thresholds=thresholds,
        calibration=card_calibration(evaluation, len(label_names)),
        training_data={
            "dataset": _dataset_name(config),
            "source": str(config.data),
            "layout": config.layout,
            "seed": config.seed,
            **split_record(config, split, evaluation),
            **synthetic.card_entry(data.synthetic),
        },
        metrics=evaluation,
        provenance={
            **run_record("appliance.trainer.train"),
            "preset": preset.name,
            "backbone": preset.description
            if config.ensemble == 1
            else f"ensemble of {config.ensemble} x {preset.description}",
            "pretrained": preset.is_pretrained(config.weights),
            "init_seed": config.fit_seed,  # the split's seed is training_data.seed
            "pretrained_weights": Path(config.weights).name
            if config.weights
            else "none (from scratch)",
            **software_record(model),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU, no GPU",
            **fit_record,
            "config": _jsonable(asdict(config)),
            "quantization": "full integer int8 (input, weights, activations, output);"
            f" representative set: {len(calibration_images)} training-patient images",
        },
    )
    card_path = export.write_bundle(out, tflite, card)
    log(f"bundle written: {card_path} (sha256 {card.sha256[:12]}…)")
    return card_path


def split_record(config: TrainConfig, split: datasets.Split, evaluation: dict) -> dict:
    """The card's record of the patient split and augmentation: the trainer's and the
    distiller's cards say it the same way."""
    return {
        "split": evaluation["split"],
        "fractions": list(config.split),
        "counts": split.summary(),
        "test_patients": sorted({s.patient for s in split.test}),
        "validation_patients": sorted({s.patient for s in split.validation}),
        "augmentation": AUGMENTATIONS[config.augmentation].describe(),
    }


def run_record(trainer: str) -> dict:
    """Which program wrote the card, from which commit, when."""
    return {
        "trainer": trainer,
        "git_commit": git_commit(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def software_record(model: keras.Model) -> dict:
    """The library versions the model was fitted with, and its size."""
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "parameters": int(model.count_params()),
    }


def _negative_and_malignant(label_names: tuple[str, ...], malignant: str) -> tuple[str, str]:
    """Axis names of the binary plots: (the rest, the malignant class)."""
    others = [n for n in label_names if n != malignant]
    return (others[0] if len(others) == 1 else "other", malignant)


def _dataset_name(config: TrainConfig) -> str:
    return {
        "idc": "Breast Histopathology Images (IDC), 50x50 px H&E patches",
        "breakhis": "BreakHis (Spanhol et al. 2016), 700x460 px H&E images",
        "bach": "ICIAR 2018 / BACH microscopy images, 4 classes",
        "bach-binary": "ICIAR 2018 / BACH microscopy images, carcinoma vs not",
    }.get(config.layout, str(config.data))


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
