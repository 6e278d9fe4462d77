"""TensorFlow's own ``tf.lite.Interpreter``: the last resort, for a workstation that has TF only.

TensorFlow is imported here, lazily, and nowhere else in the runtime: importing it costs seconds
and hundreds of MB, which the Pi cannot spare, so it happens only when this backend is chosen.
Availability is probed with ``find_spec`` for the same reason (no import just to ask).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

from appliance.inference.backends.base import Backend


class TensorFlowBackend(Backend):
    name = "tensorflow"
    module = "tensorflow"

    @classmethod
    def _probe(cls) -> bool:
        try:
            return importlib.util.find_spec(cls.module) is not None
        except (ImportError, ValueError):
            return False

    @staticmethod
    def _make_interpreter(model_path: Path, num_threads: int) -> Any:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter out
        tf = importlib.import_module("tensorflow")
        with warnings.catch_warnings():
            # "tf.lite.Interpreter is deprecated and is scheduled for deletion": we know, and
            # use it only when LiteRT is absent; the warning would only alarm the admin.
            warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter")
            return tf.lite.Interpreter(model_path=str(model_path), num_threads=num_threads)
