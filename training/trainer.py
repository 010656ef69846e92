"""The training run: set-up, the step loop, logging, checkpoints, resume, and the final artefacts.

``train(config)`` runs in one process or under ``torchrun`` (DDP). It writes into the run folder::

    config.yaml           the resolved TrainConfig
    scalars.jsonl, tb/    losses, learning rate, SSVIF weights, throughput (rank 0)
    checkpoints/          step_NNNNNNN.pt + last.pt (resumable, see training.state)
    model.pt              the deployable FusionNet (fusion_core.load_model reads it)
    record.json           data, steps, seed, wall time, pairs/s, machine, final losses

Resume (``resume=<checkpoint>``) restores weights, optimizer, LR schedule, AMP scaler, SSVIF
weighting state and RNG states, and continues at the saved step; batches are a function of
(seed, step) (training.data), so the continuation is exactly the uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from fusion_core.checkpoint import load_checkpoint, load_weights, model_config_from, model_path, save_checkpoint
from fusion_core.errors import ConfigError
from fusion_core.model import FusionNet
from fusion_core.model.config import FIXED_STAGE_FIELDS

from . import distributed as dist_utils
from .config import OptimConfig, TrainConfig, config_from_dict, dump_config
from .data import PairDataset, make_loader
from .gradient_balance import balance
from .logger import RunLogger, image_grid
from .state import machine_info, prune_step_checkpoints, save_training_checkpoint, seed_everything, set_rng_state, write_record
from .steps import TrainModule, seg_monitors
from .weighting import RatioWeighting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    model_path: Path  # deployable model.pt
    checkpoint_path: Path  # resumable last.pt
    record: dict[str, Any]


def lr_factor(cfg: OptimConfig):  # noqa: ANN201 - returns the LambdaLR multiplier function
    """LR multiplier at step s: linear warm-up to 1, then cosine to ``min_lr_ratio`` (or constant)."""

    def factor(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        if cfg.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
        return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def config_for_resume(checkpoint: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """The TrainConfig stored in a training checkpoint, with optional overrides (e.g. more steps)."""
    payload = load_checkpoint(checkpoint)
    if "train_config" not in payload:
        raise ConfigError(f"{checkpoint} has no train_config: it is a deployable model, not a training checkpoint")
    return config_from_dict(payload["train_config"], overrides)


def train(config: TrainConfig, resume: str | Path | None = None, out_dir: str | Path | None = None) -> TrainResult:
    """Run (or continue) a training; see the module docstring."""
    info = dist_utils.setup(config.run.device)
    try:
        return _Run(config, info, resume, Path(out_dir or config.run.out_dir)).execute()
    finally:
        dist_utils.teardown(info)


class _Run:
    def __init__(self, cfg: TrainConfig, info: dist_utils.DistInfo, resume: str | Path | None, run_dir: Path) -> None:
        self.t_start = time.perf_counter()
        self.cfg, self.info, self.run_dir = cfg, info, run_dir
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        seed_everything(cfg.run.seed)  # same on every rank: identical initial weights
        self.device = info.device
        self.module = TrainModule(cfg.model, cfg.loss, cfg.ssvif if cfg.mode == "ssvif" else None).to(self.device)
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(self.params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(o))
        self.amp = cfg.run.amp and self.device.type == "cuda"
        if cfg.run.amp and not self.amp and info.is_main:
            warnings.warn("run.amp is ignored on the CPU (float16 autocast needs CUDA)", stacklevel=2)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.balance_detection = o.detection_grad_ratio > 0 and cfg.loss.detection > 0
        if self.balance_detection and info.world_size > 1:
            # torch.autograd.grad bypasses DistributedDataParallel's gradient all-reduce
            raise ConfigError("optim.detection_grad_ratio needs a single process (world size 1)")
        s = cfg.ssvif
        self.weighting = RatioWeighting(s.target_ratio, s.ema, s.ramp_steps, s.stage1_steps, s.min_weight, s.max_weight) \
            if cfg.mode == "ssvif" else None
        self.step = 0
        self.previous = {"wall_s": 0.0, "train_s": 0.0, "pairs": 0}
        self.init: dict[str, Any] | None = None  # where the weights came from, for the record
        if resume is not None:
            self._restore(Path(resume))
        elif cfg.run.init:
            self._initialise(cfg.run.init)
        if cfg.loss.anchor > 0 or cfg.loss.detection_anchor > 0:
            self._set_anchor_reference()
        self.start_step = self.step
        self.dataset = PairDataset(cfg.data)
        self.model = DistributedDataParallel(self.module, device_ids=[self.device.index] if self.device.type == "cuda" else None) \
            if info.distributed else self.module

    # ------------------------------------------------------------------ state
    def _initialise(self, source: str) -> None:
        """Start FusionNet from a model file's weights (fine-tuning); see RunConfig.init."""
        path = model_path(source)
        payload = load_checkpoint(path)
        stored = model_config_from(payload, source)
        # the fixed stages (detail transfer, tone) are numbers, not weights: a run may start from a file made with others
        m = self.cfg.model
        if replace(stored, **{f: getattr(m, f) for f in FIXED_STAGE_FIELDS}) != m:
            raise ConfigError(f"run.init {source}: its model config {stored} differs from this run's model {self.cfg.model}; "
                              "set model.* to match the file")
        load_weights(self.module.fusion, payload["model"], source)
        self.init = {"path": str(path), "meta": payload.get("meta") or {}}
        if self.info.is_main:
            log.info("starting FusionNet from %s", self.init["path"])

    def _set_anchor_reference(self) -> None:
        """loss.anchor and loss.detection_anchor hold the fusion near the model the run started from (run.init),
        also after a resume."""
        source = self.cfg.run.init  # TrainConfig refuses loss.anchor without it
        payload = load_checkpoint(model_path(source))
        reference = FusionNet(self.cfg.model)
        load_weights(reference, payload["model"], source)
        self.module.set_reference(reference)

    def _restore(self, path: Path) -> None:
        payload = load_checkpoint(path)
        missing = [k for k in ("optimizer", "scheduler", "step", "rng") if k not in payload]
        if missing:
            raise ConfigError(f"{path} cannot be resumed: it lacks {missing} (a deployable model.pt is not a training checkpoint)")
        load_weights(self.module.fusion, payload["model"], path)
        if self.cfg.mode == "ssvif":
            heads = payload.get("heads") or {}
            if "seg_head" not in heads:
                raise ConfigError(f"{path} has no SSVIF heads; it was not trained in mode 'ssvif'")
            load_weights(self.module.seg_head, heads["seg_head"], path, "seg_head weights")
            load_weights(self.module.seg_net, heads["seg_net"], path, "seg_net weights")
            if self.weighting is not None and payload.get("weighting"):
                self.weighting.load_state_dict(payload["weighting"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        if payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        set_rng_state(payload["rng"])
        self.step = int(payload["step"])
        self.previous = dict(payload.get("progress") or self.previous)
        if self.info.is_main:
            log.info("resuming %s at step %d of %d", path, self.step, self.cfg.optim.steps)

    def _progress(self, train_s: float, pairs: int) -> dict[str, float]:
        return {"wall_s": self.previous["wall_s"] + time.perf_counter() - self.t_start,
                "train_s": self.previous["train_s"] + train_s, "pairs": self.previous["pairs"] + pairs}

    def _meta(self, progress: dict[str, float], final_terms: dict[str, float]) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "mode": cfg.mode,
            "steps": self.step,
            "seed": cfg.run.seed,
            "init": self.init,
            "global_batch": cfg.data.batch_size * self.info.world_size,
            "crop": cfg.data.crop,
            "data": [{"set": f"{s.root}/{s.split}", "pairs": n, "weight": s.weight, "labels": s.labels, "exclude": s.exclude,
                      "include": s.include} for s, n in zip(cfg.data.datasets, self.dataset.set_sizes)],
            "wall_time_s": round(progress["wall_s"], 2),
            "train_time_s": round(progress["train_s"], 2),
            "pairs_seen": int(progress["pairs"]),
            "pairs_per_s": round(progress["pairs"] / max(progress["train_s"], 1e-9), 3),
            "machine": machine_info(self.device, self.info.world_size),
            "final_losses": final_terms,
            "train_config": cfg.to_dict(),
        }

    def _save(self, name: str, progress: dict[str, float], terms: dict[str, float]) -> Path:
        folder = self.run_dir / "checkpoints"
        heads = {"seg_head": self.module.seg_head.state_dict(), "seg_net": self.module.seg_net.state_dict()} \
            if self.cfg.mode == "ssvif" else None
        path = save_training_checkpoint(
            folder / name, self.module.fusion, self._meta(progress, terms),
            optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict() if self.amp else None, step=self.step, train_config=self.cfg.to_dict(),
            heads=heads, weighting=self.weighting.state_dict() if self.weighting else None, progress=progress)
        if name != "last.pt":
            shutil.copyfile(path, folder / "last.pt")
            prune_step_checkpoints(folder, self.cfg.run.keep_checkpoints)
        return folder / "last.pt"

    # ------------------------------------------------------------------ loop
    def _loss(self, out: Any, stage: int) -> tuple[torch.Tensor, dict[str, float]]:
        total = out.fusion_total
        extra: dict[str, float] = {}
        if self.weighting is not None:
            s = self.cfg.ssvif
            total = total + s.guard_weight * out.terms["guard"] + s.branch_consistency * out.terms["consistency"]
            w_c = 0.0
            if stage == 2:
                pair = dist_utils.mean_across(torch.stack((out.fusion_total.detach(), out.terms["consistency"].detach())), self.info)
                w_c = self.weighting.update(self.step, float(pair[0]), float(pair[1]))
                total = total + w_c * out.terms["consistency_fusion"]
            extra = {"weight/consistency": w_c, "weight/guard": s.guard_weight, "weight/branch_consistency": s.branch_consistency,
                     "ssvif/stage": float(stage)}
        return total, extra

    def _balanced_backward(self, total: torch.Tensor, detection: torch.Tensor) -> dict[str, float]:
        """Gradients of the fusion terms and of the detection term separately, combined by
        :func:`training.gradient_balance.balance` into ``.grad``."""
        scaled_fusion, scaled_det = self.scaler.scale(total - detection), self.scaler.scale(detection)
        g_fusion = torch.autograd.grad(scaled_fusion, self.params, retain_graph=True, allow_unused=True)
        # a batch with no labelled pair has a constant zero detection term: nothing to add
        g_det = torch.autograd.grad(scaled_det, self.params, allow_unused=True) if scaled_det.requires_grad \
            else [None] * len(self.params)
        grads, stats = balance(list(g_fusion), list(g_det), self.params, self.cfg.optim.detection_grad_ratio)
        for p, g in zip(self.params, grads):
            p.grad = g
        return {"balance/fusion_norm": stats.fusion_norm, "balance/detection_norm": stats.detection_norm,
                "balance/cosine": stats.cosine, "balance/scale": stats.scale}

    def execute(self) -> TrainResult:
        cfg, info, r = self.cfg, self.info, self.cfg.run
        if info.is_main:
            dump_config(cfg, self.run_dir / "config.yaml")
        logger = RunLogger(self.run_dir, info.is_main, r.tensorboard, r.progress, self.step, cfg.optim.steps)
        loader = make_loader(self.dataset, r.seed, self.step, info.rank, info.world_size, self.device.type == "cuda")
        batches = iter(loader)
        global_batch = cfg.data.batch_size * info.world_size
        t_loop, t_window, window_steps = time.perf_counter(), time.perf_counter(), 0
        terms_f: dict[str, float] = {}
        self.module.train()
        while self.step < cfg.optim.steps:
            batch = {k: v.to(self.device, non_blocking=True) for k, v in next(batches).items()}
            stage = 1 if cfg.mode == "ssvif" and self.step < cfg.ssvif.stage1_steps else 2
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                out = self.model(batch["ir"], batch["vi"], batch["mask"], batch["roi_valid"], stage,
                                 vi_cbcr=batch["vi_cbcr"], boxes=batch["boxes"])
            total, extra = self._loss(out, stage)
            self.optimizer.zero_grad(set_to_none=True)
            if self.balance_detection and "detection" in out.terms:
                extra.update(self._balanced_backward(total, cfg.loss.detection * out.terms["detection"]))
            else:
                self.scaler.scale(total).backward()
            self.scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf"))
            lr = self.optimizer.param_groups[0]["lr"]
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.step += 1
            window_steps += 1
            last = self.step == cfg.optim.steps
            if info.is_main and r.log_every and (self.step % r.log_every == 0 or last):
                now = time.perf_counter()
                rate = window_steps * global_batch / max(now - t_window, 1e-9)
                t_window, window_steps = now, 0
                terms_f = {k: float(v.detach()) for k, v in out.terms.items()}
                values = {"loss/total": float(total.detach()), "loss/fusion": float(out.fusion_total.detach()), **{f"loss/{k}": v for k, v in terms_f.items()},
                          "lr": lr, "grad_norm": float(grad_norm), "pairs_per_s": rate, **extra}
                if out.seg is not None:
                    values.update({f"ssvif/{k}": v for k, v in seg_monitors(out.seg).items()})
                logger.scalars(self.step, values)
                logger.progress(0, {"loss": f"{float(total.detach()):.4f}", "pairs/s": f"{rate:.1f}"})
            if info.is_main and r.image_every and (self.step % r.image_every == 0 or last):
                cols = [batch["ir"], batch["vi"], out.fused, out.alpha]
                logger.images(self.step, "ir|vi|fused|alpha", image_grid(cols))
            logger.progress(1)
            if r.ckpt_every and self.step % r.ckpt_every == 0 and not last:
                if info.is_main:
                    self._save(f"step_{self.step:07d}.pt", self._progress(time.perf_counter() - t_loop, self._pairs(global_batch)),
                               terms_f)
                dist_utils.barrier(info)
        train_s = time.perf_counter() - t_loop
        del batches
        logger.close()
        return self._finish(train_s, global_batch, terms_f)

    def _pairs(self, global_batch: int) -> int:
        """Pairs processed by all ranks in this session (before a resume they are in ``previous``)."""
        return (self.step - self.start_step) * global_batch

    def _finish(self, train_s: float, global_batch: int, terms: dict[str, float]) -> TrainResult:
        progress = self._progress(train_s, self._pairs(global_batch))
        meta = self._meta(progress, terms)
        ckpt = self.run_dir / "checkpoints" / "last.pt"
        model_path = self.run_dir / "model.pt"
        if self.info.is_main:
            self._save(f"step_{self.step:07d}.pt", progress, terms)
            save_checkpoint(model_path, self.module.fusion, meta)
            write_record(self.run_dir / "record.json", meta)
            log.info("trained %d steps in %.1f s (%.2f pairs/s) -> %s", self.step, progress["train_s"], meta["pairs_per_s"], model_path)
        dist_utils.barrier(self.info)
        return TrainResult(self.run_dir, model_path, ckpt, meta)
