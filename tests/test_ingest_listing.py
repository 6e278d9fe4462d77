"""list_volume on real folder trees built in tmp_path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

import pytest
from PIL import Image

from appliance.errors import VolumeGone
from appliance.ingest.listing import ROOT_CASE, SUPPORTED_SUFFIXES, Skipped, list_volume


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), (200, 100, 50)).save(path, format="PNG")
    return path


def _tree_snapshot(root: Path) -> list[tuple[str, int, float]]:
    return sorted(
        (str(p.relative_to(root)), p.lstat().st_size, p.lstat().st_mtime) for p in root.rglob("*")
    )


def test_images_grouped_by_case_in_natural_order(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    _png(stick / "case10" / "b.png")
    _png(stick / "case2" / "img10.PNG")
    _png(stick / "case2" / "img2.jpg")
    _png(stick / "case2" / "sub" / "x.tiff")
    _png(stick / "top.bmp")
    (stick / "case2" / "notes.txt").write_text("not an image")
    (stick / "case2" / "report.pdf").write_bytes(b"%PDF-1.4")

    listing = list_volume(stick)

    assert [str(ref.relpath) for ref in listing.images] == [
        "top.bmp",
        "case2/img2.jpg",
        "case2/img10.PNG",
        "case2/sub/x.tiff",
        "case10/b.png",
    ]
    assert list(listing.cases) == [ROOT_CASE, "case2", "case2/sub", "case10"]
    assert [ref.relpath.name for ref in listing.cases["case2"]] == ["img2.jpg", "img10.PNG"]
    first = listing.images[1]
    assert first.path == stick / "case2" / "img2.jpg"
    assert first.size_bytes == (stick / "case2" / "img2.jpg").stat().st_size
    assert first.volume == stick
    assert listing.skipped == []  # other files are ignored silently


def test_system_and_hidden_entries_are_ignored(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    _png(stick / "case" / "real.png")
    for junk in (
        "System Volume Information/a.png",
        "$RECYCLE.BIN/S-1-5/b.png",
        "RECYCLER/c.png",
        "FOUND.000/FILE0000.png",
        "found.012/FILE0001.png",
        "lost+found/d.png",
        ".Trashes/e.png",
        ".Spotlight-V100/f.png",
        ".fseventsd/g.png",
        "__MACOSX/case/real.png",
        "case/._real.png",
        "case/.hidden.png",
        ".hidden_dir/h.png",
    ):
        _png(stick / junk)
    (stick / "case" / "Thumbs.db").write_bytes(b"x")
    (stick / "desktop.ini").write_text("[.ShellClassInfo]")

    listing = list_volume(stick)

    assert [str(ref.relpath) for ref in listing.images] == ["case/real.png"]
    assert listing.skipped == []


def test_every_supported_suffix_in_any_letter_case_is_listed(tmp_path: Path) -> None:
    assert set(SUPPORTED_SUFFIXES) == {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
    stick = tmp_path / "stick"
    names = ["a.PNG", "b.Jpg", "c.JPEG", "d.TIF", "e.tiff", "f.BMP", "g.gif", "h.png.txt"]
    for name in names:
        (stick).mkdir(exist_ok=True)
        (stick / name).write_bytes(b"x")
    listing = list_volume(stick)
    assert [ref.relpath.name for ref in listing.images] == names[:6]


def test_symlinks_outside_the_stick_are_skipped_with_reason(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    outside = tmp_path / "outside"
    _png(outside / "secret.png")
    _png(stick / "case" / "inside.png")
    os.symlink(outside / "secret.png", stick / "case" / "escape.png")
    os.symlink(outside, stick / "outside_dir")
    os.symlink(stick / "case" / "inside.png", stick / "case" / "alias.png")
    os.symlink(stick / "case" / "missing.png", stick / "case" / "broken.png")

    listing = list_volume(stick)

    assert [str(ref.relpath) for ref in listing.images] == ["case/alias.png", "case/inside.png"]
    reasons = {str(s.relpath): s.reason for s in listing.skipped}
    assert set(reasons) == {"case/escape.png", "outside_dir", "case/broken.png"}
    assert "outside the stick" in reasons["case/escape.png"]
    assert "outside the stick" in reasons["outside_dir"]
    assert "does not exist" in reasons["case/broken.png"]


def test_directory_symlink_cycle_terminates(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    _png(stick / "a" / "one.png")
    os.symlink(stick, stick / "a" / "loop_to_root")
    os.symlink(stick / "a", stick / "a" / "loop_to_self")

    listing = list_volume(stick)

    assert [str(ref.relpath) for ref in listing.images] == ["a/one.png"]
    assert all("already listed" in s.reason for s in listing.skipped)
    assert len(listing.skipped) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read folders without permission")
def test_unreadable_subfolder_is_skipped_and_scan_goes_on(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    _png(stick / "ok" / "a.png")
    _png(stick / "locked" / "b.png")
    (stick / "locked").chmod(0)
    try:
        listing = list_volume(stick)
    finally:
        (stick / "locked").chmod(0o755)
    assert [str(ref.relpath) for ref in listing.images] == ["ok/a.png"]
    assert listing.skipped[0].relpath == PurePosixPath("locked")
    assert "permission denied" in listing.skipped[0].reason


def test_folder_failing_to_list_is_skipped_and_scan_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same as above but works as root too: scandir of one folder fails like a bad sector."""
    stick = tmp_path / "stick"
    _png(stick / "ok" / "a.png")
    _png(stick / "bad" / "b.png")
    real_scandir = os.scandir

    def failing_scandir(path: object = ".") -> object:
        if Path(str(path)) == stick / "bad":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", failing_scandir)
    listing = list_volume(stick)
    assert [str(ref.relpath) for ref in listing.images] == ["ok/a.png"]
    assert listing.skipped == [
        Skipped(PurePosixPath("bad"), "folder could not be read (permission denied); not scanned")
    ]


def test_max_files_caps_the_walk(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    for index in range(10):
        _png(stick / f"img{index}.png")
    listing = list_volume(stick, max_files=4)
    assert len(listing.images) == 4
    assert "more than 4" in listing.skipped[-1].reason


def test_missing_root_raises_volume_gone(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    _png(stick / "a.png")
    shutil.rmtree(stick)
    with pytest.raises(VolumeGone, match="removed or cannot be read"):
        list_volume(stick)


def test_listing_never_writes(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    _png(stick / "c" / "a.png")
    (stick / "c" / "n.txt").write_text("x")
    before = _tree_snapshot(stick)
    list_volume(stick)
    assert _tree_snapshot(stick) == before
