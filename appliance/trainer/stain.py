"""H&E stain normalisation (Macenko, Reinhard) and stain augmentation, in numpy only.

Scanners and labs stain differently; a model trained on one lab's colours can fail on another's.
Normalising every image to a reference, or augmenting the stains during training, reduces that.
Numpy only (no TensorFlow), so the same code could run on the Pi before inference.

Why not a library: staintools needs SPAMS (a C build), HistomicsTK and TIAToolbox pull large
dependency trees, torchstain's normalisers are built around torch; the maths is short.

References: Macenko et al., ISBI 2009 (stain vectors from the optical-density plane);
Reinhard et al., IEEE CG&A 2001 (colour statistics transfer; CIELAB is used here);
Ruifrok & Johnston, 2001 (the H&E-DAB matrix); Tellez et al., 2018 (HED augmentation).
"""

from __future__ import annotations

import numpy as np

_MAX = 255.0
# Ruifrok & Johnston's haematoxylin, eosin and DAB optical-density vectors (rows).
RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
RGB_FROM_HED = RGB_FROM_HED / np.linalg.norm(RGB_FROM_HED, axis=1, keepdims=True)
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an RGB image (h, w, 3), got shape {array.shape}")
    return array


def rgb_to_od(image: np.ndarray) -> np.ndarray:
    """Optical density ``-ln(I / 255)`` per channel (0 for white glass), float64."""
    return -np.log(np.maximum(_as_rgb(image).astype(np.float64), 1.0) / _MAX)


def od_to_rgb(od: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(_MAX * np.exp(-od)), 0, 255).astype(np.uint8)


def tissue_weight(od: np.ndarray, beta: float = 0.15) -> np.ndarray:
    """0 on white glass, rising to 1 where every channel's density exceeds ``beta``."""
    return np.clip(od.min(axis=-1) / beta, 0.0, 1.0)


# --- Macenko --------------------------------------------------------------------------------


