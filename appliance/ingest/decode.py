"""Reading one image from a stick safely: one read, one hash, bounded decoding, plain-words errors.

The bytes are read once and both hashed and decoded from memory, so the sha256 stored with a
result is exactly the data that was classified (a file changing between two reads cannot slip
through). Pillow opens images lazily, which lets the pixel count be checked before any pixel is
decoded: a small file that claims to be enormous (a "decompression bomb") is refused without
allocating its memory. Pillow's global ``MAX_IMAGE_PIXELS`` is left alone (it still refuses
absurd sizes on its own); the limit here is our own and is part of the error message.

The file is opened non-blocking and without following a final link, and its type is checked on
the opened descriptor: a named pipe or device swapped in after the stick was listed gives an error
row at once instead of waiting for ever. Decoding has a time budget, checked every time the decoder
asks for more data and between steps, so a file built to be slow ends in an error row too (one
call inside a C decoder cannot be interrupted; the pixel limit bounds how long that can be).
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import (  # noqa: F401  (importing a plugin registers its decoder)
    BmpImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
)

from appliance.errors import ImageError, VolumeGone
from appliance.preprocess import to_rgb

log = logging.getLogger(__name__)

# Only the decoders the appliance needs: fewer parsers exposed to files from outside the lab.
_FORMATS = ("PNG", "JPEG", "TIFF", "BMP")
# errno values meaning "the device went away" rather than "this file is bad".
_DEVICE_GONE = {
    code
    for code in (errno.ENODEV, errno.ENXIO, errno.ESTALE, getattr(errno, "ENOMEDIUM", None))
    if code is not None
}
_PIXEL_COUNT = re.compile(r"\((\d+) pixels\)")
#: Seconds one image may take from open to 8-bit RGB before it is given up as an error row.
DECODE_BUDGET_S = 60.0
_OPEN_FLAGS = (
    os.O_RDONLY
    | os.O_NONBLOCK  # a FIFO or device must never make the scan wait
    | getattr(os, "O_NOFOLLOW", 0)  # the last part is opened as checked, not through a new link
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
)
_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISLNK, "a link"),
)


@dataclass(frozen=True)
class LoadedImage:
    """A fully decoded image (8-bit RGB) and the facts about the file it came from."""

    image: Image.Image
    sha256: str
    size_bytes: int
    width: int
    height: int
    #: Frames or pages in the file; only the first is analysed (see ``note``).
    frames: int = 1
    #: Something the reader of the result should know about how the file was read, or None.
    note: str | None = None


class _OutOfTime(Exception):
    """Raised from inside Pillow's decoding loop when the image's time budget is spent."""


class _TimedBytes(io.BytesIO):
    """The file's bytes, refusing to hand out more once the deadline has passed.

    Pillow's decoders pull their input through ``read``; checking the clock there gives a
    cancellation point every block (64 KB) without threads or signals."""

    def __init__(self, data: bytes, deadline: float) -> None:
        super().__init__(data)
        self.deadline = deadline

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise _OutOfTime

    def read(self, size: int | None = -1, /) -> bytes:
        self.check()
        return super().read(size)

    def readinto(self, buffer, /) -> int:  # type: ignore[no-untyped-def, override]
        self.check()
        return super().readinto(buffer)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words ("a named pipe", "a block device", ...)."""
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def _not_regular(mode: int) -> ImageError:
    return ImageError(f"not a regular file ({kind_of(mode)}): skipped")


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


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _open_checked(path: Path, volume_root: Path | None) -> int:
    """A descriptor on a regular file, or an ImageError saying what the path is instead.

    The path's links are resolved first and, with ``volume_root``, must stay on the stick (a
    link swapped in after listing cannot lead out of it); the resolved file is then opened
    without following a link and non-blocking, and its type is checked on the descriptor."""
    target = os.path.realpath(path)
    if volume_root is not None and not _inside(target, os.path.realpath(volume_root)):
        raise ImageError("link points outside the stick: skipped")
    info = os.lstat(target)
    if stat.S_ISLNK(info.st_mode):  # what realpath leaves of a link that loops
        raise ImageError("link loops back on itself: skipped")
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(info.st_mode)  # refused before opening: opening a device may act
    fd = os.open(target, _OPEN_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(mode)  # swapped between the check and the open
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_bytes(path: Path, max_bytes: int, volume_root: Path | None) -> bytes:
    try:
        fd = _open_checked(path, volume_root)
        with open(fd, "rb", closefd=True) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise ImageError(
                    f"file is too large to analyse safely ({size / 2**20:.0f} MB; "
                    f"limit {max_bytes / 2**20:.0f} MB)"
                )
            # Read one byte past the limit so a file that grows while being read is caught too.
            data = handle.read(max_bytes + 1)
    except OSError as error:
        if error.errno == errno.ELOOP:
            message = "link loops back on itself (or a link was put where the file was): skipped"
            raise ImageError(message) from error
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


def _out_of_time(budget_s: float) -> ImageError:
    return ImageError(
        f"decoding took longer than the {budget_s:g} s allowed for one image: skipped (the file"
        " may be damaged or built to be slow to decode)"
    )


def _decode(data: bytes, max_pixels: int, deadline: float) -> Image.Image:
    """Open, check the size, and fully decode the first frame; every failure is an ImageError
    (running out of time raises ``_OutOfTime``, worded by the caller who knows the budget).

    The warnings filter is deliberately left alone (it is process-wide, and scans run in a
    thread): Pillow's soft bomb warning is only a warning, our own size check below decides.
    """
    try:
        image = Image.open(_TimedBytes(data, deadline), formats=_FORMATS)
    except _OutOfTime:
        raise
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
        image.seek(0)  # multi-page TIFF, animated PNG: the first frame is the one analysed
        image.load()
    except _OutOfTime:
        raise
    except (Image.DecompressionBombError, MemoryError) as error:
        raise _too_large(width, height, max_pixels) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"image file is truncated or damaged ({error})") from error
    except Exception as error:
        message = f"image file is damaged or uses an unsupported variant ({error})"
        raise ImageError(message) from error
    return image


