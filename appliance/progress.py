"""How fast a scan goes and when it will end, in one place for every face (CLI, ``watch``, GUI).

A scan's work is uneven: a stick of 50-px patches finishes dozens of images a second, while one
2048-px region is a thousand tiles and a minute of work. So progress is counted in *images*,
with the image being analysed counted by the share of its tiles done; the rate is smoothed over
the last few seconds (an exponential moving average, so one slow image does not make the ETA
jump), and the ETA is the remaining images over that rate.

:class:`Throttle` decides which progress reports reach the listener: at most one every
:data:`MIN_INTERVAL_S` (the GUI's event loop must not be flooded by a worker thread that
finishes 50 patches a second), but always the first and the last.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

#: At most this many progress reports a second reach a listener (CLI line, GUI).
MAX_REPORTS_PER_S = 10.0
MIN_INTERVAL_S = 1.0 / MAX_REPORTS_PER_S
#: The rate follows changes within about this many seconds.
SMOOTHING_S = 5.0
#: No ETA before this much work has been timed: a guess from the first patch is noise.
MIN_TIMED_S = 1.0


@dataclass(frozen=True)
class Pace:
    """The smoothed rate (images per second) and the seconds left (None: not known yet)."""

    rate: float
    eta_s: float | None


class RateMeter:
    """Smoothed images/s and ETA from successive ``(work done, total)`` readings."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._last_time = self._start
        self._last_done = 0.0
        self._rate: float | None = None

    def update(self, done: float, total: float) -> Pace:
        """``done`` images (fractional: the current image's share of tiles), of ``total``."""
        now = self._clock()
        elapsed = now - self._start
        step = now - self._last_time
        if step > 0 and done > self._last_done:
            instant = (done - self._last_done) / step
            if self._rate is None:
                self._rate = done / elapsed if elapsed > 0 else instant
            else:
                weight = 1.0 - math.exp(-step / SMOOTHING_S)
                self._rate += weight * (instant - self._rate)
            self._last_time, self._last_done = now, done
        rate = self._rate or 0.0
        if rate <= 0 or elapsed < MIN_TIMED_S:
            return Pace(rate, None)
        return Pace(rate, max(0.0, total - done) / rate)


class Throttle:
    """Lets a report through at most every ``interval`` seconds; ``final`` ones always pass."""

    def __init__(
        self, interval: float = MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    def ready(self, final: bool = False) -> bool:
        now = self._clock()
        if final or self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False


class ProgressLike(Protocol):
    """What :func:`describe` reads (``appliance.pipeline.ScanProgress`` has these)."""

    done: int
    total: int
    tiles_done: int
    tiles_total: int
    rate: float
    eta_s: float | None
    current: str | None


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 10 s"``, ``"1 h 05 min"``: how long, for a person."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_rate(rate: float) -> str:
    """Images per second, or seconds per image when slower than one a second."""
    if rate <= 0:
        return "…"
    if rate >= 1:
        return f"{rate:.1f} images/s"
    return f"{1 / rate:.1f} s/image"


def describe(progress: ProgressLike) -> list[str]:
    """The parts of a progress line, most important first: images, tiles, rate, ETA.
    (The current file is left to the caller, who knows how much room it has.)"""
    parts = [f"{progress.done}/{progress.total} images"]
    if progress.tiles_total:
        parts.append(f"tiles {progress.tiles_done}/{progress.tiles_total}")
    if progress.rate > 0:
        parts.append(format_rate(progress.rate))
    if progress.eta_s is not None and progress.done < progress.total:
        parts.append(f"about {format_duration(progress.eta_s)} left")
    return parts


class _Report(Protocol):
    done: int
    total: int
    recent: tuple


class Coalescer:
    """Wraps a progress listener that must not be flooded (a GUI's event loop fed from a worker
    thread): passes a report on at most every ``interval`` seconds, and always the one that
    completes the scan; the images of reports held back travel in the next one's ``recent``.
    """

    def __init__(
        self,
        listener: Callable[[_Report], None],
        interval: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.listener = listener
        self._throttle = Throttle(interval, clock)
        self._held: list = []

    def __call__(self, progress: _Report) -> None:
        self._held.extend(progress.recent)
        if not self._throttle.ready(final=progress.done >= progress.total):
            return
        held, self._held = tuple(self._held), []
        if held != tuple(progress.recent):
            progress = dataclasses.replace(progress, recent=held)  # type: ignore[type-var]
        self.listener(progress)
