"""A stick built to hurt: special files (also swapped in after listing), links that loop or leave,
names that are not UTF-8, huge and deep trees, and images of every mode, size and frame count.
Each must end in an image, a skipped entry or an ImageError with words, never a hang or a crash."""

from __future__ import annotations

import io
import os
import socket
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.errors import ImageError
from appliance.ingest.decode import read_image
from appliance.ingest.listing import list_volume
from appliance.text import display_text

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _png(path: Path | bytes, size: tuple[int, int] = (8, 8), mode: str = "RGB") -> None:
    out = io.BytesIO()
    Image.new(mode, size, 128).save(out, "PNG")
    with open(path, "wb") as handle:
        handle.write(out.getvalue())


# -- reading: the type is checked at open -------------------------------------------------------


def test_a_fifo_swapped_in_after_listing_is_refused_at_once(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    listing = list_volume(tmp_path)
    (tmp_path / "a.png").unlink()
    os.mkfifo(tmp_path / "a.png")  # nobody ever writes to it: a blocking open would hang
    with pytest.raises(ImageError, match=r"not a regular file \(a named pipe\): skipped"):
        read_image(listing.images[0].path, volume_root=tmp_path)
    with pytest.raises(ImageError, match="a named pipe"):
        read_image(tmp_path / "a.png")  # without a volume root too


def test_a_link_to_a_fifo_swapped_in_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "b.png").symlink_to("pipe")
    with pytest.raises(ImageError, match="a named pipe"):
        read_image(tmp_path / "b.png", volume_root=tmp_path)


@pytest.mark.skipif(not IS_ROOT, reason="creating a device node needs root")
def test_a_device_node_swapped_in_is_refused_without_reading(tmp_path: Path) -> None:
    os.mknod(tmp_path / "z.png", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    with pytest.raises(ImageError, match=r"not a regular file \(a character device\)"):
        read_image(tmp_path / "z.png", volume_root=tmp_path)
    listing = list_volume(tmp_path)
    reasons = [s.reason for s in listing.skipped]
    assert reasons == ["not a regular file (a character device); not read"]


def test_a_folder_swapped_in_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ImageError, match=r"a folder"):
        read_image(tmp_path / "d.png", volume_root=tmp_path)


def test_a_link_leaving_the_stick_swapped_in_is_refused(tmp_path: Path) -> None:
    stick, outside = tmp_path / "stick", tmp_path / "secret.png"
    stick.mkdir()
    _png(outside)
    (stick / "a.png").symlink_to(outside)
    with pytest.raises(ImageError, match="outside the stick"):
        read_image(stick / "a.png", volume_root=stick)


def test_a_link_loop_is_an_error_row(tmp_path: Path) -> None:
    (tmp_path / "a.png").symlink_to("b.png")
    (tmp_path / "b.png").symlink_to("a.png")
    with pytest.raises(ImageError, match="loops back on itself"):
        read_image(tmp_path / "a.png", volume_root=tmp_path)
    reasons = {str(s.relpath): s.reason for s in list_volume(tmp_path).skipped}
    assert reasons == {
        "a.png": "link loops back on itself; not read",
        "b.png": "link loops back on itself; not read",
    }


def test_a_link_inside_the_stick_is_still_read(tmp_path: Path) -> None:
    _png(tmp_path / "real.png")
    (tmp_path / "alias.png").symlink_to("real.png")
    assert read_image(tmp_path / "alias.png", volume_root=tmp_path).width == 8
    assert read_image(tmp_path / "alias.png").width == 8  # without a stick to stay on


# -- listing never blocks -----------------------------------------------------------------------


def test_pipes_and_sockets_with_image_names_are_skipped_with_their_kind(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "notes")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock.jpg"))
        listing = list_volume(tmp_path)
    finally:
        server.close()
    reasons = {str(s.relpath): s.reason for s in listing.skipped}
    assert reasons == {  # "notes" is not an image name: ignored like any other such file
        "pipe.png": "not a regular file (a named pipe); not read",
        "sock.jpg": "not a regular file (a socket); not read",
    }
    assert listing.images == []


def test_ten_thousand_files_are_all_listed(tmp_path: Path) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    for number in range(10_000):
        (folder / f"img{number}.png").touch()
    listing = list_volume(tmp_path)
    assert len(listing.images) == 10_000
    assert listing.images[1].relpath.name == "img1.png"  # natural order
    assert listing.skipped == []


