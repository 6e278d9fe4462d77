"""One scan of one stick: ingest → inference → decision → store, image by image.

The pipeline is the only place that knows the order of the stages; the CLI, the watcher and the
GUI all call :meth:`Analyzer.scan`. Each image's row is written as soon as it is done, so a scan
that is cancelled, loses its stick or crashes keeps everything it had finished, and a later scan of
the same stick reuses those results instead of analysing the images again.

Each scan also records the conditions it ran under, because a report is read long after: whether
the clock was believable when it started (a Pi has no battery-backed clock) and whether the Pi
was throttled or under-voltage while it ran (firmware flags at start and end, and between images
when reading them is cheap).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.buildinfo import ClockStatus, judge_clock
from appliance.decision import CaseVerdict, Decision, decide, group_cases
from appliance.errors import ImageError, VolumeGone
from appliance.health import ThrottleMonitor
from appliance.inference.classifier import Classifier, StopCheck
from appliance.ingest import ImageRef, LoadedImage, list_volume, thumbnail_jpeg
from appliance.ingest.prefetch import Fetched, Prefetcher
from appliance.ingest.sidecar import listing_case_details
from appliance.progress import ScanReporter
from appliance.store import Store
from appliance.store.batching import MAX_ROWS, BatchedResults
from appliance.store.cases import record_cases
from appliance.store.image_rows import NewImage
from appliance.values import ImageOutcome, ScanRules, Thresholds, TileMap

REMOVED_MESSAGE = "not analysed: the USB stick was removed before this image was read"
CANCELLED_MESSAGE = "not analysed: the scan was cancelled while this image was being analysed"
# A single image may not hold a scan longer than this (seconds); a Pi 4 needs about 0.1 s per
# tile, so ten minutes is some 6,000 tissue tiles, a 25-megapixel region.
IMAGE_TIME_BUDGET_S = 600.0


@dataclass(frozen=True)
class ScanProgress:
    """How far a scan has got; :mod:`appliance.progress` words it.

    :class:`appliance.progress.ScanReporter` builds them: one after every batch of rows stored
    (``appliance.store.batching``: a result shown is a result stored), and between them a tiled
    image's tiles at most ~10 times a second. ``recent`` holds the images stored since the
    previous report (``latest`` is its last), so a listener sees every row exactly once."""

    done: int
    total: int
    latest: ImageOutcome | None
    tiles_done: int = 0  # of the image being analysed
    tiles_total: int = 0  # 0: that image is not tiled (or none is being analysed)
    rate: float = 0.0  # images per second, smoothed
    eta_s: float | None = None  # None: not known yet
    current: str | None = None  # the file being analysed (relative path on the stick)
    recent: tuple[ImageOutcome, ...] = ()


@dataclass
class ScanSummary:
    scan_id: int
    status: str  # complete | interrupted | cancelled | failed
    message: str | None
    outcomes: list[ImageOutcome] = field(default_factory=list)
    # The conditions seen while it ran (health.ThrottleMonitor); None: not a Raspberry Pi.
    throttled_during: int | None = None
    monitor: ThrottleMonitor | None = field(default=None, repr=False, compare=False)

    # True when the stick held no image to analyse; ``message`` then says so, and what it held.
    found_nothing: bool = False
    label: str = ""  # the stick's name as the scan recorded it
    # Finished images not yet written (store.batching): written, then shown, when due.
    pending: BatchedResults[ImageOutcome] | None = field(default=None, repr=False, compare=False)

    def store_pending(self, *, force: bool) -> bool:
        """Write the waiting results when due (or ``force``); True when some were added."""
        if self.pending is None or not (force or self.pending.due):
            return False
        written = self.pending.flush()
        self.outcomes.extend(written)
        return bool(written)

    @property
    def cases(self) -> list[CaseVerdict]:
        """Case verdicts in natural order (:func:`appliance.decision.group_cases`)."""
        return [case.verdict for case in group_cases(self.outcomes)]


Pending = BatchedResults[ImageOutcome]


class Analyzer:
    """Runs scans with one verified model into one store."""

    def __init__(
        self,
        classifier: Classifier,
        store: Store,
        device: str,
        thresholds: Thresholds | None = None,
        *,
        clock: Callable[[], ClockStatus] | None = None,
        throttle_monitor: Callable[[], ThrottleMonitor] = ThrottleMonitor,
        image_time_budget_s: float = IMAGE_TIME_BUDGET_S,
        rows_per_write: int = MAX_ROWS,
    ) -> None:
        self.classifier = classifier
        self.store = store
        self.device = device
        self.card = classifier.bundle.card
        self.thresholds = thresholds or self.card.thresholds
        # Injectable so tests (and the GUI's screenshots) can pretend a wrong clock or a Pi.
        self.clock = clock or (
            lambda: judge_clock(card_created=self.card.provenance.get("created"))
        )
        self.throttle_monitor = throttle_monitor
        self.image_time_budget_s = image_time_budget_s
        # Results stored (and then shown) together, at most this many per transaction.
        self.rows_per_write = rows_per_write

    def scan(
        self,
        root: Path,
        *,
        label: str | None = None,
        source: str = "folder",
        on_progress: Callable[[ScanProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ScanSummary:
        """Analyse every image on the volume mounted at ``root``; never writes to it."""
        root = Path(root)
        clock = self.clock()
        monitor = self.throttle_monitor()
        scan_id = self.store.start_scan(
            source=source,
            volume_label=label or root.name,
            volume_path=str(root),
            device=self.device,
            model_name=self.card.name,
            model_version=self.card.version,
            model_sha256=self.card.sha256,
            # The interpreter and its thread count, as the scan ran (bench/ chose the default).
            backend=f"{self.classifier.backend_name}, {self.classifier.num_threads} threads",
            # The cut-offs and the scope gate's limits, so a report read later says what was
            # decided, refused and why, under the settings of that day.
            thresholds=ScanRules(
                self.thresholds,
                tuple(self.card.scope.describe()) if self.card.scope is not None else None,
            ),
            clock_believable=clock.believable if clock.reference is not None else None,
            clock_note=clock.summary,
            throttled_at_start=monitor.start(),
        )
        summary = ScanSummary(scan_id, "running", None, monitor=monitor, label=label or root.name)
        summary.pending = BatchedResults(self.store, scan_id, max_rows=self.rows_per_write)
        try:
            return self._scan_images(root, summary, on_progress, cancel)
        except BaseException as exc:
            # The scan row must not stay "running": record the failure (best effort: the store
            # itself may be what failed) and let the caller show the error.
            with contextlib.suppress(Exception):
                self._finish(summary, "failed", str(exc) or type(exc).__name__)
            raise

    def _scan_images(
        self,
        root: Path,
        summary: ScanSummary,
        on_progress: Callable[[ScanProgress], None] | None,
        cancel: threading.Event | None,
    ) -> ScanSummary:
        scan_id = summary.scan_id
        try:
            listing = list_volume(root)
        except VolumeGone as exc:
            return self._finish(summary, "interrupted", str(exc))
        # Each case's specimen details (its folder's specimen.txt, else the folder name), so the
        # report and the exports can file the results under them (never raises for the stick).
        record_cases(self.store, scan_id, listing_case_details(listing))
        total = len(listing.images) + len(listing.skipped)
        if not listing.images:
            summary.found_nothing = True
        pending = summary.pending
        for skipped in listing.skipped:
            self._record_error(pending, str(skipped.relpath), skipped.case, skipped.reason)
        summary.store_pending(force=True)
        report = ScanReporter(on_progress, summary.outcomes, total, ScanProgress)
        report()

        def on_tiles(done: int, total: int) -> None:
            report.tiles(done, total)
            if summary.store_pending(force=False):  # a long image does not hold back the others
                report()
        # The next images are read and decoded on a reader thread while this one is analysed.
        prefetcher = Prefetcher(listing.images, prepare=self.classifier.prepare)
        try:
            for position, fetched in enumerate(prefetcher):
                if cancel is not None and cancel.is_set():
                    return self._finish(
                        summary,
                        "cancelled",
                        f"cancelled after {position} of {len(listing.images)} images",
                    )
                report.current = str(fetched.ref.relpath)
                try:
                    self._analyse(pending, fetched, cancel, on_tiles)
                except VolumeGone as exc:
                    for missing in listing.images[position:]:
                        self._record_error(
                            pending, str(missing.relpath), missing.case, REMOVED_MESSAGE
                        )
                    return self._finish(summary, "interrupted", str(exc))
                if summary.monitor is not None:
                    summary.monitor.sample()
                following = position + 1 < len(listing.images)
                report.next_image(str(listing.images[position + 1].relpath) if following else None)
                if summary.store_pending(force=not following):
                    report()
        finally:
            prefetcher.close()
        if summary.found_nothing:
            message = listing.nothing_found(summary.label or root.name)
            return self._finish(summary, "complete", message)
        return self._finish(summary, "complete", None)

    def _stop_check(self, started: float, cancel: threading.Event | None) -> StopCheck:
        """What ends one image early: a cancel, or its time budget running out."""
        budget = self.image_time_budget_s

        def check() -> str | None:
            if cancel is not None and cancel.is_set():
                return CANCELLED_MESSAGE
            if time.perf_counter() - started > budget:
                return (
                    f"not assessed: stopped after {budget:.0f} s, the time one image may take;"
                    " the image is too large to analyse on this device (cut it into regions)"
                )
            return None

        return check

    def _analyse(
        self,
        pending: Pending,
        fetched: Fetched,
        cancel: threading.Event | None = None,
        on_tiles: Callable[[int, int], None] | None = None,
    ) -> None:
        """Analyse one fetched image and queue its row (or its error) in ``pending``."""
        started = time.perf_counter()
        ref = fetched.ref
        if fetched.gone is not None:
            raise fetched.gone
        if fetched.error is not None or fetched.loaded is None:
            message = str(fetched.error or "could not be read")
            return self._record_error(pending, str(ref.relpath), ref.case, message, ref.size_bytes)
        loaded = fetched.loaded
        previous = self.store.find_result(loaded.sha256, self.card.sha256)
        if previous is not None and previous.p_malignant is not None:
            # Same image, same model: the stored result stands; only the decision is recomputed,
            # in case the admin moved the thresholds since.
            return self._record_ok(
                pending,
                ref,
                loaded,
                started,
                p_malignant=previous.p_malignant,
                tiles=previous.tiles,
                thumbnail=previous.thumbnail,
                reused_from=previous.id,
            )
        try:
            prediction = self.classifier.classify(
                loaded.image,
                should_stop=self._stop_check(started, cancel),
                on_tiles=on_tiles,
                prepared=fetched.prepared,
            )
        except ImageError as exc:
            return self._record_error(
                pending, str(ref.relpath), ref.case, str(exc), loaded.size_bytes, loaded.sha256
            )
        return self._record_ok(
            pending,
            ref,
            loaded,
            started,
            prediction.p_malignant,
            prediction.tiles,
            thumbnail=fetched.thumbnail,
        )

    def _record_ok(
        self,
        pending: Pending,
        ref: ImageRef,
        loaded: LoadedImage,
        started: float,
        p_malignant: float,
        tiles: TileMap | None,
        thumbnail: bytes | None = None,
        reused_from: int | None = None,
    ) -> None:
        decision = decide(p_malignant, self.thresholds)
        row = NewImage(
            path=str(ref.relpath),
            case=ref.case,
            sha256=loaded.sha256,
            size_bytes=loaded.size_bytes,
            width=loaded.width,
            height=loaded.height,
            status="ok",
            decision=decision.value,
            p_malignant=p_malignant,
            error=None,
            tiles=tiles,
            thumbnail=thumbnail or thumbnail_jpeg(loaded.image),
            elapsed_ms=(time.perf_counter() - started) * 1000,
            reused_from=reused_from,
        )
        reused = reused_from is not None
        pending.add(
            row,
            lambda image_id: ImageOutcome(
                str(ref.relpath), ref.case, "ok", decision, p_malignant, None, image_id, reused
            ),
        )

    def _record_error(
        self,
        pending: Pending,
        path: str,
        case: str,
        message: str,
        size_bytes: int | None = None,
        sha256: str | None = None,
    ) -> None:
        row = NewImage(
            path=path,
            case=case,
            sha256=sha256,
            size_bytes=size_bytes,
            width=None,
            height=None,
            status="error",
            decision=Decision.UNASSESSABLE.value,
            p_malignant=None,
            error=message,
            tiles=None,
            thumbnail=None,
            elapsed_ms=None,
        )
        pending.add(
            row,
            lambda image_id: ImageOutcome(
                path, case, "error", Decision.UNASSESSABLE, None, message, image_id
            ),
        )

    def _finish(self, summary: ScanSummary, status: str, message: str | None) -> ScanSummary:
        summary.store_pending(force=True)  # what finished before the end is kept
        summary.status, summary.message = status, message
        monitor = summary.monitor
        at_end = monitor.end() if monitor is not None else None
        summary.throttled_during = monitor.during if monitor is not None else None
        self.store.finish_scan(
            summary.scan_id,
            status,
            message,
            throttled_at_end=at_end,
            throttled_during=summary.throttled_during,
        )
        return summary
