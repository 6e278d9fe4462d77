"""Sticks mounted read-only through udisks2 and written only in one explicit step.

No root, no D-Bus, no hardware: a fake mountinfo file plays the kernel's mount table and a fake
mounter plays udisks2 (it edits that file); a fake sysfs says which block device is on USB.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.ingest.mounts import MountTable
from appliance.ingest.sources import Volume, VolumeEvent
from appliance.ingest.stick_write import StickNotWritable, copy_synced, writable_stick
from appliance.ingest.udev import UdevEventTranslator, present_volumes
from appliance.ingest.udisks import (
    READ_ONLY,
    READ_WRITE,
    CommandResult,
    MountError,
    UdisksMounter,
)

DEVICE = "/dev/sdz1"


@dataclass
class FakeUdisks:
    """Mounts DEVICE at ``mount_point`` by writing mountinfo lines, like udisksd would."""

    mountinfo: Path
    mount_point: Path
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_on: set[str] = field(default_factory=set)  # "mount-rw", "mount-ro", "unmount"
    mounted: str | None = None  # the options, when mounted

    def _write(self) -> None:
        lines = ["22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw"]
        if self.mounted is not None:
            mode = "ro" if self.mounted.startswith("ro") else "rw"
            lines.append(
                f"40 22 8:1 / {self.mount_point} {mode},nosuid,nodev,noexec shared:9"
                f" - vfat {DEVICE} {mode},uid=999,gid=999"
            )
        self.mountinfo.write_text("\n".join(lines) + "\n")

    def mount(self, device: str, options: str) -> Path:
        self.calls.append(("mount", options))
        key = "mount-ro" if options.startswith("ro") else "mount-rw"
        if key in self.fail_on:
            raise MountError(f"The stick {device} could not be mounted: udisks2 said no.")
        if self.mounted is not None:
            raise MountError(f"The stick {device} could not be mounted: already mounted.")
        self.mounted = options
        self.mount_point.mkdir(parents=True, exist_ok=True)
        self._write()
        return self.mount_point

    def unmount(self, device: str) -> None:
        self.calls.append(("unmount", ""))
        if "unmount" in self.fail_on:
            raise MountError(f"The stick {device} could not be unmounted: it is busy.")
        self.mounted = None
        self._write()


@pytest.fixture
def stick(tmp_path: Path) -> FakeUdisks:
    fake = FakeUdisks(tmp_path / "mountinfo", tmp_path / "media" / "LAB")
    fake.mount(DEVICE, READ_ONLY)
    fake.calls.clear()
    return fake


def audit_log() -> tuple[list[tuple[str, dict]], object]:
    entries: list[tuple[str, dict]] = []

    def audit(event: str, **payload) -> None:
        entries.append((event, payload))

    return entries, audit


def write_step(stick: FakeUdisks, **overrides):
    """The write step on the fake stick: a USB stick, for a report, through the fake udisks."""
    values = {
        "label": "LAB",
        "purpose": "report",
        "removable": True,
        "mounter": stick,
        "mounts": MountTable(stick.mountinfo),
    }
    values.update(overrides)
    return writable_stick(stick.mount_point, **values)


def test_write_step_remounts_rw_then_read_only_again(stick: FakeUdisks, tmp_path: Path) -> None:
    entries, audit = audit_log()
    source = tmp_path / "report.pdf"
    source.write_bytes(b"%PDF-1.4 test")
    mounts = MountTable(stick.mountinfo)
    assert mounts.is_read_only(stick.mount_point)
    with writable_stick(
        stick.mount_point,
        label="LAB",
        purpose="report",
        removable=True,
        audit=audit,
        mounter=stick,
        mounts=mounts,
    ) as session:
        assert session.remounted and not mounts.is_read_only(stick.mount_point)
        copy_synced(source, session.root / "report.pdf")
    assert stick.calls == [
        ("unmount", ""),
        ("mount", READ_WRITE),
        ("unmount", ""),
        ("mount", READ_ONLY),
    ]
    assert mounts.is_read_only(stick.mount_point) and session.read_only_again
    assert (stick.mount_point / "report.pdf").read_bytes() == b"%PDF-1.4 test"
    assert not list(stick.mount_point.glob("*.part"))
    assert [e for e, _ in entries] == ["stick_write_started", "stick_write_finished"]
    assert entries[1][1] | {} == {
        "stick": "LAB",
        "device": DEVICE,
        "purpose": "report",
        "ok": True,
        "read_only_again": True,
        "error": None,
    }


def test_a_failed_write_still_leaves_the_stick_read_only(stick: FakeUdisks) -> None:
    entries, audit = audit_log()
    mounts = MountTable(stick.mountinfo)
    with (
        pytest.raises(OSError, match="disk full"),
        write_step(stick, purpose="backup", audit=audit, mounts=mounts),
    ):
        raise OSError(28, "disk full")
    assert stick.mounted == READ_ONLY and mounts.is_read_only(stick.mount_point)
    assert entries[-1][1]["ok"] is False and "disk full" in entries[-1][1]["error"]


def test_refused_rw_mount_restores_read_only_and_says_why(stick: FakeUdisks) -> None:
    stick.fail_on = {"mount-rw"}
    with (
        pytest.raises(StickNotWritable, match="could not be made writable") as caught,
        write_step(stick),
    ):
        pytest.fail("the block must not run")
    assert "udisks2 said no" in str(caught.value)
    assert stick.mounted == READ_ONLY


def test_busy_stick_is_not_touched(stick: FakeUdisks) -> None:
    stick.fail_on = {"unmount"}
    with (
        pytest.raises(StickNotWritable, match="busy"),
        write_step(stick),
    ):
        pytest.fail("the block must not run")
    assert stick.calls == [("unmount", "")] and stick.mounted == READ_ONLY


def test_stick_left_writable_is_reported(stick: FakeUdisks, tmp_path: Path) -> None:
    mounts = MountTable(stick.mountinfo)
    with write_step(stick, mounts=mounts) as session:
        stick.fail_on = {"unmount"}  # e.g. a shell was cd'd into the stick meanwhile
    assert not session.read_only_again and "still writable" in session.note


def test_read_only_folder_that_is_no_stick_is_refused(stick: FakeUdisks) -> None:
    with (
        pytest.raises(StickNotWritable, match="read-only"),
        write_step(stick, removable=False),
    ):
        pass
    assert stick.calls == []


def test_without_udisks_the_message_says_so(stick: FakeUdisks) -> None:
    with (
        pytest.raises(StickNotWritable, match="udisks2 is not installed"),
        write_step(stick, mounter=None),
    ):
        pass


def test_writable_folder_is_written_as_it_is(tmp_path: Path) -> None:
    calls: list[str] = []
    with writable_stick(
        tmp_path,
        label="DEV",
        purpose="report",
        removable=True,
        mounter=None,
        mounts=MountTable(tmp_path / "no-mountinfo"),
        read_only=lambda p: calls.append(str(p)) or False,
    ) as session:
        assert session.root == tmp_path and not session.remounted
    assert calls == [str(tmp_path)]


# ---------------------------------------------------------------- udisksctl, with a fake runner


def test_udisksctl_commands_and_output() -> None:
    seen: list[list[str]] = []

    def runner(argv) -> CommandResult:
        seen.append(list(argv))
        if argv[1] == "mount":
            return CommandResult(0, "Mounted /dev/sdz1 at /media/histo-appliance/LAB STICK.\n", "")
        return CommandResult(0, "Unmounted /dev/sdz1.\n", "")

    mounter = UdisksMounter(runner)
    assert mounter.mount(DEVICE, READ_ONLY) == Path("/media/histo-appliance/LAB STICK")
    mounter.unmount(DEVICE)
    assert seen == [
        [
            "udisksctl",
            "mount",
            "--block-device",
            DEVICE,
            "--options",
            "ro,nosuid,nodev,noexec",
            "--no-user-interaction",
        ],
        ["udisksctl", "unmount", "--block-device", DEVICE, "--no-user-interaction"],
    ]


def test_udisksctl_refusals_are_words() -> None:
    denied = "Error mounting /dev/sdz1: GDBus.Error:org.freedesktop.UDisks2.Error.NotAuthorizedCanObtain: Not authorized to perform operation"  # noqa: E501
    mounter = UdisksMounter(lambda argv: CommandResult(1, "", denied))
    with pytest.raises(MountError, match="polkit rule for the user histo-appliance"):
        mounter.mount(DEVICE, READ_ONLY)
    busy = UdisksMounter(lambda argv: CommandResult(1, "", "Error unmounting: target is busy"))
    with pytest.raises(MountError, match="in use by another program"):
        busy.unmount(DEVICE)
    gone = UdisksMounter(lambda argv: CommandResult(127, "", "No such file or directory"))
    with pytest.raises(MountError, match="no longer there"):
        gone.mount(DEVICE, READ_ONLY)


# ---------------------------------------------------------------- automount on plug


class _Device:
    def __init__(self, action: str | None = None) -> None:
        self.action = action
        self.device_node = DEVICE
        self.properties = {
            "ID_BUS": "usb",
            "ID_FS_USAGE": "filesystem",
            "DEVTYPE": "partition",
            "ID_FS_LABEL": "LAB",
            "ID_FS_UUID": "1234-ABCD",
        }


def test_unmounted_stick_is_mounted_read_only_on_plug(tmp_path: Path) -> None:
    fake = FakeUdisks(tmp_path / "mountinfo", tmp_path / "media" / "LAB")
    fake._write()
    events: queue.Queue[VolumeEvent] = queue.Queue()
    translator = UdevEventTranslator(
        MountTable(fake.mountinfo),
        events.put,
        mount_timeout=5,
        poll_interval=0.01,
        mounter=fake,
        mount_grace=0.05,
    )
    try:
        translator.handle(_Device("add"))
        event = events.get(timeout=5)
    finally:
        translator.stop()
    assert event.kind == "inserted" and event.volume.mount_point == fake.mount_point
    assert fake.calls == [("mount", READ_ONLY)]


def test_sticks_present_at_start_are_mounted(tmp_path: Path) -> None:
    fake = FakeUdisks(tmp_path / "mountinfo", tmp_path / "media" / "LAB")
    fake._write()
    found = present_volumes([_Device()], MountTable(fake.mountinfo), fake)
    assert found == [
        (DEVICE, Volume(id="1234-ABCD", label="LAB", mount_point=fake.mount_point, source="usb"))
    ]
    assert fake.calls == [("mount", READ_ONLY)]
    assert present_volumes([_Device()], MountTable(fake.mountinfo), None) == found  # no remount


# ---------------------------------------------------------------- the two faces use it


def test_gui_copy_to_a_read_only_usb_stick(stick: FakeUdisks, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("PySide6", reason="gui extra")
    import appliance.ingest.stick_write as stick_write
    from appliance.controller import export

    monkeypatch.setattr(stick_write, "default_mounter", lambda: stick)
    monkeypatch.setattr(stick_write, "MountTable", lambda: MountTable(stick.mountinfo))
    monkeypatch.setattr(
        export, "is_read_only", lambda m: MountTable(stick.mountinfo).is_read_only(m)
    )
    pdf = tmp_path / "reports" / "scan-1_x.pdf"
    pdf.parent.mkdir()
    pdf.write_bytes(b"%PDF-1.4")
    volume = Volume(id="1234-ABCD", label="LAB", mount_point=stick.mount_point, source="usb")
    copied = export.copy_to_stick(pdf, volume)
    assert copied == stick.mount_point / pdf.name and copied.read_bytes() == b"%PDF-1.4"
    assert stick.mounted == READ_ONLY

    stick.fail_on = {"mount-rw"}
    with pytest.raises(export.StickWriteRefused) as refused:
        export.copy_to_stick(pdf, volume)
    assert str(pdf) in str(refused.value) and "not copied" in str(refused.value)
    assert stick.mounted == READ_ONLY


def _usb_sysfs(root: Path) -> Path:
    device = root / "devices" / "pci0000:00" / "usb2" / "2-1" / "host0" / "block" / "sdz" / "sdz1"
    device.mkdir(parents=True)
    (root / "dev" / "block").mkdir(parents=True)
    (root / "dev" / "block" / "8:1").symlink_to(device)
    return root


def test_backup_onto_a_read_only_stick(stick: FakeUdisks, tmp_path: Path) -> None:
    from appliance.backup import backup_database
    from appliance.store import Store

    database = tmp_path / "data" / "appliance.db"
    database.parent.mkdir()
    Store.open(database).close()
    written, note = backup_database(
        database,
        stick.mount_point / "backups" / "lab.db",
        mounter=stick,
        mounts=MountTable(stick.mountinfo),
        sys_root=_usb_sysfs(tmp_path / "sys"),
    )
    assert written == stick.mount_point / "backups" / "lab.db" and written.stat().st_size > 0
    assert note == "" and stick.mounted == READ_ONLY
    assert not (database.parent / "backups" / "lab.db").exists()  # the local step copy is gone
    with Store.open(database) as store:
        events = [e.event for e in store.audit_log()]
    assert events[:3] == ["backup", "stick_write_finished", "stick_write_started"]

    stick.fail_on = {"mount-rw"}
    from appliance.backup import BackupFailed

    with pytest.raises(BackupFailed) as failed:
        backup_database(
            database,
            stick.mount_point / "again.db",
            mounter=stick,
            mounts=MountTable(stick.mountinfo),
            sys_root=tmp_path / "sys",
        )
    local = database.parent / "backups" / "again.db"
    assert str(local) in str(failed.value) and local.exists()
    assert "the appliance database (" not in str(failed.value)


def test_backup_to_a_read_only_folder_names_the_folder(tmp_path: Path) -> None:
    from appliance.backup import BackupFailed, backup_database
    from appliance.store import Store

    database = tmp_path / "appliance.db"
    Store.open(database).close()
    target = tmp_path / "ro"
    target.mkdir()
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        f"50 22 254:0 /x {target} ro,relatime shared:2 - ext4 /dev/vda rw\n"
    )
    with pytest.raises(BackupFailed) as failed:
        backup_database(database, target / "b.db", mounts=MountTable(mountinfo), mounter=None)
    message = str(failed.value)
    assert "read-only" in message and str(target) in message
    assert "the appliance database (" not in message and "unchanged" in message


def test_report_onto_a_read_only_stick(
    stick: FakeUdisks, tmp_path: Path, monkeypatch, capsys
) -> None:
    """`histo-appliance report N -o /media/.../LAB/x.pdf`: the same write step as the GUI's."""
    from appliance import cli
    from appliance.ingest import mounts, stick_write
    from appliance.store import Store

    database = tmp_path / "data" / "appliance.db"
    database.parent.mkdir()
    with Store.open(database) as store:
        scan_id = store.start_scan(
            source="mock",
            volume_label="LAB",
            volume_path=str(stick.mount_point),
            device="pi",
            model_name="m",
            model_version="1",
            model_sha256="0" * 64,
            backend="litert",
            thresholds={"benign_below": 0.2, "malignant_at": 0.6},
        )
    monkeypatch.setattr(mounts, "MountTable", lambda: MountTable(stick.mountinfo))
    monkeypatch.setattr(stick_write, "is_usb_block", lambda *args, **kwargs: True)
    monkeypatch.setattr(stick_write, "default_mounter", lambda: stick)
    target = stick.mount_point / "reports" / "scan.pdf"
    argv = ["report", str(scan_id), "--db", str(database), "-o", str(target)]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert target.read_bytes().startswith(b"%PDF") and stick.mounted == READ_ONLY
    assert ("mount", READ_WRITE) in stick.calls

    stick.fail_on = {"mount-rw"}
    assert cli.main([*argv[:-1], str(stick.mount_point / "again.pdf")]) == 2
    message = capsys.readouterr().err
    assert "not written to the stick" in message and "kept on this appliance at" in message
    assert stick.mounted == READ_ONLY
