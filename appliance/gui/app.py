"""Starting the touch-screen application: ``histo-appliance gui`` calls :func:`run_gui`.

The window always comes up: a refused model or a broken database becomes a screen that says so
(see :class:`~appliance.runtime.Appliance`). Kiosk mode (``--kiosk``, the config file, or the
admin's setting in the database, which wins) is full screen without window decorations;
otherwise a normal window for development.

Once the first window has been painted, the app says so: a line "kiosk ready" (or "window ready"
outside kiosk mode) on stdout, which the journal keeps, and ``READY=1`` to systemd when it runs
under the ``Type=notify`` kiosk unit (:mod:`appliance.sdnotify`), so ``systemctl start`` returns
when the technician can see the screen, not when the process merely exists.
"""

from __future__ import annotations

import logging
import signal
import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from appliance.config import Config
from appliance.controller import Controller
from appliance.gui import style
from appliance.gui.main_window import MainWindow
from appliance.gui.sources_qt import VolumeWatcher
from appliance.gui.workers import emit_is_defective
from appliance.runtime import Appliance
from appliance.sdnotify import notify

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
    """Assemble the appliance (as the CLI does) and build the window over its controller (not
    shown, watching not started)."""
    application()
    from appliance.report import RESEARCH_ONLY

    if emit_is_defective():
        log.warning(
            "PySide6 %s loses a reference on every Signal.emit() from Python; the appliance"
            " avoids it where it matters, but install PySide6-Essentials 6.11 or 6.8 instead",
            pyside_version,
        )
    controller = Controller(Appliance.open(config))  # never raises: problems are shown
    watcher = VolumeWatcher.for_config(config, poll_interval=poll_interval)
    window = MainWindow(controller, watcher, RESEARCH_ONLY)
    watcher.setParent(window)
    return window


class ReadyWhenPainted(QObject):
    """Calls ``on_ready`` once, on the GUI thread, after the watched window's first paint."""

    def __init__(self, window: QWidget, on_ready) -> None:
        super().__init__(window)
        self.on_ready = on_ready
        self.done = False
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self.done and event.type() == QEvent.Type.Paint:
            self.done = True
            watched.removeEventFilter(self)
            QTimer.singleShot(0, self.on_ready)  # after the paint has been handled
        return False


def announce_ready(kiosk: bool) -> bool:
    """Say the first window is up: a log line and, under systemd, ``READY=1``."""
    line = "kiosk ready" if kiosk else "window ready"
    log.info(line)
    print(line, flush=True)
    return notify("READY=1")


def window_size(available: tuple[int, int] | None) -> tuple[int, int]:
    """A development window's size: DEV_SIZE, but never larger than the screen's free area
    (on a 800x480 panel a 1280x800 window would be cut off)."""
    if available is None:
        return DEV_SIZE
    return min(DEV_SIZE[0], available[0]), min(DEV_SIZE[1], available[1])


def show(window: MainWindow) -> None:
    if window.session.kiosk:
        window.apply_kiosk(True)
    else:
        screen = window.screen() or QGuiApplication.primaryScreen()
        free = screen.availableGeometry() if screen is not None else None
        window.resize(*window_size((free.width(), free.height()) if free else None))
        if free is not None:
            window.move(free.topLeft())
        window.show()
        if free is not None:  # the title bar and borders count too, once the WM has added them
            frame = window.frameGeometry()
            extra_w, extra_h = frame.width() - window.width(), frame.height() - window.height()
            if frame.width() > free.width() or frame.height() > free.height():
                window.resize(free.width() - extra_w, free.height() - extra_h)
    window.start()


def run_gui(config: Config) -> int:
    """Run the application until the window is closed; returns the exit code."""
    app = application()
    window = create_window(config)
    ReadyWhenPainted(window, lambda: announce_ready(window.session.kiosk))
    show(window)
    # Ctrl-C / SIGTERM in a terminal close the window cleanly; the timer lets Python see them.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: window.close())
    ticker = QTimer()
    ticker.start(250)
    ticker.timeout.connect(lambda: None)
    code = app.exec()
    return int(code)
