"""The kiosk tells systemd it is ready (READY=1 on $NOTIFY_SOCKET) once its window is painted."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from appliance.sdnotify import notify


def _listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    return sock


def test_notify_sends_one_datagram(tmp_path: Path) -> None:
    with _listener(tmp_path / "notify") as sock:
        assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "notify")})
        assert sock.recv(64) == b"READY=1"


def test_notify_outside_systemd_does_nothing(tmp_path: Path) -> None:
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "relative/path"})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})


def test_abstract_socket_address() -> None:
    name = f"histo-test-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"READY=1"


def test_ready_after_the_first_paint(qtbot, tmp_path: Path, monkeypatch, capsys) -> None:
    pytest.importorskip("PySide6", reason="the GUI needs the 'gui' extra (PySide6)")
    from PySide6.QtWidgets import QLabel

    from appliance.gui import app

    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    with _listener(tmp_path / "notify") as sock:
        label = QLabel("histo-appliance")
        qtbot.addWidget(label)
        ready: list[bool] = []
        app.ReadyWhenPainted(label, lambda: ready.append(app.announce_ready(kiosk=True)))
        assert ready == []  # nothing before the window is on screen
        label.show()
        qtbot.waitUntil(lambda: ready == [True], timeout=5_000)
        assert sock.recv(64) == b"READY=1"
    assert "kiosk ready" in capsys.readouterr().out
    label.repaint()
    qtbot.wait(50)
    assert ready == [True]  # once only
