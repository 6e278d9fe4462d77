"""Results written a few at a time: when a batch is due, what a flush returns and keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.errors import StoreError
from appliance.store import Store
from appliance.store.batching import BatchedResults
from appliance.store.image_rows import NewImage
from tests.test_store import start as _start


def _row(index: int) -> NewImage:
    return NewImage(
        path=f"case/{index}.png",
        case="case",
        sha256=f"{index:064x}",
        size_bytes=10,
        width=50,
        height=50,
        status="ok",
        decision="benign",
        p_malignant=0.01,
        error=None,
        tiles=None,
        thumbnail=None,
        elapsed_ms=1.0,
    )


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "appliance.db") as opened:
        yield opened


def test_a_batch_is_due_at_its_size_or_when_its_oldest_row_has_waited(store: Store) -> None:
    now = [100.0]
    pending = BatchedResults(store, _start(store), max_rows=3, max_wait_s=0.5, clock=lambda: now[0])
    assert not pending.due  # nothing waiting
    pending.add(_row(0), int)
    pending.add(_row(1), int)
    assert not pending.due
    now[0] += 0.5
    assert pending.due  # the first row has waited long enough
    pending.flush()
    for index in range(3):
        pending.add(_row(index + 2), int)
    assert pending.due  # full


def test_rows_are_invisible_until_flushed_then_all_stored_with_their_ids(store: Store) -> None:
    scan_id = _start(store)
    pending = BatchedResults(store, scan_id, max_rows=16)
    for index in range(5):
        pending.add(_row(index), lambda image_id, i=index: (i, image_id))
    assert store.images(scan_id) == []  # nothing shown can be missing from the database
    flushed = pending.flush()
    stored = store.images(scan_id)
    assert [i for i, _ in flushed] == list(range(5))
    assert [image_id for _, image_id in flushed] == [image.id for image in stored]
    assert [image.path for image in stored] == [f"case/{i}.png" for i in range(5)]
    assert pending.flush() == []  # nothing twice


def test_a_failed_batch_stores_none_of_its_rows_and_is_not_retried(store: Store) -> None:
    scan_id = _start(store)
    pending = BatchedResults(store, scan_id)
    pending.add(_row(0), int)
    pending.add(
        NewImage(**{**_row(1).__dict__, "status": "error", "error": " "}),  # no words: refused
        int,
    )
    with pytest.raises(ValueError):
        pending.flush()
    assert store.images(scan_id) == []  # all or nothing
    assert pending.flush() == []


def test_a_store_error_mid_batch_rolls_the_whole_batch_back(store: Store, monkeypatch) -> None:
    scan_id = _start(store)
    pending = BatchedResults(store, scan_id)
    for index in range(3):
        pending.add(_row(index), int)
    real = store._insert
    calls = []

    def full_after_two(db, table, values):
        if table == "images":
            calls.append(1)
            if len(calls) == 3:
                raise StoreError("the disk is full")
        return real(db, table, values)

    monkeypatch.setattr(store, "_insert", full_after_two)
    with pytest.raises(StoreError):
        pending.flush()
    assert store.images(scan_id) == []
