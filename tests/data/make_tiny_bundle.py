"""Generate ``tests/data/tiny_bundle/``: a real int8 TFLite model small enough to commit.

Why: the runtime tests need a genuine model bundle (a flatbuffer the interpreters load, a card
whose sha256 matches), yet the runtime must be testable without TensorFlow and before any
histology model has been trained. This script is the one place that needs TensorFlow; run it by
hand after changing the model and commit the two files it writes::

    /work/venv/bin/python tests/data/make_tiny_bundle.py [output-dir]

The model is a 2-class classifier ("benign", "malignant") on 16x16 RGB input scaled to [0, 1]:
global average pooling, then a dense layer with fixed weights and a softmax, so

    p_malignant = sigmoid(REDNESS_GAIN * (mean R - (mean G + mean B) / 2) + BIAS)

A white tile scores ~0.12, a pink H&E-like tile ~0.5 and a pure red one ~1.0; tests can therefore
check outputs (monotonic in redness) without hard-coding them. It is exported full-integer
(int8 input, weights, activations and output) like the shipped models.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from appliance.inference.card import InputContract, ModelCard
from appliance.values import Thresholds

SIZE = 16
REDNESS_GAIN = 8.0
BIAS = -2.0
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "tiny_bundle"


def build_keras_model():
    """The float model with its weights set by hand (no training, so it is reproducible)."""
    import tensorflow as tf

    inputs = tf.keras.Input((SIZE, SIZE, 3))
    pooled = tf.keras.layers.GlobalAveragePooling2D()(inputs)
    dense = tf.keras.layers.Dense(2, activation="softmax")
    outputs = dense(pooled)
    model = tf.keras.Model(inputs, outputs)
    kernel = np.zeros((3, 2), np.float32)
    kernel[:, 1] = [REDNESS_GAIN, -REDNESS_GAIN / 2, -REDNESS_GAIN / 2]
    dense.set_weights([kernel, np.array([0.0, BIAS], np.float32)])
    return model


def representative_images(count: int = 200) -> np.ndarray:
    """Flat colours plus noise spanning white, pink, purple and red, scaled to [0, 1]."""
    rng = np.random.default_rng(0)
    colours = rng.uniform(0.0, 1.0, (count, 1, 1, 3))
    noise = rng.normal(0.0, 0.05, (count, SIZE, SIZE, 3))
    return np.clip(colours + noise, 0.0, 1.0).astype(np.float32)


def convert_int8(model) -> bytes:
    """The trainer's own int8 export, so the tiny bundle is made exactly like a real one."""
    from appliance.trainer.export import to_int8_tflite

    with warnings.catch_warnings():
        # The converter asks for input statistics it does not need with a representative set.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return to_int8_tflite(model, representative_images())


def make_card(tflite: bytes) -> ModelCard:
    return ModelCard(
        name="tiny-redness",
        version="1",
        file="model.tflite",
        sha256=hashlib.sha256(tflite).hexdigest(),
        labels=("benign", "malignant"),
        malignant_label="malignant",
        input=InputContract(
            height=SIZE,
            width=SIZE,
            dtype="int8",
            scaling="zero_to_one",
            mode="tiled",
            tile_size=50,
            tile_stride=50,
            min_tissue_fraction=0.5,
        ),
        thresholds=Thresholds(operating_point=0.5, benign_below=0.35, malignant_at=0.65),
        provenance={"generator": "tests/data/make_tiny_bundle.py"},
        intended_use="Test fixture only: scores redness, not histology.",
    )


def write_tiny_bundle(directory: Path) -> Path:
    """Build, convert and write ``model.tflite`` + ``card.json`` into ``directory``."""
    tflite = convert_int8(build_keras_model())
    card = make_card(tflite)
    ModelCard.from_dict(card.to_dict())  # the card must pass the appliance's own validation
    directory.mkdir(parents=True, exist_ok=True)
    (directory / card.file).write_bytes(tflite)
    (directory / "card.json").write_text(json.dumps(card.to_dict(), indent=2) + "\n", "utf-8")
    return directory


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    written = write_tiny_bundle(target)
    print(f"wrote {written} ({(written / 'model.tflite').stat().st_size} bytes of model)")
