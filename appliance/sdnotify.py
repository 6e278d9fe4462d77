"""Telling systemd the appliance is ready (``sd_notify("READY=1")``), with the standard library.

Why: the kiosk and watch units are ``Type=notify``, so ``systemctl start`` returns, and units
ordered after them start, only once the first window is on screen (or the watcher is watching),
not merely when the process exists. The protocol is one datagram on the AF_UNIX socket named in
``$NOTIFY_SOCKET``; a leading ``@`` means the abstract namespace. Outside systemd the variable is
unset and nothing happens, so no dependency (python-systemd) is needed for these few lines.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str = "READY=1", environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` to systemd; True when sent, False when not under systemd or it failed."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        log.warning("NOTIFY_SOCKET=%r is not a socket path; systemd was not notified", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("could not notify systemd (%s): %s", state, exc)
        return False
    return True
