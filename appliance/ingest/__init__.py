"""Ingest: what is on a stick, reading its images safely, and sticks arriving and leaving.

:class:`UdevSource` is imported lazily: it needs pyudev (and libudev at run time), and importing
this package must work without them, e.g. on a development machine using the folder source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.ingest.decode import LoadedImage, read_image, thumbnail_jpeg
from appliance.ingest.listing import (
    SUPPORTED_SUFFIXES,
    ImageRef,
    Skipped,
    VolumeListing,
    list_volume,
)
from appliance.ingest.mock import MockUsbSource
from appliance.ingest.sources import (
    Volume,
    VolumeEvent,
    VolumeSource,
    VolumeSourceUnavailable,
)

if TYPE_CHECKING:
    from appliance.ingest.udev import UdevSource

__all__ = [
    "SUPPORTED_SUFFIXES",
    "ImageRef",
    "LoadedImage",
    "MockUsbSource",
    "Skipped",
    "UdevSource",
    "Volume",
    "VolumeEvent",
    "VolumeListing",
    "VolumeSource",
    "VolumeSourceUnavailable",
    "list_volume",
    "read_image",
    "thumbnail_jpeg",
]


def __getattr__(name: str) -> Any:
    if name == "UdevSource":
        from appliance.ingest.udev import UdevSource

        return UdevSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
