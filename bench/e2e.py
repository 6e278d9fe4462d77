"""End to end: one scan of a built stick through the public API, in a process of its own.

Each case runs ``python -m bench.e2e <stick> ...`` so its peak RSS (``ru_maxrss``) is its own. The
child loads the bundle into a :class:`~appliance.inference.Classifier` (the backend ``auto``
picks, or the one named), scans the stick with :meth:`Analyzer.scan` into a fresh database, then
measures the **inference-only floor** in the same process: the same model and the same views
(the card's test-time augmentation), one bare ``predict`` of one image's (or tile's) views at a
time, repeated for every unit the scan fed the model. ``ratio to floor`` = floor / wall: 1.0
means the scan costs nothing but inference; the issue's target is >= 0.9.

A region's units are the tiles the model scored (tissue tiles: from the stored tile map or the
scan's tile progress), fed ``Classifier.tiles_per_call`` at a time as the scan feeds them; a
patch stick's units are its images, one per call. The floor is timed on up to
``--floor-units`` units and scaled up.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "idc-mobilenetv2"


@dataclass(frozen=True)
class ScanResult:
    """One end-to-end case, as the child reports it."""

    case: str  # "stick 1000" or "region 16 MP"
    kind: str  # "stick" or "region"
    backend: str
    threads: int
    images: int
    ok: int
    units: int  # images (stick) or tissue tiles (region) that reached the model
    wall_s: float
    floor_s: float
    ratio_to_floor: float
    units_per_s: float
    peak_rss_mb: float
    status: str
    floor_units_timed: int
    # CPU seconds (user + system, every thread of the child) of the scan and of the floor: less
    # sensitive than wall time to other work on a shared machine. cpu ratio = floor / scan.
    cpu_s: float = float("nan")
    floor_cpu_s: float = float("nan")
    cpu_ratio_to_floor: float = float("nan")


def tiles_scored(rows, progress_tiles: int) -> int:
    """Tiles the model scored in a scan: from the stored tile maps (typed or, in older stores,
    dicts), or the largest tile count progress reported (an image refused as out of scope
    keeps no map)."""
    stored = 0
    for row in rows:
        tiles = row.tiles
        if tiles is None:
            continue
        if isinstance(tiles, dict):
            stored += len(tiles.get("probabilities", ())) + len(tiles.get("out_of_scope", ()))
        else:
            stored += len(tiles.probabilities) + len(tiles.out_of_scope)
    return max(stored, progress_tiles)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def floor_seconds(classifier, threads: int, sample: Path, units: int, timed: int, per_call: int):
    """Seconds a bare loop of the interpreter needs for ``units`` inputs scored ``per_call`` at
    a time with the card's views, timed on ``timed`` of them and scaled up. Uses
    :meth:`Classifier.inference_floor` when the classifier has it (the pipeline's own batching),
    else one image's views per call through the backend."""
    timed = max(1, min(units, timed))
    if hasattr(classifier, "inference_floor"):
        per_call = max(1, per_call)
        timed = max(per_call, timed // per_call * per_call)
        cpu = cpu_seconds()
        wall = classifier.inference_floor(timed, per_call)
        return wall / timed * units, (cpu_seconds() - cpu) / timed * units, timed
    import numpy as np
    from PIL import Image

    from appliance.inference.backends import select_backend
    from appliance.preprocess import augmented_views, preprocess

    bundle = classifier.bundle
    contract = bundle.card.input
    backend = select_backend(classifier.backend_name)(bundle.model_path, threads)
    with Image.open(sample) as image:
        pixels = np.asarray(image.convert("RGB"))
    size = int(contract.tile_size or max(contract.size))
    one = preprocess(pixels[:size, :size], contract.size, contract.scaling)[None]
    views = augmented_views(one.astype(np.float32), contract.test_time_augmentation)
    for _ in range(3):
        backend.predict_with_features(views, contract.scaling)
    started, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(timed):
        backend.predict_with_features(views, contract.scaling)
    wall = time.perf_counter() - started
    return wall / timed * units, (cpu_seconds() - cpu) / timed * units, timed


def run_child(args: argparse.Namespace) -> ScanResult:
    from appliance.inference import Classifier, ModelBundle
    from appliance.pipeline import Analyzer
    from appliance.store import Store

    stick = Path(args.stick)
    bundle = ModelBundle.load(Path(args.model))
    classifier = Classifier(bundle, backend=args.backend, num_threads=args.threads)
    files = sorted(p for p in stick.rglob("*") if p.is_file() and not p.name.startswith("."))
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "bench.db") as store:
        analyzer = Analyzer(classifier, store, "bench", image_time_budget_s=math.inf)
        tiles_seen = [0]

        def on_progress(progress) -> None:
            tiles_seen[0] = max(tiles_seen[0], getattr(progress, "tiles_done", 0))

        started, cpu = time.perf_counter(), cpu_seconds()
        summary = analyzer.scan(stick, on_progress=on_progress)
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        # The scan's own peak: read before this child loads every stored row (with thumbnails)
        # to count tiles, which a scan never does.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        rows = store.images(summary.scan_id)
        status = store.scan(summary.scan_id).status
    ok = sum(1 for r in rows if r.status == "ok")
    if args.kind == "region":
        units = tiles_scored(rows, tiles_seen[0])
        per_call = getattr(classifier, "tiles_per_call", 1)
    else:
        units, per_call = len(files), 1
    # Timed before and after the scan's measurement window is over: the mean of the two
    # brackets a change in the machine's load during the scan.
    first = floor_seconds(classifier, args.threads, files[0], units, args.floor_units, per_call)
    second = floor_seconds(classifier, args.threads, files[0], units, args.floor_units, per_call)
    floor, floor_cpu = (first[0] + second[0]) / 2, (first[1] + second[1]) / 2
    timed = first[2] + second[2]
    return ScanResult(
        case=args.case,
        kind=args.kind,
        backend=classifier.backend_name,
        threads=args.threads,
        images=len(rows),
        ok=ok,
        units=units,
        wall_s=wall,
        floor_s=floor,
        ratio_to_floor=floor / wall if wall > 0 else float("nan"),
        units_per_s=units / wall if wall > 0 else float("nan"),
        peak_rss_mb=peak,
        status=status,
        floor_units_timed=timed,
        cpu_s=cpu,
        floor_cpu_s=floor_cpu,
        cpu_ratio_to_floor=floor_cpu / cpu if cpu > 0 else float("nan"),
    )


def run_case(
    case: str,
    kind: str,
    stick: Path,
    *,
    threads: int,
    backend: str = "auto",
    model: Path = MODEL,
    floor_units: int = 300,
    python: str = sys.executable,
) -> ScanResult | str:
    """Run one case in a child process; the result, or the child's error in words."""
    command = [
        python,
        "-m",
        "bench.e2e",
        str(stick),
        "--case",
        case,
        "--kind",
        kind,
        "--threads",
        str(threads),
        "--backend",
        backend,
        "--model",
        str(model),
        "--floor-units",
        str(floor_units),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return f"{case}: child failed ({done.returncode}): " + " | ".join(tail)
    return ScanResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stick")
    parser.add_argument("--case", required=True)
    parser.add_argument("--kind", choices=("stick", "region"), required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--floor-units", type=int, default=300)
    result = run_child(parser.parse_args())
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
