"""``histo-appliance doctor``: is this appliance ready, and if not, what exactly is wrong.

Each check is independent and says what it found in words; the admin runs it after installing or
swapping a model, and a developer after setting up a laptop. Besides the software it judges the
clock (a Pi has no battery-backed clock) and the Pi's health (temperature, throttling and
under-voltage, free disk and memory): optional lines, they fail the exit status only for a wrong
clock, since every audit row carries a time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance import __version__
from appliance.config import Config
from appliance.errors import ApplianceError

# Installed by the .deb: lets the service user mount USB sticks read-only through udisks2.
POLKIT_RULE = Path("/usr/share/polkit-1/rules.d/50-histo-appliance.rules")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def _check(name: str, probe: Callable[[], str], required: bool = True) -> Check:
    try:
        return Check(name, True, probe(), required)
    except ApplianceError as exc:
        return Check(name, False, str(exc), required)
    except Exception as exc:  # a check must report, never crash the report
        return Check(name, False, f"{type(exc).__name__}: {exc}", required)


def run_checks(config: Config) -> list[Check]:
    checks = [
        Check(
            "appliance",
            True,
            f"histo-appliance {__version__}, Python {platform.python_version()}"
            f" on {platform.machine()}",
        )
    ]
    checks.append(_check("clock", lambda: _clock(config)))
    checks.append(_check("interpreters", _interpreters))
    checks.append(_check("model", lambda: _model(config)))
    checks.append(_check("inference", lambda: _inference(config)))
    checks.append(_check("database", lambda: _database(config)))
    checks.append(_check("reports folder", lambda: _writable(config.reports)))
    checks.append(_check("usb source", lambda: _usb(config), required=False))
    checks.append(_check("gui", _gui, required=False))
    checks.append(_check("gui: wayland (kiosk)", lambda: _platform("wayland"), required=False))
    checks.append(_check("gui: xcb (X desktop)", lambda: _platform("xcb"), required=False))
    checks.extend(_health(config))
    checks.append(_check("no tensorflow", _no_tensorflow))
    return checks


def _card_created(model: Path) -> object:
    """The model card's creation time, read without verifying the bundle (that is another line)."""
    try:
        card = json.loads((Path(model) / "card.json").read_text(encoding="utf-8"))
        return card.get("provenance", {}).get("created")
    except (OSError, ValueError, AttributeError):
        return None


def _clock(config: Config) -> str:
    from appliance.buildinfo import judge_clock

    status = judge_clock(card_created=_card_created(config.model))
    if not status.believable:
        raise ApplianceError(
            f"{status.summary}. Times in the audit log and reports would be wrong. {status.advice}"
        )
    return status.summary


def _platform(name: str) -> str:
    from appliance.qtplugins import check_platform

    found = check_platform(name)
    if not found.ok:
        raise ApplianceError(found.words())
    return found.words()


def _health(config: Config, sources=None) -> list[Check]:
    """One line per health reading; "not available" (not a Pi) is fine, a warning is a FAIL."""
    from appliance.health import Sources, read_health

    try:
        health = read_health(config.database, config.reports, sources or Sources())
    except Exception as exc:  # health is information: never let it break the report
        return [Check("health", False, f"could not be read: {exc}", required=False)]
    return [Check(r.name, not r.warning, r.detail, required=False) for r in health.readings]


def _interpreters() -> str:
    from appliance.inference.backends import available_backends, select_backend

    names = available_backends()
    chosen = select_backend("auto").name
    return f"installed: {', '.join(names)}; automatic choice: {chosen}"


def _model(config: Config) -> str:
    from appliance.inference.installed import load_model

    card = load_model(config).card
    return (
        f"{card.name} {card.version} at {config.model} ({_model_origin(config)});"
        f" sha256 {card.sha256[:16]}… verified;"
        f" input {card.input.height}x{card.input.width} {card.input.dtype}, {card.input.mode}"
    )


def _model_origin(config: Config) -> str:
    """Why this bundle runs: pinned by the config, installed by an admin, or the shipped one."""
    if config.model_pinned:
        return "pinned by the configuration"
    if Path(config.model).parent == Path(config.models_dir):
        return "installed with `histo-appliance model install`"
    return "the shipped model"


