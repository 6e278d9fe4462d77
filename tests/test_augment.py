"""Training augmentation on tiny batches: ranges kept, each step on only when asked, stains."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="the trainer needs the 'train' extra")

from appliance.trainer.augment import (  # noqa: E402
    AUGMENTATIONS,
    LIGHT,
    NONE,
    PAPER_RANGES,
    AugmentationSettings,
    hed_augment_batch,
    make_augment,
)
from appliance.trainer.stain import hed_augment  # noqa: E402
from tests.conftest import shared_path  # noqa: E402

pytestmark = pytest.mark.train

RANGES = {"minus_one_to_one": (-1.0, 1.0), "zero_to_one": (0.0, 1.0)}
EVERYTHING = replace(
    PAPER_RANGES,
    rot90=True,
    shear_degrees=20.0,
    crop_fraction=0.8,
    brightness=0.1,
    contrast=0.2,
    saturation=0.2,
    hue=0.05,
    hed_scale=0.1,
    hed_shift=0.1,
)


def _scaled(unit: np.ndarray, scaling: str) -> np.ndarray:
    low, high = RANGES[scaling]
    return (unit * (high - low) + low).astype(np.float32)


def _unit(images: np.ndarray, scaling: str) -> np.ndarray:
    low, high = RANGES[scaling]
    return (np.asarray(images) - low) / (high - low)


def _noise(n: int = 16, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype(np.float32)


def _tissue(n: int = 16, size: int = 16, seed: int = 0) -> np.ndarray:
    """Pink-purple H&E-like noise around a stained colour, in [0, 1]."""
    rng = np.random.default_rng(seed)
    base = np.array([0.80, 0.55, 0.75], np.float32)
    return np.clip(base + rng.normal(0, 0.06, (n, size, size, 3)), 0, 1).astype(np.float32)


def _run(settings: AugmentationSettings, images: np.ndarray, scaling="zero_to_one", seed=1):
    labels = tf.range(len(images))
    out, out_labels = make_augment(settings, scaling, seed)(tf.constant(images), labels)
    np.testing.assert_array_equal(out_labels.numpy(), labels.numpy())
    return out.numpy()


@pytest.mark.parametrize("scaling", sorted(RANGES))
@pytest.mark.parametrize("name", ["LIGHT", "PAPER_RANGES", "EVERYTHING"])
def test_shape_dtype_and_range_are_kept(scaling: str, name: str) -> None:
    settings = {"LIGHT": LIGHT, "PAPER_RANGES": PAPER_RANGES, "EVERYTHING": EVERYTHING}[name]
    images = _scaled(_noise(8, 20), scaling)
    out = _run(settings, images, scaling)
    low, high = RANGES[scaling]
    assert out.shape == images.shape and out.dtype == np.float32
    assert out.min() >= low and out.max() <= high
    assert not np.array_equal(out, images)


@pytest.mark.parametrize("scaling", sorted(RANGES))
def test_all_steps_off_returns_the_input_exactly(scaling: str) -> None:
    images = _scaled(_noise(), scaling)
    np.testing.assert_array_equal(_run(NONE, images, scaling), images)


@pytest.mark.parametrize("scaling", sorted(RANGES))
def test_light_keeps_colour_statistics_near_the_input(scaling: str) -> None:
    unit = _tissue(64)
    out = _unit(_run(LIGHT, _scaled(unit, scaling), scaling), scaling)
    # Per image: brightness moves the mean by at most 0.08, the rest barely at all.
    per_image = np.abs(out.mean(axis=(1, 2)) - unit.mean(axis=(1, 2)))
    assert per_image.max() < 0.12
    # Over the batch the random shifts average out.
    assert np.abs(out.mean(axis=(0, 1, 2)) - unit.mean(axis=(0, 1, 2))).max() < 0.03
    assert np.abs(out.std() - unit.std()) < 0.03


def _dihedral(image: np.ndarray) -> list[np.ndarray]:
    return [np.rot90(v, k) for v in (image, image[:, ::-1]) for k in range(4)]


@pytest.mark.parametrize(
    "change",
    [
        {"flip_horizontal": True},
        {"flip_vertical": True},
        {"rot90": True},
        {"rotation_degrees": 30.0},
        {"zoom": (-0.3, -0.3)},
        {"zoom": (0.3, 0.3)},
        {"shear_degrees": 20.0},
        {"width_shift": 0.3},
        {"height_shift": 0.3},
        {"crop_fraction": 0.7},
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()),
)
def test_each_geometric_step_acts_only_when_set(change: dict) -> None:
    images = _noise(16)
    out = _run(replace(NONE, **change), images)
    changed = [not np.allclose(a, b, atol=1e-6) for a, b in zip(out, images, strict=True)]
    assert sum(changed) >= 4, f"{change} left {16 - sum(changed)} of 16 images unchanged"
    if set(change) <= {"flip_horizontal", "flip_vertical", "rot90"}:
        # Exact pixel moves: every output is one of its input's eight symmetries.
        for a, b in zip(out, images, strict=True):
            assert any(np.array_equal(a, view) for view in _dihedral(b))


def test_flips_and_turns_produce_all_eight_orientations() -> None:
    image = _noise(1, 8)[0]
    orientation_only = replace(LIGHT, brightness=0, contrast=0, saturation=0, hue=0)
    out = _run(orientation_only, np.stack([image] * 64))
    views = _dihedral(image)
    seen = {next(i for i, v in enumerate(views) if np.array_equal(o, v)) for o in out}
    assert seen == set(range(8))


@pytest.mark.parametrize("step", [{"rotation_degrees": 45.0}, {"zoom": (0.8, 0.8)}])
def test_reflect_fill_leaves_no_black_corners(step: dict) -> None:
    grey = np.full((4, 24, 24, 3), 0.6, np.float32)  # -> 0.2 in [-1, 1]
    images = _scaled(grey, "minus_one_to_one")
    reflected = _run(replace(NONE, **step), images, "minus_one_to_one")
    np.testing.assert_allclose(reflected, images, atol=1e-4)
    constant = _run(replace(NONE, fill_mode="constant", **step), images, "minus_one_to_one")
    assert constant.min() == -1.0  # black corners, which the first check would catch


def test_a_seed_repeats_the_sequence_and_each_call_draws_anew() -> None:
    images = tf.constant(_scaled(_noise(), "minus_one_to_one"))
    labels = tf.zeros(16)

    def two_calls(seed: int) -> tuple[np.ndarray, np.ndarray]:
        fn = make_augment(EVERYTHING, "minus_one_to_one", seed)
        return fn(images, labels)[0].numpy(), fn(images, labels)[0].numpy()

    first, second = two_calls(3)
    again_first, again_second = two_calls(3)
    np.testing.assert_array_equal(first, again_first)
    np.testing.assert_array_equal(second, again_second)
    assert not np.allclose(first, second)
    assert not np.allclose(first, two_calls(4)[0])


def test_hed_maths_matches_the_numpy_stain_module() -> None:
    image = (np.clip(_tissue(1, 12)[0], 0, 1) * 255).round().astype(np.uint8)
    image[:4] = 255  # some glass
    scale, shift = 0.2, 0.1
    expected = hed_augment(image, np.random.default_rng(5), scale, shift)
    draws = np.random.default_rng(5)  # the same draws, in hed_augment's order
    factors = draws.uniform(1 - scale, 1 + scale, 3)
    offsets = draws.uniform(-shift, shift, 3)
    got = hed_augment_batch(
        tf.constant(image[None] / 255.0, tf.float32),
        tf.constant(factors[None], tf.float32),
        tf.constant(offsets[None], tf.float32),
    ).numpy()[0]
    assert np.abs(got * 255 - expected).max() <= 1.0  # numpy rounds to uint8
    assert np.abs(expected.astype(int) - image).max() > 5  # the draws did change the stain


def test_hed_augmentation_keeps_glass_white_and_changes_stained_tissue() -> None:
    unit = _tissue(16)
    unit[:, :, :8] = 1.0  # left half: empty glass
    stains = replace(NONE, hed_scale=0.2, hed_shift=0.1)
    out = _unit(
        _run(stains, _scaled(unit, "minus_one_to_one"), "minus_one_to_one"), "minus_one_to_one"
    )
    assert np.abs(out[:, :, :8] - 1.0).max() < 1e-3
    tissue_change = np.abs(out[:, :, 8:] - unit[:, :, 8:]).mean(axis=(1, 2, 3))
    assert (tissue_change > 0.01).sum() >= 12


def test_works_after_batch_in_a_tf_data_pipeline() -> None:
    images = _scaled(_noise(20, 16), "minus_one_to_one")
    labels = np.arange(20)
    fn = make_augment(EVERYTHING, "minus_one_to_one", seed=0)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8).map(fn)
    assert dataset.element_spec[0].shape.as_list() == [None, 16, 16, 3]  # as Keras' fit needs
    batches = list(dataset.as_numpy_iterator())
    assert [b.shape for b, _ in batches] == [(8, 16, 16, 3), (8, 16, 16, 3), (4, 16, 16, 3)]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)
    out = np.concatenate([b for b, _ in batches])
    assert out.min() >= -1.0 and out.max() <= 1.0 and not np.allclose(out, images)


def test_unbatched_images_and_unknown_scalings_are_refused() -> None:
    fn = make_augment(LIGHT, "zero_to_one")
    with pytest.raises(ValueError, match="batch"):
        fn(tf.zeros((16, 16, 3)), tf.constant(0))
    with pytest.raises(ValueError, match="scaling"):
        make_augment(LIGHT, "zero_to_two")


@pytest.mark.parametrize(
    "bad",
    [
        {"rotation_degrees": -1.0},
        {"zoom": (0.5, -0.5)},
        {"zoom": (-1.0, 0.0)},
        {"crop_fraction": 1.5},
        {"fill_mode": "black"},
    ],
)
def test_impossible_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        replace(LIGHT, **bad)


def test_a_single_zoom_number_means_a_symmetric_range() -> None:
    assert replace(NONE, zoom=0.2).zoom == (-0.2, 0.2)
    assert replace(NONE, zoom=[-0.1, 0.3]) == replace(NONE, zoom=(-0.1, 0.3))


def test_describe_is_json_and_rebuilds_the_settings() -> None:
    for settings in AUGMENTATIONS.values():
        described = json.loads(json.dumps(settings.describe()))
        assert described.pop("keras")
        assert AugmentationSettings(**described) == settings


def test_light_is_what_train_augment_did() -> None:
    assert (LIGHT.flip_horizontal, LIGHT.flip_vertical, LIGHT.rot90) == (True, True, True)
    assert (LIGHT.brightness, LIGHT.contrast, LIGHT.saturation, LIGHT.hue) == (
        0.08,
        0.15,
        0.15,
        0.03,
    )
    geometry = (LIGHT.rotation_degrees, LIGHT.shear_degrees, LIGHT.width_shift, LIGHT.crop_fraction)
    assert geometry == (0, 0, 0, 0) and LIGHT.zoom == (0, 0) and not LIGHT.hed_scale


@pytest.mark.shared
def test_paper_ranges_follow_table_5_of_the_seed_paper() -> None:
    text = shared_path("seeds", "004_263c1db1a80d99b1.txt").read_text()
    table = {
        name.strip().lower(): value
        for name, value in re.findall(r"^\d+\t([A-Za-z ]+?)\t(\S+)$", text, flags=re.M)
    }
    assert float(table["rotation range"]) == PAPER_RANGES.rotation_degrees
    assert float(table["shearing range"]) == PAPER_RANGES.shear_degrees
    assert float(table["width shift range"]) == PAPER_RANGES.width_shift
    assert float(table["height shift range"]) == PAPER_RANGES.height_shift
    assert table["horizontal flip"] == "True" and PAPER_RANGES.flip_horizontal
    assert table["vertical file"] == "True" and PAPER_RANGES.flip_vertical  # sic in the paper
    # "Zooming range 2", read as 2x either way (see the module docstring).
    zoom = float(table["zooming range"])
    assert (1 + PAPER_RANGES.zoom[0], 1 + PAPER_RANGES.zoom[1]) == (1 / zoom, zoom)
