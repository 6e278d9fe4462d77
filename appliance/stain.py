"""H&E stain normalisation (Macenko, Reinhard) in numpy only, for the trainer and the appliance.

Scanners and labs stain differently; a model trained on one lab's colours can fail on another's.
Normalising every image to a reference before the model sees it reduces that, but only if the
appliance applies exactly the normalisation the model was trained with. So a fitted normaliser
is plain data (:meth:`to_dict`, :func:`normalizer_from_dict`): the trainer writes it into the
model card, and :func:`appliance.preprocess.preprocess` applies it on both sides. Numpy only: this
module runs on the Pi.

Why not a library: staintools needs SPAMS (a C build), HistomicsTK and TIAToolbox pull large
dependency trees, torchstain's normalisers are built around torch; the maths is short.

References: Macenko et al., ISBI 2009 (stain vectors from the optical-density plane);
Reinhard et al., IEEE CG&A 2001 (colour statistics transfer; CIELAB is used here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Protocol, TypeAlias

import numpy as np

StainMethod = Literal["macenko", "reinhard"]
STAIN_METHODS: tuple[StainMethod, ...] = ("macenko", "reinhard")

_MAX = 255.0
# Optical density above which every channel counts as stain (tissue_weight reaches 1): the
# normalisers' tissue mask and the trainer's HED augmentation (appliance.trainer.augment) share it.
TISSUE_BETA = 0.15
# Fewer stained pixels than this and an image's stain statistics are noise.
_MIN_TISSUE_PIXELS = 10
# |cos| between the two estimated stain vectors above this means the image has one colour only
# (a uniform, black or grey tile): there are no two stains to separate. Real 50 px IDC patches
# reach at most 0.998 (2,000 patches measured), uniform tiles give 1 to rounding.
_PARALLEL_COS = 1.0 - 1e-6


def as_rgb(image: np.ndarray) -> np.ndarray:
    """``image`` as an array, checked to be ``(h, w, 3)``."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an RGB image (h, w, 3), got shape {array.shape}")
    return array


def rgb_to_od(image: np.ndarray) -> np.ndarray:
    """Optical density ``-ln(I / 255)`` per channel (0 for white glass), float64."""
    return -np.log(np.maximum(as_rgb(image).astype(np.float64), 1.0) / _MAX)


def od_to_rgb(od: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(_MAX * np.exp(-od)), 0, 255).astype(np.uint8)


def tissue_weight(od: np.ndarray, beta: float = TISSUE_BETA) -> np.ndarray:
    """0 on white glass, rising to 1 where every channel's density exceeds ``beta``."""
    return np.clip(od.min(axis=-1) / beta, 0.0, 1.0)


class StainNormalizer(Protocol):
    """What :func:`appliance.preprocess.preprocess` needs of a fitted normaliser."""

    method: ClassVar[str]

    def transform(self, image: np.ndarray) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


# A fitted normaliser, its :meth:`to_dict` form (as stored in a model card), or none.
StainSpec: TypeAlias = StainNormalizer | Mapping[str, Any] | None


# --- Macenko --------------------------------------------------------------------------------


def macenko_stain_matrix(
    image: np.ndarray, beta: float = TISSUE_BETA, alpha: float = 1.0
) -> np.ndarray:
    """The (2, 3) unit H and E optical-density vectors of ``image`` (H first).

    Raises ``ValueError`` when the image has too little stained tissue or only one colour.
    """
    return _stain_matrix_of_od(rgb_to_od(image).reshape(-1, 3), beta, alpha)


def _stain_matrix_of_od(od: np.ndarray, beta: float, alpha: float) -> np.ndarray:
    tissue = od[(od > beta).all(axis=1)]
    if len(tissue) < _MIN_TISSUE_PIXELS:
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
    matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    if abs(float(matrix[0] @ matrix[1])) > _PARALLEL_COS:
        raise ValueError("the image has a single colour; its two stains cannot be separated")
    return matrix


