"""Where things are and how the appliance behaves: one small TOML file, sensible defaults.

Looked up in this order, the first that exists wins: ``$HISTO_APPLIANCE_CONFIG``,
``/etc/histo-appliance/config.toml`` (the admin's, installed by the .deb), then
``~/.config/histo-appliance/config.toml`` (a developer's). Without any file the appliance runs on
the shipped model and keeps its database in the user's data folder, so a developer needs no setup.
"""

from __future__ import annotations

import os
import platform
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from appliance.errors import ApplianceError

DEFAULT_MODEL = "idc-mobilenetv2"
SYSTEM_CONFIG = Path("/etc/histo-appliance/config.toml")
# Where the .deb puts shipped models; a source checkout uses its own models/ folder.
SYSTEM_MODELS = Path("/usr/share/histo-appliance/models")
SOURCE_MODELS = Path(__file__).resolve().parent.parent / "models"


def _data_home() -> Path:
    return (
        Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        / "histo-appliance"
    )


def shipped_model_dirs() -> list[Path]:
    """Folders that may hold shipped model bundles, most specific first."""
    return [SOURCE_MODELS, SYSTEM_MODELS]


def default_model_path() -> Path:
    """The shipped model bundle: the first ``models/<DEFAULT_MODEL>`` that exists."""
    for folder in shipped_model_dirs():
        candidate = folder / DEFAULT_MODEL
        if (candidate / "card.json").exists():
            return candidate
    return SOURCE_MODELS / DEFAULT_MODEL


@dataclass(frozen=True)
class Config:
    """Settings of one appliance. Paths are absolute once loaded."""

    model: Path = field(default_factory=default_model_path)
    database: Path = field(default_factory=lambda: _data_home() / "appliance.db")
    reports: Path = field(default_factory=lambda: _data_home() / "reports")
    device_name: str = field(default_factory=platform.node)
    backend: str = "auto"  # "auto", "litert", "tflite-runtime" or "tensorflow"
    num_threads: int = 2
    kiosk: bool = False
    admin_pin: str = ""  # empty: the admin corner is locked
    mock_usb: Path | None = None  # a folder of mock sticks instead of udev

    def with_overrides(self, **values: object) -> Config:
        """A copy with the non-None values replaced (command-line options win over the file)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def config_path() -> Path | None:
    env = os.environ.get("HISTO_APPLIANCE_CONFIG")
    if env:
        return Path(env)
    user = Path.home() / ".config" / "histo-appliance" / "config.toml"
    for candidate in (SYSTEM_CONFIG, user):
        if candidate.exists():
            return candidate
    return None


def load_config(path: Path | None = None) -> Config:
    """Read the config file (if any) over the defaults; unknown keys are an error, not ignored,
    so a misspelt setting is noticed by the admin who wrote it."""
    path = path or config_path()
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ApplianceError(f"the configuration file {path} does not exist") from exc
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ApplianceError(f"the configuration file {path} cannot be read: {exc}") from exc
    known = {f.name: f for f in fields(Config)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ApplianceError(
            f"unknown setting(s) {', '.join(unknown)} in {path}; known: {', '.join(known)}"
        )
    values: dict[str, object] = {}
    for key, value in raw.items():
        if key in ("model", "database", "reports", "mock_usb"):
            value = (Path(path).parent / Path(str(value)).expanduser()).resolve()
        values[key] = value
    return Config(**values)  # type: ignore[arg-type]
