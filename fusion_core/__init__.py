"""fusion_core: infrared–visible image fusion, framework-free (torch, numpy, OpenCV; never ROS).

The public API is re-exported here; see ARCHITECTURE in the README for the layers.
"""

from .checkpoint import DEFAULT_MODEL_PATH, load_checkpoint, load_model, save_checkpoint
from .engine import EngineConfig, FusionEngine, FusionResult, create_engine
from .errors import ConfigError, InputError, IvifError
from .model import FusionNet, FusionNetConfig, FusionOutput
from .registration import RegistrationConfig
from .thermal import ThermalNormConfig, ThermalNormalizer

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL_PATH",
    "ConfigError",
    "EngineConfig",
    "FusionEngine",
    "FusionNet",
    "FusionNetConfig",
    "FusionOutput",
    "FusionResult",
    "InputError",
    "IvifError",
    "RegistrationConfig",
    "ThermalNormConfig",
    "ThermalNormalizer",
    "create_engine",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
]
