"""Compute per patch of model candidates, as the appliance runs them (issue 13's budget).

``python -m bench.candidates [BUNDLE ...] [--patches N] [--threads T]`` times the appliance's own
:class:`~appliance.inference.classifier.Classifier` scoring real 50 px IDC patches (or, without
``../shared``, seeded random ones: timing does not depend on the pixels) in the batches a scan
uses: preprocessing, every test-time view and every ensemble member included. Beside it:

- **backbone passes per patch**: MACs per patch (the model file's MACs x its views) over the MACs
  of one 96 px MobileNetV2 1.0 backbone, i.e. in "passes of today's size" (1.3.0: 3 members x 8
  views = 24);
- **Pi 4 estimate**: the model's MACs on paper (:mod:`bench.pi`, by op count, 4 threads, the
  published anchor range) times its views.

Default bundles: the shipped model and every ``runs/study/*/card.json`` beside it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from appliance.preprocess import view_count
from bench import pi
from bench.data import SHARED
from bench.inference import ROOT, SHIPPED, Subject, count_macs

STUDY = ROOT / "runs" / "study"
SHIPPED_MEMBERS = 3  # 1.3.0 / 1.4.0: the ensemble's members in one model file


@dataclass(frozen=True)
class CandidateCompute:
    """One bundle's compute per 50 px patch."""

    name: str
    views: int
    macs_per_patch: int
    passes_per_patch: float  # in 96 px MobileNetV2 1.0 backbone passes
    ms_per_patch: float  # median, here, in the appliance, batched as a scan
    pi_ms_per_patch: tuple[float, float]  # paper estimate range, Pi 4, 4 threads


def patches(n: int) -> list[np.ndarray]:
    """``n`` real 50 px IDC patches when ``../shared`` is there, else seeded random ones."""
    folder = SHARED / "data" / "idc-patches"
    files = sorted(folder.rglob("*.png"))[:n] if folder.exists() else []
    if len(files) == n:
        from PIL import Image

        return [np.asarray(Image.open(f).convert("RGB").resize((50, 50))) for f in files]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (50, 50, 3), dtype=np.uint8) for _ in range(n)]


def one_backbone_macs() -> int:
    """MACs of one 96 px MobileNetV2 1.0 pass: the shipped file's over its members."""
    return count_macs(Subject("shipped", SHIPPED / "model.tflite", "shipped")).macs // (
        SHIPPED_MEMBERS
    )


def measure(
    bundle_dir: Path, pixels: list[np.ndarray], threads: int, repeats: int, backbone_macs: int
) -> CandidateCompute:
    bundle = ModelBundle.load(bundle_dir)
    classifier = Classifier(bundle, num_threads=threads)
    views = view_count(bundle.card.input.test_time_augmentation)
    macs = count_macs(Subject(bundle.card.name, bundle.model_path, "candidate")).macs
    batch = max(1, classifier.tiles_per_call)
    classifier.features(pixels[:batch])  # warm-up: allocation and XNNPACK packing
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(pixels), batch):
            classifier.features(pixels[start : start + batch])
        times.append((time.perf_counter() - started) * 1000.0 / len(pixels))
    estimate = pi.estimate(bundle.card.name, macs, None)
    low, high = estimate.by_ops_range_ms
    return CandidateCompute(
        name=f"{bundle.card.name} {bundle.card.version} ({bundle_dir.name})",
        views=views,
        macs_per_patch=macs * views,
        passes_per_patch=macs * views / backbone_macs,
        ms_per_patch=statistics.median(times),
        pi_ms_per_patch=(low * views, high * views),
    )


def render(rows: list[CandidateCompute], threads: int) -> str:
    base = rows[0].ms_per_patch
    lines = [
        f"| model | views | MMACs / patch | backbone passes / patch | int8 ms / patch here"
        f" ({threads} thread{'s' if threads != 1 else ''}) | x first"
        " | Pi 4 ms / patch (paper, 4 threads) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.views} | {row.macs_per_patch / 1e6:.0f} |"
            f" {row.passes_per_patch:.1f} | {row.ms_per_patch:.2f} |"
            f" {row.ms_per_patch / base:.2f} |"
            f" {row.pi_ms_per_patch[0]:.0f}–{row.pi_ms_per_patch[1]:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.candidates", description=__doc__)
    parser.add_argument("bundles", nargs="*", type=Path)
    parser.add_argument("--patches", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    bundles = args.bundles or [SHIPPED, *sorted(p.parent for p in STUDY.glob("*/card.json"))]
    pixels = patches(args.patches)
    backbone = one_backbone_macs()
    rows = [measure(b, pixels, args.threads, args.repeats, backbone) for b in bundles]
    print(render(rows, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
