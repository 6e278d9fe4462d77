#!/usr/bin/env python3
"""Start the kiosk command the way systemd would and time how long it takes to say it is ready.

Why: ``histo-appliance-kiosk.service`` is ``Type=notify``: systemd considers it started when the
app sends ``READY=1`` on ``$NOTIFY_SOCKET``. This script plays systemd's part: it binds the
datagram socket, starts the command with ``NOTIFY_SOCKET`` set, and measures from just before
the process starts to the first ``READY=1`` (and, as a fallback, to the "kiosk ready" log line).
It then keeps the app running ``--linger`` seconds (a crash right after the first window would
show), stops it with SIGTERM and prints one JSON line of results. Standard library only.

Usage: kiosk_ready.py [--timeout S] [--linger S] [--log F] [--result F]
                      [--socket P --socket-env P] -- COMMAND ...
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _pump(stream, sink, marks: dict, t0: float, needle: str) -> None:
    """Copy the child's output to ``sink`` and note when the ready line first appears."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        sink.write(line)
        sink.flush()
        if needle in line.lower() and "line" not in marks:
            marks["line"] = time.monotonic() - t0


def run(
    command: list[str],
    timeout: float,
    linger: float,
    log: Path | None,
    socket_at: Path | None = None,
    socket_env: str | None = None,
) -> dict:
    """Run ``command`` under a fake systemd notify socket; return timings and the outcome.

    ``socket_at`` binds the socket at a chosen host path (e.g. inside a chroot) and
    ``socket_env`` is the path the child is told (the same socket as seen from the chroot).
    """
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-notify-"))
    sock_path = socket_at or tmp / "notify"
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    os.chmod(sock_path, 0o666)  # the app may run as the unprivileged service user
    env = dict(os.environ, NOTIFY_SOCKET=socket_env or str(sock_path))
    sink = log.open("w", encoding="utf-8") if log else sys.stderr
    marks: dict[str, float] = {}
    messages: list[str] = []
    t0 = time.monotonic()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    pump = threading.Thread(
        target=_pump, args=(proc.stdout, sink, marks, t0, "kiosk ready"), daemon=True
    )
    pump.start()
    deadline = t0 + timeout
    while time.monotonic() < deadline and proc.poll() is None and "notify" not in marks:
        ready, _, _ = select.select([sock], [], [], 0.2)
        if ready:
            text = sock.recv(4096).decode("utf-8", "replace")
            messages.append(text)
            if "READY=1" in text.split("\n"):
                marks["notify"] = time.monotonic() - t0
    if "notify" not in marks and proc.poll() is None:
        time.sleep(1.0)  # the log line may trail the datagram by a moment
    alive_at_ready = proc.poll() is None
    end_linger = time.monotonic() + (linger if alive_at_ready else 0)
    while time.monotonic() < end_linger and proc.poll() is None:
        ready, _, _ = select.select([sock], [], [], 0.2)
        if ready:
            messages.append(sock.recv(4096).decode("utf-8", "replace"))
    alive_after_linger = proc.poll() is None
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    pump.join(timeout=5)
    sock.close()
    sock_path.unlink(missing_ok=True)
    tmp.rmdir()
    if log:
        sink.close()
    return {
        "ready_notify_s": round(marks["notify"], 2) if "notify" in marks else None,
        "ready_line_s": round(marks["line"], 2) if "line" in marks else None,
        "alive_after_linger": alive_after_linger,
        "linger_s": linger,
        "exit_code": proc.returncode,
        "notify_messages": messages,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after (s)")
    parser.add_argument("--linger", type=float, default=5.0, help="keep running after ready (s)")
    parser.add_argument("--log", type=Path, help="write the app's output here")
    parser.add_argument("--result", type=Path, help="write the JSON result here too")
    parser.add_argument("--socket", type=Path, help="bind the notify socket here")
    parser.add_argument("--socket-env", help="NOTIFY_SOCKET value the command sees")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    result = run(command, args.timeout, args.linger, args.log, args.socket, args.socket_env)
    text = json.dumps(result)
    print(text)
    if args.result:
        args.result.write_text(text + "\n", encoding="utf-8")
    ready = result["ready_notify_s"] is not None or result["ready_line_s"] is not None
    return 0 if ready and result["alive_after_linger"] else 1


if __name__ == "__main__":
    sys.exit(main())
