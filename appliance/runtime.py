"""Assembling the running appliance from its configuration: model, store, analyzer, stick source.

One assembly for the three faces (``scan``/``report`` on the command line, the ``watch``
service, the touch-screen GUI), so they run with the same verified model, the same thresholds
and the same device name. Opening never raises: each part that failed is kept as a
:class:`~appliance.problems.Problem` (``model_problem``, ``store_problem``) and the rest still
works, because the screen must come up and *say* what is wrong (History without a model, About
without a database). The command line turns the problem back into its error with
:func:`open_analyzer`, so it prints the same words and exits non-zero.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from appliance import settings
from appliance.config import Config
from appliance.ingest import MockUsbSource, VolumeSource
from appliance.problems import Problem, classify
from appliance.settings import effective_thresholds
from appliance.values import Thresholds

if TYPE_CHECKING:
    from appliance.inference.bundle import ModelBundle
    from appliance.inference.card import ModelCard
    from appliance.inference.classifier import Classifier
    from appliance.pipeline import Analyzer
    from appliance.store import Store

__all__ = [
    "Appliance",
    "describe_source",
    "device_name",
    "effective_thresholds",
    "make_source",
    "open_analyzer",
    "open_source",
]


@dataclass
class Appliance:
    """What the configuration opened, and what it could not (as problems to show)."""

    config: Config
    store: Store | None = None
    bundle: ModelBundle | None = None
    analyzer: Analyzer | None = None
    # The errors behind the problems: the CLI re-raises them (its own words and exit code).
    model_error: BaseException | None = field(default=None, repr=False)
    store_error: BaseException | None = field(default=None, repr=False)

    @classmethod
    def open(cls, config: Config, *, model: bool = True) -> Appliance:
        """Load and verify the model (``model=True``), open the store; never raises."""
        appliance = cls(config)
        classifier = None
        if model:
            try:
                classifier = load_classifier(config)
                appliance.bundle = classifier.bundle
            except Exception as exc:
                appliance.model_error = exc
        try:
            from appliance.store import Store

            appliance.store = Store.open(config.database)
        except Exception as exc:
            appliance.store_error = exc
        if classifier is not None and appliance.store is not None:
            from appliance.pipeline import Analyzer

            appliance.analyzer = Analyzer(
                classifier, appliance.store, appliance.device_name, appliance.thresholds
            )
        return appliance

    # Problems are worded on first use: classifying logs an unexpected error, which only the
    # GUI wants (the command line keeps the traceback in a file and prints one line).
    @functools.cached_property
    def model_problem(self) -> Problem | None:
        return classify(self.model_error) if self.model_error is not None else None

    @functools.cached_property
    def store_problem(self) -> Problem | None:
        return classify(self.store_error) if self.store_error is not None else None

    def close(self) -> None:
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.close()
        self.store = None
        self.analyzer = None

    def __enter__(self) -> Appliance:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- what is in force ----------------------------------------------------------------------

    @property
    def problem(self) -> Problem | None:
        """What stops scanning, most fundamental first (the database holds everything)."""
        return self.store_problem or self.model_problem

    @property
    def card(self) -> ModelCard | None:
        return self.bundle.card if self.bundle is not None else None

    @property
    def backend_name(self) -> str | None:
        return self.analyzer.classifier.backend_name if self.analyzer is not None else None

    @property
    def device_name(self) -> str:
        return settings.device_name(self.config, self.store)

    @property
    def kiosk(self) -> bool:
        return settings.kiosk(self.config, self.store)

    @property
    def thresholds(self) -> Thresholds | None:
        """The cut-offs in force for the loaded model (the card's unless the admin moved them)."""
        card = self.card
        if card is None:
            return None
        return effective_thresholds(card.thresholds, self.store, card.sha256)

    def settings_changed(self) -> None:
        """Let the next scan run with what was just saved (device name, thresholds)."""
        if self.analyzer is not None:
            self.analyzer.device = self.device_name
            self.analyzer.thresholds = self.thresholds or self.analyzer.thresholds

    def require_store(self) -> Store:
        """The store, or the error that kept it closed (for the command line)."""
        if self.store is None:
            raise self.store_error or RuntimeError("the store was closed")
        return self.store

    def require_analyzer(self) -> Analyzer:
        """The analyzer, or the error that kept it from being built (the model's first, as
        ``scan`` always said), for the command line."""
        if self.analyzer is None:
            raise self.model_error or self.store_error or RuntimeError("no model was loaded")
        return self.analyzer


def load_classifier(config: Config) -> Classifier:
    """The verified model with the configured interpreter and threads: the one way every face
    (scan, watch, GUI, doctor) builds it, so ``doctor`` measures what a scan will run."""
    from appliance.inference.classifier import Classifier
    from appliance.inference.installed import load_model

    return Classifier(load_model(config), backend=config.backend, num_threads=config.num_threads)


def device_name(config: Config, store: Store | None) -> str:
    """The device name in force (see :func:`appliance.settings.device_name`)."""
    return settings.device_name(config, store)


@contextmanager
def open_analyzer(config: Config) -> Iterator[Analyzer]:
    """Load and verify the model, open the database, and yield an :class:`Analyzer`; raises
    the error behind the first problem (the command line says it in words)."""
    with Appliance.open(config) as appliance:
        yield appliance.require_analyzer()


def make_source(config: Config, *, poll_interval: float = 0.5) -> VolumeSource:
    """The mock folder source when configured, otherwise USB sticks through udev."""
    if config.mock_usb is not None:
        return MockUsbSource(Path(config.mock_usb), poll_interval=poll_interval)
    from appliance.ingest.udev import UdevSource

    return UdevSource()


@contextmanager
def open_source(config: Config) -> Iterator[VolumeSource]:
    source = make_source(config)
    try:
        yield source
    finally:
        source.stop()


def describe_source(config: Config) -> str:
    if config.mock_usb is not None:
        return f"mock USB folder {config.mock_usb} (each sub-folder is a stick)"
    return "USB sticks (udev)"
