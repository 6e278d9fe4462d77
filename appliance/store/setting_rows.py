"""Settings an admin changes on the device (device name, kiosk, per-model thresholds), audited.

Only the values live here; which keys exist and what they mean belongs to the runtime.
"""

from __future__ import annotations

import json
from typing import Any

from appliance.store.core import StoreCore, utc_now
from appliance.store.names import storable


class SettingRows(StoreCore):
    """Writing and reading ``settings``; every change is in the audit log with old and new."""

    def get_setting(self, key: str, default: Any = None) -> Any:
        rows = self._rows("SELECT value_json FROM settings WHERE key = ?", (key,))
        if not rows:
            return default
        try:
            return json.loads(rows[0]["value_json"])
        except ValueError:
            return default

    def settings(self) -> dict[str, Any]:
        rows = self._rows("SELECT key, value_json FROM settings ORDER BY key")
        return {r["key"]: json.loads(r["value_json"]) for r in rows}

    def set_setting(self, key: str, value: Any, actor: str | None, *, default: Any = None) -> None:
        """Store a JSON-serialisable value; the old and new values and who changed it (``actor``,
        a person's name) go to the audit log.

        ``default`` is the value in force while the key was never set (a card's threshold, the
        config file's device name), recorded as ``old`` so the audit row says what changed
        rather than ``"old": null``. Saving the value already stored writes nothing: an audit
        row means a change.
        """
        encoded = storable(json.dumps(value, ensure_ascii=False, sort_keys=True))
        key = storable(key)
        with self._write("save the setting") as db:
            row = db.execute("SELECT value_json FROM settings WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] == encoded:
                return
            old = json.loads(row[0]) if row else default
            db.execute(
                """INSERT INTO settings (key, value_json, updated_at, updated_by)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT(key) DO UPDATE SET value_json = excluded.value_json,
                       updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
                (key, encoded, utc_now(), actor),
            )
            self._audit_in(
                db,
                "setting_changed",
                actor=actor,
                scan_id=None,
                image_id=None,
                payload={"key": key, "old": old, "new": value},
            )
