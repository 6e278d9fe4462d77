"""Rebuild the demo stick ``demo/usb`` from ``../shared/data/idc-patches`` (a developer's script).

Only patients of the shipped model's *test* split are used, so the demo never shows the model an
image it was trained on. Run from the project root: ``python demo/make_demo.py``.
"""

from __future__ import annotations

import shutil
import sys
from collections import defaultdict
from pathlib import Path

from PIL import Image

from appliance.trainer.data import IDC_NAME, load_idc, patient_split

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parent.parent / "shared" / "data" / "idc-patches"
STICK = ROOT / "usb"
# (patient, how many patches, prefer tumour patches?) — test-split patients with varied content.
CASES = [("9077", 12, True), ("12880", 12, None), ("10262", 12, None), ("9036", 12, False)]
SLIDE_PATIENT = "14191"
PATCH = 50


def pick(samples, count, prefer):
    if prefer is None:  # alternate classes so the case shows both
        pos = [s for s in samples if s.label == 1]
        neg = [s for s in samples if s.label == 0]
        mixed = (
            [x for pair in zip(pos, neg, strict=False) for x in pair]
            + pos[len(neg) :]
            + neg[len(pos) :]
        )
        return mixed[:count]
    ordered = sorted(samples, key=lambda s: (s.label != int(prefer), s.path.name))
    return ordered[:count]


def build_slide(samples, out: Path) -> None:
    """Paste each patch at its slide position on white glass: a large image for tiled mode."""
    coords = [
        (int(IDC_NAME.match(s.path.name)["x"]), int(IDC_NAME.match(s.path.name)["y"]))
        for s in samples
    ]
    x0, y0 = min(x for x, _ in coords), min(y for _, y in coords)
    width = max(x for x, _ in coords) - x0 + PATCH
    height = max(y for _, y in coords) - y0 + PATCH
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    for sample, (x, y) in zip(samples, coords, strict=True):
        with Image.open(sample.path) as patch:
            canvas.paste(patch.convert("RGB"), (x - x0, y - y0))
    canvas.save(out, optimize=True)


def main() -> int:
    if not SHARED.exists():
        print(f"{SHARED} not found", file=sys.stderr)
        return 1
    samples = load_idc(SHARED)
    test = defaultdict(list)
    for sample in patient_split(samples, (0.7, 0.15, 0.15), 42).test:
        test[sample.patient].append(sample)
    shutil.rmtree(STICK, ignore_errors=True)
    for patient, count, prefer in CASES:
        folder = STICK / f"patient-{patient}"
        folder.mkdir(parents=True)
        for sample in pick(test[patient], count, prefer):
            shutil.copy2(sample.path, folder / sample.path.name)
    slide_dir = STICK / f"slide-{SLIDE_PATIENT}"
    slide_dir.mkdir(parents=True)
    build_slide(test[SLIDE_PATIENT], slide_dir / f"{SLIDE_PATIENT}_region_x-y-positions.png")
    # One damaged file, so the demo also shows how an unreadable image is reported.
    damaged = STICK / "damaged-example" / "truncated_scan.png"
    damaged.parent.mkdir()
    source = next(iter(test[CASES[0][0]])).path.read_bytes()
    damaged.write_bytes(source[: len(source) // 2])
    print(f"demo stick written to {STICK}: {sum(1 for p in STICK.rglob('*') if p.is_file())} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