def _frames(image: Image.Image) -> int:
    try:
        return max(1, int(getattr(image, "n_frames", 1)))
    except Exception:  # counting pages walks the file; a damaged later page must not matter
        return 1


def _upright(image: Image.Image) -> Image.Image:
    """The image turned the way its EXIF orientation says (cameras store it sideways).
    A damaged orientation tag is ignored: the pixels are still the pixels.

    Turned in place: without ``in_place`` Pillow returns a *copy* even when nothing needs
    turning, which doubled the peak memory of a 60-megapixel image (a second 240 MB)."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:
        log.warning("ignoring an unreadable EXIF orientation", exc_info=True)
    return image


def read_image(
    path: Path,
    *,
    max_pixels: int = 60_000_000,
    max_bytes: int = 512 * 2**20,
    volume_root: Path | None = None,
    budget_s: float = DECODE_BUDGET_S,
) -> LoadedImage:
    """Read, hash and decode one image file into 8-bit RGB (upright, first frame).

    Raises :class:`~appliance.errors.ImageError` for anything wrong with this one file (the scan
    records it and goes on) and :class:`~appliance.errors.VolumeGone` when the stick holding it
    (``volume_root``) has disappeared, so the scan can stop instead of failing every file.
    ``budget_s`` bounds the time from opening the file to the decoded image.
    """
    deadline = time.monotonic() + budget_s
    path = Path(path)
    data = _read_bytes(path, max_bytes, volume_root)
    digest = hashlib.sha256(data).hexdigest()
    try:
        image = _decode(data, max_pixels, deadline)
        frames = _frames(image)
        if frames > 1:
            image.seek(0)  # counting the frames may have moved to the last one
        if time.monotonic() > deadline:
            raise _OutOfTime
        upright = _upright(image)
        rgb = to_rgb(upright)
    except _OutOfTime as error:
        raise _out_of_time(budget_s) from error
    except ImageError:
        raise
    except Exception as error:
        message = f"image uses a colour format this appliance cannot read ({error})"
        raise ImageError(message) from error
    if time.monotonic() > deadline:
        raise _out_of_time(budget_s)
    if rgb is image and getattr(image, "fp", None) is not None:
        # Detach from the in-memory file (kept open by multi-page files) so it can be freed.
        rgb = image.copy()
    note = None
    if frames > 1:
        note = f"the file holds {frames} frames or pages; only the first was analysed"
    return LoadedImage(
        image=rgb,
        sha256=digest,
        size_bytes=len(data),
        width=rgb.width,
        height=rgb.height,
        frames=frames,
        note=note,
    )


#: Bytes read to find an image's size from its header (JPEG's may follow a large EXIF block).
_HEADER_BYTES = 256 * 1024


def peek_pixels(path: Path, volume_root: Path | None = None) -> int | None:
    """The pixel count an image's header declares, from its first bytes; None when the header
    does not say (a TIFF keeps it at the end, or the file is damaged or not an image).

    For planning only (how many images may be decoded at once): :func:`read_image` checks
    everything again on the bytes it hashes."""
    try:
        fd = _open_checked(Path(path), volume_root)
        with open(fd, "rb", closefd=True) as handle:
            head = handle.read(_HEADER_BYTES)
        with Image.open(io.BytesIO(head), formats=_FORMATS) as image:
            width, height = image.size
    except Exception:  # any problem is read_image's to word; the caller plans for the worst
        return None
    return width * height if width > 0 and height > 0 else None


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
