"""Invariant 2: the shipped int8 model on the appliance agrees with the trainer's float model.

Both sides read the same demo files through the same ``appliance.preprocess.preprocess`` and average
the same test-time views the card names; the float model runs in Keras (trainer side), the int8
model through the appliance's Classifier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from tests.conftest import DEMO_STICK


def test_int8_on_appliance_matches_float_in_trainer(shipped_model: Path) -> None:
    keras = pytest.importorskip("keras", reason="the float side needs the 'train' extra")
    from appliance.trainer.data import Sample, load_arrays
    from appliance.trainer.evaluation import predict_views

    bundle = ModelBundle.load(shipped_model)
    card = bundle.card
    float_model = keras.models.load_model(shipped_model / "float_model.keras")
    files = sorted(DEMO_STICK.glob("patient-*/*.png"))
    assert len(files) >= 40
    images, _ = load_arrays([Sample(f, 0, "x") for f in files], card.input.size, card.input.scaling)
    p_float = predict_views(
        lambda batch: float_model.predict(batch, verbose=0),
        images,
        card.input.test_time_augmentation,
    )[:, card.malignant_index]
    classifier = Classifier(bundle)
    # The model's own answer on each file, before the scope gate (which may refuse an odd patch:
    # parity is about the numbers, the gate is tested in test_scope.py).
    pixels = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    p_int8 = classifier.features(pixels)[0][:, card.malignant_index]
    point = card.thresholds.operating_point
    agreement = np.mean((p_float >= point) == (p_int8 >= point))
    assert np.mean(np.abs(p_float - p_int8)) < 0.06
    assert agreement >= 0.9, (agreement, np.c_[p_float, p_int8])
