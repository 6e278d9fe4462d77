"""Sticks arriving and leaving, delivered as Qt signals on the GUI thread.

The sticks come from the same :class:`~appliance.ingest.VolumeSource` the ``watch`` service uses
(:func:`appliance.runtime.make_source`: udev on the Pi, a mock folder in development and tests),
so which devices count, the read-only mount through udisks2 and the wait for it are decided in
:mod:`appliance.ingest.udev` only. The source calls back from its own thread; the events reach
the GUI thread as posted events (a :class:`~appliance.gui.workers.Mailbox`, which is what a
queued signal connection uses underneath) and are re-emitted there as ``inserted`` /
``removed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from appliance.config import Config
from appliance.gui.workers import Mailbox
from appliance.ingest import Volume, VolumeEvent, VolumeSource

log = logging.getLogger(__name__)


class VolumeWatcher(Mailbox):
    """Emits ``inserted(Volume)`` and ``removed(Volume)`` on the GUI thread."""

    inserted = Signal(object)
    removed = Signal(object)

    def __init__(
        self,
        make_source: Callable[[], VolumeSource],
        description: str,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.make_source = make_source
        self.description = description
        self.source: VolumeSource | None = None
        self.present: list[Volume] = []

    @classmethod
    def for_config(cls, config: Config, *, poll_interval: float = 0.5) -> VolumeWatcher:
        from appliance.runtime import describe_source, make_source

        return cls(
            lambda: make_source(config, poll_interval=poll_interval), describe_source(config)
        )

    def start(self) -> list[Volume]:
        """Begin watching; return the sticks already there. Raises an ApplianceError (the
        source cannot run here); calling it again after that tries again."""
        self.stop()
        source = self.make_source()
        self.present = source.present()
        source.start(self._relay)
        self.source = source
        return list(self.present)

    def stop(self) -> None:
        source, self.source = self.source, None
        if source is not None:
            source.stop()

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
