"""The fault suite (issue 10), part 3: inputs outside the scope, and images too big to wait for.

Same table form as the other ``tests/test_faults*.py`` (see ``tests/faults_support.py``).
Out-of-scope inputs go through the shipped model
(its card carries the scope gate): they must come out ``unassessable`` with the reason in words,
never benign or malignant. A large image must be cancellable while it is being analysed (between
tiles), not only between images. The gate's rates on real tissue and on assembled out-of-scope
sets are measured by the lead (docs/reliability.md, 'Scope gate'); these cases are the smoke test.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from appliance.pipeline import Analyzer
from appliance.store import Store
from tests.conftest import DEMO_STICK, SHIPPED_MODEL
from tests.faults_support import (
    AFTER,
    BEFORE,
    FaultCase,
    assert_readable,
    make_analyzer,
    note,
    run_and_record,
    save,
    scan_within,
    tissue,
)


def _shipped_analyzer(tmp_path: Path) -> Analyzer:
    classifier = Classifier(ModelBundle.load(SHIPPED_MODEL))
    return Analyzer(classifier, Store.open(tmp_path / "db" / "a.db"), device="fault-suite")


def _photo() -> Image.Image:
    """A smooth, saturated, photograph-like scene (sky over grass), nothing like H&E."""
    y, x = np.mgrid[0:50, 0:50]
    sky = np.stack([90 + x, 150 + y, 230 - y], axis=-1)
    grass = np.stack([40 + x // 2, 140 + y // 2, 40 + 0 * x], axis=-1)
    return Image.fromarray(np.where(y[..., None] < 25, sky, grass).clip(0, 255).astype(np.uint8))


def _blank() -> Image.Image:
    return Image.new("RGB", (50, 50), (245, 245, 245))


def _blurred() -> Image.Image:
    patch = next(iter(sorted(DEMO_STICK.glob("patient-9077/*.png"))))
    with Image.open(patch) as image:
        return image.convert("RGB").filter(ImageFilter.GaussianBlur(6))


def _out_of_scope(make):
    def run(tmp_path: Path) -> None:
        stick = tmp_path / "stick"
        real = sorted(DEMO_STICK.glob("patient-9077/*.png"))[:2]
        for target, source in zip((BEFORE, AFTER), real, strict=True):
            with Image.open(source) as image:
                save(image.convert("RGB"), stick / "case" / target)
        save(make(), stick / "case" / "m.png")
        analyzer = _shipped_analyzer(tmp_path)
        summary = scan_within(analyzer, stick)
        assert summary.status == "complete", summary.message
        rows = {r.path.rsplit("/", 1)[-1]: r for r in analyzer.store.images(summary.scan_id)}
        assert set(rows) == {BEFORE, AFTER, "m.png"}
        fault = rows["m.png"]
        assert fault.decision == "unassessable", (fault.decision, fault.p_malignant)
        assert fault.p_malignant is None
        assert_readable(fault.error)
        analyzer.store.close()

    return run


def _cancel_inside_large_image(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    big = np.tile(np.asarray(tissue((200, 200), seed=11)), (20, 20, 1))  # 4000 x 4000
    save(Image.fromarray(big), stick / "case" / "big.bmp")
    save(tissue(seed=12), stick / "case" / "small.png")
    analyzer = make_analyzer(tmp_path)
    cancel = threading.Event()
    classify = analyzer.classifier.classify

    def classify_then_cancel(image, *args, **kwargs):
        if image.width > 1000:  # cancel 0.2 s into the big image's tiles
            threading.Timer(0.2, cancel.set).start()
        return classify(image, *args, **kwargs)

    analyzer.classifier.classify = classify_then_cancel  # type: ignore[method-assign]
    started = time.monotonic()
    summary = scan_within(analyzer, stick, cancel=cancel)
    took = time.monotonic() - started
    rows = {r.path.rsplit("/", 1)[-1]: r for r in analyzer.store.images(summary.scan_id)}
    note(f"scan {summary.status} after {took:.1f} s: {summary.message}")
    assert summary.status == "cancelled", summary.status
    big_row = rows.get("big.bmp")
    assert big_row is None or big_row.status != "ok", "the big image ran to the end after cancel"
    if big_row is not None:
        assert_readable(big_row.error)
    analyzer.store.close()


SCOPE_CASES = [
    FaultCase(
        "photo_not_tissue",
        "scope",
        "a photograph-like scene (sky, grass)",
        "unassessable: not H&E tissue",
        _out_of_scope(_photo),
    ),
    FaultCase(
        "blank_slide",
        "scope",
        "a blank, almost white image",
        "unassessable: no tissue",
        _out_of_scope(_blank),
    ),
    FaultCase(
        "blurred_tissue",
        "scope",
        "a real IDC patch blurred (Gaussian, 6 px)",
        "unassessable: out of focus",
        _out_of_scope(_blurred),
    ),
    FaultCase(
        "cancel_inside_large_image",
        "image",
        "cancel pressed 0.2 s into a 4000 x 4000 image (6400 tiles)",
        "scan 'cancelled' within seconds (checked between tiles)",
        _cancel_inside_large_image,
    ),
]


CASES = SCOPE_CASES


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_fault(case: FaultCase, tmp_path: Path) -> None:
    run_and_record(case, tmp_path)
