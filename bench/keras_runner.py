"""Time the float Keras model (what a user without the int8 export would run), one pass at a time.

Run by :mod:`bench.inference` as a subprocess per thread count, because TensorFlow's thread pools
are fixed once it has started::

    python -m bench.keras_runner models/idc-mobilenetv2/float_model.keras --threads 1 --runs 20

Prints one JSON object: load time and per-pass samples (ms) at batch 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    started = time.perf_counter()
    model = keras.saving.load_model(args.model, compile=False)
    load_ms = (time.perf_counter() - started) * 1000.0
    shape = (1, *model.input_shape[1:])
    data = tf.constant(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
    # Graph mode (what ``model.predict`` runs): the fair best case; eager calls cost more.
    call = tf.function(lambda x: model(x, training=False))
    for _ in range(args.warmup):
        call(data)
    samples = []
    for _ in range(args.runs):
        started = time.perf_counter()
        call(data)
        samples.append((time.perf_counter() - started) * 1000.0)
    json.dump(
        {
            "interpreter": "keras float32",
            "version": f"keras {keras.__version__}, tensorflow {tf.__version__}",
            "rows": [
                {
                    "model": args.model,
                    "threads": args.threads,
                    "load_ms": load_ms,
                    "samples_ms": samples,
                    "input_shape": list(shape),
                }
            ],
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
