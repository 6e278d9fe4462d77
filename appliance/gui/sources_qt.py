"""Sticks arriving and leaving, delivered as Qt signals on the GUI thread.

Two sources, one interface (:class:`VolumeWatcher` with ``inserted`` / ``removed`` signals):

* **udev** (the Pi): the kernel's netlink socket is watched by ``pyudev.pyside6.MonitorObserver``,
  a ``QSocketNotifier`` in Qt's own event loop, so no thread polls udev. Its events go through the
  same :class:`~appliance.ingest.udev.UdevEventTranslator` as the CLI, which asks udisks2 to mount
  a stick read-only and waits (in a small thread per stick) until it is mounted before announcing
  it.
* **mock folder** (development, tests): :class:`~appliance.ingest.MockUsbSource` polls in its own
  thread.

Events from any background thread reach the GUI thread as posted events (a
:class:`~appliance.gui.workers.Mailbox`, which is what a queued signal connection uses underneath),
and are re-emitted there as ``inserted`` / ``removed``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from appliance.errors import ApplianceError
from appliance.gui.workers import Mailbox
from appliance.ingest import MockUsbSource, Volume, VolumeEvent, VolumeSourceUnavailable
from appliance.ingest.udisks import Mounter

log = logging.getLogger(__name__)


class VolumeWatcher(Mailbox):
    """Emits ``inserted(Volume)`` and ``removed(Volume)`` on the GUI thread."""

    inserted = Signal(object)
    removed = Signal(object)

    def __init__(
        self,
        mock_usb: Path | None = None,
        parent: QObject | None = None,
        poll_interval: float = 0.5,
        mounter: Mounter | None = None,
    ) -> None:
        super().__init__(parent)
        self.mounter = mounter  # None: udisks2 when installed
        self.mock_usb = Path(mock_usb) if mock_usb is not None else None
        self.poll_interval = poll_interval
        self._mock: MockUsbSource | None = None
        self._observer = None
        self._monitor = None
        self._translator = None
        self.present: list[Volume] = []

    @property
    def description(self) -> str:
        if self.mock_usb is not None:
            return f"mock USB folder {self.mock_usb} (each sub-folder is a stick)"
        return "USB sticks (udev)"

    def start(self) -> list[Volume]:
        """Begin watching; return the sticks already there. Raises an ApplianceError."""
        if self.mock_usb is not None:
            self._mock = MockUsbSource(self.mock_usb, poll_interval=self.poll_interval)
            self.present = self._mock.present()
            self._mock.start(self._relay)
        else:
            self.present = self._start_udev()
        return list(self.present)

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._observer is not None:
            self._observer.enabled = False
            self._observer.deleteLater()
            self._observer = None
        if self._translator is not None:
            self._translator.stop()
            self._translator = None

    def _relay(self, event: VolumeEvent) -> None:
        """Called from the source's thread: hand the event to the GUI thread."""
        self.post(self._dispatch, event)

    def _dispatch(self, event: VolumeEvent) -> None:
        if event.kind == "inserted":
            self.present = [v for v in self.present if v.id != event.volume.id] + [event.volume]
            self.inserted.emit(event.volume)
        else:
            self.present = [v for v in self.present if v.id != event.volume.id]
            self.removed.emit(event.volume)

    def _start_udev(self) -> list[Volume]:
        from appliance.ingest.mounts import MountTable
        from appliance.ingest.udev import UdevEventTranslator, present_volumes
        from appliance.ingest.udisks import default_mounter

        try:
            import pyudev
            import pyudev.pyside6

            context = pyudev.Context()
            monitor = pyudev.Monitor.from_netlink(context)
            monitor.filter_by(subsystem="block")
            mounts, mounter = MountTable(), self.mounter or default_mounter()
            translator = UdevEventTranslator(mounts, self._relay, mounter=mounter)
            volumes: list[Volume] = []
            devices = context.list_devices(subsystem="block")
            for node, volume in present_volumes(devices, mounts, mounter):
                translator.remember(node, volume)
                volumes.append(volume)
            observer = pyudev.pyside6.MonitorObserver(monitor, self)
            observer.deviceEvent.connect(translator.handle)
            monitor.start()
        except (ImportError, OSError) as exc:
            raise VolumeSourceUnavailable(
                f"USB stick detection could not start ({exc}). Check that udev is running,"
                " or start the appliance with a folder as the stick source (--mock-usb)."
            ) from exc
        except ApplianceError:
            raise
        self._monitor, self._observer, self._translator = monitor, observer, translator
        return volumes
