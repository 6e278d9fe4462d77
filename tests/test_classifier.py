"""Classifier: whole vs tiled routing, background skipping, top-k scoring and contract checks.

Runs on the committed tiny bundle (tests/data/tiny_bundle: int8, 16x16 input, tiles of 50 px,
p_malignant rising with redness), so no TensorFlow is needed. One test rebuilds that bundle with
tests/data/make_tiny_bundle.py to prove the generator still makes an equivalent model.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.errors import ImageError, ModelRejected
from appliance.inference import Classifier, ModelBundle, ModelCard, Prediction
from appliance.inference.backends import select_backend
from appliance.preprocess import preprocess
from appliance.stain import MacenkoNormalizer, ReinhardNormalizer
from appliance.values import TileMap
from tests.conftest import TINY_BUNDLE
from tests.test_stain import synthetic_he

PINK = (225, 150, 190)  # H&E-like tissue: scores about 0.5 with the tiny model
WHITE = (245, 245, 245)


def _image(width: int, height: int, colour: tuple[int, int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.asarray(colour, np.float64) + rng.normal(0.0, 3.0, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _copy_bundle(tmp_path: Path, **input_changes: object) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, target)
    if input_changes:
        card_path = target / "card.json"
        data = json.loads(card_path.read_text("utf-8"))
        data["input"].update(input_changes)
        card_path.write_text(json.dumps(data), "utf-8")
    return target


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(ModelBundle.load(TINY_BUNDLE), num_threads=1, batch_size=4)


def test_patch_sized_images_are_scored_whole(classifier: Classifier) -> None:
    for size in [(50, 50), (40, 32), (75, 75)]:  # a training patch, an edge patch, 1.5 tiles
        prediction = classifier.classify(_image(*size, PINK))
        assert prediction.mode == "whole"
        assert prediction.tiles is None
        assert prediction.p_malignant == prediction.probabilities[1]
        assert sum(prediction.probabilities) == pytest.approx(1.0, abs=0.01)
        assert prediction.elapsed_ms > 0


def test_large_images_are_tiled(classifier: Classifier) -> None:
    prediction = classifier.classify(_image(230, 120, PINK))
    assert prediction.mode == "tiled"
    tiles = prediction.tiles
    assert tiles is not None
    assert (tiles.image_width, tiles.image_height) == (230, 120)
    assert (tiles.tile_size, tiles.stride) == (50, 50)
    assert len(tiles.origins) == 5 * 3 and tiles.skipped_background == 0
    top3 = sorted(tiles.probabilities, reverse=True)[:3]
    assert prediction.p_malignant == pytest.approx(np.mean(top3), abs=1e-6)
    assert prediction.probabilities[1] == pytest.approx(prediction.p_malignant, abs=1e-6)


def test_whole_mode_card_never_tiles(tmp_path: Path) -> None:
    bundle = ModelBundle.load(_copy_bundle(tmp_path))
    data = bundle.card.to_dict()
    whole_card = ModelCard.from_dict({**data, "input": {**data["input"], "mode": "whole"}})
    whole = Classifier(ModelBundle(bundle.directory, whole_card, bundle.model_path))
    assert whole.classify(_image(400, 300, PINK)).mode == "whole"


def test_background_tiles_are_skipped(classifier: Classifier) -> None:
    image = _image(300, 200, WHITE)
    image.paste(_image(100, 100, PINK, seed=1), (100, 50))  # covers tiles (100..150, 50..100)
    prediction = classifier.classify(image)
    tiles = prediction.tiles
    assert tiles is not None
    assert set(tiles.origins) == {(100, 50), (150, 50), (100, 100), (150, 100)}
    # 6 x 4 grid; only the four tiles fully inside the pink square are tissue
    assert tiles.skipped_background == 6 * 4 - 4
    grid = tiles.as_grid()
    assert grid.shape == (4, 6)
    assert np.count_nonzero(~np.isnan(grid)) == 4
    assert not np.isnan(grid[1, 2]) and np.isnan(grid[0, 0])


def test_no_tissue_is_an_image_error(classifier: Classifier) -> None:
    with pytest.raises(ImageError, match=r"no tissue found in this image \(only background\)"):
        classifier.classify(_image(300, 200, WHITE))


def test_redder_images_score_higher(classifier: Classifier) -> None:
    colours = [(200, 160, 200), PINK, (230, 110, 140), (235, 60, 80)]
    for size in [(50, 50), (200, 150)]:
        scores = [classifier.classify(_image(*size, colour)).p_malignant for colour in colours]
        assert scores == sorted(scores) and scores[-1] - scores[0] > 0.4, scores


def test_top_k_follows_a_small_red_focus(classifier: Classifier) -> None:
    """One red tile among pink tissue raises the image score, but less than a 3-tile focus."""
    base = _image(250, 250, PINK)
    one = base.copy()
    one.paste(_image(50, 50, (235, 60, 80), seed=2), (100, 100))
    three = one.copy()
    three.paste(_image(100, 50, (235, 60, 80), seed=3), (0, 0))
    p_base, p_one, p_three = (classifier.classify(i).p_malignant for i in (base, one, three))
    assert p_base < p_one < p_three


def test_tile_map_round_trip(classifier: Classifier) -> None:
    image = _image(300, 200, WHITE)
    image.paste(_image(120, 100, (230, 110, 140), seed=4), (20, 30))
    tiles = classifier.classify(image).tiles
    assert tiles is not None
    encoded = json.loads(json.dumps(tiles.to_dict()))
    restored = TileMap.from_dict(encoded)
    assert restored == tiles
    np.testing.assert_array_equal(restored.as_grid(), tiles.as_grid())


def test_grid_places_the_shifted_last_column() -> None:
    tiles = TileMap(50, 50, 120, 60, ((70, 10), (0, 0)), (0.9, 0.2), 4)
    assert tiles.grid_axes() == ([0, 50, 70], [0, 10])
    grid = tiles.as_grid()
    assert grid[1, 2] == 0.9 and grid[0, 0] == 0.2
    assert np.isnan(grid).sum() == 4


def test_non_rgb_images_are_accepted(classifier: Classifier) -> None:
    rgba = _image(50, 50, PINK).convert("RGBA")
    grey = _image(50, 50, PINK).convert("L")
    assert isinstance(classifier.classify(rgba), Prediction)
    assert isinstance(classifier.classify(grey), Prediction)


def test_truncated_image_is_an_image_error(tmp_path: Path, classifier: Classifier) -> None:
    path = tmp_path / "cut.png"
    _image(200, 200, PINK).save(path)
    path.write_bytes(path.read_bytes()[:400])
    with Image.open(path) as image, pytest.raises(ImageError, match="could not be decoded"):
        classifier.classify(image)


def test_flipped_byte_is_refused_before_loading(tmp_path: Path) -> None:
    directory = _copy_bundle(tmp_path)
    model = directory / "model.tflite"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(ModelRejected, match="does not match its card"):
        Classifier(ModelBundle.load(directory))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"height": 32, "width": 32}, "input shape (1, 16, 16, 3), the card says (1, 32, 32, 3)"),
        ({"dtype": "uint8"}, "input type int8, the card says uint8"),
    ],
)
def test_card_contract_mismatch_is_refused(tmp_path: Path, change: dict, words: str) -> None:
    bundle = ModelBundle.load(_copy_bundle(tmp_path, **change))
    with pytest.raises(ModelRejected, match="does not fit its card") as caught:
        Classifier(bundle)
    assert words in str(caught.value)


def test_label_count_mismatch_is_refused(tmp_path: Path) -> None:
    directory = _copy_bundle(tmp_path)
    card_path = directory / "card.json"
    data = json.loads(card_path.read_text("utf-8"))
    data["labels"] = ["benign", "malignant", "other"]
    card_path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ModelRejected, match="2 output classes, the card lists 3 labels"):
        Classifier(ModelBundle.load(directory))


@pytest.fixture(scope="session")
def fresh_tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny bundle rebuilt from its generator (needs TensorFlow; skipped without it)."""
    pytest.importorskip("tensorflow")
    script = Path(__file__).parent / "data" / "make_tiny_bundle.py"
    spec = importlib.util.spec_from_file_location("make_tiny_bundle", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_tiny_bundle(tmp_path_factory.mktemp("fresh") / "tiny_bundle")


@pytest.mark.train
def test_generator_rebuilds_an_equivalent_bundle(fresh_tiny_bundle: Path) -> None:
    committed = Classifier(ModelBundle.load(TINY_BUNDLE), num_threads=1)
    fresh = Classifier(ModelBundle.load(fresh_tiny_bundle), num_threads=1)
    for colour in [WHITE, PINK, (230, 110, 140), (235, 60, 80)]:
        image = _image(50, 50, colour)
        assert fresh.classify(image).p_malignant == pytest.approx(
            committed.classify(image).p_malignant, abs=0.02
        )


@pytest.mark.parametrize("normaliser", [MacenkoNormalizer, ReinhardNormalizer])
def test_card_stain_normalisation_reaches_whole_images_and_every_tile(
    tmp_path: Path, classifier: Classifier, normaliser: type
) -> None:
    """The Classifier's answer equals preprocess(..., stain=card's dict) + the backend, per tile."""
    target = synthetic_he(50, 50, seed=2, haematoxylin=2.0, eosin=0.5)
    stain = normaliser().fit(target).to_dict()
    bundle = ModelBundle.load(_copy_bundle(tmp_path, stain_normalization=stain))
    normalising = Classifier(bundle, num_threads=1, batch_size=4)
    backend = select_backend(normalising.backend_name)(bundle.model_path, 1)
    contract = bundle.card.input

    def expected(pixels: np.ndarray) -> np.ndarray:
        batch = preprocess(pixels, contract.size, contract.scaling, stain=stain)[None]
        return backend.predict(batch, contract.scaling)[0]

    patch = synthetic_he(50, 50, seed=1)
    whole = normalising.classify(Image.fromarray(patch))
    assert whole.mode == "whole"
    np.testing.assert_allclose(whole.probabilities, expected(patch), atol=1e-6)
    unnormalised = classifier.classify(Image.fromarray(patch)).p_malignant
    assert abs(whole.p_malignant - unnormalised) > 0.02

    image = synthetic_he(120, 230, seed=5)
    tiles = normalising.classify(Image.fromarray(image)).tiles
    assert tiles is not None and len(tiles.origins) == 5 * 3
    for (x, y), p in zip(tiles.origins, tiles.probabilities, strict=True):
        tile = image[y : y + 50, x : x + 50]
        assert p == pytest.approx(expected(tile)[bundle.card.malignant_index], abs=1e-6)


def test_white_tiles_pass_a_macenko_card_unchanged(tmp_path: Path, classifier: Classifier) -> None:
    stain = MacenkoNormalizer().fit(synthetic_he(50, 50, seed=2)).to_dict()
    bundle = ModelBundle.load(_copy_bundle(tmp_path, stain_normalization=stain))
    normalising = Classifier(bundle, num_threads=1, batch_size=4)
    white = _image(50, 50, WHITE)
    assert normalising.classify(white).probabilities == classifier.classify(white).probabilities
