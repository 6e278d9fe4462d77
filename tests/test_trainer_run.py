"""The trainer end to end on a tiny generated IDC-like tree: fit → int8 → bundle → appliance."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import tiny_idc

pytest.importorskip("tensorflow", reason="the trainer needs the 'train' extra")

from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from appliance.trainer.card_doc import render as render_card
from appliance.trainer.cli import main as train_main
from appliance.trainer.data import Sample, load_arrays
from appliance.trainer.evaluation import predict_views
from appliance.trainer.export import Int8Model
from appliance.trainer.study_doc import render as render_study
from appliance.trainer.study_doc import render_breakhis


def _tiny_idc(root: Path, patients: int = 14, per_class: int = 4) -> None:
    tiny_idc(root, patients, per_class)


@pytest.mark.train
def test_train_export_and_load_in_the_appliance(tmp_path: Path) -> None:
    data, out = tmp_path / "idc", tmp_path / "bundle"
    _tiny_idc(data)
    common = ["--data", str(data), "--alpha", "0.35", "--input-size", "32", "--batch-size", "16"]
    assert (
        train_main(
            [
                *common,
                "--output",
                str(out),
                "--head-epochs",
                "2",
                "--finetune-epochs",
                "1",
                "--representative",
                "20",
            ]
        )
        == 0
    )
    card = json.loads((out / "card.json").read_text())
    assert card["input"]["test_time_augmentation"] in ("none", "dihedral8")
    test = set(card["training_data"]["test_patients"])
    assert test and test.isdisjoint(card["training_data"]["validation_patients"])
    assert card["metrics"]["test_int8"]["n"] == 8 * len(test)
    # The appliance's runtime gives the trainer's own int8 numbers for the same file.
    bundle = ModelBundle.load(out)
    files = sorted(data.rglob("*.png"))[:6]
    images, _ = load_arrays([Sample(f, 0, "x") for f in files], (32, 32), "minus_one_to_one")
    int8 = Int8Model(bundle.model_path.read_bytes())
    mode = card["input"]["test_time_augmentation"]
    trainer_p = predict_views(int8.predict, images, mode)[:, 1]
    classifier = Classifier(bundle)
    appliance_p = [classifier.classify(Image.open(f)).p_malignant for f in files]
    np.testing.assert_allclose(appliance_p, trainer_p, atol=1e-6)

    # Resume: export and evaluate the same float model again without fitting.
    again = tmp_path / "again"
    assert (
        train_main(
            [
                *common,
                "--output",
                str(again),
                "--from-float",
                str(out),
                "--test-time-augmentation",
                "none",
                "--representative",
                "20",
            ]
        )
        == 0
    )
    resumed = json.loads((again / "card.json").read_text())
    assert resumed["provenance"]["resumed_from"] == str(out)
    assert resumed["input"]["test_time_augmentation"] == "none"


# A run small enough for CI: 32 px, one epoch from scratch, 10 calibration images.
TINY_RUN = "--input-size 32 --head-epochs 0 --epochs 1 --batch-size 16 --representative 10"
NO_EXTRAS = "--test-time-augmentation none --no-plots"


def _train(data: Path, out: Path, options: str) -> int:
    """The trainer's command line on ``data`` into ``out``; ``options`` as shell words."""
    return train_main(["--data", str(data), "--output", str(out), *shlex.split(options)])


@pytest.mark.train
def test_kfold_writes_one_bundle_per_fold_and_a_summary_and_repeats_from_config(
    tmp_path: Path,
) -> None:
    data, out = tmp_path / "idc", tmp_path / "cv"
    _tiny_idc(data, patients=10, per_class=3)
    tiny = "--input-size 32 --batch-size 16"
    assert (
        _train(
            data,
            out,
            f"--preset wrn-28-2 --epochs 1 --kfold 2 --test-time-augmentation none {tiny}",
        )
        == 0
    )
    summary = json.loads((out / "cv-summary.json").read_text())
    assert summary["folds_done"] == [1, 2] and summary["pretrained"] is False
    assert summary["mean_sd"]["test_int8.balanced_accuracy"]["n"] == 2
    cards = [json.loads((out / f"fold-{k}" / "card.json").read_text()) for k in (1, 2)]
    tests = [set(c["training_data"]["test_patients"]) for c in cards]
    assert tests[0].isdisjoint(tests[1]) and len(tests[0] | tests[1]) == 10
    for card in cards:  # validation patients come from the other fold, never the test one
        assert set(card["training_data"]["validation_patients"]).isdisjoint(
            card["training_data"]["test_patients"]
        )
        assert card["provenance"]["preset"] == "wrn-28-2"
        assert card["provenance"]["pretrained_weights"] == "none (from scratch)"
    for plot in ("roc.png", "confusion_int8.png", "learning_curves.png"):
        assert (out / "fold-1" / plot).stat().st_size > 0
    assert (out / "fold-1" / "checkpoints" / "train.done.weights.h5").exists()
    assert ModelBundle.load(out / "fold-2").card.input.height == 32
    # The study's tables read the summary: the row says how many folds stand behind it.
    tables = render_study(tmp_path, latency=True)
    assert "| cv | scratch | 2/2 |" in tables and "32x32" in tables

    # Resuming a finished cross-validation keeps the folds; --config repeats one fold's run.
    before = (out / "fold-1" / "model.tflite").read_bytes()
    assert _train(data, out, f"--preset wrn-28-2 --epochs 1 --kfold 2 --resume {tiny}") == 0
    assert (out / "fold-1" / "model.tflite").read_bytes() == before
    again = tmp_path / "again"
    assert (
        train_main(["--config", str(out / "fold-1" / "config.json"), "--output", str(again)]) == 0
    )
    repeated = json.loads((again / "card.json").read_text())
    assert repeated["training_data"]["test_patients"] == cards[0]["training_data"]["test_patients"]
    assert repeated["provenance"]["config"]["fold"] == 1