def _inference(config: Config) -> str:
    import numpy as np
    from PIL import Image

    from appliance.runtime import load_classifier

    classifier = load_classifier(config)
    # A flat pink square is no tissue the scope gate would let through, so the check runs the
    # model itself (all of the card's views) and then the gate, and reports both.
    tissue = np.full((50, 50, 3), (200, 120, 180), np.uint8)
    classifier.features([tissue])  # warm-up
    started = time.perf_counter()
    probabilities, _ = classifier.features([tissue])
    elapsed = (time.perf_counter() - started) * 1000
    p = float(probabilities[0][classifier.bundle.card.malignant_index])
    try:
        classifier.classify(Image.fromarray(tissue))
        gate = "scope gate passed it"
    except ApplianceError as exc:
        gate = f"scope gate works (it refused this flat test square: {exc})"
    return (
        f"backend in use: {classifier.backend_name};"
        f" one patch in {elapsed:.1f} ms (p={p:.3f}); {gate}"
    )


def _database(config: Config) -> str:
    from appliance.store import Store

    with Store.open(config.database) as store:
        count = len(store.scans(limit=100000))
        return f"{config.database}: integrity ok, schema {store.schema_version}, {count} scans"


def _writable(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK):
        raise ApplianceError(f"{folder} is not writable by this user")
    return f"{folder} is writable"


def _usb(config: Config, polkit_rule: Path = POLKIT_RULE) -> str:
    if config.mock_usb is not None:
        state = "exists" if config.mock_usb.is_dir() else "missing"
        return f"mock USB folder {config.mock_usb} ({state})"
    if importlib.util.find_spec("pyudev") is None:
        raise ApplianceError("pyudev is not installed: USB sticks cannot be detected")
    from appliance.ingest.udev import UdevSource
    from appliance.ingest.udisks import default_mounter

    present = UdevSource().present()
    if default_mounter() is None:
        raise ApplianceError(
            f"udev available, {len(present)} USB stick(s) mounted now, but udisksctl is missing:"
            " sticks plugged in will not be mounted (sudo apt-get install udisks2)"
        )
    if not _installed(polkit_rule):
        raise ApplianceError(
            f"udev and udisks2 available, {len(present)} USB stick(s) mounted now, but the"
            f" polkit rule {polkit_rule} is missing: the service user may not mount sticks"
            " (reinstall the histo-appliance package)"
        )
    return f"udev and udisks2 available; {len(present)} USB stick(s) mounted now"


def _installed(path: Path) -> bool:
    """True when ``path`` exists; polkit's rules folder is readable by polkitd alone (0700), so
    for other users an unreadable folder counts as "installed by the package" rather than fail."""
    try:
        return path.exists()
    except PermissionError:
        return True


def _gui() -> str:
    if importlib.util.find_spec("PySide6") is None:
        raise ApplianceError("PySide6 is not installed: only the command line is available")
    import PySide6

    return f"PySide6 {PySide6.__version__} imports (its platform plugins: next lines)"


def _no_tensorflow() -> str:
    """Import the runtime in a fresh interpreter: this process may have loaded anything.

    Where no child process can start (qemu-user without binfmt_misc), the same imports are done
    here instead, and the line says so."""
    from appliance.qtplugins import EXEC_FAILED

    probe = (
        "import sys, appliance.runtime, appliance.cli, appliance.report;"
        "print(','.join(n for n in ('tensorflow', 'keras') if n in sys.modules))"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
        )
        started = not (result.returncode == EXEC_FAILED and not result.stderr.strip())
    except OSError:
        started = False
    if not started:
        if any(n in sys.modules for n in ("tensorflow", "keras")):
            raise ApplianceError(
                "cannot be checked: no child process can start, and this process had already"
                " loaded TensorFlow before the check"
            )
        import appliance.cli
        import appliance.report
        import appliance.runtime  # noqa: F401

        loaded = [n for n in ("tensorflow", "keras") if n in sys.modules]
        if loaded:
            raise ApplianceError(f"the runtime loads {', '.join(loaded)}; it must not")
        return (
            "the runtime does not load TensorFlow or Keras"
            " (checked in this process: a child process could not be started)"
        )
    if result.returncode != 0:
        reason = result.stderr.strip()[-300:] or f"exit status {result.returncode}"
        raise ApplianceError(f"the runtime does not import: {reason}")
    if result.stdout.strip():
        raise ApplianceError(f"the runtime loads {result.stdout.strip()}; it must not")
    return "the runtime does not load TensorFlow or Keras"
