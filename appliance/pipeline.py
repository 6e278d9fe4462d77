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
from appliance.decision import CaseVerdict, Decision, case_verdict, decide
from appliance.errors import ImageError, VolumeGone
from appliance.health import ThrottleMonitor
from appliance.inference.classifier import Classifier, StopCheck
from appliance.ingest import ImageRef, LoadedImage, list_volume, read_image, thumbnail_jpeg
from appliance.store import Store
from appliance.store.names import display, raw_bytes
from appliance.values import Thresholds

REMOVED_MESSAGE = "not analysed: the USB stick was removed before this image was read"
CANCELLED_MESSAGE = "not analysed: the scan was cancelled while this image was being analysed"
# A single image may not hold a scan longer than this (seconds); a Pi 4 needs about 0.1 s per
# tile, so ten minutes is some 6,000 tissue tiles, a 25-megapixel region.
IMAGE_TIME_BUDGET_S = 600.0


@dataclass(frozen=True)
class ImageOutcome:
    """What happened to one image: the JSON contract of ``scan --format json``."""

    path: str
    case: str
    status: str  # "ok" or "error"
    decision: Decision
    p_malignant: float | None
    error: str | None
    image_id: int
    reused: bool = False

    def to_json(self) -> dict[str, object]:
        """Valid JSON for any name: text with U+FFFD where the stick's bytes were not UTF-8,
        and then the exact bytes in hex as well, so a program can still find the file."""
        shown = display(self.path)
        data: dict[str, object] = {
            "path": shown,
            "case": display(self.case),
            "status": self.status,
            "decision": self.decision.value,
            "p_malignant": None if self.p_malignant is None else round(self.p_malignant, 6),
            "error": None if self.error is None else display(self.error),
        }
        if shown != self.path:
            data["path_bytes_hex"] = raw_bytes(self.path).hex()
        return data


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int
    latest: ImageOutcome | None


@dataclass
class ScanSummary:
    scan_id: int
    status: str  # complete | interrupted | cancelled | failed
    message: str | None
    outcomes: list[ImageOutcome] = field(default_factory=list)
    # The conditions seen while it ran (health.ThrottleMonitor); None: not a Raspberry Pi.
    throttled_during: int | None = None
    monitor: ThrottleMonitor | None = field(default=None, repr=False, compare=False)

    @property
    def cases(self) -> list[CaseVerdict]:
        return verdicts(self.outcomes)


def verdicts(outcomes: list[ImageOutcome]) -> list[CaseVerdict]:
    """Case verdicts in the order cases first appear."""
    grouped: dict[str, list[ImageOutcome]] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome.case, []).append(outcome)
    return [
        case_verdict(case, [(o.path, o.decision, o.p_malignant) for o in items])
        for case, items in grouped.items()
    ]


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
            backend=self.classifier.backend_name,
            thresholds={
                "benign_below": self.thresholds.benign_below,
                "malignant_at": self.thresholds.malignant_at,
                "operating_point": self.thresholds.operating_point,
                # The scope gate's limits, so a report read later says what was refused and why.
                "scope": [list(line) for line in self.card.scope.describe()]
                if self.card.scope is not None
                else None,
            },
            clock_believable=clock.believable if clock.reference is not None else None,
            clock_note=clock.summary,
            throttled_at_start=monitor.start(),
        )
        summary = ScanSummary(scan_id, "running", None, monitor=monitor)
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
        total = len(listing.images) + len(listing.skipped)
        for skipped in listing.skipped:
            outcome = self._record_error(
                scan_id, str(skipped.relpath), skipped.case, skipped.reason
            )
            summary.outcomes.append(outcome)
        self._progress(on_progress, summary, total)
        for position, ref in enumerate(listing.images):
            if cancel is not None and cancel.is_set():
                return self._finish(
                    summary,
                    "cancelled",
                    f"cancelled after {position} of {len(listing.images)} images",
                )
            try:
                outcome = self._analyse(scan_id, ref, cancel)
            except VolumeGone as exc:
                for missing in listing.images[position:]:
                    summary.outcomes.append(
                        self._record_error(
                            scan_id, str(missing.relpath), missing.case, REMOVED_MESSAGE
                        )
                    )
                return self._finish(summary, "interrupted", str(exc))
            summary.outcomes.append(outcome)
            if summary.monitor is not None:
                summary.monitor.sample()
            self._progress(on_progress, summary, total)
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
        self, scan_id: int, ref: ImageRef, cancel: threading.Event | None = None
    ) -> ImageOutcome:
        started = time.perf_counter()
        try:
            loaded = read_image(ref.path, volume_root=ref.volume)
        except ImageError as exc:
            return self._record_error(scan_id, str(ref.relpath), ref.case, str(exc), ref.size_bytes)
        previous = self.store.find_result(loaded.sha256, self.card.sha256)
        if previous is not None and previous.p_malignant is not None:
            # Same image, same model: the stored result stands; only the decision is recomputed,
            # in case the admin moved the thresholds since.
            return self._record_ok(
                scan_id,
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
                loaded.image, should_stop=self._stop_check(started, cancel)
            )
        except ImageError as exc:
            return self._record_error(
                scan_id, str(ref.relpath), ref.case, str(exc), loaded.size_bytes, loaded.sha256
            )
        tiles = prediction.tiles.to_dict() if prediction.tiles else None
        return self._record_ok(scan_id, ref, loaded, started, prediction.p_malignant, tiles)

    def _record_ok(
        self,
        scan_id: int,
        ref: ImageRef,
        loaded: LoadedImage,
        started: float,
        p_malignant: float,
        tiles: dict | None,
        thumbnail: bytes | None = None,
        reused_from: int | None = None,
    ) -> ImageOutcome:
        decision = decide(p_malignant, self.thresholds)
        image_id = self.store.record_image(
            scan_id,
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
        return ImageOutcome(
            str(ref.relpath), ref.case, "ok", decision, p_malignant, None, image_id, reused
        )

    def _record_error(
        self,
        scan_id: int,
        path: str,
        case: str,
        message: str,
        size_bytes: int | None = None,
        sha256: str | None = None,
    ) -> ImageOutcome:
        image_id = self.store.record_image(
            scan_id,
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
        return ImageOutcome(path, case, "error", Decision.UNASSESSABLE, None, message, image_id)

    def _finish(self, summary: ScanSummary, status: str, message: str | None) -> ScanSummary:
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

    @staticmethod
    def _progress(callback, summary: ScanSummary, total: int) -> None:
        if callback is not None:
            latest = summary.outcomes[-1] if summary.outcomes else None
            callback(ScanProgress(len(summary.outcomes), total, latest))
