"""read_image / thumbnail_jpeg on real image files written with Pillow in tmp_path."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.errors import ImageError, VolumeGone
from appliance.ingest.decode import read_image, thumbnail_jpeg

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "breakhis-samples"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _gradient(width: int = 64, height: int = 48) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 4 % 256, y * 5 % 256, (x + y) % 256], axis=-1).astype(np.uint8)


@pytest.mark.parametrize(("name", "fmt"), [("a.png", "PNG"), ("a.bmp", "BMP"), ("a.tif", "TIFF")])
def test_lossless_formats_decode_exactly(tmp_path: Path, name: str, fmt: str) -> None:
    pixels = _gradient()
    path = tmp_path / name
    Image.fromarray(pixels).save(path, format=fmt)

    loaded = read_image(path)

    assert loaded.image.mode == "RGB"
    assert (loaded.width, loaded.height) == (64, 48)
    assert np.array_equal(np.asarray(loaded.image), pixels)
    assert loaded.sha256 == _sha(path)
    assert loaded.size_bytes == path.stat().st_size


def test_jpeg_decodes_close_to_original(tmp_path: Path) -> None:
    pixels = _gradient()
    path = tmp_path / "a.jpg"
    Image.fromarray(pixels).save(path, format="JPEG", quality=95)
    loaded = read_image(path)
    assert loaded.image.size == (64, 48)
    diff = np.abs(np.asarray(loaded.image, dtype=int) - pixels.astype(int))
    assert diff.mean() < 6
    assert loaded.sha256 == _sha(path)


def test_16_bit_grey_tiff_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.linspace(0, 65535, 32 * 16).reshape(16, 32).astype(np.uint16)
    path = tmp_path / "grey16.tiff"
    Image.fromarray(values).save(path, format="TIFF")
    assert Image.open(path).mode.startswith("I;16")

    loaded = read_image(path)
    rgb = np.asarray(loaded.image)
    assert rgb.shape == (16, 32, 3)
    assert rgb[0, 0].tolist() == [0, 0, 0]
    assert rgb[-1, -1].tolist() == [255, 255, 255]
    assert len(np.unique(rgb[..., 0])) > 200  # scaled across the range, not clipped to white


def test_rgba_tiff_transparent_pixels_become_white(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half fully transparent
    path = tmp_path / "rgba.tif"
    Image.fromarray(rgba, mode="RGBA").save(path, format="TIFF")

    rgb = np.asarray(read_image(path).image)
    assert rgb[0, 0].tolist() == [255, 0, 0]
    assert rgb[7, 7].tolist() == [255, 255, 255]


def test_multi_page_tiff_uses_first_page(tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    first = Image.new("RGB", (10, 10), (10, 20, 30))
    second = Image.new("RGB", (20, 5), (200, 200, 200))
    first.save(path, format="TIFF", save_all=True, append_images=[second])
    loaded = read_image(path)
    assert loaded.image.size == (10, 10)
    assert loaded.image.getpixel((5, 5)) == (10, 20, 30)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_an_image_error(tmp_path: Path, fmt: str) -> None:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(buffer, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated or damaged"):
        read_image(path)


def test_text_file_named_png_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("patient list, not a picture\n")
    with pytest.raises(ImageError, match="not an image file"):
        read_image(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="file is empty"):
        read_image(path)


def test_file_over_byte_limit(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(_gradient()).save(path)
    with pytest.raises(ImageError, match="too large"):
        read_image(path, max_bytes=100)


def _write_bomb_png(path: Path, width: int, height: int) -> None:
    """A valid 1-bit all-black PNG, written row by row so the test never holds its pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then packed bits (all zero)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row * 1000) for _ in range(height // 1000))
    data += packer.compress(row * (height % 1000)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_bomb_png_helper_writes_a_real_png(tmp_path: Path) -> None:
    path = tmp_path / "small_bomb.png"
    _write_bomb_png(path, 300, 2100)
    loaded = read_image(path)
    assert loaded.image.size == (300, 2100)
    assert np.asarray(loaded.image).max() == 0


def test_decompression_bomb_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    _write_bomb_png(path, 20_000, 20_000)
    assert path.stat().st_size < 200_000  # tiny on disk, 400 megapixels once decoded

    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"too large to analyse safely \(400 megapixels"):
        read_image(path, max_pixels=1_000_000)
    assert time.perf_counter() - started < 1.0


def test_size_over_own_limit_names_the_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    _write_bomb_png(path, 3000, 2000)
    with pytest.raises(ImageError, match=r"3000 x 2000 pixels; limit 1 megapixels"):
        read_image(path, max_pixels=1_000_000)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_default_limit_refuses_100_megapixels(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    _write_bomb_png(path, 10_000, 10_000)
    with pytest.raises(ImageError, match=r"10000 x 10000 pixels; limit 60 megapixels"):
        read_image(path)


def test_missing_file_on_vanished_volume_is_volume_gone(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    path = stick / "a.png"
    Image.fromarray(_gradient()).save(path)
    shutil.rmtree(stick)
    with pytest.raises(VolumeGone, match="removed"):
        read_image(path, volume_root=stick)


def test_missing_file_on_present_volume_is_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="could not be read from the stick"):
        read_image(tmp_path / "gone.png", volume_root=tmp_path)


def test_thumbnail_is_small_jpeg(tmp_path: Path) -> None:
    image = Image.fromarray(np.repeat(_gradient(), 10, axis=1))  # 640 x 48
    data = thumbnail_jpeg(image, size=160)
    thumb = Image.open(io.BytesIO(data))
    assert thumb.format == "JPEG"
    assert thumb.size == (160, 12)
    assert image.size == (640, 48)  # the original is untouched


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"shared sample data absent ({SAMPLES})")
def test_real_breakhis_samples(tmp_path: Path) -> None:
    paths = sorted(SAMPLES.glob("*.png"))[:5]
    assert paths
    for path in paths:
        loaded = read_image(path, volume_root=SAMPLES)
        assert (loaded.width, loaded.height) == (700, 460)
        assert loaded.image.mode == "RGB"
        assert loaded.sha256 == _sha(path)
