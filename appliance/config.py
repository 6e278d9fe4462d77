"""Where things are and how the appliance behaves: one small TOML file, sensible defaults.

Looked up in this order, the first that exists wins: ``$HISTO_APPLIANCE_CONFIG``,
``/etc/histo-appliance/config.toml`` (the admin's, installed by the .deb), then
``~/.config/histo-appliance/config.toml`` (a developer's). Without any file the appliance runs on
the active installed model (or the shipped one) and keeps its database in the user's data folder,
so a developer needs no setup.

Values are checked for their type when the file is read and whenever a :class:`Config` is built
(command-line overrides, a program): a quoted number, a ``"yes"`` for a switch or a misspelt
backend is refused with the key, what was found and what is allowed (and the file, when it came
from one), rather than failing later somewhere a technician cannot do anything about it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from appliance.errors import ApplianceError

DEFAULT_MODEL = "idc-mobilenetv2"
SYSTEM_CONFIG = Path("/etc/histo-appliance/config.toml")
# Where the .deb puts shipped models.
SYSTEM_MODELS = Path("/usr/share/histo-appliance/models")
# The project folder when running from a source checkout (plain or editable install).
SOURCE_ROOT = Path(__file__).resolve().parent.parent
# The link inside ``models_dir`` naming the active installed bundle (and the one before it).
CURRENT_LINK = "current"
PREVIOUS_LINK = "previous"
# Interpreter names the config accepts; tests keep this equal to the backends' own names.
KNOWN_BACKENDS = ("auto", "litert", "tflite-runtime", "tensorflow")
MAX_THREADS = 64

_PATH_KEYS = ("model", "models_dir", "database", "reports", "mock_usb")
MAX_DEVICE_NAME = 64
PIN_DIGITS = (4, 12)  # the admin corner's keypad has digits only


def _data_home() -> Path:
    return (
        Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        / "histo-appliance"
    )


def default_models_dir() -> Path:
    """Where ``histo-appliance model install`` keeps bundles when the config does not say."""
    return _data_home() / "models"


def is_source_tree(root: Path | None = None) -> bool:
    """True when the package runs from the project checkout rather than from site-packages:
    only then is the checkout's ``models/`` folder the shipped model (a wheel has none)."""
    root = SOURCE_ROOT if root is None else root
    return (root / "pyproject.toml").is_file() and (root / "appliance" / "__init__.py").is_file()


def shipped_model_candidates() -> list[Path]:
    """Where the shipped bundle may be, in order: the source checkout's ``models/`` (only when
    running from one), the wheel's data files under ``sys.prefix``, then the .deb's copy."""
    places = []
    if is_source_tree():
        places.append(SOURCE_ROOT / "models" / DEFAULT_MODEL)
    places.append(Path(sys.prefix) / "share" / "histo-appliance" / "models" / DEFAULT_MODEL)
    places.append(SYSTEM_MODELS / DEFAULT_MODEL)
    return places


def model_candidates(models_dir: Path | None = None) -> list[Path]:
    """Every place the default model is looked for, first wins: the active installed bundle
    (``<models_dir>/current``), then the shipped one. Wheel, editable install and .deb all
    resolve through this one list, so they cannot disagree about which model runs."""
    models_dir = default_models_dir() if models_dir is None else Path(models_dir)
    return [models_dir / CURRENT_LINK, *shipped_model_candidates()]


def is_bundle(path: Path) -> bool:
    """A folder with a card (cheap test; the sha256 is verified when the model is loaded).

    A folder this user may not read (the service user's 0750 data folder, seen by another user)
    holds no bundle for this user: the next place in the lookup is tried instead."""
    try:
        return (Path(path) / "card.json").is_file()
    except OSError:
        return False


def shipped_model_path() -> Path | None:
    """The shipped bundle this install carries, or None."""
    return next((p.resolve() for p in shipped_model_candidates() if is_bundle(p)), None)


def default_model_path(models_dir: Path | None = None) -> Path:
    """The bundle the appliance runs when the config does not pin one (symlinks resolved, so a
    running service keeps the model it started with). When none exists anywhere, the first
    place looked at is returned; loading it then reports every place (see ``model_candidates``)."""
    candidates = model_candidates(models_dir)
    for candidate in candidates:
        if is_bundle(candidate):
            return candidate.resolve()
    return candidates[0]


@dataclass(frozen=True)
class Config:
    """Settings of one appliance. Paths are absolute once loaded.

    ``model`` left out (None) means "the default": resolved from ``models_dir`` when the config is
    built. ``model_pinned`` records whether the model was named explicitly (config file or
    ``--model``), in which case installing or rolling back bundles does not change what runs.
    """

    model: Path = None  # type: ignore[assignment]  # None: resolved in __post_init__
    models_dir: Path = field(default_factory=default_models_dir)
    database: Path = field(default_factory=lambda: _data_home() / "appliance.db")
    reports: Path = field(default_factory=lambda: _data_home() / "reports")
    device_name: str = field(default_factory=lambda: platform.node() or "histo-appliance")
    backend: str = "auto"  # "auto", "litert", "tflite-runtime" or "tensorflow"
    num_threads: int | None = None  # None: every usable core, at most 4 (backends.default_threads)
    kiosk: bool = False
    admin_pin: str = ""  # empty: the admin corner is locked
    mock_usb: Path | None = None  # a folder of mock sticks instead of udev
    model_pinned: bool | None = None  # None: True if ``model`` was given, else False

    def __post_init__(self) -> None:
        if self.model is None:
            object.__setattr__(self, "model", default_model_path(self.models_dir))
            object.__setattr__(self, "model_pinned", False)
        elif self.model_pinned is None:
            object.__setattr__(self, "model_pinned", True)
        _check_fields(self)

    def with_overrides(self, **values: object) -> Config:
        """A copy with the non-None values replaced (command-line options win over the file).
        A ``model`` given here pins it; a new ``models_dir`` re-resolves an unpinned model."""
        changes = {k: v for k, v in values.items() if v is not None}
        if "model" in changes:
            changes["model_pinned"] = True
        elif "models_dir" in changes and not self.model_pinned:
            changes["model"] = None
        return replace(self, **changes)


