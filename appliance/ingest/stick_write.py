"""Writing to a stick: one explicit, short-lived step, after which the stick is read-only again.

Sticks are mounted ``ro,nosuid,nodev,noexec`` (see :mod:`appliance.ingest.udisks`), so nothing the
appliance does by accident can change a stick. The two writes a person can ask for — "Copy PDF to
stick" in the GUI and ``histo-appliance backup`` onto a stick — both go through
:func:`writable_stick`, the only place that makes a stick writable:

1. unmount the read-only mount and mount it again read-write (through udisks2);
2. the caller writes its file (:func:`copy_synced` fsyncs it and renames it into place);
3. ``sync``, unmount, and mount read-only again — also when the write failed.

Each step that changes a mount is audited (``stick_write_started`` / ``stick_write_finished``).
A stick that is already writable (a developer's desktop mounted it) is written as it is; a
read-only folder that is not a USB stick is refused with words, never remounted.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError
from appliance.ingest.mounts import MountEntry, MountTable
from appliance.ingest.udisks import READ_ONLY, READ_WRITE, Mounter, MountError, default_mounter

log = logging.getLogger(__name__)

AuditFn = Callable[..., Any]  # audit(event, **payload), e.g. Store.audit
AUTO: Any = object()  # "use udisks2 if it is installed"


class StickNotWritable(ApplianceError):
    """The stick could not be written; the message says why (the caller adds what was kept)."""


@dataclass
class StickWrite:
    """What :func:`writable_stick` yields: where to write, and afterwards how the stick was left."""

    root: Path
    remounted: bool
    mount_point_after: Path | None = None
    read_only_again: bool = True
    note: str = ""  # for the person, when the stick was not left as it was found


def mount_holding(path: Path, mounts: MountTable) -> MountEntry | None:
    """The topmost mount whose mount point is ``path`` or one of its parents."""
    path = Path(os.path.abspath(path))
    best: MountEntry | None = None
    for entry in mounts.entries():
        holds = path == entry.mount_point or entry.mount_point in path.parents
        if holds and (best is None or len(entry.mount_point.parts) >= len(best.mount_point.parts)):
            best = entry  # later lines are mounted on top of earlier ones
    return best


def existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest parent that exists (a file about to be written has none yet)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def stick_holding(
    path: Path, mounts: MountTable, sys_root: Path = Path("/sys")
) -> MountEntry | None:
    """The mount of the USB stick that holds ``path``, or None when it is not on a stick."""
    entry = mount_holding(existing_ancestor(path), mounts)
    if entry is None or not entry.source.startswith("/dev/"):
        return None
    return entry if is_usb_block(entry.device_number, sys_root) else None


def copy_onto_stick(
    local: Path,
    dest: Path,
    stick: MountEntry,
    *,
    purpose: str,
    audit: AuditFn | None = None,
    mounter: Mounter | None = AUTO,
    mounts: MountTable | None = None,
    refused: type[ApplianceError] = StickNotWritable,
) -> tuple[Path, str]:
    """Copy the finished file ``local`` (a ``purpose``: "backup", "report") to ``dest`` on
    ``stick`` inside one write step.

    Returns where the file is once the stick is read-only again, and the step's note (""
    unless the stick was left writable or unmounted). When the stick cannot be written, raises
    ``refused`` in words that say why and that ``local`` is kept on the appliance."""
    keep = f"A copy of the {purpose} is kept on this appliance at {local}."
    relative = dest.relative_to(stick.mount_point)
    try:
        target, session = place_on_stick(
            local,
            stick.mount_point,
            relative,
            label=stick.mount_point.name,
            purpose=purpose,
            removable=True,
            audit=audit,
            mounter=mounter,
            mounts=mounts,
        )
    except StickNotWritable as exc:
        raise refused(f"{exc} The {purpose} was not written to the stick. {keep}") from exc
    except OSError as exc:
        raise refused(
            f"The {purpose} could not be written to {dest}: {os_reason(exc)}. {keep}"
        ) from exc
    return target, session.note


def place_on_stick(
    local: Path,
    mount_point: Path,
    relative: Path | str,
    *,
    label: str,
    purpose: str,
    removable: bool,
    audit: AuditFn | None = None,
    mounter: Mounter | None = AUTO,
    mounts: MountTable | None = None,
    read_only: Callable[[Path], bool] | None = None,
) -> tuple[Path, StickWrite]:
    """Copy ``local`` to ``mount_point/relative`` inside one :func:`writable_stick` step.

    Returns where the file is once the stick is read-only again (udisks2 may mount it at a new
    place) and the finished step; raises :class:`StickNotWritable` or ``OSError`` for the caller
    to word."""
    with writable_stick(
        mount_point,
        label=label,
        purpose=purpose,
        removable=removable,
        audit=audit,
        mounter=mounter,
        mounts=mounts,
        read_only=read_only,
    ) as session:
        target = copy_synced(local, session.root / relative)
    if session.mount_point_after is not None:
        target = session.mount_point_after / target.relative_to(session.root)
    return target, session


def is_usb_block(device_number: tuple[int, int], sys_root: Path = Path("/sys")) -> bool:
    """True when the block device sits on a USB bus (its sysfs path runs through ``usbN``)."""
    major, minor = device_number
    real = os.path.realpath(Path(sys_root) / "dev" / "block" / f"{major}:{minor}")
    return "/usb" in real


def default_read_only(mounts: MountTable) -> Callable[[Path], bool]:
    def read_only(path: Path) -> bool:
        return mounts.is_read_only(path) or not os.access(path, os.W_OK)

    return read_only


def os_reason(exc: OSError) -> str:
    """An OSError while writing a stick, in words."""
    if exc.errno == errno.EROFS:
        return "it is read-only"
    if exc.errno == errno.ENOSPC:
        return "it is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "writing to it is not permitted"
    if exc.errno in (errno.ENOENT, errno.ENODEV, errno.EIO):
        return "it was removed or could not be read back"
    return f"it could not be written ({exc.strerror or exc})"


def copy_synced(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` through ``target.part``: fsync, rename, fsync the folder.

    A stick pulled out mid-copy leaves at worst a ``.part`` file, never a truncated file under the
    real name. Raises OSError (the caller words it with :func:`os_reason`).
    """
    target = Path(target)
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, part)
        with open(part, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(part, target)
        folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise
    return target


@contextlib.contextmanager
def writable_stick(
    mount_point: Path,
    *,
    label: str,
    purpose: str,
    removable: bool,
    audit: AuditFn | None = None,
    mounter: Mounter | None = AUTO,
    mounts: MountTable | None = None,
    read_only: Callable[[Path], bool] | None = None,
) -> Iterator[StickWrite]:
    """Make the stick at ``mount_point`` writable for the ``with`` block, then read-only again.

    ``removable`` says the mount is a USB stick the appliance may remount (never a system disk or
    a plain folder). Raises :class:`StickNotWritable` before the block runs when the stick cannot
    be made writable; exceptions from the block pass through after the stick is read-only again.
    """
    mount_point = Path(mount_point)
    mounts = mounts if mounts is not None else MountTable()
    read_only = read_only if read_only is not None else default_read_only(mounts)
    if not mount_point.is_dir():
        raise StickNotWritable(f"The stick “{label}” is no longer plugged in.")
    if not read_only(mount_point):
        yield StickWrite(root=mount_point, remounted=False, mount_point_after=mount_point)
        return
    entry = mount_holding(mount_point, mounts)
    device = entry.source if entry is not None and entry.source.startswith("/dev/") else None
    if not removable or device is None or entry is None:
        raise StickNotWritable(
            f"The stick “{label}” is read-only (the system mounted it so that nothing can be"
            " written to it)."
        )
    if mounter is AUTO:
        mounter = default_mounter()
    if mounter is None:
        raise StickNotWritable(
            f"The stick “{label}” is read-only, and this system cannot make it writable for a"
            " moment (udisks2 is not installed)."
        )
    inside = mount_point.relative_to(entry.mount_point)
    record = _auditor(audit, stick=label, device=device, purpose=purpose)
    record("stick_write_started")
    try:
        mounter.unmount(device)
    except MountError as exc:
        record("stick_write_finished", ok=False, read_only_again=True, error=str(exc))
        raise StickNotWritable(
            f"The stick “{label}” could not be made writable for a moment. {exc}"
        ) from exc
    try:
        root = mounter.mount(device, READ_WRITE)
        root = mounts.mount_point_of(device) or root  # the kernel's word over udisksctl's text
    except MountError as exc:
        after, note = _read_only_again(mounter, device, unmount=False)
        record("stick_write_finished", ok=False, read_only_again=after is not None, error=str(exc))
        raise StickNotWritable(
            f"The stick “{label}” could not be made writable for a moment. {exc} {note}".strip()
        ) from exc
    session = StickWrite(root=root / inside, remounted=True)
    failure: BaseException | None = None
    try:
        yield session
    except BaseException as exc:
        failure = exc
        raise
    finally:
        os.sync()
        after, note = _read_only_again(mounter, device, unmount=True)
        if after is not None:
            after = mounts.mount_point_of(device) or after
        session.mount_point_after = after / inside if after is not None else None
        session.read_only_again = after is not None
        session.note = note
        record(
            "stick_write_finished",
            ok=failure is None,
            read_only_again=after is not None,
            error=None if failure is None else str(failure),
        )


def _read_only_again(mounter: Mounter, device: str, *, unmount: bool) -> tuple[Path | None, str]:
    """Unmount (when asked) and mount read-only; return the new mount point and a note."""
    if unmount:
        try:
            mounter.unmount(device)
        except MountError as exc:
            log.error("stick %s stays writable: %s", device, exc)
            return None, (
                f"The stick could not be made read-only again ({exc}); it is still writable:"
                " remove it now, or restart the appliance."
            )
    try:
        return mounter.mount(device, READ_ONLY), ""
    except MountError as exc:
        log.warning("stick %s left unmounted: %s", device, exc)
        return None, "The stick was left unmounted; it is safe to remove."


def _auditor(audit: AuditFn | None, **common: Any) -> Callable[..., None]:
    def record(event: str, **payload: Any) -> None:
        if audit is None:
            return
        try:
            audit(event, **common, **payload)
        except ApplianceError as exc:  # the write itself matters more than its audit row
            log.error("could not audit %s: %s", event, exc)

    return record
