"""Synthetic images from ``histo-appliance-train gan generate`` in the classifier's TRAINING part
only (``--synthetic DIR --synthetic-ratio R``; issue 14).

Why they are kept beside the training arrays instead of joining ``split.train`` as samples: the
training samples also feed the card's counts, the int8 representative set and (with
``--threshold-folds``) the out-of-fold scores that place the operating point. A generated image
must reach none of those, nor validation or test. So they load into :class:`SyntheticImages`
(``Arrays.synthetic``) through the same reader and preprocessing as the real images, and join
the real ones only where the model is fitted (:func:`training_arrays`).

``DIR`` is ``gan generate``'s ``--out``: ``DIR/<class index>/*.png``, with the generator's
``generator.json`` beside the images of each class. ``R`` is synthetic images per real
training image of that class: R = 0.5 with 1,780 real training positives adds 890. The first
``round(R * real)`` files in name order are taken: the latents are i.i.d., so any subset is as
random as another, and every run of one condition (other init seeds) trains on the same images.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.trainer import data as datasets

if TYPE_CHECKING:  # train.py imports this module; no cycle at run time
    from appliance.trainer.train import Arrays, TrainConfig

MANIFEST = "generator.json"  # written by gan generate into each class folder it fills
PATIENT = "synthetic"  # the pseudo-patient of every generated image


@dataclass(frozen=True)
class SyntheticRecord:
    """What the card's ``training_data.synthetic`` says: where the images came from, how many
    joined each class, and the GAN run behind them."""

    folder: str
    ratio: float
    added: dict[str, int]  # class name -> synthetic images added to the training part
    real_training: dict[str, int]  # class name -> real training images (what R multiplies)
    available: dict[str, int]  # class name -> images the folder holds
    generator: dict | None  # generator.json of each class, with its run's gan_config.json
    same_patient_split: bool | None  # the GAN trained on this run's training patients only
    note: str = (
        "training part only: never validation, test, the int8 representative set or thresholds"
    )


@dataclass(frozen=True)
class SyntheticImages:
    """The synthetic images, preprocessed like the real ones, and their record."""

    images: np.ndarray
    labels: np.ndarray
    record: SyntheticRecord


def check(config: TrainConfig) -> None:
    """The refusals that need no data read: a bad ratio, a folder without images, and
    out-of-fold thresholds (their fold models would train without the synthetic images)."""
    if config.synthetic_ratio <= 0:
        raise ValueError(
            f"--synthetic-ratio must be above 0, not {config.synthetic_ratio}"
            " (leave out --synthetic to train without synthetic images)"
        )
    if config.threshold_folds:
        raise ValueError("--synthetic cannot be combined with --threshold-folds")
    class_files(Path(config.synthetic), len(config.labels()[0]))


def class_files(folder: Path, n_classes: int) -> dict[int, list[Path]]:
    """Class index -> image files (name order) of ``folder/<class index>/``."""
    if not folder.is_dir():
        raise FileNotFoundError(f"synthetic folder {folder} does not exist")
    found: dict[int, list[Path]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(
            p
            for p in sub.rglob("*")
            if p.suffix.lower() in datasets.IMAGE_SUFFIXES and not p.name.startswith(".")
        )
        if not files:
            continue
        if not sub.name.isdigit() or int(sub.name) >= n_classes:
            raise ValueError(
                f"{sub}: synthetic class folders are named by class index 0..{n_classes - 1},"
                " as 'histo-appliance-train gan generate' writes them"
            )
        found[int(sub.name)] = files
    if not found:
        raise ValueError(
            f"no images in {folder}/<class index>/: not a 'gan generate' folder, or an empty one"
        )
    return found


def load(
    config: TrainConfig,
    train: Sequence[datasets.Sample],
    size: tuple[int, int],
    scaling: Any,
    stain: dict | None,
    log: Callable[[str], None] = print,
) -> SyntheticImages | None:
    """``config.synthetic_ratio`` synthetic images per real training image of every class the
    folder holds, read and preprocessed like the real ones; ``None`` without ``--synthetic``.
    Refuses a ratio asking for more images than the folder holds."""
    if config.synthetic is None:
        return None
    folder = Path(config.synthetic)
    names = config.labels()[0]
    files = class_files(folder, len(names))
    chosen: list[datasets.Sample] = []
    added, real = {}, {}
    for index, paths in files.items():
        real[names[index]] = sum(1 for s in train if s.label == index)
        wanted = round(config.synthetic_ratio * real[names[index]])
        if wanted > len(paths):
            raise ValueError(
                f"--synthetic-ratio {config.synthetic_ratio:g} asks for {wanted} synthetic images"
                f" of class {names[index]!r} ({real[names[index]]} real training images), but"
                f" {folder / str(index)} holds {len(paths)}"
            )
        added[names[index]] = wanted
        chosen += [datasets.Sample(path, index, PATIENT) for path in paths[:wanted]]
    if not chosen:
        raise ValueError(f"--synthetic-ratio {config.synthetic_ratio:g} adds no image of {folder}")
    generator = generator_summary(folder, files)
    record = SyntheticRecord(
        folder=str(folder),
        ratio=config.synthetic_ratio,
        added=added,
        real_training=real,
        available={names[i]: len(p) for i, p in files.items()},
        generator=generator,
        same_patient_split=_same_split(config, generator),
    )
    log(f"synthetic: {added} added to the training part from {folder} (ratio {record.ratio:g})")
    if record.same_patient_split is False:
        log(
            "WARNING: the GAN behind these images was not trained on this run's training"
            " patients alone (other data, layout, split or seed, or k-fold): it may have seen"
            " validation or test patients"
        )
    images, labels = datasets.load_arrays(chosen, size, scaling, stain=stain)
    return SyntheticImages(images, labels, record)


def generator_summary(folder: Path, files: dict[int, list[Path]]) -> dict | None:
    """Each class folder's ``generator.json`` (written by ``gan generate``) and the
    ``gan_config.json`` of the run it names, when present; ``None`` when no class has one."""
    found = {}
    for index in files:
        manifest = folder / str(index) / MANIFEST
        if not manifest.exists():
            continue
        entry = json.loads(manifest.read_text())
        config_path = Path(entry.get("gan_config", ""))
        if config_path.is_file():
            entry["gan_config_contents"] = json.loads(config_path.read_text())
        found[str(index)] = entry
    return found or None


def _same_split(config: TrainConfig, generator: dict | None) -> bool | None:
    """Whether every GAN behind the images drew its training patients with this run's split
    (same data, layout, fractions and seed; a k-fold or image-wise run never matches)."""
    gan_configs = [g.get("gan_config_contents") for g in (generator or {}).values()]
    if not gan_configs or any(g is None for g in gan_configs):
        return None
    return all(
        Path(g["data"]).resolve() == Path(config.data).resolve()
        and g["layout"] == config.layout
        and tuple(g["split"]) == tuple(config.split)
        and g["seed"] == config.seed
        and not config.kfold
        and not config.image_wise
        for g in gan_configs
    )


def training_arrays(data: Arrays) -> tuple[np.ndarray, np.ndarray]:
    """What the model is fitted on: the real training images, then the synthetic ones."""
    if data.synthetic is None:
        return data.x_train, data.y_train
    return (
        np.concatenate([data.x_train, data.synthetic.images]),
        np.concatenate([data.y_train, data.synthetic.labels]),
    )


def card_entry(synthetic: SyntheticImages | None) -> dict:
    """``{"synthetic": …}`` for the card's ``training_data``; nothing without synthetic images,
    so a run without them writes the card it always wrote."""
    return {} if synthetic is None else {"synthetic": asdict(synthetic.record)}
