"""Sticks in, scans out: the queue of plugged-in sticks and the life of one scan.

Why a queue: a second stick plugged in during a scan must neither start a second scan on the
same model and database nor be forgotten; it waits and is offered when the scan ends. Why the
scan's end is a value: :meth:`Analyzer.scan` either returns its summary (complete, interrupted,
cancelled, or nothing found) or raises after marking its own scan failed, so nobody has to read
the database to guess what happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from appliance.controller.results import ScanEnded, StickAction, StickStep
from appliance.ingest import Volume
from appliance.problems import classify
from appliance.text import display_text

if TYPE_CHECKING:
    from appliance.pipeline import ScanProgress, ScanSummary
    from appliance.runtime import Appliance
    from appliance.store.records import ScanRecord

LABEL_CHARS = 40


def shown(volume: Volume) -> str:
    """A stick's label as a message shows it (escaped, shortened: it comes from the stick)."""
    return display_text(volume.label, LABEL_CHARS)


class ScanQueue:
    """Which stick is being scanned, which wait, and where a scan's stick is now."""

    def __init__(self, appliance: Appliance) -> None:
        self.appliance = appliance
        self.pending: list[Volume] = []
        self.scanning: Volume | None = None

    @property
    def busy(self) -> bool:
        """A scan is running (settings that change its results must wait)."""
        return self.scanning is not None

    def inserted(self, volume: Volume) -> StickAction:
        """Decide what a newly plugged-in stick does: scan now, wait, or cannot be analysed."""
        if self.appliance.analyzer is None:
            found = self.appliance.problem
            reason = f"{found.title}." if found else "The appliance is not ready."
            return StickAction(
                StickStep.REFUSED,
                volume,
                f"Stick “{shown(volume)}” is plugged in, but it cannot be analysed: {reason}",
            )
        if self.scanning is not None:
            if all(v.id != volume.id for v in self.pending) and volume.id != self.scanning.id:
                self.pending.append(volume)
            return StickAction(
                StickStep.QUEUED,
                volume,
                f"Stick “{shown(volume)}” is waiting; it can be scanned when this scan is done.",
            )
        return StickAction(StickStep.SCAN, volume)

    def removed(self, volume: Volume) -> str:
        """Forget a waiting stick that left; the words to say about it."""
        self.pending = [v for v in self.pending if v.id != volume.id]
        return f"Stick “{shown(volume)}” was removed."

    def begin(self, volume: Volume) -> None:
        self.pending = [v for v in self.pending if v.id != volume.id]
        self.scanning = volume

    def run(
        self,
        volume: Volume,
        *,
        on_progress: Callable[[ScanProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ScanSummary:
        """Scan ``volume`` (blocking: a worker thread calls this). Raises what the scan raised."""
        analyzer = self.appliance.analyzer
        if analyzer is None:
            raise RuntimeError("no analyzer: inserted() refuses sticks before a scan starts")
        return analyzer.scan(
            volume.mount_point,
            label=volume.label,
            source=volume.source,
            on_progress=on_progress,
            cancel=cancel,
        )

    def ended(self, outcome: ScanSummary | BaseException) -> ScanEnded:
        """Close the running scan with what :meth:`run` returned or raised."""
        self.scanning = None
        waiting = self.pending[0].label if self.pending else None
        if isinstance(outcome, BaseException):
            return ScanEnded(None, classify(outcome, during_scan=True), waiting)
        return ScanEnded(outcome, None, waiting)

    def next_stick(self) -> Volume | None:
        """The stick to scan next, taken off the queue (None when none waits or one runs)."""
        if self.scanning is not None or not self.pending:
            return None
        return self.pending.pop(0)

    def scan_one(self, volume: Volume, **kwargs) -> ScanEnded:
        """:meth:`begin`, :meth:`run` and :meth:`ended` in one call (tests, scripts)."""
        self.begin(volume)
        try:
            summary = self.run(volume, **kwargs)
        except Exception as exc:
            return self.ended(exc)
        return self.ended(summary)


def stick_for(scan: ScanRecord | None, present: Iterable[Volume]) -> Volume | None:
    """The stick to show full images from / copy a report to: the scan's own stick if it is
    plugged in, otherwise the only stick plugged in (named on the button), else None."""
    present = list(present)
    if scan is not None:
        for volume in present:
            if str(volume.mount_point) == scan.volume_path:
                return volume
    return present[0] if len(present) == 1 else None
