#!/usr/bin/env python3
"""Soak: kill -9 the scanner at random moments, again and again, and check nothing is lost.

Why: a Pi loses power or the kiosk is killed mid-write; issue 10 asks for proof that the database
survives it every time. Each round starts ``python -m appliance.cli scan`` on a stick of a few
hundred real tissue patches (the demo stick's patches in their 8 rotations/mirrors, so every file
has its own hash), sends SIGKILL after a random delay, then checks, with plain ``sqlite3``:

* ``PRAGMA integrity_check`` is ``ok``;
* every image row committed before the kill is still there with the same p_malignant, decision
  and status (compared with a snapshot taken after the previous round);
* the next scan resumes: it reuses earlier results instead of analysing those images again, and
  the killed scan no longer shows as ``running`` once the appliance has opened the database.

One command (about 5-10 minutes for 100 kills on a 2-core x86 machine)::

    nice -n 10 .venv/bin/python scripts/soak.py --kills 100 --seed 1 --db out/soak.db

It prints a summary table and writes it as JSON (``--json``, default beside the database).
Exit status 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo" / "usb"
TRANSFORMS: list[Image.Transpose | None] = [None, *Image.Transpose]  # identity + 7 = dihedral 8


@dataclass
class Round:
    """One start-and-kill of the scanner and what was found afterwards."""

    number: int
    delay_s: float
    killed: bool  # False: the scan finished before the kill came
    rows_before: int
    rows_after: int
    reused: int  # rows of this round's scan that reused an earlier result
    integrity: str
    lost_or_changed: int
    running_left: int  # scans still 'running' after the next open (should be 0)


@dataclass
class Summary:
    kills: int = 0
    finished_before_kill: int = 0
    scan_errors: int = 0  # scans that exited with an error without being killed
    integrity_failures: int = 0
    results_lost_or_changed: int = 0
    rounds_that_resumed: int = 0
    rounds_that_could_resume: int = 0
    scans_left_running: int = 0
    final_scan_status: str = ""
    final_rows: int = 0
    final_reused: int = 0
    images_on_stick: int = 0
    seconds: float = 0.0
    rounds: list[Round] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.integrity_failures == 0
            and self.results_lost_or_changed == 0
            and self.scans_left_running == 0
            and self.rounds_that_resumed == self.rounds_that_could_resume
            and self.final_scan_status == "complete"
            and self.scan_errors == 0
        )


def build_stick(stick: Path, limit: int) -> int:
    """Real patches from the demo stick, each in its 8 orientations, 40 to a case folder."""
    patches = sorted(p for p in DEMO.glob("patient-*/*.png"))
    count = 0
    for transform in TRANSFORMS:
        for patch in patches:
            if count >= limit:
                return count
            with Image.open(patch) as image:
                out = image.convert("RGB")
                if transform is not None:
                    out = out.transpose(transform)
            case = stick / f"case-{count // 40:02d}"
            case.mkdir(parents=True, exist_ok=True)
            out.save(case / f"{patch.stem}_t{count}.png")
            count += 1
    return count


def snapshot(db: Path) -> dict[int, tuple]:
    """Every image row: id -> (status, decision, p_malignant)."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, status, decision, p_malignant FROM images").fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def integrity(db: Path) -> str:
    if not db.exists():
        return "ok"  # killed before the database was created
    with sqlite3.connect(db) as conn:
        return "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall())


def last_scan(db: Path) -> tuple[int | None, str | None, int]:
    """The newest scan: its id, status and how many of its rows reused an earlier result."""
    if not db.exists():
        return None, None, 0
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT id, status FROM scans ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None, None, 0
        reused = conn.execute(
            "SELECT count(*) FROM images WHERE scan_id = ? AND reused_from_image_id IS NOT NULL",
            (row[0],),
        ).fetchone()[0]
    return row[0], row[1], reused


def running_scans(db: Path, before_id: int | None) -> int:
    """Scans older than ``before_id`` still marked running."""
    if not db.exists() or before_id is None:
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT count(*) FROM scans WHERE status = 'running' AND id < ?", (before_id,)
        ).fetchone()[0]


