"""Inference engines: one contract (:class:`FusionEngine`), backends torch | onnxruntime | tensorrt."""

from .contract import BACKENDS, DEVICES, PRECISIONS, VISIBLE_ORDERS, EngineConfig, FusionResult, NetworkRunner
from .factory import create_engine
from .pipeline import FusionEngine

__all__ = ["BACKENDS", "DEVICES", "PRECISIONS", "VISIBLE_ORDERS", "EngineConfig", "FusionEngine", "FusionResult", "NetworkRunner", "create_engine"]
