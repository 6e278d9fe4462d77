"""The Pi's health: temperature, throttling and under-voltage, free disk and memory.

Why: a Pi 4 on a weak power supply or in a hot cabinet slows down (the firmware caps the clock)
and, under-voltage, can corrupt its SD card; a full disk stops the database. None of that is
visible from the outside, so ``doctor``, the GUI and each scan's record say it in words.

Sources (each path injectable, so tests use fixture files):

* temperature: ``/sys/class/thermal/thermal_zone0/temp`` (millidegrees Celsius);
* throttling: the firmware's ``get_throttled`` flags, from
  ``/sys/devices/platform/soc/soc:firmware/get_throttled`` (Raspberry Pi OS kernels; hex without
  ``0x``), else ``vcgencmd get_throttled`` (prints ``throttled=0x50005``) when it is installed,
  else the ``rpi_volt`` hwmon device's ``in0_lcrit_alarm`` (upstream kernels: under-voltage now,
  nothing else).
  Bits (Raspberry Pi documentation, ``vcgencmd``): 0 under-voltage now, 1 ARM frequency capped
  now, 2 throttled now, 3 soft temperature limit now; 16-19 the same "has occurred" since boot;
* disk: ``statvfs`` of the filesystems holding the database and the reports;
* memory: ``MemAvailable`` in ``/proc/meminfo``.

An absent source is "not available" (e.g. not a Raspberry Pi), never an error.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")
HWMON = Path("/sys/class/hwmon")
MEMINFO = Path("/proc/meminfo")

UNDER_VOLTAGE, FREQ_CAPPED, THROTTLED_NOW, SOFT_TEMP_LIMIT = 0x1, 0x2, 0x4, 0x8
LIVE_MASK = 0xF
STICKY_SHIFT = 16
CONDITIONS: tuple[tuple[int, str], ...] = (
    (UNDER_VOLTAGE, "under-voltage"),
    (FREQ_CAPPED, "ARM frequency capped"),
    (THROTTLED_NOW, "throttled"),
    (SOFT_TEMP_LIMIT, "soft temperature limit"),
)
HOT_C = 80.0  # the Pi 4 firmware starts throttling at 80 °C
LOW_DISK_BYTES = 1 << 30
LOW_MEMORY_BYTES = 200 << 20
POWER_ADVICE = "use the official 5.1 V / 3 A USB-C power supply and a short cable"


def conditions(bits: int) -> list[str]:
    """The names of the conditions set in the low nibble of ``bits``."""
    return [name for mask, name in CONDITIONS if bits & mask]


def describe_flags(flags: int) -> str:
    """Decoded ``get_throttled`` flags: what holds now and what has occurred since boot."""
    now = conditions(flags & LIVE_MASK)
    since = conditions((flags >> STICKY_SHIFT) & LIVE_MASK)
    parts = ["now: " + (", ".join(now) if now else "none")]
    parts.append("since boot: " + (", ".join(since) if since else "none"))
    return f"{'; '.join(parts)} (flags 0x{flags:x})"


def parse_flags(text: str) -> int:
    """``50005`` (sysfs), ``0x50005`` or ``throttled=0x50005`` (vcgencmd) as an int."""
    value = text.strip().split("=", 1)[-1].strip()
    return int(value, 16)


@dataclass(frozen=True)
class Sources:
    """Where the readings come from; tests point these at fixture files."""

    thermal: Path = THERMAL
    throttled: Path = THROTTLED
    meminfo: Path = MEMINFO
    vcgencmd: str | None = "vcgencmd"  # a command name or path; None: never run it
    hwmon: Path = HWMON


def read_temperature(sources: Sources = Sources()) -> float | None:
    """SoC temperature in °C, or None when there is no thermal zone."""
    try:
        return int(sources.thermal.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def read_throttled(sources: Sources = Sources()) -> tuple[int, str] | None:
    """The firmware's flags and where they were read, or None when not a Raspberry Pi."""
    try:
        return parse_flags(sources.throttled.read_text()), str(sources.throttled)
    except (OSError, ValueError):
        pass
    command = shutil.which(sources.vcgencmd) if sources.vcgencmd else None
    if command is not None:
        try:
            done = subprocess.run(
                [command, "get_throttled"], capture_output=True, text=True, timeout=5, check=False
            )
            if done.returncode == 0:
                return parse_flags(done.stdout), "vcgencmd get_throttled"
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    return read_hwmon_alarm(sources.hwmon)


