"""Work that must not run on the GUI thread: a scan, reading an image, writing a PDF.

Why a QThread for the scan and a thread pool for the rest: a scan is one long job with a cancel
and a stream of progress; image loads and exports are short, independent jobs. Nothing here
touches a widget: results are handed to the GUI thread through a :class:`Mailbox`, which posts a
Qt event to an object living in the GUI thread (exactly what a queued signal connection does
underneath). Why posted events rather than ``Signal.emit`` from the worker: PySide6 6.12.0 drops
a reference to ``True`` on every ``emit()`` called from Python, and a few thousand emits (one per
image of a large stick) end the process with "bool_dealloc"; posting events does not hit that
defect on any version (see :func:`emit_is_defective`).
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QObject,
    QRunnable,
    QThread,
    QThreadPool,
    Signal,
)

log = logging.getLogger(__name__)


class _Call(QEvent):
    TYPE = QEvent.Type(QEvent.registerEventType())

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__(self.TYPE)
        self.fn = fn
        self.args = args


class Mailbox(QObject):
    """Runs callables posted from any thread on the thread this object lives in (the GUI's).

    If the mailbox is deleted first (window closed), pending calls are dropped with it.
    """

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        QCoreApplication.postEvent(self, _Call(fn, args))

    def event(self, event: QEvent) -> bool:
        if event.type() == _Call.TYPE:
            try:
                event.fn(*event.args)
            except Exception:  # a failing receiver must not take the event loop down
                log.exception("GUI callback %r failed", event.fn)
            return True
        return super().event(event)


class ScanWorker(QThread):
    """Runs one scan (``scan(on_progress=..., cancel=...)``, the controller's
    :meth:`~appliance.controller.scans.ScanQueue.run`); progress and the end are posted to
    ``mailbox``. The end is what the scan returned (its summary) or raised: the pipeline marks
    its own scan failed before raising, so the worker only reports."""

    def __init__(
        self,
        scan: Callable[..., Any],
        label: str,
        mailbox: Mailbox,
        *,
        on_progress: Callable[[Any], None],
        on_finished: Callable[[Any], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.scan = scan
        self.mailbox = mailbox
        self.on_progress, self.on_finished = on_progress, on_finished
        self._cancel = threading.Event()
        self.setObjectName(f"scan {label}")

    def cancel(self) -> None:
        """Ask the scan to stop after the image it is on (the pipeline checks between images)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            outcome = self.scan(
                on_progress=lambda progress: self.mailbox.post(self.on_progress, progress),
                cancel=self._cancel,
            )
        except Exception as exc:  # shown in words by the GUI; unexpected ones are logged there
            outcome = exc
        self.mailbox.post(self.on_finished, outcome)


class _Task(QRunnable):
    def __init__(self, fn, on_done, on_error, mailbox: Mailbox, forget) -> None:
        super().__init__()
        self.fn, self.on_done, self.on_error = fn, on_done, on_error
        self.mailbox, self.forget = mailbox, forget

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:
            self.mailbox.post(self._finish, self.on_error, exc)
            return
        self.mailbox.post(self._finish, self.on_done, result)

    def _finish(self, callback, value) -> None:
        self.forget(self)
        callback(value)


class Background(Mailbox):
    """Runs short jobs on a small thread pool and calls back on the GUI thread."""

    def __init__(self, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._alive: set[_Task] = set()

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        task = _Task(fn, on_done, on_error, self, self._alive.discard)
        task.setAutoDelete(False)  # Python keeps it (in _alive) until its callback has run
        self._alive.add(task)
        self.pool.start(task)

    @property
    def pending(self) -> int:
        return len(self._alive)

    def wait(self, msecs: int = 10_000) -> bool:
        return self.pool.waitForDone(msecs)


class _Probe(QObject):
    ping = Signal()


@functools.cache
def emit_is_defective(tries: int = 20) -> bool:
    """True when this PySide6 loses a reference to ``True`` on each Python ``emit()`` (6.12.0).

    Checked once at start-up so the log says why the admin should install another version; the
    app's own high-frequency paths avoid ``emit()`` from Python either way.
    """
    probe = _Probe()
    gc.collect()
    before = sys.getrefcount(True)
    for _ in range(tries):
        probe.ping.emit()
    gc.collect()
    lost = before - sys.getrefcount(True)
    # Give back what the probe took, so checking never brings the crash closer.
    if lost > 0:
        import ctypes

        for _ in range(lost):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return lost >= tries
