"""The command line: the JSON contract of ``scan``, history, report, doctor, errors in words."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from appliance.cli import main
from appliance.ingest.listing import is_supported
from tests.conftest import DEMO_STICK, ROOT


def _scan_json(capsys, *args: str) -> dict:
    assert main(["scan", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_scan_json_contract(capsys, demo_stick: Path, shipped_model: Path, tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    report = tmp_path / "r.pdf"
    out = _scan_json(
        capsys,
        str(demo_stick),
        "--model",
        str(shipped_model),
        "--db",
        str(db),
        "--report",
        str(report),
    )
    card = json.loads((shipped_model / "card.json").read_text())
    assert out["model"] == {
        "name": card["name"],
        "version": card["version"],
        "sha256": card["sha256"],
    }
    files = {
        p.relative_to(demo_stick).as_posix()
        for p in demo_stick.rglob("*")
        if p.is_file() and is_supported(p.name)  # not the specimen.txt sidecar
    }
    assert {i["path"] for i in out["images"]} == files
    for image in out["images"]:
        assert set(image) == {"path", "case", "status", "decision", "p_malignant", "error"}
        assert image["decision"] in {"malignant", "benign", "indeterminate", "unassessable"}
        assert (
            (image["status"] == "ok")
            == (image["error"] is None)
            == (image["p_malignant"] is not None)
        )
    assert {c["case"] for c in out["cases"]} == {i["case"] for i in out["images"]}
    assert Path(out["database"]) == db.resolve() and db.exists()
    text = "".join(page.extract_text() for page in PdfReader(report).pages)
    assert "For research use only" in text and card["sha256"][:12] in text


def test_history_and_report_from_the_database(
    capsys, demo_stick: Path, shipped_model: Path, tmp_path: Path
) -> None:
    db = tmp_path / "a.db"
    scan_id = _scan_json(capsys, str(demo_stick), "--model", str(shipped_model), "--db", str(db))[
        "scan_id"
    ]
    assert main(["history", "--db", str(db), "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    # The truncated demo file, and any real patch the scope gate refuses (at most 2 on the demo).
    assert row["scan_id"] == scan_id and row["status"] == "complete" and 1 <= row["errors"] <= 3
    pdf = tmp_path / "again.pdf"
    assert main(["report", str(scan_id), "--db", str(db), "-o", str(pdf)]) == 0
    assert "patient-9077" in "".join(p.extract_text() for p in PdfReader(pdf).pages)


def test_errors_are_words_not_tracebacks(capsys, tmp_path: Path, shipped_model: Path) -> None:
    assert main(["scan", str(tmp_path / "nowhere"), "--model", str(shipped_model)]) == 2
    err = capsys.readouterr().err
    assert "not a folder" in err and "Traceback" not in err
    assert (
        main(
            [
                "scan",
                str(tmp_path),
                "--model",
                str(tmp_path / "no-model"),
                "--db",
                str(tmp_path / "x.db"),
            ]
        )
        == 2
    )
    assert "model" in capsys.readouterr().err.lower()
    assert main(["report", "99", "--db", str(tmp_path / "x.db")]) == 2
    assert "99" in capsys.readouterr().err


def test_doctor_reports_backend_and_verified_model(
    capsys, shipped_model: Path, tmp_path: Path
) -> None:
    code = main(["doctor", "--model", str(shipped_model), "--db", str(tmp_path / "d.db")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "verified" in out and "backend in use" in out


@pytest.mark.parametrize("fmt", ["json"])
def test_console_script_on_the_demo_stick(fmt: str, tmp_path: Path) -> None:
    """Exactly the command of the issue's 'done when', as a user types it."""
    exe = Path(sys.executable).parent / "histo-appliance"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    result = subprocess.run(
        [str(exe), "scan", str(DEMO_STICK.relative_to(ROOT)), "--format", fmt],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    images = json.loads(result.stdout)["images"]
    on_stick = [p for p in DEMO_STICK.rglob("*") if p.is_file() and is_supported(p.name)]
    assert len(images) == len(on_stick)
    assert all(i["decision"] for i in images)


def test_watch_scans_each_stick_and_stops_cleanly_on_sigterm(
    tmp_path: Path, shipped_model: Path
) -> None:
    import signal
    import time

    port, reports = tmp_path / "port", tmp_path / "reports"
    (port / "already-in").mkdir(parents=True)
    for source in sorted((DEMO_STICK / "patient-9077").glob("*.png"))[:2]:
        shutil.copy(source, port / "already-in" / source.name)
    exe = Path(sys.executable).parent / "histo-appliance"
    args = [str(exe), "watch", "--mock-usb", str(port), "--model", str(shipped_model),
            "--db", str(tmp_path / "w.db"), "--reports", str(reports)]  # fmt: skip
    watcher = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(reports.glob("scan-*.pdf")) and time.monotonic() < deadline:
            time.sleep(0.2)
        (port / "plugged-later").mkdir()
        shutil.copy(next((DEMO_STICK / "patient-9036").glob("*.png")), port / "plugged-later")
        while len(list(reports.glob("scan-*.pdf"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert "stick inserted: already-in" in out and "stick inserted: plugged-later" in out
    assert "stopped cleanly" in out
    assert len(list(reports.glob("scan-*.pdf"))) == 2


def test_a_folder_this_user_may_not_read_is_a_message(capsys, monkeypatch, tmp_path) -> None:
    """Another user than the service user meets /var/lib/histo-appliance (0750): words, exit 2."""

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/var/lib/histo-appliance/appliance.db")

    monkeypatch.setattr("appliance.store.Store.open", refuse)
    assert main(["history", "--db", str(tmp_path / "h.db")]) == 2
    message = capsys.readouterr().err
    assert "/var/lib/histo-appliance/appliance.db cannot be read by this user" in message
    assert "sudo -u histo-appliance histo-appliance history" in message


def test_a_reader_that_goes_away_is_not_a_traceback(tmp_path: Path) -> None:
    """`histo-appliance --help | head -1` style: the pipe closes early, the command ends quietly."""
    db = tmp_path / "p.db"
    code = (
        "import sys; from appliance.cli import main\n"
        "class Closed:\n"
        "    def write(self, text): raise BrokenPipeError(32, 'Broken pipe')\n"
        "    def flush(self): pass\n"
        "    def fileno(self): return sys.__stdout__.fileno()\n"
        f"sys.stdout = Closed(); raise SystemExit(main(['history', '--db', {str(db)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_an_unexpected_error_is_one_line_and_the_traceback_is_kept(
    capsys, monkeypatch, tmp_path: Path
) -> None:
    import appliance.cli as cli

    def broken(args, config) -> int:
        raise ValueError("a bug")

    monkeypatch.setattr(cli, "cmd_history", broken)
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    assert main(["history", "--db", str(tmp_path / "x.db")]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" in err and "ValueError" in err
    [kept] = tmp_path.glob("histo-appliance-error-*.txt")
    assert "Traceback" in kept.read_text() and "a bug" in kept.read_text()
