"""The detector settings an operator tunes while watching the output: ``score_threshold``, ``nms_iou`` and
``classes`` (detector_node; ``detector.*`` on fusion_node's in-process detector) take ``ros2 param set`` and
rqt_reconfigure while the node runs.

Why these and no others: they only change which of the network's boxes are kept
(:meth:`fusion_core.detection.Detector.retune`: same session, nothing reloaded, no frame lost), so a change
is safe between two frames; everything else (model, device, canvas, QoS, topics) is read once at start-up
and declared read-only, so ROS refuses to change it. A new value is validated as at start-up; a bad one is
refused with the reason ("classes ['cart'] are not COCO class names ...") and nothing changes. The detection
in progress finishes with the old settings; the next one uses the new.
"""

from __future__ import annotations

from typing import Any

from fusion_core.detection.detector import RETUNABLE
from fusion_core.errors import ConfigError


def retune_on_parameter_change(node, detector, prefix: str = "") -> None:
    """Make ``node``'s ``<prefix>score_threshold`` / ``nms_iou`` / ``classes`` parameters retune ``detector``.

    ``detector`` None (fusion_node with ``detector.enabled`` false): a change is refused, saying so, rather
    than stored where nothing reads it."""
    node.add_on_set_parameters_callback(lambda params: _on_set(node, detector, prefix, params))


def tuning_values(detector) -> dict[str, object]:
    """The settings in force, for /diagnostics: what an operator checks after a ``ros2 param set``."""
    config = detector.config
    return {"score_threshold": config.score_threshold, "nms_iou": config.nms_iou,
            "classes": ",".join(config.classes) if config.classes else "all"}


def _on_set(node, detector, prefix: str, params: list) -> Any:
    from rcl_interfaces.msg import SetParametersResult

    changes = {p.name[len(prefix):]: p.value for p in params
               if p.name.startswith(prefix) and p.name[len(prefix):] in RETUNABLE}
    if not changes:
        return SetParametersResult(successful=True)
    if detector is None:
        return SetParametersResult(successful=False, reason=f"{prefix}{', '.join(changes)}: the in-process detector is "
                                                            "off (detector.enabled is false); nothing would use it")
    try:
        config = detector.retune(**{name: _setting(name, value) for name, value in changes.items()})
    except ConfigError as exc:
        return SetParametersResult(successful=False, reason=f"{prefix}{', '.join(changes)}: {exc}")
    node.get_logger().info(f"detector retuned: score_threshold {config.score_threshold}, nms_iou {config.nms_iou}, "
                           f"classes {list(config.classes) if config.classes else 'all 80'}")
    return SetParametersResult(successful=True)


def _setting(name: str, value: Any) -> Any:
    """A parameter value -> Detector.retune's argument (classes: a list of names; empty = all 80)."""
    if name != "classes":
        return value
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) for c in value):
        raise ConfigError(f"classes must be a list of COCO class names (empty = all 80), got {value!r}")
    return tuple(value) or None
