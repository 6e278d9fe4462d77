"""`watch` when the report step fails: the scan's rows stay, the next stick is still scanned, and
the watcher ends only when told to. The analyzer is a stand-in writing real rows to a real store
(the model is not what this is about); the source, the report writer and the command are real."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance import cli
from appliance import runtime as runtime_module
from appliance.decision import Decision
from appliance.pipeline import ImageOutcome, ScanSummary
from appliance.report import pdf as pdf_module
from appliance.store import Store


class Card:
    name, version, sha256 = "stand-in", "1", "c" * 64


class StandInAnalyzer:
    """Records one row per image file of the stick, as the pipeline would, then returns."""

    def __init__(self, store: Store, after_scan: Callable[[int], None]) -> None:
        self.store, self.card, self.device = store, Card(), "pi-test"
        self.after_scan = after_scan
        self.scans = 0

    def scan(self, root: Path, *, label: str, source: str, on_progress=None) -> ScanSummary:
        scan_id = self.store.start_scan(
            source=source,
            volume_label=label,
            volume_path=str(root),
            device=self.device,
            model_name=self.card.name,
            model_version=self.card.version,
            model_sha256=self.card.sha256,
            backend=None,
            thresholds={"benign_below": 0.3, "malignant_at": 0.7},
        )
        outcomes = []
        for path in sorted(Path(root).iterdir()):
            image_id = self.store.record_image(
                scan_id,
                path=path.name,
                case="(root)",
                sha256=None,
                size_bytes=1,
                width=None,
                height=None,
                status="error",
                decision=None,
                p_malignant=None,
                error="not an image file",
                tiles=None,
                thumbnail=None,
                elapsed_ms=1.0,
            )
            outcomes.append(
                ImageOutcome(
                    path.name, "(root)", "error", Decision.UNASSESSABLE, None, "bad", image_id
                )
            )
        self.store.finish_scan(scan_id, "complete")
        self.scans += 1
        self.after_scan(self.scans)
        return ScanSummary(scan_id, "complete", None, outcomes)


@pytest.fixture
def watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `histo-appliance watch` in this process over two sticks; it is stopped (as SIGTERM
    would) once both are scanned. Returns (exit code, database path)."""
    port = tmp_path / "port"
    for stick in ("STICK_A", "STICK_B"):
        (port / stick).mkdir(parents=True)
        (port / stick / "a.png").write_bytes(b"not a png")
    database = tmp_path / "appliance.db"
    handlers: dict[int, Callable] = {}
    monkeypatch.setattr(signal, "signal", lambda num, handler: handlers.setdefault(num, handler))

    def stop_after_two(scans: int) -> None:
        if scans == 2:
            handlers[signal.SIGTERM](signal.SIGTERM, None)

    @contextlib.contextmanager
    def open_analyzer(config) -> Iterator[StandInAnalyzer]:
        with Store.open(config.database) as store:
            yield StandInAnalyzer(store, stop_after_two)

    monkeypatch.setattr(runtime_module, "open_analyzer", open_analyzer)
    monkeypatch.setenv("HISTO_APPLIANCE_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text(
        f'reports = "{tmp_path / "reports"}"\ndatabase = "{database}"\n'
    )

    def run() -> tuple[int, Path]:
        code = cli.main(["watch", "--mock-usb", str(port)])
        return code, database

    return run


def _check_both_scans_kept(database: Path) -> None:
    with Store.open(database) as store:
        scans = store.scans()
        assert sorted(s.volume_label for s in scans) == ["STICK_A", "STICK_B"]
        for scan in scans:
            assert [i.path for i in store.images(scan.id)] == ["a.png"]


def test_a_report_that_cannot_be_laid_out_does_not_stop_watching(
    watch, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reportlab.platypus.doctemplate import LayoutError

    def broken(*args: object, **kwargs: object) -> None:
        raise LayoutError("Flowable too large")

    monkeypatch.setattr(pdf_module.SimpleDocTemplate, "build", broken)
    code, database = watch()
    out, err = capsys.readouterr()
    assert code == 0
    assert err.count("is stored, but its report could not be written") == 2
    assert "could not be laid out (LayoutError)" in err
    assert "Still watching." in err
    assert "stopped cleanly" in out
    _check_both_scans_kept(database)


def test_any_error_in_the_report_step_does_not_stop_watching(
    watch, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> Path:
        raise RuntimeError("a bug in the report writer")

    monkeypatch.setattr("appliance.report.pdf.write_scan_report", broken)
    code, database = watch()
    _out, err = capsys.readouterr()
    assert code == 0
    assert err.count("is stored, but its report could not be written") == 2
    _check_both_scans_kept(database)
