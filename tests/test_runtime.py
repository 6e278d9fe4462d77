"""The assembly every face shares: problems come back as values, settings are read and saved once.

The command line, the watcher and the GUI all open the appliance through
:class:`appliance.runtime.Appliance`; these tests pin what each of them relies on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import settings
from appliance.config import Config
from appliance.errors import ModelRejected, StoreError
from appliance.runtime import Appliance, open_analyzer
from appliance.store import Store
from tests.conftest import TINY_BUNDLE


def make_config(tmp_path: Path, **overrides) -> Config:
    values = {
        "model": TINY_BUNDLE,
        "database": tmp_path / "a.db",
        "reports": tmp_path / "reports",
        "device_name": "config-name",
    }
    values.update(overrides)
    return Config(**values)


def test_a_working_appliance_has_an_analyzer_with_the_settings_in_force(tmp_path: Path) -> None:
    with Appliance.open(make_config(tmp_path)) as appliance:
        assert appliance.problem is None and appliance.analyzer is not None
        assert appliance.analyzer.device == "config-name" == appliance.device_name
        assert appliance.analyzer.thresholds == appliance.card.thresholds == appliance.thresholds
        assert appliance.backend_name and appliance.kiosk is False
        store = appliance.store
    assert appliance.store is None and appliance.analyzer is None  # closed on leaving
    with pytest.raises(StoreError):
        store.scans()


def test_problems_are_values_and_the_rest_still_opens(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    appliance = Appliance.open(make_config(tmp_path, model=tmp_path / "none", database=broken))
    assert appliance.model_problem.title == "No model is installed"
    assert appliance.store_problem.kind == "database"
    assert appliance.problem is appliance.store_problem  # the database holds everything
    assert appliance.analyzer is None and appliance.thresholds is None
    assert appliance.device_name == "config-name"  # settings fall back without a store

    only_model = Appliance.open(make_config(tmp_path, model=tmp_path / "none"))
    assert only_model.store is not None and only_model.problem is only_model.model_problem
    only_model.close()


def test_the_command_line_gets_the_error_itself(tmp_path: Path) -> None:
    with pytest.raises(ModelRejected), open_analyzer(make_config(tmp_path, model=tmp_path / "x")):
        pass
    with open_analyzer(make_config(tmp_path)) as analyzer:
        assert analyzer.store.scans() == []


def test_report_opens_without_loading_a_model(tmp_path: Path) -> None:
    with Appliance.open(make_config(tmp_path, model=tmp_path / "none"), model=False) as appliance:
        assert appliance.bundle is None and appliance.model_problem is None
        assert appliance.require_store() is appliance.store


def test_device_name_and_kiosk_settings(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with Store.open(config.database) as store:
        assert settings.save_device_name(store, config, " config-name ", "Ada").nothing_changed
        with pytest.raises(settings.SettingRefused, match="one line"):
            settings.save_device_name(store, config, "two\nlines", "Ada")
        saved = settings.save_device_name(store, config, "lab-pi-2", "Ada")
        assert saved.changed == (settings.DEVICE_NAME_KEY,)
        assert settings.device_name(config, store) == "lab-pi-2"
        [change] = [e for e in store.audit_log() if e.event == "setting_changed"]
        assert (change.actor, change.payload["old"]) == ("Ada", "config-name")

        assert settings.save_kiosk(store, config, False, "Ada").nothing_changed
        settings.save_kiosk(store, config, True, "Ada")
        assert settings.kiosk(config, store) is True
        store.set_setting(settings.KIOSK_KEY, "no", "tamper")  # not a bool: not trusted
        assert settings.kiosk(config, store) is False


def test_tampered_thresholds_fall_back_to_the_card(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with Appliance.open(config) as appliance:
        card = appliance.card
        key = settings.threshold_key(card.sha256, "malignant_at")
        appliance.store.set_setting(key, "0.7", "tamper")
        assert appliance.thresholds == card.thresholds
        appliance.store.set_setting(key, 0.0, "tamper")
        assert appliance.thresholds == card.thresholds


def test_a_changed_threshold_is_rounded_to_the_card_an_unchanged_one_is_kept(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    with Appliance.open(config) as appliance:
        card, store = appliance.card, appliance.store
        t = card.thresholds
        places = t.decimals
        nudged = t.benign_below + 10 ** -(places + 2)  # the same value at the card's precision
        low, high = t.allowed_range
        moved = min(high, t.malignant_at + 0.0123456)
        saved = settings.save_thresholds(store, t, card.sha256, nudged, moved, "Ada")
        assert saved.changed == (settings.threshold_key(card.sha256, "malignant_at"),)
        now = settings.effective_thresholds(t, store, card.sha256)
        assert now.benign_below == t.benign_below
        assert now.malignant_at == round(moved, places)
        with pytest.raises(settings.SettingRefused, match="must not be above"):
            settings.save_thresholds(store, t, card.sha256, now.malignant_at, low, "Ada")
