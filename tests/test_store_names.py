"""Every listed file gets a row, whatever its name (issue 10): names that are not valid UTF-8 are
stored as their exact bytes and shown with U+FFFD, and no text a stick can carry stops a write."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from appliance.store import Store
from appliance.store.names import display, raw_bytes, storable
from tests.conftest import start_test_scan


@pytest.fixture()
def store(tmp_path: Path):
    with Store.open(tmp_path / "appliance.db") as opened:
        yield opened


def _record(store: Store, scan_id: int, path: str, case: str, error: str | None = None) -> int:
    return store.record_image(
        scan_id,
        path=path,
        case=case,
        sha256=None if error else "3" * 64,
        size_bytes=1,
        width=None if error else 1,
        height=None if error else 1,
        status="error" if error else "ok",
        decision="unassessable" if error else "benign",
        p_malignant=None if error else 0.2,
        error=error,
        tiles=None,
        thumbnail=None,
        elapsed_ms=None,
    )


def test_a_name_listed_from_an_old_stick_is_stored_exactly(store: Store, tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    folder = os.path.join(os.fsencode(stick), b"Fall\xfc")  # Latin-1 "Fallü"
    os.makedirs(folder)
    with open(os.path.join(folder, b"caf\xe9.png"), "wb") as handle:
        handle.write(b"not really a png")
    case = os.listdir(stick)[0]
    name = os.listdir(stick / case)[0]
    assert case == "Fall\udcfc" and name == "caf\udce9.png"  # how Python lists such names
    relpath = f"{case}/{name}"
    scan_id = start_test_scan(store, label="OLD\udcff", volume_path=str(stick))
    image_id = _record(store, scan_id, relpath, case, error=f"cannot decode {relpath}")
    later_id = _record(store, scan_id, "Fall2/next.png", "Fall2")  # the scan goes on
    store.finish_scan(scan_id, "complete", f"done with {relpath}")

    image = store.image(image_id)
    assert image.path == "Fall\ufffd/caf\ufffd.png" and image.case == "Fall\ufffd"
    assert image.path_bytes == b"Fall\xfc/caf\xe9.png" and image.case_bytes == b"Fall\xfc"
    assert (stick / os.fsdecode(image.path_bytes)).is_file()  # the file can be found again
    assert image.error == "cannot decode Fall\ufffd/caf\ufffd.png"
    assert store.image(later_id).path_bytes == b"Fall2/next.png"
    scan = store.scan(scan_id)
    assert scan.volume_label == "OLD\ufffd" and scan.n_images == 2
    assert scan.message == "done with Fall\ufffd/caf\ufffd.png"
    entry = next(e for e in store.audit_log() if e.image_id == image_id)
    assert entry.payload["path"] == "Fall\ufffd/caf\ufffd.png"
    assert [s.id for s in store.scans(search="caf\udce9")] == [scan_id]
    assert [s.id for s in store.scans(search="Fall\ufffd")] == [scan_id]


@pytest.mark.parametrize(
    "name",
    ["plain.png", "größe.png", "\ud800lone.png", "a\x00b.png", "x" * 5000, "emoji-\U0001f9ea.png"],
)
def test_any_str_is_accepted_and_kept(store: Store, name: str) -> None:
    scan_id = start_test_scan(store)
    image = store.image(_record(store, scan_id, f"case/{name}", "case"))
    assert image.path_bytes == raw_bytes(f"case/{name}")
    assert image.path == display(f"case/{name}")
    assert image.path.encode("utf-8")  # always valid text for tables, GUI and PDF


def test_display_and_bytes_helpers() -> None:
    assert raw_bytes("caf\udce9") == b"caf\xe9" and display("caf\udce9") == "caf\ufffd"
    assert display(b"caf\xe9") == "caf\ufffd"
    assert storable("ok") == "ok" and storable(3) == 3 and storable(None) is None
    assert storable("x\udcff") == "x\ufffd"


def test_rows_from_before_schema_4_still_give_their_bytes(store: Store) -> None:
    scan_id = start_test_scan(store)
    conn = sqlite3.connect(store.path)
    conn.execute(
        "INSERT INTO images (scan_id, path, case_name, status, decision, p_malignant,"
        " created_at) VALUES (?, 'c/old.png', 'c', 'ok', 'benign', 0.1, 'then')",
        (scan_id,),
    )
    conn.commit()
    conn.close()
    [old] = store.images(scan_id)
    assert old.path_raw is None and old.path_bytes == b"c/old.png" and old.case_bytes == b"c"


HOSTILE = "x'); DROP TABLE images; --\" OR 1=1 %_\\"


def test_sql_text_from_a_stick_is_only_ever_a_value(store: Store) -> None:
    """Every value is a bound parameter: quotes, comment marks and LIKE wildcards in a name or
    a search are stored and matched as plain text."""
    scan_id = start_test_scan(store, label=HOSTILE)
    image_id = _record(store, scan_id, f"{HOSTILE}/{HOSTILE}.png", HOSTILE, error=HOSTILE)
    store.finish_scan(scan_id, "failed", HOSTILE)
    store.set_setting(HOSTILE, HOSTILE, actor=HOSTILE)
    store.add_review(image_id, reviewer=HOSTILE, agreed=False, corrected_decision="benign",
                     note=HOSTILE)  # fmt: skip
    assert store.image(image_id).path == f"{HOSTILE}/{HOSTILE}.png"
    assert store.scan(scan_id).message == HOSTILE and store.get_setting(HOSTILE) == HOSTILE
    assert [s.id for s in store.scans(search=HOSTILE)] == [scan_id]
    plain = start_test_scan(store, label="PLAIN")
    assert [s.id for s in store.scans(search="%")] == [scan_id]  # a literal %, not "anything"
    assert [s.id for s in store.scans(search="")] == [plain, scan_id]
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
    assert {"images", "scans", "audit"} <= tables
