"""Time every installed TFLite backend on the same int8 models, to keep the registry order honest.

For each backend x model x thread count it prints the import time, the model load time and the
per-image latency (median and p90 over ``--runs`` runs after ``--warmup`` runs), once one image
at a time and once in batches of ``--batch`` (per image), plus the ratio to the fastest backend.

Models: Google's int8 ImageNet MobileNetV2s at 224 from ../shared (when present) and any bundle
given with ``--bundle`` (e.g. ``models/<name>/``). Not a test: run it by hand, on an idle machine::

    python bench/bench_backends.py [--bundle models/idc-mobilenetv2] [--runs 30]

For tflite-runtime (needs numpy < 2), run it from a separate venv with ``PYTHONPATH=<repo>``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.inference.backends import BACKENDS, Backend  # noqa: E402
from appliance.inference.bundle import ModelBundle  # noqa: E402
from appliance.preprocess import preprocess  # noqa: E402

IMAGENET_MODELS = ("mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite")


@dataclass(frozen=True)
class Subject:
    """One model to time: its file, a realistic input batch and the input's scaling."""

    label: str
    path: Path
    images: np.ndarray  # float32 (n, h, w, 3), already preprocessed
    scaling: str


@dataclass(frozen=True)
class Row:
    backend: str
    model: str
    threads: int
    mode: str
    load_ms: float
    median_ms: float
    p90_ms: float


def imagenet_subjects(shared: Path) -> list[Subject]:
    folder = shared / "weights" / "tflite-imagenet"
    if not folder.is_dir():
        print(f"(no {folder}: ImageNet models skipped)")
        return []
    photos = sorted([*folder.glob("*.jpg"), *folder.glob("*.bmp")])
    images = np.stack([preprocess(Image.open(p), (224, 224), "raw") for p in photos])
    return [
        Subject(name.removesuffix(".tflite"), folder / name, images, "raw")
        for name in IMAGENET_MODELS
    ]


def bundle_subject(path: Path, count: int) -> Subject:
    bundle = ModelBundle.load(path)
    contract = bundle.card.input
    rng = np.random.default_rng(0)
    source = contract.tile_size or max(contract.size)
    pixels = rng.integers(0, 256, (count, source, source, 3), dtype=np.uint8)
    images = np.stack([preprocess(p, contract.size, contract.scaling) for p in pixels])
    label = f"{bundle.card.name} {bundle.card.version}"
    return Subject(label, bundle.model_path, images, contract.scaling)


def timed(call, runs: int, warmup: int, per: int) -> tuple[float, float]:
    """Median and p90 of one call, in ms per image (``per`` images per call)."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000.0 / per)
    return statistics.median(samples), float(np.percentile(samples, 90))


def bench_one(
    backend: type[Backend], subject: Subject, threads: int, batch: int, runs: int, warmup: int
) -> list[Row]:
    started = time.perf_counter()
    model = backend(subject.path, num_threads=threads)
    load_ms = (time.perf_counter() - started) * 1000.0
    one = subject.images[:1]
    many = np.resize(subject.images, (batch, *subject.images.shape[1:]))
    rows = []
    median, p90 = timed(lambda: model.predict(one, subject.scaling), runs, warmup, 1)
    rows.append(Row(backend.name, subject.label, threads, "single", load_ms, median, p90))
    median, p90 = timed(lambda: model.predict(many, subject.scaling), max(3, runs // 4), 1, batch)
    mode = f"batch {batch}" + ("" if model._resizable else " (1-by-1)")
    rows.append(Row(backend.name, subject.label, threads, mode, load_ms, median, p90))
    return rows


def report(rows: list[Row]) -> None:
    fastest: dict[tuple[str, int, str], float] = {}
    for row in rows:
        key = (row.model, row.threads, row.mode.split(" (")[0])
        fastest[key] = min(fastest.get(key, float("inf")), row.median_ms)
    header = f"{'backend':15} {'model':36} {'thr':>3} {'mode':18} {'load ms':>8}"
    print(f"\n{header} {'median ms':>9} {'p90 ms':>8} {'x fastest':>9}")
    for row in sorted(rows, key=lambda r: (r.model, r.threads, r.mode, r.median_ms)):
        ratio = row.median_ms / fastest[(row.model, row.threads, row.mode.split(" (")[0])]
        print(
            f"{row.backend:15} {row.model:36} {row.threads:>3} {row.mode:18} {row.load_ms:8.1f}"
            f" {row.median_ms:9.2f} {row.p90_ms:8.2f} {ratio:9.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, action="append", default=[])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load = os.getloadavg()
    print(f"python {platform.python_version()} numpy {np.__version__} on {platform.machine()},")
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} (figures are noisy when it is > 0)")
    subjects = imagenet_subjects(args.shared)
    subjects += [bundle_subject(path, args.batch) for path in args.bundle]
    rows: list[Row] = []
    for backend in BACKENDS:
        started = time.perf_counter()
        try:  # timed before the probe, which would import it first
            package = importlib.import_module(backend.module.split(".")[0])
        except ImportError:
            package = None
        import_ms = (time.perf_counter() - started) * 1000.0
        if package is None or not backend.available():
            print(f"{backend.name}: not installed")
            continue
        version = getattr(package, "__version__", "")
        print(f"{backend.name} {version}: import {import_ms:.0f} ms")
        for subject in subjects:
            for threads in args.threads:
                rows += bench_one(backend, subject, threads, args.batch, args.runs, args.warmup)
    report(rows)


if __name__ == "__main__":
    main()
