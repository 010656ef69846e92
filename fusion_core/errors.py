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
