"""Names from a stick, stored losslessly and shown readably.

Why: a stick written by an older system can hold file names that are not valid UTF-8. Python
lists them as ``str`` with surrogate escapes (``'caf\\udce9.png'``), which SQLite cannot store as
TEXT. The exact bytes go into a BLOB (so the file can always be found again), and the text column
holds a display form where each undecodable byte reads as U+FFFD, the replacement character.
"""

from __future__ import annotations

import os
from typing import Any


def raw_bytes(text: str) -> bytes:
    """The exact bytes a name stands for: the inverse of ``os.listdir`` on a ``str`` path.

    Any other lone surrogate (not from ``os.listdir``) is kept with ``surrogatepass``, so no
    ``str`` is ever refused.
    """
    try:
        return os.fsencode(text)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def display(value: bytes | str) -> str:
    """Text SQLite, JSON and a PDF can all carry; undecodable bytes become U+FFFD."""
    raw = raw_bytes(value) if isinstance(value, str) else bytes(value)
    return raw.decode("utf-8", "replace")


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
