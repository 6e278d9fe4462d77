"""``python -m appliance.trainer.calibrate`` on a tiny bundle and a synthetic IDC folder: fitted on
the card's validation patients only, ECE reported on its test patients, the new bundle loads as
the appliance loads it, and a card without validation patients is refused (nothing dishonest
is fitted instead)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.inference import Classifier, ModelBundle
from appliance.trainer import calibrate
from tests.conftest import TINY_BUNDLE

pytest.importorskip("tensorflow")  # writing the bundle goes through the trainer's export


def _idc_folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    for patient in ("101", "102", "103", "104"):
        for label in (0, 1):
            folder = root / patient / str(label)
            folder.mkdir(parents=True)
            for i in range(6):
                base = np.array([200, 120, 170]) if label else np.array([230, 190, 210])
                pixels = np.clip(base + rng.normal(0, 25, (50, 50, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{patient}_idx5_x{i}_y{i}_class{label}.png")


def _bundle(tmp_path: Path, validation: list[str]) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, target)
    card = json.loads((target / "card.json").read_text())
    card["training_data"] = {"test_patients": ["104"], "validation_patients": validation}
    (target / "card.json").write_text(json.dumps(card))
    return target


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_calibrates_an_existing_bundle_on_its_validation_patients(
    tmp_path: Path, method: str
) -> None:
    data = tmp_path / "idc"
    _idc_folder(data)
    source = _bundle(tmp_path, ["102", "103"])
    out = tmp_path / "calibrated"
    section = calibrate.run(
        calibrate.build_parser().parse_args(
            ["--bundle", str(source), "--data", str(data), "--out", str(out), "--method", method]
        )
    )
    assert section["fitted_on"] == "24 patches of 2 validation patients"
    assert 0.0 <= section["ece_after"] <= 1.0 and 0.0 <= section["ece_before"] <= 1.0
    bundle = ModelBundle.load(out)
    assert bundle.card.calibration is not None and bundle.card.calibration.method == method
    before, after = ModelBundle.load(source).card.thresholds, bundle.card.thresholds
    moved = bundle.card.calibration.apply_scores(np.array([before.malignant_at]))[0]
    assert np.clip(moved, 0.01, 0.99) == pytest.approx(after.malignant_at, abs=1e-4)
    image = Image.open(next((data / "104" / "1").glob("*.png")))
    assert 0.0 <= Classifier(bundle).classify(image).p_malignant <= 1.0


def test_a_card_without_validation_patients_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "idc"
    _idc_folder(data)
    source = _bundle(tmp_path, [])
    args = ["--bundle", str(source), "--data", str(data), "--out", str(tmp_path / "x")]
    with pytest.raises(SystemExit, match="no validation patients"):
        calibrate.run(calibrate.build_parser().parse_args(args))
    assert not (tmp_path / "x").exists()
