"""Training-time augmentation of H&E patches, on whole batches, from Keras' preprocessing layers.

A histology patch has no up, down, left or right, and its colours depend on the lab's stain and
the scanner, so a model should not learn either. :func:`make_augment` builds a function for
``dataset.batch(n).map(fn)`` that applies random orientation, geometry, stain and colour changes
to every image of a batch independently. It works on *batches* because Keras' layers draw one set
of random factors per image in a single vectorised call; mapped over single images (before
``.batch``) the same layers cost about 2.4x as much (timings below).

What the seed papers (``/work/shared/seeds/``) say about augmentation
----------------------------------------------------------------------

======================== ============================================== =========================
seed file                augmentation named                             ranges given
======================== ============================================== =========================
000_829294230a6fdd04.txt §2.2: patch generation, affine transformation, none
(WRN-28-2, BreakHis, Pi) stain normalisation ("4 times" the data)
001_7ce51fbd50edf1b0.txt "strategic use of data augmentation"           none
(ResNet152V2, ICIAR)
002_50708654bce878c4.txt "real-time data augmentation" with             none
003_261f09a15e496dca.txt ``keras.preprocessing`` (Data Generation)
(ResNet-50, BreakHis)
004_263c1db1a80d99b1.txt Table 5 (Keras ``ImageDataGenerator`` names):  zoom_range 2,
(cWGAN + multi-scale TL) flips, rotation, zoom, shear, shifts;          rotation_range 95,
                         Algorithm 1 step 3: "random cropping,          shear_range 0.5,
                         flipping, rotations"                           width_shift_range 0.4,
                                                                        height_shift_range 0.4,
                                                                        horizontal_flip True,
                                                                        vertical_flip True
======================== ============================================== =========================

Only 004 gives numbers, so :data:`PAPER_RANGES` is 004's Table 5 read with ``ImageDataGenerator``
semantics and translated to Keras 3 layers:

- ``rotation_range=95``: an angle uniform in ±95° → ``rotation_degrees=95``.
- ``width/height_shift_range=0.4``: ±40 % of the side → ``width_shift=height_shift=0.4``.
- ``shear_range=0.5``: ``ImageDataGenerator``'s unit is degrees, so ±0.5°, which is almost
  nothing; kept as published → ``shear_degrees=0.5``. (Read as Keras 1's radians it would be
  ±28.6°.)
- ``zoom_range=2``: ``ImageDataGenerator`` samples a scale in ``[1 - 2, 1 + 2] = [-1, 3]``,
  which includes zero and negative scales, so it cannot be used literally. It is read as "up to
  2x either way": a sampling scale in [1/2, 2] → ``zoom=(-0.5, 1.0)`` in ``keras.layers.
  RandomZoom``'s convention. The aspect ratio is kept (``ImageDataGenerator`` draws the two axes
  independently, which would stretch nuclei by up to 4x; nuclear shape is what is being graded).
- flips: both, as in Table 5.
- not in any paper, so off: ``rot90`` (±95° with both flips already covers every orientation),
  random crop (004 and 000 name cropping without a size; zooming in up to 2x already crops down
  to half the side), colour jitter and HED stain augmentation (000 normalises stains instead).

Compose other recipes with :func:`dataclasses.replace`, e.g. ``replace(PAPER_RANGES,
hed_scale=0.05, hed_shift=0.05)``.

Implementation notes
--------------------

- Keras 3 ``RandomFlip("horizontal_and_vertical")`` draws *one* coin for both axes, so it only
  ever produces the identity or a 180° turn; two single-axis layers are used instead.
- Keras 3 ``RandomContrast(0.15)`` samples a factor in [1.0, 1.15] only (its lower bound is
  clamped at 0); the tuple ``(0.15, 0.15)`` gives the intended [0.85, 1.15].
- ``RandomSaturation``'s factor ``f`` multiplies saturation by ``f / (1 - f)``, so the multiplier
  range [1 - s, 1 + s] is passed as ``(m / (1 + m) for m in ...)``; ``RandomHue``'s factor is
  twice the largest hue shift. With these, the colour defaults reproduce ``train.augment``'s
  ``tf.image`` calls, except that each image now gets its own factors.
- There is no Keras layer for right-angle turns or for "crop a random window and resize back"
  per image (``keras.layers.RandomCrop`` uses one window for the whole batch and does not resize
  back), so those two use ``tf.gather`` over the four turns and ``tf.image.crop_and_resize``.
- Every geometric layer resamples once; with several enabled (as in :data:`PAPER_RANGES`) an
  image is interpolated up to five times, which softens it slightly.
- HED stain augmentation is :func:`appliance.trainer.stain.hed_augment`'s maths written as
  TensorFlow ops over the batch (:func:`hed_augment_batch`), not the numpy function through
  ``tf.numpy_function``. Measured on one batch of 64 images of 64x64 px (2-core CPU,
  ``nice -n 19``, median of 30 runs inside ``tf.function``, TF 2.21): 5.1-5.5 ms in the graph
  vs 16-17 ms through ``tf.numpy_function`` (a Python loop over images in float64 with uint8
  round trips, run under the GIL, so parallel ``tf.data`` calls queue for it). The graph
  version also keeps float precision instead of rounding to uint8.
- Cost per batch of 64 images at 64 px, same measurement: :data:`LIGHT` 18 ms and
  :data:`PAPER_RANGES` 23 ms on an idle machine (29 ms and 35 ms while another training job
  used a core). In a ``tf.data`` pipeline (idle machine, 4096 images, ``.batch(64).map(fn,
  num_parallel_calls=AUTOTUNE)``, two runs): LIGHT 17-18 ms, PAPER_RANGES 20-21 ms per batch,
  against 11-12 ms for the former per-image ``tf.image`` ``train.augment`` and 41-42 ms for these
  layers mapped per image. LIGHT's extra cost over ``tf.image`` is mostly the two HSV round
  trips of ``RandomSaturation`` and ``RandomHue`` (about 5 ms each).
- Reproducibility: with a ``seed``, a serial ``dataset.map(fn)`` repeats exactly. With
  ``num_parallel_calls`` the batches draw from the shared seed streams in whatever order they
  run, so two runs differ (Keras' layers take no per-batch seed that would fix this).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import keras
import tensorflow as tf

from appliance.preprocess import SCALINGS
from appliance.stain import TISSUE_BETA
from appliance.trainer.stain import HED_FROM_RGB, RGB_FROM_HED

Augment = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]

FILL_MODES = ("reflect", "wrap", "nearest", "constant")

# The value range of each scaling of appliance.preprocess.scale_pixels.
_RANGES: dict[str, tuple[float, float]] = {
    "minus_one_to_one": (-1.0, 1.0),
    "zero_to_one": (0.0, 1.0),
    "raw": (0.0, 255.0),
}
assert set(_RANGES) == set(SCALINGS)

# rgb_to_od's floor of one grey level, on [0, 1] pixels.
_OD_FLOOR = 1.0 / 255.0


@dataclass(frozen=True)
class AugmentationSettings:
    """What :func:`make_augment` does. Every range is symmetric about "no change"; 0 turns the
    step off. The defaults are :data:`LIGHT`.

    - ``flip_horizontal``, ``flip_vertical``: mirror each image with probability 1/2 per axis.
    - ``rot90``: turn each image by 0, 90, 180 or 270° (square images only).
    - ``rotation_degrees``: free-angle rotation, uniform in ±degrees.
    - ``zoom``: ``(lower, upper)`` in ``keras.layers.RandomZoom``'s convention: the sampling
      scale is ``1 + u``, ``u`` uniform in the range; negative zooms in (-0.5 shows the central
      half enlarged 2x), positive zooms out (1.0 shows the image at half size, edges reflected).
      A single number ``z`` means ``(-z, z)``.
    - ``shear_degrees``: shear angle on each axis, uniform in ±degrees.
    - ``width_shift``, ``height_shift``: translation, uniform in ±fraction of the side.
    - ``crop_fraction``: crop a random square window of this fraction of the side and resize it
      back to the full size (0.9 → a 90 % window).
    - ``brightness``: added to [0, 1] pixels, uniform in ±value.
    - ``contrast``, ``saturation``: multiplied, uniform in ``[1 - value, 1 + value]``.
    - ``hue``: hue shift, uniform in ±value (a fraction of the colour circle).
    - ``hed_scale``, ``hed_shift``: Tellez et al.'s stain augmentation (see
      :func:`appliance.trainer.stain.hed_augment`): each of the H, E and D densities scaled by
      U(1 ± scale) and shifted by U(±shift), weighted by tissue density so glass stays white.
    - ``fill_mode``: how geometric layers fill pixels from outside the image. ``"reflect"``
      mirrors the tissue, so rotated or shifted images have no black corners for the model to
      learn from; ``"constant"`` fills with black (``ImageDataGenerator``'s default).
    """

    flip_horizontal: bool = True
    flip_vertical: bool = True
    rot90: bool = True
    rotation_degrees: float = 0.0
    zoom: tuple[float, float] = (0.0, 0.0)
    shear_degrees: float = 0.0
    width_shift: float = 0.0
    height_shift: float = 0.0
    crop_fraction: float = 0.0
    brightness: float = 0.08
    contrast: float = 0.15
    saturation: float = 0.15
    hue: float = 0.03
    hed_scale: float = 0.0
    hed_shift: float = 0.0
    fill_mode: str = "reflect"

    def __post_init__(self) -> None:
        # A list (e.g. from a JSON config) becomes a tuple so the settings stay hashable; a
        # single number z means (-z, z), as in keras.layers.RandomZoom.
        zoom = self.zoom
        if isinstance(zoom, int | float):
            zoom = (-abs(zoom), abs(zoom))
        object.__setattr__(self, "zoom", tuple(float(z) for z in zoom))
        checks = {
            "rotation_degrees must be in [0, 180]": 0 <= self.rotation_degrees <= 180,
            "zoom must be (lower, upper) with -1 < lower <= upper <= 1": len(self.zoom) == 2
            and -1 < self.zoom[0] <= self.zoom[1] <= 1,
            "shear_degrees must be in [0, 45]": 0 <= self.shear_degrees <= 45,
            "width_shift must be in [0, 1)": 0 <= self.width_shift < 1,
            "height_shift must be in [0, 1)": 0 <= self.height_shift < 1,
            "crop_fraction must be 0 (off) or in (0, 1]": 0 <= self.crop_fraction <= 1,
            "brightness must be in [0, 1]": 0 <= self.brightness <= 1,
            "contrast must be in [0, 1)": 0 <= self.contrast < 1,
            "saturation must be in [0, 1)": 0 <= self.saturation < 1,
            "hue must be in [0, 0.5]": 0 <= self.hue <= 0.5,
            "hed_scale must be in [0, 1)": 0 <= self.hed_scale < 1,
            "hed_shift must be >= 0": self.hed_shift >= 0,
            f"fill_mode must be one of {FILL_MODES}": self.fill_mode in FILL_MODES,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("; ".join(failed) + f" (got {self})")

    def describe(self) -> dict:
        """The settings as JSON-ready values, for the model card, plus the Keras version whose
        layers interpret them."""
        described = asdict(self)
        described["zoom"] = list(self.zoom)
        described["keras"] = keras.__version__
        return described


LIGHT = AugmentationSettings()
"""What ``train.augment`` did: flips, right-angle turns, brightness/contrast/saturation/hue."""

PAPER_RANGES = AugmentationSettings(
    flip_horizontal=True,  # 004 Table 5
    flip_vertical=True,  # 004 Table 5
    rot90=False,  # no paper; ±95° plus both flips covers every orientation
    rotation_degrees=95.0,  # 004 Table 5 "Rotation range 95"
    zoom=(-0.5, 1.0),  # 004 Table 5 "Zooming range 2", read as 2x in or out (module docstring)
    shear_degrees=0.5,  # 004 Table 5 "Shearing range 0.5" (ImageDataGenerator: degrees)
    width_shift=0.4,  # 004 Table 5 "Width shift range 0.4"
    height_shift=0.4,  # 004 Table 5 "Height shift range 0.4"
    crop_fraction=0.0,  # 000 and 004 name cropping without a size
    brightness=0.0,  # no paper jitters colour
    contrast=0.0,
    saturation=0.0,
    hue=0.0,
    hed_scale=0.0,  # no paper augments stains (000 normalises them)
    hed_shift=0.0,
)
"""The seed papers' ranges: 004 (Deebani et al.) Table 5, the only paper that gives numbers."""

NONE = AugmentationSettings(
    flip_horizontal=False,
    flip_vertical=False,
    rot90=False,
    brightness=0.0,
    contrast=0.0,
    saturation=0.0,
    hue=0.0,
)
"""Every step off: the images pass through unchanged (for ablations)."""

STAIN = replace(LIGHT, hed_scale=0.05, hed_shift=0.05)
"""LIGHT plus Tellez et al.'s HED stain augmentation at stain.hed_augment's default strength:
the model study's setting, since IDC patches come from many scanners and staining runs."""

AUGMENTATIONS: dict[str, AugmentationSettings] = {
    "light": LIGHT,
    "stain": STAIN,
    "paper": PAPER_RANGES,
    "none": NONE,
}
"""The named settings, by the name a run's configuration and the command line use."""


def hed_augment_batch(unit: tf.Tensor, factors: tf.Tensor, offsets: tf.Tensor) -> tf.Tensor:
    """:func:`appliance.trainer.stain.hed_augment` on a float batch ``(B, H, W, 3)`` in [0, 1],
    with each image's H, E, D scale ``factors`` and ``offsets`` given as ``(B, 3)``. Returns
    floats in [0, 1] (the numpy version rounds to uint8)."""
    od = -tf.math.log(tf.maximum(unit, _OD_FLOOR))
    hed = tf.tensordot(od, tf.constant(HED_FROM_RGB, tf.float32), axes=1)
    weight = tf.clip_by_value(tf.reduce_min(od, axis=-1, keepdims=True) / TISSUE_BETA, 0.0, 1.0)
    hed = hed * factors[:, None, None, :] + weight * offsets[:, None, None, :]
    od = tf.tensordot(hed, tf.constant(RGB_FROM_HED, tf.float32), axes=1)
    return tf.clip_by_value(tf.exp(-od), 0.0, 1.0)


def _random_rot90(images: tf.Tensor, generator: keras.random.SeedGenerator) -> tf.Tensor:
    height, width = images.shape[1], images.shape[2]
    if height is not None and width is not None and height != width:
        raise ValueError(f"rot90 needs square images, got {height}x{width}")
    turns = keras.random.randint((tf.shape(images)[0],), 0, 4, seed=generator)
    stacked = tf.stack([tf.image.rot90(images, k) for k in range(4)], axis=1)
    return tf.gather(stacked, turns, batch_dims=1)


def _random_crop(
    images: tf.Tensor, fraction: float, generator: keras.random.SeedGenerator
) -> tf.Tensor:
    batch = tf.shape(images)[0]
    corner = keras.random.uniform((batch, 2), 0.0, 1.0 - fraction, seed=generator)
    boxes = tf.concat([corner, corner + fraction], axis=1)  # y1, x1, y2, x2 (normalised)
    return tf.image.crop_and_resize(images, boxes, tf.range(batch), tf.shape(images)[1:3])


def _random_hed(
    unit: tf.Tensor, scale: float, shift: float, generator: keras.random.SeedGenerator
) -> tf.Tensor:
    batch = tf.shape(unit)[0]
    factors = keras.random.uniform((batch, 3), 1.0 - scale, 1.0 + scale, seed=generator)
    offsets = keras.random.uniform((batch, 3), -shift, shift, seed=generator)
    return hed_augment_batch(unit, factors, offsets)


Step = Callable[[tf.Tensor], tf.Tensor]


def _geometric_steps(
    settings: AugmentationSettings, black: float, seeds: Callable[[], int | None]
) -> list[Step]:
    """Range-independent steps, applied to the images as scaled (interpolation and reflection
    never leave the input's value range). ``black`` is the fill of ``fill_mode="constant"``."""
    s = settings
    fill = {"fill_mode": s.fill_mode, "fill_value": black}
    steps: list[Step] = []
    if s.flip_horizontal:
        steps.append(keras.layers.RandomFlip("horizontal", seed=seeds()))
    if s.flip_vertical:
        steps.append(keras.layers.RandomFlip("vertical", seed=seeds()))
    if s.rot90:
        turn_seeds = keras.random.SeedGenerator(seeds())
        steps.append(lambda images: _random_rot90(images, turn_seeds))
    if s.crop_fraction:
        crop_seeds = keras.random.SeedGenerator(seeds())
        steps.append(lambda images: _random_crop(images, s.crop_fraction, crop_seeds))
    if s.shear_degrees:
        factor = math.tan(math.radians(s.shear_degrees))
        steps.append(keras.layers.RandomShear(factor, factor, **fill, seed=seeds()))
    if s.rotation_degrees:
        turn = s.rotation_degrees / 360.0
        steps.append(keras.layers.RandomRotation(turn, **fill, seed=seeds()))
    if s.zoom != (0.0, 0.0):
        steps.append(keras.layers.RandomZoom(s.zoom, **fill, seed=seeds()))
    if s.width_shift or s.height_shift:
        steps.append(
            keras.layers.RandomTranslation(s.height_shift, s.width_shift, **fill, seed=seeds())
        )
    return steps


def _colour_steps(settings: AugmentationSettings, seeds: Callable[[], int | None]) -> list[Step]:
    """Steps on [0, 1] pixels: stain first (a property of the slide), then the scanner-like
    colour jitter, in ``train.augment``'s order."""
    s, unit = settings, (0.0, 1.0)
    steps: list[Step] = []
    if s.hed_scale or s.hed_shift:
        hed_seeds = keras.random.SeedGenerator(seeds())
        steps.append(lambda images: _random_hed(images, s.hed_scale, s.hed_shift, hed_seeds))
    if s.brightness:
        steps.append(keras.layers.RandomBrightness(s.brightness, value_range=unit, seed=seeds()))
    if s.contrast:
        contrast = (s.contrast, s.contrast)  # a bare float would only raise contrast
        steps.append(keras.layers.RandomContrast(contrast, value_range=unit, seed=seeds()))
    if s.saturation:
        factor = tuple(m / (1.0 + m) for m in (1.0 - s.saturation, 1.0 + s.saturation))
        steps.append(keras.layers.RandomSaturation(factor, value_range=unit, seed=seeds()))
    if s.hue:
        steps.append(keras.layers.RandomHue((0.0, 2.0 * s.hue), value_range=unit, seed=seeds()))
    return steps


def make_augment(settings: AugmentationSettings, scaling: str, seed: int | None = None) -> Augment:
    """A function ``(images, labels) -> (images, labels)`` for ``dataset.batch(n).map(fn)``.

    ``images`` is a float batch ``(B, H, W, 3)`` scaled by :func:`appliance.preprocess.preprocess`
    with ``scaling``; the result has the same shape, dtype and value range. Labels pass through.
    Each image gets its own random draws. With a ``seed``, two functions made with the same
    arguments produce the same sequence of batches when mapped serially (not with
    ``num_parallel_calls``: see the module notes); each call draws new values, so epochs differ.
    Colour steps work in [0, 1] and the result is clipped to the scaling's range.
    """
    if scaling not in _RANGES:
        raise ValueError(f"unknown scaling {scaling!r}; expected one of {', '.join(_RANGES)}")
    low, high = _RANGES[scaling]
    counter = itertools.count()

    def seeds() -> int | None:
        return None if seed is None else seed + next(counter)

    geometric = _geometric_steps(settings, low, seeds)
    colour = _colour_steps(settings, seeds)

    def augment(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape.rank != 4:
            raise ValueError(
                f"augment works on batches (B, H, W, 3); got shape {images.shape}. "
                "Call dataset.batch(n) before dataset.map(fn)."
            )
        shape = images.shape
        for step in geometric:
            images = step(images)
        if colour:
            unit = (images - low) / (high - low)
            for step in colour:
                unit = step(unit)
            images = tf.clip_by_value(unit, 0.0, 1.0) * (high - low) + low
        # crop_and_resize loses the static height and width, which Keras' fit needs.
        return tf.ensure_shape(tf.clip_by_value(images, low, high), shape), labels

    return augment
