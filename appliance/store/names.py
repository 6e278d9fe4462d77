"""Names from a stick, stored losslessly and shown readably.

Why: a stick written by an older system can hold file names that are not valid UTF-8. Python
lists them as ``str`` with surrogate escapes (``'caf\\udce9.png'``), which SQLite cannot store as
TEXT. The exact bytes go into a BLOB (so the file can always be found again), and the text column
holds a display form where each undecodable byte reads as U+FFFD, the replacement character.
:func:`raw_bytes` and :func:`display` live in :mod:`appliance.text` (the value types need them
too); they are re-exported here for the store's callers.
"""

from __future__ import annotations

from typing import Any

from appliance.text import display, raw_bytes


def storable(value: Any) -> Any:
    """``value`` unchanged unless it is a ``str`` SQLite cannot encode (then its display form)."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return display(value)
    return value


__all__ = ["display", "raw_bytes", "storable"]
