"""Stain normalisation and augmentation on real and synthetic H&E patches (numpy only, no TF).

The normalisers live in the runtime module ``appliance.stain`` (the appliance applies what the
model was trained with) and are re-exported by ``appliance.trainer.stain``.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from appliance import stain as runtime_stain
from appliance.stain import normalizer_from_dict
from appliance.trainer import stain as trainer_stain
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

# Ruifrok & Johnston's haematoxylin and eosin optical-density directions.
_H = np.array([0.65, 0.70, 0.29]) / np.linalg.norm([0.65, 0.70, 0.29])
_E = np.array([0.07, 0.99, 0.11]) / np.linalg.norm([0.07, 0.99, 0.11])


def synthetic_he(
    height: int, width: int, seed: int = 0, haematoxylin: float = 1.0, eosin: float = 1.0
) -> np.ndarray:
    """An H&E-like uint8 image by Beer-Lambert: random H and E densities, scaled per stain, so
    tests have real stain statistics to normalise without the shared data."""
    rng = np.random.default_rng(seed)
    h = rng.gamma(2.0, 0.25, (height, width)) * haematoxylin
    e = rng.gamma(2.0, 0.3, (height, width)) * eosin
    od = h[..., None] * _H + e[..., None] * _E
    return np.clip(np.rint(255 * np.exp(-od)), 0, 255).astype(np.uint8)


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


# --- serialisable normalisers (the form the model card stores) --------------------------------


def test_trainer_module_re_exports_the_runtime_normalisers() -> None:
    for name in ("MacenkoNormalizer", "ReinhardNormalizer", "rgb_to_od", "rgb_to_lab"):
        assert getattr(trainer_stain, name) is getattr(runtime_stain, name)
    assert trainer_stain.normalizer_from_dict is normalizer_from_dict


@pytest.mark.parametrize("normaliser", [MacenkoNormalizer, ReinhardNormalizer])
def test_json_round_trip_gives_identical_transforms(normaliser) -> None:
    target = synthetic_he(50, 50, seed=2, haematoxylin=2.0, eosin=0.5)
    fitted = normaliser().fit(target)
    stored = json.loads(json.dumps(fitted.to_dict()))
    assert stored["method"] == normaliser.method
    rebuilt = normalizer_from_dict(stored)
    assert type(rebuilt) is normaliser and rebuilt.to_dict() == fitted.to_dict()
    for seed, size in [(1, (50, 50)), (3, (46, 70)), (4, (120, 90))]:
        image = synthetic_he(*size, seed=seed)
        out = fitted.transform(image)
        np.testing.assert_array_equal(rebuilt.transform(image), out)
        assert np.abs(out.astype(int) - image).mean() > 5  # the transform did something


def test_dict_format_is_plain_json_numbers() -> None:
    target = synthetic_he(50, 50, seed=2)
    macenko = MacenkoNormalizer().fit(target).to_dict()
    assert set(macenko) == {
        "method",
        "stain_matrix",
        "max_concentrations",
        "beta",
        "alpha",
        "percentile",
    }
    assert np.shape(macenko["stain_matrix"]) == (2, 3) and len(macenko["max_concentrations"]) == 2
    reinhard = ReinhardNormalizer().fit(target).to_dict()
    assert set(reinhard) == {"method", "mean", "std", "beta"}
    numbers = [
        *(x for row in macenko["stain_matrix"] for x in row),
        *macenko["max_concentrations"],
        *(macenko[k] for k in ("beta", "alpha", "percentile")),
        *reinhard["mean"],
        *reinhard["std"],
        reinhard["beta"],
    ]
    assert all(type(x) is float for x in numbers)


def test_an_unfitted_normaliser_cannot_be_stored() -> None:
    for normaliser in (MacenkoNormalizer(), ReinhardNormalizer()):
        with pytest.raises(RuntimeError, match="fit the normaliser"):
            normaliser.to_dict()


def _reinhard() -> dict:
    return {"method": "reinhard", "mean": [60.0, 20.0, -10.0], "std": [10.0, 5.0, 4.0]}


def _macenko() -> dict:
    return MacenkoNormalizer().fit(synthetic_he(50, 50, seed=2)).to_dict()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"method": "vahadane"}, "unknown method 'vahadane'"),
        ({"mean": [1.0, 2.0, 3.0]}, "unknown method None"),
        ([1, 2], "expected an object"),
        ({**_reinhard(), "std": [10.0, float("nan"), 4.0]}, "not a finite number"),
        ({**_reinhard(), "mean": [1.0, 2.0]}, "'mean' must be three numbers"),
        ({**_reinhard(), "mean": ["60", 20.0, -10.0]}, "'mean' must be three numbers"),
        ({**_reinhard(), "std": [10.0, 0.0, 4.0]}, "'std' must be positive"),
        ({**_reinhard(), "beta": -1.0}, "'beta' must lie in"),
        ({**_reinhard(), "gamma": 2.0}, "unknown reinhard keys \\['gamma'\\]"),
        ({"method": "reinhard", "std": [1.0, 1.0, 1.0]}, "need 'mean'"),
        ({**_macenko(), "stain_matrix": [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]}, "parallel"),
        ({**_macenko(), "stain_matrix": [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]}, "unit vectors"),
        ({**_macenko(), "max_concentrations": [1.0, float("inf")]}, "not a finite number"),
        ({**_macenko(), "percentile": 120.0}, "'percentile' must lie in"),
    ],
)
def test_bad_stored_normalisers_are_refused_in_words(data, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        normalizer_from_dict(data)


def test_optional_settings_default_when_absent() -> None:
    full = _macenko()
    short = {k: v for k, v in full.items() if k not in ("beta", "alpha", "percentile")}
    assert normalizer_from_dict(short).to_dict() == full
    assert normalizer_from_dict(_reinhard()).beta == 0.15


@pytest.mark.parametrize(
    "colour", [(255, 255, 255), (245, 245, 245), (0, 0, 0), (128, 128, 128), (150, 80, 140)]
)
def test_macenko_leaves_one_colour_tiles_unchanged(colour) -> None:
    """Glass, black borders, grey and uniform tiles have no two stains to map: left as they are."""
    tile = np.full((50, 50, 3), colour, np.uint8)
    normaliser = MacenkoNormalizer().fit(synthetic_he(50, 50, seed=2))
    np.testing.assert_array_equal(normaliser.transform(tile), tile)
    with pytest.raises(ValueError):
        MacenkoNormalizer().fit(tile)
