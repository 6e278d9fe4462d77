"""Time one interpreter on .tflite files: the tiny runner every interpreter environment can run.

Deliberately standalone (numpy and the interpreter only, no ``appliance`` import): tflite-runtime
2.14 needs numpy < 2 and so lives in its own venv, where the appliance cannot be imported. The
parent (:mod:`bench.inference`) runs this file with that venv's python, or with the dev venv's for
LiteRT and ``tf.lite``, and reads one JSON document from stdout::

    python bench/runner.py --interpreter litert --threads 1 2 --runs 30 --warmup 5 a.tflite b.tflite

One "pass" is one ``invoke()`` of the model at its own input shape (batch 1), on a fixed random
input of the right dtype: latency does not depend on the pixel values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def interpreter_class(name: str):
    """``(Interpreter class, version)`` of ``litert``, ``tflite-runtime`` or ``tensorflow``."""
    if name == "litert":
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, getattr(ai_edge_litert, "__version__", "")
    if name == "tflite-runtime":
        import tflite_runtime
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, getattr(tflite_runtime, "__version__", "")
    if name == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        return tf.lite.Interpreter, tf.__version__
    raise SystemExit(f"unknown interpreter {name!r}")


def time_model(cls, path: str, threads: int, runs: int, warmup: int, budget_s: float) -> dict:
    """Load time and per-pass samples (ms) of one model at one thread count; sampling stops
    early once ``budget_s`` is spent and 5 samples are in (a 10 GMAC model on a slow
    interpreter would otherwise take minutes per row)."""
    started = time.perf_counter()
    interpreter = cls(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    load_ms = (time.perf_counter() - started) * 1000.0
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max + 1, detail["shape"], dtype=dtype)
    else:
        data = rng.standard_normal(detail["shape"]).astype(dtype)
    interpreter.set_tensor(detail["index"], data)
    for _ in range(warmup):
        interpreter.invoke()
        if time.perf_counter() - started > budget_s:
            break
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(runs):
        started = time.perf_counter()
        interpreter.invoke()
        samples.append((time.perf_counter() - started) * 1000.0)
        if len(samples) >= 5 and time.perf_counter() > deadline:
            break
    return {
        "model": path,
        "threads": threads,
        "load_ms": load_ms,
        "samples_ms": samples,
        "input_shape": [int(d) for d in detail["shape"]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interpreter", required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=10.0)
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        cls, version = interpreter_class(args.interpreter)
    except ImportError as exc:
        json.dump({"interpreter": args.interpreter, "error": f"not installed: {exc}"}, sys.stdout)
        return 0
    import_ms = (time.perf_counter() - started) * 1000.0
    rows = []
    for path in args.models:
        for threads in args.threads:
            try:
                rows.append(time_model(cls, path, threads, args.runs, args.warmup, args.budget_s))
            except (RuntimeError, ValueError) as exc:
                rows.append({"model": path, "threads": threads, "error": str(exc)})
    json.dump(
        {
            "interpreter": args.interpreter,
            "version": version,
            "numpy": np.__version__,
            "import_ms": import_ms,
            "rows": rows,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
