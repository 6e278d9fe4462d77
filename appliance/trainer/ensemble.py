"""Deep ensembles: N members of one recipe that differ only in their random seed, averaged inside
one graph and exported as one int8 model.

Why: with 32 validation and 32 test patients, a single model's scores move enough from seed to
seed that the operating point chosen on validation does not hold its sensitivity on test.
Averaging members lowers that variance, and it averages out each member's int8 rounding too. The
price is N times the inference work. The patient split, the preprocessing and the card contract
do not change, so the appliance runs an ensemble like any other bundle: one ``.tflite``, one
malignant probability per input.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

Fit = Callable[..., tuple[keras.Model, dict]]


def member_seeds(seed: int, members: int) -> list[int]:
    """Member 1 keeps the run's seed, so an ensemble of one is the single model."""
    return [seed + index for index in range(members)]


def fit_members(
    config: Any, data: Any, log: Callable[[str], None], fit: Fit
) -> tuple[keras.Model, dict]:
    """Fit ``config.ensemble`` members with ``fit`` (the trainer's single-model fit), each in its
    own ``members/member-K`` folder so ``--resume`` continues an interrupted member, and return
    the averaging model with a record of every member.

    Only the init seed changes between members (``config.fit_seed`` + 0..N-1): it draws the
    head's initial weights, the shuffling and the augmentation. The data, the patient split
    (``config.seed``) and the recipe are the same.
    """
    started = time.time()
    members: list[keras.Model] = []
    records: list[dict] = []
    for index, seed in enumerate(member_seeds(config.fit_seed, config.ensemble), 1):
        log(f"ensemble member {index}/{config.ensemble}: seed {seed}")
        keras.utils.set_random_seed(seed)
        member_config = dataclasses.replace(
            config,
            init_seed=seed,
            ensemble=1,
            output=Path(config.output) / "members" / f"member-{index}",
        )
        model, record = fit(member_config, data, log)
        # Kept beside its checkpoints: each member can be scored, compared or re-used alone.
        keras.Model(model.inputs, model.outputs).save(member_config.output / "member.keras")
        members.append(model)
        records.append({"seed": seed, **record})
    return average(members), {
        # The first member's curves stand for the plots; every member's are kept below.
        "history": records[0]["history"],
        "train_seconds": round(time.time() - started, 1),
        "ensemble": {"members": len(members), "seeds": [r["seed"] for r in records]},
        "member_records": records,
    }


def average(members: list[keras.Model]) -> keras.Model:
    """One model whose output is the mean of the members' class probabilities.

    Each member is wrapped under its own name: every member is built by the same builder, and a
    functional model refuses two sub-models that share one.
    """
    if len(members) == 1:
        return members[0]
    inputs = keras.Input(members[0].inputs[0].shape[1:], name="image")
    outputs = [
        keras.Model(member.inputs[0], member.outputs[0], name=f"member_{index}")(inputs)
        for index, member in enumerate(members, 1)
    ]
    mean = keras.layers.Average(name="probabilities")(outputs)
    return keras.Model(inputs, mean, name=f"ensemble_of_{len(members)}")
