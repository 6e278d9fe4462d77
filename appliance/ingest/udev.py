"""Real USB sticks through udev: which block devices count, and when a stick is ready to read.

udev announces a stick as soon as the kernel sees it, but the files are readable only once it is
mounted. When the stick is not mounted yet, the appliance asks udisks2 to mount it
``ro,nosuid,nodev,noexec`` (a :class:`~appliance.ingest.udisks.Mounter`; udisksd does the mount,
allowed by the polkit rule for the service user; udisksd also removes the mount when the stick
leaves). An insertion is reported only once the device shows up in the mount table, waiting up to
``mount_timeout`` seconds in a small per-device thread so a slow stick cannot hold up removal
events of others. This module never writes; see :mod:`appliance.ingest.stick_write`.

The decision logic (:func:`is_usb_filesystem`, :class:`UdevEventTranslator`) works on plain
mappings and duck-typed device objects, so it is tested without udev or hardware.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from appliance.ingest.mounts import MountTable
from appliance.ingest.sources import (
    EventCallback,
    Volume,
    VolumeEvent,
    VolumeSource,
    VolumeSourceUnavailable,
)
from appliance.ingest.udisks import READ_ONLY, Mounter, MountError, default_mounter

log = logging.getLogger(__name__)

_HEX_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


class DeviceLike(Protocol):
    """The parts of ``pyudev.Device`` used here (fakes in tests provide the same)."""

    @property
    def device_node(self) -> str | None: ...

    @property
    def properties(self) -> Mapping[str, str]: ...


class MountLookup(Protocol):
    def mount_point_of(self, device_node: str) -> Path | None: ...

    def is_read_only(self, mount_point: Path | str) -> bool: ...


def is_usb_filesystem(properties: Mapping[str, str]) -> bool:
    """True for a USB disk or partition that carries a file system (what a stick looks like)."""
    return (
        properties.get("ID_BUS") == "usb"
        and properties.get("ID_FS_USAGE") == "filesystem"
        and properties.get("DEVTYPE") in ("partition", "disk")
    )


def _decode_udev(value: str) -> str:
    r"""Undo udev's ``\x20``-style escapes in *_ENC properties."""
    raw = _HEX_ESCAPE.sub(lambda match: bytes([int(match.group(1), 16)]), value.encode())
    return raw.decode("utf-8", errors="replace")


def _properties(device: Any) -> dict[str, str]:
    props = getattr(device, "properties", None)
    return dict(props if props is not None else device)


def _node(device: Any, properties: Mapping[str, str]) -> str | None:
    return getattr(device, "device_node", None) or properties.get("DEVNAME")


def volume_label(properties: Mapping[str, str], device_node: str) -> str:
    """The name to show for a stick: its file-system label, else its model, else its node."""
    for encoded, plain in (("ID_FS_LABEL_ENC", "ID_FS_LABEL"), ("ID_MODEL_ENC", "ID_MODEL")):
        if properties.get(encoded):
            return _decode_udev(properties[encoded]).strip() or device_node
        if properties.get(plain):
            return properties[plain].strip() or device_node
    return device_node


def mount_read_only(mounter: Mounter | None, node: str) -> Path | None:
    """Ask ``mounter`` to mount ``node`` read-only; None (logged) when it cannot."""
    if mounter is None:
        return None
    try:
        return mounter.mount(node, READ_ONLY)
    except MountError as exc:
        log.warning("%s", exc)
        return None


def present_volumes(
    devices: Iterable[Any], mounts: MountLookup, mounter: Mounter | None = None
) -> list[tuple[str, Volume]]:
    """The USB sticks among ``devices``, mounting (read-only) those not mounted yet."""
    found: list[tuple[str, Volume]] = []
    for device in devices:
        properties = _properties(device)
        node = _node(device, properties)
        if node is None or not is_usb_filesystem(properties):
            continue
        mount_point = mounts.mount_point_of(node)
        if mount_point is None and mount_read_only(mounter, node) is not None:
            mount_point = mounts.mount_point_of(node)
        if mount_point is None:
            continue
        found.append((node, volume_from(properties, node, mount_point)))
    return found


def volume_from(properties: Mapping[str, str], node: str, mount_point: Path) -> Volume:
    """The :class:`Volume` for a mounted stick: its file-system UUID identifies it across plugs."""
    return Volume(
        id=properties.get("ID_FS_UUID") or node,
        label=volume_label(properties, node),
        mount_point=mount_point,
        source="usb",
    )


