"""The appliance's one local database: scans, per-image results, human reviews and an audit log.

Why SQLite in WAL mode with ``synchronous=FULL``: the Pi can lose power at any moment, and a
result that was shown to a technician must still be there after the reboot. :class:`Store` is
assembled from one part per job: plumbing and the audit log (:mod:`~appliance.store.core`),
scans (:mod:`~appliance.store.scan_rows`), images (:mod:`~appliance.store.image_rows`), reviews
(:mod:`~appliance.store.review_rows`) and settings (:mod:`~appliance.store.setting_rows`).

Why the standard library's ``sqlite3`` and no query library: sqlite-utils was chosen early for
its table helpers (create, insert, upsert, search), but the store never used them and cannot: its
every statement is hand-written on purpose (append-only triggers, one ``BEGIN IMMEDIATE`` per
change, every value a bound parameter, identifiers checked). What was left of it turned cursors
into dicts, which :meth:`StoreCore._rows` does in three lines. On the Pi it cost eight more
distributions in the locked, hash-checked run-time set (``pip`` among them, for its ``install``
command; click, click-default-group, pluggy, python-dateutil, tzdata, tabulate, sqlite-fts4),
pluggy plugins loaded into the connection at open, and a ``recursive_triggers`` pragma set
behind the store's back (now set explicitly in :func:`appliance.store.opening.connect`).
An appliance without network is patched by rebuilding its package: every dependency it does not
need is one less to audit and update.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from appliance.errors import StoreError
from appliance.store.core import InvalidReview, NotFound, log, utc_now
from appliance.store.failures import empty_file, translate
from appliance.store.failures import guard as _guard
from appliance.store.image_rows import ImageRows
from appliance.store.migrations import LATEST_VERSION
from appliance.store.opening import connect, create
from appliance.store.review_rows import ReviewRows
from appliance.store.scan_rows import ScanRows
from appliance.store.setting_rows import SettingRows


class Store(ScanRows, ImageRows, ReviewRows, SettingRows):
    """The appliance's database. Open with :meth:`Store.open`; use as a context manager."""

    @classmethod
    def open(cls, path: Path, *, mark_abandoned: bool = True) -> Self:
        """Open (creating if needed), check and migrate the database at ``path``.

        An existing file is never replaced: an empty (0-byte) or damaged one is refused in words.
        A new database is built beside ``path`` and linked into place only when complete, so a
        power cut while creating it never leaves an empty file under the real name (which is why
        an empty file there always means something was lost). Scans left ``running`` by a
        process that is gone are then marked interrupted (see :meth:`mark_abandoned_scans`).
        """
        path = Path(path)
        with _guard(path, "open the database"):
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                create(path)
            if path.is_dir():
                raise StoreError(
                    f"The appliance database ({path}) is a folder, not a database file. Give the"
                    " path of the database file (the `database` setting or --db)."
                )
            if path.is_file() and path.stat().st_size == 0:
                raise empty_file(path)
        store = cls(path, connect(path))
        if mark_abandoned:
            try:
                store.mark_abandoned_scans()
            except StoreError as exc:  # e.g. a read-only copy: opening for reading still works
                log.warning("could not check for abandoned scans in %s: %s", path, exc)
        return store


__all__ = ["LATEST_VERSION", "InvalidReview", "NotFound", "Store", "translate", "utc_now"]
