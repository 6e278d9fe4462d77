"""Full-integer int8 export and the bundle the appliance loads.

The representative set comes from training patients only, so no test or validation image leaks
into calibration. The float-vs-int8 agreement is measured here, with the TFLite interpreter that
ships inside TensorFlow, on the same preprocessed arrays the float model saw.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from appliance.inference.card import ModelCard


def to_int8_tflite(model: tf.keras.Model, representative: np.ndarray) -> bytes:
    """Convert with int8 weights, activations, input and output (no float fallback)."""

    def samples():
        for image in representative:
            yield [image[None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


class Int8Model:
    """The exported int8 model in TensorFlow's TFLite interpreter, fed float inputs that it
    quantises exactly as the appliance's backends do."""

    def __init__(self, tflite: bytes) -> None:
        self._interpreter = tf.lite.Interpreter(model_content=tflite, num_threads=2)
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = 0

    def predict(self, images: np.ndarray, batch: int = 64) -> np.ndarray:
        in_scale, in_zero = self._input["quantization"]
        out_scale, out_zero = self._output["quantization"]
        results = []
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            if len(chunk) != self._batch:
                self._interpreter.resize_tensor_input(self._input["index"], chunk.shape)
                self._interpreter.allocate_tensors()
                self._batch = len(chunk)
            quantised = np.clip(np.round(chunk / in_scale + in_zero), -128, 127).astype(np.int8)
            self._interpreter.set_tensor(self._input["index"], quantised)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output["index"]).astype(np.float32)
            results.append((raw - out_zero) * out_scale)
        return np.concatenate(results)


def agreement(
    float_probs: np.ndarray, int8_probs: np.ndarray, threshold: float, index: int
) -> dict:
    """How far the int8 model is from the float one, on the malignant probability."""
    a, b = float_probs[:, index], int8_probs[:, index]
    diff = np.abs(a - b)
    return {
        "n": len(a),
        "decision_agreement": float(np.mean((a >= threshold) == (b >= threshold))),
        "top1_agreement": float(np.mean(float_probs.argmax(1) == int8_probs.argmax(1))),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "p99_abs_diff": float(np.percentile(diff, 99)),
    }


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_bundle(directory: Path, tflite: bytes, card: ModelCard) -> Path:
    """Write ``model.tflite`` and ``card.json`` into ``directory``; the card carries the hash."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / card.file).write_bytes(tflite)
    if card.sha256 != sha256_bytes(tflite):
        raise ValueError("the card's sha256 does not match the exported model")
    return write_card(directory, card)


def write_card(directory: Path, card: ModelCard) -> Path:
    """Write (or rewrite) ``card.json`` in ``directory``."""
    card_path = directory / "card.json"
    card_path.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=False) + "\n")
    return card_path
