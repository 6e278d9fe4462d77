"""The GAN's real images: its class from one part of the classifier's own patient split.

The GAN trains on the TRAINING patients' images of one class (:func:`real_samples` is that
choice, in one place); FID/KID over training compares generated images with those same images,
so ``gan real`` copies them into a folder (``--part validation`` gives the real-vs-real
reference). Test patients are never offered.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from appliance.trainer import data as datasets
from appliance.trainer.gan.config import GanConfig

PARTS = ("train", "validation")  # never "test": no GAN-side step looks at test patients


def real_samples(config: GanConfig, part: str = "train") -> list[datasets.Sample]:
    """Images of ``config.target_class`` from ``part`` of the classifier's patient split (same
    data, layout, fractions, seed and per-patient cap as the classifier trainer)."""
    from appliance.trainer.train import TrainConfig, load_samples, make_split

    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
    split_config = TrainConfig(
        data=config.data,
        output=config.output,
        layout=config.layout,
        split=config.split,
        seed=config.seed,
        limit_per_patient=config.limit_per_patient,
    )
    split = make_split(split_config, load_samples(split_config))
    chosen = [s for s in split.parts()[part] if s.label == config.target_class]
    if not chosen:
        raise ValueError(f"no {part}-patient images of class {config.target_class}")
    return chosen


def write_real_folder(
    config: GanConfig, out: Path, n: int | None = None, part: str = "train", seed: int = 0
) -> list[Path]:
    """Copy the ``part`` patients' images of the GAN's class into ``out`` (names kept, so each
    file still names its patient); ``n`` draws a seeded sample of that many instead of all."""
    samples = real_samples(config, part)
    if n is not None:
        if not 0 < n <= len(samples):
            raise ValueError(f"-n {n}: the {part} patients have {len(samples)} images of the class")
        picked = np.random.default_rng(seed).choice(len(samples), n, replace=False)
        samples = [samples[i] for i in sorted(picked)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(s.path, out / s.path.name)) for s in samples]
