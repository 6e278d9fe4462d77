"""FID and KID between two image sets, on stated feature extractors (issue 14).

InceptionV3 ImageNet weights are not available offline, so the features come from one of two
extractors, always named in the report: the trained classifier's penultimate layer (what the
seed paper did) or the ImageNet MobileNetV2 from a local weights file. The numbers are therefore
NOT comparable with published InceptionV3 FID/KID values; :data:`NOT_COMPARABLE` says so and
every :class:`FidKid` carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import linalg

from appliance.preprocess import preprocess

NOT_COMPARABLE = (
    "not comparable with published FID/KID values, which use InceptionV3 ImageNet features"
)


@dataclass(frozen=True)
class FidKid:
    """One comparison: the distances, the extractor they were measured on, and the caveat."""

    fid: float
    kid: float
    kid_std: float
    extractor: str
    n_a: int
    n_b: int
    note: str = NOT_COMPARABLE

    def describe(self) -> str:
        return (
            f"FID {self.fid:.3f}, KID {self.kid:.5f} ± {self.kid_std:.5f}"
            f" ({self.n_a} vs {self.n_b} images, features: {self.extractor}; {self.note})"
        )


def frechet_distance(
    mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """||mu_a - mu_b||² + Tr(A + B - 2 (A B)^½): the Fréchet distance of two Gaussians."""
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # near-singular product: nudge both, as pytorch-fid does
        eye = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + eye) @ (cov_b + eye))
    root = np.real(root)
    diff = np.asarray(mu_a) - np.asarray(mu_b)
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root)
    return float(max(value, 0.0))


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID of two feature arrays ``(n, d)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def kid_from_features(
    a: np.ndarray, b: np.ndarray, subsets: int = 10, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): the unbiased MMD² with the cubic polynomial kernel
    ``(x·y / d + 1)³``, averaged over random subsets; ``(mean, std)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError("KID needs at least two images in each set")
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = ((p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
        off = size * (size - 1)
        mmd = (kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean()
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))


def compare(a: np.ndarray, b: np.ndarray, extractor: str, seed: int = 0) -> FidKid:
    """FID and KID of two feature arrays measured on ``extractor``."""
    kid, kid_std = kid_from_features(a, b, seed=seed)
    return FidKid(fid_from_features(a, b), kid, kid_std, extractor, len(a), len(b))


# --- Images and extractors (the extractors need TensorFlow) --------------------------------


def folder_images(path: Path, size: int) -> np.ndarray:
    """Every image under ``path``, through the appliance's own preprocessing at ``size`` px, in
    [-1, 1] (IDC patches at a slide's edge are smaller than 50 px)."""
    suffixes = {".png", ".jpg", ".tif"}
    files = sorted(p for p in Path(path).rglob("*") if p.suffix.lower() in suffixes)
    if not files:
        raise FileNotFoundError(f"no images in {path}")

    def read(file: Path) -> np.ndarray:
        with Image.open(file) as image:
            return preprocess(image, (size, size), "minus_one_to_one")

    return np.stack([read(f) for f in files])


def named_extractors(
    mobilenetv2: Path | None, classifier: Path | None, size: int
) -> list[tuple[Callable[[np.ndarray], np.ndarray], str]]:
    """The extractors a command named, each with the name every report carries."""
    extractors = []
    if mobilenetv2:
        extractors.append(mobilenetv2_extractor(mobilenetv2, size))
    if classifier:
        extractors.append(classifier_extractor(classifier))
    if not extractors:
        raise ValueError("name at least one extractor: --mobilenetv2 FILE and/or --classifier FILE")
    return extractors


def mobilenetv2_extractor(weights: Path, input_size: int = 96):
    """The ImageNet MobileNetV2 (local weights file, never downloaded), global-average-pooled
    1280 features. Takes images in [-1, 1] (MobileNetV2's own scaling)."""
    import keras

    weights = Path(weights)
    if not weights.exists():
        raise FileNotFoundError(f"MobileNetV2 weights {weights} not found (nothing is downloaded)")
    base = keras.applications.MobileNetV2(
        input_shape=(input_size, input_size, 3), include_top=False, weights=None, pooling="avg"
    )
    base.load_weights(str(weights))
    name = f"ImageNet MobileNetV2 ({weights.name}), pooled, {input_size} px"
    return _resizing(base, input_size), name


def classifier_extractor(float_model: Path):
    """The trained classifier's penultimate layer (the input of its softmax), as the seed paper
    computed FID. ``float_model`` is a run's ``float_model.keras``."""
    import keras

    model = keras.models.load_model(Path(float_model), compile=False)
    size = model.inputs[0].shape[1]
    name = f"classifier penultimate layer ({Path(float_model)})"
    if isinstance(model.layers[-1].input, list):  # an ensemble averaging its members' softmax
        model = next(layer for layer in model.layers if isinstance(layer, keras.Model))
        name = f"classifier penultimate layer, ensemble member {model.name} ({Path(float_model)})"
    features = keras.Model(model.inputs, model.layers[-1].input)
    return _resizing(features, size), name


def _resizing(model, size: int):
    import tensorflow as tf

    def extract(images: np.ndarray, batch: int = 64) -> np.ndarray:
        parts = []
        for start in range(0, len(images), batch):
            chunk = tf.image.resize(images[start : start + batch], (size, size))
            parts.append(np.asarray(model(chunk, training=False)))
        return np.concatenate(parts)

    return extract
