"""One call from a bag to a finished report, offline or live (what ``ivif replay`` and ``ivif demo`` run).

Offline: :func:`~.offline.replay` into ``out_dir``, then ``summary.json`` and the report there.
Live: the offline replay first, into ``out_dir/offline`` (the reference the live outputs are matched
against, with its own report), then the ROS graph (:mod:`.live`), then the live report in ``out_dir``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from ..engine import EngineConfig
from .live import LiveConfig
from .offline import ReplayConfig, ReplayResult, write_summary
from .report import Block


def fusion_node_params(engine: EngineConfig, config: ReplayConfig) -> dict[str, Any]:
    """fusion_node parameters that make the node fuse like ``engine`` and pair like ``config``."""
    params: dict[str, Any] = {"slop": config.slop, "queue_size": config.queue_size, "backend": engine.backend,
                              "thermal_stamp_offset": config.thermal_stamp_offset,
                              "device": engine.device, "precision": engine.precision,
                              "thermal_policy": engine.thermal.policy}
    for name, bound in zip(("thermal", "visible"), config.inter_message_lower_bound):
        params[f"inter_message_lower_bound_{name}"] = -1.0 if bound is None else float(bound)  # < 0: learnt from stamps
    if engine.model_path:
        params["model_path"] = str(Path(engine.model_path).resolve())  # the node runs in another directory
    if engine.thermal.low is not None and engine.thermal.high is not None:
        params["thermal_low"], params["thermal_high"] = engine.thermal.low, engine.thermal.high
    if engine.threads:
        params["threads"] = engine.threads
    if engine.alpha_smoothing:
        params["alpha_smoothing"] = engine.alpha_smoothing
        params["alpha_motion_threshold"] = engine.alpha_motion_threshold
    registration = engine.registration
    params["allow_resize"], params["max_aspect_change"] = registration.allow_resize, registration.max_aspect_change
    if not registration.is_identity:  # e.g. ivif replay --calibration: the node warps like the offline engine
        params["homography"] = [float(v) for v in registration.homography]
        if registration.calibrated_sizes is not None:
            params["calibration.thermal_size"] = list(registration.calibrated_sizes[0])
            params["calibration.visible_size"] = list(registration.calibrated_sizes[1])
    return params


def run_replay(bag: str | Path, out_dir: str | Path, config: ReplayConfig | None = None,
               engine_config: EngineConfig | None = None, live: LiveConfig | None = None,
               report_extra: Sequence[Block] = ()) -> tuple[ReplayResult, Path]:
    """Replay ``bag`` and write the report into ``out_dir``; returns the result and the HTML report's path.
    ``report_extra``: sections appended to the report (see :func:`~fusion_core.replay.report.write_report`)."""
    from ..engine import create_engine
    from .report import write_report

    config = config or ReplayConfig()
    engine_config = engine_config or EngineConfig()
    bag, out_dir = Path(bag), Path(out_dir)
    engine = create_engine(engine_config)
    if live is None:
        from .offline import replay

        result = replay(bag, out_dir, config, engine)
        write_summary(result, out_dir)
        return result, write_report(result, out_dir, extra=report_extra)
    return _run_live(bag, out_dir, config, engine, live, report_extra)


def _run_live(bag: Path, out_dir: Path, config: ReplayConfig, engine: Any, live: LiveConfig,
              report_extra: Sequence[Block] = ()) -> tuple[ReplayResult, Path]:
    from .bagio import find_topic, open_bag
    from .codec import COMPRESSED_MSGTYPE, INPUT_MSGTYPES
    from .live import run_live_graph
    from .live_analysis import analyse_live
    from .make_bag import read_sidecar
    from .offline import replay
    from .report import write_report

    with open_bag(bag) as reader:  # fail on a wrong topic before anything starts
        th, vi = (find_topic(reader, t, bag, INPUT_MSGTYPES) for t in (config.thermal_topic, config.visible_topic))
        duration_s = reader.duration / 1e9
    # a compressed camera topic is played as recorded; fusion_node then subscribes its compressed transport
    transports = {f"{name}_transport": "compressed" for name, info in (("thermal", th), ("visible", vi))
                  if info.msgtype == COMPRESSED_MSGTYPE}
    th, vi = th.name, vi.name
    offline = replay(bag, out_dir / "offline", replace(config, write_bag=True), engine)
    write_summary(offline, out_dir / "offline")
    write_report(offline, out_dir / "offline")
    fusion_params = {**fusion_node_params(engine.config, config), **transports, **live.fusion_params}
    live = replace(live, detector=live.detector or config.detect, fusion_params=fusion_params)
    run = run_live_graph(bag, out_dir, th, vi, live, duration_s)
    result, comparison = analyse_live(bag, out_dir, run.recorded_bag, run.publish_log, offline, config, read_sidecar(bag),
                                      run.wall_s, live.detector_mode if live.detector else None)
    result.extra["comparison"] = comparison
    write_summary(result, out_dir)
    return result, write_report(result, out_dir, comparison, report_extra)
