"""Run logging on rank 0: progress bar, ``scalars.jsonl``, TensorBoard scalars and image grids.

TensorBoard is optional (``pip install ivif-fusion[train]``): it is imported here lazily and, when
missing, training goes on with one warning; ``scalars.jsonl`` (one JSON object per logged step) is
always written, so a run can be plotted or checked without it.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


def image_grid(columns: list[torch.Tensor], rows: int = 4) -> torch.Tensor:
    """Side-by-side columns of (B, 1, H, W) [0, 1] images -> (1, rows·H, len(columns)·W) for TensorBoard."""
    n = min(rows, columns[0].shape[0])
    strips = [torch.cat([c[i].detach().float().clamp(0, 1).cpu() for c in columns], dim=-1) for i in range(n)]  # (1, H, k·W)
    return torch.cat(strips, dim=-2)


class RunLogger:
    """Does nothing unless ``enabled`` (rank 0); see the module docstring."""

    def __init__(self, out_dir: Path, enabled: bool, tensorboard: bool, progress: bool, start_step: int, total_steps: int) -> None:
        self.enabled = enabled
        self.writer: Any = None
        self.bar: Any = None
        self._jsonl = None
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = (out_dir / "scalars.jsonl").open("a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                warnings.warn(f"TensorBoard logging is off: {exc} (pip install tensorboard); scalars.jsonl is still written",
                              stacklevel=2)
            else:
                self.writer = SummaryWriter(str(out_dir / "tb"), purge_step=start_step or None)
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        assert self._jsonl is not None
        self._jsonl.write(json.dumps({"step": step, **{k: round(float(v), 7) for k, v in values.items()}}) + "\n")
        self._jsonl.flush()
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def images(self, step: int, tag: str, grid: torch.Tensor) -> None:
        if self.enabled and self.writer is not None:
            self.writer.add_image(tag, grid, step, dataformats="CHW")

    def progress(self, steps: int, postfix: dict[str, str] | None = None) -> None:
        if self.bar is not None:
            self.bar.update(steps)
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
        if self._jsonl is not None:
            self._jsonl.close()
