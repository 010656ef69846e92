"""Inference engines: one contract (:class:`FusionEngine`), backends torch | onnxruntime | tensorrt (or auto)."""

from .auto import resolve_engine_config
from .contract import (AUTO, BACKEND_CHOICES, BACKENDS, DEVICE_CHOICES, DEVICES, PRECISIONS, VISIBLE_ORDERS, EngineConfig,
                       FusionResult, NetworkRunner)
from .factory import create_engine
from .pipeline import FusionEngine

__all__ = ["AUTO", "BACKEND_CHOICES", "DEVICE_CHOICES", "resolve_engine_config", "BACKENDS", "DEVICES", "PRECISIONS", "VISIBLE_ORDERS", "EngineConfig", "FusionEngine", "FusionResult", "NetworkRunner", "create_engine"]
