"""The trainer end to end on a tiny generated IDC-like tree: fit → int8 → bundle → appliance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tensorflow", reason="the trainer needs the 'train' extra")

from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from appliance.trainer.cli import main as train_main
from appliance.trainer.data import Sample, load_arrays
from appliance.trainer.export import Int8Model
from appliance.trainer.train import predict_views


def _tiny_idc(root: Path, patients: int = 14, per_class: int = 4) -> None:
    """Pink (non-IDC) and purple, darker (IDC) noisy patches in the IDC layout."""
    rng = np.random.default_rng(0)
    for p in range(patients):
        pid = str(10000 + p)
        for label, colour in ((0, (230, 170, 200)), (1, (120, 60, 150))):
            folder = root / pid / str(label)
            folder.mkdir(parents=True)
            for i in range(per_class):
                noise = rng.integers(-25, 25, (50, 50, 3))
                pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(
                    folder / f"{pid}_idx5_x{i * 50 + 1}_y1_class{label}.png"
                )


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
