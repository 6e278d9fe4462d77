"""Errors a user can meet, each worded so that the person reading it knows what to do.

Every exception the GUI or CLI shows derives from :class:`ApplianceError`; its ``str()`` is the
message for people. Anything else reaching the top level is a bug and is logged, not shown raw.
"""

from __future__ import annotations


class ApplianceError(Exception):
    """Base class: the message is meant for the technician or admin."""


class ModelRejected(ApplianceError):
    """The model bundle is missing, malformed, or its file does not match the card's sha256."""


class ImageError(ApplianceError):
    """One image could not be read; the scan records it and goes on."""


class VolumeGone(ApplianceError):
    """The stick was removed (or its folder deleted) while it was being read."""


class StoreError(ApplianceError):
    """The local database cannot be opened, is damaged, or the disk is full."""


class BackendUnavailable(ApplianceError):
    """No TFLite interpreter (or not the one asked for) is installed."""
