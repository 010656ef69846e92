"""Where each pair went on its way through a live graph: paired -> fused -> recorded -> detected -> recorded.

The reference is the offline replay of the same bag (same pairing policy and settings): the pairs the
bag offers. Each stage of the graph counts how many of them reached it, from the nodes' own counters
(the last ``/diagnostics`` of fusion_node and, with a separate detector, detector_node; values arrive
as strings) and from what the recorder received. A pair lost between two stages is put under the
reason its node counted; a loss no counter explains (in flight when the graph stopped, or lost in
transport without a DDS event) is reported as such, so the reasons of a stage always add up to its loss.

Detector modes: ``"node"`` (detector_node on ``fusion/image``), ``"inprocess"`` (fusion_node's own
detector, ``detector.enabled``), or None (no detection). Pure functions over plain dicts: no ROS.
"""

from __future__ import annotations

from typing import Any

from ..pairing import DROP_REASONS

DETECTOR_MODES = ("node", "inprocess")
UNEXPLAINED = "not counted by a node (in flight at stop, or lost in transport)"


def _num(values: dict[str, Any], key: str) -> int:
    try:
        return int(float(values.get(key, 0)))
    except (TypeError, ValueError):
        return 0


def _stage(name: str, count: int, previous: int, reasons: dict[str, int]) -> dict[str, Any]:
    """One stage: ``count`` of the ``previous`` stage's pairs reached it; the loss split into ``reasons``
    (zero reasons dropped, clipped so they never exceed the loss) plus the unexplained rest."""
    lost = max(0, previous - count)
    kept: dict[str, int] = {}
    left = lost
    for reason, n in reasons.items():
        take = min(max(0, n), left)
        if take:
            kept[reason] = take
            left -= take
    if left:
        kept[UNEXPLAINED] = left
    return {"stage": name, "count": count, "lost": lost, "reasons": kept}


def _pairing_reasons(fusion: dict[str, Any], offline_unpaired: list[dict[str, int]]) -> dict[str, int]:
    """Frames behind the pairs fusion_node did not form, in causal order: frames lost in transport and bad
    frames first (each also leaves its partner unpaired), then frames the pairing policy left unpaired
    beyond what it left unpaired offline (``offline_unpaired``: per camera, reason -> frames; the
    offline ``flushed`` is the node's ``pending at end``). Counted in frames; the stage clips them to its
    loss in pairs, in this order."""
    reasons: dict[str, int] = {}
    for cam in ("thermal", "visible"):
        reasons[f"{cam} frames lost in transport to fusion_node"] = _num(fusion, f"lost_seq_{cam}")
    for cam in ("thermal", "visible"):
        reasons[f"bad {cam} frames"] = _num(fusion, f"bad_{cam}")
    for i, cam in enumerate(("thermal", "visible")):
        offline = offline_unpaired[i] if i < len(offline_unpaired) else {}
        for reason in DROP_REASONS:
            key = f"pending_{cam}" if reason == "flushed" else f"unpaired_{cam}_{reason}"
            label = "pending at end" if reason == "flushed" else reason
            reasons[f"{cam} frames unpaired: {label}"] = _num(fusion, key) - int(offline.get(reason, 0))
    return reasons


def pair_delivery(offline_pairs: int, offline_unpaired: list[dict[str, int]], fusion: dict[str, Any],
                  detector: dict[str, Any], mode: str | None, recorded: dict[str, int]) -> dict[str, Any]:
    """The stage table of one live run (see the module docstring).

    ``offline_unpaired``: the offline replay's unpaired frames per camera (reason -> count);
    ``fusion`` / ``detector``: the nodes' last diagnostic values ({} when none were recorded);
    ``recorded``: ``fused`` (fused images received), ``detections`` (detection messages received),
    ``fused_and_detected`` (stamps with both) by the recorder.
    """
    if mode is not None and mode not in DETECTOR_MODES:
        raise ValueError(f"detector mode {mode!r} is not one of {', '.join(DETECTOR_MODES)} or None")
    unpaired = _pairing_reasons(fusion, offline_unpaired)
    stages = [_stage("paired by fusion_node", _num(fusion, "pairs"), offline_pairs, unpaired)]
    stages.append(_stage("fused by fusion_node", _num(fusion, "fused"), stages[-1]["count"],
                         {"fusion worker queue full (newest wins)": _num(fusion, "dropped_worker"),
                          "bad pair": _num(fusion, "bad_pairs"), "fusion error": _num(fusion, "errors")}))
    fused = stages[-1]["count"]
    stages.append(_stage("fused image recorded", recorded["fused"], fused, {}))
    if mode == "node":
        stages.append(_stage("received by detector_node", _num(detector, "received"), fused,
                             {"lost in transport to detector_node (DDS event)": _num(detector, "lost_dds")}))
        stages.append(_stage("detected by detector_node", _num(detector, "processed"), stages[-1]["count"],
                             {"detector worker queue full (newest wins)": _num(detector, "dropped_worker"),
                              "bad image": _num(detector, "bad_frames"), "detector error": _num(detector, "errors")}))
    elif mode == "inprocess":
        stages.append(_stage("detected in fusion_node", _num(fusion, "detected"), fused,
                             {"detector busy (own thread, newest wins)": _num(fusion, "dropped_detector"),
                              "detector error": _num(fusion, "detector_errors")}))
    if mode is not None:
        stages.append(_stage("detections recorded", recorded["detections"], stages[-1]["count"], {}))
    both = recorded["fused_and_detected"] if mode is not None else recorded["fused"]
    return {"pairs": offline_pairs, "detector": mode, "node_counters": bool(fusion), "fused": recorded["fused"],
            "detected": recorded["detections"] if mode is not None else None, "fused_and_detected": both,
            "fraction": both / offline_pairs if offline_pairs else float("nan"), "stages": stages,
            "lost_at_stage": {s["stage"]: s["lost"] for s in stages if s["lost"]}}


def summary_line(delivery: dict[str, Any]) -> str:
    """One sentence: how many of the bag's pairs came out fused (and detected), and where the others went."""
    what = "fused and detected" if delivery["detector"] else "fused"
    pct = 100.0 * delivery["fraction"] if delivery["pairs"] else float("nan")
    text = (f"{delivery['fused_and_detected']} of {delivery['pairs']} pairs {what} ({pct:.1f} %); "
            f"recorded: {delivery['fused']} fused" + (f", {delivery['detected']} with detections" if delivery["detector"] else ""))
    if delivery["lost_at_stage"]:
        parts = []
        for s in delivery["stages"]:
            if s["lost"]:
                parts.append(f"{s['stage']} {s['count']} (lost {s['lost']}: "
                             + ", ".join(f"{n} {r}" for r, n in s["reasons"].items()) + ")")
        text += "; " + "; ".join(parts)
    return text
