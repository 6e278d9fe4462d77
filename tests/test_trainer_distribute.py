"""tf.distribute strategies: the choice by name, and two CPU workers on loopback that end a few
GAN steps with the same weights (MultiWorkerMirroredStrategy, TF_CONFIG)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="train: needs TensorFlow (the 'train' extra)")

from appliance.trainer import distribute

RUN_HEAVY = os.environ.get("HISTO_HEAVY_TESTS") == "1"

WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    import tensorflow as tf
    from appliance.trainer.gan.config import GanConfig
    from appliance.trainer.gan.training import train_gan

    out, dump = Path(sys.argv[1]), Path(sys.argv[2])
    images = np.random.default_rng(0).uniform(-1, 1, (32, 16, 16, 3)).astype(np.float32)
    config = GanConfig(data=out, output=out, image_size=16, latent_dim=8, width=4, batch_size=8,
                       critic_steps=1, steps=3, sample_every=100, checkpoint_every=3,
                       strategy="multiworker")
    result = train_gan(config, images, log=lambda _: None)
    latest = tf.train.latest_checkpoint(str(result.output / "checkpoints"))
    reader = tf.train.load_checkpoint(latest)
    names = [n for n in reader.get_variable_to_shape_map()
             if not n.startswith(("generator_optimizer", "critic_optimizer", "_CHECKPOINTABLE"))]
    np.savez(dump, **{n.replace("/", "|"): reader.get_tensor(n) for n in names})
    """
)


def test_strategy_by_name():
    import tensorflow as tf

    assert distribute.make_strategy("default") is tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="unknown strategy"):
        distribute.make_strategy("tpu")


def test_multiworker_without_tf_config_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy("multiworker")


def test_chief_is_worker_zero_or_the_named_chief(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"task": {"type": "worker", "index": 1}}))
    assert not distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"task": {"type": "worker", "index": 0}}))
    assert distribute.is_chief()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not RUN_HEAVY, reason="two TensorFlow workers: set HISTO_HEAVY_TESTS=1")
def test_two_cpu_workers_on_loopback_end_with_the_same_weights(tmp_path):
    hosts = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": "",
            "TF_CONFIG": json.dumps(
                {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
            ),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(tmp_path / "run"), str(tmp_path / f"w{index}")],
                env=env,
                cwd=Path(__file__).resolve().parents[1],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output[-3000:]
    first, second = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert sorted(first.files) == sorted(second.files)
    assert any(n.startswith("generator") for n in first.files)
    assert any(n.startswith("critic") for n in first.files)
    for name in first.files:
        np.testing.assert_allclose(first[name], second[name], rtol=1e-6, atol=1e-7)