def test_a_tree_deeper_than_the_system_allows_is_skipped_with_a_reason(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(600):  # 600 x 9 characters: deeper than PATH_MAX (4096)
            os.mkdir("dddddddd", dir_fd=fd)
            inner = os.open("dddddddd", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("deep.png", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    _png(tmp_path / "top.png")
    listing = list_volume(tmp_path)
    assert [str(ref.relpath) for ref in listing.images] == ["top.png"]
    assert len(listing.skipped) == 1
    assert "nested too deeply" in listing.skipped[0].reason


def test_names_that_are_not_utf8_are_listed_and_read(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(folder)
    _png(folder + b"/\xff\xfeimg.png")
    _png(folder + b"/line\nbreak\x1b[31m.png")
    _png(os.fsencode(tmp_path) + "/evil\u202egnp.png".encode())
    listing = list_volume(tmp_path)
    assert len(listing.images) == 3
    for ref in listing.images:
        loaded = read_image(ref.path, volume_root=ref.volume)
        assert loaded.width == 8
        shown = display_text(str(ref.relpath))
        shown.encode("utf-8")  # showable anywhere: no surrogates left
        assert "\n" not in shown and "\u202e" not in shown and "\x1b" not in shown
    assert {ref.case for ref in listing.images} == {"caf\udce9", "(root)"}
    assert display_text("caf\udce9") == "caf\ufffd"


# -- decoding: every mode, size and frame count -------------------------------------------------


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA", "I;16", "I", "F", "CMYK", "YCbCr"])
def test_every_mode_decodes_to_rgb(tmp_path: Path, mode: str) -> None:
    image = Image.new(mode, (6, 4))
    path = tmp_path / ("a.jpg" if mode in ("CMYK", "YCbCr") else "a.tif")
    image.save(path)
    loaded = read_image(path)
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == (6, 4)


def test_palette_png_with_transparency_decodes(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 200, 100, 50] * 128)
    image.save(tmp_path / "p.png", transparency=0)
    assert read_image(tmp_path / "p.png").image.getpixel((0, 0)) == (200, 100, 50)


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    image.save(tmp_path / "r.jpg", exif=exif)
    loaded = read_image(tmp_path / "r.jpg")
    assert (loaded.width, loaded.height) == (20, 40)


def test_animated_png_uses_the_first_frame_and_says_so(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    loaded = read_image(tmp_path / "anim.png")
    assert loaded.image.getpixel((0, 0)) == (255, 0, 0)
    assert loaded.frames == 2
    assert loaded.note == "the file holds 2 frames or pages; only the first was analysed"


def test_a_single_frame_has_no_note(tmp_path: Path) -> None:
    _png(tmp_path / "one.png")
    loaded = read_image(tmp_path / "one.png")
    assert (loaded.frames, loaded.note) == (1, None)


@pytest.mark.parametrize("size", [(1, 1), (500, 1), (1, 500)])
def test_tiny_and_one_pixel_high_images_decode(tmp_path: Path, size: tuple[int, int]) -> None:
    _png(tmp_path / "tiny.png", size)
    loaded = read_image(tmp_path / "tiny.png")
    assert (loaded.width, loaded.height) == size


def test_16_bit_png_keeps_its_range(tmp_path: Path) -> None:
    values = np.linspace(0, 65535, 64).reshape(8, 8).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    pixels = np.asarray(read_image(tmp_path / "g16.png").image)
    assert pixels.max() == 255 and pixels.min() == 0


def test_an_image_over_the_time_budget_is_an_error_row(tmp_path: Path) -> None:
    _png(tmp_path / "slow.png", (64, 64))
    with pytest.raises(ImageError, match=r"longer than the 0 s allowed for one image: skipped"):
        read_image(tmp_path / "slow.png", budget_s=0)
    assert read_image(tmp_path / "slow.png", budget_s=30).width == 64


def _huge_png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_pillow_own_bomb_limit_is_a_message_too(tmp_path: Path) -> None:
    # Over twice Image.MAX_IMAGE_PIXELS Pillow refuses at open, before our own limit is looked at.
    (tmp_path / "bomb.png").write_bytes(_huge_png_header(20_000, 20_000))
    with pytest.raises(ImageError, match=r"too large to analyse safely \(400 megapixels; limit"):
        read_image(tmp_path / "bomb.png", max_pixels=10**10)
