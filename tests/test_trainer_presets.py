"""Every training preset builds, fits a step, exports full-int8 and runs in the appliance's
LiteRT backend; the recipe pieces (two learning rates, MSE loss, ImageNet adapters) are exact."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the trainer needs the 'train' extra")

import keras

from appliance.inference.backends import LiteRTBackend
from appliance.preprocess import SCALINGS
from appliance.trainer.export import to_int8_tflite
from appliance.trainer.presets import (
    PRESETS,
    SparseMeanSquaredError,
    _adapter,
    get_preset,
    two_rate_optimizer,
)

pytestmark = pytest.mark.train

# Tiny inputs: 32 px is the smallest DenseNet201/NASNetMobile/ResNet accept without a top.
SMOKE_SIZE = {name: 32 for name in PRESETS}
SMOKE_SIZE["resnet50"] = (32, 48)  # the paper's input is not square (144x96); keep that path


def _tiny_images(n: int, size: tuple[int, int], scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """Pink (class 0) and purple (class 1) noisy images, scaled as the preset expects."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    colours = np.where(labels[:, None], [120, 60, 150], [230, 170, 200])
    pixels = np.clip(colours[:, None, None] + rng.integers(-25, 25, (n, *size, 3)), 0, 255)
    unit = pixels.astype(np.float32) / 255.0
    return (unit if scaling == "zero_to_one" else unit * 2 - 1), labels.astype(np.int32)


# The ImageNet-sized backbones take minutes each to build, fit one step and convert to int8 on 2
# CPUs (multiscale: 66M parameters; mostly graph tracing and int8 conversion) and push the suite
# past 12 minutes, too close to CI's limit; HISTO_HEAVY_TESTS=1 runs them (they pass: see
# docs/developer.md). Every preset also runs end to end on real data in scripts/study.sh.
HEAVY = {"multiscale", "resnet152v2-head", "resnet50", "resnet50-mse-rmsprop"}
RUN_HEAVY = os.environ.get("HISTO_HEAVY_TESTS") == "1"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n,
            marks=pytest.mark.skipif(
                n in HEAVY and not RUN_HEAVY, reason="heavy preset: set HISTO_HEAVY_TESTS=1"
            ),
        )
        for n in PRESETS
    ],
)
def test_preset_fits_exports_int8_and_runs_in_the_appliance(name: str, tmp_path: Path) -> None:
    preset = PRESETS[name]
    assert preset.scaling in SCALINGS and preset.scaling != "raw"
    size = SMOKE_SIZE[name]
    hw = (size, size) if isinstance(size, int) else size
    keras.utils.set_random_seed(preset.seed)
    model, base = preset.build(size, n_classes=2, weights=None)
    assert not preset.is_pretrained(None)
    assert model.input_shape == (None, *hw, 3) and model.output_shape == (None, 2)
    assert base.trainable_weights  # from scratch: never a frozen random backbone
    x, y = _tiny_images(8, hw, preset.scaling)
    preset.compile(model, base, steps_per_epoch=1)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=preset.callbacks())
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))

    tflite = to_int8_tflite(model, x)
    path = tmp_path / "model.tflite"
    path.write_bytes(tflite)
    backend = LiteRTBackend(path, num_threads=1)
    assert backend.input_dtype == np.int8
    probabilities = backend.predict(x, preset.scaling)
    assert probabilities.shape == (8, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=0.02)
    assert (probabilities >= 0).all()
    # Parity: the appliance's int8 answer stays close to the float model's on the same inputs.
    float_probabilities = model.predict(x, verbose=0)
    assert np.abs(float_probabilities - probabilities).max() < 0.1


