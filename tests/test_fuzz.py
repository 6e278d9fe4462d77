"""Fuzzing the two places a stick's content enters the appliance: listing and decoding.

Hypothesis with a fixed budget (``derandomize=True``: the same examples on every run, so CI is
stable). Listing must never raise anything but :class:`VolumeGone` and must account for every
image file it was given (listed, or skipped with a reason); decoding must return an image or raise
:class:`ImageError`, in bounded time, whatever the bytes.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from appliance.errors import ImageError, VolumeGone
from appliance.ingest import list_volume, read_image
from appliance.ingest.listing import SUPPORTED_SUFFIXES, is_system_entry

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,  # nothing written into the project folder
    suppress_health_check=[HealthCheck.too_slow],
)
DECODE_LIMIT_S = 10.0

# --- listing ----------------------------------------------------------------------------------

_NAME_BYTES = (
    st.binary(min_size=1, max_size=40)
    .map(lambda b: b.replace(b"/", b"_").replace(b"\x00", b"_"))
    .filter(lambda b: b not in (b".", b".."))
)
_SUFFIX = st.sampled_from([b".png", b".PNG", b".jpg", b".tif", b".txt", b"", b".bmp"])
_NAME = st.builds(lambda stem, suffix: (stem + suffix)[:250], _NAME_BYTES, _SUFFIX)
_ENTRY = st.tuples(
    st.lists(_NAME, min_size=1, max_size=4),  # folders..., name
    st.sampled_from(
        ["file", "empty", "dir", "link_up", "link_out", "link_self", "link_sibling", "fifo"]
    ),
)


def _make(root: Path, parts: list[bytes], kind: str) -> bytes | None:
    """Create one entry; return its relative path (bytes) when it is a regular image file."""
    base = os.fsencode(root)
    *folders, name = parts
    folder = os.path.join(base, *folders) if folders else base
    try:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name)
        if os.path.lexists(path):
            return None
        if kind in ("file", "empty"):
            with open(path, "wb") as handle:
                handle.write(b"" if kind == "empty" else b"\x89PNG\r\n\x1a\n" + name)
            return os.path.relpath(path, base)
        if kind == "dir":
            os.mkdir(path)
        elif kind == "link_up":
            os.symlink(b"..", path)
        elif kind == "link_out":
            os.symlink(b"/etc", path)
        elif kind == "link_self":
            os.symlink(name, path)
        elif kind == "link_sibling":
            os.symlink(b"./" + parts[0], path)
        elif kind == "fifo":
            os.mkfifo(path)
    except OSError:  # a generated name clashing with an existing file or folder
        return None
    return None


def _visible(rel: bytes) -> bool:
    parts = os.fsdecode(rel).split("/")
    return not any(is_system_entry(p) for p in parts)


@FUZZ
@given(st.lists(_ENTRY, min_size=0, max_size=12))
def test_listing_accounts_for_every_file(entries) -> None:
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "stick"
        root.mkdir()
        made = [_make(root, parts, kind) for parts, kind in entries]
        try:
            listing = list_volume(root)
        except VolumeGone:
            return
        seen = {str(ref.relpath) for ref in listing.images} | {
            str(s.relpath) for s in listing.skipped
        }
        for skipped in listing.skipped:
            assert skipped.reason and skipped.reason.strip()
        for ref in listing.images:
            assert ".." not in ref.relpath.parts
            assert os.path.splitext(ref.relpath.name)[1].lower() in SUPPORTED_SUFFIXES
            real = os.path.realpath(ref.path)
            assert real.startswith(os.path.realpath(root) + os.sep), ref
        for rel in made:
            if rel is None or not _visible(rel):
                continue
            name = os.fsdecode(rel)
            if os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES:
                assert name in seen, f"{name!r} is neither listed nor skipped"


# --- decoding ---------------------------------------------------------------------------------


def _valid(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (210, 120, 170)).save(buffer, format=fmt)
    return buffer.getvalue()


_SEEDS = [_valid("PNG"), _valid("JPEG"), _valid("TIFF"), _valid("BMP")]


@st.composite
def _mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "header"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif op == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(max_size=16))
        elif op == "header" and len(data) > 24:
            # Width/height fields live in the first 24-40 bytes of these formats.
            i = draw(st.integers(8, min(40, len(data) - 4)))
            data[i : i + 4] = draw(
                st.sampled_from(
                    [
                        b"\xff\xff\xff\xff",
                        b"\x00\x00\x00\x00",
                        b"\x7f\xff\xff\xff",
                        b"\x00\x01\x86\xa0",
                    ]
                )
            )
    return bytes(data)


def _decode_once(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / f"fuzz{suffix}"
        path.write_bytes(data)
        started = time.monotonic()
        try:
            loaded = read_image(path)
        except ImageError as exc:
            assert str(exc).strip()
        else:
            assert loaded.image.mode == "RGB"
            assert loaded.width >= 1 and loaded.height >= 1
        assert time.monotonic() - started < DECODE_LIMIT_S


@FUZZ
@given(st.binary(max_size=4096), st.sampled_from([".png", ".jpg", ".tif", ".bmp"]))
def test_decoding_random_bytes(data: bytes, suffix: str) -> None:
    _decode_once(data, suffix)


@FUZZ
@given(_mutated(), st.sampled_from([".png", ".jpg", ".tif"]))
def test_decoding_mutated_images(data: bytes, suffix: str) -> None:
    _decode_once(data, suffix)


# --- any name, through the whole pipeline into the store --------------------------------------

_PNG = _valid("PNG")


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(_NAME_BYTES, min_size=1, max_size=3, unique=True))
def test_any_file_name_gets_a_row_with_its_exact_bytes(stems: list[bytes]) -> None:
    from appliance.inference.bundle import ModelBundle
    from appliance.inference.classifier import Classifier
    from appliance.pipeline import Analyzer
    from appliance.store import Store
    from tests.conftest import TINY_BUNDLE

    names = [stem[:240] + b".png" for stem in stems if not stem.startswith(b".")]
    with tempfile.TemporaryDirectory() as work:
        stick = os.path.join(os.fsencode(work), b"stick", b"case")
        os.makedirs(stick)
        for name in names:
            with open(os.path.join(stick, name), "wb") as handle:
                handle.write(_PNG)
        classifier = Classifier(ModelBundle.load(TINY_BUNDLE))
        with Store.open(Path(work) / "a.db") as store:
            summary = Analyzer(classifier, store, device="fuzz").scan(Path(work) / "stick")
            rows = store.images(summary.scan_id)
        assert summary.status == "complete"
        assert sorted(r.path_bytes for r in rows) == sorted(b"case/" + n for n in names)
        for row in rows:
            row.path.encode("utf-8")  # shown as valid text
