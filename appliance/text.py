"""The one rule for showing text that came from a stick (file names, folder names, volume labels).

A stick is written by whatever system the lab had: its names may not be valid UTF-8 (Python gives
them back with "surrogate escapes", which cannot be printed, encoded or put in a PDF), may hold
newlines or terminal escapes that break a table, right-to-left overrides that make
``gpj.exe`` look like ``exe.jpg``, or be kilobytes long. Stored values stay exactly as read (the
database keeps them losslessly); only what is *shown* goes through :func:`display_text`, so the
table, the GUI and the PDF all show the same safe, visible form.

Also here, because every face needs them and none should restate them: the exact bytes a name
stands for and its U+FFFD form (:func:`raw_bytes`, :func:`display`; the store keeps both), and
the one sort order of names (:func:`natural_key`: ``img2`` before ``img10``).
"""

from __future__ import annotations

import os
import re
import unicodedata

ELLIPSIS = "…"
REPLACEMENT = "\ufffd"

# Invisible characters that are legitimate inside words of some scripts (kept as they are).
_JOINERS = frozenset({"\u200c", "\u200d"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _shown(char: str) -> str:
    """One character as it is shown: itself, U+FFFD, or a visible escape like ``\\u202e``."""
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:  # a byte that was not UTF-8 (surrogate escape)
        return REPLACEMENT
    if char in _NAMED:
        return _NAMED[char]
    category = unicodedata.category(char)
    # Cc: control characters (C0, DEL, C1); Cf: invisible format characters, among them the bidi
    # overrides and isolates; Zl/Zp: line and paragraph separators that break a line.
    if category in ("Cc", "Zl", "Zp") or (category == "Cf" and char not in _JOINERS):
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    return char


def display_text(value: object, max_len: int | None = None) -> str:
    """``value`` made safe to show: valid Unicode, no invisible or layout-breaking characters.

    Bytes that are not UTF-8 become U+FFFD; control, bidi-override and other invisible format
    characters become visible escapes (``\\n``, ``\\x1b``, ``\\u202e``). With ``max_len`` the
    result is at most that many characters, shortened in the middle with "…" so both the start of
    a path and the file name at its end stay visible (escapes are never cut in half).
    """
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    pieces = [_shown(char) for char in str(value)]
    total = sum(len(piece) for piece in pieces)
    if max_len is None or total <= max_len:
        return "".join(pieces)
    if max_len <= 1:
        return ELLIPSIS[:max_len]
    budget = max_len - 1
    head_budget = budget // 2
    head: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > head_budget:
            break
        head.append(piece)
        used += len(piece)
    tail: list[str] = []
    used_tail = 0
    for piece in reversed(pieces):
        if used + used_tail + len(piece) > budget:
            break
        tail.append(piece)
        used_tail += len(piece)
    return "".join(head) + ELLIPSIS + "".join(reversed(tail))


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting ``img2`` before ``img10``, ignoring letter case (ties broken exactly).

    The one order of names on a stick: the listing, the CLI table, the GUI and the PDF all sort
    cases and images with it, so patient-9036 comes before patient-10262 everywhere.
    """
    parts: list[tuple[int, int | str]] = []
    for index, piece in enumerate(_DIGITS.split(text)):
        if index % 2:
            parts.append((0, int(piece)))
        elif piece:
            parts.append((1, piece.casefold()))
    return (*parts, (-1, text))  # -1: a name sorts before its own extensions


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
