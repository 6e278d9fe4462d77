"""The fault suite (issue 10), part 1: what a stick can hold, driven through the real pipeline.

Each fault kind is one named :class:`FaultCase` in a table, so ``docs/reliability.md`` can list
exactly what was tried. An image or stick fault is scanned by :class:`appliance.pipeline.Analyzer`
(the tiny test model, so the whole table runs in seconds) between a good image before it and a
good image after it; the expected outcome is always the same contract: the scan finishes (no hang,
no exception), the fault gets a row whose message a technician can read (no traceback, no Python
class names), and the images after it still get rows. Part 2 (database, model, card, append-only,
watch) is ``tests/test_faults_store.py`` and shares these helpers.

Cases whose fix is still in flight elsewhere are marked ``xfail(strict=False)`` with who owns it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from appliance import pipeline as pipeline_module
from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from appliance.pipeline import Analyzer, ScanSummary
from appliance.store import Store
from tests.conftest import TINY_BUNDLE

#: Seconds one scan of a small fault stick may take before it counts as "stuck".
SCAN_LIMIT_S = 15.0
#: Decisions a row may carry (the scope gate may turn a plain colour square into unassessable).
ANY_DECISION = {"benign", "malignant", "indeterminate", "unassessable"}
_CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --- shared helpers (also used by test_faults_store.py) ---------------------------------------


@dataclass(frozen=True)
class FaultCase:
    """One fault kind: its name, what it is, what must happen, and the code that tries it."""

    name: str
    area: str  # image | stick | name | database | model | card | append-only | watch | report
    fault: str
    expected: str
    run: Callable[[Path], None]
    awaiting: str | None = None  # who is fixing it, while the fix has not landed
    marks: tuple = field(default=())

    def param(self):
        marks = list(self.marks)
        if self.awaiting:
            marks.append(pytest.mark.xfail(reason=f"awaiting {self.awaiting}", strict=False))
        return pytest.param(self, id=self.name, marks=marks)


#: Messages a user would see in the case being run (collected for docs/reliability.md).
OBSERVED: list[str] = []


def note(message: str) -> None:
    if message not in OBSERVED:
        OBSERVED.append(message)


def run_and_record(case: FaultCase, tmp_path: Path) -> None:
    """Run one case; with ``FAULTS_RECORD=<file>`` append its outcome and messages as JSON."""
    OBSERVED.clear()
    outcome, detail = "pass", ""
    try:
        case.run(tmp_path)
    except pytest.skip.Exception as exc:
        outcome, detail = "skipped", str(exc)
        raise
    except BaseException as exc:
        outcome, detail = "fail", (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise
    finally:
        record = os.environ.get("FAULTS_RECORD")
        if record:
            entry = {
                "name": case.name,
                "area": case.area,
                "fault": case.fault,
                "expected": case.expected,
                "outcome": outcome,
                "detail": detail[:300],
                "awaiting": case.awaiting,
                "messages": OBSERVED[:3],
            }
            with open(record, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


def assert_readable(message: str | None) -> None:
    """A message for people: present, and free of tracebacks, class names and object reprs."""
    assert message and message.strip(), "no message"
    note(message.strip())
    assert "Traceback" not in message, message
    assert not _CLASS_NAME.search(message), f"Python class name in message: {message!r}"
    assert " object at 0x" not in message, f"object repr in message: {message!r}"


def tissue(size: tuple[int, int] = (64, 64), seed: int = 0) -> Image.Image:
    """A small pink/purple, textured, H&E-like RGB image (deterministic)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    base = np.array([200, 120, 170], dtype=np.float32)
    noise = rng.normal(0, 25, (h, w, 1)).astype(np.float32)
    nuclei = (rng.random((h, w, 1)) < 0.08) * np.array([-90, -60, -30], dtype=np.float32)
    pixels = np.clip(base + noise + nuclei, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def save(image: Image.Image, path: Path, fmt: str | None = None, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt, **options)
    return path


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def make_analyzer(tmp_path: Path, db_name: str = "appliance.db") -> Analyzer:
    classifier = Classifier(ModelBundle.load(TINY_BUNDLE))
    store = Store.open(tmp_path / "db" / db_name)
    return Analyzer(classifier, store, device="fault-suite")


def _unblock_fifos(root: Path) -> None:
    """Open every FIFO under ``root`` for writing, so a reader stuck on one wakes up."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                if stat.S_ISFIFO(os.lstat(path).st_mode):
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass


def scan_within(analyzer: Analyzer, stick: Path, limit: float = SCAN_LIMIT_S, **kwargs):
    """Run one scan in a thread; fail (after unsticking it) if it takes longer than ``limit``."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["summary"] = analyzer.scan(stick, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        _unblock_fifos(stick)
        thread.join(10)
        pytest.fail(f"the scan was still running after {limit:.0f} s: it hung on the fault")
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["summary"]


# --- the image/stick contract -----------------------------------------------------------------

BEFORE, AFTER = "a_before.png", "z_after.png"


def scan_fault_stick(
    tmp_path: Path,
    build: Callable[[Path], None],
    *,
    hook: Callable[[Path], None] | None = None,
    statuses: set[str] = frozenset({"ok", "error"}),  # type: ignore[assignment]
    words: tuple[str, ...] = (),
    rows: int | None = 1,
    scan_status: str = "complete",
) -> tuple[Analyzer, ScanSummary]:
    """Build a stick (good image, the fault in ``case/``, good image), scan it, check the contract.

    ``hook`` runs between listing and reading (a file swapped after the listing). ``rows`` is how
    many fault rows are expected (None: any number); ``words``: one of them must be in a fault's
    message when it is an error.
    """
    stick = tmp_path / "stick"
    case = stick / "case"
    case.mkdir(parents=True)
    save(tissue(seed=1), case / BEFORE)
    save(tissue(seed=2), case / AFTER)
    build(case)
    analyzer = make_analyzer(tmp_path)
    monkey = pytest.MonkeyPatch()
    if hook is not None:
        real = pipeline_module.list_volume

        def listing_then_hook(root, *args, **kwargs):
            listing = real(root, *args, **kwargs)
            hook(case)
            return listing

        monkey.setattr(pipeline_module, "list_volume", listing_then_hook)
    try:
        summary = scan_within(analyzer, stick)
    finally:
        monkey.undo()
    assert summary.status == scan_status, (summary.status, summary.message)
    stored = analyzer.store.images(summary.scan_id)
    assert len(stored) == len(summary.outcomes), "an outcome without a stored row"
    names = [r.path.rsplit("/", 1)[-1] for r in stored]
    assert BEFORE in names and AFTER in names, f"neighbours lost their rows: {names}"
    faults = [r for r in stored if r.path.rsplit("/", 1)[-1] not in (BEFORE, AFTER)]
    if rows is not None:
        assert len(faults) == rows, [(r.path, r.status, r.error) for r in faults]
    for row in stored:
        assert row.decision in ANY_DECISION, row
        if row.status == "error":
            assert row.decision == "unassessable"
            assert_readable(row.error)
    for row in faults:
        if row.status == "ok":
            note(f"analysed: {row.decision} (p = {row.p_malignant:.2f})")
        assert row.status in statuses, (row.path, row.status, row.error)
        if row.status == "error" and words:
            assert any(w in row.error.lower() for w in words), row.error
    analyzer.store.close()
    return analyzer, summary


def image_case(
    name: str,
    fault: str,
    write: Callable[[Path], None],
    *,
    expected: str = "a row (analysed, or unassessable with a message); the scan goes on",
    statuses: set[str] = frozenset({"ok", "error"}),  # type: ignore[assignment]
    words: tuple[str, ...] = (),
    area: str = "image",
    awaiting: str | None = None,
    marks: tuple = (),
    **kwargs,
) -> FaultCase:
    def run(tmp_path: Path) -> None:
        scan_fault_stick(tmp_path, write, statuses=statuses, words=words, **kwargs)

    return FaultCase(name, area, fault, expected, run, awaiting, marks)


def _bytes(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda case: (case / name).write_bytes(data)


def _image(name: str, make: Callable[[], Image.Image], fmt: str, **options):
    return lambda case: save(make(), case / name, fmt, **options)


def _png_bomb() -> bytes:
    """A valid PNG header claiming 100 000 x 100 000 pixels (a decompression bomb's signature)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _zlib_bomb_png() -> bytes:
    """A small file that inflates to 5000 x 5000 RGB (75 MB): under the pixel cap, heavy to read."""
    return encoded(Image.new("RGB", (5000, 5000), (210, 150, 190)), "PNG", optimize=True)


def _exif_rotated() -> bytes:
    image = tissue((80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° CW
    return encoded(image, "JPEG", exif=exif.tobytes())


def _animated_png() -> bytes:
    frames = [tissue(seed=s) for s in range(3)]
    return encoded(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)


def _multipage_tiff() -> bytes:
    frames = [tissue(seed=s) for s in range(3)]
    return encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])


def _sixteen_bit() -> Image.Image:
    import numpy as np

    return Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 13 % 65535).astype(np.uint16))


def _float_tiff() -> Image.Image:
    import numpy as np

    return Image.fromarray(np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64), "F")


def _valid_png() -> bytes:
    return encoded(tissue(seed=5), "PNG")


def _valid_jpeg() -> bytes:
    return encoded(tissue(seed=6), "JPEG")


IMAGE_CASES = [
    image_case(
        "zero_byte_file",
        "a 0-byte .png",
        _bytes("m.png", b""),
        expected="error row 'file is empty'",
        statuses={"error"},
        words=("empty",),
    ),
    image_case(
        "truncated_png",
        "a PNG cut in half",
        _bytes("m.png", _valid_png()[:400]),
        expected="error row: truncated or damaged",
        statuses={"error"},
        words=("truncated", "damaged"),
    ),
    image_case(
        "truncated_jpeg",
        "a JPEG cut in half",
        _bytes("m.jpg", _valid_jpeg()[: len(_valid_jpeg()) // 2]),
    ),
    image_case(
        "header_only_png",
        "only the 8-byte PNG signature",
        _bytes("m.png", b"\x89PNG\r\n\x1a\n"),
        statuses={"error"},
    ),
    image_case(
        "text_named_png",
        "a text file named .png",
        _bytes("m.png", b"hello, not a picture\n"),
        expected="error row 'not an image file'",
        statuses={"error"},
        words=("not an image",),
    ),
    image_case(
        "jpeg_named_png",
        "a JPEG with a .png extension",
        _bytes("m.png", _valid_jpeg()),
        expected="read by its content: analysed",
        statuses={"ok", "error"},
    ),
    image_case("png_named_tif", "a PNG with a .tif extension", _bytes("m.tif", _valid_png())),
    image_case(
        "random_bytes_bmp",
        "random bytes named .bmp",
        _bytes("m.bmp", os.urandom(2048)),
        statuses={"error"},
    ),
    image_case(
        "decompression_bomb_header",
        "PNG header claiming 100 000 x 100 000 pixels",
        _bytes("m.png", _png_bomb()),
        expected="error row: too large, refused before decoding",
        statuses={"error"},
        words=("too large", "large", "pixels"),
    ),
    image_case(
        "zlib_bomb_5000px",
        "a 30 KB PNG inflating to 5000 x 5000 (75 MB)",
        _bytes("m.png", _zlib_bomb_png()),
        expected="read within the limits (or refused with a message)",
    ),
    image_case("sixteen_bit_grey", "16-bit greyscale PNG", _image("m.png", _sixteen_bit, "PNG")),
    image_case("float_tiff", "32-bit float TIFF (mode F)", _image("m.tif", _float_tiff, "TIFF")),
    image_case(
        "greyscale", "8-bit greyscale PNG", _image("m.png", lambda: tissue().convert("L"), "PNG")
    ),
    image_case("cmyk_jpeg", "CMYK JPEG", _image("m.jpg", lambda: tissue().convert("CMYK"), "JPEG")),
    image_case(
        "rgba_alpha",
        "RGBA PNG with a transparent half",
        _image("m.png", lambda: _half_transparent(), "PNG"),
    ),
    image_case(
        "palette",
        "palette (P) PNG",
        _image("m.png", lambda: tissue().convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
    ),
    image_case(
        "one_bit",
        "1-bit black-and-white PNG",
        _image("m.png", lambda: tissue().convert("1"), "PNG"),
    ),
    image_case("exif_rotated", "JPEG with EXIF orientation 6", _bytes("m.jpg", _exif_rotated())),
    image_case("animated_png", "animated PNG, 3 frames", _bytes("m.png", _animated_png())),
    image_case("multipage_tiff", "3-page TIFF", _bytes("m.tif", _multipage_tiff())),
    image_case(
        "progressive_jpeg", "progressive JPEG", _image("m.jpg", tissue, "JPEG", progressive=True)
    ),
    image_case(
        "one_pixel_high",
        "300 x 1 pixel image",
        _image("m.png", lambda: tissue((300, 1)), "PNG"),
        expected="unassessable (too small for the model's input), never benign/malignant",
        statuses={"error"},
    ),
    image_case(
        "one_pixel",
        "1 x 1 pixel image",
        _image("m.png", lambda: tissue((1, 1)), "PNG"),
        expected="unassessable (too small), never benign/malignant",
        statuses={"error"},
    ),
]


def _half_transparent() -> Image.Image:
    image = tissue().convert("RGBA")
    alpha = Image.new("L", image.size, 255)
    alpha.paste(0, (0, 0, image.width // 2, image.height))
    image.putalpha(alpha)
    return image


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
    for i in range(8):
        save(tissue(seed=i), stick / "case" / f"img{i}.png")
    analyzer = make_analyzer(tmp_path)

    def pull(progress) -> None:
        if progress.done == 3 and stick.exists():
            shutil.rmtree(stick)

    summary = scan_within(analyzer, stick, on_progress=pull)
    assert summary.status == "interrupted" and "removed" in summary.message.lower()
    rows = analyzer.store.images(summary.scan_id)
    assert len(rows) == 8 and sum(r.status == "ok" for r in rows) >= 3
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


ALL_CASES = IMAGE_CASES + STICK_CASES


@pytest.mark.parametrize("case", [c.param() for c in ALL_CASES])
def test_fault(case: FaultCase, tmp_path: Path) -> None:
    run_and_record(case, tmp_path)


def test_the_table_is_large_enough() -> None:
    from tests.test_faults_scope import SCOPE_CASES
    from tests.test_faults_store import STORE_CASES

    names = [c.name for c in ALL_CASES + STORE_CASES + SCOPE_CASES]
    assert len(set(names)) == len(names)
    assert len(names) >= 40
