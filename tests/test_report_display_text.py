"""display_text, the one rule for showing stick text (used by the PDF and the GUI)."""

from __future__ import annotations

import pytest

from appliance.text import ELLIPSIS, display_text

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("slide_01.png", "slide_01.png"),
        ("Zürich/日本語.png", "Zürich/日本語.png"),
        (b"caf\xe9.png".decode("utf-8", "surrogateescape"), "caf\ufffd.png"),
        (b"caf\xe9.png", "caf\ufffd.png"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\x00\x7f\x85", "\\x00\\x7f\\x85"),
        ("evil\u202egnp.exe", "evil\\u202egnp.exe"),
        ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("line\u2028sep", "line\\u2028sep"),
        ("क्\u200dष", "क्\u200dष"),  # a joiner inside a word is kept
        (None, ""),
        (42, "42"),
    ],
)
def test_what_is_shown(raw: object, shown: str) -> None:
    assert display_text(raw) == shown


def test_shortening_keeps_both_ends_and_never_cuts_an_escape() -> None:
    path = "folder/" * 100 + "slide-0001.png"
    short = display_text(path, 40)
    assert len(short) == 40
    assert short.startswith("folder/folder/")
    assert short.endswith("slide-0001.png")
    assert ELLIPSIS in short
    escaped = display_text("\u202e" * 20, 15)  # each becomes 6 characters: \u202e
    assert len(escaped) <= 15
    assert escaped.replace(ELLIPSIS, "").replace("\\u202e", "") == ""
    assert display_text("abc", 1) == ELLIPSIS
    assert display_text("abc", 0) == ""
    assert display_text("abc", 3) == "abc"


@given(st.text(), st.one_of(st.none(), st.integers(min_value=0, max_value=300)))
def test_any_text_becomes_showable_and_fits(raw: str, max_len: int | None) -> None:
    shown = display_text(raw, max_len)
    shown.encode("utf-8")  # no surrogates left
    assert not any(c in shown for c in "\n\r\x1b\u202e\u2028\x00")
    if max_len is not None:
        assert len(shown) <= max_len


@given(st.binary(max_size=300))
def test_any_bytes_name_becomes_showable(raw: bytes) -> None:
    name = raw.decode("utf-8", "surrogateescape")
    display_text(name).encode("utf-8")
