"""The fault suite (issue 10): hostile names (non-UTF-8 bytes, newlines, control and bidi
characters, long names and folder paths) through the pipeline, the store, the PDF and the CLI,
and the watcher surviving a stick of them whose report cannot be written.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from appliance.store import Store
from tests.conftest import ROOT, TINY_BUNDLE
from tests.faults_support import (
    FaultCase,
    note,
    run_and_record,
    save,
    scan_fault_stick,
    tissue,
)

# --- hostile names ---------------------------------------------------------------------------


def _named(name: str | bytes):
    def write(case: Path) -> None:
        raw = name if isinstance(name, bytes) else name.encode()
        target = bytes(case) + b"/" + raw
        with open(target, "wb") as handle:
            tissue(seed=7).save(handle, format="PNG")

    return write


def _name_case(name: str, fault: str, raw: str | bytes, awaiting: str | None = None) -> FaultCase:
    raw_bytes = raw if isinstance(raw, bytes) else raw.encode()

    def run(tmp_path: Path) -> None:
        _analyzer, summary = scan_fault_stick(tmp_path, _named(raw), statuses={"ok", "error"})
        with Store.open(tmp_path / "db" / "appliance.db") as store:
            from appliance.report import write_scan_report

            [row] = [r for r in store.images(summary.scan_id) if r.path_bytes.endswith(raw_bytes)]
            # Lossless: the exact bytes are kept, so the file can be found again on the stick.
            assert row.path_bytes == b"case/" + raw_bytes
            row.path.encode("utf-8")  # the shown text is valid Unicode (U+FFFD for bad bytes)
            pdf = write_scan_report(store, summary.scan_id, tmp_path / "r.pdf", device="t")
            assert pdf.stat().st_size > 1000
        text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
        assert not any(
            c in text for c in "\x1b\x07\u202e" if c in raw_bytes.decode(errors="ignore")
        )
        assert not any(0xDC80 <= ord(c) <= 0xDCFF for c in text)
        json.dumps([o.to_json() for o in summary.outcomes])
        note(f"stored row shows {row.path!r} (exact bytes kept): {row.status}, {row.decision}")

    return FaultCase(
        name,
        "name",
        fault,
        "a row under its own name (exact bytes kept, shown as valid text), PDF and JSON written",
        run,
        awaiting,
    )


def _long_folder(case: Path) -> None:
    folder = case
    for i in range(16):  # 16 x 200 characters: a ~3.2 KB folder path
        folder = folder / (f"{i:02d}" + "x" * 198)
    save(tissue(seed=8), folder / "m.png")


def _long_path_run(tmp_path: Path) -> None:
    _analyzer, summary = scan_fault_stick(tmp_path, _long_folder, statuses={"ok", "error"})
    from appliance.report import write_scan_report

    with Store.open(tmp_path / "db" / "appliance.db") as store:
        pdf = write_scan_report(store, summary.scan_id, tmp_path / "r.pdf", device="t")
    assert pdf.stat().st_size > 1000


_HOSTILE = [b"caf\xe9.png", b"\x1b[31mred\x07.png", "scan\u202egnp.png".encode(), b"two\nlines.png"]


def _hostile_stick(tmp_path: Path) -> Path:
    stick = tmp_path / "stick"
    (stick / "case").mkdir(parents=True)
    for seed, raw in enumerate(_HOSTILE):
        with open(bytes(stick / "case") + b"/" + raw, "wb") as handle:
            tissue(seed=seed).save(handle, format="PNG")
    return stick


def _cli_output(tmp_path: Path, fmt: str) -> str:
    """The text ``histo-appliance scan`` prints for a stick of hostile names (in-process)."""
    import contextlib

    from appliance.cli import main

    out = io.StringIO()
    argv = [
        "scan",
        str(_hostile_stick(tmp_path)),
        "--db",
        str(tmp_path / "c.db"),
        "--model",
        str(TINY_BUNDLE),
        "--format",
        fmt,
    ]
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


def _cli_table_escapes(tmp_path: Path) -> None:
    text = _cli_output(tmp_path, "table")
    for bad in ("\x1b", "\x07", "\u202e"):
        assert bad not in text, f"raw {bad!r} from a file name reached the terminal"
    assert not any(0xDC80 <= ord(c) <= 0xDCFF for c in text), "undecodable bytes printed raw"
    assert "two\nlines" not in text, "a newline in a file name broke the table"
    assert "caf\ufffd.png" in text
    note(
        "table shows: "
        + ", ".join(line.split()[0] for line in text.splitlines() if line.startswith("case/"))
    )


def _cli_json_is_valid_unicode(tmp_path: Path) -> None:
    text = _cli_output(tmp_path, "json")
    paths = [image["path"] for image in json.loads(text)["images"]]
    for path in paths:
        path.encode("utf-8")  # a lone surrogate (raw undecodable byte) cannot be encoded
    note("JSON paths: " + ", ".join(repr(p) for p in paths))


NAME_CASES = [
    _name_case("name_not_utf8", "file name with byte 0xE9 (Latin-1 'é')", b"caf\xe9.png"),
    _name_case("name_newline", "file name with a newline", "two\nlines.png"),
    _name_case("name_control_chars", "file name with ESC[31m and BEL", "\x1b[31mred\x07.png"),
    _name_case(
        "name_rtl_override", "file name with U+202E (right-to-left override)", "scan\u202egnp.png"
    ),
    _name_case(
        "name_255_bytes", "a 251-character file name (ext4's 255-byte limit)", "n" * 251 + ".png"
    ),
    _name_case("name_emoji_cjk", "file name in CJK with an emoji", "病理切片🔬.png"),
    FaultCase(
        "names_in_cli_table",
        "name",
        "ESC, BEL, U+202E, newline, byte 0xE9 in file names",
        "the terminal table shows escapes and U+FFFD, never the raw characters",
        _cli_table_escapes,
    ),
    FaultCase(
        "names_in_cli_json",
        "name",
        "byte 0xE9 in a file name, scan --format json",
        "valid UTF-8 JSON (U+FFFD or an escape), no lone surrogate",
        _cli_json_is_valid_unicode,
    ),
    FaultCase(
        "folder_path_3kb",
        "name",
        "an image under a 3.2 KB folder path",
        "a row; the PDF report is written (long text wrapped)",
        _long_path_run,
    ),
]


def _watch_survives(tmp_path: Path) -> None:
    sticks = tmp_path / "sticks"
    save(tissue(seed=1), sticks / "first" / "case" / "a.png")
    _named(b"caf\xe9 \x1b[31m.png")(sticks / "first" / "case")  # crashed watch before issue 10
    _long_folder(sticks / "first")
    reports = tmp_path / "reports-is-a-file"
    reports.write_text("not a folder")
    cmd = [
        sys.executable,
        "-m",
        "appliance.cli",
        "watch",
        "--mock-usb",
        str(sticks),
        "--reports",
        str(reports),
        "--db",
        str(tmp_path / "w.db"),
        "--model",
        str(TINY_BUNDLE),
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            with Store.open(tmp_path / "w.db") as store:
                if len(store.scans()) >= 1 and not (sticks / "second").exists():
                    save(tissue(seed=2), sticks / "second" / "case" / "b.png")
                if len(store.scans()) >= 2:
                    break
        assert proc.poll() is None, "the watcher died"
        with Store.open(tmp_path / "w.db") as store:
            assert len(store.scans()) == 2, "the second stick was not scanned"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "Traceback" not in out, out
    assert "Still watching" in out
    note(next(line for line in out.splitlines() if "Still watching" in line))


WATCH_CASES = [
    FaultCase(
        "watch_report_fails",
        "watch",
        "a stick with a non-UTF-8 name and a 3 KB path; the reports folder is a file",
        "message printed; watching goes on; the next stick is scanned",
        _watch_survives,
    )
]


CASES = NAME_CASES + WATCH_CASES


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_fault(case: FaultCase, tmp_path: Path) -> None:
    run_and_record(case, tmp_path)
