"""HED stain augmentation for training, plus the stain normalisers re-exported from the runtime.

The normalisers (Macenko, Reinhard) and their optical-density and CIELAB helpers live in
:mod:`appliance.stain`, because the appliance must apply at run time exactly the normalisation a
model was trained with; they are re-exported here so trainer code can keep importing them from
``appliance.trainer.stain``. Augmentation stays here: it only ever runs during training.

Reference: Ruifrok & Johnston, 2001 (the H&E-DAB matrix); Tellez et al., 2018 (HED augmentation).
"""

from __future__ import annotations

import numpy as np

from appliance.stain import (
    STAIN_METHODS,
    MacenkoNormalizer,
    ReinhardNormalizer,
    StainNormalizer,
    StainSpec,
    as_normalizer,
    as_rgb,
    lab_to_rgb,
    macenko_stain_matrix,
    normalizer_from_dict,
    od_to_rgb,
    rgb_to_lab,
    rgb_to_od,
    stain_concentrations,
    tissue_weight,
)

__all__ = [
    "HED_FROM_RGB",
    "RGB_FROM_HED",
    "STAIN_METHODS",
    "MacenkoNormalizer",
    "ReinhardNormalizer",
    "StainNormalizer",
    "StainSpec",
    "as_normalizer",
    "hed_augment",
    "lab_to_rgb",
    "macenko_stain_matrix",
    "normalizer_from_dict",
    "od_to_rgb",
    "rgb_to_lab",
    "rgb_to_od",
    "stain_concentrations",
    "tissue_weight",
]

# Ruifrok & Johnston's haematoxylin, eosin and DAB optical-density vectors (rows).
RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
RGB_FROM_HED = RGB_FROM_HED / np.linalg.norm(RGB_FROM_HED, axis=1, keepdims=True)
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED)


def hed_augment(
    image: np.ndarray,
    rng: np.random.Generator,
    scale: float = 0.05,
    shift: float = 0.05,
) -> np.ndarray:
    """Random stain variation (Tellez et al. 2018): each of the haematoxylin, eosin and DAB
    densities is scaled by U(1 - scale, 1 + scale) and shifted by U(-shift, shift). The shift is
    weighted by tissue density so empty glass stays white."""
    image = as_rgb(image)
    od = rgb_to_od(image)
    hed = od.reshape(-1, 3) @ HED_FROM_RGB
    factors = rng.uniform(1 - scale, 1 + scale, 3)
    offsets = rng.uniform(-shift, shift, 3)
    weight = tissue_weight(od).reshape(-1, 1)
    hed = hed * factors + weight * offsets
    return od_to_rgb((hed @ RGB_FROM_HED).reshape(image.shape))