@pytest.mark.train
def test_image_wise_split_runs_only_by_name_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "idc"
    _tiny_idc(data, patients=6, per_class=3)
    with pytest.warns(UserWarning, match="patients"):
        assert (
            _train(data, tmp_path / "iw", f"--image-wise --alpha 0.35 {TINY_RUN} {NO_EXTRAS}") == 0
        )
    card = json.loads((tmp_path / "iw" / "card.json").read_text())
    assert "IMAGE-WISE" in card["metrics"]["unit"] and "leaking" in card["metrics"]["split"]
    test = set(card["training_data"]["test_patients"])
    assert test & set(card["training_data"]["validation_patients"])  # the leak, visible


@pytest.mark.train
def test_breakhis_sample_tree_trains_end_to_end_with_per_magnification_metrics(
    tmp_path: Path,
) -> None:
    from appliance.trainer.loaders import arrange_breakhis_tree
    from tests.conftest import shared_path

    tree = arrange_breakhis_tree(shared_path("data", "breakhis-samples"), tmp_path)
    out = tmp_path / "breakhis" / "mobilenetv3small"
    assert (
        _train(
            tree,
            out,
            f"--layout breakhis --preset mobilenetv3small --split 0.6 0.2 0.2 {TINY_RUN}"
            f" {NO_EXTRAS}",
        )
        == 0
    )
    card = json.loads((out / "card.json").read_text())
    assert card["labels"] == ["benign", "malignant"] and card["input"]["mode"] == "whole"
    assert card["metrics"]["test_int8_per_magnification"]
    assert (
        sum(m["n"] for m in card["metrics"]["test_int8_per_magnification"].values())
        == (card["metrics"]["test_int8"]["n"])
    )
    # The appliance classifies a whole BreakHis image with the bundle.
    image = next(tree.rglob("*.png"))
    result = Classifier(ModelBundle.load(out)).classify(Image.open(image))
    assert 0.0 <= result.p_malignant <= 1.0
    assert "| mobilenetv3small | " in render_breakhis(tmp_path)  # the study's BreakHis table


