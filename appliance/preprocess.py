"""The one preprocessing function shared by the trainer and the appliance (invariant 2).

The trainer imports :func:`preprocess` to build its training arrays and the appliance calls it on
every image or tile before inference, so a model always sees pixels prepared exactly as it was
trained on, stain normalisation included. Only numpy and Pillow are used: this module runs on the
Pi.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

from appliance.stain import StainSpec, as_normalizer

Scaling = Literal["minus_one_to_one", "zero_to_one", "raw"]
SCALINGS: tuple[Scaling, ...] = ("minus_one_to_one", "zero_to_one", "raw")

# Background for transparent pixels: a slide's glass is white, so transparency becomes white too.
_WHITE = (255, 255, 255)


def to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` as 8-bit RGB, whatever mode it was stored in.

    Transparent pixels are composited on white (the colour of empty glass), 16-bit greyscale is
    scaled down rather than clipped, and palette/CMYK images are converted by Pillow.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = float(array.max()) or 1.0
        scaled = (array * (255.0 / max(peak, 255.0))).clip(0, 255).astype(np.uint8)
        return Image.fromarray(scaled).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, _WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def scale_pixels(pixels: np.ndarray, scaling: Scaling) -> np.ndarray:
    """Map uint8 pixel values to the range the model was trained on, as float32."""
    values = pixels.astype(np.float32)
    if scaling == "minus_one_to_one":  # MobileNet family: x / 127.5 - 1
        return values / np.float32(127.5) - np.float32(1.0)
    if scaling == "zero_to_one":
        return values / np.float32(255.0)
    if scaling == "raw":
        return values
    raise ValueError(f"unknown scaling {scaling!r}; expected one of {', '.join(SCALINGS)}")


def preprocess(
    image: Image.Image | np.ndarray,
    size: tuple[int, int],
    scaling: Scaling = "minus_one_to_one",
    stain: StainSpec = None,
) -> np.ndarray:
    """Turn one image (or tile) into a model input of shape ``(height, width, 3)``, float32.

    ``size`` is ``(height, width)``. The image is converted to RGB, stain-normalised if ``stain``
    is given (a fitted :mod:`appliance.stain` normaliser or its ``to_dict()`` form, as in the
    model card), resized with bilinear interpolation (Pillow's, identical on every platform)
    without keeping the aspect ratio, and scaled. Training patches and tiles are square, and a
    few edge patches that are not must still fill the input.

    Normalisation comes before resizing because its statistics are defined on the pixels the
    scanner recorded: Macenko's stain vectors and 99th-percentile intensities and Reinhard's
    tissue mask are computed in optical density, a logarithm of intensity, so the blends a
    resize makes (glass averaged into tissue, dark nuclei smoothed away) are not the stained
    pixels those statistics describe, and the result would depend on the model's input size.
    Scaling comes last because the normalisers work on 8-bit RGB.
    """
    normalizer = as_normalizer(stain)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    rgb = to_rgb(image)
    if normalizer is not None:
        rgb = Image.fromarray(normalizer.transform(np.asarray(rgb, dtype=np.uint8)))
    height, width = size
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    return scale_pixels(np.asarray(rgb, dtype=np.uint8), scaling)


TestTimeAugmentation = Literal["none", "rotate4", "dihedral8"]
TEST_TIME_AUGMENTATIONS: tuple[TestTimeAugmentation, ...] = ("none", "rotate4", "dihedral8")
_VIEWS = {"none": 1, "rotate4": 4, "dihedral8": 8}


def view_count(mode: str) -> int:
    """Inputs the model scores per patch or tile under ``mode`` (:func:`augmented_views`)."""
    if mode not in _VIEWS:
        raise ValueError(f"unknown test-time augmentation {mode!r}")
    return _VIEWS[mode]


def augmented_views(batch: np.ndarray, mode: TestTimeAugmentation) -> np.ndarray:
    """The views a model scores for each input, stacked view-major: ``(views * n, h, w, c)``.

    ``dihedral8`` is the 4 right-angle rotations of the input and of its mirror image;
    ``rotate4`` the rotations alone, at half the passes (issue 13's compute budget). A tissue
    patch has no up or left, so averaging over them removes the model's orientation noise; the
    trainer measures its benefit on validation patients and writes the choice into the card.
    """
    views_per_input = view_count(mode)
    if views_per_input == 1:
        return batch
    # Each pixel's channels move together, so they are moved as one opaque value: rotating
    # an int8 batch this way is about twice as fast as moving every channel byte on its own.
    n, height, width, channels = batch.shape
    pixels = np.ascontiguousarray(batch)
    packed = pixels.view(np.dtype((np.void, channels * pixels.itemsize))).reshape(n, height, width)
    views = []
    mirrors = (packed, packed[:, :, ::-1]) if mode == "dihedral8" else (packed,)
    for flipped in mirrors:
        views.extend(np.rot90(flipped, k, axes=(1, 2)) for k in range(4))
    stacked = np.ascontiguousarray(np.concatenate(views))
    return stacked.view(batch.dtype).reshape(views_per_input * n, height, width, channels)


def average_views(scores: np.ndarray, mode: TestTimeAugmentation) -> np.ndarray:
    """Average per-view scores produced from :func:`augmented_views` back to one row per input."""
    views_per_input = view_count(mode)
    if views_per_input == 1:
        return scores
    return scores.reshape(views_per_input, -1, *scores.shape[1:]).mean(axis=0)
