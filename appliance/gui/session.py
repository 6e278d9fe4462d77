"""The running appliance as the GUI sees it: model, database, settings, operator.

Why opening never raises: the screen must come up and *say* what is wrong (a refused model, a
damaged database) instead of the program dying before a window exists. Each part that failed is
kept as ``model_problem`` / ``store_problem`` and the rest still works (History without a model;
About without a database).

Admin settings live in the store so they are audited (``Store.set_setting`` writes the old and
new value to the audit log): ``device_name``, ``kiosk`` and the per-model thresholds
``threshold.<model_sha256>.benign_below`` / ``.malignant_at`` (read by
:func:`appliance.runtime.effective_thresholds`, so CLI and GUI agree).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace

from appliance.config import MAX_DEVICE_NAME, Config, printable
from appliance.errors import ApplianceError
from appliance.gui.messages import Problem, classify
from appliance.values import Thresholds

log = logging.getLogger(__name__)

DEVICE_NAME_KEY = "device_name"
KIOSK_KEY = "kiosk"
OPERATOR_EVENTS = ("operator_signed_in", "review")


class SettingRefused(ApplianceError):
    """An admin change that is not allowed (the message says why and what is allowed)."""


@dataclass
class Session:
    config: Config
    store: object | None = None  # appliance.store.Store
    bundle: object | None = None  # appliance.inference.bundle.ModelBundle
    analyzer: object | None = None  # appliance.pipeline.Analyzer
    model_problem: Problem | None = None
    store_problem: Problem | None = None
    operator: str | None = None
    busy: bool = False  # a scan is running: thresholds must not change under it

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, config: Config) -> Session:
        """Open what can be opened; record the rest as problems to show."""
        session = cls(config)
        try:
            from appliance.store import Store

            session.store = Store.open(config.database)
        except Exception as exc:
            session.store_problem = classify(exc)
        classifier = None
        try:
            from appliance.inference.classifier import Classifier
            from appliance.inference.installed import load_model

            session.bundle = load_model(config)
            classifier = Classifier(
                session.bundle, backend=config.backend, num_threads=config.num_threads
            )
        except Exception as exc:
            session.model_problem = classify(exc)
        if classifier is not None and session.store is not None:
            from appliance.pipeline import Analyzer

            session.analyzer = Analyzer(
                classifier, session.store, session.device_name, session._thresholds()
            )
        return session

    def close(self) -> None:
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.close()
            self.store = None
            self.analyzer = None

    @property
    def problem(self) -> Problem | None:
        """What stops scanning, most fundamental first (the database holds everything)."""
        return self.store_problem or self.model_problem

    @property
    def card(self):
        return getattr(self.bundle, "card", None)

    @property
    def backend_name(self) -> str | None:
        return getattr(getattr(self.analyzer, "classifier", None), "backend_name", None)

    # -- settings ------------------------------------------------------------------------------

    def _setting(self, key: str, default: object = None) -> object:
        if self.store is None:
            return default
        try:
            return self.store.get_setting(key, default)
        except ApplianceError:
            return default

    @property
    def device_name(self) -> str:
        value = self._setting(DEVICE_NAME_KEY)
        return str(value) if value else self.config.device_name

    @property
    def kiosk(self) -> bool:
        """The admin's choice in the database wins over the config file (so it can be undone)."""
        value = self._setting(KIOSK_KEY)
        return self.config.kiosk if value is None else bool(value)

    def _thresholds(self) -> Thresholds | None:
        card = self.card
        if card is None:
            return None
        if self.store is None:
            return card.thresholds
        from appliance.runtime import effective_thresholds

        try:
            return effective_thresholds(card.thresholds, self.store, card.sha256)
        except ApplianceError:
            return card.thresholds

    @property
    def thresholds(self) -> Thresholds | None:
        return self._thresholds()

    def _need_store(self) -> None:
        if self.store is None:
            raise SettingRefused("Settings cannot be saved: the database is not available.")

    def save_thresholds(self, benign_below: float, malignant_at: float, actor: str) -> Thresholds:
        """Check and save the admin's thresholds for the loaded model; audited by the store."""
        self._need_store()
        card = self.card
        if card is None:
            raise SettingRefused("Thresholds belong to a model, and no model is loaded.")
        if self.busy:
            raise SettingRefused("A scan is running. Change the thresholds when it has finished.")
        low, high = card.thresholds.allowed_range
        benign_below, malignant_at = round(float(benign_below), 3), round(float(malignant_at), 3)
        for name, value in (("Benign below", benign_below), ("Malignant at", malignant_at)):
            if not low <= value <= high:
                raise SettingRefused(
                    f"{name} {value:.2f} is outside the range this model allows"
                    f" ({low:.2f} to {high:.2f}). Nothing was changed."
                )
        if benign_below > malignant_at:
            raise SettingRefused(
                f"Benign below ({benign_below:.2f}) must not be above malignant at"
                f" ({malignant_at:.2f}). Nothing was changed."
            )
        candidate = replace(card.thresholds, benign_below=benign_below, malignant_at=malignant_at)
        try:
            candidate.validate()
        except ApplianceError as exc:
            raise SettingRefused(f"These thresholds are not allowed: {exc}") from exc
        prefix = f"threshold.{card.sha256}"
        current = self.thresholds
        if current is None or current.benign_below != benign_below:
            self.store.set_setting(f"{prefix}.benign_below", benign_below, actor)
        if current is None or current.malignant_at != malignant_at:
            self.store.set_setting(f"{prefix}.malignant_at", malignant_at, actor)
        effective = self.thresholds
        if self.analyzer is not None and effective is not None:
            self.analyzer.thresholds = effective
        return effective or candidate

    def save_device_name(self, name: str, actor: str) -> None:
        self._need_store()
        name = name.strip()
        if not name:
            raise SettingRefused("The device name cannot be empty.")
        if len(name) > MAX_DEVICE_NAME:
            raise SettingRefused(
                f"The device name is too long (at most {MAX_DEVICE_NAME} characters)."
            )
        if not printable(name):
            raise SettingRefused("The device name must be one line without control characters.")
        if name != self.device_name:
            self.store.set_setting(DEVICE_NAME_KEY, name, actor)
        if self.analyzer is not None:
            self.analyzer.device = name

    def save_kiosk(self, on: bool, actor: str) -> None:
        self._need_store()
        if bool(on) != self.kiosk:
            self.store.set_setting(KIOSK_KEY, bool(on), actor)

    # -- operator ------------------------------------------------------------------------------

    def recent_operators(self, limit: int = 6) -> list[str]:
        """Names that signed in or reviewed lately, newest first (from the audit log)."""
        if self.store is None:
            return []
        try:
            entries = self.store.audit_log(limit=1000)
        except ApplianceError:
            return []
        names: list[str] = []
        for entry in entries:
            if entry.event in OPERATOR_EVENTS and entry.actor and entry.actor not in names:
                names.append(entry.actor)
            if len(names) >= limit:
                break
        return names

    def set_operator(self, name: str) -> str:
        """Check and remember who is reviewing (no database access: safe on the GUI thread)."""
        name = " ".join(name.split())
        if not name:
            raise SettingRefused("Type your name or pick it from the list.")
        if len(name) > 60:
            raise SettingRefused("That name is too long (at most 60 characters).")
        self.operator = name
        return name

    def audit_sign_in(self, name: str) -> None:
        """Record the sign-in (so the name is offered next time); a failure is only logged."""
        if self.store is not None:
            try:
                self.store.audit("operator_signed_in", actor=name)
            except ApplianceError as exc:
                log.warning("could not audit sign-in: %s", exc)

    def sign_in(self, name: str) -> str:
        name = self.set_operator(name)
        self.audit_sign_in(name)
        return name

    def review(
        self, image_id: int, *, agreed: bool, corrected: str | None = None, note: str = ""
    ) -> int:
        """Save the current operator's review (the store audits it)."""
        self._need_store()
        if not self.operator:
            raise SettingRefused("Tell the appliance who you are before reviewing.")
        return self.store.add_review(
            image_id,
            reviewer=self.operator,
            agreed=agreed,
            corrected_decision=None if agreed else corrected,
            note=note.strip(),
        )
