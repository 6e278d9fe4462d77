"""Shared fixtures: where the real data lives and how tests that need it skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HISTO_SHARED", ROOT.parent / "shared"))
DEMO_STICK = ROOT / "demo" / "usb"
SHIPPED_MODEL = ROOT / "models" / "idc-mobilenetv2"
TINY_BUNDLE = ROOT / "tests" / "data" / "tiny_bundle"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def tiny_idc(root: Path, patients: int = 14, per_class: int = 4) -> Path:
    """Pink (non-IDC) and purple, darker (IDC) noisy 50 px patches in the IDC layout: what a
    trainer test learns from in seconds."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for p in range(patients):
        pid = str(10000 + p)
        for label, colour in ((0, (230, 170, 200)), (1, (120, 60, 150))):
            folder = root / pid / str(label)
            folder.mkdir(parents=True)
            for i in range(per_class):
                noise = rng.integers(-25, 25, (50, 50, 3))
                pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(
                    folder / f"{pid}_idx5_x{i * 50 + 1}_y1_class{label}.png"
                )
    return root


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a clean skip when the shared folder is not beside the project."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (../shared is absent on this machine)")
    return path


@pytest.fixture
def shipped_model() -> Path:
    if not (SHIPPED_MODEL / "card.json").exists():
        pytest.fail(f"the shipped model bundle is missing: {SHIPPED_MODEL}")
    return SHIPPED_MODEL


@pytest.fixture
def demo_stick(tmp_path: Path) -> Path:
    """A private copy of the demo stick, so a test can add, damage or remove files."""
    stick = tmp_path / "usb"
    shutil.copytree(DEMO_STICK, stick)
    return stick


def start_test_scan(store, *, label: str = "S", **overrides) -> int:
    """A scan row with plausible defaults; a test passes only what it is about."""
    values = {
        "source": "usb",
        "volume_label": label,
        "volume_path": f"/media/{label}",
        "device": "pi",
        "model_name": "m",
        "model_version": "1",
        "model_sha256": "a" * 64,
        "backend": None,
        "thresholds": {},
    }
    values.update(overrides)
    return store.start_scan(**values)
