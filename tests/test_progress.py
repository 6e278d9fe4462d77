"""Progress: smoothed rate and ETA, thinning reports for an event loop, and the words shown."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import pytest

from appliance.progress import (
    ProgressLine,
    RateMeter,
    Throttle,
    describe,
    format_duration,
    format_rate,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Report:
    done: int
    total: int
    tiles_done: int = 0
    tiles_total: int = 0
    rate: float = 0.0
    eta_s: float | None = None
    current: str | None = None
    recent: tuple = ()


def test_rate_and_eta_follow_a_steady_scan_and_wait_for_data() -> None:
    clock = FakeClock()
    meter = RateMeter(clock)
    clock.now = 0.5
    assert meter.update(1, 100).eta_s is None  # too early to promise anything
    for step in range(2, 21):
        clock.now = step * 0.5  # two images a second
        pace = meter.update(step, 100)
    assert pace.rate == pytest.approx(2.0, rel=0.05)
    assert pace.eta_s == pytest.approx(40.0, rel=0.05)


def test_rate_counts_the_share_of_tiles_of_a_large_image() -> None:
    clock = FakeClock()
    meter = RateMeter(clock)
    for step in range(1, 11):
        clock.now = step * 1.0
        pace = meter.update(step * 0.1, 2)  # one tenth of an image a second
    assert pace.rate == pytest.approx(0.1, rel=0.05)
    assert pace.eta_s == pytest.approx(10.0, rel=0.1)


def test_one_slow_image_does_not_make_the_eta_jump() -> None:
    clock = FakeClock()
    meter = RateMeter(clock)
    for step in range(1, 31):
        clock.now = step * 0.1  # ten a second
        meter.update(step, 1000)
    clock.now += 2.0  # one image took two seconds
    pace = meter.update(31, 1000)
    assert pace.rate > 5.0


def test_throttle_lets_one_report_through_per_interval_and_every_final_one() -> None:
    clock = FakeClock()
    throttle = Throttle(0.1, clock)
    passed = []
    for step in range(100):
        clock.now = step * 0.01
        passed.append(throttle.ready())
    assert sum(passed) == 10
    assert throttle.ready(final=True)


def test_words_of_a_progress_line() -> None:
    assert format_duration(42) == "42 s"
    assert format_duration(190) == "3 min 10 s"
    assert format_duration(3900) == "1 h 05 min"
    assert format_rate(4.25) == "4.2 images/s"
    assert format_rate(0.25) == "4.0 s/image"
    report = Report(37, 200, 410, 1296, 2.0, 81.5, "case/a.png")
    assert describe(report) == [
        "37/200 images",
        "tiles 410/1296",
        "2.0 images/s",
        "about 1 min 22 s left",
    ]
    assert describe(replace(report, tiles_total=0, eta_s=None)) == ["37/200 images", "2.0 images/s"]


def test_cli_progress_on_a_terminal_redraws_one_line_with_the_current_file() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    line = ProgressLine(stream)
    line(Report(3, 10, 0, 0, 1.5, 4.7, "case-1/slide\x1b[31m.png"))
    line.close()
    text = stream.getvalue()
    assert text.startswith("\r[") and text.endswith("\n")
    assert "3/10 images" in text and "1.5 images/s" in text and "about 5 s left" in text
    assert "case-1/slide" in text and "\x1b" not in text  # a hostile name is shown escaped


def test_cli_progress_in_a_log_writes_plain_lines_now_and_then() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream, log_every_s=3600)
    for done in range(1, 11):
        line(Report(done, 10, current=f"c/{done}.png" if done < 10 else None))
    lines = stream.getvalue().splitlines()
    assert lines == ["progress: 1/10 images · c/1.png", "progress: 10/10 images"]