def read_hwmon_alarm(hwmon: Path) -> tuple[int, str] | None:
    """Under-voltage now from the ``rpi_volt`` hwmon device (raspberrypi-hwmon driver)."""
    try:
        devices = sorted(hwmon.iterdir())
    except OSError:
        return None
    for device in devices:
        try:
            if (device / "name").read_text().strip() != "rpi_volt":
                continue
            alarm = device / "in0_lcrit_alarm"
            value = int(alarm.read_text().strip())
        except (OSError, ValueError):
            continue
        return (UNDER_VOLTAGE if value else 0), f"{alarm} (under-voltage now only, no history)"
    return None


def read_mem_available(sources: Sources = Sources()) -> int | None:
    """Bytes of memory available to new programs, or None when /proc/meminfo says nothing."""
    try:
        for line in sources.meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the value is in kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_disk(path: Path) -> int | None:
    """Free bytes (for an unprivileged user) on the filesystem that holds, or will hold, path."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def size_words(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class Reading:
    """One line of health: a name, what was found, and whether it needs someone's attention."""

    name: str
    detail: str
    warning: bool = False
    available: bool = True
    short: str = ""  # a few words for the GUI's status line; empty: not shown there
    advice: str = ""  # what to do about a warning, in words a technician can act on


@dataclass(frozen=True)
class Health:
    readings: list[Reading] = field(default_factory=list)

    @property
    def warnings(self) -> list[Reading]:
        return [r for r in self.readings if r.warning]

    def get(self, name: str) -> Reading | None:
        return next((r for r in self.readings if r.name == name), None)

    def compact(self) -> str:
        """One short line for a status bar: the facts, without the advice."""
        parts = [r.short for r in self.readings if r.available and r.short]
        return " · ".join(parts) if parts else "no health readings available"


def _against_limit(
    name: str, detail: str, short: str, *, past: bool, advice: str, tag: str
) -> Reading:
    """A reading with a limit: past it, the line says what to do and is a warning."""
    if not past:
        return Reading(name, detail, short=short)
    return Reading(
        name, f"{detail}: {advice}", warning=True, short=f"{short} ({tag})", advice=advice
    )


def temperature_reading(sources: Sources) -> Reading:
    celsius = read_temperature(sources)
    if celsius is None:
        return Reading("temperature", "not available (no thermal zone 0)", available=False)
    return _against_limit(
        "temperature",
        f"{celsius:.1f} °C",
        f"CPU {celsius:.0f} °C",
        past=celsius >= HOT_C,
        advice="too hot, the Pi slows down: give it air or a fan",
        tag="too hot",
    )


def throttle_reading(sources: Sources) -> Reading:
    found = read_throttled(sources)
    if found is None:
        return Reading(
            "throttling",
            "not available (not a Raspberry Pi: no firmware get_throttled, vcgencmd"
            " or rpi_volt hwmon)",
            available=False,
        )
    flags, where = found
    live = flags & LIVE_MASK
    if live & UNDER_VOLTAGE:
        short, advice = "UNDER-VOLTAGE now", POWER_ADVICE
    elif live:
        short = "slowed down now (" + ", ".join(conditions(live)) + ")"
        advice = "check the temperature and the power supply"
    elif (flags >> STICKY_SHIFT) & UNDER_VOLTAGE:
        short, advice = "under-voltage since boot", POWER_ADVICE
    else:
        short, advice = "not throttled", ""
    detail = f"{describe_flags(flags)} from {where}"
    if advice:
        detail = f"{short}: {advice}; {detail}"
    return Reading("throttling", detail, warning=bool(advice), short=short, advice=advice)


