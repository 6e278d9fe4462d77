"""Which ``tf.distribute`` strategy a training run uses, chosen by one flag.

``default`` is TensorFlow's default strategy (one device, exactly what a run does without any
strategy); ``mirrored`` copies the model onto every local GPU; ``multiworker`` spans machines and
reads the cluster from ``TF_CONFIG``. The classifier trainer and the GAN both build their models
and optimizers inside ``strategy.scope()`` so the choice changes nothing else in their code.
"""

from __future__ import annotations

import json
import os

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str = "default"):
    """The ``tf.distribute.Strategy`` called ``name``; a message the user can act on for an
    unknown name or a multi-worker run without ``TF_CONFIG``. (TensorFlow is imported here, so
    the command line lists the choices without it.)"""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "--strategy multiworker reads the cluster from TF_CONFIG; set it on every worker"
                ' (e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]},'
                ' "task": {"type": "worker", "index": 0}})'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")


def is_chief() -> bool:
    """Whether this process writes the run's files: always, except a non-zero worker of a
    multi-worker cluster (it writes to a scratch folder so the collective save still happens)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    spec = json.loads(raw)
    task = spec.get("task", {})
    if "chief" in spec.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0
