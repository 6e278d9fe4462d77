"""The admin's settings: which keys exist, what is in force, and how a change is checked and saved.

Why here and nowhere else: the CLI, the watcher and the GUI must run with the same device name
and the same thresholds, so the keys and the rules that read them are written once. Settings
live in the store because every change is audited there (``Store.set_setting`` writes the old
and new value and the person to the audit log).

Keys: ``device_name``, ``kiosk`` and, per model, ``threshold.<model_sha256>.benign_below`` /
``.malignant_at`` (a new model starts from its own card's values).

A change is saved only when it *is* a change: thresholds are compared at the card's precision
(:attr:`~appliance.values.Thresholds.decimals`), so pressing Save on untouched fields writes
nothing, and a threshold the admin did not move is never rewritten (nor rounded).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from appliance.config import MAX_DEVICE_NAME, Config, printable
from appliance.errors import ApplianceError
from appliance.values import Thresholds

DEVICE_NAME_KEY = "device_name"
KIOSK_KEY = "kiosk"
THRESHOLD_NAMES = ("benign_below", "malignant_at")
THRESHOLD_LABELS = {"benign_below": "Benign below", "malignant_at": "Malignant from"}
NOTHING_CHANGED = "Nothing changed: the values on screen are the ones in force."
ADMIN_ACTOR = "admin"  # who unlocked the admin corner, when nobody has signed in yet


class SettingRefused(ApplianceError):
    """An admin change that is not allowed (the message says why and what is allowed)."""


class SettingsStore(Protocol):
    """The part of :class:`~appliance.store.Store` settings need (fakes in tests give the same)."""

    def get_setting(self, key: str, default: Any = None) -> Any: ...

    def set_setting(
        self, key: str, value: Any, actor: str | None, *, default: Any = None
    ) -> None: ...


@dataclass(frozen=True)
class SettingSaved:
    """What a save did: the keys written (none when nothing changed) and the words to show."""

    changed: tuple[str, ...]
    message: str

    @property
    def nothing_changed(self) -> bool:
        return not self.changed


def threshold_key(model_sha256: str, name: str) -> str:
    return f"threshold.{model_sha256}.{name}"


def read(store: SettingsStore | None, key: str, default: Any = None) -> Any:
    """A stored setting, or ``default`` when there is no store or it cannot be read (a setting
    must never stop the appliance from starting; the store's own problem is reported apart)."""
    if store is None:
        return default
    try:
        return store.get_setting(key, default)
    except ApplianceError:
        return default


def effective_thresholds(
    card_thresholds: Thresholds, store: SettingsStore | None, model_sha256: str
) -> Thresholds:
    """The card's thresholds, unless the admin moved them for this model (inside the range the
    card allows; anything else is ignored rather than trusted)."""
    values: dict[str, float] = {}
    for name in THRESHOLD_NAMES:
        stored = read(store, threshold_key(model_sha256, name))
        if stored is None:
            continue
        if isinstance(stored, bool) or not isinstance(stored, int | float):
            return card_thresholds
        values[name] = float(stored)
    if not values:
        return card_thresholds
    candidate = replace(card_thresholds, **values)
    try:
        candidate.validate()
    except ApplianceError:
        return card_thresholds
    return candidate


def device_name(config: Config, store: SettingsStore | None) -> str:
    """The name the admin gave this device (an audited setting), else the config file's."""
    value = read(store, DEVICE_NAME_KEY)
    return value if isinstance(value, str) and value.strip() else config.device_name


def kiosk(config: Config, store: SettingsStore | None) -> bool:
    """The admin's choice in the database wins over the config file (so it can be undone)."""
    value = read(store, KIOSK_KEY)
    return value if isinstance(value, bool) else config.kiosk


def save_thresholds(
    store: SettingsStore,
    card_thresholds: Thresholds,
    model_sha256: str,
    benign_below: float,
    malignant_at: float,
    actor: str,
) -> SettingSaved:
    """Check the admin's cut-offs against the card and save those that changed, audited.

    Compared at the card's precision, so a value shown as it is stored counts as unchanged; a
    value that did not change keeps its exact stored (or card) value.
    """
    current = effective_thresholds(card_thresholds, store, model_sha256)
    places = card_thresholds.decimals
    wanted = {"benign_below": float(benign_below), "malignant_at": float(malignant_at)}
    new: dict[str, float] = {}
    for name, value in wanted.items():
        old = getattr(current, name)
        new[name] = old if round(value, places) == round(old, places) else round(value, places)
    changed = [name for name in THRESHOLD_NAMES if new[name] != getattr(current, name)]
    if not changed:
        return SettingSaved((), NOTHING_CHANGED)
    low, high = card_thresholds.allowed_range
    show = card_thresholds.show
    for name in changed:
        if not low <= new[name] <= high:
            raise SettingRefused(
                f"{THRESHOLD_LABELS[name]} {show(new[name])} is outside the range this model"
                f" allows ({show(low)} to {show(high)}). Nothing was changed."
            )
    if new["benign_below"] > new["malignant_at"]:
        raise SettingRefused(
            f"Benign below ({show(new['benign_below'])}) must not be above malignant at"
            f" ({show(new['malignant_at'])}). Nothing was changed."
        )
    candidate = replace(current, **new)
    try:
        candidate.validate()
    except ApplianceError as exc:
        raise SettingRefused(f"These thresholds are not allowed: {exc}") from exc
    keys = []
    for name in changed:
        key = threshold_key(model_sha256, name)
        store.set_setting(key, new[name], actor, default=getattr(card_thresholds, name))
        keys.append(key)
    return SettingSaved(tuple(keys), f"Saved. From the next scan: {candidate.describe()}.")


def check_device_name(name: str) -> str:
    """The name as it will be stored (trimmed), or :class:`SettingRefused` saying why not."""
    name = name.strip()
    if not name:
        raise SettingRefused("The device name cannot be empty.")
    if len(name) > MAX_DEVICE_NAME:
        raise SettingRefused(f"The device name is too long (at most {MAX_DEVICE_NAME} characters).")
    if not printable(name):
        raise SettingRefused("The device name must be one line without control characters.")
    return name


def save_device_name(store: SettingsStore, config: Config, name: str, actor: str) -> SettingSaved:
    name = check_device_name(name)
    current = device_name(config, store)
    if name == current:
        return SettingSaved((), NOTHING_CHANGED)
    store.set_setting(DEVICE_NAME_KEY, name, actor, default=config.device_name)
    return SettingSaved((DEVICE_NAME_KEY,), f"Device name saved: {name}.")


def save_kiosk(store: SettingsStore, config: Config, on: bool, actor: str) -> SettingSaved:
    if bool(on) == kiosk(config, store):
        return SettingSaved((), NOTHING_CHANGED)
    store.set_setting(KIOSK_KEY, bool(on), actor, default=config.kiosk)
    return SettingSaved((KIOSK_KEY,), "Kiosk mode " + ("on." if on else "off."))
