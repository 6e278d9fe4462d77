"""Asking udisks2 to mount and unmount a stick, through its command-line client ``udisksctl``.

Why udisks2: the appliance runs as an unprivileged, sandboxed user (no capabilities, no new
privileges), so it cannot call mount(2) itself. udisksd (root, outside the sandbox) does it on
request, and a polkit rule (``systemd/polkit/50-histo-appliance.rules``) allows exactly the user
``histo-appliance`` to mount and unmount USB file systems, nothing else. udisks always adds
``nosuid,nodev``; the appliance asks for ``ro`` (or, for the one explicit write step, ``rw``) and
``noexec``. When the stick is pulled out, udisksd removes its mount itself.

Why ``udisksctl`` rather than a D-Bus library: no new Python dependency, and it is in the same
Debian package as the daemon. The runner is injectable, so the logic is tested with a fake and no
root, no D-Bus and no hardware; the real runner is :func:`run_command`, a few lines.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from appliance.errors import ApplianceError

log = logging.getLogger(__name__)

READ_ONLY = "ro,nosuid,nodev,noexec"
READ_WRITE = "rw,nosuid,nodev,noexec"
TIMEOUT = 30.0  # seconds; a FAT check on a big stick can take a while
_MOUNTED = re.compile(r"^Mounted (?P<device>\S+) at (?P<path>.+?)\.?$", re.MULTILINE)


class MountError(ApplianceError):
    """udisks2 refused or failed to mount/unmount; the message says why in words."""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str]], CommandResult]


def run_command(argv: Sequence[str], timeout: float = TIMEOUT) -> CommandResult:
    """Run one command without a shell; a missing program or a timeout becomes a result."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        return CommandResult(127, "", str(exc))
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"{argv[0]} did not answer within {timeout:.0f} s")
    return CommandResult(done.returncode, done.stdout, done.stderr)


class Mounter(Protocol):
    """What the appliance needs from whoever mounts sticks (udisks2 here, fakes in tests)."""

    def mount(self, device: str, options: str) -> Path: ...

    def unmount(self, device: str) -> None: ...


def _reason(stderr: str) -> str:
    """udisksctl's error in words a technician can act on (the raw text is kept at the end)."""
    text = " ".join(stderr.split())
    lowered = text.lower()
    if "notauthorized" in lowered or "not authorized" in lowered:
        why = (
            "this system does not allow the appliance to mount sticks (the polkit rule for the"
            " user histo-appliance is missing)"
        )
    elif "busy" in lowered:
        why = "the stick is in use by another program"
    elif "not mounted" in lowered:
        why = "the stick is not mounted"
    elif "already mounted" in lowered:
        why = "the stick is already mounted"
    elif "no such" in lowered or "doesn't exist" in lowered or "not found" in lowered:
        why = "the stick is no longer there"
    elif "option" in lowered and ("not permitted" in lowered or "not allowed" in lowered):
        why = "udisks2 does not allow the requested mount options"
    else:
        why = "udisks2 reported an error"
    return f"{why} ({text})" if text else why


class UdisksMounter:
    """Mount and unmount block devices through ``udisksctl`` (never interactive)."""

    def __init__(self, runner: Runner = run_command, program: str = "udisksctl") -> None:
        self.runner = runner
        self.program = program

    def mount(self, device: str, options: str) -> Path:
        """Mount ``device`` with ``options``; return where udisks2 mounted it."""
        argv = [self.program, "mount", "--block-device", device, "--options", options]
        result = self.runner([*argv, "--no-user-interaction"])
        if result.returncode != 0:
            raise MountError(f"The stick {device} could not be mounted: {_reason(result.stderr)}.")
        found = _MOUNTED.search(result.stdout)
        if found is None:
            raise MountError(
                f"The stick {device} was mounted, but udisks2 did not say where"
                f" ({result.stdout.strip()!r})."
            )
        path = Path(found.group("path").strip())
        log.info("udisks2 mounted %s at %s (%s)", device, path, options)
        return path

    def unmount(self, device: str) -> None:
        result = self.runner(
            [self.program, "unmount", "--block-device", device, "--no-user-interaction"]
        )
        if result.returncode != 0:
            raise MountError(
                f"The stick {device} could not be unmounted: {_reason(result.stderr)}."
            )
        log.info("udisks2 unmounted %s", device)


def default_mounter() -> UdisksMounter | None:
    """udisks2 when its client is installed, else None (a development machine, a container)."""
    return UdisksMounter() if shutil.which("udisksctl") else None
