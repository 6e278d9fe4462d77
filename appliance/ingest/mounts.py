"""Where the system mounted a device, read from ``/proc/self/mountinfo``.

The appliance never mounts anything itself (the system does, read-only, through udisks2 or
systemd-mount); it only needs to find the mount point of a stick udev told it about, and to check
that the mount is read-only. The table is re-read on every question because mounts change while
the appliance runs, and the file is small.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    r"""Undo the kernel's octal escapes in mountinfo fields (``\040`` is a space)."""
    return _OCTAL.sub(lambda match: chr(int(match.group(1), 8)), field)


@dataclass(frozen=True)
class MountEntry:
    """One line of mountinfo, the parts the appliance uses."""

    device_number: tuple[int, int]
    mount_point: Path
    options: frozenset[str]
    fs_type: str
    source: str
    super_options: frozenset[str]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options or "ro" in self.super_options


def parse_mountinfo(text: str) -> list[MountEntry]:
    """Parse mountinfo text; malformed lines are ignored rather than fatal."""
    entries: list[MountEntry] = []
    for line in text.splitlines():
        fields = line.split()
        try:
            separator = fields.index("-", 6)
            major, minor = (int(part) for part in fields[2].split(":"))
            entries.append(
                MountEntry(
                    device_number=(major, minor),
                    mount_point=Path(unescape(fields[4])),
                    options=frozenset(fields[5].split(",")),
                    fs_type=unescape(fields[separator + 1]),
                    source=unescape(fields[separator + 2]),
                    super_options=frozenset(
                        fields[separator + 3].split(",") if len(fields) > separator + 3 else ()
                    ),
                )
            )
        except (ValueError, IndexError):
            continue
    return entries


class MountTable:
    """Questions about current mounts; ``path`` is injectable so tests can use a fixture file."""

    def __init__(self, path: Path = DEFAULT_MOUNTINFO) -> None:
        self.path = Path(path)

    def entries(self) -> list[MountEntry]:
        try:
            return parse_mountinfo(self.path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return []

    def mount_point_of(self, device_node: str) -> Path | None:
        """First mount point of ``device_node`` (e.g. ``/dev/sda1``), or None when not mounted.

        Matches the mount source by name, by resolved symlink (``/dev/disk/by-uuid/...``) and,
        when the node exists, by device number, so it works however the mount was set up.
        """
        real_node = os.path.realpath(device_node)
        try:
            rdev = os.stat(device_node).st_rdev
            number: tuple[int, int] | None = (os.major(rdev), os.minor(rdev)) if rdev else None
        except OSError:
            number = None
        for entry in self.entries():
            if entry.source == device_node or (
                entry.source.startswith("/") and os.path.realpath(entry.source) == real_node
            ):
                return entry.mount_point
            if number is not None and entry.device_number == number:
                return entry.mount_point
        return None

    def is_read_only(self, mount_point: Path | str) -> bool:
        """True when the (topmost) mount at ``mount_point`` is read-only; False if not mounted."""
        target = Path(mount_point)
        found: MountEntry | None = None
        for entry in self.entries():
            if entry.mount_point == target:
                found = entry  # later lines are mounted on top of earlier ones
        return found is not None and found.read_only
