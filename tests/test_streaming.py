"""Streaming: images read ahead within a pixel budget, tiles batched and prepared ahead, tile
progress and cancel, and a scan's progress reports (images, tiles, rate, current file).

Behaviour only; how fast and how lean is measured in ``bench/``.
"""

from __future__ import annotations

import threading
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image

from appliance.errors import ImageError, VolumeGone
from appliance.inference import Classifier, ModelBundle
from appliance.inference.ahead import run_ahead
from appliance.inference.classifier import MAX_INPUTS_PER_CALL
from appliance.ingest.decode import LoadedImage, peek_pixels
from appliance.ingest.listing import ImageRef
from appliance.ingest.prefetch import Prefetcher
from appliance.pipeline import Analyzer, ScanProgress
from appliance.preprocess import augmented_views
from appliance.progress import Throttle
from appliance.store import Store
from tests.conftest import DEMO_STICK, TINY_BUNDLE

PINK = (225, 150, 190)


def _tissue(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.asarray(PINK, np.float64) + rng.normal(0.0, 3.0, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _ref(name: str, size: int = 1) -> ImageRef:
    return ImageRef(Path("/nowhere"), PurePosixPath(name), "case", size)


# -- reading ahead -------------------------------------------------------------------------------


def test_prefetcher_keeps_order_and_never_holds_more_pixels_than_its_budget(monkeypatch) -> None:
    sizes = {f"{i}.png": (100 if i % 3 else 900) for i in range(12)}  # a few large ones
    held: list[int] = []
    peak: list[int] = [0]
    lock = threading.Lock()
    monkeypatch.setattr(
        "appliance.ingest.prefetch.peek_pixels", lambda path, volume: sizes[path.name]
    )

    def read(ref: ImageRef) -> LoadedImage:
        with lock:
            held.append(sizes[ref.relpath.name])
            peak[0] = max(peak[0], sum(held))
        return LoadedImage(Image.new("RGB", (1, 1)), "0" * 64, 1, 1, 1)

    refs = [_ref(name) for name in sizes]
    seen = []
    prefetcher = Prefetcher(refs, read=read, ahead_pixels=1000, depth=3)
    for item in prefetcher:
        seen.append(item.ref.relpath.name)
        with lock:
            held.remove(sizes[item.ref.relpath.name])  # done with it before the next one
    assert seen == list(sizes)
    # The image being worked on plus those read ahead: never over the budget, except one large
    # image alone.
    assert peak[0] <= 1000


def test_prefetcher_hands_over_a_files_error_and_stops_at_a_removed_stick() -> None:
    def read(ref: ImageRef) -> LoadedImage:
        if ref.relpath.name == "bad.png":
            raise ImageError("file is empty")
        if ref.relpath.name == "gone.png":
            raise VolumeGone("the stick was removed")
        return LoadedImage(Image.new("RGB", (1, 1)), "0" * 64, 1, 1, 1)

    names = ["a.png", "bad.png", "b.png", "gone.png", "never.png"]
    items = list(Prefetcher([_ref(n) for n in names], read=read))
    assert [i.ref.relpath.name for i in items] == names[:4]
    assert items[1].error is not None and "empty" in str(items[1].error)
    assert items[3].gone is not None
    assert items[0].loaded is not None and items[0].thumbnail  # thumbnails made ahead too


def test_peek_pixels_reads_the_header_only_and_says_none_when_it_cannot(tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    Image.new("RGB", (300, 200), "white").save(png)
    assert peek_pixels(png) == 60_000
    junk = tmp_path / "b.png"
    junk.write_bytes(b"not an image")
    assert peek_pixels(junk) is None
    assert peek_pixels(tmp_path / "missing.png") is None


def test_run_ahead_keeps_order_raises_where_the_producer_failed_and_stops_early() -> None:
    assert list(run_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("broken tile")

    got = []
    with pytest.raises(ValueError, match="broken tile"):
        for item in run_ahead(failing()):
            got.append(item)
    assert got == [1]

    produced = []

    def endless():
        for i in range(10_000):
            produced.append(i)
            yield i

    for item in run_ahead(endless(), depth=2):
        if item == 3:
            break
    assert len(produced) < 20  # the producer stopped soon after the consumer left


# -- tiles ---------------------------------------------------------------------------------------


def test_views_built_from_quantised_integers_equal_quantising_every_view() -> None:
    rng = np.random.default_rng(1)
    batch = rng.random((3, 16, 16, 3), dtype=np.float32)
    scale, zero = 1 / 255, -128
    quantise = lambda x: np.clip(np.rint(x / scale + zero), -128, 127).astype(np.int8)  # noqa: E731
    assert np.array_equal(
        augmented_views(quantise(batch), "dihedral8"),
        quantise(augmented_views(batch, "dihedral8")),
    )


def test_tiles_are_batched_within_the_call_limit_and_report_progress(monkeypatch) -> None:
    classifier = Classifier(ModelBundle.load(TINY_BUNDLE), num_threads=1)
    assert classifier.tiles_per_call * classifier.views <= MAX_INPUTS_PER_CALL
    calls: list[int] = []
    original = classifier._backend.predict_quantised

    def counting(views: np.ndarray):
        calls.append(len(views))
        return original(views)

    monkeypatch.setattr(classifier._backend, "predict_quantised", counting)
    progress: list[tuple[int, int]] = []
    image = _tissue(500, 300)  # 10 x 6 = 60 tissue tiles
    prediction = classifier.classify(image, on_tiles=lambda *step: progress.append(step))
    assert prediction.mode == "tiled" and len(prediction.tiles.probabilities) == 60
    assert max(calls) <= MAX_INPUTS_PER_CALL and sum(calls) == 60 * classifier.views
    assert progress[-1] == (60, 60)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert len(progress) >= 6  # at least once per band of tile rows


def test_a_cancel_ends_a_large_image_between_batches() -> None:
    classifier = Classifier(ModelBundle.load(TINY_BUNDLE), num_threads=1, batch_size=4)
    asked = []

    def stop_after_three() -> str | None:
        asked.append(1)
        return "cancelled" if len(asked) > 3 else None

    with pytest.raises(ImageError, match="cancelled"):
        classifier.classify(_tissue(1000, 1000), should_stop=stop_after_three)


def test_tiled_result_does_not_depend_on_the_batch_size() -> None:
    image = _tissue(420, 260, seed=3)
    bundle = ModelBundle.load(TINY_BUNDLE)
    small = Classifier(bundle, num_threads=1, batch_size=1).classify(image)
    large = Classifier(bundle, num_threads=1, batch_size=16).classify(image)
    assert small.tiles.origins == large.tiles.origins
    assert small.p_malignant == pytest.approx(large.p_malignant, abs=1e-6)


# -- a scan's progress ---------------------------------------------------------------------------


def test_scan_progress_reports_images_tiles_rate_and_current_file(
    tmp_path: Path, monkeypatch
) -> None:
    # Tile reports are normally thinned to ~10 a second; the tiny model is faster than that.
    monkeypatch.setattr("appliance.progress.Throttle", lambda: Throttle(0.0))
    stick = tmp_path / "stick"
    (stick / "case-a").mkdir(parents=True)
    patches = sorted(DEMO_STICK.glob("patient-9077/*.png"))[:5]
    for index, patch in enumerate(patches):
        (stick / "case-a" / f"{index}.png").write_bytes(patch.read_bytes())
    _tissue(400, 300, seed=5).save(stick / "case-a" / "region.png")
    reports: list[ScanProgress] = []
    classifier = Classifier(ModelBundle.load(TINY_BUNDLE), num_threads=1)
    with Store.open(tmp_path / "db" / "a.db") as store:
        summary = Analyzer(classifier, store, "test").scan(stick, on_progress=reports.append)
    assert summary.status == "complete"
    final = reports[-1]
    assert (final.done, final.total) == (6, 6) and final.current is None
    # Every finished image travels in exactly one report's ``recent``.
    carried = [o.image_id for r in reports for o in r.recent]
    assert carried == [o.image_id for o in summary.outcomes]
    assert any(r.tiles_total == 48 and r.tiles_done > 0 for r in reports)
    assert {r.current for r in reports if r.current} <= {
        f"case-a/{n}" for n in ["0.png", "1.png", "2.png", "3.png", "4.png", "region.png"]
    }


def test_an_image_prepared_ahead_scores_exactly_as_one_prepared_on_the_spot() -> None:
    classifier = Classifier(ModelBundle.load(TINY_BUNDLE), num_threads=1)
    patch = _tissue(50, 50, seed=7)
    prepared = classifier.prepare(patch)
    assert prepared is not None
    ahead = classifier.classify(patch, prepared=prepared)
    assert ahead.probabilities == classifier.classify(patch).probabilities
    other = _tissue(50, 50, seed=8)  # work prepared for another image is never used
    assert (
        classifier.classify(other, prepared=prepared).probabilities
        == classifier.classify(other).probabilities
    )
    assert classifier.prepare(_tissue(400, 400)) is None  # tiled: prepared tile by tile
    assert classifier.prepare(Image.new("RGB", (2, 2))) is None  # refused by classify, in words


def test_an_unexpected_failure_while_reading_ahead_is_that_images_error_row() -> None:
    def read(ref: ImageRef) -> LoadedImage:
        raise MemoryError("out of memory")

    [item] = list(Prefetcher([_ref("huge.png")], read=read))
    assert item.error is not None and "MemoryError" in str(item.error)
