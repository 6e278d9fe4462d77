"""The GAN's configuration: every knob of the paper in one typed, JSON-round-tripping value."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

LOSSES = ("wgan-gp", "hinge")
CONFIG_FILE = "gan_config.json"  # in every run folder: what --resume, generate and curve read


@dataclass(frozen=True)
class GanConfig:
    """One GAN run. Saved as ``gan_config.json`` in the run folder; ``--resume`` reads it back.

    ``gamma`` is the gradient-penalty weight (the paper's gamma; WGAN-GP's lambda). With
    ``loss="hinge"`` the critic takes the hinge loss and keeps the penalty as its regulariser;
    the generator's loss is -D(G(z, y)) either way.
    """

    data: Path
    output: Path
    target_class: int = 1  # the class whose TRAINING patients' images the GAN learns
    n_classes: int = 2  # the generator and critic are conditioned on one of these labels
    layout: str = "idc"
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)  # the classifier's patient split
    seed: int = 42
    image_size: int = 64  # 64 (or the native 50) on a CPU; 512 wants a GPU
    latent_dim: int = 128
    width: int = 64  # critic channels at full size; doubles per downsampling up to 8x
    loss: str = "wgan-gp"  # or "hinge"
    generator_lr: float = 0.0025
    critic_lr: float = 0.0025
    beta_1: float = 0.0
    beta_2: float = 0.99
    gamma: float = 10.0  # gradient-penalty weight
    batch_size: int = 32
    critic_steps: int = 5  # critic updates per generator update
    steps: int = 10000  # generator updates in the whole run
    sample_every: int = 500  # write a PNG sample grid every this many generator steps
    checkpoint_every: int = 500
    limit_per_patient: int | None = None  # smoke runs only
    strategy: str = "default"  # appliance.trainer.distribute.STRATEGIES

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown GAN loss {self.loss!r}; expected one of {', '.join(LOSSES)}")
        if not 0 <= self.target_class < self.n_classes:
            raise ValueError(f"class {self.target_class} is not one of 0..{self.n_classes - 1}")
        if self.image_size < 8:
            raise ValueError(f"image size {self.image_size} is too small (at least 8 px)")
        for name in ("batch_size", "critic_steps", "steps", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")

    def to_json(self) -> str:
        raw = dataclasses.asdict(self)
        raw.update(data=str(self.data), output=str(self.output), split=list(self.split))
        return json.dumps(raw, indent=1) + "\n"

    @classmethod
    def from_json(cls, path: Path, **overrides) -> GanConfig:
        raw = {**json.loads(Path(path).read_text()), **overrides}
        known = {f.name for f in dataclasses.fields(cls)}
        if set(raw) - known:
            raise ValueError(f"{path}: unknown GAN settings {sorted(set(raw) - known)}")
        raw["data"], raw["output"] = Path(raw["data"]), Path(raw["output"])
        raw["split"] = tuple(raw["split"])
        return cls(**raw)


def load_run_config(run_or_config: Path) -> GanConfig:
    """A GAN run folder's ``gan_config.json``, or such a file named directly."""
    path = Path(run_or_config)
    if path.is_dir():
        path = path / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_or_config} is not a GAN run folder (no {CONFIG_FILE})")
    return GanConfig.from_json(path)
