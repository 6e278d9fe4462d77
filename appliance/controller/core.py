"""Everything a technician's tap can ask of the appliance, without Qt.

The touch screen is a thin shell over this: it runs these methods off the GUI thread and shows
what they return. Tests drive the same methods without a display (``tests/test_controller*.py``).
Each method either returns a typed result (:mod:`appliance.controller.results`) or raises an
:class:`~appliance.errors.ApplianceError` whose message is meant for the person at the screen.

Who is reviewing (the operator) lives here, because reviews *and* settings changes are audited
under that person's name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from appliance import settings
from appliance.controller import export
from appliance.controller.results import (
    ExportDone,
    LoadedImage,
    LoadedScan,
    Pixels,
    ReviewSaved,
)
from appliance.controller.scans import ScanQueue, shown
from appliance.errors import ApplianceError
from appliance.ingest import Volume
from appliance.settings import SettingSaved

if TYPE_CHECKING:
    from appliance.runtime import Appliance
    from appliance.store import Store
    from appliance.store.records import ImageRecord, ScanRecord

log = logging.getLogger(__name__)

OPERATOR_EVENTS = ("operator_signed_in", "review")
MAX_OPERATOR_NAME = 60


class Refused(ApplianceError):
    """An action that cannot be done now (no database, nobody signed in, a scan running);
    the message says why and what to do."""


class HistoryQuery(Protocol):
    """A History filter (the GUI's ``HistoryFilter``): it knows how to ask the store."""

    def query(self, store: Store) -> list[ScanRecord]: ...


class Controller:
    """The appliance's actions for one screen: sticks and scans, results, reviews, exports,
    the admin's settings, and who is at the screen."""

    def __init__(self, appliance: Appliance) -> None:
        self.appliance = appliance
        self.scans = ScanQueue(appliance)
        self.operator: str | None = None

    @property
    def store(self) -> Store:
        """The open store, or a refusal in words (History and reviews need it)."""
        store = self.appliance.store
        if store is None:
            found = self.appliance.store_problem
            raise Refused("The database is not available" + (f": {found.detail}" if found else "."))
        return store

    # -- records -------------------------------------------------------------------------------

    def search(self, query: HistoryQuery) -> list[ScanRecord]:
        return query.query(self.store)

    def load_scan(self, scan_id: int) -> LoadedScan:
        store = self.store
        return LoadedScan(store.scan(scan_id), store.images(scan_id), store.latest_reviews(scan_id))

    def load_image(self, image_id: int) -> LoadedImage:
        store = self.store
        image = store.image(image_id)
        return LoadedImage(image, store.scan(image.scan_id), store.reviews(image_id))

    @staticmethod
    def pixels(image: ImageRecord, scan: ScanRecord, volume: Volume | None) -> Pixels:
        """Full pixels from the stick when it is there and the file is unchanged; otherwise the
        stored thumbnail, with the reason in words."""
        from appliance.ingest import read_image

        if volume is not None and scan.volume_path and str(volume.mount_point) == scan.volume_path:
            path = Path(scan.volume_path).joinpath(*Path(image.path).parts)
            try:
                loaded = read_image(path, volume_root=Path(scan.volume_path))
                if image.sha256 is None or loaded.sha256 == image.sha256:
                    return Pixels(loaded.image, None, "Full image, read from the stick.")
                reason = "the file on the stick has changed since it was analysed"
            except ApplianceError as exc:
                reason = f"the file cannot be read now ({exc})"
        else:
            reason = "the stick is not plugged in"
        if image.thumbnail:
            note = f"Small stored copy: {reason}. Plug the stick in for full detail."
            return Pixels(None, image.thumbnail, note)
        return Pixels(
            None, None, f"No picture to show: {reason}, and no copy was stored (unreadable file)."
        )

    # -- people --------------------------------------------------------------------------------

    def recent_operators(self, limit: int = 6) -> list[str]:
        """Names that signed in or reviewed lately, newest first (from the audit log)."""
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
        """Check and remember who is at the screen (no database access: safe on any thread)."""
        name = " ".join(name.split())
        if not name:
            raise Refused("Type your name or pick it from the list.")
        if len(name) > MAX_OPERATOR_NAME:
            raise Refused(f"That name is too long (at most {MAX_OPERATOR_NAME} characters).")
        self.operator = name
        return name

    def audit_sign_in(self, name: str) -> None:
        """Record the sign-in (so the name is offered next time); a failure is only logged."""
        try:
            self.store.audit("operator_signed_in", actor=name)
        except ApplianceError as exc:
            log.warning("could not audit sign-in: %s", exc)

    def sign_in(self, name: str) -> str:
        name = self.set_operator(name)
        self.audit_sign_in(name)
        return name

    def _person(self, doing: str) -> str:
        if not self.operator:
            raise Refused(f"Tell the appliance who you are before {doing}.")
        return self.operator

    # -- reviews -------------------------------------------------------------------------------

    def review(
        self, image_id: int, *, agreed: bool, corrected: str | None = None, note: str = ""
    ) -> ReviewSaved:
        """Save the operator's review of one image (the store audits it); the AI's answer is
        never changed."""
        reviewer = self._person("reviewing")
        store = self.store
        store.add_review(
            image_id,
            reviewer=reviewer,
            agreed=agreed,
            corrected_decision=None if agreed else corrected,
            note=note.strip(),
        )
        image = store.image(image_id)
        reviews = store.reviews(image_id)
        latest = store.latest_reviews(image.scan_id).get(image_id)
        return ReviewSaved(
            image_id, image.scan_id, reviewer, reviews, latest,
            f"Review of {image.name} saved by {reviewer}.",
        )  # fmt: skip

    # -- export --------------------------------------------------------------------------------

    def export_pdf(self, scan_id: int, to_stick: Volume | None = None) -> ExportDone:
        """Write the scan's PDF on the appliance; copy it to ``to_stick`` only when given.

        A stick that refuses the copy is not an error: the local copy stands and the message
        says why the stick has none (tone "warn")."""
        store, device = self.store, self.appliance.device_name
        local = export.export_local(store, scan_id, self.appliance.config.reports, device)
        if to_stick is None:
            return ExportDone(
                local, None,
                f"Report saved on this appliance at {local}. Nothing was written to the stick.",
            )  # fmt: skip
        try:
            copied = export.copy_to_stick(
                local, to_stick, store=store, actor=self.operator, scan_id=scan_id
            )
        except export.StickWriteRefused as exc:
            return ExportDone(local, None, str(exc), "warn")
        return ExportDone(
            local, copied,
            f"Report copied to the stick “{shown(to_stick)}” as {copied.name}."
            f" A copy is kept on this appliance at {local}.",
        )  # fmt: skip

    # -- admin ---------------------------------------------------------------------------------

    def audit_admin(self, event: str) -> None:
        """The admin corner was unlocked/locked: audited under the person's name if known."""
        self.store.audit(event, actor=self.operator or settings.ADMIN_ACTOR)

    def save_thresholds(self, benign_below: float, malignant_at: float) -> SettingSaved:
        """Save the admin's cut-offs for the loaded model (only those that changed)."""
        card = self.appliance.card
        if card is None:
            raise Refused("Thresholds belong to a model, and no model is loaded.")
        if self.scans.busy:
            raise Refused("A scan is running. Change the thresholds when it has finished.")
        actor = self._person("changing settings")
        saved = settings.save_thresholds(
            self.store, card.thresholds, card.sha256, benign_below, malignant_at, actor
        )
        self.appliance.settings_changed()
        return saved

    def save_device_name(self, name: str) -> SettingSaved:
        actor = self._person("changing settings")
        saved = settings.save_device_name(self.store, self.appliance.config, name, actor)
        self.appliance.settings_changed()
        return saved

    def save_kiosk(self, on: bool) -> SettingSaved:
        actor = self._person("changing settings")
        return settings.save_kiosk(self.store, self.appliance.config, on, actor)

    def close(self) -> None:
        self.appliance.close()
