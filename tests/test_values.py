"""Value types cross the store boundary typed: what a scan recorded, tile maps, outcomes."""

from __future__ import annotations

import json
from pathlib import Path

from appliance.decision import Decision
from appliance.store import Store
from appliance.values import ImageOutcome, ScanRules, Thresholds, TileMap
from tests.conftest import start_test_scan

CARD = Thresholds(0.3, 0.0588, 0.5794, (0.02, 0.98))
SCOPE = (("Smallest image side", "64 px"), ("Focus (sharpness)", "at least 12"))


def test_scan_rules_round_trip_through_the_store(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db") as store:
        scan_id = start_test_scan(store, thresholds=ScanRules(CARD, SCOPE))
        record = store.scan(scan_id)
    assert record.rules == ScanRules(CARD, SCOPE)
    assert record.thresholds == CARD  # the cut-offs this scan used, at their own precision
    assert record.rules.describe() == CARD.describe()
    assert "benign below 0.0588, malignant from 0.5794" in record.rules.describe()
    assert (
        record.rules.describe_scope()
        == "Smallest image side: 64 px; Focus (sharpness): at least 12"
    )


def test_rows_older_releases_wrote_are_read() -> None:
    first_release = {"benign_below": 0.3, "malignant_at": 0.7, "operating_point": 0.5}
    rules = ScanRules.from_dict(first_release)
    assert rules.thresholds == Thresholds(0.5, 0.3, 0.7)  # default allowed range
    assert rules.scope is None and rules.partial == ()
    assert rules.describe_scope().startswith("none recorded")
    with_scope = ScanRules.from_dict({**first_release, "scope": [list(line) for line in SCOPE]})
    assert with_scope.scope == SCOPE


def test_what_does_not_make_cut_offs_is_kept_not_hidden() -> None:
    rules = ScanRules.from_dict({"malignant_at": 0.7})  # a damaged or hand-made row
    assert rules.thresholds is None
    assert rules.partial == (("malignant_at", "0.7"),)
    assert rules.describe() == "partly recorded: malignant_at 0.7"
    no_point = ScanRules.from_dict({"benign_below": 0.3, "malignant_at": 0.7})
    assert no_point.thresholds is not None and no_point.thresholds.malignant_at == 0.7
    assert ("operating_point", "not recorded") in no_point.partial
    for nothing in (None, [], "x", {}):
        assert ScanRules.from_dict(nothing).describe() == "not recorded"
    assert ScanRules.from_dict({"benign_below": "0.3", "malignant_at": True}).thresholds is None


def test_tile_maps_read_back_typed_and_a_damaged_one_reads_as_none(tmp_path: Path) -> None:
    tiles = TileMap(224, 112, 448, 224, ((0, 0), (112, 0)), (0.9, 0.2), 3, ((224, 0),))
    with Store.open(tmp_path / "a.db") as store:
        scan_id = start_test_scan(store)
        ids = [
            store.record_image(
                scan_id,
                path=f"c/{n}.png",
                case="c",
                sha256=None,
                size_bytes=1,
                width=448,
                height=224,
                status="ok",
                decision="malignant",
                p_malignant=0.9,
                error=None,
                tiles=value,
                thumbnail=None,
                elapsed_ms=1.0,
            )
            for n, value in enumerate((tiles, {"tiles": [{"p": 0.9}]}, None))
        ]
        typed, damaged, none = (store.image(i) for i in ids)
    assert typed.tiles == tiles
    assert damaged.tiles is None and damaged.p_malignant == 0.9  # the row is all there
    assert none.tiles is None


def test_an_outcome_is_valid_json_for_any_name() -> None:
    outcome = ImageOutcome("case/caf\udce9.png", "case", "ok", Decision.BENIGN, 0.1234567, None, 7)
    data = outcome.to_json()
    json.dumps(data)
    assert (
        data["path"] == "case/caf\ufffd.png"
        and data["path_bytes_hex"] == "636173652f636166e92e706e67"
    )
    assert data["p_malignant"] == 0.123457
    assert outcome.effective_decision is Decision.BENIGN
