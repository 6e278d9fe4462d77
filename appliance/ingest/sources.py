"""Where sticks come from: a common interface for "a volume arrived" / "a volume left".

The GUI and CLI only see :class:`VolumeSource`; on the Pi it is backed by udev
(:class:`~appliance.ingest.udev.UdevSource`), in development and tests by a plain folder whose
sub-folders play the part of sticks (:class:`~appliance.ingest.mock.MockUsbSource`). Events are
delivered from a background thread, so receivers must hand them over to their own thread (the
GUI does so with a queued Qt signal).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Literal, Self

from appliance.errors import ApplianceError


class VolumeSourceUnavailable(ApplianceError):
    """USB detection cannot run on this system (e.g. libudev is missing)."""


@dataclass(frozen=True)
class Volume:
    """A mounted stick (or a folder standing in for one)."""

    id: str
    label: str
    mount_point: Path
    source: str  # "usb" or "folder"


@dataclass(frozen=True)
class VolumeEvent:
    """A stick was inserted (and is now mounted) or removed."""

    kind: Literal["inserted", "removed"]
    volume: Volume


EventCallback = Callable[[VolumeEvent], None]


class VolumeSource(ABC):
    """Reports sticks present at start, then insertions and removals from a background thread."""

    name: ClassVar[str]

    @abstractmethod
    def present(self) -> list[Volume]:
        """Volumes already there (mounted) now; call before :meth:`start` to know the start."""

    @abstractmethod
    def start(self, on_event: EventCallback) -> None:
        """Begin watching; returns at once. ``on_event`` is called from a background thread."""

    @abstractmethod
    def stop(self) -> None:
        """Stop watching and wait for the background thread; calling it again does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
