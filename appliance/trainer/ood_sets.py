"""Inputs a histopathology model must refuse, assembled from what is at hand.

The scope gate is calibrated on training patients only; these sets are how it is *checked*:
how many out-of-scope inputs it stops. Each set is a name, what it stands for, and its images
(RGB arrays), built deterministically:

- ``photographs``: ordinary photos (animals, a portrait, food) found in a folder, e.g. the
  test photos beside the public ImageNet models.
- ``breakhis``: genuine H&E breast tissue at 40×–400× (BreakHis samples): in-domain stain,
  out-of-range magnification for a model of ~2.5× patches.
- ``other_stain``: tissue patches of *test* patients recoloured as IHC (brown DAB, blue
  haematoxylin) through colour deconvolution, keeping the morphology and changing the stain.
- ``greyscale``: test patches without colour (a monochrome camera or a grey export).
- ``blurred``: test patches out of focus (Gaussian blur, radius 2 px: 4 µm at this scale).
- ``magnified``: the centre of test patches enlarged 3× (a higher magnification).
- ``blank``: glass, black, uniform pink, uniform purple, and noise.

Nothing here is used to fit or to choose a limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

# Ruifrok & Johnston (2001) stain vectors in optical density (rows: H, E, DAB).
_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], np.float64)


@dataclass(frozen=True)
class OodSet:
    name: str
    meaning: str
    images: tuple[np.ndarray, ...]


def read_rgb(path: Path) -> np.ndarray:
    """An image file as an ``(h, w, 3)`` uint8 RGB array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def photographs(folders: Iterable[Path]) -> OodSet:
    files = sorted(
        p
        for folder in folders
        if folder.is_dir()
        for p in folder.iterdir()
        if p.suffix.lower() in PHOTO_SUFFIXES
    )
    return OodSet(
        "photographs",
        "ordinary photographs (animals, a portrait, food)",
        tuple(read_rgb(p) for p in files),
    )


def breakhis(folder: Path) -> OodSet:
    files = sorted(folder.rglob("*.png")) if folder.is_dir() else []
    return OodSet(
        "breakhis",
        "H&E breast tissue at 40×–400× (BreakHis): another magnification",
        tuple(read_rgb(p) for p in files),
    )


def _to_ihc(patch: np.ndarray) -> np.ndarray:
    """Re-stain an H&E patch as IHC: haematoxylin stays, eosin's amount becomes brown DAB."""
    od = -np.log(np.maximum(patch.astype(np.float64), 1.0) / 255.0)
    amounts = od.reshape(-1, 3) @ np.linalg.inv(_HED)
    dab = np.stack([amounts[:, 0] * 0.6, np.zeros(len(amounts)), amounts[:, 1] * 1.2], axis=1)
    restained = np.exp(-(dab @ _HED)) * 255.0
    return np.clip(restained, 0, 255).reshape(patch.shape).astype(np.uint8)


def derived(patches: Sequence[np.ndarray]) -> list[OodSet]:
    """Sets made from in-scope test patches by changing one thing: stain, colour, focus, scale."""

    def each(change) -> tuple[np.ndarray, ...]:
        return tuple(change(p) for p in patches)

    def blur(p: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(p).filter(ImageFilter.GaussianBlur(2)))

    def grey(p: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(p).convert("L").convert("RGB"))

    def magnify(p: np.ndarray) -> np.ndarray:
        h, w = p.shape[:2]
        crop = Image.fromarray(p).crop((w // 3, h // 3, w // 3 + w // 3, h // 3 + h // 3))
        return np.asarray(crop.resize((w, h), Image.Resampling.BICUBIC))

    return [
        OodSet("other_stain", "the same tissue stained as IHC (brown DAB)", each(_to_ihc)),
        OodSet("greyscale", "the same tissue without colour", each(grey)),
        OodSet("blurred", "the same tissue out of focus (blur radius 2 px)", each(blur)),
        OodSet("magnified", "the centre of the same tissue enlarged 3×", each(magnify)),
    ]


def blank(size: int = 50, seed: int = 0) -> OodSet:
    rng = np.random.default_rng(seed)
    colours = [(240, 240, 240), (10, 10, 10), (128, 128, 128), (230, 150, 190), (120, 60, 160)]
    images = [np.full((size, size, 3), c, np.uint8) for c in colours]
    images += [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(5)]
    return OodSet(
        "blank", "glass, black, grey, uniform pink or purple, random noise", tuple(images)
    )
