"""The GAN and FID/KID: a tiny conditional WGAN-GP on generated data, and distances with known
answers (issue 14's CI smoke test)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="train: needs TensorFlow (the 'train' extra)")

from appliance.trainer import fid
from appliance.trainer.gan.config import GanConfig
from appliance.trainer.gan.models import build_critic, build_generator, doublings
from appliance.trainer.gan.training import generate_folder, train_gan


def test_frechet_distance_of_two_gaussians_has_its_closed_form():
    # Diagonal covariances commute: FID = |mu_a - mu_b|^2 + sum (sqrt(a) - sqrt(b))^2.
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    got = fid.frechet_distance(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-9)


def test_fid_and_kid_are_zero_on_identical_sets_and_positive_on_different_ones():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 8))
    b = rng.normal(loc=0.5, size=(2000, 8))
    assert fid.fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    result = fid.compare(a, b, "test features")
    assert result.fid == pytest.approx(8 * 0.25, abs=0.2) and result.kid > 0.5
    # The unbiased KID of a set against itself is ~0 (slightly below: the same image lands in
    # both subsets), tiny against the shifted set's.
    assert abs(fid.kid_from_features(a, a)[0]) < 0.01 * result.kid
    assert "not comparable" in result.describe() and "InceptionV3" in result.describe()


def test_sampled_gaussians_approach_the_closed_form():
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, size=(20000, 2))
    b = rng.normal([2.0, 0.0], [2.0, 1.0], size=(20000, 2))
    assert fid.fid_from_features(a, b) == pytest.approx(4 + 1, abs=0.15)


@pytest.mark.parametrize("size", [16, 50, 64])
def test_generator_and_critic_shapes(size):
    generator = build_generator(size, 8, 2, width=4)
    critic = build_critic(size, 2, width=4)
    images = generator([np.zeros((3, 8), np.float32), np.array([0, 1, 1], np.int32)])
    assert images.shape == (3, size, size, 3)
    assert critic([np.asarray(images), np.array([0, 1, 1], np.int32)]).shape == (3, 1)


def test_doublings_reach_paper_size():
    n, start = doublings(512)
    assert start * 2**n == 512 and start <= 8


@pytest.mark.parametrize("loss", ["wgan-gp", "hinge"])
def test_tiny_gan_trains_checkpoints_resumes_and_generates(tmp_path, loss):
    rng = np.random.default_rng(0)
    images = np.clip(rng.normal(0.3, 0.2, size=(32, 16, 16, 3)), -1, 1).astype(np.float32)
    config = GanConfig(
        data=tmp_path / "unused",
        output=tmp_path / "run",
        image_size=16,
        latent_dim=8,
        width=4,
        loss=loss,
        batch_size=8,
        critic_steps=2,
        steps=3,
        sample_every=3,
        checkpoint_every=3,
    )
    first = train_gan(config, images, log=lambda _: None)
    assert first.step == 3
    assert np.isfinite([first.critic_loss, first.generator_loss]).all()
    assert (tmp_path / "run" / "samples" / "step-0000003.png").exists()
    lines: list[str] = []
    config = GanConfig.from_json(tmp_path / "run" / "gan_config.json", steps=5)
    resumed = train_gan(config, images, resume=True, log=lines.append)
    assert resumed.step == 5 and any("resumed at step 3" in line for line in lines)
    import keras

    from appliance.trainer.gan.training import load_generator

    restored = load_generator(tmp_path / "run")
    keras.utils.set_random_seed(123)  # a fresh build would start elsewhere; a restore does not
    again = load_generator(tmp_path / "run")
    assert int(restored.step.numpy()) == 5
    for mine, other in zip(
        restored.generator.get_weights(), again.generator.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(mine, other)
    folder = generate_folder(tmp_path / "run", 6, tmp_path / "synthetic")
    assert folder.name == "1" and len(list(folder.glob("synthetic_*.png"))) == 6


def test_gan_command_refuses_what_it_cannot_do(tmp_path, capsys):
    from appliance.trainer.cli import main

    assert main(["gan", "generate", "--checkpoint", str(tmp_path), "-n", "2", "--out", "x"]) == 2
    assert "not a GAN run folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GanConfig(data=tmp_path, output=tmp_path, loss="lsgan")
