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

import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from appliance.text import display_text

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
        """``done`` images (fractional: the current image's share of tiles), of ``total``.
        Nothing is promised in the first :data:`MIN_TIMED_S`: the first images of a stick
        (errors recorded at once, a patch decoded while the interpreter warms up) say little."""
        now = self._clock()
        elapsed = now - self._start
        if elapsed < MIN_TIMED_S:
            return Pace(0.0, None)
        step = now - self._last_time
        if self._rate is None:
            self._rate = done / elapsed
            self._last_time, self._last_done = now, done
        elif step > 0 and done > self._last_done:
            instant = (done - self._last_done) / step
            weight = 1.0 - math.exp(-step / SMOOTHING_S)
            self._rate += weight * (instant - self._rate)
            self._last_time, self._last_done = now, done
        if self._rate <= 0:
            return Pace(0.0, None)
        return Pace(self._rate, max(0.0, total - done) / self._rate)


class TileTimer:
    """Seconds left for the tiled image being analysed, from the pace of its own tiles (a
    region of a thousand tiles would make an images-per-second ETA meaningless)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start: tuple[float, int] | None = None

    def reset(self) -> None:
        self._start = None

    def remaining(self, done: int, total: int) -> float | None:
        now = self._clock()
        if self._start is None:
            self._start = (now, done)
            return None
        started, first = self._start
        if now - started < MIN_TIMED_S or done <= first:
            return None
        return (total - done) * (now - started) / (done - first)


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


class ScanReporter:
    """Builds one scan's progress reports (``make`` is ``appliance.pipeline.ScanProgress``):
    rate and ETA, tile reports at most every :data:`MIN_INTERVAL_S`, one report after every
    batch of rows stored, carrying the images stored since the last report (``recent``)."""

    def __init__(
        self,
        callback: Callable[[Any], None] | None,
        outcomes: list[Any],
        total: int,
        make: Callable[..., Any],
    ) -> None:
        self.callback = callback
        self.outcomes = outcomes  # the scan's list, appended to as rows are stored
        self.total = total
        self.make = make
        self.current: str | None = None
        self._meter = RateMeter()
        self._tile_timer = TileTimer()
        self._throttle = Throttle()
        self._sent = 0  # outcomes already carried by a report
        self._tiles = (0, 0)

    def __call__(self, final: bool = True) -> None:
        if self.callback is None or not self._throttle.ready(final):
            return
        outcomes = self.outcomes
        done, (tiles_done, tiles_total) = len(outcomes), self._tiles
        share = tiles_done / tiles_total if tiles_total else 0.0
        pace = self._meter.update(done + share, self.total)
        eta = pace.eta_s
        if tiles_total and (here := self._tile_timer.remaining(tiles_done, tiles_total)):
            # A tiled image: its own tiles' pace, then the images after it at the usual rate.
            after = self.total - done - 1
            eta = here + (after / pace.rate if pace.rate > 0 else 0.0)
        recent, self._sent = tuple(outcomes[self._sent :]), done
        self.callback(
            self.make(
                done=done,
                total=self.total,
                latest=outcomes[-1] if outcomes else None,
                tiles_done=tiles_done,
                tiles_total=tiles_total,
                rate=pace.rate,
                eta_s=eta,
                current=self.current if done < self.total else None,
                recent=recent,
            )
        )

    def tiles(self, done: int, total: int) -> None:
        """From the classifier, as a tiled image advances."""
        self._tiles = (done, total)
        self(final=False)

    def next_image(self, following: str | None) -> None:
        """An image is finished; ``following`` is the file analysed next (shown as current).
        The report itself comes when its row is stored (``appliance.store.batching``)."""
        self._tiles = (0, 0)
        self._tile_timer.reset()
        self.current = following


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
        left = format_duration(progress.eta_s) if progress.eta_s >= 1 else "a second"
        parts.append(f"about {left} left")
    return parts


class ProgressLine:
    """Scan progress on a terminal, or in a log (``watch`` under systemd goes to the journal).

    On a terminal one line is redrawn in place: a bar, images (and tiles of a large image) done,
    the rate, the time left and the file being analysed (:mod:`appliance.progress` words them).
    Elsewhere a plain line is written at most every ``log_every_s`` seconds, so a log shows a
    long scan moving without a line per image."""

    def __init__(self, stream: TextIO | None = None, *, log_every_s: float = 15.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._clock = time.monotonic
        self._log_every_s = log_every_s
        self._last_log: float | None = None
        self._drawn = False

    def __call__(self, progress: ProgressLike) -> None:
        parts = describe(progress)
        if self.interactive:
            total = max(progress.total, 1)
            filled = int(20 * progress.done / total)
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] "
            line = bar + " · ".join(parts)
            width = shutil.get_terminal_size((100, 20)).columns - 1
            room = width - len(line) - 3
            if progress.current and room >= 12:
                line += " · " + display_text(progress.current, room)
            self.stream.write("\r" + line[:width].ljust(width))
            self._drawn = True
        else:
            now = self._clock()
            finished = progress.done >= progress.total
            recent = self._last_log is not None and now - self._last_log < self._log_every_s
            if recent and not finished:
                return
            self._last_log = now
            current = f" · {display_text(progress.current, 60)}" if progress.current else ""
            self.stream.write("progress: " + " · ".join(parts) + current + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
