"""A folder that plays the USB port: each sub-folder is a stick (for development and tests).

Creating ``<root>/case-stick`` is an insertion, deleting it a removal. The folder is polled (one
``scandir`` per interval) rather than watched with inotify, so no extra dependency is needed and it
behaves the same on any file system, including network shares used in development.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import ClassVar

from appliance.errors import ApplianceError
from appliance.ingest.sources import EventCallback, Volume, VolumeEvent, VolumeSource

log = logging.getLogger(__name__)


class MockUsbSource(VolumeSource):
    """Sub-folders of ``root`` are sticks; polled every ``poll_interval`` seconds.

    A new sub-folder is reported once it has been seen on two polls in a row, giving a copy into
    it a moment to start. Events are the difference to what :meth:`present` last returned (or, if
    it was never called, to the folder at :meth:`start`), so nothing is missed between the two.
    """

    name: ClassVar[str] = "folder"

    def __init__(self, root: Path, poll_interval: float = 0.5) -> None:
        self.root = Path(root).absolute()
        if not self.root.is_dir():
            raise ApplianceError(
                f"The mock USB folder {self.root} does not exist. "
                "Create it, or point the appliance at an existing folder."
            )
        self.poll_interval = poll_interval
        self._known: dict[str, Volume] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _volume(self, name: str) -> Volume:
        return Volume(id=name, label=name, mount_point=self.root / name, source="folder")

    def _scan(self) -> dict[str, Volume]:
        """Current sub-folders (hidden ones excluded); empty when the root itself is gone."""
        found: dict[str, Volume] = {}
        try:
            with os.scandir(self.root) as it:
                for entry in it:
                    if entry.name.startswith("."):
                        continue
                    try:
                        if entry.is_dir():
                            found[entry.name] = self._volume(entry.name)
                    except OSError:
                        continue
        except OSError:
            return {}
        return dict(sorted(found.items()))

    def present(self) -> list[Volume]:
        current = self._scan()
        with self._lock:
            if self._thread is None:
                self._known = current
        return list(current.values())

    def start(self, on_event: EventCallback) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._known is None:
                self._known = self._scan()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(on_event,), name="mock-usb-poll", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _emit(self, on_event: EventCallback, event: VolumeEvent) -> None:
        try:
            on_event(event)
        except Exception:  # a faulty receiver must not end the watching
            log.exception("volume event receiver failed on %s", event)

    def _run(self, on_event: EventCallback) -> None:
        known = dict(self._known or {})
        pending: set[str] = set()
        while not self._stop.wait(self.poll_interval):
            current = self._scan()
            for name in sorted(known.keys() - current.keys()):
                self._emit(on_event, VolumeEvent("removed", known.pop(name)))
            pending &= current.keys()
            for name in sorted(current.keys() - known.keys()):
                if name in pending:
                    pending.discard(name)
                    known[name] = current[name]
                    self._emit(on_event, VolumeEvent("inserted", current[name]))
                else:
                    pending.add(name)
        with self._lock:
            self._known = known  # a later start() goes on from here
