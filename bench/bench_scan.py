"""Time a whole scan of the demo stick under every installed interpreter backend.

Prints, per backend: the median time per patch (whole-image mode), the time of the large tiled
slide image, the whole scan's wall time, and the ratio to the fastest backend. Every image is
analysed afresh (a new database per run, so nothing is reused). Not a test: run it by hand::

    python bench/bench_scan.py [--model models/idc-mobilenetv2] [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.inference.backends import available_backends  # noqa: E402
from appliance.inference.bundle import ModelBundle  # noqa: E402
from appliance.inference.classifier import Classifier  # noqa: E402
from appliance.pipeline import Analyzer  # noqa: E402
from appliance.store import Store  # noqa: E402


def scan_once(bundle: ModelBundle, backend: str, threads: int, stick: Path) -> dict[str, float]:
    classifier = Classifier(bundle, backend=backend, num_threads=threads)
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "bench.db") as store:
        started = time.perf_counter()
        summary = Analyzer(classifier, store, "bench").scan(stick)
        wall = time.perf_counter() - started
        rows = store.images(summary.scan_id)
    patches = [r.elapsed_ms for r in rows if r.status == "ok" and r.tiles is None]
    tiled = [r for r in rows if r.tiles is not None]
    return {
        "patch_ms": statistics.median(patches),
        "tiled_ms": tiled[0].elapsed_ms if tiled else float("nan"),
        "tiles": len(tiled[0].tiles["probabilities"]) if tiled else 0,
        "scan_s": wall,
        "images": len(rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "idc-mobilenetv2")
    parser.add_argument("--stick", type=Path, default=ROOT / "demo" / "usb")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bundle = ModelBundle.load(args.model)
    card = bundle.card
    print(
        f"model {card.name} {card.version} ({card.sha256[:12]}), input {card.input.height}px,"
        f" test-time augmentation {card.input.test_time_augmentation}, threads {args.threads}"
    )
    results = {}
    for backend in available_backends():
        runs = [scan_once(bundle, backend, args.threads, args.stick) for _ in range(args.repeat)]
        results[backend] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    fastest = min(r["patch_ms"] for r in results.values())
    print(f"{'backend':<16}{'ms/patch':>10}{'tiled image':>14}{'tiles':>7}{'scan s':>8}  ratio")
    for backend, r in results.items():
        print(
            f"{backend:<16}{r['patch_ms']:>10.1f}{r['tiled_ms']:>12.0f}ms{r['tiles']:>7.0f}"
            f"{r['scan_s']:>8.2f}  {r['patch_ms'] / fastest:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
