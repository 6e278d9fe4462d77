"""Reading the next images while the current one is analysed, without ever holding too many.

Reading from a USB stick, hashing and decoding cost a scan of small patches about a fifth of its
time when done between inferences. One reader thread does them ahead, in listing order, and
hands each result over through a bounded queue, so the interpreter's threads are never kept
waiting for a file. Pillow's decoders and hashlib release the GIL, so the reader really runs
beside the interpreter (a Pi 4 has four cores).

Memory stays bounded by pixels, not files: an image is decoded ahead only while the images
already decoded and not yet finished hold fewer than :data:`AHEAD_PIXELS`; a larger image waits
until everything before it is done and is then the only decoded image in memory. A 60-megapixel
region therefore never sits beside another one.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from appliance.errors import ImageError, VolumeGone
from appliance.ingest.decode import LoadedImage, peek_pixels, read_image, thumbnail_jpeg
from appliance.ingest.listing import ImageRef

#: Decoded pixels that may wait ahead of the image being analysed (4 MP: 16 MB in Pillow's RGB).
AHEAD_PIXELS = 4_000_000
#: Images waiting in the queue at most (patches are tiny; this bounds only their count).
QUEUE_DEPTH = 4


@dataclass(frozen=True)
class Fetched:
    """One listed image, read ahead: its pixels and thumbnail, or why it could not be read."""

    ref: ImageRef
    loaded: LoadedImage | None = None
    thumbnail: bytes | None = None
    prepared: Any = None  # what ``prepare`` made of the image ahead (the classifier's input)
    error: ImageError | None = None
    gone: VolumeGone | None = None


Reader = Callable[[ImageRef], LoadedImage]


def _read(ref: ImageRef) -> LoadedImage:
    return read_image(ref.path, volume_root=ref.volume)


class Prefetcher:
    """Iterates over ``refs`` as :class:`Fetched`, reading ahead on one thread.

    An image handed out counts against the pixel budget until the next one is asked for (the
    caller is then done with it). Call :meth:`close` when the scan ends, early or not.
    """

    def __init__(
        self,
        refs: Sequence[ImageRef],
        *,
        read: Reader = _read,
        prepare: Callable[[Image.Image], Any] | None = None,
        ahead_pixels: int = AHEAD_PIXELS,
        depth: int = QUEUE_DEPTH,
    ) -> None:
        self._refs = list(refs)
        self._read = read
        self._prepare = prepare
        self._ahead = ahead_pixels
        self._queue: queue.Queue[Fetched] = queue.Queue(maxsize=max(1, depth))
        self._budget = threading.Condition()
        # Pixels of each image read and not yet finished, oldest first (one entry per image).
        self._held: collections.deque[int] = collections.deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="image-reader", daemon=True)

    def __iter__(self) -> Iterator[Fetched]:
        self._thread.start()
        try:
            for _ in self._refs:
                item = self._queue.get()
                yield item
                self._release()
                if item.gone is not None:
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading ahead (a cancel, a removed stick, the end); returns at once."""
        self._stop.set()
        with self._budget:
            self._budget.notify_all()
        while True:  # free a reader blocked on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break

    def _release(self) -> None:
        with self._budget:
            if self._held:
                self._held.popleft()
            self._budget.notify_all()

    def _reserve(self, pixels: int) -> bool:
        """Block until ``pixels`` more may be decoded; False when closed meanwhile."""
        with self._budget:
            while not self._stop.is_set():
                if not self._held or sum(self._held) + pixels <= self._ahead:
                    self._held.append(pixels)
                    return True
                self._budget.wait(timeout=0.5)
        return False

    def _run(self) -> None:
        for ref in self._refs:
            # An image whose header hides its size is planned as if it filled the budget.
            pixels = peek_pixels(ref.path, ref.volume) or self._ahead
            if not self._reserve(pixels):
                return
            item = self._fetch(ref)
            if item.loaded is None:  # nothing decoded: its reservation goes back at once
                with self._budget:
                    self._held[-1] = 0
                    self._budget.notify_all()
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if item.gone is not None or self._stop.is_set():
                return

    def _fetch(self, ref: ImageRef) -> Fetched:
        try:
            loaded = self._read(ref)
        except VolumeGone as exc:
            return Fetched(ref, gone=exc)
        except ImageError as exc:
            return Fetched(ref, error=exc)
        except Exception as exc:  # never leave the scan waiting for an image that cannot come
            words = f"could not be read ({type(exc).__name__}: {exc})"
            return Fetched(ref, error=ImageError(words))
        try:
            thumbnail = thumbnail_jpeg(loaded.image)
        except Exception:  # the pipeline makes it again and words any failure
            thumbnail = None
        prepared = self._prepare(loaded.image) if self._prepare is not None else None
        return Fetched(ref, loaded, thumbnail, prepared=prepared)
