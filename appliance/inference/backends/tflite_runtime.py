"""``tflite-runtime``: the older stand-alone interpreter, kept for systems LiteRT does not cover.

Its last wheels (2.14) need numpy < 2 and run int8 models on TFLite's built-in kernels rather
than XNNPACK: measured on x86, ~10x slower than LiteRT on int8 MobileNetV2 at 224, and its
outputs differ from XNNPACK's by rounding (up to 0.08 in a top-1 probability of Google's
per-channel int8 MobileNetV2), hence its place after LiteRT in the registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.inference.backends.base import Backend


class TFLiteRuntimeBackend(Backend):
    name = "tflite-runtime"
    module = "tflite_runtime.interpreter"

    @staticmethod
    def _make_interpreter(model_path: Path, num_threads: int) -> Any:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter(model_path=str(model_path), num_threads=num_threads)
