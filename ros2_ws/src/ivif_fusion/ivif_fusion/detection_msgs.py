"""Detections -> ROS messages: vision_msgs/Detection2DArray (when installed) or a JSON fallback.

vision_msgs is optional (it is not on PyPI), so it is imported lazily by :func:`load_vision_msgs`.
The layout written is vision_msgs 4.x (Humble and later): ``bbox.center.position.x/y``,
``results[i].hypothesis.class_id/score``. ``class_id`` carries the class *name* (e.g. "person"),
which needs no lookup table downstream.

The JSON fallback (std_msgs/String on ``detections/json``) is one object per image:
``{"stamp": {"sec", "nanosec"}, "frame_id", "width", "height", "detections": [{"class_id",
"class_name", "score", "box_xyxy": [x1, y1, x2, y2]}]}`` with boxes in input-image pixels.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Sequence


def load_vision_msgs() -> ModuleType | None:
    """``vision_msgs.msg`` or None when the package is not installed."""
    try:
        import vision_msgs.msg as vision_msgs_msg
    except ImportError:
        return None
    return vision_msgs_msg


def to_detection2d_array(vision_msgs_msg: ModuleType, detections: Sequence, header):
    """Detection list -> vision_msgs/Detection2DArray stamped with ``header`` (box centre + size in pixels)."""
    array = vision_msgs_msg.Detection2DArray()
    array.header = header
    for det in detections:
        x1, y1, x2, y2 = det.box_xyxy
        d = vision_msgs_msg.Detection2D()
        d.header = header
        d.bbox.center.position.x = (x1 + x2) / 2.0
        d.bbox.center.position.y = (y1 + y2) / 2.0
        d.bbox.center.theta = 0.0
        d.bbox.size_x = float(x2 - x1)
        d.bbox.size_y = float(y2 - y1)
        hyp = vision_msgs_msg.ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = det.class_name
        hyp.hypothesis.score = float(det.score)
        d.results = [hyp]
        array.detections.append(d)
    return array


def to_json(detections: Sequence, header, width: int, height: int) -> str:
    """Detection list -> the JSON document described in the module docstring."""
    return json.dumps({
        "stamp": {"sec": int(header.stamp.sec), "nanosec": int(header.stamp.nanosec)},
        "frame_id": header.frame_id,
        "width": int(width),
        "height": int(height),
        "detections": [{"class_id": int(d.class_id), "class_name": d.class_name, "score": round(float(d.score), 5),
                        "box_xyxy": [round(float(v), 2) for v in d.box_xyxy]} for d in detections],
    })
