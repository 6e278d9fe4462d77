"""Inference: a verified model bundle, a TFLite interpreter, and whole or tiled classification."""

from appliance.inference.backends import available_backends, select_backend
from appliance.inference.bundle import ModelBundle
from appliance.inference.card import InputContract, ModelCard
from appliance.inference.classifier import Classifier, Prediction

__all__ = [
    "Classifier",
    "InputContract",
    "ModelBundle",
    "ModelCard",
    "Prediction",
    "available_backends",
    "select_backend",
]
