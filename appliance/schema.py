"""Type and range checks for the JSON an admin installs (model cards), worded for that admin.

A card is data from outside the appliance: a threshold written as a string, an ``allowed_range``
of three numbers or a negative tile size must be refused when the bundle is loaded, with the key
and what was found, instead of failing later inside a scan.
"""

from __future__ import annotations

import math
from typing import Any

from appliance.errors import ModelRejected


def number(data: dict[str, Any], key: str, low: float, high: float, where: str) -> float:
    """``data[key]`` as a finite float in ``[low, high]``; :class:`ModelRejected` otherwise."""
    return check_number(data.get(key), low, high, f"{where}.{key}")


def check_number(value: Any, low: float, high: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelRejected(f"{name} must be a number, found {value!r}")
    if not low <= value <= high:
        raise ModelRejected(f"{name} must lie between {low} and {high}, found {value}")
    return float(value)


def integer(data: dict[str, Any], key: str, low: int, high: int, where: str) -> int:
    """``data[key]`` as an int in ``[low, high]`` (no floats, no bools)."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelRejected(f"{where}.{key} must be a whole number, found {value!r}")
    if not low <= value <= high:
        raise ModelRejected(f"{where}.{key} must lie between {low} and {high}, found {value}")
    return value


def text(data: dict[str, Any], key: str, where: str, choices: tuple[str, ...] = ()) -> str:
    """``data[key]`` as a non-empty string, one of ``choices`` when given."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ModelRejected(f"{where}.{key} must be text, found {value!r}")
    if choices and value not in choices:
        raise ModelRejected(f"{where}.{key} is {value!r}; expected one of {', '.join(choices)}")
    return value


def section(data: dict[str, Any], key: str, where: str = "the card") -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ModelRejected(f"{where} must have a {key!r} object, found {value!r}")
    return value
