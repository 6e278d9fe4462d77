"""``histo-appliance``: scan a stick, watch for sticks, look back, report, check the setup.

Messages are for people: an :class:`ApplianceError` prints its words and exits 2, never a
traceback. ``--format json`` output is a stable contract for scripts.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from appliance import __version__
from appliance.cli_output import print_scan_table, scan_json, scan_record_json
from appliance.config import Config, load_config
from appliance.errors import ApplianceError
from appliance.model_cli import add_model_parser, cmd_model
from appliance.report import RESEARCH_ONLY
from appliance.report.export import ExportFormat

log = logging.getLogger("histo-appliance")

EXIT_OK, EXIT_ERROR = 0, 2
EXIT_NOTHING_FOUND = 3  # scan: the stick or folder held no image (the output says what it held)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="histo-appliance",
        description=f"Breast histopathology image classifier appliance. {RESEARCH_ONLY}.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", type=Path, help="configuration file (TOML)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--model", type=Path, help="model bundle folder (default: configured)")
        sub.add_argument("--db", type=Path, dest="database", help="SQLite database file")
        sub.add_argument(
            "--backend", help="TFLite interpreter: auto, litert, tflite-runtime, tensorflow"
        )

    scan = commands.add_parser("scan", help="analyse a folder or mounted stick once")
    scan.add_argument("path", type=Path, help="the stick's mount point, or any folder")
    common(scan)
    scan.add_argument("--report", type=Path, help="write the PDF report here")
    scan.add_argument("--format", choices=["table", "json"], default="table")

    watch = commands.add_parser("watch", help="analyse each stick as it is plugged in")
    watch.add_argument("--mock-usb", type=Path, help="folder whose sub-folders act as sticks")
    common(watch)
    watch.add_argument("--reports", type=Path, help="folder for one PDF per scan")

    history = commands.add_parser("history", help="list past scans")
    history.add_argument("--db", type=Path, dest="database")
    history.add_argument("--search", help="text in a stick label, case or file name")
    history.add_argument(
        "--decision", choices=["malignant", "indeterminate", "benign", "unassessable"]
    )
    history.add_argument("--limit", type=int, default=50)
    history.add_argument("--format", choices=["table", "json"], default="table")

    report = commands.add_parser("report", help="write the PDF of a past scan")
    report.add_argument("scan_id", type=int)
    report.add_argument("--db", type=Path, dest="database")
    report.add_argument("--output", "-o", type=Path, help="PDF file (default: reports folder)")

    export = commands.add_parser(
        "export", help="write a past scan as PDF, CSV, JSON or FHIR (for the lab's systems)"
    )
    export.add_argument("scan_id", type=int)
    export.add_argument(
        "--format", choices=[f.value for f in ExportFormat], default=ExportFormat.PDF.value
    )
    export.add_argument(
        "--output", "-o", type=Path, help="file or folder (default: the reports folder)"
    )
    export.add_argument("--db", type=Path, dest="database")

    doctor = commands.add_parser("doctor", help="check model, interpreter, database and USB")
    common(doctor)

    backup = commands.add_parser("backup", help="copy the database safely, even while in use")
    backup.add_argument(
        "destination",
        help="file or folder to write to; on a USB stick, the stick is writable only for the copy",
    )
    backup.add_argument("--db", type=Path, dest="database")

    restore = commands.add_parser(
        "restore",
        help="put a backup back (checked first; the current database is kept beside it)",
    )
    restore.add_argument("file", type=Path, help="a backup written by `histo-appliance backup`")
    restore.add_argument("--db", type=Path, dest="database")

    audit = commands.add_parser("audit", help="print the append-only audit log")
    audit.add_argument("--db", type=Path, dest="database")
    audit.add_argument("--limit", type=int, default=200)

    gui = commands.add_parser("gui", help="start the touch-screen application")
    gui.add_argument("--mock-usb", type=Path, help="folder whose sub-folders act as sticks")
    gui.add_argument("--db", type=Path, dest="database")
    gui.add_argument("--model", type=Path)
    gui.add_argument(
        "--kiosk", action="store_true", default=None, help="full screen, no decorations"
    )
    add_model_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config).with_overrides(
            model=getattr(args, "model", None),
            database=getattr(args, "database", None),
            backend=getattr(args, "backend", None),
            mock_usb=getattr(args, "mock_usb", None),
            kiosk=getattr(args, "kiosk", None),
        )
        handler = {
            "scan": cmd_scan,
            "watch": cmd_watch,
            "history": cmd_history,
            "report": cmd_report,
            "export": cmd_export,
            "doctor": cmd_doctor,
            "backup": cmd_backup,
            "restore": cmd_restore,
            "audit": cmd_audit,
            "model": cmd_model,
            "gui": cmd_gui,
        }[args.command]
        return handler(args, config)
    except ApplianceError as exc:
        print(f"histo-appliance: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except PermissionError as exc:
        # e.g. /var/lib/histo-appliance is 0750 for the service user: say who may read it.
        print(
            f"histo-appliance: {exc.filename or exc} cannot be read by this user; run the command"
            f" as the appliance's user: sudo -u histo-appliance histo-appliance {args.command}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`histo-appliance history | head`): nothing left to say to it.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("histo-appliance: stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line for the person, the traceback kept in a file
        print(f"histo-appliance: {_internal_error(exc)}", file=sys.stderr)
        return EXIT_ERROR


def _internal_error(exc: Exception) -> str:
    """Keep the traceback of an unexpected error in a file and say where, in words."""
    import tempfile
    import traceback
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(tempfile.gettempdir()) / f"histo-appliance-error-{stamp}-{os.getpid()}.txt"
    try:
        path.write_text("".join(traceback.format_exception(exc)), "utf-8")
        kept = f"the details are in {path}"
    except OSError:
        kept = "the details could not be saved"
    return (
        f"an internal error stopped this command ({type(exc).__name__}); nothing stored was"
        f" changed by it. This is a bug: {kept}; please give that file to the administrator."
    )


# --- commands -------------------------------------------------------------------------------


def cmd_scan(args: argparse.Namespace, config: Config) -> int:
    from appliance.runtime import open_analyzer

    if not args.path.is_dir():
        raise ApplianceError(f"{args.path} is not a folder (give the stick's mount point)")
    from appliance.progress import ProgressLine

    with open_analyzer(config) as analyzer:
        progress = ProgressLine() if sys.stderr.isatty() and args.format != "json" else None
        summary = analyzer.scan(
            args.path.resolve(), label=args.path.resolve().name, on_progress=progress
        )
        if progress:
            progress.close()
        report_path = None
        if args.report:
            from appliance.controller.export import write_pdf

            report_path = write_pdf(
                analyzer.store, summary.scan_id, args.report, device=analyzer.device
            )
        card = analyzer.card
        if args.format == "json":
            print(json.dumps(scan_json(summary, card, config, report_path), indent=2))
        else:
            print_scan_table(summary, card, config, report_path)
    return EXIT_NOTHING_FOUND if summary.found_nothing else EXIT_OK


def cmd_watch(args: argparse.Namespace, config: Config) -> int:
    from appliance.watch import watch

    return watch(config, Path(args.reports or config.reports))


def cmd_history(args: argparse.Namespace, config: Config) -> int:
    from appliance.store import Store

    with Store.open(config.database) as store:
        scans = store.scans(search=args.search, decision=args.decision, limit=args.limit)
        if args.format == "json":
            print(json.dumps([scan_record_json(s) for s in scans], indent=2))
            return EXIT_OK
        if not scans:
            print(f"no scans in {config.database}")
            return EXIT_OK
        print(
            f"{'scan':>5}  {'started (UTC)':<20} {'stick':<20} {'images':>6} {'errors':>6}  status"
        )
        for s in scans:
            print(
                f"{s.id:>5}  {s.started_at[:19]:<20} {s.volume_label[:20]:<20}"
                f" {s.n_images:>6} {s.n_errors:>6}  {s.status}"
            )
    return EXIT_OK


def cmd_report(args: argparse.Namespace, config: Config) -> int:
    from appliance.controller.export import local_report_path, write_pdf
    from appliance.ingest.mounts import MountTable
    from appliance.ingest.stick_write import stick_holding
    from appliance.runtime import Appliance

    with Appliance.open(config, model=False) as appliance:
        store = appliance.require_store()
        store.scan(args.scan_id)  # a clear error for an unknown scan, before any file is made
        device = appliance.device_name
        local = local_report_path(store, config.reports, args.scan_id, device)
        output = Path(os.path.abspath(args.output)) if args.output else None
        mounts = MountTable()
        stick = stick_holding(output, mounts) if output else None
        path = write_pdf(
            store, args.scan_id, output if stick is None and output else local, device=device
        )
        if stick is not None and output is not None:
            path = _report_onto_stick(store, path, output, stick, mounts)
    print(f"report written: {Path(path).resolve()}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    """A stored scan in a lab format (appliance.report.export, the service the GUI uses too);
    onto a stick through the one write step, like `report`."""
    from appliance.ingest.mounts import MountTable
    from appliance.ingest.stick_write import stick_holding
    from appliance.report.export import export_format, export_path, export_scan
    from appliance.runtime import Appliance

    fmt = export_format(args.format)
    with Appliance.open(config, model=False) as appliance:
        store = appliance.require_store()
        store.scan(args.scan_id)  # a clear error for an unknown scan, before any file is made
        device = appliance.device_name
        output = Path(os.path.abspath(args.output)) if args.output else None
        mounts = MountTable()
        stick = stick_holding(output, mounts) if output else None
        if output is not None and stick is None:
            dest = output
        else:
            dest = export_path(store, config.reports, args.scan_id, fmt, device)
        path = export_scan(store, args.scan_id, fmt, dest, device=device)
        if stick is not None and output is not None:
            target = output / path.name if output.is_dir() else output  # a folder on the stick
            path = _report_onto_stick(store, path, target, stick, mounts)
    print(f"{fmt.value} export of scan {args.scan_id} written: {Path(path).resolve()}")
    return EXIT_OK


def _report_onto_stick(store, local: Path, output: Path, stick, mounts) -> Path:
    """Sticks are read-only: the PDF is written on the appliance first, then copied onto the
    stick in one explicit write step (the same one the GUI's "Copy PDF to stick" uses)."""
    from appliance.ingest.stick_write import copy_onto_stick

    target, note = copy_onto_stick(
        local,
        output,
        stick,
        purpose="report",
        audit=store.audit,
        mounts=mounts,
        refused=ApplianceError,
    )
    if note:
        print(note, file=sys.stderr)
    return target


def cmd_doctor(args: argparse.Namespace, config: Config) -> int:
    from appliance.doctor import run_checks

    checks = run_checks(config)
    width = max(len(c.name) for c in checks)
    for check in checks:
        mark = "ok " if check.ok else "FAIL"
        print(f"[{mark}] {check.name:<{width}}  {check.detail}")
    return EXIT_OK if all(c.ok or not c.required for c in checks) else EXIT_ERROR


def cmd_backup(args: argparse.Namespace, config: Config) -> int:
    from appliance.backup import backup_database

    destination, note = backup_database(config.database, args.destination)  # str: keeps "dir/"
    print(f"database backed up to {destination}")
    if note:
        print(note)
    return EXIT_OK


def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    from appliance.store.restore import restore_database

    result = restore_database(config.database, args.file)
    print(f"database {result.database} restored from {result.source}")
    print(f"  backup sha256 {result.source_sha256}, schema {result.backup_schema}:"
          f" {result.n_scans} scans, {result.n_images} image results")  # fmt: skip
    if result.kept_at is not None:
        state = "" if result.previous_state == "healthy" else " (it could not be opened)"
        print(f"  the database as it was{state} is kept at {result.kept_at}")
    print(
        "Restart the appliance (GUI and watch service) so every screen shows the restored history."
    )
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, config: Config) -> int:
    from appliance.store import Store

    with Store.open(config.database) as store:
        for entry in reversed(store.audit_log(limit=args.limit)):
            print(json.dumps(dataclasses.asdict(entry), default=str))
    return EXIT_OK


def cmd_gui(args: argparse.Namespace, config: Config) -> int:
    try:
        from appliance.gui.app import run_gui
    except ImportError as exc:
        raise ApplianceError(
            "the touch-screen application needs PySide6:"
            f" pip install 'histo-appliance[gui]' ({exc})"
        ) from exc
    return run_gui(config)


# --- output ---------------------------------------------------------------------------------



if __name__ == "__main__":
    raise SystemExit(main())
