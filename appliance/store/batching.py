"""Image results written a fraction of a second at a time, and shown only once written.

Why: every transaction ends in an fdatasync, which on a Pi's SD card costs as much as a good part
of a patch's inference; one per image made the database a tenth of a scan's time. The pipeline
hands each finished image here; the rows go to the database together when :attr:`due` (enough
rows, or the oldest has waited long enough), and only then do the outcomes reach the screen or the
terminal: a result shown is a result stored. A crash loses at most the last fraction of a second
of work, none of which was shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from appliance.store.image_rows import NewImage

T = TypeVar("T")

MAX_ROWS = 16  # rows per transaction
MAX_WAIT_S = 0.5  # the longest a finished result waits to be stored and shown


class BatchedResults(Generic[T]):
    """Rows of one scan waiting to be written; ``outcome(image_id)`` makes what is shown."""

    def __init__(
        self,
        store,  # appliance.store.Store
        scan_id: int,
        *,
        max_rows: int = MAX_ROWS,
        max_wait_s: float = MAX_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.scan_id = scan_id
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.clock = clock
        self._rows: list[NewImage] = []
        self._outcomes: list[Callable[[int], T]] = []
        self._since: float | None = None

    def add(self, row: NewImage, outcome: Callable[[int], T]) -> None:
        if self._since is None:
            self._since = self.clock()
        self._rows.append(row)
        self._outcomes.append(outcome)

    @property
    def due(self) -> bool:
        """Enough rows, or the oldest has waited :attr:`max_wait_s`."""
        if not self._rows:
            return False
        waited = self.clock() - (self._since or 0.0)
        return len(self._rows) >= self.max_rows or waited >= self.max_wait_s

    def flush(self) -> list[T]:
        """Write what is waiting in one transaction; the outcomes of what was written.

        On a failure nothing of this batch is stored (and none of it was shown); the rows are
        dropped so a retry after a failed scan does not write them twice.
        """
        rows, makers = self._rows, self._outcomes
        self._rows, self._outcomes, self._since = [], [], None
        if not rows:
            return []
        ids = self.store.record_images(self.scan_id, rows)
        return [make(image_id) for make, image_id in zip(makers, ids, strict=True)]