def disk_reading(name: str, path: Path) -> Reading:
    free = free_disk(path)
    if free is None:
        return Reading(name, f"not available for {path}", available=False)
    return _against_limit(
        name,
        f"{size_words(free)} free for {path}",
        f"{name.replace('disk (', '').rstrip(')')} disk {size_words(free)} free",
        past=free < LOW_DISK_BYTES,
        advice="low: remove old exported reports or backups",
        tag="low",
    )


def memory_reading(sources: Sources) -> Reading:
    available = read_mem_available(sources)
    if available is None:
        return Reading(
            "memory", "not available (no MemAvailable in /proc/meminfo)", available=False
        )
    return _against_limit(
        "memory",
        f"{size_words(available)} available",
        f"memory {size_words(available)} free",
        past=available < LOW_MEMORY_BYTES,
        advice="low: restart the appliance",
        tag="low",
    )


def read_health(database: Path, reports: Path, sources: Sources = Sources()) -> Health:
    """Every reading; cheap (a few small file reads, at most one short command)."""
    return Health(
        [
            temperature_reading(sources),
            throttle_reading(sources),
            disk_reading("disk (database)", Path(database).parent),
            disk_reading("disk (reports)", Path(reports)),
            memory_reading(sources),
        ]
    )


class ThrottleMonitor:
    """Throttling during one scan: the flags at its start and end, plus cheap samples between.

    Why more than two samples: on Raspberry Pi OS the kernel's ``raspberrypi-hwmon`` driver polls
    the firmware every 2 s and asks it to clear the "has occurred" bits, so a throttle in the
    middle of a long scan may no longer show in the sticky bits at its end. Reading the sysfs
    file costs microseconds, so it is sampled after each image; ``vcgencmd`` (a process start)
    only at start and end. ``during`` holds the conditions (low-nibble form) seen while the scan
    ran: any live bit in any sample, or a sticky bit that was clear at the start and set later.
    """

    def __init__(self, reader: Callable[[], tuple[int, str] | None] | None = None) -> None:
        self._reader = reader or read_throttled
        self.at_start: int | None = None
        self.at_end: int | None = None
        self.during: int | None = None
        self._cheap = False

    def _read(self) -> int | None:
        found = self._reader()
        if found is None:
            return None
        flags, where = found
        self._cheap = not where.startswith("vcgencmd")
        return flags

    def _add(self, flags: int | None) -> None:
        if flags is None or self.at_start is None:
            return
        new_sticky = (flags >> STICKY_SHIFT) & ~(self.at_start >> STICKY_SHIFT) & LIVE_MASK
        self.during = (self.during or 0) | (flags & LIVE_MASK) | new_sticky

    def start(self) -> int | None:
        self.at_start = self._read()
        if self.at_start is not None:
            self.during = self.at_start & LIVE_MASK
        return self.at_start

    def sample(self) -> None:
        """Between images: only when reading is cheap (sysfs), never by starting a process."""
        if self._cheap and self.at_start is not None:
            self._add(self._read())

    def end(self) -> int | None:
        if self.at_start is None:
            return None
        self.at_end = self._read()
        self._add(self.at_end)
        return self.at_end


def scan_throttle_words(during: int | None) -> str:
    """How a scan's record words its throttling (``during`` as kept by ThrottleMonitor)."""
    if during is None:
        return "not measured (not a Raspberry Pi, or the firmware flags could not be read)"
    if not during:
        return "not throttled"
    names = ", ".join(conditions(during))
    text = f"ran throttled: {names}. Results do not depend on speed, but the scan was slower"
    if during & UNDER_VOLTAGE:
        text += f"; under-voltage can damage the SD card: {POWER_ADVICE}"
    return text
