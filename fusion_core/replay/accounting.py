"""Where every input frame went: paired, unpaired (with the pairing policy's reason), bad, or missing.

Per input topic :class:`TopicAccount` counts the messages read, bad frames by reason (first message
kept as an example), and watches the header stamps for gaps: a step larger than 1.5× the median step
means frames were lost before the bag (camera or driver drops); ``round(step / median) − 1`` frames
are counted missing per gap. A bag made by ``ivif make-bag`` also records exactly which frames it
dropped (``ivif_frames.csv``), which the report prints beside the estimate.
"""

from __future__ import annotations

import csv
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .make_bag import SIDECAR


@dataclass
class TopicAccount:
    """Counters of one input topic (see the module docstring)."""

    topic: str
    read: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    bad_examples: dict[str, str] = field(default_factory=dict)
    _steps: array = field(default_factory=lambda: array("q"))
    _last_stamp: int | None = None

    def saw(self, stamp_ns: int | None) -> None:
        """A message was read; ``stamp_ns`` is its header stamp (None when it could not be decoded)."""
        self.read += 1
        if stamp_ns is None:
            return
        if self._last_stamp is not None and stamp_ns > self._last_stamp:
            self._steps.append(stamp_ns - self._last_stamp)
        self._last_stamp = stamp_ns if self._last_stamp is None else max(stamp_ns, self._last_stamp)

    def bad_frame(self, reason: str, detail: str) -> None:
        self.bad[reason] = self.bad.get(reason, 0) + 1
        self.bad_examples.setdefault(reason, detail)

    def gaps(self) -> dict[str, float]:
        """Median stamp step (ms), gaps, and frames estimated missing before the bag."""
        if len(self._steps) < 2:
            return {"median_step_ms": float("nan"), "gaps": 0, "missing_estimate": 0}
        steps = np.frombuffer(self._steps, dtype=np.int64)
        median = float(np.median(steps))
        big = steps[steps > 1.5 * median]
        return {"median_step_ms": median / 1e6, "gaps": int(big.size),
                "missing_estimate": int(np.sum(np.rint(big / median) - 1))}

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "read": self.read, "bad": dict(self.bad), "bad_examples": dict(self.bad_examples),
                **self.gaps()}


def recorded_drops(bag: str | Path) -> dict[str, Any] | None:
    """Frames ``ivif make-bag`` dropped on purpose, per camera, with their stems; None for other bags."""
    path = Path(bag) / SIDECAR
    if not path.is_file():
        return None
    out: dict[str, Any] = {"thermal": [], "visible": [], "pairs": 0}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out["pairs"] += 1
            for camera in ("thermal", "visible"):
                if not row[f"{camera}_stamp_ns"]:
                    out[camera].append(row["stem"])
    return out
