"""The inputs of the end-to-end benchmark: sticks of patches and large regions, built from real
IDC patches when ``../shared`` is there, else from the demo stick's patches.

Why real patches: the scope gate and the tissue filter decide how many tiles reach the model, so
random pixels would measure a different (shorter) path. Why unique files: the pipeline reuses the
stored result of an image it has seen (same sha256, same model), so a repeated file would skip
inference; copies beyond the real set get a PNG text chunk that changes the bytes, not the pixels.
Sticks and regions are cached under ``build/bench/inputs/`` (a rerun reuses them).
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parent.parent
#: The reference data beside the project (``../shared``); BENCH_SHARED points elsewhere (a clone
#: made outside the project's parent folder still finds it).
SHARED = Path(os.environ.get("BENCH_SHARED") or ROOT.parent / "shared")
SHARED_PATCHES = SHARED / "data" / "idc-patches"
DEMO_PATCHES = ROOT / "demo" / "usb"
PATCH = 50
CASE_SIZE = 100  # patches per case folder on a built stick
#: The decoder's own pixel limit (appliance.ingest.decode.read_image's default) is 60 MP, so the
#: largest region is the largest square of whole patches below it: 7,700 px = 59.3 MP.
REGION_SIDES = {1: 1000, 4: 2000, 16: 4000, 60: 7700}


@dataclass(frozen=True)
class PatchSource:
    """Where the patches come from, said in the results."""

    files: tuple[Path, ...]
    origin: str  # "real IDC patches (...)" or "demo patches (...)"


def patch_source() -> PatchSource:
    """Real IDC patches (full 50x50 ones, sorted) if present, else the demo stick's patches."""
    if SHARED_PATCHES.is_dir():
        files = tuple(sorted(SHARED_PATCHES.glob("*/*/*.png")))
        if files:
            return PatchSource(files, f"real IDC patches from {SHARED_PATCHES} ({len(files)})")
    files = tuple(sorted(DEMO_PATCHES.glob("patient-*/*.png")))
    if not files:
        raise SystemExit(f"no patches found under {SHARED_PATCHES} or {DEMO_PATCHES}")
    return PatchSource(files, f"demo patches from {DEMO_PATCHES} ({len(files)}), made unique")


def make_stick(dest: Path, count: int, source: PatchSource) -> Path:
    """A stick of ``count`` unique patch files in case folders of CASE_SIZE; cached."""
    done = dest / ".complete"
    if done.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    for index in range(count):
        original = source.files[index % len(source.files)]
        case = dest / f"case-{index // CASE_SIZE:04d}"
        case.mkdir(parents=True, exist_ok=True)
        target = case / f"{index:05d}-{original.name}"
        if index < len(source.files):
            shutil.copyfile(original, target)
        else:  # a second copy: same pixels, different bytes
            info = PngImagePlugin.PngInfo()
            info.add_text("bench-copy", str(index))
            with Image.open(original) as image:
                image.save(target, pnginfo=info)
    done.write_text(str(count))
    return dest


def full_patches(source: PatchSource, needed: int) -> list[Image.Image]:
    """Up to ``needed`` distinct full-size (50x50) patches, in order, cycling if fewer exist."""
    out: list[Image.Image] = []
    for path in source.files:
        with Image.open(path) as image:
            if image.size == (PATCH, PATCH):
                out.append(image.convert("RGB"))
        if len(out) >= needed:
            break
    return [out[i % len(out)] for i in range(needed)]


def make_region(dest: Path, megapixels: int, source: PatchSource) -> Path:
    """One square JPEG region of about ``megapixels`` MP tiled from real patches, on a stick of its
    own (``dest/region/region-<n>mp.jpg``); cached. JPEG because large scans come as JPEG/TIFF,
    and a 60 MP PNG would take longer to write than to analyse."""
    side = REGION_SIDES.get(megapixels) or int(math.sqrt(megapixels * 1e6)) // PATCH * PATCH
    path = dest / "region" / f"region-{megapixels}mp.jpg"
    if path.exists():
        return dest
    per_row = side // PATCH
    patches = full_patches(source, min(per_row * per_row, len(source.files)))
    canvas = Image.new("RGB", (side, side), "white")
    for index in range(per_row * per_row):
        row, col = divmod(index, per_row)
        canvas.paste(patches[index % len(patches)], (col * PATCH, row * PATCH))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = dest / f"{path.name}.part"  # outside the stick's folder until complete
    canvas.save(partial, format="JPEG", quality=92)
    partial.replace(path)
    return dest
