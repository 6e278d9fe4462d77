"""ModelBundle.load: a bundle is read, its model file verified, every defect refused in words."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from appliance.errors import ModelRejected
from appliance.inference.bundle import ModelBundle, file_sha256
from appliance.inference.card import ModelCard
from appliance.trainer.card_doc import render
from tests.conftest import SHIPPED_MODEL, TINY_BUNDLE


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """A private copy of the committed tiny bundle, free to damage."""
    target = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, target)
    return target


def _edit_card(directory: Path, **changes: object) -> None:
    card_path = directory / "card.json"
    data = json.loads(card_path.read_text("utf-8"))
    data.update(changes)
    card_path.write_text(json.dumps(data), "utf-8")


def test_loads_from_directory_and_from_card(bundle_dir: Path) -> None:
    by_dir = ModelBundle.load(bundle_dir)
    by_card = ModelBundle.load(bundle_dir / "card.json")
    assert by_dir == by_card
    assert by_dir.directory == bundle_dir.resolve()
    assert by_dir.model_path == (bundle_dir / "model.tflite").resolve()
    assert by_dir.card.name == "tiny-redness"
    expected = hashlib.sha256((bundle_dir / "model.tflite").read_bytes()).hexdigest()
    assert by_dir.card.sha256 == expected == file_sha256(by_dir.model_path)


def test_flipped_byte_is_refused_with_both_hashes(bundle_dir: Path) -> None:
    model = bundle_dir / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    expected = json.loads((bundle_dir / "card.json").read_text("utf-8"))["sha256"]
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ModelRejected) as caught:
        ModelBundle.load(bundle_dir)
    message = str(caught.value)
    assert "tiny-redness" in message
    assert expected[:12] in message and actual[:12] in message
    assert "reinstall the model bundle or restore the file" in message.lower()
    assert "will not run an unverified model" in message


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelRejected, match="does not exist"):
        ModelBundle.load(tmp_path / "nowhere")


def test_missing_card(bundle_dir: Path) -> None:
    (bundle_dir / "card.json").unlink()
    with pytest.raises(ModelRejected, match=r"has no card\.json"):
        ModelBundle.load(bundle_dir)


def test_invalid_json(bundle_dir: Path) -> None:
    (bundle_dir / "card.json").write_text('{"name": "x",', "utf-8")
    with pytest.raises(ModelRejected, match="not valid JSON"):
        ModelBundle.load(bundle_dir)


def test_card_not_an_object(bundle_dir: Path) -> None:
    (bundle_dir / "card.json").write_text("[1, 2]", "utf-8")
    with pytest.raises(ModelRejected, match="not a JSON object"):
        ModelBundle.load(bundle_dir)


def test_incomplete_card_names_the_card(bundle_dir: Path) -> None:
    data = json.loads((bundle_dir / "card.json").read_text("utf-8"))
    del data["labels"]
    (bundle_dir / "card.json").write_text(json.dumps(data), "utf-8")
    with pytest.raises(ModelRejected, match="labels must be a list") as caught:
        ModelBundle.load(bundle_dir)
    assert "card.json" in str(caught.value)


@pytest.mark.parametrize(
    ("section", "key", "value", "words"),
    [
        ("thresholds", "benign_below", "0.3", r"thresholds\.benign_below must be a number"),
        ("thresholds", "malignant_at", None, r"thresholds\.malignant_at must be a number"),
        ("thresholds", "allowed_range", [0.1, 0.5, 0.9], "must be two numbers"),
        ("thresholds", "allowed_range", [0.0, 1.0], "0 < low < high < 1"),
        ("input", "tile_size", -50, r"input\.tile_size must lie between"),
        ("input", "height", 96.5, r"input\.height must be a whole number"),
        ("input", "scaling", "sideways", "expected one of"),
    ],
)
def test_card_values_are_checked_by_type_and_range(
    bundle_dir: Path, section: str, key: str, value: object, words: str
) -> None:
    data = json.loads((bundle_dir / "card.json").read_text("utf-8"))
    data[section][key] = value
    if key == "tile_size":
        data["input"].update(mode="tiled", tile_stride=50)
    (bundle_dir / "card.json").write_text(json.dumps(data), "utf-8")
    with pytest.raises(ModelRejected, match=words):
        ModelBundle.load(bundle_dir)


def test_thresholds_that_make_every_image_malignant_are_refused(bundle_dir: Path) -> None:
    data = json.loads((bundle_dir / "card.json").read_text("utf-8"))
    data["thresholds"].update(benign_below=0, malignant_at=0, allowed_range=[0, 1])
    (bundle_dir / "card.json").write_text(json.dumps(data), "utf-8")
    with pytest.raises(ModelRejected, match="same answer"):
        ModelBundle.load(bundle_dir)


def test_missing_model_file(bundle_dir: Path) -> None:
    (bundle_dir / "model.tflite").unlink()
    with pytest.raises(ModelRejected, match=r"'model\.tflite' of tiny-redness is missing"):
        ModelBundle.load(bundle_dir)


@pytest.mark.parametrize("name", ["../model.tflite", "/etc/hostname"])
def test_file_outside_the_bundle_is_refused(bundle_dir: Path, name: str) -> None:
    shutil.copy(bundle_dir / "model.tflite", bundle_dir.parent / "model.tflite")
    _edit_card(bundle_dir, file=name)
    with pytest.raises(ModelRejected, match="outside its folder"):
        ModelBundle.load(bundle_dir)


def test_model_card_page_is_rendered_from_the_shipped_card() -> None:
    card = json.loads((SHIPPED_MODEL / "card.json").read_text())
    page = render(ModelBundle.load(SHIPPED_MODEL))
    assert card["sha256"] in page and "For research use only" in page
    assert f"{card['metrics']['test_int8']['balanced_accuracy']:.3f}" in page
    assert f"| test | {card['training_data']['counts']['test']['patients']} |" in page


# --- stain normalisation in the card --------------------------------------------------------

_REINHARD = {"method": "reinhard", "mean": [60.0, 20.0, -10.0], "std": [10.0, 5.0, 4.0]}


def _set_stain(directory: Path, stain: object) -> None:
    card_path = directory / "card.json"
    data = json.loads(card_path.read_text("utf-8"))
    data["input"]["stain_normalization"] = stain
    card_path.write_text(json.dumps(data), "utf-8")


def test_cards_without_stain_normalisation_load_unchanged() -> None:
    for directory in (SHIPPED_MODEL, TINY_BUNDLE):
        bundle = ModelBundle.load(directory)  # the sha256 check passes as before
        assert bundle.card.input.stain_normalization is None
        assert bundle.card.input.stain_normalizer() is None
        # Written back without the key, so an appliance older than the field still reads it.
        assert "stain_normalization" not in bundle.card.to_dict()["input"]


def test_stain_normalisation_round_trips_through_the_card(bundle_dir: Path) -> None:
    from appliance.stain import MacenkoNormalizer
    from tests.test_stain import synthetic_he

    stain = MacenkoNormalizer().fit(synthetic_he(50, 50, seed=2)).to_dict()
    _set_stain(bundle_dir, stain)
    card = ModelBundle.load(bundle_dir).card
    assert card.input.stain_normalization == stain
    assert card.input.stain_normalizer().to_dict() == stain
    assert ModelCard.from_dict(json.loads(json.dumps(card.to_dict()))) == card


@pytest.mark.parametrize(
    ("stain", "words"),
    [
        ({"method": "vahadane"}, "unknown method 'vahadane'"),
        ({**_REINHARD, "std": [10.0, "NaN", 4.0]}, "'std' must be three numbers"),
        ({"method": "reinhard", "std": [1.0, 1.0, 1.0]}, "need 'mean'"),
        ("macenko", "expected an object"),
    ],
)
def test_unusable_stain_normalisation_is_refused_in_words(
    bundle_dir: Path, stain: object, words: str
) -> None:
    _set_stain(bundle_dir, stain)
    with pytest.raises(ModelRejected, match=r"input\.stain_normalization is unusable") as caught:
        ModelBundle.load(bundle_dir)
    message = str(caught.value)
    assert words in message and "reinstall the bundle" in message


def test_non_finite_statistics_are_refused(bundle_dir: Path) -> None:
    """JSON has no NaN, but Python's json module writes and reads it; the card must refuse it."""
    _set_stain(bundle_dir, {**_REINHARD, "mean": [float("nan"), 20.0, -10.0]})
    with pytest.raises(ModelRejected, match="not a finite number"):
        ModelBundle.load(bundle_dir)
