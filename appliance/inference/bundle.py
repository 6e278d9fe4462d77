"""A model bundle: a folder with ``card.json`` and the ``.tflite`` file the card names.

Loading verifies the file against the card's sha256 before anything runs it (invariant 3): a
model that was swapped, truncated on copy or corrupted on the SD card must never produce a
diagnosis-like answer. Every refusal is a :class:`ModelRejected` saying what to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ModelRejected
from appliance.inference.card import ModelCard

CARD_NAME = "card.json"
_CHUNK = 1 << 20
_REINSTALL = "reinstall the model bundle"


@dataclass(frozen=True)
class ModelBundle:
    directory: Path
    card: ModelCard
    model_path: Path

    @property
    def runtime_files(self) -> tuple[str, ...]:
        """The files the appliance runs from: the card, the model, the scope gate's file."""
        scope = self.card.scope
        extra = (scope.features.file,) if scope is not None and scope.features is not None else ()
        return (CARD_NAME, self.card.file, *extra)

    @classmethod
    def load(cls, path: Path) -> ModelBundle:
        """Read and verify the bundle at ``path`` (its folder, or its ``card.json``)."""
        path = Path(path)
        if not path.exists():
            raise ModelRejected(f"no model bundle at {path}: it does not exist; {_REINSTALL}")
        card_path = path / CARD_NAME if path.is_dir() else path
        directory = card_path.parent.resolve()
        if not card_path.is_file():
            raise ModelRejected(f"the model folder {directory} has no {CARD_NAME}; {_REINSTALL}")
        card = _read_card(card_path)
        model_path = (directory / card.file).resolve()
        if not model_path.is_relative_to(directory):
            raise ModelRejected(
                f"the card of {card.name} names the file {card.file!r}, which lies outside its"
                f" folder {directory}; the appliance only runs a model kept inside its bundle"
            )
        if not model_path.is_file():
            raise ModelRejected(
                f"the model file {card.file!r} of {card.name} is missing from {directory};"
                f" {_REINSTALL}"
            )
        actual = file_sha256(model_path)
        if actual != card.sha256:
            raise ModelRejected(
                f"the model file of {card.name} {card.version} does not match its card"
                f" (expected sha256 {card.sha256[:12]}…, found {actual[:12]}…): it is damaged or"
                f" was changed. {_REINSTALL.capitalize()} or restore the file; the appliance will"
                " not run an unverified model."
            )
        return cls(directory=directory, card=card, model_path=model_path)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks so a large model never sits in memory twice."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise ModelRejected(f"the model file {path} cannot be read ({exc}); {_REINSTALL}") from exc
    return digest.hexdigest()


def _read_card(card_path: Path) -> ModelCard:
    try:
        data = json.loads(card_path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelRejected(
            f"the model card {card_path} cannot be read ({exc}); {_REINSTALL}"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ModelRejected(
            f"the model card {card_path} is not valid JSON (line {exc.lineno}: {exc.msg});"
            f" {_REINSTALL}"
        ) from exc
    if not isinstance(data, dict):
        raise ModelRejected(f"the model card {card_path} is not a JSON object; {_REINSTALL}")
    try:
        return ModelCard.from_dict(data)
    except ModelRejected as exc:
        raise ModelRejected(f"the model card {card_path} was refused: {exc}") from exc