def wait_for_scan(db: Path, previous_id: int | None, proc: subprocess.Popen) -> float | None:
    """Wait until the scanner has recorded its scan row; the monotonic time it appeared."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            scan_id = last_scan(db)[0]
        except sqlite3.Error:
            scan_id = None  # the database is being created
        if scan_id is not None and scan_id != previous_id:
            return time.monotonic()
        time.sleep(0.02)
    return None


def scan_command(args: argparse.Namespace, stick: Path) -> list[str]:
    cmd = [sys.executable, "-m", "appliance.cli", "scan", str(stick), "--db", str(args.db)]
    cmd += ["--format", "json"]
    if args.model:
        cmd += ["--model", str(args.model)]
    return cmd


def compare(before: dict[int, tuple], after: dict[int, tuple]) -> int:
    """How many rows of ``before`` are missing from ``after`` or differ there."""
    return sum(1 for key, value in before.items() if after.get(key) != value)


def soak(args: argparse.Namespace, stick: Path) -> Summary:
    rng = random.Random(args.seed)
    summary = Summary(images_on_stick=build_stick(stick, args.images))
    start = time.monotonic()
    number = failing = 0
    estimate = args.max_delay
    reference = snapshot(args.db)
    while summary.kills < args.kills:
        number += 1
        # Kill at a random moment of the scan itself: after its row exists (the process has
        # started and opened the database), within the time a whole scan takes (learnt from
        # scans that finished before their kill came).
        previous_id = last_scan(args.db)[0]
        proc = subprocess.Popen(
            scan_command(args, stick), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        started = wait_for_scan(args.db, previous_id, proc)
        delay = rng.uniform(0.0, estimate)
        try:
            proc.wait(timeout=delay)
            killed = False
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL: no cleanup, no finally blocks, like a power cut
            proc.wait()
            killed = True
        if not killed and started is not None:
            estimate = min(estimate, max(0.2, time.monotonic() - started))
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if not killed and proc.returncode != 0:
            summary.scan_errors += 1
            failing += 1
            print(
                f"round {number}: scan exited {proc.returncode}: {stderr.strip()[-800:]}",
                flush=True,
            )
            if failing >= 3:
                print("three scans in a row failed on their own: stopping", flush=True)
                break
        else:
            failing = 0
        check = integrity(args.db)
        after = snapshot(args.db)
        lost = compare(reference, after)
        scan_id, _status, reused = last_scan(args.db)
        # A resume is possible when an earlier round left a good result this scan reached.
        could_resume = any(v[0] == "ok" for v in reference.values()) and scan_id is not None
        left = running_scans(args.db, scan_id)  # this scan's start opened the db
        this = Round(
            number, round(delay, 2), killed, len(reference), len(after), reused, check, lost, left
        )
        summary.rounds.append(this)
        summary.kills += killed
        summary.finished_before_kill += not killed
        summary.integrity_failures += check != "ok"
        summary.results_lost_or_changed += lost
        summary.scans_left_running = max(summary.scans_left_running, left)
        if could_resume and len(after) > len(reference):
            summary.rounds_that_could_resume += 1
            summary.rounds_that_resumed += reused > 0
        reference = after
        if args.verbose or number % 10 == 0:
            print(
                f"round {number:3d}: delay {delay:4.1f}s {'killed' if killed else 'finished'}"
                f" rows {len(after):5d} reused {reused:4d} integrity {check} lost {lost}",
                flush=True,
            )
    final = subprocess.run(scan_command(args, stick), cwd=ROOT, capture_output=True, text=True)
    scan_id, status, reused = last_scan(args.db)
    summary.final_scan_status = status or f"none (exit {final.returncode})"
    summary.final_reused = reused
    with sqlite3.connect(args.db) as conn:
        summary.final_rows = conn.execute(
            "SELECT count(*) FROM images WHERE scan_id = ?", (scan_id,)
        ).fetchone()[0]
    summary.results_lost_or_changed += compare(reference, snapshot(args.db))
    summary.scans_left_running = max(summary.scans_left_running, running_scans(args.db, scan_id))
    summary.seconds = round(time.monotonic() - start, 1)
    return summary


def print_table(summary: Summary) -> None:
    lines = [
        ("images on the stick", summary.images_on_stick),
        ("kill -9 sent mid-scan", summary.kills),
        ("scans that finished before the kill", summary.finished_before_kill),
        ("scans that failed on their own", summary.scan_errors),
        ("integrity_check not ok", summary.integrity_failures),
        ("committed results lost or changed", summary.results_lost_or_changed),
        (
            "rounds that resumed / could resume",
            f"{summary.rounds_that_resumed} / {summary.rounds_that_could_resume}",
        ),
        ("killed scans still 'running' after the next start", summary.scans_left_running),
        (
            "final scan",
            f"{summary.final_scan_status}, {summary.final_rows} rows,"
            f" {summary.final_reused} reused",
        ),
        ("wall time (s)", summary.seconds),
        ("verdict", "PASS" if summary.ok else "FAIL"),
    ]
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs to send (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the kill moments")
    parser.add_argument("--db", type=Path, help="database to soak (default: a temporary file)")
    parser.add_argument("--model", type=Path, help="model bundle (default: the configured one)")
    parser.add_argument("--images", type=int, default=320, help="images on the stick")
    parser.add_argument("--min-delay", type=float, default=0.3, help="earliest kill (s)")
    parser.add_argument(
        "--max-delay",
        type=float,
        default=4.0,
        help="latest kill (s), lowered to the time a whole scan takes",
    )
    parser.add_argument("--json", type=Path, help="where to write the summary as JSON")
    parser.add_argument("--verbose", action="store_true", help="one line per round")
    args = parser.parse_args(argv)
    out = args.json or (args.db.with_suffix(".json") if args.db else Path("soak.json"))
    with tempfile.TemporaryDirectory(prefix="soak-") as work:
        if args.db is None:
            args.db = Path(work) / "soak.db"
        args.db = args.db.resolve()
        if args.db.exists():
            parser.error(f"{args.db} exists; the soak starts from a new database")
        args.db.parent.mkdir(parents=True, exist_ok=True)
        summary = soak(args, Path(work) / "stick")
    print_table(summary)
    data = asdict(summary) | {"ok": summary.ok, "seed": args.seed, "command": sys.argv}
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"json: {out}")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
