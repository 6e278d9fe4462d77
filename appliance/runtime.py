"""Assembling the running appliance from its configuration: model, interpreter, store, source.

Kept apart from the CLI so the GUI builds exactly the same objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from appliance.config import Config
from appliance.errors import ApplianceError
from appliance.inference.classifier import Classifier
from appliance.inference.installed import load_model
from appliance.ingest import MockUsbSource, VolumeSource
from appliance.pipeline import Analyzer
from appliance.store import Store
from appliance.values import Thresholds

# Keys of the admin's threshold overrides in the store's settings (audited when changed).
THRESHOLD_SETTINGS = ("benign_below", "malignant_at")
DEVICE_NAME_SETTING = "device_name"


def effective_thresholds(
    card_thresholds: Thresholds, store: Store, model_sha256: str
) -> Thresholds:
    """The card's thresholds, unless the admin moved them for this model (inside the range the
    card allows; anything else is ignored rather than trusted)."""
    values = {}
    for key in THRESHOLD_SETTINGS:
        stored = store.get_setting(f"threshold.{model_sha256}.{key}")
        if stored is not None:
            try:
                values[key] = float(stored)
            except (TypeError, ValueError):
                return card_thresholds
    if not values:
        return card_thresholds
    candidate = replace(card_thresholds, **values)
    try:
        candidate.validate()
    except ApplianceError:
        return card_thresholds
    return candidate


def device_name(config: Config, store: Store) -> str:
    """The name the admin gave this device in the GUI (an audited setting), else the config's."""
    value = store.get_setting(DEVICE_NAME_SETTING)
    return str(value) if value else config.device_name


@contextmanager
def open_analyzer(config: Config) -> Iterator[Analyzer]:
    """Load and verify the model, open the database, and yield an :class:`Analyzer`."""
    bundle = load_model(config)
    classifier = Classifier(bundle, backend=config.backend, num_threads=config.num_threads)
    with Store.open(config.database) as store:
        thresholds = effective_thresholds(bundle.card.thresholds, store, bundle.card.sha256)
        yield Analyzer(classifier, store, device_name(config, store), thresholds)


@contextmanager
def open_source(config: Config) -> Iterator[VolumeSource]:
    """The mock folder source when configured, otherwise USB sticks through udev."""
    if config.mock_usb is not None:
        source: VolumeSource = MockUsbSource(config.mock_usb)
    else:
        from appliance.ingest.udev import UdevSource

        source = UdevSource()
    try:
        yield source
    finally:
        source.stop()


def describe_source(config: Config) -> str:
    if config.mock_usb is not None:
        return f"mock USB folder {config.mock_usb} (each sub-folder is a stick)"
    return "USB sticks (udev)"
