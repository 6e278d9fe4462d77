"""Security (issue 10, part 6): no network at all, and SQL that holds no values.

The appliance sits in a lab next to patient data: it must open no listening socket and make no
network call, in-process (a scan and its PDF report) and as the installed command. Python's audit
hooks see every socket made, bound or connected and every name lookup, whatever library does it.
The only socket the appliance may ever make is the AF_UNIX datagram to systemd (sdnotify) in the
watcher, which ``scan`` does not use. SQL is checked by reading the source: every f-string,
``.format`` or ``%`` that looks like SQL may only interpolate identifiers from constants (listed
below, each with why it is safe), never a value.
"""

from __future__ import annotations

import ast
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_BUNDLE
from tests.faults_support import make_analyzer, save, tissue

NETWORK_EVENTS = ("socket.", "urllib.", "http.", "ftplib.", "smtplib.", "webbrowser.")
_recording: list[tuple[str, str]] | None = None


def _audit(event: str, args: tuple) -> None:
    if _recording is not None and event.startswith(NETWORK_EVENTS):
        _recording.append((event, repr(args)[:200]))


sys.addaudithook(_audit)  # cannot be removed; records only while a test sets _recording


def _stick(tmp_path: Path) -> Path:
    stick = tmp_path / "stick"
    for i in range(3):
        save(tissue(seed=i), stick / "case" / f"img{i}.png")
    return stick


def _forbidden(*_args, **_kwargs):
    raise AssertionError("the appliance tried to use the network")


def test_scan_and_report_in_process_touch_no_socket(tmp_path: Path, monkeypatch) -> None:
    global _recording
    from appliance.report import write_scan_report

    for name in ("create_connection", "create_server", "getaddrinfo", "gethostbyname"):
        monkeypatch.setattr(socket, name, _forbidden)
    for name in ("connect", "connect_ex", "bind", "listen"):
        monkeypatch.setattr(socket.socket, name, _forbidden)
    stick = _stick(tmp_path)
    _recording = []
    try:
        analyzer = make_analyzer(tmp_path)
        summary = analyzer.scan(stick)
        write_scan_report(analyzer.store, summary.scan_id, tmp_path / "r.pdf", device="t")
        analyzer.store.close()
        events = list(_recording)
    finally:
        _recording = None
    assert summary.status == "complete"
    assert events == [], events
    _recording = []  # the hook does see sockets: one made here is recorded
    try:
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).close()
        assert [e for e, _ in _recording] == ["socket.__new__"]
    finally:
        _recording = None


_SITECUSTOMIZE = """
import os, sys
_log = os.environ["NETWORK_AUDIT_LOG"]
_watched = {watched!r}
def _hook(event, args):
    if event.startswith(_watched):
        with open(_log, "a") as handle:
            handle.write(event + " " + repr(args)[:200] + "\\n")
sys.addaudithook(_hook)
"""


def test_installed_command_scan_makes_no_network_call(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "histo-appliance"
    if not command.exists():
        pytest.skip(f"{command} is not installed (pip install -e . makes it)")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(watched=NETWORK_EVENTS))
    log = tmp_path / "network.log"
    env = dict(os.environ, PYTHONPATH=f"{hooks}{os.pathsep}{ROOT}", NETWORK_AUDIT_LOG=str(log))
    env.pop("NOTIFY_SOCKET", None)
    marker = tmp_path / "hook-ran"
    probe = [
        sys.executable,
        "-c",
        f"import socket; socket.socket().close(); open({str(marker)!r}, 'w')",
    ]
    subprocess.run(probe, env=env, check=True)
    assert log.exists() and "socket.__new__" in log.read_text(), "the audit hook is not loaded"
    log.unlink()
    result = subprocess.run(
        [
            str(command),
            "scan",
            str(_stick(tmp_path)),
            "--db",
            str(tmp_path / "a.db"),
            "--model",
            str(TINY_BUNDLE),
            "--report",
            str(tmp_path / "r.pdf"),
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["images"]) == 3
    assert not log.exists(), log.read_text()


# --- SQL holds placeholders, never values ------------------------------------------------------

_SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA|DROP|ALTER|WHERE|VALUES|ATTACH|VACUUM)\b"
)
#: What may be interpolated into SQL text, and why it is not a value from outside.
ALLOWED = {
    "table": "a table name written in the code (the store's helpers take it from literals)",
    "columns": "column names: the keys of a dict literal built in the store, not user input",
    "marks": "':name' placeholders made from those same keys",
    "list(values)": "the same keys, for an error message",
    "what": "a constant word in migrations' trigger-making helper",
    "_in(SCAN_STATUSES)": "a CHECK list from a module constant",
    "_in(IMAGE_STATUSES)": "a CHECK list from a module constant",
    "_in(DECISIONS)": "a CHECK list from a module constant",
    "_in(_FINAL)": "a CHECK list from a module constant",
    "' AND '.join((f'NEW.{c} IS OLD.{c}' for c in _SCAN_FIXED_V4))": "columns from a constant",
}


def _sql_interpolations(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if _SQL.search(text):
                found += [
                    (node.lineno, ast.unparse(v.value))
                    for v in node.values
                    if isinstance(v, ast.FormattedValue)
                ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
            and isinstance(node.func.value.value, str)
            and _SQL.search(node.func.value.value)
        ):
            found.append((node.lineno, "str.format(...)"))
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
            and _SQL.search(node.left.value)
        ):
            found.append((node.lineno, "'...' % (...)"))
    return found


def test_sql_is_parametrised() -> None:
    offending = []
    seen = 0
    for path in sorted((ROOT / "appliance").rglob("*.py")):
        for line, expression in _sql_interpolations(path):
            seen += 1
            # An int() can never carry SQL; everything else must be a listed identifier.
            if expression.startswith("int(") or expression in ALLOWED:
                continue
            offending.append(f"{path.relative_to(ROOT)}:{line}: {{{expression}}}")
    assert seen > 0, "the scan found no SQL at all: the detector is broken"
    assert offending == [], "SQL built with values (use ? or :name placeholders):\n" + "\n".join(
        offending
    )


def test_the_sql_detector_catches_a_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(db, name):\n"
        "    db.execute(f\"SELECT * FROM images WHERE path = '{name}'\")\n"
        '    db.execute("DELETE FROM scans WHERE id = %s" % name)\n'
    )
    found = [expr for _line, expr in _sql_interpolations(bad)]
    assert found == ["name", "'...' % (...)"]
