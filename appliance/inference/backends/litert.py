"""LiteRT (``ai-edge-litert``): Google's current TFLite interpreter, and the fastest one here.

Its int8 kernels go through XNNPACK, which is why it is first in the registry (see
``python -m bench``). Wheels exist for x86_64 and aarch64 (the Pi 4 with a 64-bit OS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.inference.backends.base import Backend


class LiteRTBackend(Backend):
    name = "litert"
    module = "ai_edge_litert.interpreter"

    @staticmethod
    def _make_interpreter(model_path: Path, num_threads: int) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter(model_path=str(model_path), num_threads=num_threads)
