"""Dataset loaders (BreakHis, BACH) and the patient-wise k-fold / flagged image-wise splits."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.trainer.data import Sample, image_wise_split, patient_kfold
from appliance.trainer.loaders import (
    BREAKHIS_SUBTYPES,
    BreakHisSample,
    arrange_breakhis_tree,
    load_bach,
    load_breakhis,
    parse_breakhis_name,
)
from tests.conftest import shared_path


def _breakhis_tree(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    """The shared BreakHis samples symlinked into the dataset's real folder layout."""
    source = shared_path("data", "breakhis-samples")
    with (source / "manifest.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return arrange_breakhis_tree(source, tmp_path), rows


def test_breakhis_labels_patients_and_magnifications_match_the_manifest(tmp_path: Path) -> None:
    root, rows = _breakhis_tree(tmp_path)
    samples = load_breakhis(root)
    assert len(samples) == len(rows) == 19
    by_name = {s.path.name: s for s in samples}
    for row in rows:
        sample = by_name[row["file"]]
        assert isinstance(sample, BreakHisSample) and isinstance(sample, Sample)
        assert sample.label == (row["class"] == "M")
        assert sample.patient == row["patient"]
        assert sample.magnification == int(row["mag"])
        assert sample.subtype == row["subtype"]
        assert sample.path.is_file()
    assert len({s.patient for s in samples}) == len({r["patient"] for r in rows})


def test_breakhis_subtype_labels_and_magnification_filter(tmp_path: Path) -> None:
    root, rows = _breakhis_tree(tmp_path)
    codes = list(BREAKHIS_SUBTYPES)
    subtypes = load_breakhis(root, labels="subtype")
    assert {s.label for s in subtypes} == {codes.index(r["subtype"]) for r in rows}
    assert all(codes[s.label] == s.subtype for s in subtypes)
    assert all((s.label >= 4) == (s.subtype in ("DC", "LC", "MC", "PC")) for s in subtypes)
    at_40 = load_breakhis(root, magnifications={40})
    assert len(at_40) == sum(r["mag"] == "40" for r in rows)
    others = load_breakhis(root, magnifications=(100, 200, 400))
    assert len(at_40) + len(others) == len(rows)
    with pytest.raises(ValueError):
        load_breakhis(root, magnifications={50})


def test_breakhis_refuses_a_misfiled_image(tmp_path: Path) -> None:
    folder = tmp_path / "benign" / "SOB" / "adenosis" / "p" / "100X"
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "SOB_M_DC-14-2523-100-001.png")
    with pytest.raises(ValueError, match="malignant"):
        load_breakhis(tmp_path)


def test_breakhis_file_name_grammar() -> None:
    assert parse_breakhis_name("SOB_M_DC-14-2523-400-010.png") == {
        "malignant": 1,
        "subtype": "DC",
        "patient": "14-2523",
        "magnification": 400,
        "sequence": 10,
    }
    assert parse_breakhis_name("10253_idx5_x1_y1_class0.png") is None


def test_bach_classes_and_one_group_per_image(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("Normal", "Benign", "InSitu", "Invasive"):
        (tmp_path / name).mkdir()
        for i in range(2):
            pixels = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{name[:2].lower()}00{i}.tif")
    samples = load_bach(tmp_path)
    assert [s.label for s in samples] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert len({s.patient for s in samples}) == len(samples)
    assert [s.label for s in load_bach(tmp_path, binary=True)] == [0, 0, 0, 0, 1, 1, 1, 1]


def _synthetic(n_patients: int = 23) -> list[Sample]:
    rng = np.random.default_rng(3)
    return [
        Sample(Path(f"{p}_{i}.png"), int(rng.uniform() < 0.4), f"P{p}")
        for p in range(n_patients)
        for i in range(int(rng.integers(3, 12)))
    ]


def test_patient_kfold_is_patient_disjoint_and_covers_everyone() -> None:
    samples = _synthetic()
    folds = patient_kfold(samples, k=5, seed=7)
    assert len(folds) == 5
    tested: list[str] = []
    for train, test in folds:
        assert not {s.patient for s in train} & {s.patient for s in test}
        assert len(train) + len(test) == len(samples)
        tested += sorted({s.patient for s in test})
    assert sorted(tested) == sorted({s.patient for s in samples})
    assert patient_kfold(samples, 5, 7) == folds
    with pytest.raises(ValueError):
        patient_kfold(samples[:3], k=5)


def test_image_wise_split_refuses_without_the_flag_and_warns_with_it() -> None:
    samples = _synthetic()
    with pytest.raises(ValueError, match="leak"):
        image_wise_split(samples)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split = image_wise_split(samples, (0.7, 0.15, 0.15), 1, i_understand_this_leaks=True)
    assert any("patient" in str(w.message) for w in caught)
    assert sorted(map(str, (s.path for part in split.parts().values() for s in part))) == sorted(
        str(s.path) for s in samples
    )
    # The point of the flag: patients do end up on both sides.
    assert {s.patient for s in split.train} & {s.patient for s in split.test}