def stain_concentrations(od: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Least-squares concentrations ``(n, k)`` of ``matrix``'s stains in flat ``od`` (n, 3).

    Through the (k, 3) matrix's pseudo-inverse: the same solution as ``np.linalg.lstsq`` (to
    1e-15) at a tenth of its time on a 700x460 image, which matters on the Pi.
    """
    return od @ np.linalg.pinv(matrix)


class MacenkoNormalizer:
    """Map an image's stain vectors and stain intensities onto a target's."""

    method: ClassVar[str] = "macenko"

    def __init__(
        self, beta: float = TISSUE_BETA, alpha: float = 1.0, percentile: float = 99.0
    ) -> None:
        # Plain floats, so to_dict() -> JSON -> from_dict() rebuilds exactly this normaliser.
        self.beta, self.alpha, self.percentile = float(beta), float(alpha), float(percentile)
        self.stain_matrix: np.ndarray | None = None
        self.max_concentrations: np.ndarray | None = None

    def _stats(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        od = rgb_to_od(image).reshape(-1, 3)
        matrix = _stain_matrix_of_od(od, self.beta, self.alpha)
        concentrations = stain_concentrations(od, matrix)
        maxima = np.percentile(concentrations, self.percentile, axis=0)
        return matrix, concentrations, np.maximum(maxima, 1e-6)

    def fit(self, target: np.ndarray) -> MacenkoNormalizer:
        """Take the target's stain vectors and intensities; ``ValueError`` if it has no tissue."""
        self.stain_matrix, _, self.max_concentrations = self._stats(target)
        return self

    def transform(self, image: np.ndarray) -> np.ndarray:
        """``image`` in the target's stains, uint8 of the same shape. An image without enough
        tissue (or colours) to estimate its stains is returned unchanged: there is nothing to
        normalise, and blank glass must stay blank."""
        if self.stain_matrix is None or self.max_concentrations is None:
            raise RuntimeError("fit the normaliser to a target image first")
        image = as_rgb(image)
        try:
            _, concentrations, maxima = self._stats(image)
        except ValueError:
            return image.astype(np.uint8, copy=True)
        concentrations = concentrations * (self.max_concentrations / maxima)
        od = np.maximum(concentrations, 0.0) @ self.stain_matrix
        return od_to_rgb(od.reshape(image.shape))

    def to_dict(self) -> dict[str, Any]:
        if self.stain_matrix is None or self.max_concentrations is None:
            raise RuntimeError("fit the normaliser to a target image first")
        return {
            "method": self.method,
            "stain_matrix": self.stain_matrix.tolist(),
            "max_concentrations": self.max_concentrations.tolist(),
            "beta": self.beta,
            "alpha": self.alpha,
            "percentile": self.percentile,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MacenkoNormalizer:
        _check_keys(data, {"stain_matrix", "max_concentrations", "beta", "alpha", "percentile"})
        normalizer = cls(
            beta=_parameter(data, "beta", TISSUE_BETA, 0.0, np.inf),
            alpha=_parameter(data, "alpha", 1.0, 0.0, 50.0, low_open=False),
            percentile=_parameter(data, "percentile", 99.0, 0.0, 100.0, high_open=False),
        )
        matrix = _numbers(data, "stain_matrix", (2, 3), "two rows of three numbers (H, E)")
        if not np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-6):
            raise ValueError("'stain_matrix' rows must be unit vectors")
        if abs(float(matrix[0] @ matrix[1])) > _PARALLEL_COS:
            raise ValueError("'stain_matrix' rows are parallel: the two stains are the same")
        maxima = _numbers(data, "max_concentrations", (2,), "two numbers (H, E)")
        if (maxima <= 0).any():
            raise ValueError("'max_concentrations' must be positive")
        normalizer.stain_matrix, normalizer.max_concentrations = matrix, maxima
        return normalizer


# --- Reinhard (CIELAB statistics) -----------------------------------------------------------

