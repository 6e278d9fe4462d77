"""Shared pieces of the fault suite (issue 10): the case table's row type, the contract an image
or stick fault is held to, readable-message checks, and the record docs/reliability.md is
written from. The tables themselves are the ``tests/test_faults*.py`` modules.
"""

from __future__ import annotations

import io
import json
import os
import re
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


# --- helpers ---------------------------------------


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