def test_cli_help_names_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.trainer.presets import PRESETS

    with pytest.raises(SystemExit):
        train_main(["--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in PRESETS)


@pytest.mark.train
def test_threshold_folds_choose_the_operating_point_out_of_fold_then_fit_on_everyone(
    tmp_path: Path,
) -> None:
    data, out = tmp_path / "idc", tmp_path / "bundle"
    _tiny_idc(data, patients=12, per_class=3)
    assert _train(data, out, f"--alpha 0.35 --threshold-folds 2 --no-plots {TINY_RUN}") == 0
    card = json.loads((out / "card.json").read_text())
    counts = card["training_data"]["counts"]
    assert counts["validation"]["images"] == 0  # the final model saw every development patient
    assert card["metrics"]["thresholds_chosen_on"].startswith("out-of-fold")
    # Every development image was scored once, by the fold model that did not see its patient.
    assert card["metrics"]["validation_int8"]["n"] == counts["train"]["images"]
    assert (out / "threshold-folds" / "fold-2" / "checkpoints").is_dir()
    test_patients = set(card["training_data"]["test_patients"])
    assert test_patients and counts["train"]["patients"] + len(test_patients) == 12


@pytest.mark.train
def test_stain_normalisation_travels_in_the_card_and_the_appliance_applies_it(
    tmp_path: Path,
) -> None:
    data, out = tmp_path / "idc", tmp_path / "bundle"
    _tiny_idc(data, patients=8, per_class=3)
    assert _train(data, out, f"--alpha 0.35 --stain-normalize reinhard {TINY_RUN} {NO_EXTRAS}") == 0
    bundle = ModelBundle.load(out)
    stain = bundle.card.input.stain_normalization
    assert stain["method"] == "reinhard"
    files = sorted(data.rglob("*.png"))[:4]
    images, _ = load_arrays(
        [Sample(f, 0, "x") for f in files], (32, 32), "minus_one_to_one", stain=stain
    )
    trainer_p = Int8Model(bundle.model_path.read_bytes()).predict(images)[:, 1]
    appliance_p = [Classifier(bundle).classify(Image.open(f)).p_malignant for f in files]
    np.testing.assert_allclose(appliance_p, trainer_p, atol=1e-6)
    # Without the normalisation the inputs differ: the card's entry is not decoration.
    plain, _ = load_arrays([Sample(f, 0, "x") for f in files], (32, 32), "minus_one_to_one")
    assert not np.allclose(plain, images, atol=0.02)


@pytest.mark.train
def test_an_ensemble_exports_one_model_that_averages_its_members(tmp_path: Path) -> None:
    data, out = tmp_path / "idc", tmp_path / "bundle"
    _tiny_idc(data, patients=10, per_class=3)
    assert _train(data, out, f"--alpha 0.35 --ensemble 2 {NO_EXTRAS} {TINY_RUN}") == 0
    card = json.loads((out / "card.json").read_text())
    assert card["provenance"]["ensemble"] == {"members": 2, "seeds": [42, 43]}
    assert card["provenance"]["backbone"].startswith("ensemble of 2 x ")
    assert "Ensemble: 2 members of this recipe on the same patients, seeds 42, 43" in render_card(
        ModelBundle.load(out)
    )
    # The exported float model's output is the mean of the two members' own outputs.
    import keras

    members = [
        keras.models.load_model(out / "members" / f"member-{k}" / "member.keras", compile=False)
        for k in (1, 2)
    ]
    whole = keras.models.load_model(out / "float_model.keras", compile=False)
    images = np.random.default_rng(1).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    expected = np.mean([m.predict(images, verbose=0) for m in members], axis=0)
    assert np.allclose(whole.predict(images, verbose=0), expected, atol=1e-5)
    assert not np.allclose(*(m.predict(images, verbose=0) for m in members))  # seeds differ
    # One .tflite as always: the appliance loads and runs it like a single model.
    patch = Image.fromarray(np.full((50, 50, 3), 120, np.uint8))
    assert 0.0 <= Classifier(ModelBundle.load(out)).classify(patch).p_malignant <= 1.0
    # Resuming re-uses every finished member instead of fitting it again.
    assert _train(data, out, f"--alpha 0.35 --ensemble 2 --resume {NO_EXTRAS} {TINY_RUN}") == 0
    resumed = keras.models.load_model(out / "float_model.keras", compile=False)
    assert np.allclose(resumed.predict(images, verbose=0), expected, atol=1e-5)


@pytest.mark.train
def test_a_calibrated_run_writes_a_card_the_appliance_loads_and_applies(tmp_path: Path) -> None:
    """--calibration: fitted where the thresholds are chosen, carried in the card, applied by
    the appliance (not refused as "calibrated metrics without a calibration section")."""

    data, out = tmp_path / "idc", tmp_path / "bundle"
    _tiny_idc(data, patients=10, per_class=3)
    options = f"--alpha 0.35 --calibration temperature {TINY_RUN} {NO_EXTRAS}"
    assert _train(data, out, options) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["calibration"]["method"] == "temperature"
    bundle = ModelBundle.load(out)
    assert bundle.card.calibration is not None
    Classifier(bundle)  # loads and runs with its calibration


@pytest.mark.train
def test_a_rotate4_run_with_the_decided_band_records_its_compute_and_three_way_figures(
    tmp_path: Path,
) -> None:
    """Issue 13's knobs end to end: four rotations (4 passes per patch), the band chosen by the
    "decided" rule, the int8/float three-way agreement and the test scores kept on disk."""
    data, out = tmp_path / "idc", tmp_path / "bundle"
    _tiny_idc(data, patients=10, per_class=3)
    options = (
        f"--alpha 0.35 {TINY_RUN} --no-plots --test-time-augmentation rotate4"
        " --band-rule decided --decided-sensitivity 0.5 --decided-balanced-accuracy 0.5"
    )
    assert _train(data, out, options) == 0
    card = json.loads((out / "card.json").read_text())
    metrics_ = card["metrics"]
    assert card["input"]["test_time_augmentation"] == "rotate4"
    assert metrics_["passes_per_patch"] == 4
    assert card["provenance"]["config"]["band_rule"] == "decided"
    agreement = metrics_["float_vs_int8_three_way"]["decision_agreement"]
    assert 0.0 <= agreement <= 1.0
    assert 0.0 <= metrics_["validation_int8_three_way"]["indeterminate_fraction"] <= 1.0
    scores = np.load(out / "test_scores.npz")
    assert len(scores["labels"]) == len(scores["int8"]) == metrics_["test_int8"]["n"]
    t = card["thresholds"]
    assert t["benign_below"] <= t["operating_point"] <= t["malignant_at"]
    patch = Image.fromarray(np.full((50, 50, 3), 120, np.uint8))
    assert 0.0 <= Classifier(ModelBundle.load(out)).classify(patch).p_malignant <= 1.0