_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE_XYZ = _XYZ_FROM_RGB.sum(axis=1)  # D65 white of this matrix


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """sRGB uint8 -> CIELAB (D65), float64; L in [0, 100]."""
    rgb = as_rgb(image).astype(np.float64) / _MAX
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
    so white background stays white rather than being shifted with the tissue. A pale image with
    too few fully stained pixels uses all its pixels' statistics instead.
    """

    method: ClassVar[str] = "reinhard"

    def __init__(self, beta: float = TISSUE_BETA) -> None:
        self.beta = float(beta)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def _stats(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        lab = rgb_to_lab(image)
        weight = tissue_weight(rgb_to_od(image), self.beta)
        tissue = lab[weight >= 1.0]
        if len(tissue) < _MIN_TISSUE_PIXELS:
            tissue = lab.reshape(-1, 3)
        return lab, weight, tissue.mean(axis=0), np.maximum(tissue.std(axis=0), 1e-6)

    def fit(self, target: np.ndarray) -> ReinhardNormalizer:
        if as_rgb(target).size == 0:
            raise ValueError("the target image is empty")
        _, _, self.mean, self.std = self._stats(target)
        return self

    def transform(self, image: np.ndarray) -> np.ndarray:
        """``image`` with the target's tissue colour statistics, uint8 of the same shape."""
        if self.mean is None or self.std is None:
            raise RuntimeError("fit the normaliser to a target image first")
        if as_rgb(image).size == 0:
            return np.asarray(image).astype(np.uint8, copy=True)
        lab, weight, mean, std = self._stats(image)
        moved = (lab - mean) / std * self.std + self.mean
        blended = weight[..., None] * moved + (1.0 - weight[..., None]) * lab
        return lab_to_rgb(blended)

    def to_dict(self) -> dict[str, Any]:
        if self.mean is None or self.std is None:
            raise RuntimeError("fit the normaliser to a target image first")
        return {
            "method": self.method,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "beta": self.beta,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReinhardNormalizer:
        _check_keys(data, {"mean", "std", "beta"})
        normalizer = cls(beta=_parameter(data, "beta", TISSUE_BETA, 0.0, np.inf))
        mean = _numbers(data, "mean", (3,), "three numbers (L, a, b)")
        std = _numbers(data, "std", (3,), "three numbers (L, a, b)")
        if (std <= 0).any():
            raise ValueError("'std' must be positive")
        normalizer.mean, normalizer.std = mean, std
        return normalizer


# --- Serialised form ------------------------------------------------------------------------

_CLASSES: dict[str, type[MacenkoNormalizer] | type[ReinhardNormalizer]] = {
    "macenko": MacenkoNormalizer,
    "reinhard": ReinhardNormalizer,
}


def new_normalizer(method: str) -> MacenkoNormalizer | ReinhardNormalizer:
    """An unfitted normaliser of ``method`` (one of :data:`STAIN_METHODS`)."""
    if method not in _CLASSES:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(STAIN_METHODS)}")
    return _CLASSES[method]()


def normalizer_from_dict(data: Mapping[str, Any]) -> MacenkoNormalizer | ReinhardNormalizer:
    """Rebuild a fitted normaliser from its :meth:`to_dict` form, without the target image.

    ``ValueError`` names what is wrong: an unknown method, a missing, misshapen, non-finite or
    out-of-range statistic, or a key this version does not know (it might change the maths, so it
    is refused rather than ignored).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"expected an object with a 'method', got {type(data).__name__}")
    method = data.get("method")
    if method not in _CLASSES:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(STAIN_METHODS)}")
    return _CLASSES[method].from_dict(data)


def as_normalizer(stain: StainSpec) -> StainNormalizer | None:
    """``stain`` as a fitted normaliser: dicts are rebuilt, normalisers and ``None`` pass."""
    if stain is None or not isinstance(stain, Mapping):
        return stain
    return normalizer_from_dict(stain)


def _check_keys(data: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(data) - known - {"method"})
    if unknown:
        raise ValueError(
            f"unknown {data['method']} keys {unknown}; this appliance may be older than the"
            " trainer that wrote them"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _numbers(data: Mapping[str, Any], key: str, shape: tuple[int, ...], words: str) -> np.ndarray:
    """``data[key]`` as a float64 array of ``shape``; ``ValueError`` if absent or not finite."""
    if key not in data:
        raise ValueError(f"{data['method']} statistics need {key!r} ({words})")
    value = data[key]
    sequence = isinstance(value, list | tuple | np.ndarray)
    items = np.asarray(value, dtype=object).ravel() if sequence else None
    if items is None or not all(_is_number(x) for x in items):
        raise ValueError(f"{key!r} must be {words}, got {value!r}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{key!r} must be {words}, got {value!r}") from None
    if array.shape != shape:
        raise ValueError(f"{key!r} must be {words}, got {value!r}")
    if not np.isfinite(array).all():
        raise ValueError(f"{key!r} holds a value that is not a finite number: {value!r}")
    return array


def _parameter(
    data: Mapping[str, Any],
    key: str,
    default: float,
    low: float,
    high: float,
    low_open: bool = True,
    high_open: bool = True,
) -> float:
    """An optional scalar setting, checked to lie in its range (open or closed at each end)."""
    value = data.get(key, default)
    if not _is_number(value) or not np.isfinite(value):
        raise ValueError(f"{key!r} must be a finite number, got {value!r}")
    value = float(value)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{key!r} must lie in {left}{low}, {high}{right}, got {value}")
    return value
