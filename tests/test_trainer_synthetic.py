"""Issue 14's classifier options: ``--synthetic DIR --synthetic-ratio R`` (generated images in the
training part only) and ``--init-seed`` (initialisation apart from the patient split)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import tiny_idc

pytest.importorskip("tensorflow", reason="the trainer needs the 'train' extra")

from appliance.trainer import ensemble, synthetic, train
from appliance.trainer.cli import build_parser, config_from_args
from appliance.trainer.cli import main as train_main
from appliance.trainer.data import load_arrays
from appliance.trainer.train import (
    TrainConfig,
    load_samples,
    make_split,
    prepare_data,
    representative_set,
)

RUN_HEAVY = os.environ.get("HISTO_HEAVY_TESTS") == "1"
GREEN = (20, 220, 40)  # no real patch is this colour: a synthetic image is recognisable anywhere


def _tiny_idc(root: Path, patients: int = 10, per_class: int = 3) -> None:
    tiny_idc(root, patients, per_class)


def _generated(root: Path, counts: dict[int, int], gan_config: dict | None = None) -> Path:
    """A folder as ``gan generate`` writes it: ``root/<class>/synthetic_N.png`` + generator.json."""
    for label, count in counts.items():
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(np.full((50, 50, 3), GREEN, np.uint8)).save(
                folder / f"synthetic_{i:06d}.png"
            )
        if gan_config is not None:
            config_path = root.parent / "gan-run" / "gan_config.json"
            config_path.parent.mkdir(exist_ok=True)
            config_path.write_text(json.dumps(gan_config))
            manifest = {"run": str(config_path.parent), "gan_config": str(config_path), "step": 4}
            (folder / synthetic.MANIFEST).write_text(json.dumps(manifest))
    return root


@pytest.fixture
def idc(tmp_path: Path) -> Path:
    _tiny_idc(tmp_path / "idc")
    return tmp_path / "idc"


def _config(idc: Path, tmp_path: Path, **fields) -> TrainConfig:
    return TrainConfig(data=idc, output=tmp_path / "out", input_size=(32, 32), **fields)


def test_synthetic_images_join_the_training_part_only_at_the_ratio(idc, tmp_path):
    gan = {"data": str(idc), "layout": "idc", "split": [0.7, 0.15, 0.15], "seed": 42}
    folder = _generated(tmp_path / "synthetic", {1: 40}, gan)
    # one synthetic file is a copy of a real training patch: it must come out identical
    real = prepare_data(_config(idc, tmp_path), log=lambda _: None)
    shutil.copy(real.split.train[-1].path, folder / "1" / "synthetic_000000.png")

    config = _config(idc, tmp_path, synthetic=folder, synthetic_ratio=0.5)
    data = prepare_data(config, log=lambda _: None)
    positives = int((data.y_train == 1).sum())
    assert positives > 0
    assert len(data.synthetic.images) == round(0.5 * positives)
    assert set(data.synthetic.labels.tolist()) == {1}
    # validation, test and the real training part are what they are without --synthetic
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(data, name), getattr(real, name))
    assert data.split == real.split
    # the fit sees real + synthetic; the int8 representative set sees no synthetic image
    x, y = synthetic.training_arrays(data)
    assert len(x) == len(data.x_train) + len(data.synthetic.images) and len(y) == len(x)
    green = data.synthetic.images[1]
    assert not any(np.allclose(image, green) for image in data.x_train)
    everything = representative_set(dataclasses.replace(config, representative=10**6), data.x_train)
    assert len(everything) == len(data.x_train)
    # the same reader and preprocessing as a real patch
    expected, _ = load_arrays([real.split.train[-1]], (32, 32), "minus_one_to_one")
    np.testing.assert_array_equal(data.synthetic.images[0], expected[0])
    # what the card records
    entry = synthetic.card_entry(data.synthetic)["synthetic"]
    assert entry["folder"] == str(folder) and entry["ratio"] == 0.5
    assert entry["added"] == {"IDC": round(0.5 * positives)}
    assert entry["real_training"] == {"IDC": positives} and entry["available"] == {"IDC": 40}
    assert entry["generator"]["1"]["gan_config_contents"]["seed"] == 42
    assert entry["same_patient_split"] is True
    assert synthetic.card_entry(None) == {}


def test_ratio_counts_per_class_and_a_gan_of_another_split_is_flagged(idc, tmp_path):
    gan = {"data": str(idc), "layout": "idc", "split": [0.7, 0.15, 0.15], "seed": 7}
    folder = _generated(tmp_path / "synthetic", {0: 30, 1: 30}, gan)
    lines: list[str] = []
    data = prepare_data(_config(idc, tmp_path, synthetic=folder), log=lines.append)
    record = data.synthetic.record
    real = {"non-IDC": int((data.y_train == 0).sum()), "IDC": int((data.y_train == 1).sum())}
    assert record.added == real == record.real_training
    assert np.bincount(data.synthetic.labels).tolist() == [real["non-IDC"], real["IDC"]]
    assert record.same_patient_split is False and any("WARNING" in line for line in lines)


def test_refuses_an_empty_folder_a_ratio_beyond_it_and_what_it_cannot_honour(idc, tmp_path):
    empty = tmp_path / "empty"
    (empty / "1").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        _config(idc, tmp_path, synthetic=empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _config(idc, tmp_path, synthetic=tmp_path / "missing")
    folder = _generated(tmp_path / "synthetic", {1: 5})
    with pytest.raises(ValueError, match="holds 5"):
        prepare_data(_config(idc, tmp_path, synthetic=folder, synthetic_ratio=2.0), log=print)
    with pytest.raises(ValueError, match="above 0"):
        _config(idc, tmp_path, synthetic=folder, synthetic_ratio=0.0)
    with pytest.raises(ValueError, match="threshold-folds"):
        _config(idc, tmp_path, synthetic=folder, threshold_folds=3)
    named = tmp_path / "named"
    _generated(named, {1: 2})
    (named / "1").rename(named / "IDC")
    with pytest.raises(ValueError, match="class index"):
        _config(idc, tmp_path, synthetic=named)
    # the command line says so and exits 2, before reading any data
    code = train_main(
        ["--data", str(idc), "--output", str(tmp_path / "o"), "--synthetic", str(empty)]
    )
    assert code == 2


def _args(*words: str):
    return config_from_args(build_parser().parse_args(["--data", "d", "--output", "o", *words]))


def test_init_seed_defaults_to_the_split_seed_and_only_moves_the_initialisation(idc, tmp_path):
    default = _args("--seed", "7")
    assert default.init_seed is None and default.fit_seed == 7
    chosen = _args("--seed", "7", "--init-seed", "3", "--synthetic-ratio", "0.5")
    assert chosen.seed == 7 and chosen.fit_seed == 3 and chosen.synthetic_ratio == 0.5
    # the patient split is the --seed's whatever the init seed
    samples = load_samples(_config(idc, tmp_path))
    same = make_split(_config(idc, tmp_path, seed=7), samples)
    assert make_split(_config(idc, tmp_path, seed=7, init_seed=3), samples) == same
    # a saved config.json brings both back (the synthetic folder as a path)
    folder = _generated(tmp_path / "synthetic", {1: 2})
    saved = tmp_path / "config.json"
    fields = {"data": str(idc), "output": "o", "init_seed": 3, "synthetic": str(folder)}
    saved.write_text(json.dumps(fields))
    again = TrainConfig.from_json(saved)
    assert again.fit_seed == 3 and again.synthetic == folder


@pytest.mark.parametrize(("init_seed", "expected"), [(None, [7, 8]), (3, [3, 4])])
def test_ensemble_members_take_init_seed_onwards_and_keep_the_split_seed(
    tmp_path, init_seed, expected
):
    import keras

    seen: list[tuple[int, int]] = []

    def fake_fit(member, data, log):
        seen.append((member.seed, member.fit_seed))
        Path(member.output).mkdir(parents=True)
        inputs = keras.Input((2,))
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs)), {
            "history": {}
        }

    config = TrainConfig(
        data=tmp_path, output=tmp_path / "run", seed=7, init_seed=init_seed, ensemble=2
    )
    _, record = ensemble.fit_members(config, None, lambda _: None, fake_fit)
    assert seen == [(7, s) for s in expected] and record["ensemble"]["seeds"] == expected


class _Stop(Exception):
    """Ends fit() once its training dataset is built: what it was built from is the point."""


def test_fit_trains_on_real_plus_synthetic_shuffled_with_the_init_seed(idc, tmp_path, monkeypatch):
    folder = _generated(tmp_path / "synthetic", {1: 40})
    config = _config(idc, tmp_path, synthetic=folder, seed=7, init_seed=3)
    data = prepare_data(config, log=lambda _: None)
    seen: dict = {}

    class Dataset:
        def __init__(self, tensors):
            seen["labels"] = tensors[1]

        def shuffle(self, size, seed):
            seen.update(size=size, seed=seed)
            raise _Stop

    monkeypatch.setattr(train.tf.data.Dataset, "from_tensor_slices", Dataset)
    with pytest.raises(_Stop):
        train.fit(config, data, log=lambda _: None)
    assert seen["size"] == len(data.x_train) + len(data.synthetic.images) and seen["seed"] == 3
    assert int(seen["labels"].sum()) == int(data.y_train.sum()) + len(data.synthetic.labels)


@pytest.mark.train
@pytest.mark.skipif(not RUN_HEAVY, reason="a whole tiny run (~30 s CPU): set HISTO_HEAVY_TESTS=1")
def test_a_run_with_synthetic_images_records_them_and_its_init_seed_in_the_card(idc, tmp_path):
    folder = _generated(tmp_path / "synthetic", {1: 40})
    out = tmp_path / "run"
    words = (
        f"--data {idc} --output {out} --alpha 0.35 --input-size 32 --head-epochs 0 --epochs 1"
        f" --batch-size 16 --representative 10 --test-time-augmentation none --no-plots"
        f" --synthetic {folder} --synthetic-ratio 1 --init-seed 5"
    )
    assert train_main(words.split()) == 0
    card = json.loads((out / "card.json").read_text())
    data = card["training_data"]
    assert data["synthetic"]["added"] == {"IDC": data["counts"]["train"]["positive"]}
    assert data["seed"] == 42 and card["provenance"]["init_seed"] == 5
    assert "synthetic" not in data["test_patients"] + data["validation_patients"]
    assert card["metrics"]["test_int8"]["n"] == data["counts"]["test"]["images"]
