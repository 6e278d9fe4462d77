"""A scan end to end on real demo images: every file a row, nothing lost, results reused."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from appliance.decision import Decision
from appliance.health import ThrottleMonitor
from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from appliance.ingest.listing import is_supported
from appliance.pipeline import REMOVED_MESSAGE, Analyzer
from appliance.store import Store


@pytest.fixture
def analyzer(shipped_model: Path, tmp_path: Path):
    classifier = Classifier(ModelBundle.load(shipped_model))
    with Store.open(tmp_path / "db" / "appliance.db") as store:
        yield Analyzer(classifier, store, device="test-device")


def _files(stick: Path) -> set[str]:
    """Every image file on the stick (not the specimen.txt sidecars, which are read, not scored)."""
    return {
        p.relative_to(stick).as_posix()
        for p in stick.rglob("*")
        if p.is_file() and is_supported(p.name)
    }


def test_every_demo_file_gets_a_row(analyzer: Analyzer, demo_stick: Path) -> None:
    summary = analyzer.scan(demo_stick)
    assert summary.status == "complete"
    assert {o.path for o in summary.outcomes} == _files(demo_stick)
    rows = analyzer.store.images(summary.scan_id)
    assert len(rows) == len(summary.outcomes)
    damaged = next(o for o in summary.outcomes if o.path.endswith("truncated_scan.png"))
    assert damaged.status == "error" and damaged.decision is Decision.UNASSESSABLE
    assert "truncated" in damaged.error or "damaged" in damaged.error
    ok = [o for o in summary.outcomes if o.status == "ok"]
    # Real patches the scope gate refuses (about 2 % of real tissue) carry the reason instead.
    refused = [o for o in summary.outcomes if o.status == "error" and o is not damaged]
    assert len(ok) + len(refused) == len(summary.outcomes) - 1 and len(refused) <= 2
    assert all("outside the model's scope" in (o.error or "") for o in refused)
    assert all(o.decision is Decision.UNASSESSABLE and o.p_malignant is None for o in refused)
    assert all(0.0 <= o.p_malignant <= 1.0 for o in ok)
    # The large region image is tiled and its probability map is stored.
    slide = next(r for r in rows if r.path.startswith("slide-"))
    assert slide.tiles is not None and len(slide.tiles.probabilities) > 10
    # Cases are the folders; each has a verdict.
    assert {v.case for v in summary.cases} == {p.split("/")[0] for p in _files(demo_stick)}


def test_tumour_case_is_flagged_and_clear_case_is_not(analyzer: Analyzer, demo_stick: Path) -> None:
    """Patient 9077's demo patches are IDC, patient 9036's are not (ground truth in the names)."""
    verdicts = {v.case: v for v in analyzer.scan(demo_stick).cases}
    assert verdicts["patient-9077"].decision is Decision.MALIGNANT
    assert verdicts["damaged-example"].decision is Decision.UNASSESSABLE


def test_second_scan_reuses_results(analyzer: Analyzer, demo_stick: Path, monkeypatch) -> None:
    first = analyzer.scan(demo_stick)
    calls = []
    original = analyzer.classifier.classify
    monkeypatch.setattr(
        analyzer.classifier, "classify", lambda img, **kw: calls.append(1) or original(img, **kw)
    )
    second = analyzer.scan(demo_stick)
    # Only images without a stored result are looked at again: those the scope gate refused
    # (the damaged file is refused when it is read, before any model runs).
    refused = [o for o in first.outcomes if "outside the model's scope" in (o.error or "")]
    assert len(calls) == len(refused)
    assert [o.p_malignant for o in second.outcomes] == [o.p_malignant for o in first.outcomes]
    assert all(o.reused for o in second.outcomes if o.status == "ok")


def test_stick_pulled_mid_scan_keeps_what_was_done(analyzer: Analyzer, demo_stick: Path) -> None:
    def pull_after_five(progress) -> None:
        if progress.done >= 5 and demo_stick.exists():  # rows are stored a few at a time
            shutil.rmtree(demo_stick)

    total = len(_files(demo_stick))
    summary = analyzer.scan(demo_stick, on_progress=pull_after_five)
    assert summary.status == "interrupted"
    assert "removed" in summary.message.lower()
    rows = analyzer.store.images(summary.scan_id)
    assert len(rows) == total  # the rest are listed as not analysed, with the reason
    assert sum(r.status == "ok" for r in rows) >= 4
    assert any(r.error == REMOVED_MESSAGE for r in rows)
    assert analyzer.store.scan(summary.scan_id).status == "interrupted"


def test_cancel_stops_and_is_recorded(analyzer: Analyzer, demo_stick: Path) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def cancel_after_three(progress) -> None:
        if progress.done >= 3 and not cancel.is_set():
            seen.append(progress.done)
            cancel.set()

    summary = analyzer.scan(demo_stick, cancel=cancel, on_progress=cancel_after_three)
    assert summary.status == "cancelled"
    # Everything shown before the cancel is stored, and nothing after it was analysed.
    assert len(analyzer.store.images(summary.scan_id)) == seen[0] < len(_files(demo_stick))


def test_link_out_of_the_stick_is_listed_not_followed(analyzer: Analyzer, tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    (stick / "case").mkdir(parents=True)
    outside = tmp_path / "secret.png"
    shutil.copy(
        next(Path(__file__).parent.parent.joinpath("demo/usb/patient-9077").glob("*.png")), outside
    )
    (stick / "case" / "link.png").symlink_to(outside)
    summary = analyzer.scan(stick)
    [outcome] = summary.outcomes
    assert outcome.status == "error" and "outside" in outcome.error


def test_a_store_failure_mid_scan_marks_the_scan_failed(
    analyzer: Analyzer, demo_stick: Path, monkeypatch
) -> None:
    from appliance.errors import StoreError

    written: list[int] = []
    original = analyzer.store.record_images

    def fail_on_second_batch(scan_id, rows):
        if written:
            raise StoreError("the disk is full")
        written.append(len(rows))
        return original(scan_id, rows)

    monkeypatch.setattr(analyzer.store, "record_images", fail_on_second_batch)
    with pytest.raises(StoreError):
        analyzer.scan(demo_stick)
    [scan] = analyzer.store.scans()
    assert scan.status == "failed" and "disk is full" in scan.message
    assert written[0] > 0 and scan.n_images == written[0]  # what was written before is kept


def test_scan_records_a_wrong_clock_and_throttling(analyzer: Analyzer, demo_stick: Path) -> None:
    """The conditions come from injectable probes: a clock before the build, a Pi whose
    firmware reports under-voltage during the scan (and clears its sticky bits by the end)."""
    from datetime import UTC, datetime

    from appliance.buildinfo import judge_clock

    info = demo_stick.parent / "build-info.json"
    info.write_text('{"built_at": "2026-11-30T12:00:00Z"}')
    analyzer.clock = lambda: judge_clock(now=datetime(2020, 1, 1, tzinfo=UTC), paths=(info,))
    flags = iter([0x0, 0x50005] + [0x0] * 200)
    analyzer.throttle_monitor = lambda: ThrottleMonitor(lambda: (next(flags), "/sys/fake"))
    summary = analyzer.scan(demo_stick)
    scan = analyzer.store.scan(summary.scan_id)
    assert scan.clock_believable is False and "EARLIER" in scan.clock_note
    assert scan.throttled_at_start == 0 and scan.throttled_at_end == 0
    assert scan.ran_throttled and summary.throttled_during == 0x5


def test_scan_on_a_machine_without_pi_flags(analyzer: Analyzer, demo_stick: Path) -> None:
    analyzer.throttle_monitor = lambda: ThrottleMonitor(lambda: None)
    scan = analyzer.store.scan(analyzer.scan(demo_stick).scan_id)
    assert scan.clock_believable is True
    assert scan.throttled_at_start is None and scan.throttled_during is None


# -- an empty stick says so ------------------------------------------------------------------------


def test_an_empty_stick_says_nothing_was_found_and_keeps_it(
    analyzer: Analyzer, tmp_path: Path
) -> None:
    stick = tmp_path / "EMPTY"
    stick.mkdir()
    summary = analyzer.scan(stick, label="EMPTY")
    assert summary.found_nothing and summary.status == "complete" and summary.outcomes == []
    assert summary.message.startswith("No images found on EMPTY; the stick is empty.")
    record = analyzer.store.scan(summary.scan_id)
    assert record.message == summary.message and record.n_images == 0


def test_a_stick_without_images_says_what_it_held(analyzer: Analyzer, tmp_path: Path) -> None:
    stick = tmp_path / "DOCS"
    (stick / "case1").mkdir(parents=True)
    for name in ("report.pdf", "case1/notes.txt", "case1/slide.svs"):
        (stick / name).write_bytes(b"x")
    (stick / ".DS_Store").write_bytes(b"x")
    summary = analyzer.scan(stick)
    assert summary.found_nothing
    assert "No images found on DOCS; it holds 3 files that are not images" in summary.message
    assert "1 hidden or system file" in summary.message
    assert ".png" in summary.message  # says which files would have been read
    assert analyzer.store.scan(summary.scan_id).message == summary.message


def test_a_stick_with_images_found_something(analyzer: Analyzer, demo_stick: Path) -> None:
    summary = analyzer.scan(demo_stick)
    assert not summary.found_nothing and summary.message is None


def test_cli_scan_of_an_empty_stick_prints_it_and_exits_3(tmp_path: Path, capsys) -> None:
    from appliance.cli import EXIT_NOTHING_FOUND, main
    from tests.conftest import TINY_BUNDLE

    stick = tmp_path / "BLANK"
    stick.mkdir()
    (stick / "readme.txt").write_text("hello")
    args = ["scan", str(stick), "--model", str(TINY_BUNDLE), "--db", str(tmp_path / "a.db")]
    assert main(args) == EXIT_NOTHING_FOUND == 3
    out = capsys.readouterr().out
    assert "No images found on BLANK; it holds 1 file that is not an image" in out
    assert main([*args, "--format", "json"]) == 3
    assert '"message": "No images found on BLANK' in capsys.readouterr().out


def test_each_scan_records_its_interpreter_and_thread_count(
    analyzer: Analyzer, demo_stick: Path
) -> None:
    summary = analyzer.scan(demo_stick)
    recorded = analyzer.store.scan(summary.scan_id).backend
    classifier = analyzer.classifier
    assert recorded == f"{classifier.backend_name}, {classifier.num_threads} threads"
    assert 1 <= classifier.num_threads <= 4  # nobody chose: every usable core, at most four
