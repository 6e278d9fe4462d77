"""Reading one image from a stick safely: one read, one hash, bounded decoding, plain-words errors.

The bytes are read once and both hashed and decoded from memory, so the sha256 stored with a
result is exactly the data that was classified (a file changing between two reads cannot slip
through). Pillow opens images lazily, which lets the pixel count be checked before any pixel is
decoded: a small file that claims to be enormous (a "decompression bomb") is refused without
allocating its memory. Pillow's global ``MAX_IMAGE_PIXELS`` is left alone (it still refuses
absurd sizes on its own); the limit here is our own and is part of the error message.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import (  # noqa: F401  (importing a plugin registers its decoder)
    BmpImagePlugin,
    Image,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
)

from appliance.errors import ImageError, VolumeGone
from appliance.preprocess import to_rgb

# Only the decoders the appliance needs: fewer parsers exposed to files from outside the lab.
_FORMATS = ("PNG", "JPEG", "TIFF", "BMP")
# errno values meaning "the device went away" rather than "this file is bad".
_DEVICE_GONE = {
    code
    for code in (errno.ENODEV, errno.ENXIO, errno.ESTALE, getattr(errno, "ENOMEDIUM", None))
    if code is not None
}
_PIXEL_COUNT = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True)
class LoadedImage:
    """A fully decoded image (8-bit RGB) and the facts about the file it came from."""

    image: Image.Image
    sha256: str
    size_bytes: int
    width: int
    height: int


def _volume_gone(volume_root: Path | None) -> bool:
    """True when the stick's top folder can no longer be listed."""
    if volume_root is None:
        return False
    try:
        with os.scandir(volume_root) as it:
            next(it, None)
    except OSError:
        return True
    return False


def _read_error(path: Path, error: OSError, volume_root: Path | None) -> Exception:
    """Turn an error while reading the file into VolumeGone or ImageError."""
    if error.errno in _DEVICE_GONE or _volume_gone(volume_root):
        return VolumeGone(
            "The USB stick was removed or cannot be read any more "
            f"(while reading {path.name}). Plug it in again and start a new scan."
        )
    if isinstance(error, FileNotFoundError):
        detail = "the file is no longer there"
    elif isinstance(error, PermissionError):
        detail = "permission denied"
    elif isinstance(error, IsADirectoryError):
        detail = "it is a folder, not a file"
    else:
        detail = error.strerror or str(error)
    return ImageError(f"could not be read from the stick: {detail}")


def _read_bytes(path: Path, max_bytes: int, volume_root: Path | None) -> bytes:
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise ImageError(
                    f"file is too large to analyse safely ({size / 2**20:.0f} MB; "
                    f"limit {max_bytes / 2**20:.0f} MB)"
                )
            # Read one byte past the limit so a file that grows while being read is caught too.
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise _read_error(path, error, volume_root) from error
    if len(data) > max_bytes:
        raise ImageError(f"file is too large to analyse safely (limit {max_bytes / 2**20:.0f} MB)")
    if not data:
        raise ImageError("file is empty")
    return data


def _too_large(width: int, height: int, max_pixels: int) -> ImageError:
    return ImageError(
        f"image is too large to analyse safely ({width} x {height} pixels; "
        f"limit {max_pixels / 1e6:g} megapixels)"
    )


def _bomb(error: Exception, max_pixels: int) -> ImageError:
    """Pillow refused the size before we could look at it; its message carries the pixel count."""
    match = _PIXEL_COUNT.search(str(error))
    size = f"{int(match.group(1)) / 1e6:.0f} megapixels; " if match else ""
    return ImageError(
        f"image is too large to analyse safely ({size}limit {max_pixels / 1e6:g} megapixels)"
    )


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    """Open, check the size, and fully decode the first frame; every failure is an ImageError.

    The warnings filter is deliberately left alone (it is process-wide, and scans run in a
    thread): Pillow's soft bomb warning is only a warning, our own size check below decides.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=_FORMATS)
    except UnidentifiedImageError as error:
        raise ImageError("not an image file (or a format this appliance cannot read)") from error
    except Image.DecompressionBombError as error:
        raise _bomb(error, max_pixels) from error
    except Exception as error:  # Pillow plugins raise many types on malformed headers.
        raise ImageError(f"image file is damaged and cannot be opened ({error})") from error
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"image has no pixels ({width} x {height})")
    if width * height > max_pixels:
        raise _too_large(width, height, max_pixels)
    try:
        image.seek(0)  # multi-page TIFF: the first page is the one analysed
        image.load()
    except (Image.DecompressionBombError, MemoryError) as error:
        raise _too_large(width, height, max_pixels) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"image file is truncated or damaged ({error})") from error
    except Exception as error:
        message = f"image file is damaged or uses an unsupported variant ({error})"
        raise ImageError(message) from error
    return image


def read_image(
    path: Path,
    *,
    max_pixels: int = 60_000_000,
    max_bytes: int = 512 * 2**20,
    volume_root: Path | None = None,
) -> LoadedImage:
    """Read, hash and decode one image file into 8-bit RGB.

    Raises :class:`~appliance.errors.ImageError` for anything wrong with this one file (the scan
    records it and goes on) and :class:`~appliance.errors.VolumeGone` when the stick holding it
    (``volume_root``) has disappeared, so the scan can stop instead of failing every file.
    """
    path = Path(path)
    data = _read_bytes(path, max_bytes, volume_root)
    digest = hashlib.sha256(data).hexdigest()
    image = _decode(data, max_pixels)
    try:
        rgb = to_rgb(image)
    except Exception as error:
        message = f"image uses a colour format this appliance cannot read ({error})"
        raise ImageError(message) from error
    if rgb is image and getattr(image, "fp", None) is not None:
        # Detach from the in-memory file (kept open by multi-page TIFFs) so it can be freed.
        rgb = image.copy()
    return LoadedImage(
        image=rgb, sha256=digest, size_bytes=len(data), width=rgb.width, height=rgb.height
    )


def thumbnail_jpeg(image: Image.Image, size: int = 160, quality: int = 80) -> bytes:
    """A small JPEG (longest side ``size`` pixels) for the database and the PDF report."""
    scale = size / max(image.width, image.height, 1)
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = to_rgb(image)
    if scale < 1:
        small = small.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
