"""Inference: a verified model bundle, a TFLite interpreter, and whole or tiled classification."""

from appliance.inference.backends import available_backends, select_backend
from appliance.inference.bundle import ModelBundle
from appliance.inference.card import InputContract, ModelCard, Thresholds
from appliance.inference.classifier import Classifier, Prediction, TileMap

__all__ = [
    "Classifier",
    "InputContract",
    "ModelBundle",
    "ModelCard",
    "Prediction",
    "Thresholds",
    "TileMap",
    "available_backends",
    "select_backend",
]
