"""Train the conditional WGAN-GP on one class of the training patients, and generate from it.

The data comes through the classifier trainer's own loader and patient split (same layout, split
fractions and seed), and only the TRAINING part is used: validation and test patients never reach
the GAN, so synthetic images mixed into a classifier's training set cannot carry a test patient.
Checkpoints (``tf.train.Checkpoint``: both networks, both optimizers, the step) make a run
resumable; a PNG sample grid from a fixed latent batch shows progress; the terminal gets a line
with the losses, the pace and an ETA.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

from appliance.progress import format_duration
from appliance.trainer import distribute
from appliance.trainer.gan.config import CONFIG_FILE, GanConfig, load_run_config
from appliance.trainer.gan.models import build_critic, build_generator
from appliance.trainer.gan.real import real_samples
from appliance.trainer.synthetic import MANIFEST

GRID_SIDE = 4  # sample grids are 4 x 4 images


@dataclass(frozen=True)
class GanResult:
    """What a run leaves: where, how far it got, and the last losses."""

    output: Path
    step: int
    critic_loss: float
    generator_loss: float
    seconds: float


def training_images(config: GanConfig, log: Callable[[str], None] = print) -> np.ndarray:
    """Images of ``config.target_class`` from the training patients of the classifier's own
    patient split, scaled to [-1, 1] at ``image_size``."""
    from appliance.trainer import data as datasets

    chosen = real_samples(config, "train")
    log(
        f"GAN data: {len(chosen)} images of class {config.target_class} from"
        f" {len({s.patient for s in chosen})} training patients (validation and test patients"
        " left out)"
    )
    size = (config.image_size, config.image_size)
    images, _ = datasets.load_arrays(chosen, size, "minus_one_to_one")
    return images


class GanTrainer:
    """The networks, optimizers, checkpoint and compiled steps of one run."""

    def __init__(self, config: GanConfig, strategy: tf.distribute.Strategy) -> None:
        self.config = config
        self.strategy = strategy
        self.global_batch = config.batch_size
        with strategy.scope():
            self.generator = build_generator(
                config.image_size, config.latent_dim, config.n_classes, config.width
            )
            self.critic = build_critic(config.image_size, config.n_classes, config.width)
            self.g_opt = keras.optimizers.Adam(config.generator_lr, config.beta_1, config.beta_2)
            self.c_opt = keras.optimizers.Adam(config.critic_lr, config.beta_1, config.beta_2)
            self.g_opt.build(self.generator.trainable_variables)
            self.c_opt.build(self.critic.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="gan_step")
        # Keras 3 models are not tf.train trackables: the checkpoint holds their tf.Variables.
        self.checkpoint = tf.train.Checkpoint(
            generator=_variables(self.generator),
            critic=_variables(self.critic),
            generator_optimizer=_variables(self.g_opt),
            critic_optimizer=_variables(self.c_opt),
            step=self.step,
        )

    # --- one update each -------------------------------------------------------------------

    def _critic_loss(self, real, labels):
        cfg = self.config
        batch = tf.shape(real)[0]
        fake = self.generator([tf.random.normal((batch, cfg.latent_dim)), labels], training=True)
        eps = tf.random.uniform((batch, 1, 1, 1))
        mixed = eps * real + (1.0 - eps) * fake
        with tf.GradientTape() as penalty_tape:
            penalty_tape.watch(mixed)
            d_mixed = self.critic([mixed, labels], training=True)
        grads = penalty_tape.gradient(d_mixed, mixed)
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        d_real = self.critic([real, labels], training=True)[:, 0]
        d_fake = self.critic([fake, labels], training=True)[:, 0]
        if cfg.loss == "hinge":
            adversarial = tf.nn.relu(1.0 - d_real) + tf.nn.relu(1.0 + d_fake)
        else:
            adversarial = d_fake - d_real
        per_sample = adversarial + cfg.gamma * tf.square(norm - 1.0)
        return tf.nn.compute_average_loss(per_sample, global_batch_size=self.global_batch)

    def _critic_replica(self, real, labels):
        with tf.GradientTape() as tape:
            loss = self._critic_loss(real, labels)
        variables = self.critic.trainable_variables
        self.c_opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    def _generator_replica(self, labels):
        batch = tf.shape(labels)[0]
        with tf.GradientTape() as tape:
            z = tf.random.normal((batch, self.config.latent_dim))
            fake = self.generator([z, labels], training=True)
            per_sample = -self.critic([fake, labels], training=True)[:, 0]
            loss = tf.nn.compute_average_loss(per_sample, global_batch_size=self.global_batch)
        variables = self.generator.trainable_variables
        self.g_opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    @tf.function
    def critic_step(self, real, labels):
        losses = self.strategy.run(self._critic_replica, args=(real, labels))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    @tf.function
    def generator_step(self, labels):
        losses = self.strategy.run(self._generator_replica, args=(labels,))
        self.step.assign_add(1)
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    def restore(self, path: str) -> None:
        """Load one checkpoint (``checkpoint_path``) into these networks; the generator alone
        matters after training, so the rest may be absent."""
        self.checkpoint.restore(path).expect_partial()

    # --- generating ------------------------------------------------------------------------

    def generate(self, n: int, label: int, seed: int, batch: int = 64) -> np.ndarray:
        """``n`` images of class ``label`` as uint8 RGB, from latents drawn with ``seed``."""
        rng = np.random.default_rng(seed)
        out = []
        for start in range(0, n, batch):
            count = min(batch, n - start)
            z = rng.standard_normal((count, self.config.latent_dim)).astype(np.float32)
            y = np.full((count,), label, np.int32)
            images = self.generator([z, y], training=False)
            out.append(to_uint8(np.asarray(images)))
        return np.concatenate(out) if out else np.zeros((0, 0, 0, 3), np.uint8)


def _variables(owner) -> list:
    """The TensorFlow variables under a Keras model's or optimizer's variables."""
    return [getattr(v, "value", v) for v in owner.variables]


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] floats → 0..255 bytes."""
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def write_grid(images: np.ndarray, path: Path, side: int = GRID_SIDE) -> Path:
    """``side`` x ``side`` uint8 images tiled into one PNG."""
    n, h, w, _ = images.shape
    grid = np.full((side * h, side * w, 3), 255, np.uint8)
    for index in range(min(n, side * side)):
        row, col = divmod(index, side)
        grid[row * h : (row + 1) * h, col * w : (col + 1) * w] = images[index]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path