def macenko_stain_matrix(image: np.ndarray, beta: float = 0.15, alpha: float = 1.0) -> np.ndarray:
    """The (2, 3) unit H and E optical-density vectors of ``image`` (H first)."""
    od = rgb_to_od(image).reshape(-1, 3)
    tissue = od[(od > beta).all(axis=1)]
    if len(tissue) < 10:
        raise ValueError("too little stained tissue to estimate stain vectors")
    _, vectors = np.linalg.eigh(np.cov(tissue.T))
    plane = vectors[:, 1:3]  # the two largest eigenvalues
    plane = plane * np.where(plane.sum(axis=0) < 0, -1.0, 1.0)
    projected = tissue @ plane
    angles = np.arctan2(projected[:, 1], projected[:, 0])
    low, high = np.percentile(angles, [alpha, 100 - alpha])
    stains = [plane @ np.array([np.cos(a), np.sin(a)]) for a in (low, high)]
    stains = [s if s.sum() >= 0 else -s for s in stains]
    # Haematoxylin absorbs more red than eosin does.
    first, second = sorted(stains, key=lambda s: -s[0])
    matrix = np.stack([first, second])
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def stain_concentrations(od: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Least-squares concentrations ``(n, k)`` of ``matrix``'s stains in flat ``od`` (n, 3)."""
    return np.linalg.lstsq(matrix.T, od.T, rcond=None)[0].T


class MacenkoNormalizer:
    """Map an image's stain vectors and stain intensities onto a target's."""

    def __init__(self, beta: float = 0.15, alpha: float = 1.0, percentile: float = 99.0) -> None:
        self.beta, self.alpha, self.percentile = beta, alpha, percentile
        self.stain_matrix: np.ndarray | None = None
        self.max_concentrations: np.ndarray | None = None

    def _stats(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        matrix = macenko_stain_matrix(image, self.beta, self.alpha)
        concentrations = stain_concentrations(rgb_to_od(image).reshape(-1, 3), matrix)
        maxima = np.percentile(concentrations, self.percentile, axis=0)
        return matrix, concentrations, np.maximum(maxima, 1e-6)

    def fit(self, target: np.ndarray) -> MacenkoNormalizer:
        self.stain_matrix, _, self.max_concentrations = self._stats(target)
        return self

    def transform(self, image: np.ndarray) -> np.ndarray:
        """``image`` in the target's stains, uint8 of the same shape. An image without enough
        tissue to estimate its stains is returned unchanged (there is nothing to normalise)."""
        if self.stain_matrix is None:
            raise RuntimeError("fit the normaliser to a target image first")
        image = _as_rgb(image)
        try:
            _, concentrations, maxima = self._stats(image)
        except ValueError:
            return image.astype(np.uint8, copy=True)
        concentrations = concentrations * (self.max_concentrations / maxima)
        od = np.maximum(concentrations, 0.0) @ self.stain_matrix
        return od_to_rgb(od.reshape(image.shape))


# --- Reinhard (CIELAB statistics) -----------------------------------------------------------

_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE_XYZ = _XYZ_FROM_RGB.sum(axis=1)  # D65 white of this matrix


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """sRGB uint8 -> CIELAB (D65), float64; L in [0, 100]."""
    rgb = _as_rgb(image).astype(np.float64) / _MAX
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = linear @ _XYZ_FROM_RGB.T / _WHITE_XYZ
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) -> sRGB uint8, clipped to the gamut."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE_XYZ
    linear = np.clip(xyz @ np.linalg.inv(_XYZ_FROM_RGB).T, 0.0, 1.0)
    rgb = np.where(linear > 0.0031308, 1.055 * linear ** (1 / 2.4) - 0.055, linear * 12.92)
    return np.clip(np.rint(rgb * _MAX), 0, 255).astype(np.uint8)


class ReinhardNormalizer:
    """Match the mean and standard deviation of each CIELAB channel of the tissue to a target's.

    Statistics come from tissue pixels only and glass is blended back in by its optical density,
    so white background stays white rather than being shifted with the tissue.
    """

    def __init__(self, beta: float = 0.15) -> None:
        self.beta = beta
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def _stats(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        lab = rgb_to_lab(image)
        weight = tissue_weight(rgb_to_od(image), self.beta)
        tissue = lab[weight >= 1.0]
        if len(tissue) < 10:
            tissue = lab.reshape(-1, 3)
        return lab, weight, tissue.mean(axis=0), np.maximum(tissue.std(axis=0), 1e-6)

    def fit(self, target: np.ndarray) -> ReinhardNormalizer:
        _, _, self.mean, self.std = self._stats(target)
        return self

    def transform(self, image: np.ndarray) -> np.ndarray:
        """``image`` with the target's tissue colour statistics, uint8 of the same shape."""
        if self.mean is None or self.std is None:
            raise RuntimeError("fit the normaliser to a target image first")
        lab, weight, mean, std = self._stats(image)
        moved = (lab - mean) / std * self.std + self.mean
        blended = weight[..., None] * moved + (1.0 - weight[..., None]) * lab
        return lab_to_rgb(blended)


# --- HED stain augmentation -----------------------------------------------------------------


def hed_augment(
    image: np.ndarray,
    rng: np.random.Generator,
    scale: float = 0.05,
    shift: float = 0.05,
) -> np.ndarray:
    """Random stain variation (Tellez et al. 2018): each of the haematoxylin, eosin and DAB
    densities is scaled by U(1 - scale, 1 + scale) and shifted by U(-shift, shift). The shift is
    weighted by tissue density so empty glass stays white."""
    image = _as_rgb(image)
    od = rgb_to_od(image)
    hed = od.reshape(-1, 3) @ HED_FROM_RGB
    factors = rng.uniform(1 - scale, 1 + scale, 3)
    offsets = rng.uniform(-shift, shift, 3)
    weight = tissue_weight(od).reshape(-1, 1)
    hed = hed * factors + weight * offsets
    return od_to_rgb((hed @ RGB_FROM_HED).reshape(image.shape))
