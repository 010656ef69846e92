"""The small exception hierarchy of ivif_fusion.

Callers catch :class:`IvifError` for anything this project raises on purpose. :class:`ConfigError`
means a setting is wrong (fail fast at start-up); :class:`InputError` means one frame or file is
unusable (log, count, skip it). Both subclass ``ValueError`` so generic handlers still work.
"""

from __future__ import annotations


class IvifError(Exception):
    """Base class of every error raised deliberately by ivif_fusion."""


class ConfigError(IvifError, ValueError):
    """A configuration value is invalid. The message names the setting and the valid options."""


class InputError(IvifError, ValueError):
    """An input image, message or file cannot be fused. The message says what is wrong with it."""


class ModelFileError(ConfigError):
    """A model file (checkpoint, ONNX, engine) is missing, unreadable or not what it claims to be.

    A :class:`ConfigError` (the model path is a setting): doors that know the setting's own name
    (the ROS parameter ``model_path``, the CLI's ``--model``) catch it to say which setting to fix."""
