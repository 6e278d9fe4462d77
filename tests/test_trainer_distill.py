"""Distillation end to end on a tiny teacher and synthetic patches, in a few seconds: the KD loss
is finite and behaves, the teacher's soft labels are cached and reused, the student is exported
int8 into a bundle the appliance loads, on the teacher's own test patients."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")

from appliance.inference import Classifier, ModelBundle  # noqa: E402
from appliance.trainer import data as datasets  # noqa: E402
from appliance.trainer import distill, presets  # noqa: E402
from tests.conftest import TINY_BUNDLE  # noqa: E402

PATIENTS = [str(100 + i) for i in range(10)]


def _idc_folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    for patient in PATIENTS:
        for label in (0, 1):
            folder = root / patient / str(label)
            folder.mkdir(parents=True)
            base = np.array([120, 60, 150]) if label else np.array([230, 170, 200])
            for i in range(2):
                pixels = np.clip(base + rng.normal(0, 20, (50, 50, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{patient}_idx5_x{i}_y{i}_class{label}.png")


def _teacher(tmp_path: Path, data: Path) -> Path:
    """The tiny bundle as a teacher whose card records this folder's split."""
    target = tmp_path / "teacher"
    shutil.copytree(TINY_BUNDLE, target)
    card = json.loads((target / "card.json").read_text())
    split = datasets.patient_split(datasets.load_idc(data), (0.6, 0.2, 0.2), 7)
    card["labels"], card["malignant_label"] = ["non-IDC", "IDC"], "IDC"
    card["training_data"] = {
        "fractions": [0.6, 0.2, 0.2],
        "seed": 7,
        "test_patients": sorted({s.patient for s in split.test}),
    }
    (target / "card.json").write_text(json.dumps(card))
    return target


def test_kd_loss_is_finite_and_prefers_the_teacher() -> None:
    loss = distill.kd_loss(temperature=4.0, alpha=0.7, classes=2)
    targets = tf.constant([[0.0, 1.0, 0.3, 0.7]])
    near = float(loss(targets, tf.constant([[0.3, 0.7]]))[0])
    far = float(loss(targets, tf.constant([[0.95, 0.05]]))[0])
    assert np.isfinite(near) and np.isfinite(far) and near < far
    only_hard = distill.kd_loss(4.0, 0.0, 2)
    assert float(only_hard(targets, tf.constant([[0.5, 0.5]]))[0]) == pytest.approx(np.log(2))


def _tiny_builder(size, n_classes, weights, **_):
    """A few thousand weights: the pipeline is under test here, not MobileNet."""
    keras = tf.keras
    inputs = keras.Input((*size, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv")(inputs)
    base = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="pool")(x), name="base")
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(
        base(inputs)
    )
    return keras.Model(inputs, outputs, name="tiny_classifier"), base


@pytest.fixture
def tiny_preset(monkeypatch: pytest.MonkeyPatch) -> str:
    optimizer = presets.OptimizerSettings(new_layers_lr=1e-2, backbone_lr=1e-2, batch_size=16)
    preset = presets.Preset(
        "tiny", "tiny test network", (32, 32), "minus_one_to_one", optimizer, 1, _tiny_builder
    )
    monkeypatch.setitem(presets.PRESETS, "tiny", preset)
    return "tiny"


def test_student_distilled_cached_exported_and_loadable(tmp_path: Path, tiny_preset: str) -> None:
    data = tmp_path / "idc"
    _idc_folder(data)
    teacher = _teacher(tmp_path, data)
    teacher_card = ModelBundle.load(teacher).card
    config = distill.teacher_config(
        teacher_card,
        data=data,
        output=tmp_path / "student",
        preset=tiny_preset,
        epochs=2,
        head_epochs=0,
        augmentation="light",
        test_time_augmentation="none",
        representative=8,
        plots=False,
        extra={"calibration": "temperature"},
    )
    settings = distill.DistillSettings(teacher, temperature=2.0, alpha=0.5)
    card_path = distill.run(config, settings, log=lambda *_: None)

    cached = list((tmp_path / "student" / "soft-labels").glob("soft-*.npy"))
    assert len(cached) == 1
    soft = np.load(cached[0])
    assert soft.shape[1] == 2 and np.allclose(soft.sum(axis=1), 1.0, atol=0.02)
    said: list[str] = []
    reused = distill.teacher_soft_labels(
        ModelBundle.load(teacher),
        distill.prepare_data(config, log=lambda *_: None).split.train,
        cached[0].parent,
        log=said.append,
    )
    assert "cached" in said[0] and np.array_equal(reused, soft)

    bundle = ModelBundle.load(card_path.parent)
    card = bundle.card
    assert card.input.height == 32 and card.metrics["passes_per_patch"] == 1
    assert card.provenance["distilled_from"]["sha256"] == teacher_card.sha256
    assert card.training_data["test_patients"] == teacher_card.training_data["test_patients"]
    assert "indeterminate_fraction" in card.metrics["test_int8_three_way"]
    assert card.calibration is not None and card.calibration.method == "temperature"
    image = Image.open(next((data / PATIENTS[0] / "1").glob("*.png")))
    assert 0.0 <= Classifier(bundle).classify(image).p_malignant <= 1.0


def test_a_split_other_than_the_teachers_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "idc"
    _idc_folder(data)
    card = ModelBundle.load(_teacher(tmp_path, data)).card
    other = datasets.patient_split(datasets.load_idc(data), (0.6, 0.2, 0.2), 8)
    if {s.patient for s in other.test} == set(card.training_data["test_patients"]):
        pytest.skip("seed 8 happens to give the same test patients")
    with pytest.raises(ValueError, match="not the teacher's"):
        distill.check_split(card, other)
