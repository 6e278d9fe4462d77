"""The fault suite (issue 10): image files of every awkward kind, through the real pipeline.

Each fault kind is one named :class:`FaultCase` in a table, so ``docs/reliability.md`` can list
exactly what was tried. An image or stick fault is scanned by :class:`appliance.pipeline.Analyzer`
(the tiny test model, so the whole table runs in seconds) between a good image before it and a
good image after it; the expected outcome is always the same contract: the scan finishes (no hang,
no exception), the fault gets a row whose message a technician can read (no traceback, no Python
class names), and the images after it still get rows.

Other parts: ``test_faults_stick.py``, ``test_faults_names.py``, ``test_faults_store.py``,
``test_faults_scope.py``; shared pieces in ``tests/faults_support.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from tests.faults_support import (
    FaultCase,
    _bytes,
    _image,
    encoded,
    image_case,
    run_and_record,
    tissue,
)


def _png_bomb() -> bytes:
    """A valid PNG header claiming 100 000 x 100 000 pixels (a decompression bomb's signature)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _zlib_bomb_png() -> bytes:
    """A small file that inflates to 5000 x 5000 RGB (75 MB): under the pixel cap, heavy to read."""
    return encoded(Image.new("RGB", (5000, 5000), (210, 150, 190)), "PNG", optimize=True)


def _exif_rotated() -> bytes:
    image = tissue((80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° CW
    return encoded(image, "JPEG", exif=exif.tobytes())


def _animated_png() -> bytes:
    frames = [tissue(seed=s) for s in range(3)]
    return encoded(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)


def _multipage_tiff() -> bytes:
    frames = [tissue(seed=s) for s in range(3)]
    return encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])


def _sixteen_bit() -> Image.Image:
    import numpy as np

    return Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 13 % 65535).astype(np.uint16))


def _float_tiff() -> Image.Image:
    import numpy as np

    return Image.fromarray(np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64), "F")


def _valid_png() -> bytes:
    return encoded(tissue(seed=5), "PNG")


def _valid_jpeg() -> bytes:
    return encoded(tissue(seed=6), "JPEG")


IMAGE_CASES = [
    image_case(
        "zero_byte_file",
        "a 0-byte .png",
        _bytes("m.png", b""),
        expected="error row 'file is empty'",
        statuses={"error"},
        words=("empty",),
    ),
    image_case(
        "truncated_png",
        "a PNG cut in half",
        _bytes("m.png", _valid_png()[:400]),
        expected="error row: truncated or damaged",
        statuses={"error"},
        words=("truncated", "damaged"),
    ),
    image_case(
        "truncated_jpeg",
        "a JPEG cut in half",
        _bytes("m.jpg", _valid_jpeg()[: len(_valid_jpeg()) // 2]),
    ),
    image_case(
        "header_only_png",
        "only the 8-byte PNG signature",
        _bytes("m.png", b"\x89PNG\r\n\x1a\n"),
        statuses={"error"},
    ),
    image_case(
        "text_named_png",
        "a text file named .png",
        _bytes("m.png", b"hello, not a picture\n"),
        expected="error row 'not an image file'",
        statuses={"error"},
        words=("not an image",),
    ),
    image_case(
        "jpeg_named_png",
        "a JPEG with a .png extension",
        _bytes("m.png", _valid_jpeg()),
        expected="read by its content: analysed",
        statuses={"ok", "error"},
    ),
    image_case("png_named_tif", "a PNG with a .tif extension", _bytes("m.tif", _valid_png())),
    image_case(
        "random_bytes_bmp",
        "random bytes named .bmp",
        _bytes("m.bmp", os.urandom(2048)),
        statuses={"error"},
    ),
    image_case(
        "decompression_bomb_header",
        "PNG header claiming 100 000 x 100 000 pixels",
        _bytes("m.png", _png_bomb()),
        expected="error row: too large, refused before decoding",
        statuses={"error"},
        words=("too large", "large", "pixels"),
    ),
    image_case(
        "zlib_bomb_5000px",
        "a 30 KB PNG inflating to 5000 x 5000 (75 MB)",
        _bytes("m.png", _zlib_bomb_png()),
        expected="read within the limits (or refused with a message)",
    ),
    image_case("sixteen_bit_grey", "16-bit greyscale PNG", _image("m.png", _sixteen_bit, "PNG")),
    image_case("float_tiff", "32-bit float TIFF (mode F)", _image("m.tif", _float_tiff, "TIFF")),
    image_case(
        "greyscale", "8-bit greyscale PNG", _image("m.png", lambda: tissue().convert("L"), "PNG")
    ),
    image_case("cmyk_jpeg", "CMYK JPEG", _image("m.jpg", lambda: tissue().convert("CMYK"), "JPEG")),
    image_case(
        "rgba_alpha",
        "RGBA PNG with a transparent half",
        _image("m.png", lambda: _half_transparent(), "PNG"),
    ),
    image_case(
        "palette",
        "palette (P) PNG",
        _image("m.png", lambda: tissue().convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
    ),
    image_case(
        "one_bit",
        "1-bit black-and-white PNG",
        _image("m.png", lambda: tissue().convert("1"), "PNG"),
    ),
    image_case("exif_rotated", "JPEG with EXIF orientation 6", _bytes("m.jpg", _exif_rotated())),
    image_case("animated_png", "animated PNG, 3 frames", _bytes("m.png", _animated_png())),
    image_case("multipage_tiff", "3-page TIFF", _bytes("m.tif", _multipage_tiff())),
    image_case(
        "progressive_jpeg", "progressive JPEG", _image("m.jpg", tissue, "JPEG", progressive=True)
    ),
    image_case(
        "one_pixel_high",
        "300 x 1 pixel image",
        _image("m.png", lambda: tissue((300, 1)), "PNG"),
        expected="unassessable (too small for the model's input), never benign/malignant",
        statuses={"error"},
    ),
    image_case(
        "one_pixel",
        "1 x 1 pixel image",
        _image("m.png", lambda: tissue((1, 1)), "PNG"),
        expected="unassessable (too small), never benign/malignant",
        statuses={"error"},
    ),
]


def _half_transparent() -> Image.Image:
    image = tissue().convert("RGBA")
    alpha = Image.new("L", image.size, 255)
    alpha.paste(0, (0, 0, image.width // 2, image.height))
    image.putalpha(alpha)
    return image


CASES = IMAGE_CASES


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_fault(case: FaultCase, tmp_path: Path) -> None:
    run_and_record(case, tmp_path)


def test_the_table_is_large_enough() -> None:
    from tests import test_faults_names, test_faults_scope, test_faults_stick, test_faults_store

    names = [
        c.name
        for module in (test_faults_names, test_faults_scope, test_faults_stick, test_faults_store)
        for c in module.CASES
    ] + [c.name for c in CASES]
    assert len(set(names)) == len(names)
    assert len(names) >= 40