def test_registry_names_recipes_and_overrides() -> None:
    assert {"wrn-28-2", "resnet50", "resnet152v2-head", "multiscale", "mobilenetv2"} <= set(PRESETS)
    wrn = PRESETS["wrn-28-2"]
    assert (wrn.optimizer.new_layers_lr, wrn.optimizer.backbone_lr) == (1e-2, 1e-3)
    assert (wrn.optimizer.l2, wrn.optimizer.batch_size, wrn.seed) == (1e-4, 32, 42)
    assert PRESETS["resnet152v2-head"].input_size == (256, 256)
    assert PRESETS["resnet152v2-head"].optimizer.batch_size == 128
    multiscale = PRESETS["multiscale"]
    assert multiscale.early_stopping_patience == 10
    assert multiscale.optimizer.lr_decay == "exponential"
    assert [type(c).__name__ for c in multiscale.callbacks()] == ["EarlyStopping"]
    variant = PRESETS["resnet50-mse-rmsprop"]
    assert (variant.optimizer.algorithm, variant.optimizer.loss) == ("rmsprop", "mse")
    changed = get_preset("wrn-28-2", batch_size=8, epochs=3, input_size=64)
    assert (changed.optimizer.batch_size, changed.epochs, changed.input_size) == (8, 3, (64, 64))
    assert changed.optimizer.new_layers_lr == 1e-2 and PRESETS["wrn-28-2"].epochs == 100
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("vgg16")


def test_local_weights_are_loaded_and_batchnorm_stays_frozen(tmp_path: Path) -> None:
    _, donor = PRESETS["wrn-28-2"].build(32)
    file = tmp_path / "wrn.weights.h5"
    donor.save_weights(file)
    preset = PRESETS["wrn-28-2"]
    _, base = preset.build(32, weights=file)
    assert preset.is_pretrained(file)
    for a, b in zip(donor.get_weights(), base.get_weights(), strict=True):
        assert np.array_equal(a, b)
    from appliance.trainer.presets import set_trainable

    set_trainable(base, True, pretrained=True)
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)
    set_trainable(base, True, pretrained=False)
    assert all(layer.trainable for layer in norms)
    with pytest.raises(FileNotFoundError):
        preset.build(32, weights=tmp_path / "missing.weights.h5")


@pytest.mark.parametrize(
    ("mode", "reference"),
    [
        ("caffe", keras.applications.resnet50.preprocess_input),
        ("torch", keras.applications.densenet.preprocess_input),
        ("tf", keras.applications.nasnet.preprocess_input),
    ],
)
@pytest.mark.parametrize("scaling", ["zero_to_one", "minus_one_to_one"])
def test_imagenet_adapter_matches_keras_preprocessing(mode, reference, scaling) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (2, 5, 5, 3)).astype(np.float32)
    scaled = pixels / 255.0 if scaling == "zero_to_one" else pixels / 127.5 - 1.0
    inputs = keras.Input((5, 5, 3))
    adapter = keras.Model(inputs, _adapter(inputs, mode, scaling, "t"))
    expected = reference(pixels.copy())
    assert np.allclose(adapter.predict(scaled, verbose=0), expected, atol=1e-3)
    assert not adapter.trainable_weights


def test_two_learning_rates_move_backbone_and_head_by_their_ratio() -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    base = keras.Sequential([keras.layers.Dense(8)], name="base")
    outputs = keras.layers.Dense(2, activation="softmax")(base(inputs))
    model = keras.Model(inputs, outputs)
    slow = {v.path for v in base.weights}
    model.compile(two_rate_optimizer("adam", 1e-2, slow, 0.1), "sparse_categorical_crossentropy")
    head_before, base_before = model.layers[-1].kernel.numpy(), base.layers[0].kernel.numpy()
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    model.train_on_batch(x, np.arange(16) % 2)
    # Adam's first step moves each weight by about the learning rate.
    head_step = np.median(np.abs(model.layers[-1].kernel.numpy() - head_before))
    base_step = np.median(np.abs(base.layers[0].kernel.numpy() - base_before))
    assert head_step == pytest.approx(1e-2, rel=0.2)
    assert base_step == pytest.approx(1e-3, rel=0.2)


def test_sparse_mse_is_mse_on_one_hot_labels() -> None:
    predictions = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]], np.float32)
    labels = np.array([0, 0, 1])
    expected = np.mean((np.eye(2)[labels] - predictions) ** 2)
    assert float(SparseMeanSquaredError()(labels, predictions)) == pytest.approx(expected)


def test_overrides_reach_the_network() -> None:
    narrow, _ = get_preset("mobilenetv2", alpha=0.35).build(32)
    wide, _ = PRESETS["mobilenetv2"].build(32)
    assert narrow.count_params() < wide.count_params() / 3
    regularised, _ = PRESETS["wrn-28-2"].build(32)
    plain, _ = get_preset("wrn-28-2", l2=0.0).build(32)
    assert len(regularised.losses) > 20 and not plain.losses
