"""The fault suite (issue 10): the stick's structure — links, FIFOs and devices (also swapped in
after listing), 10 000 files, deep nesting, the stick vanishing mid-scan. Each case is scanned
through the real pipeline and held to the contract in ``tests/faults_support.py``.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.faults_support import (
    IS_ROOT,
    FaultCase,
    assert_readable,
    image_case,
    make_analyzer,
    run_and_record,
    save,
    scan_fault_stick,
    scan_within,
    tissue,
)

# --- the stick's structure: links, special files, size, swaps after listing -------------------


def _symlink_loop(case: Path) -> None:
    (case / "loop").symlink_to("..")  # a folder link back up the tree


def _self_link(case: Path) -> None:
    os.symlink("m.png", case / "m.png")  # ELOOP on open


def _link_out(case: Path) -> None:
    outside = case.parent.parent / "secret.png"
    save(tissue(), outside)
    (case / "m.png").symlink_to(outside)


def _dir_link_out(case: Path) -> None:
    (case / "m_etc").symlink_to("/etc")


def _dangling(case: Path) -> None:
    (case / "m.png").symlink_to(case / "nowhere.png")


def _fifo(case: Path) -> None:
    os.mkfifo(case / "m.png")


def _device(case: Path) -> None:
    os.mknod(case / "m.png", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero


def _swap_fifo(case: Path) -> None:
    (case / "m.png").unlink()
    os.mkfifo(case / "m.png")


def _swap_device(case: Path) -> None:
    (case / "m.png").unlink()
    os.mknod(case / "m.png", 0o600 | stat.S_IFCHR, os.makedev(1, 5))


def _swap_link_out(case: Path) -> None:
    (case / "m.png").unlink()
    (case / "m.png").symlink_to("/etc/passwd")


def _ten_thousand(case: Path) -> None:
    clutter = case / "clutter"
    clutter.mkdir()
    for i in range(10_000):
        (clutter / f"note{i}.txt").touch()
    save(tissue(seed=9), case / "m.png")


def _deep(case: Path) -> None:
    folder = case
    for _ in range(300):
        folder = folder / "d"
    save(tissue(seed=3), folder / "m.png")


def _write_good(case: Path) -> None:
    save(tissue(seed=4), case / "m.png")


STICK_CASES = [
    image_case(
        "symlink_loop",
        "a folder link pointing back up the tree",
        _symlink_loop,
        area="stick",
        rows=None,
        expected="no endless walk; each image listed once",
    ),
    image_case(
        "self_symlink",
        "a .png that links to itself",
        _self_link,
        area="stick",
        statuses={"error"},
        rows=None,
    ),
    image_case(
        "link_leaving_stick",
        "a .png linking to a file outside the stick",
        _link_out,
        area="stick",
        statuses={"error"},
        words=("outside",),
        expected="error row 'link points outside the stick; not read'",
    ),
    image_case(
        "folder_link_leaving_stick",
        "a folder link to /etc",
        _dir_link_out,
        area="stick",
        rows=None,
        expected="not followed",
    ),
    image_case(
        "dangling_link",
        "a .png link to a missing file",
        _dangling,
        area="stick",
        statuses={"error"},
        words=("does not exist",),
    ),
    image_case(
        "fifo",
        "a FIFO named .png",
        _fifo,
        area="stick",
        statuses={"error"},
        words=("not a regular file",),
        expected="error row 'not a regular file'",
    ),
    image_case(
        "device_node",
        "a character device (1,5) named .png",
        _device,
        area="stick",
        statuses={"error"},
        words=("not a regular file",),
        marks=(pytest.mark.skipif(not IS_ROOT, reason="mknod needs root"),),
    ),
    FaultCase(
        "fifo_swapped_after_listing",
        "stick",
        "a file replaced by a FIFO after listing",
        "error row quickly (non-blocking open); no hang",
        lambda tmp: scan_fault_stick(tmp, _write_good, hook=_swap_fifo, statuses={"error"}),
    ),
    FaultCase(
        "device_swapped_after_listing",
        "stick",
        "a file replaced by a character device after listing",
        "error row 'not a regular file'; never reads the device",
        lambda tmp: scan_fault_stick(tmp, _write_good, hook=_swap_device, statuses={"error"}),
        marks=(pytest.mark.skipif(not IS_ROOT, reason="mknod needs root"),),
    ),
    FaultCase(
        "link_out_swapped_after_listing",
        "stick",
        "a file replaced by a link to /etc/passwd after listing",
        "error row; the file outside the stick is not read",
        lambda tmp: scan_fault_stick(tmp, _write_good, hook=_swap_link_out, statuses={"error"}),
    ),
    FaultCase(
        "file_removed_after_listing",
        "stick",
        "a listed file deleted before it is read",
        "error row; the scan goes on",
        lambda tmp: scan_fault_stick(
            tmp, _write_good, hook=lambda c: (c / "m.png").unlink(), statuses={"error"}
        ),
    ),
    image_case(
        "ten_thousand_files",
        "10 000 files in one folder, plus images",
        _ten_thousand,
        area="stick",
        statuses={"ok"},
        expected="listed in seconds; images analysed",
    ),
    image_case(
        "deep_nesting", "an image 300 folders deep", _deep, area="stick", statuses={"ok", "error"}
    ),
]


def _vanish_case(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    # More images than the reader thread reads ahead (ingest.prefetch.QUEUE_DEPTH), so some are
    # still on the stick when it goes.
    count = 16
    for i in range(count):
        save(tissue(seed=i), stick / "case" / f"img{i}.png")
    analyzer = make_analyzer(tmp_path)
    analyzer.rows_per_write = 1  # each row stored and reported alone: pulled after exactly three

    def pull(progress) -> None:
        if progress.done == 3 and stick.exists():
            shutil.rmtree(stick)

    summary = scan_within(analyzer, stick, on_progress=pull)
    assert summary.status == "interrupted" and "removed" in summary.message.lower()
    rows = analyzer.store.images(summary.scan_id)
    assert len(rows) == count and sum(r.status == "ok" for r in rows) >= 3
    for row in rows:
        if row.status == "error":
            assert_readable(row.error)
    analyzer.store.close()


STICK_CASES.append(
    FaultCase(
        "stick_vanishes_mid_scan",
        "stick",
        "the stick's folder removed after 3 images",
        "scan 'interrupted', every listed file has a row (the rest 'not analysed: removed')",
        _vanish_case,
    )
)


CASES = STICK_CASES


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_fault(case: FaultCase, tmp_path: Path) -> None:
    run_and_record(case, tmp_path)
