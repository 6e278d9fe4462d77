"""What the scope gate costs: the model alone against the model with its gate, per patch and on a
tiled slide region.

    python bench/bench_scope.py [--bundle models/idc-mobilenetv2] [--repeat 5]

"model only" runs the card's views through the interpreter (``Classifier.features``: the same
passes, the feature outputs included); "with gate" is ``Classifier.classify``, which adds the
hand-made measures per image or tile and the feature score. Prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from appliance.errors import ImageError
from appliance.inference import Classifier, ModelBundle

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo" / "usb"


def _median_ms(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "models" / "idc-mobilenetv2")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    classifier = Classifier(ModelBundle.load(args.bundle))
    patches = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(DEMO.glob("patient-*/*"))]
    region = Image.open(next(DEMO.glob("slide-*/*.png"))).convert("RGB")

    def gated(images: list) -> None:
        for image in images:
            with contextlib.suppress(ImageError):
                classifier.classify(image)

    as_images = [Image.fromarray(p) for p in patches]
    rows = [
        (
            f"{len(patches)} patches, one by one",
            _median_ms(lambda: [classifier.features([p]) for p in patches], args.repeat),
            _median_ms(lambda: gated(as_images), args.repeat),
        ),
        (
            f"region {region.width}x{region.height} (tiled)",
            None,
            _median_ms(lambda: gated([region]), max(1, args.repeat // 2)),
        ),
    ]
    print(f"{'work':<36} {'model only ms':>14} {'with gate ms':>13} {'ratio':>6}")
    for name, bare, gate in rows:
        ratio = f"{gate / bare:.2f}" if bare else "—"
        bare_text = f"{bare:.1f}" if bare else "—"
        print(f"{name:<36} {bare_text:>14} {gate:>13.1f} {ratio:>6}")


if __name__ == "__main__":
    main()
