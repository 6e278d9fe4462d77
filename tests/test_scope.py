"""The scope gate: what is not in-scope H&E tissue is unassessable, with the reason in words."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from appliance.decision import Decision
from appliance.errors import ImageError, ModelRejected
from appliance.inference import Classifier, ModelBundle
from appliance.inference.card import ModelCard
from appliance.pipeline import Analyzer
from appliance.scope.gate import OutOfScope, ScopeGate, ScopeReason
from appliance.scope.measures import he_fraction, hue_degrees, sharpness, tissue_fraction
from appliance.scope.ood import FeatureScope, fit_feature_scope
from appliance.scope.spec import ScopeSpec
from appliance.store import Store
from tests.conftest import DEMO_STICK

PATCHES = sorted(DEMO_STICK.glob("patient-*/*.png"))
REGION = DEMO_STICK / "slide-14191" / "14191_region_x-y-positions.png"


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(ModelBundle.load(Path(__file__).parent.parent / "models" / "idc-mobilenetv2"))


# -- measures -------------------------------------------------------------------------------


def test_hue_of_pure_colours() -> None:
    pixels = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 255]], np.uint8)
    hue, chroma = hue_degrees(pixels)
    assert np.allclose(hue, [0, 120, 240, 300])
    assert np.all(chroma == 255)


def test_he_fraction_tells_stained_tissue_from_green_and_grey() -> None:
    pink_purple = np.zeros((10, 10, 3), np.uint8)
    pink_purple[:5] = (220, 150, 200)
    pink_purple[5:] = (120, 60, 160)
    green = np.full((10, 10, 3), (60, 160, 70), np.uint8)
    grey = np.full((10, 10, 3), (120, 120, 120), np.uint8)
    assert he_fraction(pink_purple, (260.0, 20.0)) == 1.0
    assert he_fraction(green, (260.0, 20.0)) == 0.0
    assert he_fraction(grey, (260.0, 20.0)) == 0.0


def test_blurring_lowers_sharpness() -> None:
    patch = _rgb(PATCHES[0])
    blurred = np.asarray(Image.fromarray(patch).filter(ImageFilter.GaussianBlur(2)))
    assert sharpness(blurred) < sharpness(patch) / 3
    assert sharpness(np.full((20, 20, 3), 200, np.uint8)) == 0.0


def test_glass_is_not_tissue() -> None:
    assert tissue_fraction(np.full((10, 10, 3), 240, np.uint8)) == 0.0


# -- the learned score ------------------------------------------------------------------------


def test_feature_scope_scores_outliers_higher_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(4, 20))
    train = rng.normal(size=(500, 4)) @ basis
    scope = fit_feature_scope(train, components=4)
    inside = scope.scores(rng.normal(size=(100, 4)) @ basis)
    outside = scope.scores(rng.normal(size=(100, 20)) * 3)
    assert np.median(inside) < 3 < np.median(outside)
    data = scope.to_bytes()
    path = tmp_path / "scope.npz"
    path.write_bytes(data)
    loaded = FeatureScope.load(path, hashlib.sha256(data).hexdigest())
    assert np.allclose(loaded.scores(train[:5]), scope.scores(train[:5]))
    with pytest.raises(ModelRejected, match="does not match"):
        FeatureScope.load(path, "0" * 64)


# -- the card's section ---------------------------------------------------------------------


def _spec_dict(shipped: Path) -> dict:
    return json.loads((shipped / "card.json").read_text())["scope"]


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("min_he_fraction", "0.5", "must be a number"),
        ("min_sharpness", None, "must be a number"),
        ("min_tissue_fraction", 1.5, "between"),
        ("he_hue_range", [10, 20, 30], "two hues"),
        ("min_side_px", -3, "between"),
    ],
)
def test_scope_section_is_checked_by_type_and_range(
    shipped_model: Path, key: str, value: object, words: str
) -> None:
    data = {**_spec_dict(shipped_model), key: value}
    with pytest.raises(ModelRejected, match=words):
        ScopeSpec.from_dict(data)


def test_shipped_card_carries_its_scope_and_round_trips(shipped_model: Path) -> None:
    card = ModelBundle.load(shipped_model).card
    assert card.scope is not None and card.scope.features is not None
    assert ModelCard.from_dict(card.to_dict()) == card
    lines = dict(card.scope.describe())
    assert "H&E colour" in lines and "Likeness to training tissue" in lines


def test_a_bundle_whose_scope_file_was_changed_is_refused(shipped_model: Path, tmp_path) -> None:
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(shipped_model, copy)
    scope_file = copy / ModelBundle.load(copy).card.scope.features.file
    data = bytearray(scope_file.read_bytes())
    data[-10] ^= 0xFF
    scope_file.write_bytes(bytes(data))
    with pytest.raises(ModelRejected, match="scope file"):
        Classifier(ModelBundle.load(copy))


# -- the gate's combination rule ----------------------------------------------------------


def test_a_large_image_is_unassessable_when_most_tiles_fail() -> None:
    spec = ScopeSpec(8, 0.1, (260.0, 20.0), 0.5, 0.1, max_rejected_tile_share=0.5)
    gate = ScopeGate(spec)
    mostly_bad = [(ScopeReason.NOT_HE,)] * 3 + [()]
    verdict = gate.judge(mostly_bad)
    assert not verdict.in_scope and verdict.reasons == (ScopeReason.NOT_HE,)
    assert verdict.message().startswith("outside the model's scope in 3 of 4 tissue tiles: not H&E")
    assert gate.judge([(ScopeReason.OUT_OF_FOCUS,)] + [()] * 3).in_scope


# -- the shipped model, end to end ----------------------------------------------------------


def test_real_tissue_passes_the_gate(classifier: Classifier) -> None:
    answered = 0
    for path in PATCHES:
        try:
            classifier.classify(Image.open(path))
            answered += 1
        except OutOfScope:
            pass
    assert answered >= len(PATCHES) - 1, f"{len(PATCHES) - answered} real patches refused"
    prediction = classifier.classify(Image.open(REGION))
    assert prediction.tiles is not None and len(prediction.tiles.probabilities) > 50


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: np.full((50, 50, 3), (60, 160, 70), np.uint8), ScopeReason.NOT_HE),
        (lambda p: np.asarray(Image.fromarray(p).convert("L").convert("RGB")), ScopeReason.NOT_HE),
        (
            lambda p: np.asarray(Image.fromarray(p).filter(ImageFilter.GaussianBlur(3))),
            ScopeReason.OUT_OF_FOCUS,
        ),
        (lambda p: p[:1], ScopeReason.TOO_SMALL),
        (lambda p: np.full((50, 50, 3), 240, np.uint8), ScopeReason.NO_TISSUE),
    ],
    ids=["green", "greyscale", "blurred", "one-pixel-high", "glass"],
)
def test_out_of_scope_inputs_are_stopped_with_their_reason(
    classifier: Classifier, make, reason: ScopeReason
) -> None:
    image = Image.fromarray(np.ascontiguousarray(make(_rgb(PATCHES[0]))))
    with pytest.raises(OutOfScope) as stopped:
        classifier.classify(image)
    assert reason in stopped.value.verdict.reasons
    assert "outside the model's scope" in str(stopped.value)


def test_a_photograph_is_never_answered(classifier: Classifier) -> None:
    photo = Path(np.__file__).parents[1] / "matplotlib" / "mpl-data" / "sample_data"
    photo = photo / "grace_hopper.jpg"
    if not photo.exists():
        pytest.skip("matplotlib's sample photograph is not installed")
    with pytest.raises(OutOfScope):
        classifier.classify(Image.open(photo))


def test_should_stop_ends_a_large_image_between_tiles(classifier: Classifier) -> None:
    calls = []

    def stop() -> str | None:
        calls.append(1)
        return "cancelled" if len(calls) > 1 else None

    with pytest.raises(ImageError, match=r"cancelled \(after"):
        classifier.classify(Image.open(REGION), should_stop=stop)


def test_pipeline_records_out_of_scope_as_unassessable_with_the_reason(
    classifier: Classifier, tmp_path: Path
) -> None:
    stick = tmp_path / "stick" / "case"
    stick.mkdir(parents=True)
    Image.new("RGB", (60, 60), (60, 160, 70)).save(stick / "green.png")
    Image.open(PATCHES[0]).save(stick / "tissue.png")
    with Store.open(tmp_path / "db.sqlite") as store:
        summary = Analyzer(classifier, store, "test").scan(tmp_path / "stick")
    outcomes = {o.path.split("/")[-1]: o for o in summary.outcomes}
    green = outcomes["green.png"]
    assert green.decision is Decision.UNASSESSABLE and green.p_malignant is None
    assert "not H&E-stained tissue" in (green.error or "")
    assert outcomes["tissue.png"].decision is not Decision.UNASSESSABLE


def test_the_time_budget_ends_an_image_with_a_row(classifier: Classifier, tmp_path: Path) -> None:
    stick = tmp_path / "stick" / "slide"
    stick.mkdir(parents=True)
    Image.open(REGION).save(stick / "region.png")
    Image.open(PATCHES[0]).save(stick / "patch.png")
    cancel = threading.Event()
    with Store.open(tmp_path / "db.sqlite") as store:
        analyzer = Analyzer(classifier, store, "test", image_time_budget_s=0.0)
        summary = analyzer.scan(tmp_path / "stick", cancel=cancel)
    assert summary.status == "complete"
    region = next(o for o in summary.outcomes if o.path.endswith("region.png"))
    assert region.decision is Decision.UNASSESSABLE and "stopped after 0 s" in (region.error or "")


# -- the trainer's step ---------------------------------------------------------------------


def test_feature_outputs_leave_the_answers_bit_identical(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from appliance.inference.backends import select_backend
    from appliance.trainer.feature_outputs import add_feature_outputs, check_same_answers

    tiny = Path(__file__).parent / "data" / "tiny_bundle" / "model.tflite"
    extended = tmp_path / "model.tflite"
    added = add_feature_outputs(tiny, extended, fragments=None)
    assert len(added) == 1
    samples = np.random.default_rng(0).integers(-128, 128, (6, 16, 16, 3)).astype(np.int8)
    check_same_answers(tiny, extended, samples)
    backend = select_backend("auto")
    before, after = backend(tiny), backend(extended)
    batch = np.random.default_rng(1).random((5, 16, 16, 3)).astype(np.float32)
    probabilities, features = after.predict_with_features(batch, "zero_to_one")
    assert np.array_equal(probabilities, before.predict(batch, "zero_to_one"))
    assert features.shape == (5, after.feature_size) and after.feature_size == 3
    assert before.feature_size == 0


def test_about_page_shows_the_gate_and_its_measured_rates(shipped_model: Path) -> None:
    pytest.importorskip("PySide6", reason="the About page needs the gui extra")
    from appliance.gui.about_view import scope_rows

    rows = dict(scope_rows(ModelBundle.load(shipped_model).card))
    assert "H&E colour" in rows and "Focus (sharpness)" in rows
    measured = [v for k, v in rows.items() if k.startswith("measured: ordinary photographs")]
    assert measured and "answered benign or malignant" in measured[0]
