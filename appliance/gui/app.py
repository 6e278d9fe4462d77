"""Starting the touch-screen application: ``histo-appliance gui`` calls :func:`run_gui`.

The window always comes up: a refused model or a broken database becomes a screen that says so
(see :class:`~appliance.gui.session.Session`). Kiosk mode (``--kiosk``, the config file, or the
admin's setting in the database, which wins) is full screen without window decorations;
otherwise a normal window for development.
"""

from __future__ import annotations

import logging
import signal
import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from appliance.config import Config
from appliance.gui import style
from appliance.gui.main_window import MainWindow
from appliance.gui.session import Session
from appliance.gui.sources_qt import VolumeWatcher
from appliance.gui.workers import emit_is_defective

log = logging.getLogger(__name__)
DEV_SIZE = (1280, 800)


def application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), styled for touch and reading from a metre away."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("histo-appliance")
    app.setFont(style.app_font())
    app.setStyleSheet(style.stylesheet(style.base_font_px()))
    return app


def create_window(config: Config, *, poll_interval: float = 0.5) -> MainWindow:
    """Open the session and build the window (not shown, watching not started)."""
    application()
    from appliance.report import RESEARCH_ONLY

    if emit_is_defective():
        log.warning(
            "PySide6 %s loses a reference on every Signal.emit() from Python; the appliance"
            " avoids it where it matters, but install PySide6-Essentials 6.11 or 6.8 instead",
            pyside_version,
        )
    session = Session.open(config)
    watcher = VolumeWatcher(config.mock_usb, poll_interval=poll_interval)
    window = MainWindow(session, watcher, RESEARCH_ONLY)
    watcher.setParent(window)
    return window


def show(window: MainWindow) -> None:
    if window.session.kiosk:
        window.apply_kiosk(True)
    else:
        window.resize(*DEV_SIZE)
        window.show()
    window.start()


def run_gui(config: Config) -> int:
    """Run the application until the window is closed; returns the exit code."""
    app = application()
    window = create_window(config)
    show(window)
    # Ctrl-C / SIGTERM in a terminal close the window cleanly; the timer lets Python see them.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: window.close())
    ticker = QTimer()
    ticker.start(250)
    ticker.timeout.connect(lambda: None)
    code = app.exec()
    return int(code)
