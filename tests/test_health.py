"""The clock judged against the build time, and the Pi's health read from fixture files.

The fixtures are what a Raspberry Pi OS kernel and firmware print (sysfs: hex without ``0x``;
vcgencmd: ``throttled=0x50005``), so these tests exercise the real parsing without a Pi.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance import health
from appliance.buildinfo import judge_clock, parse_time, reference_time
from appliance.health import Sources, ThrottleMonitor, read_health, scan_throttle_words

BUILT = "2026-11-30T12:00:00+00:00"


def build_info(folder: Path, built_at: str = BUILT) -> Path:
    path = folder / "build-info.json"
    path.write_text(json.dumps({"version": "0.2.0", "built_at": built_at, "target": "x"}))
    return path


# -- clock ---------------------------------------------------------------------------------------


def test_clock_earlier_than_build_is_not_believable(tmp_path: Path) -> None:
    info = build_info(tmp_path)
    wrong = judge_clock(now=datetime(2020, 1, 1, tzinfo=UTC), paths=(info,))
    assert not wrong.believable
    assert "EARLIER" in wrong.summary and str(info) in wrong.summary
    assert "fake-hwclock save" in wrong.advice and "date -s" in wrong.advice
    right = judge_clock(now=datetime(2026, 12, 1, tzinfo=UTC), paths=(info,))
    assert right.believable and right.reference.source == f"build time in {info}"


def test_first_build_info_found_wins_then_package_files(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "build-info.json"
    damaged = tmp_path / "damaged.json"
    damaged.write_text("{not json")
    second = build_info(tmp_path, "2025-01-01T00:00:00Z")
    found = reference_time(paths=(missing, damaged, second))
    assert found.when == datetime(2025, 1, 1, tzinfo=UTC)
    assert str(second) in found.source

    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("")
    stamp = datetime(2024, 6, 1, tzinfo=UTC).timestamp()
    os.utime(package / "a.py", (stamp, stamp))
    fallback = reference_time(paths=(missing,), package_dir=package)
    assert fallback.when == datetime(2024, 6, 1, tzinfo=UTC)
    assert "newest file" in fallback.source


def test_a_later_model_card_raises_the_bar(tmp_path: Path) -> None:
    info = build_info(tmp_path, "2026-01-01T00:00:00+00:00")
    status = judge_clock(now=datetime(2026, 6, 1, tzinfo=UTC), card_created=BUILT, paths=(info,))
    assert not status.believable
    assert status.reference.source == "creation time on the model card"
    # An unreadable card date changes nothing.
    assert judge_clock(now=datetime(2026, 6, 1, tzinfo=UTC), card_created="soon", paths=(info,))


def test_parse_time_accepts_utc_forms_and_refuses_junk() -> None:
    assert parse_time("2026-11-30T12:00:00Z") == parse_time(BUILT)
    assert parse_time("2026-11-30T12:00:00") == parse_time(BUILT)  # naive is UTC
    assert parse_time("yesterday") is None and parse_time(None) is None


# -- health --------------------------------------------------------------------------------------


def pi(tmp_path: Path, *, temp: str = "48312\n", throttled: str = "0\n", avail_kb: int = 1_500_000):
    """A fake Pi: the three files the kernel provides, in their real formats."""
    (tmp_path / "temp").write_text(temp)
    (tmp_path / "get_throttled").write_text(throttled)
    (tmp_path / "meminfo").write_text(
        f"MemTotal:        3884328 kB\nMemFree:          812345 kB\nMemAvailable:   {avail_kb} kB\n"
    )
    return Sources(
        thermal=tmp_path / "temp",
        throttled=tmp_path / "get_throttled",
        meminfo=tmp_path / "meminfo",
        vcgencmd=None,
        hwmon=tmp_path / "no-hwmon",
    )


def test_healthy_pi(tmp_path: Path) -> None:
    found = read_health(tmp_path / "db" / "appliance.db", tmp_path / "reports", pi(tmp_path))
    assert found.get("temperature").detail == "48.3 °C"
    assert found.get("throttling").detail.startswith("now: none; since boot: none (flags 0x0)")
    assert "1.4 GB available" in found.get("memory").detail
    assert "free for" in found.get("disk (database)").detail  # folder not made yet: its parent
    assert not found.warnings
    assert "CPU 48 °C" in found.compact() and "not throttled" in found.compact()


@pytest.mark.parametrize(
    ("flags", "words", "short"),
    [
        ("50005", "UNDER-VOLTAGE now: use the official 5.1 V", "UNDER-VOLTAGE now"),
        ("50000", "under-voltage since boot: use the official", "under-voltage since boot"),
        ("80008", "slowed down now (soft temperature limit): check", None),
        ("20002", "slowed down now (ARM frequency capped): check", None),
    ],
)
def test_throttled_flags_are_decoded(tmp_path: Path, flags: str, words: str, short: str) -> None:
    reading = read_health(tmp_path, tmp_path, pi(tmp_path, throttled=flags)).get("throttling")
    assert reading.warning and reading.detail.startswith(words)
    assert reading.short == (short or words.split(":")[0])
    assert f"0x{flags}" in reading.detail


def test_decoding_names_every_documented_bit() -> None:
    text = health.describe_flags(0x000F000F)
    for name in ("under-voltage", "ARM frequency capped", "throttled", "soft temperature limit"):
        assert text.count(name) == 2  # once now, once since boot


def test_hot_and_low_memory_and_low_disk_warn(tmp_path: Path, monkeypatch) -> None:
    sources = pi(tmp_path, temp="82500", avail_kb=100_000)
    monkeypatch.setattr(health.shutil, "disk_usage", lambda p: os_usage(free=300 << 20))
    found = read_health(tmp_path / "a.db", tmp_path, sources)
    assert {r.name for r in found.warnings} == {
        "temperature",
        "memory",
        "disk (database)",
        "disk (reports)",
    }
    assert "too hot" in found.get("temperature").detail
    assert "remove old exported reports" in found.get("disk (reports)").advice


def os_usage(free: int):
    from collections import namedtuple

    return namedtuple("usage", "total used free")(free * 10, free * 9, free)


def test_not_a_pi_says_not_available(tmp_path: Path) -> None:
    absent = Sources(
        thermal=tmp_path / "no-temp",
        throttled=tmp_path / "no-throttled",
        meminfo=tmp_path / "no-meminfo",
        vcgencmd=None,
        hwmon=tmp_path / "no-hwmon",
    )
    found = read_health(tmp_path / "a.db", tmp_path, absent)
    assert "not a Raspberry Pi" in found.get("throttling").detail
    assert "not available" in found.get("temperature").detail
    assert not found.get("throttling").available and not found.warnings


def test_vcgencmd_is_the_fallback(tmp_path: Path) -> None:
    tool = tmp_path / "vcgencmd"
    tool.write_text('#!/bin/sh\n[ "$1" = get_throttled ] && echo "throttled=0x50005"\n')
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    sources = Sources(throttled=tmp_path / "absent", vcgencmd=str(tool), hwmon=tmp_path)
    assert health.read_throttled(sources) == (0x50005, "vcgencmd get_throttled")


def test_hwmon_under_voltage_alarm_is_the_last_resort(tmp_path: Path) -> None:
    """Upstream kernels (no firmware sysfs file, no vcgencmd) still report under-voltage now."""
    for index, (name, alarm) in enumerate((("cpu_thermal", None), ("rpi_volt", "1"))):
        device = tmp_path / "hwmon" / f"hwmon{index}"
        device.mkdir(parents=True)
        (device / "name").write_text(name + "\n")
        if alarm is not None:
            (device / "in0_lcrit_alarm").write_text(alarm + "\n")
    sources = Sources(throttled=tmp_path / "absent", vcgencmd=None, hwmon=tmp_path / "hwmon")
    flags, where = health.read_throttled(sources)
    assert flags == health.UNDER_VOLTAGE and "hwmon1/in0_lcrit_alarm" in where
    assert "no history" in where
    (tmp_path / "hwmon" / "hwmon1" / "in0_lcrit_alarm").write_text("0\n")
    assert health.read_throttled(sources)[0] == 0


def test_monitor_catches_a_throttle_between_start_and_end() -> None:
    readings = iter([0x0, 0x0, 0x50005, 0x50000, 0x0])
    monitor = ThrottleMonitor(lambda: (next(readings), "/sys/…/get_throttled"))
    assert monitor.start() == 0
    for _ in range(3):
        monitor.sample()
    assert monitor.end() == 0  # the kernel cleared the sticky bits by then
    assert monitor.during == health.UNDER_VOLTAGE | health.THROTTLED_NOW
    assert scan_throttle_words(monitor.during).startswith("ran throttled: under-voltage, throttled")


def test_monitor_ignores_what_happened_before_the_scan() -> None:
    readings = iter([0x50000, 0x50000])
    monitor = ThrottleMonitor(lambda: (next(readings), "/sys/…/get_throttled"))
    monitor.start()
    monitor.end()
    assert monitor.during == 0 and scan_throttle_words(0) == "not throttled"


def test_monitor_does_not_start_vcgencmd_between_images() -> None:
    calls = []

    def reader():
        calls.append(1)
        return 0x0, "vcgencmd get_throttled"

    monitor = ThrottleMonitor(reader)
    monitor.start()
    monitor.sample()
    monitor.end()
    assert len(calls) == 2


def test_monitor_without_a_pi_measures_nothing() -> None:
    monitor = ThrottleMonitor(lambda: None)
    assert monitor.start() is None and monitor.end() is None and monitor.during is None
    assert scan_throttle_words(None).startswith("not measured")