class UdevEventTranslator:
    """Turns udev device events into :class:`VolumeEvent` s, waiting for the system's mount."""

    def __init__(
        self,
        mounts: MountLookup,
        emit: EventCallback,
        mount_timeout: float = 15.0,
        poll_interval: float = 0.25,
        mounter: Mounter | None = None,
        mount_grace: float = 1.0,
    ) -> None:
        self.mounts = mounts
        self.emit = emit
        self.mounter = mounter
        self.mount_grace = mount_grace
        self.mount_timeout = mount_timeout
        self.poll_interval = poll_interval
        self._known: dict[str, Volume] = {}
        self._waiting: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def remember(self, node: str, volume: Volume) -> None:
        """Record a stick found at start (``present()``) so its removal is reported."""
        with self._lock:
            self._known[node] = volume

    def handle(self, device: Any) -> None:
        """React to one udev event (``device.action`` is "add", "change" or "remove")."""
        action = getattr(device, "action", None)
        properties = _properties(device)
        node = _node(device, properties)
        if node is None:
            return
        if action == "remove" or (action == "change" and not is_usb_filesystem(properties)):
            self._removed(node)
        elif action in ("add", "change") and is_usb_filesystem(properties):
            self._added(node, properties)

    def _removed(self, node: str) -> None:
        with self._lock:
            waiting = self._waiting.pop(node, None)
            volume = self._known.pop(node, None)
        if waiting is not None:
            waiting.set()  # cancel a wait for a mount that will never come
        if volume is not None:
            self._deliver(VolumeEvent("removed", volume))

    def _added(self, node: str, properties: Mapping[str, str]) -> None:
        with self._lock:
            if node in self._known or node in self._waiting or self._stopping.is_set():
                return
            cancel = threading.Event()
            self._waiting[node] = cancel
            thread = threading.Thread(
                target=self._wait_for_mount,
                args=(node, dict(properties), cancel),
                name=f"usb-mount-wait {node}",
                daemon=True,
            )
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _wait_for_mount(
        self, node: str, properties: dict[str, str], cancel: threading.Event
    ) -> None:
        waited, asked = 0.0, False
        mount_point = self.mounts.mount_point_of(node)
        while mount_point is None and waited < self.mount_timeout:
            if not asked and waited >= self.mount_grace and self.mounter is not None:
                asked = True  # nobody else mounted it: ask udisks2, once
                if mount_read_only(self.mounter, node) is not None:
                    mount_point = self.mounts.mount_point_of(node)
                    continue
            if cancel.wait(self.poll_interval) or self._stopping.is_set():
                return
            waited += self.poll_interval
            mount_point = self.mounts.mount_point_of(node)
        with self._lock:
            if self._waiting.get(node) is not cancel:
                return  # removed (and maybe re-added) meanwhile
            del self._waiting[node]
            if mount_point is None:
                log.warning(
                    "USB stick %s was not mounted within %.0f s; it is ignored. "
                    "Check that udisks2 is installed and the polkit rule for histo-appliance is"
                    " in place.",
                    node,
                    self.mount_timeout,
                )
                return
            volume = volume_from(properties, node, mount_point)
            self._known[node] = volume
        if not self.mounts.is_read_only(mount_point):
            log.warning("USB stick %s is mounted read-write at %s", node, mount_point)
        self._deliver(VolumeEvent("inserted", volume))

    def _deliver(self, event: VolumeEvent) -> None:
        if self._stopping.is_set():
            return
        try:
            self.emit(event)
        except Exception:  # a faulty receiver must not end the watching
            log.exception("volume event receiver failed on %s", event)

    def stop(self) -> None:
        """Cancel mount waits and join their threads."""
        self._stopping.set()
        with self._lock:
            for cancel in self._waiting.values():
                cancel.set()
            threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()


def _default_context() -> Any:
    try:
        import pyudev

        return pyudev.Context()
    except (ImportError, OSError) as error:
        raise VolumeSourceUnavailable(
            "USB stick detection is not available on this system (udev could not be used: "
            f"{error}). Install libudev1 and pyudev, or use a folder as the stick source."
        ) from error


class UdevSource(VolumeSource):
    """USB sticks as udev reports them, once the system has mounted them."""

    name: ClassVar[str] = "usb"

    def __init__(
        self,
        context: Any = None,
        mount_timeout: float = 15.0,
        mounts: MountLookup | None = None,
        mounter: Mounter | None = None,
        automount: bool = True,
    ) -> None:
        self.context = context if context is not None else _default_context()
        self.mount_timeout = mount_timeout
        self.mounts: MountLookup = mounts if mounts is not None else MountTable()
        if mounter is None and automount:
            mounter = default_mounter()
        self.mounter: Mounter | None = mounter
        self._translator: UdevEventTranslator | None = None
        self._observer: Any = None
        self._present: dict[str, Volume] = {}

    def _qualifying(self, devices: Iterable[Any]) -> list[Volume]:
        volumes: list[Volume] = []
        for node, volume in present_volumes(devices, self.mounts, self.mounter):
            self._present[node] = volume
            if self._translator is not None:
                self._translator.remember(node, volume)
            volumes.append(volume)
        return volumes

    def present(self) -> list[Volume]:
        try:
            devices = list(self.context.list_devices(subsystem="block"))
        except OSError as error:
            raise VolumeSourceUnavailable(
                f"USB sticks could not be listed through udev ({error})."
            ) from error
        return self._qualifying(devices)

    def start(self, on_event: EventCallback) -> None:
        if self._observer is not None:
            return
        translator = UdevEventTranslator(
            self.mounts, on_event, self.mount_timeout, mounter=self.mounter
        )
        for node, volume in self._present.items():
            translator.remember(node, volume)
        try:
            import pyudev

            monitor = pyudev.Monitor.from_netlink(self.context)
            monitor.filter_by(subsystem="block")
            observer = pyudev.MonitorObserver(
                monitor, callback=translator.handle, name="udev-usb-observer"
            )
            observer.daemon = True
            observer.start()
        except (ImportError, OSError) as error:
            raise VolumeSourceUnavailable(
                f"USB stick detection could not start ({error}). "
                "Check that udev is running, or use a folder as the stick source."
            ) from error
        self._translator = translator
        self._observer = observer

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        translator, self._translator = self._translator, None
        if observer is not None:
            if observer is threading.current_thread():
                observer.send_stop()
            else:
                observer.stop()
        if translator is not None:
            translator.stop()
