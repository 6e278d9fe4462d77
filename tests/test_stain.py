"""Stain normalisation and augmentation on real H&E patches (numpy only, no TensorFlow)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from appliance.trainer.stain import (
    MacenkoNormalizer,
    ReinhardNormalizer,
    hed_augment,
    lab_to_rgb,
    macenko_stain_matrix,
    rgb_to_lab,
    rgb_to_od,
    tissue_weight,
)
from tests.conftest import shared_path


def _patches(count: int = 60) -> list[np.ndarray]:
    root = shared_path("data", "idc-patches")
    with (root / "manifest.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    images = []
    for row in rows[:: max(1, len(rows) // count)][:count]:
        with Image.open(root / row["file"]) as image:
            array = np.asarray(image.convert("RGB"))
        if array.shape[:2] == (50, 50):
            images.append(array)
    return images


@pytest.fixture(scope="module")
def far_pair() -> tuple[np.ndarray, np.ndarray]:
    """The two real patches whose mean tissue colours differ most (source, target)."""
    images = [im for im in _patches() if (tissue_weight(rgb_to_od(im)) >= 1).mean() > 0.5]
    means = np.array([rgb_to_lab(im).reshape(-1, 3).mean(axis=0) for im in images])
    distances = np.linalg.norm(means[:, None] - means[None], axis=-1)
    i, j = np.unravel_index(np.argmax(distances), distances.shape)
    return images[i], images[j]


def _tissue_mean(values: np.ndarray, image: np.ndarray) -> np.ndarray:
    mask = tissue_weight(rgb_to_od(image)) >= 1
    return values[mask].mean(axis=0)


def _with_white_border(image: np.ndarray, width: int = 10) -> np.ndarray:
    return np.pad(image, ((width, width), (width, width), (0, 0)), constant_values=255)


def test_lab_round_trip_is_exact_to_a_level() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert np.abs(lab_to_rgb(rgb_to_lab(pixels)).astype(int) - pixels).max() <= 1
    assert rgb_to_lab(np.full((1, 1, 3), 255, np.uint8))[0, 0, 0] == pytest.approx(100, abs=0.01)


# Reinhard matches the tissue's mean colour by construction; Macenko matches stain vectors and
# stain maxima, so content differences between the two patches legitimately remain.
@pytest.mark.parametrize(
    ("normaliser", "at_most"), [(ReinhardNormalizer, 0.25), (MacenkoNormalizer, 0.75)]
)
def test_normalising_moves_colour_statistics_towards_the_target(
    far_pair, normaliser, at_most
) -> None:
    source, target = far_pair
    out = normaliser().fit(target).transform(source)
    assert out.dtype == np.uint8 and out.shape == source.shape
    for space in (rgb_to_lab, rgb_to_od):
        before = np.linalg.norm(
            _tissue_mean(space(source), source) - _tissue_mean(space(target), target)
        )
        after = np.linalg.norm(_tissue_mean(space(out), out) - _tissue_mean(space(target), target))
        assert after < at_most * before, (space.__name__, before, after)


@pytest.mark.parametrize("normaliser", [ReinhardNormalizer, MacenkoNormalizer])
def test_white_background_stays_white(far_pair, normaliser) -> None:
    source, target = far_pair
    framed = _with_white_border(source)
    out = normaliser().fit(target).transform(framed)
    assert out.shape == framed.shape
    assert out[:10].min() >= 240 and out[:, -10:].min() >= 240


def test_macenko_stain_vectors_are_haematoxylin_then_eosin(far_pair) -> None:
    for image in far_pair:
        matrix = macenko_stain_matrix(image)
        assert matrix.shape == (2, 3)
        assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0)
        assert (matrix >= -0.05).all()
        assert matrix[0, 0] > matrix[1, 0]  # H absorbs red more than E


def test_an_image_without_tissue_passes_through_macenko(far_pair) -> None:
    blank = np.full((20, 20, 3), 250, np.uint8)
    assert np.array_equal(MacenkoNormalizer().fit(far_pair[1]).transform(blank), blank)
    with pytest.raises(ValueError):
        MacenkoNormalizer().fit(blank)


def test_hed_augmentation_varies_stain_but_keeps_glass_white(far_pair) -> None:
    framed = _with_white_border(far_pair[0])
    rng = np.random.default_rng(5)
    views = [hed_augment(framed, rng, scale=0.1, shift=0.1) for _ in range(4)]
    for view in views:
        assert view.dtype == np.uint8 and view.shape == framed.shape
        assert view[:10].min() >= 240
    tissue = [v[10:-10, 10:-10].astype(int) for v in views]
    assert np.abs(tissue[0] - tissue[1]).mean() > 1.0
    unchanged = hed_augment(framed, np.random.default_rng(0), scale=0.0, shift=0.0)
    assert np.abs(unchanged.astype(int) - framed).max() <= 1
