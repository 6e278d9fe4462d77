"""Running a generator one step ahead on its own thread, so its work overlaps the caller's.

The interpreter releases the GIL while it runs (measured: numpy tile preparation on a second
thread finished beside 8-view inference without slowing it), so cutting, checking and
quantising the next batch of tiles while the current one is in the model hides that work
almost completely. The queue is bounded: at most ``depth`` batches wait, whatever the image size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

_T = TypeVar("_T")
_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def run_ahead(items: Iterable[_T], depth: int = 2) -> Iterator[_T]:
    """Yield ``items`` in order, produced on a worker thread up to ``depth`` ahead.

    An exception in the producer is raised here, at the item where it happened. Leaving the
    loop early (a break, an exception, a cancel) stops the producer at its next item."""
    waiting: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
            return
        put(_END)

    worker = threading.Thread(target=produce, name="tiles-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = waiting.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue, then let it end
            try:
                waiting.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
