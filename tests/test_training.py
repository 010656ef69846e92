"""Training pipeline on the CPU: typed config, deterministic data with real ROI masks, runs, resume, DDP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fusion_core import EngineConfig, create_engine, load_checkpoint, load_model
from fusion_core.boxes import roi_mask_for
from fusion_core.cli.main import main as ivif
from fusion_core.colour import luminance
from fusion_core.errors import ConfigError
from fusion_core.io import read_thermal, read_visible
from training import (
    DataConfig,
    DatasetSpec,
    PairDataset,
    StepBatchSampler,
    collect_pairs,
    config_from_dict,
    dump_config,
    load_config,
    make_loader,
    read_split,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IVIF_SHARED_DATA", REPO.parent / "shared" / "data"))
SMOKE = REPO / "config" / "train" / "ci_smoke.yaml"
BASE = f"data.base_dir={DATA}"


# ---------------------------------------------------------------- config

@pytest.mark.parametrize("data, message", [
    ({"optim": {"lrr": 0.1}}, "unknown key 'optim.lrr' in 'optim'; valid keys: betas, detection_grad_ratio, grad_clip, lr, min_lr_ratio, schedule, steps, warmup, weight_decay"),
    ({"trainer": {}}, "unknown key 'trainer' in the top level; valid keys: data, loss, mode, model, optim, run, ssvif"),
    ({"model": {"chanels": 8}}, "unknown key 'model.chanels' in 'model'; valid keys: channels, "),
    ({"data": {"datasets": [{"root": "MSRS", "split": "train", "label": "x"}]}}, "unknown key 'data.datasets.0.label'"),
    ({"optim": {"steps": 2.5}}, "'optim.steps' must be an integer, got 2.5"),
    ({"run": {"amp": "yes please"}}, "'run.amp' must be true or false"),
    ({"mode": "supervised"}, "mode 'supervised' is not one of target_aware, ssvif"),
    ({"run": {"device": "tpu"}}, "run.device 'tpu' is not one of auto, cpu, cuda"),
    ({"loss": {"roi_intensity_target": "vi"}}, "roi_intensity_target 'vi' is not one of ir, max"),
    ({"mode": "ssvif", "optim": {"steps": 10}, "ssvif": {"stage1_steps": 10}}, "ssvif.stage1_steps (10) must be < optim.steps (10)"),
])
def test_config_rejects_unknown_keys_and_bad_values(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert message in str(err.value)


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  stepz: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'optim.stepz'"):
        load_config(path)


def test_overrides_are_typed_by_the_dataclass_field() -> None:
    cfg = config_from_dict({}, [
        "optim.lr=1e-3", "optim.steps=2000", "data.hflip=false", "run.threads=3", "run.out_dir=runs/a b",
        "model.dilations=[1, 2]", "optim.betas=[0.8, 0.95]", "data.datasets.1.weight=2", "data.datasets.0.labels=null",
        "loss.gradient=5", "mode=ssvif",
    ])
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.steps == 2000 and cfg.data.hflip is False and cfg.run.threads == 3
    assert cfg.run.out_dir == "runs/a b" and cfg.model.dilations == (1, 2) and cfg.optim.betas == (0.8, 0.95)
    assert cfg.data.datasets[1].weight == 2.0 and cfg.data.datasets[0].labels is None
    assert cfg.loss.gradient == 5.0 and isinstance(cfg.loss.gradient, float) and cfg.mode == "ssvif"


@pytest.mark.parametrize("override, message", [
    ("optim.stepz=3", "unknown key 'optim.stepz' in override 'optim.stepz=3'; valid keys of optim: betas,"),
    ("optim.steps=many", "'optim.steps' must be an integer, got 'many'"),
    ("data.datasets.7.weight=1", "data.datasets is a list of 3; '7' is not an index in 0..2"),
    ("run.seed.x=1", "run.seed is a value, not a section"),
    ("optim", "override 'optim' must look like section.key=value"),
    ("model.channels=2", "channels must be >= 4, got 2"),
])
def test_bad_overrides_are_named(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({}, [override])
    assert message in str(err.value)


def test_resolved_config_is_written_and_reads_back_identically(tmp_path: Path) -> None:
    cfg = load_config(SMOKE, ["optim.steps=9", "model.channels=12"])
    path = dump_config(cfg, tmp_path / "config.yaml")
    raw = yaml.safe_load(path.read_text())
    assert raw["optim"]["steps"] == 9 and raw["model"]["channels"] == 12
    assert raw["ssvif"]["classes"] == 9  # defaults are written out too: the file alone says what ran
    assert load_config(path) == cfg


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "config" / "train").glob("*.yaml")))
def test_committed_configs_load(name: str) -> None:
    cfg = load_config(REPO / "config" / "train" / f"{name}.yaml")
    assert cfg.mode == ("ssvif" if name == "ssvif" else "target_aware")
    if name != "ci_smoke":
        assert cfg.data.crop == 256 and "LLVIP" not in {d.root for d in cfg.data.datasets}
        # every committed recipe holds the dev split out of training
        excluded = {d.root: d.exclude for d in cfg.data.datasets if d.split == "trainval"}
        dev = set(read_split(REPO / "config" / "splits" / "msrs_dev.txt"))
        assert dev <= set(read_split(REPO / excluded["MSRS"]))


# ---------------------------------------------------------------- splits and data

def test_split_files_hold_the_documented_dev_stems() -> None:
    for name, split, mod in (("msrs_dev", "MSRS/trainval", 4), ("roadscene_dev", "RoadScene/trainval", 5)):
        stems = sorted(p.stem for p in (DATA / split / "ir").iterdir())
        assert read_split(REPO / "config" / "splits" / f"{name}.txt") == [s for i, s in enumerate(stems) if i % mod == 0]
    train = collect_pairs(DatasetSpec("MSRS", "trainval", exclude="config/splits/msrs_dev.txt"), DATA)
    dev = collect_pairs(DatasetSpec("MSRS", "trainval", include="config/splits/msrs_dev.txt"), DATA)
    assert (len(train), len(dev)) == (195, 66)
    assert not {r.stem for r in train} & {r.stem for r in dev}
    stems = sorted(p.stem for p in (DATA / "MSRS/trainval" / "ir").iterdir())
    held = read_split(REPO / "config" / "splits" / "msrs_dev_and_selection.txt")
    assert held == sorted(s for i, s in enumerate(stems) if i % 4 in (0, 2))


def test_split_file_with_a_foreign_stem_is_an_error(tmp_path: Path) -> None:
    split = tmp_path / "split.txt"
    split.write_text("# comment\n00004N\nFLIR_00006\n")
    with pytest.raises(ConfigError, match=r"lists 1 stem\(s\) not in .*MSRS/trainval, e.g. 'FLIR_00006'"):
        collect_pairs(DatasetSpec("MSRS", "trainval", exclude=str(split)), DATA)


def _data(crop: int = 64, workers: int = 0) -> DataConfig:
    specs = (DatasetSpec("MSRS", "train", labels="labels_det_ir"), DatasetSpec("RoadScene", "trainval", exclude="config/splits/roadscene_dev.txt"))
    return DataConfig(base_dir=str(DATA), datasets=specs, crop=crop, batch_size=3, workers=workers, cache=False)


def _batches(loader: torch.utils.data.DataLoader, n: int) -> list[dict[str, torch.Tensor]]:
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_batches_are_a_function_of_seed_and_step_only() -> None:
    ds = PairDataset(_data())
    a = _batches(make_loader(ds, seed=7), 3)
    b = _batches(make_loader(PairDataset(_data(workers=2)), seed=7), 3)  # other worker count, fresh dataset
    c = _batches(make_loader(ds, seed=8), 1)
    late = _batches(make_loader(ds, seed=7, start_step=2), 1)  # what a resumed run sees at step 2
    for x, y in zip(a, b):
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert not torch.equal(a[0]["ir"], c[0]["ir"])
    assert all(torch.equal(a[2][k], late[0][k]) for k in late[0])
    assert a[0]["ir"].shape == (3, 1, 64, 64) and a[0]["mask"].dtype == torch.float32


def test_ddp_ranks_take_disjoint_slices_of_one_global_batch() -> None:
    one = StepBatchSampler([30, 136], [1.0, 1.0], batch_size=4, seed=3)
    whole = StepBatchSampler([30, 136], [1.0, 1.0], batch_size=2, seed=3, world_size=2)
    r0 = StepBatchSampler([30, 136], [1.0, 1.0], batch_size=2, seed=3, rank=0, world_size=2)
    r1 = StepBatchSampler([30, 136], [1.0, 1.0], batch_size=2, seed=3, rank=1, world_size=2)
    for step in range(5):
        assert r0.batch(step) + r1.batch(step) == one.batch(step)
        assert whole.batch(step) == r0.batch(step)


def test_set_weights_steer_sampling_whatever_the_set_sizes() -> None:
    sampler = StepBatchSampler([30, 136], [3.0, 1.0], batch_size=8, seed=0)
    picks = np.array([i for step in range(250) for i, _ in sampler.batch(step)])
    share_small = float(np.mean(picks < 30))
    assert share_small == pytest.approx(0.75, abs=0.03)


def test_crops_carry_the_real_images_and_their_roi_masks() -> None:
    """MSRS 640×480 with a 480 crop: the crop is a column window; IR, visible Y and boxes must line up."""
    cfg = DataConfig(base_dir=str(DATA), datasets=(DatasetSpec("MSRS", "train", labels="labels_det_ir"),), crop=480,
                     batch_size=1, workers=0, cache=True, hflip=False)
    ds = PairDataset(cfg)
    index = next(i for i, r in enumerate(ds.records) if roi_mask_for(r.labels, r.stem, (480, 640)).sum() > 0)
    record = ds.records[index]
    item = ds[(index, 12345)]
    ir_full = read_thermal(record.ir).astype(np.float32) / 255.0  # RGB(gray) IR file -> (480, 640)
    vi_full = luminance(torch.from_numpy(read_visible(record.vi).astype(np.float32) / 255.0)).numpy()
    mask_full = roi_mask_for(record.labels, record.stem, (480, 640))
    ir = item["ir"][0].numpy()
    x0 = next(x for x in range(161) if np.array_equal(ir_full[:, x:x + 480], ir))
    np.testing.assert_allclose(item["vi"][0].numpy(), vi_full[:, x0:x0 + 480], atol=1e-6)
    np.testing.assert_array_equal(item["mask"][0].numpy().astype(bool), mask_full[:, x0:x0 + 480])
    assert item["roi_valid"].item() == 1.0


def test_small_images_are_padded_and_unlabelled_sets_are_marked() -> None:
    ds = PairDataset(_data(crop=400))  # RoadScene heights are 161–459
    index = next(i for i, r in enumerate(ds.records) if r.set_index == 1 and read_thermal(r.ir).shape[0] < 300)
    item = ds[(index, 1)]
    assert item["ir"].shape == item["vi"].shape == item["mask"].shape == (1, 400, 400)
    assert item["roi_valid"].item() == 0.0 and item["mask"].sum() == 0
    assert 0.0 <= item["ir"].min() and item["ir"].max() <= 1.0


# ---------------------------------------------------------------- runs

def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def test_cli_run_checkpoint_resume_and_deployable_model(tmp_path: Path, msrs_pair: tuple[np.ndarray, np.ndarray]) -> None:
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert ivif(["train", "--config", str(SMOKE), BASE, "--out", str(full)]) == 0
    ckpts = sorted(p.name for p in (full / "checkpoints").iterdir())
    assert ckpts == ["last.pt", "step_0000003.pt", "step_0000006.pt"]
    mid = load_checkpoint(full / "checkpoints" / "step_0000003.pt")
    assert mid["step"] == 3 and {"optimizer", "scheduler", "rng", "train_config"} <= set(mid)

    # Resume from the step-3 checkpoint (its own config) into another folder: same steps 4–6, same weights.
    assert ivif(["train", "--resume", str(full / "checkpoints" / "step_0000003.pt"), "--out", str(resumed)]) == 0
    a, b = _state(full / "model.pt"), _state(resumed / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], mid["model"][k]) for k in a)  # steps 4–6 did change the weights
    lines = lambda p: [json.loads(x) for x in (p / "scalars.jsonl").read_text().splitlines()]  # noqa: E731
    assert [x["step"] for x in lines(resumed)] == [4, 5, 6]
    assert [x["loss/total"] for x in lines(resumed)] == [x["loss/total"] for x in lines(full)][3:]

    record = json.loads((full / "record.json").read_text())
    assert record["steps"] == 6 and record["seed"] == 0 and record["pairs_seen"] == 12 and record["pairs_per_s"] > 0
    assert record["machine"]["device"] == "cpu" and record["data"][0] == {
        "set": "MSRS/train", "pairs": 30, "weight": 1.0, "labels": "labels_det_ir", "exclude": None, "include": None}
    assert json.loads((resumed / "record.json").read_text())["pairs_seen"] == 12  # counts carry over the resume
    assert (full / "config.yaml").is_file()

    # model.pt is the shipped-default format: load_model reads it and the engine fuses a real pair with it.
    model = load_model(full / "model.pt")
    assert "optimizer" not in load_checkpoint(full / "model.pt") and model.config.channels == 8
    thermal, visible = msrs_pair
    result = create_engine(EngineConfig(), model=model).fuse(thermal, visible, "rgb")
    assert result.fused.shape == visible.shape and result.alpha.shape == thermal.shape
    assert 20 < result.fused.mean() < 235


def test_resuming_a_deployable_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no train_config: it is a deployable model"):
        from training import config_for_resume

        config_for_resume(REPO / "fusion_core" / "weights" / "default.pt")
    assert ivif(["train"]) == 2  # neither --config nor --resume: a clean error, not a traceback


def test_init_fine_tunes_from_a_model_file_and_refuses_another_architecture(tmp_path: Path) -> None:
    from fusion_core import save_checkpoint
    from fusion_core.model import FusionNet
    from training import train

    cfg = load_config(SMOKE, [BASE, "optim.steps=1", "optim.lr=1e-9", "optim.warmup=0"])
    torch.manual_seed(123)  # weights unlike the run's own seed-0 initialisation
    start = save_checkpoint(tmp_path / "start.pt", FusionNet(cfg.model), {"name": "start"})
    result = train(load_config(SMOKE, [BASE, "optim.steps=1", "optim.lr=1e-9", "optim.warmup=0", f"run.init={start}"]),
                   out_dir=tmp_path / "ft")
    fresh = train(cfg, out_dir=tmp_path / "fresh")
    a, b, c = _state(start), _state(result.model_path), _state(fresh.model_path)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # one step at lr 1e-9 keeps the start weights
    assert not all(torch.allclose(a[k], c[k], atol=1e-3) for k in a if a[k].is_floating_point())
    assert result.record["init"] == {"path": str(start), "meta": {"name": "start"}}
    assert fresh.record["init"] is None

    with pytest.raises(ConfigError, match="run.init default: its model config .* differs"):  # shipped model: 16 channels, smoke: 8
        train(load_config(SMOKE, [BASE, "optim.steps=1", "run.init=default"]), out_dir=tmp_path / "bad")
    # the weight-free stages (detail transfer, tone) may differ: the weights still fit, and the run keeps its own numbers
    with_transfer = train(load_config(SMOKE, [BASE, "optim.steps=1", "optim.lr=1e-9", "optim.warmup=0", f"run.init={start}",
                                              "model.pyramid_gains=[0.5,0.25]", "model.sum_mix=0.1", "model.contrast_gain=1.06"]),
                          out_dir=tmp_path / "pyr")
    d = _state(with_transfer.model_path)
    assert all(torch.allclose(a[k], d[k], atol=1e-6) for k in a)
    saved = torch.load(with_transfer.model_path, weights_only=True)["model_config"]
    assert (saved["pyramid_gains"], saved["sum_mix"], saved["contrast_gain"]) == ([0.5, 0.25], 0.1, 1.06)


def test_ssvif_runs_both_stages_and_saves_its_heads(tmp_path: Path) -> None:
    from training import train

    cfg = load_config(SMOKE, [BASE, "mode=ssvif", "optim.steps=6", "ssvif.stage1_steps=3", "ssvif.classes=4", "ssvif.ramp_steps=2"])
    result = train(cfg, out_dir=tmp_path / "ssvif")
    rows = [json.loads(x) for x in (tmp_path / "ssvif" / "scalars.jsonl").read_text().splitlines()]
    assert [r["ssvif/stage"] for r in rows] == [1, 1, 1, 2, 2, 2]
    assert [r["weight/consistency"] for r in rows[:3]] == [0.0, 0.0, 0.0]
    weights = [r["weight/consistency"] for r in rows[3:]]
    assert all(w > 0 for w in weights) and weights[0] < weights[1]  # ramped in over ssvif.ramp_steps
    # FusionNet's consistency pass exists in stage 2 only and has the branches' values (same logits, other gradient path)
    assert ["loss/consistency_fusion" in r for r in rows] == [False] * 3 + [True] * 3
    assert all(r["loss/consistency_fusion"] == pytest.approx(r["loss/consistency"], rel=1e-5) for r in rows[3:])
    for r in rows:
        assert np.isfinite(r["loss/total"]) and r["loss/guard"] >= 0 and r["loss/consistency"] >= 0
    ckpt = load_checkpoint(result.checkpoint_path)
    assert set(ckpt["heads"]) == {"seg_head", "seg_net"} and ckpt["weighting"]["cons_avg"] > 0
    assert load_model(result.model_path).config.channels == 8


@pytest.mark.slow
def test_torchrun_two_gloo_processes_match_one_process_with_the_global_batch(tmp_path: Path) -> None:
    """DDP averages gradients over ranks; with per-image-mean losses (ROI terms off, their masked means
    are per-rank) two ranks of batch 2 take the same steps as one process of batch 4."""
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.is_file():
        pytest.skip(f"torchrun not found beside {sys.executable}")
    common = [BASE, "optim.steps=2", "run.ckpt_every=0", "loss.roi_intensity=0", "loss.roi_gradient=0", "loss.roi_outside=0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "fusion_core.cli.main", "train",
         "--config", str(SMOKE), *common, "--out", str(tmp_path / "ddp")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "ddp" / "record.json").read_text())
    assert record["machine"]["world_size"] == 2 and record["global_batch"] == 4 and record["pairs_seen"] == 8
    assert ivif(["train", "--config", str(SMOKE), *common, "data.batch_size=4", "--out", str(tmp_path / "single")]) == 0
    a, b = _state(tmp_path / "ddp" / "model.pt"), _state(tmp_path / "single" / "model.pt")
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-6, rtol=1e-4)
    shutil.rmtree(tmp_path / "ddp")
