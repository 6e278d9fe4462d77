"""Build each seed preset's architecture and export it to int8 with the trainer's own exporter.

Latency does not depend on the weights, so each preset is built with random weights at its
paper's input size and calibrated on a few random images: the file has the operators, shapes and
int8 kernels the trained export would have. Files are cached under ``build/bench/presets/`` (the
name carries the input size), so only the first run pays for TensorFlow's converter.

Run by :mod:`bench.inference` as a subprocess (it imports TensorFlow; the parent never does)::

    python -m bench.presets_export build/bench/presets [name ...]

Prints one JSON object: preset name -> {"file", "input_size", "same_as"}.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CALIBRATION_IMAGES = 4


def export_all(folder: Path, names: list[str]) -> dict[str, dict]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from appliance.trainer.export import to_int8_tflite
    from appliance.trainer.presets import PRESETS

    folder.mkdir(parents=True, exist_ok=True)
    done: dict[tuple, str] = {}
    out: dict[str, dict] = {}
    for name in names or list(PRESETS):
        preset = PRESETS[name]
        height, width = preset.input_size
        # Two presets that differ only in their training recipe share one architecture.
        key = (preset.builder, preset.input_size, preset.alpha)
        path = folder / f"{name}-{height}x{width}.tflite"
        same_as = done.get(key)
        if same_as is not None:
            path = folder / f"{same_as}-{height}x{width}.tflite"
        elif not path.exists():
            model, _ = preset.build()
            rng = np.random.default_rng(0)
            low = -1.0 if preset.scaling == "minus_one_to_one" else 0.0
            calibration = rng.uniform(low, 1.0, (CALIBRATION_IMAGES, height, width, 3))
            data = to_int8_tflite(model, calibration.astype(np.float32))
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(path)
            del model
        done.setdefault(key, name)
        out[name] = {"file": str(path), "input_size": [height, width], "same_as": same_as}
        print(f"{name}: {path.name}", file=sys.stderr, flush=True)
    return out


def main() -> int:
    folder = Path(sys.argv[1])
    print(json.dumps(export_all(folder, sys.argv[2:])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