def config_path() -> Path | None:
    env = os.environ.get("HISTO_APPLIANCE_CONFIG")
    if env:
        return Path(env)
    user = Path.home() / ".config" / "histo-appliance" / "config.toml"
    for candidate in (SYSTEM_CONFIG, user):
        if candidate.exists():
            return candidate
    return None


def _shown(value: object) -> str:
    """A value as the admin wrote it in TOML (true, "4", 4), for messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return str(value)


def printable(text: str) -> bool:
    """No control characters (a NUL in a path cannot be opened; a newline breaks a report)."""
    return not any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in text)


def allowed_problem(key: str, value: object) -> tuple[str | None, object]:
    """``(None, value)`` when ``value`` is allowed for ``key`` (normalised: a backend's spelling),
    else ``(what is allowed, value)``: the one table of rules for the file, the command line and
    any program that builds a :class:`Config`."""
    problem = None
    if key in _PATH_KEYS:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value.strip() or not printable(value):
            problem = f'a path in quotes, e.g. {key} = "/var/lib/histo-appliance/…"'
    elif key == "device_name":
        good = isinstance(value, str) and value.strip() and printable(value)
        if not good or len(value) > MAX_DEVICE_NAME:  # type: ignore[arg-type]
            example = value if isinstance(value, int | float) else "lab-pi-2"
            problem = (
                f"text in quotes, 1 to {MAX_DEVICE_NAME} characters on one line, e.g."
                f' device_name = "{example}"'
            )
    elif key == "admin_pin":
        low, high = PIN_DIGITS
        digits = isinstance(value, str) and value.isascii() and value.isdigit()
        if not isinstance(value, str) or (value and not (digits and low <= len(value) <= high)):
            example = value if isinstance(value, int) and not isinstance(value, bool) else 4821
            problem = (
                f"text in quotes: {low} to {high} digits (the keypad has digits only), e.g."
                f' admin_pin = "{example}", or "" to keep the admin corner locked'
            )
    elif key == "num_threads":
        if value is None:  # left out: the interpreter takes every usable core, at most four
            pass
        elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THREADS:
            problem = f"a whole number from 1 to {MAX_THREADS} without quotes, e.g. num_threads = 4"
    elif key in ("kiosk", "model_pinned"):
        if not isinstance(value, bool):
            problem = "true or false, without quotes"
    elif key == "backend":
        normal = value.strip().lower().replace("_", "-") if isinstance(value, str) else None
        if normal not in KNOWN_BACKENDS:
            problem = "one of " + ", ".join(f'"{name}"' for name in KNOWN_BACKENDS)
        else:
            value = normal
    return problem, value


def check_value(key: str, value: object, path: Path) -> object:
    """``value`` if it is allowed for ``key``, else an :class:`ApplianceError` naming the key,
    the file, what was found and what is allowed. TOML already gives types; this refuses the
    wrong ones."""
    problem, value = allowed_problem(key, value)
    if problem:
        raise ApplianceError(
            f"the setting {key} = {_shown(value)} in {path} is not allowed: {key} must be"
            f" {problem}. Correct the file and start again."
        )
    return value


def _check_fields(config: Config) -> None:
    """Every field of a built :class:`Config` by the same rules as the file (a value from the
    command line or a program is refused in words too, never left to fail later as "the model
    file could not be loaded" or to count ``"no"`` as true)."""
    for item in fields(config):
        value = getattr(config, item.name)
        if value is None and item.name in ("mock_usb", "model_pinned"):
            continue
        problem, normal = allowed_problem(item.name, value)
        if problem:
            raise ApplianceError(
                f"the setting {item.name} = {_shown(value)} is not allowed: {item.name} must be"
                f" {problem}."
            )
        if item.name in _PATH_KEYS:
            normal = Path(normal)  # type: ignore[arg-type]
        if normal is not value:
            object.__setattr__(config, item.name, normal)


def load_config(path: Path | None = None) -> Config:
    """Read the config file (if any) over the defaults; unknown keys are an error, not ignored,
    so a misspelt setting is noticed by the admin who wrote it."""
    path = path or config_path()
    if path is None:
        return Config()
    try:
        # A pipe would make start-up wait for ever, a folder cannot be read; /dev/null is fine.
        if Path(path).is_fifo() or Path(path).is_socket() or Path(path).is_dir():
            raise ApplianceError(f"the configuration file {path} is not a regular file")
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ApplianceError(f"the configuration file {path} does not exist") from exc
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ApplianceError(f"the configuration file {path} cannot be read: {exc}") from exc
    known = [f.name for f in fields(Config) if f.name != "model_pinned"]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ApplianceError(
            f"unknown setting(s) {', '.join(unknown)} in {path}; known: {', '.join(known)}"
        )
    values: dict[str, object] = {}
    for key, value in raw.items():
        value = check_value(key, value, Path(path))
        if key in _PATH_KEYS:
            value = (Path(path).parent / Path(str(value)).expanduser()).resolve()
        values[key] = value
    return Config(**values)  # type: ignore[arg-type]
