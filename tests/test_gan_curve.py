"""``gan curve`` (FID/KID at every checkpoint), ``gan real`` (the GAN's real images) and what
``gan generate`` leaves for a classifier's card, on a tiny GAN trained for four steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tensorflow", reason="train: needs TensorFlow (the 'train' extra)")

from appliance.trainer import synthetic
from appliance.trainer.cli import main
from appliance.trainer.gan.config import GanConfig
from appliance.trainer.gan.curve import COLUMNS, read_tsv
from appliance.trainer.gan.real import real_samples, write_real_folder
from appliance.trainer.gan.training import (
    checkpoint_steps,
    generate_folder,
    load_generator,
    train_gan,
)
from appliance.trainer.train import TrainConfig, load_samples, make_split


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 16 px GAN, four generator steps, a checkpoint every two."""
    root = tmp_path_factory.mktemp("gan")
    rng = np.random.default_rng(0)
    images = np.clip(rng.normal(0.3, 0.2, size=(16, 16, 16, 3)), -1, 1).astype(np.float32)
    config = GanConfig(
        data=root / "unused",
        output=root / "run",
        image_size=16,
        latent_dim=8,
        width=4,
        batch_size=8,
        critic_steps=1,
        steps=4,
        sample_every=4,
        checkpoint_every=2,
    )
    train_gan(config, images, log=lambda _: None)
    return root / "run"


def _pngs(folder: Path, count: int, size: int = 16) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"real_{i}.png")
    return folder


def _extractors(tmp_path: Path) -> list[str]:
    """A tiny classifier (4 penultimate features) and a random-weight MobileNetV2 file."""
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    x = keras.layers.Dense(4, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.save(tmp_path / "float_model.keras")
    mobilenet = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), include_top=False, weights=None, pooling="avg"
    )
    mobilenet.save_weights(tmp_path / "mobilenet.weights.h5")
    return [
        "--classifier",
        str(tmp_path / "float_model.keras"),
        "--mobilenetv2",
        str(tmp_path / "mobilenet.weights.h5"),
        "--size",
        "32",
    ]


def test_curve_writes_one_row_per_checkpoint_per_extractor_and_a_plot(run, tmp_path, capsys):
    assert checkpoint_steps(run) == [2, 4]
    real = _pngs(tmp_path / "real", 12)
    tsv = tmp_path / "curve" / "fid.tsv"
    extractors = _extractors(tmp_path)
    code = main(
        ["gan", "curve", str(run), "--real", str(real), "-n", "10", "--out", str(tsv), *extractors]
    )
    assert code == 0
    points = read_tsv(tsv)
    assert [(p.step, p.extractor.split()[0]) for p in points] == [
        (2, "ImageNet"),
        (2, "classifier"),
        (4, "ImageNet"),
        (4, "classifier"),
    ]
    assert all(np.isfinite([p.fid, p.kid_mean, p.kid_std]).all() and p.fid > 0 for p in points)
    assert {(p.n_generated, p.n_real) for p in points} == {(10, 12)}
    assert tsv.read_text().splitlines()[0].split("\t") == list(COLUMNS)
    assert capsys.readouterr().out.startswith("step\textractor\tfid")
    assert tsv.with_suffix(".png").stat().st_size > 0


def test_a_checkpoint_step_is_loaded_and_generate_records_it(run, tmp_path):
    assert int(load_generator(run, 2).step.numpy()) == 2
    assert int(load_generator(run).step.numpy()) == 4
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at step 3 \(kept: \[2, 4\]\)"):
        load_generator(run, 3)
    folder = generate_folder(run, 3, tmp_path / "synthetic", step=2)
    manifest = json.loads((folder / synthetic.MANIFEST).read_text())
    assert manifest["step"] == 2 and manifest["n"] == 3 and manifest["label"] == 1
    summary = synthetic.generator_summary(tmp_path / "synthetic", {1: []})
    assert summary["1"]["gan_config_contents"]["image_size"] == 16


def _tiny_idc(root: Path, patients: int = 10) -> Path:
    for p in range(patients):
        for label in (0, 1):
            folder = root / str(20000 + p) / str(label)
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (50, 50), (200, 100 * label, 150)).save(
                    folder / f"{20000 + p}_idx5_x{i}_y1_class{label}.png"
                )
    return root


def test_real_writes_the_class_of_the_training_patients_only(tmp_path, capsys):
    data = _tiny_idc(tmp_path / "idc")
    config = GanConfig(data=data, output=tmp_path / "gan")
    split_config = TrainConfig(data=data, output=tmp_path)
    split = make_split(split_config, load_samples(split_config))
    files = write_real_folder(config, tmp_path / "real")
    expected = {s.path.name for s in split.train if s.label == 1}
    assert {f.name for f in files} == expected
    assert {f.name for f in (tmp_path / "real").iterdir()} == expected
    validation = {s.path.name for s in real_samples(config, "validation")}
    assert validation == {s.path.name for s in split.validation if s.label == 1}
    # the command reads a run folder's gan_config.json and samples -n of them
    (tmp_path / "gan").mkdir()
    (tmp_path / "gan" / "gan_config.json").write_text(config.to_json())
    out = tmp_path / "sample"
    assert main(["gan", "real", str(tmp_path / "gan"), "--out", str(out), "-n", "3"]) == 0
    assert len(list(out.iterdir())) == 3 and {f.name for f in out.iterdir()} <= expected
    assert "3 real images of class 1 (train patients)" in capsys.readouterr().out
    assert main(["gan", "real", str(tmp_path / "gan"), "--out", str(out), "-n", "999"]) == 2
    with pytest.raises(ValueError, match="unknown part"):
        real_samples(config, "test")


def test_sheet_shows_real_images_beside_each_named_sample_grid(run, tmp_path):
    """The tiny run wrote a 4 x 4 grid of 16 px samples at step 4; the sheet puts 16 real
    images (spread over the folder) to its left, both enlarged to one panel size."""
    from appliance.trainer.gan.sheet import GAP, PANEL, write_sheet

    real = _pngs(tmp_path / "real", 40)
    out = write_sheet(run, real, tmp_path / "sheet.png", [4])
    with Image.open(out) as sheet:
        assert sheet.size[0] == 2 * (PANEL + GAP)
        assert sheet.size[1] > PANEL
    assert (
        main(["gan", "sheet", str(run), "--real", str(real), "--out", str(out), "--steps", "3"])
        == 2
    )
    with pytest.raises(ValueError, match="holds 3 images"):
        write_sheet(run, _pngs(tmp_path / "few", 3), tmp_path / "x.png", [4])
