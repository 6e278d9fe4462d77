"""Who runs a scan, so a scan whose process died can be told from one still running.

Why: a power cut or ``kill -9`` leaves a scan row ``running`` for ever. Each scan records the
process that runs it (pid, the kernel's boot id, the process's start time and pid namespace).
A later start marks a ``running`` scan ``interrupted`` only when that process is certainly gone:
the machine has rebooted since, or no process has that pid, or the pid now belongs to a process
started at another time. The GUI and the watcher run at the same time, so when in doubt (a pid
that exists but cannot be inspected, another pid namespace) a scan is left alone.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ScanOwner:
    """The process that runs a scan; ``None`` fields were not available on this system."""

    pid: int
    boot_id: str | None
    start_ticks: int | None
    pid_ns: str | None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def boot_id(proc: Path = PROC) -> str | None:
    """The kernel's random id for this boot (changes at every boot; Linux only)."""
    return _read(proc / "sys/kernel/random/boot_id")


def start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (field 22 of ``/proc/pid/stat``)."""
    stat = _read(proc / str(pid) / "stat")
    if stat is None:
        return None
    try:
        # The command name (field 2) may hold spaces and brackets: split after its last ')'.
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (ValueError, IndexError):
        return None


def pid_namespace(pid: int | str = "self", proc: Path = PROC) -> str | None:
    try:
        return os.readlink(proc / str(pid) / "ns/pid")
    except OSError:
        return None


def current(proc: Path = PROC) -> ScanOwner:
    pid = os.getpid()
    return ScanOwner(pid, boot_id(proc), start_ticks(pid, proc), pid_namespace("self", proc))


def pid_exists(pid: int) -> bool:
    """True unless no process has ``pid`` (a process of another user still counts)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno != errno.ESRCH
    return True


def gone_reason(owner: ScanOwner | None, me: ScanOwner, proc: Path = PROC) -> str | None:
    """Why the scan's process is certainly gone ("restarted", "stopped"), or None if it may live.

    ``owner`` None: the scan was started by software from before owners were recorded; such a
    program cannot open this (newer) database, so its scan cannot still be running.
    """
    if owner is None:
        return "older"
    if owner.boot_id and me.boot_id and owner.boot_id != me.boot_id:
        return "restarted"
    if owner.boot_id is None or me.boot_id is None:
        return None
    if owner.pid_ns != me.pid_ns:
        return None  # another pid namespace: its pids mean nothing here
    if owner.pid == me.pid:
        return None if owner.start_ticks == me.start_ticks else "stopped"
    if not pid_exists(owner.pid):
        return "stopped"
    ticks = start_ticks(owner.pid, proc)
    if ticks is not None and owner.start_ticks is not None and ticks != owner.start_ticks:
        return "stopped"  # the pid was reused by a later process
    return None


def abandoned_message(reason: str, n_images: int) -> str:
    kept = f"its {n_images} finished image{'s' if n_images != 1 else ''} are kept"
    if n_images == 1:
        kept = "its 1 finished image is kept"
    why = {
        "restarted": "the appliance stopped (power cut, crash or restart) while this scan ran",
        "stopped": "the program running this scan stopped (crash or killed) before it finished",
        "older": "the appliance stopped while this scan ran (found after a software update)",
    }[reason]
    return f"interrupted: {why}; {kept}. Scan the stick again to finish it."


__all__ = [
    "ScanOwner",
    "abandoned_message",
    "boot_id",
    "current",
    "gone_reason",
    "pid_exists",
    "start_ticks",
]
