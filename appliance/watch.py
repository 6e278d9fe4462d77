"""``histo-appliance watch``: the service that scans each stick as it is plugged in.

One bad stick (a failed scan, a report that cannot be written) is said on stderr and the
watching goes on: it must not leave the next stick unscanned. The model, store and stick source
are the same assembly as the GUI's (:mod:`appliance.runtime`); the PDF is written by the export
service, and the table printed is ``scan``'s (:mod:`appliance.cli_output`).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

from appliance.cli_output import print_scan_table
from appliance.config import Config
from appliance.errors import ApplianceError
from appliance.ingest import VolumeEvent
from appliance.progress import ProgressLine
from appliance.report import RESEARCH_ONLY
from appliance.sdnotify import notify
from appliance.text import display_text

log = logging.getLogger("histo-appliance")


def watch(config: Config, reports: Path) -> int:
    """Watch for sticks until SIGTERM/SIGINT; scan each and write its PDF to ``reports``."""
    # Looked up at call time, so a test can stand in for the model (runtime.open_analyzer).
    from appliance import runtime

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with runtime.open_analyzer(config) as analyzer, runtime.open_source(config) as source:
        pending: list = []
        arrived = threading.Condition()

        def on_event(event) -> None:
            with arrived:
                pending.append(event)
                arrived.notify()

        where = runtime.describe_source(config)
        print(f"watching {where} — {RESEARCH_ONLY}. Ctrl-C to stop.", flush=True)
        for volume in source.present():
            pending.append(VolumeEvent("inserted", volume))
        source.start(on_event)
        notify("READY=1")
        while not stop.is_set():
            with arrived:
                if not pending:
                    arrived.wait(timeout=0.5)
                events, pending[:] = list(pending), []
            for event in events:
                if event.kind != "inserted" or stop.is_set():
                    if event.kind == "removed":
                        print(f"stick removed: {display_text(event.volume.label)}", flush=True)
                    continue
                watch_one(analyzer, event.volume, config, reports)
    print("stopped cleanly", flush=True)
    return 0


def watch_one(analyzer, volume, config: Config, reports: Path) -> None:
    """Scan one stick and write its report. Whatever goes wrong with this stick is printed and
    the watcher goes on: one bad stick must not leave the next one unscanned."""
    label = display_text(volume.label)
    print(f"stick inserted: {label} at {display_text(volume.mount_point)}", flush=True)
    progress = ProgressLine(sys.stdout)  # a line every 15 s in the journal, redrawn on a tty
    try:
        summary = analyzer.scan(
            volume.mount_point, label=volume.label, source=volume.source, on_progress=progress
        )
    except Exception as exc:  # the scan row is already marked failed by Analyzer.scan
        log.exception("scan of %s failed", label)
        print(
            f"histo-appliance: the scan of {label} failed: {display_text(exc)}."
            " Everything finished before is stored. Still watching.",
            file=sys.stderr,
            flush=True,
        )
        return
    finally:
        progress.close()
    path = watch_report(analyzer, summary.scan_id, reports)
    print_scan_table(summary, analyzer.card, config, path)


def watch_report(analyzer, scan_id: int, reports: Path) -> Path | None:
    """Write the scan's PDF; a failure is printed and watching goes on (the scan is stored)."""
    from appliance.controller.export import export_local

    try:
        return export_local(analyzer.store, scan_id, reports, analyzer.device)
    except Exception as exc:  # ApplianceError/OSError expected; anything else is a bug, logged
        if not isinstance(exc, ApplianceError | OSError):
            log.exception("report of scan %s failed", scan_id)
        print(
            f"histo-appliance: scan {scan_id} is stored, but its report could not be written."
            f" {display_text(exc)} Write it later with `histo-appliance report {scan_id}`."
            " Still watching.",
            file=sys.stderr,
            flush=True,
        )
        return None
