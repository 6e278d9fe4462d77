"""Report names never collide across databases or resets, and every face uses the same name."""

from __future__ import annotations

from pathlib import Path

from appliance.report.naming import (
    DATABASE_ID_SETTING,
    compact_time,
    database_id,
    report_filename,
    report_path,
    safe_device,
)
from appliance.store import Store


def _scan(store: Store) -> int:
    return store.start_scan(
        source="folder",
        volume_label="LAB",
        volume_path="/media/LAB",
        device="lab-pi",
        model_name="m",
        model_version="1",
        model_sha256="0" * 64,
        backend="litert",
        thresholds={},
    )


def test_two_databases_same_scan_id_different_names(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with Store.open(tmp_path / "a.db") as a, Store.open(tmp_path / "b.db") as b:
        assert _scan(a) == _scan(b) == 1
        first, second = report_path(a, reports, 1, "lab-pi"), report_path(b, reports, 1, "lab-pi")
        assert first != second and first.parent == second.parent == reports
        assert first.name.startswith("scan-1_") and first.name.endswith(".pdf")
        assert report_path(a, reports, 1, "lab-pi") == first  # stable: a rewrite replaces it


def test_a_reset_never_reuses_a_name(tmp_path: Path) -> None:
    database, reports = tmp_path / "appliance.db", tmp_path / "reports"
    with Store.open(database) as store:
        _scan(store)
        old = report_path(store, reports, 1, "lab-pi")
        old_id = database_id(store)
    database.unlink()
    for extra in ("-wal", "-shm"):
        Path(f"{database}{extra}").unlink(missing_ok=True)
    with Store.open(database) as store:  # the admin's reset: a new, empty database file
        _scan(store)
        new = report_path(store, reports, 1, "lab-pi")
        assert database_id(store) != old_id
    assert new != old


def test_database_id_is_created_once_and_audited(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db") as store:
        first = database_id(store)
        assert database_id(store) == first and len(first) == 32
        assert store.get_setting(DATABASE_ID_SETTING) == first
        changes = [e for e in store.audit_log() if e.event == "setting_changed"]
        assert len(changes) == 1


def test_name_parts() -> None:
    assert compact_time("2026-12-02T00:49:14.123+00:00") == "20261202T004914Z"
    assert compact_time("2026-12-02T01:49:14+01:00") == "20261202T004914Z"
    assert safe_device(" Lab Pi/2 ") == "Lab-Pi-2" and safe_device("///") == "appliance"
    name = report_filename(
        scan_id=7,
        started_at="2026-12-02T00:49:14.123+00:00",
        device="lab pi",
        database_id="ab" * 16,
    )
    assert name == "scan-7_20261202T004914Z_lab-pi_abababab.pdf"


def test_cli_report_uses_the_name(tmp_path: Path, capsys) -> None:
    from appliance.cli import main

    database, reports = tmp_path / "a.db", tmp_path / "reports"
    with Store.open(database) as store:
        _scan(store)
        store.finish_scan(1, "complete")
    config = tmp_path / "config.toml"
    config.write_text(f'database = "{database}"\nreports = "{reports}"\ndevice_name = "lab-pi"\n')
    assert main(["--config", str(config), "report", "1"]) == 0
    with Store.open(database) as store:
        expected = report_path(store, reports, 1, "lab-pi")
    assert expected.exists() and str(expected) in capsys.readouterr().out


def test_watch_goes_on_when_a_report_cannot_be_written(tmp_path: Path, capsys) -> None:
    from types import SimpleNamespace

    from appliance.watch import watch_report

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports folder should be")
    with Store.open(tmp_path / "a.db") as store:
        _scan(store)
        store.finish_scan(1, "complete")
        analyzer = SimpleNamespace(store=store, device="lab-pi")
        assert watch_report(analyzer, 1, blocker / "reports") is None
        written = watch_report(analyzer, 1, tmp_path / "reports")
    err = capsys.readouterr().err
    assert (
        "scan 1 is stored" in err and "histo-appliance report 1" in err and "Still watching" in err
    )
    assert written is not None and written.exists()
