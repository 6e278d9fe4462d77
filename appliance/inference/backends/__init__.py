"""The TFLite interpreters the appliance can run on, fastest first, and the choice between them.

The order is measured, not assumed: ``python -m bench --skip e2e storage`` times each
installed backend on the same int8 models (int8 MobileNetV2 at 224 on x86: LiteRT ~3 ms vs
tflite-runtime ~76 ms on an idle machine; 10-20 ms vs 110-280 ms on a busy 2-core one; the
shipped model at 1 thread: 1 : 34, docs/performance.md). TensorFlow's interpreter is as fast as
LiteRT (same XNNPACK kernels) but costs seconds and hundreds of MB to import, so it comes last.
"""

from __future__ import annotations

from appliance.errors import BackendUnavailable
from appliance.inference.backends.base import Backend
from appliance.inference.backends.litert import LiteRTBackend
from appliance.inference.backends.tensorflow import TensorFlowBackend
from appliance.inference.backends.tflite_runtime import TFLiteRuntimeBackend

BACKENDS: tuple[type[Backend], ...] = (LiteRTBackend, TFLiteRuntimeBackend, TensorFlowBackend)

__all__ = [
    "BACKENDS",
    "Backend",
    "LiteRTBackend",
    "TFLiteRuntimeBackend",
    "TensorFlowBackend",
    "available_backends",
    "select_backend",
]


def available_backends() -> list[str]:
    """Names of the installed backends, fastest first."""
    return [backend.name for backend in BACKENDS if backend.available()]


def select_backend(preference: str = "auto") -> type[Backend]:
    """The backend class to use: ``"auto"`` is the fastest installed one, else the one named."""
    wanted = preference.strip().lower().replace("_", "-")
    if wanted == "auto":
        for backend in BACKENDS:
            if backend.available():
                return backend
        raise BackendUnavailable("no TFLite interpreter is installed; install ai-edge-litert")
    by_name = {backend.name: backend for backend in BACKENDS}
    if wanted not in by_name:
        raise BackendUnavailable(
            f"unknown interpreter {preference!r}; choose one of: auto, {', '.join(by_name)}"
        )
    backend = by_name[wanted]
    if not backend.available():
        installed = ", ".join(available_backends()) or "none"
        raise BackendUnavailable(
            f"the '{backend.name}' interpreter is not installed; installed: {installed}"
        )
    return backend
