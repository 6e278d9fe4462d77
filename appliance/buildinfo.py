"""When was this software built, and is the clock believable against it?

Why: a Raspberry Pi 4 has no battery-backed clock. After a power cut without network it starts at
the time ``fake-hwclock`` last saved, or, without it, somewhere in the past; every audit row and
report would then carry a wrong time without anyone noticing. The one thing the appliance knows
for sure is that "now" cannot be earlier than the moment its own software (or its model) was
made, so a clock earlier than that is *not believable*. A clock that is merely late (restored
from the last save) cannot be detected offline; that is what ``fake-hwclock`` keeps small.

The reference time comes from, in order: ``/usr/share/histo-appliance/build-info.json``
(written by the .deb build), ``<sys.prefix>/share/histo-appliance/build-info.json``, else the
newest modification time of the package's own files. The model card's ``provenance.created`` is
a second lower bound and wins when it is later. Each answer says which source it used.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SYSTEM_BUILD_INFO = Path("/usr/share/histo-appliance/build-info.json")
PACKAGE_DIR = Path(__file__).resolve().parent


def build_info_paths() -> tuple[Path, ...]:
    """Where build-info.json may be: the .deb's place, then the running environment's."""
    return (SYSTEM_BUILD_INFO, Path(sys.prefix) / "share" / "histo-appliance" / "build-info.json")


@dataclass(frozen=True)
class Reference:
    """A moment the present cannot be earlier than, and where that knowledge came from."""

    when: datetime
    source: str


@dataclass(frozen=True)
class ClockStatus:
    """The clock as judged at one moment. ``believable`` is False only when provably wrong."""

    now: datetime
    reference: Reference | None
    believable: bool

    @property
    def summary(self) -> str:
        now = _short(self.now)
        if self.reference is None:
            return f"clock reads {now}; no build time known to check it against"
        ref = f"{_short(self.reference.when)} ({self.reference.source})"
        if self.believable:
            return f"clock reads {now}, not earlier than {ref}"
        return f"clock reads {now}, EARLIER than {ref}: the clock is wrong"

    @property
    def advice(self) -> str:
        """What the admin does about a wrong clock (there is no network to ask)."""
        return (
            "Set the date and time by hand, e.g. sudo date -s '2027-01-31 14:05', then sudo"
            " fake-hwclock save so it survives the next reboot (timedatectl set-time refuses"
            " while network time sync is on: run sudo timedatectl set-ntp false first)."
        )


def _short(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def parse_time(text: object) -> datetime | None:
    """An ISO-8601 time as an aware UTC datetime (naive means UTC); None when unusable."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def read_build_info(path: Path) -> dict | None:
    """The build facts at ``path``, or None when the file is absent or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def newest_file_time(folder: Path = PACKAGE_DIR) -> datetime | None:
    """The newest modification time among the package's Python files (a build's lower bound)."""
    newest = 0.0
    try:
        for path in folder.rglob("*.py"):
            try:
                newest = max(newest, path.stat().st_mtime)
            except OSError:
                continue
    except OSError:
        return None
    return datetime.fromtimestamp(newest, UTC) if newest else None


def reference_time(
    *,
    card_created: object = None,
    paths: tuple[Path, ...] | None = None,
    package_dir: Path = PACKAGE_DIR,
) -> Reference | None:
    """The latest moment known to be in the past, with its source (None when nothing is known)."""
    found: Reference | None = None
    for path in paths if paths is not None else build_info_paths():
        info = read_build_info(path)
        built = parse_time(info.get("built_at")) if info else None
        if built is not None:
            found = Reference(built, f"build time in {path}")
            break
    if found is None:
        newest = newest_file_time(package_dir)
        if newest is not None:
            found = Reference(newest, f"newest file of the installed package in {package_dir}")
    created = parse_time(card_created)
    if created is not None and (found is None or created > found.when):
        found = Reference(created, "creation time on the model card")
    return found


def judge_clock(
    *,
    now: datetime | None = None,
    card_created: object = None,
    paths: tuple[Path, ...] | None = None,
    package_dir: Path = PACKAGE_DIR,
) -> ClockStatus:
    """Is the system clock believable? Cheap: a small file read and, without build-info, a stat
    of the package's files."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    reference = reference_time(card_created=card_created, paths=paths, package_dir=package_dir)
    believable = reference is None or now >= reference.when
    return ClockStatus(now, reference, believable)