def _dataset(images: np.ndarray, config: GanConfig, strategy: tf.distribute.Strategy):
    if len(images) < config.batch_size:
        raise ValueError(
            f"{len(images)} training images cannot fill one batch of {config.batch_size};"
            " lower --batch-size"
        )
    labels = np.full((len(images),), config.target_class, np.int32)
    ds = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(config.batch_size, drop_remainder=True)
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return iter(strategy.experimental_distribute_dataset(ds.with_options(options)))


def train_gan(
    config: GanConfig,
    images: np.ndarray | None = None,
    *,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> GanResult:
    """Train (or continue) the run in ``config.output``. ``images`` ([-1, 1], for tests)
    replaces reading the dataset."""
    keras.utils.set_random_seed(config.seed)
    strategy = distribute.make_strategy(config.strategy)
    chief = distribute.is_chief()
    out = Path(config.output) if chief else Path(tempfile.mkdtemp(prefix="gan-worker-"))
    out.mkdir(parents=True, exist_ok=True)
    if chief:
        (out / CONFIG_FILE).write_text(config.to_json())
    if images is None:
        images = training_images(config, log)
    trainer = GanTrainer(config, strategy)
    # every checkpoint is kept: FID/KID over training is measured on them afterwards
    manager = tf.train.CheckpointManager(trainer.checkpoint, str(out / "checkpoints"), None)
    if resume and manager.latest_checkpoint:
        trainer.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log(f"resumed at step {int(trainer.step.numpy())} from {manager.latest_checkpoint}")
    batches = _dataset(images, config, strategy)
    started, first = time.time(), int(trainer.step.numpy())
    c_loss = g_loss = float("nan")
    step = first
    while step < config.steps:
        for _ in range(config.critic_steps):
            real, labels = next(batches)
            c_loss = float(trainer.critic_step(real, labels))
        g_loss = float(trainer.generator_step(labels))
        step = int(trainer.step.numpy())
        if step % config.checkpoint_every == 0 or step == config.steps:
            manager.save(checkpoint_number=step)
        if chief and (step % config.sample_every == 0 or step == config.steps):
            grid = trainer.generate(GRID_SIDE**2, config.target_class, config.seed)
            write_grid(grid, out / "samples" / f"step-{step:07d}.png")
        _report(step, first, config.steps, started, c_loss, g_loss, log)
    if not np.isfinite([c_loss, g_loss]).all() and step > first:
        raise ValueError(f"the GAN diverged (critic {c_loss}, generator {g_loss}); lower the rates")
    return GanResult(out, step, c_loss, g_loss, round(time.time() - started, 1))


def _report(step, first, total, started, c_loss, g_loss, log) -> None:
    """A line every 10 % (and every 50 steps on a terminal): losses, pace, ETA."""
    every = 50 if sys.stdout.isatty() else max(1, total // 10)
    if step % every and step != total:
        return
    elapsed = time.time() - started
    pace = (step - first) / elapsed if elapsed > 0 else 0.0
    eta = format_duration((total - step) / pace) if pace > 0 else "…"
    log(
        f"step {step}/{total}  critic {c_loss:.3f}  generator {g_loss:.3f}"
        f"  {pace:.2f} steps/s  ETA {eta}"
    )


def checkpoint_steps(run: Path) -> list[int]:
    """The steps of every checkpoint a run kept (``checkpoints/ckpt-<step>.index``), in order."""
    steps = []
    for index in (Path(run) / "checkpoints").glob("ckpt-*.index"):
        number = index.name.removeprefix("ckpt-").removesuffix(".index")
        if number.isdigit():
            steps.append(int(number))
    return sorted(steps)


def checkpoint_path(run: Path, step: int) -> str:
    """The checkpoint prefix of ``step`` (``manager.save(checkpoint_number=step)`` wrote it)."""
    path = Path(run) / "checkpoints" / f"ckpt-{step}"
    if not path.with_name(path.name + ".index").exists():
        raise FileNotFoundError(
            f"{run} has no checkpoint at step {step} (kept: {checkpoint_steps(run) or 'none'})"
        )
    return str(path)


def load_generator(run: Path, step: int | None = None) -> GanTrainer:
    """The trainer of a finished (or interrupted) run on one device, at checkpoint ``step``
    (default: the latest)."""
    run = Path(run)
    config = load_run_config(run)
    if step is None:
        path = tf.train.latest_checkpoint(str(run / "checkpoints"))
        if path is None:
            raise FileNotFoundError(f"{run} has no checkpoint yet")
    else:
        path = checkpoint_path(run, step)
    trainer = GanTrainer(config, tf.distribute.get_strategy())
    trainer.restore(path)
    return trainer


def generate_folder(
    run: Path,
    n: int,
    out: Path,
    *,
    label: int | None = None,
    seed: int = 0,
    step: int | None = None,
) -> Path:
    """Write ``n`` synthetic images as ``OUT/<label>/synthetic_<n>.png``: the ``folders``
    layout of the classifier trainer, every file one pseudo-patient ``synthetic`` (its
    ``--patient-pattern`` default reads the text before the first ``_``). Beside them,
    ``generator.json`` names the run, its config and the checkpoint step, for the card of a
    classifier trained with ``--synthetic OUT``."""
    trainer = load_generator(run, step)
    label = trainer.config.target_class if label is None else label
    folder = Path(out) / str(label)
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(trainer.generate(n, label, seed)):
        Image.fromarray(image).save(folder / f"synthetic_{index:06d}.png")
    manifest = {
        "run": str(run),
        "gan_config": str(Path(run) / CONFIG_FILE),
        "step": int(trainer.step.numpy()),
        "label": label,
        "n": n,
        "seed": seed,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return folder
