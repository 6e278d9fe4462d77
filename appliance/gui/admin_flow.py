"""The admin corner's saves: run the controller's settings actions and show what they did.

Qt glue only: whether a value changed, whether it is allowed and what the audit says are the
controller's and :mod:`appliance.settings`' (Qt-free). A save is audited under the signed-in
person's name, so when nobody has signed in the screen asks who it is first, then saves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from appliance.settings import KIOSK_KEY, SettingSaved

if TYPE_CHECKING:
    from appliance.gui.main_window import MainWindow


class AdminFlow(QObject):
    """The admin page of one :class:`MainWindow`."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window

    def connect(self) -> None:
        admin, controller = self.w.admin, self.w.controller
        admin.audit.connect(self.audit)
        admin.save_thresholds.connect(
            lambda b, m: self.save(lambda: controller.save_thresholds(b, m))
        )
        admin.save_device_name.connect(
            lambda name: self.save(lambda: controller.save_device_name(name))
        )
        admin.save_kiosk.connect(lambda on: self.save(lambda: controller.save_kiosk(on)))

    def audit(self, event: str) -> None:
        w = self.w
        w.run(lambda: w.controller.audit_admin(event), lambda _r: None, lambda _e: None)
        if event == "admin_unlocked":
            w.admin.load(w.session)

    def save(self, action: Callable[[], SettingSaved]) -> None:
        """Save a setting under the signed-in person's name (asked for first when unknown)."""
        w = self.w
        if not w.controller.operator:
            w.results.ask_operator(lambda: self._back_then_save(action))
            return

        def saved(result: SettingSaved) -> None:
            w.banner.set_model(w.session.card, w.session.device_name)
            if KIOSK_KEY in result.changed:
                w.apply_kiosk(w.session.kiosk)
            w.admin.show_result(result.message, False)

        w.run(action, saved, lambda exc: w.admin.show_result(w.refusal(exc), True))

    def _back_then_save(self, action: Callable[[], SettingSaved]) -> None:
        self.w.pages.setCurrentWidget(self.w.admin)
        self.save(action)
