"""The one preprocessing function: shapes, ranges, colour modes and determinism."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from appliance.preprocess import preprocess, scale_pixels, to_rgb


def test_scales_to_minus_one_one_and_resizes() -> None:
    pixels = np.zeros((50, 50, 3), np.uint8)
    pixels[:, 25:] = 255
    out = preprocess(Image.fromarray(pixels), (96, 96))
    assert out.shape == (96, 96, 3) and out.dtype == np.float32
    assert out.min() == pytest.approx(-1.0) and out.max() == pytest.approx(1.0)


def test_same_result_from_array_and_image() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    a = preprocess(pixels, (32, 32), "zero_to_one")
    b = preprocess(Image.fromarray(pixels), (32, 32), "zero_to_one")
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_raw_keeps_pixel_values() -> None:
    pixels = np.full((8, 8, 3), 200, np.uint8)
    assert np.all(preprocess(pixels, (8, 8), "raw") == 200.0)


def test_transparency_becomes_white_glass() -> None:
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert to_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    grey = Image.fromarray(np.full((4, 4), 4000, np.uint16))
    rgb = np.asarray(to_rgb(grey))
    assert rgb.shape == (4, 4, 3) and rgb.max() == 255


def test_unknown_scaling_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scaling"):
        scale_pixels(np.zeros((2, 2, 3), np.uint8), "imagenet")  # type: ignore[arg-type]


def test_dihedral_views_average_back_to_inputs() -> None:
    from appliance.preprocess import augmented_views, average_views

    rng = np.random.default_rng(3)
    batch = rng.uniform(-1, 1, (5, 6, 6, 3)).astype(np.float32)
    views = augmented_views(batch, "dihedral8")
    assert views.shape == (40, 6, 6, 3)
    np.testing.assert_array_equal(views[:5], batch)  # first view is the input itself
    # A per-view score that is orientation-invariant (the mean) averages back unchanged.
    scores = views.mean(axis=(1, 2))
    np.testing.assert_allclose(
        average_views(scores, "dihedral8"), batch.mean(axis=(1, 2)), atol=1e-5
    )
    assert augmented_views(batch, "none") is batch


def test_rotate4_views_are_the_four_rotations_without_mirrors() -> None:
    from appliance.preprocess import augmented_views, average_views, view_count

    rng = np.random.default_rng(4)
    batch = rng.uniform(-1, 1, (3, 5, 5, 3)).astype(np.float32)
    views = augmented_views(batch, "rotate4")
    assert views.shape == (12, 5, 5, 3) and view_count("rotate4") == 4
    for k in range(4):  # view-major: view k of every input, then view k + 1
        np.testing.assert_array_equal(views[3 * k : 3 * k + 3], np.rot90(batch, k, axes=(1, 2)))
    mirrored = batch[:, :, ::-1]
    assert not any(np.array_equal(views[3 * k], mirrored[0]) for k in range(4))
    scores = np.arange(12, dtype=np.float32)  # view v of input i scores 3 v + i
    np.testing.assert_allclose(average_views(scores, "rotate4"), [4.5, 5.5, 6.5])
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        view_count("dihedral16")


# --- stain normalisation ------------------------------------------------------------------


@pytest.fixture(scope="module")
def stained() -> tuple[np.ndarray, dict[str, object]]:
    """A synthetic H&E image and normalisers fitted to a differently stained one."""
    from appliance.stain import MacenkoNormalizer, ReinhardNormalizer
    from tests.test_stain import synthetic_he

    target = synthetic_he(50, 50, seed=2, haematoxylin=2.0, eosin=0.5)
    fitted = {"macenko": MacenkoNormalizer(), "reinhard": ReinhardNormalizer()}
    return synthetic_he(46, 70, seed=1), {k: n.fit(target) for k, n in fitted.items()}


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_stain_is_normalised_at_source_size_before_resizing(stained, method: str) -> None:
    pixels, normalisers = stained
    normaliser = normalisers[method]
    expected = preprocess(normaliser.transform(pixels), (32, 32), "zero_to_one")
    by_object = preprocess(pixels, (32, 32), "zero_to_one", stain=normaliser)
    by_dict = preprocess(Image.fromarray(pixels), (32, 32), "zero_to_one", normaliser.to_dict())
    np.testing.assert_array_equal(by_object, expected)
    np.testing.assert_array_equal(by_dict, expected)
    plain = preprocess(pixels, (32, 32), "zero_to_one")
    assert np.abs(by_object - plain).mean() > 0.02  # normalising changed the colours
    resized_first = normaliser.transform(
        np.asarray(Image.fromarray(pixels).resize((32, 32), Image.Resampling.BILINEAR))
    )
    assert not np.array_equal(by_object, scale_pixels(resized_first, "zero_to_one"))


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
@pytest.mark.parametrize(
    "colour", [(255, 255, 255), (246, 244, 247), (0, 0, 0), (128, 128, 128), (225, 150, 190)]
)
def test_blank_inputs_with_stain_are_finite(stained, method: str, colour) -> None:
    pixels = np.full((50, 50, 3), colour, np.uint8)
    out = preprocess(pixels, (16, 16), "minus_one_to_one", stain=stained[1][method])
    assert out.shape == (16, 16, 3) and np.isfinite(out).all()
    assert out.min() >= -1.0 and out.max() <= 1.0


def test_macenko_returns_a_white_tile_unchanged(stained) -> None:
    white = np.full((50, 50, 3), 255, np.uint8)
    for stain in (stained[1]["macenko"], stained[1]["macenko"].to_dict()):
        np.testing.assert_array_equal(
            preprocess(white, (16, 16), stain=stain), preprocess(white, (16, 16))
        )


def test_a_bad_stain_dict_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown method 'vahadane'"):
        preprocess(np.zeros((4, 4, 3), np.uint8), (4, 4), stain={"method": "vahadane"})
