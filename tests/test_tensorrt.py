"""TensorRT: the pure plan-cache key logic (always runs) and the real backend (marked gpu + tensorrt).

The GPU tests skip with a reason where ``tensorrt`` cannot be imported (it cannot be installed on
the CI or development machines) or where there is no CUDA GPU; run them with
``pytest -m "gpu or tensorrt"`` on a machine that has both (scripts/gpu_check.sh).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fusion_core import ConfigError, InputError, create_engine, load_model
from fusion_core.colour import luminance
from fusion_core.engine import EngineConfig
from fusion_core.export import ShapeProfile, fingerprint_mismatch, plan_cache_key, plan_fingerprint

BASE = dict(gpu_name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0), tensorrt_version="10.8.0.43",
            onnx_sha256="ab" * 32, profile=ShapeProfile())


def _has_tensorrt() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


def test_plan_key_is_deterministic_and_hex():
    key = plan_cache_key(plan_fingerprint(**BASE))
    assert key == plan_cache_key(plan_fingerprint(**BASE)) and len(key) == 64 and int(key, 16) >= 0


@pytest.mark.parametrize("field,value", [
    ("gpu_name", "NVIDIA GeForce RTX 4090"),
    ("compute_capability", (8, 9)),
    ("tensorrt_version", "10.9.0.34"),
    ("onnx_sha256", "cd" * 32),
    ("profile", ShapeProfile(opt=(512, 640))),
])
def test_plan_key_changes_with_every_input(field, value):
    changed = plan_fingerprint(**dict(BASE, **{field: value}))
    assert plan_cache_key(changed) != plan_cache_key(plan_fingerprint(**BASE))
    diff = fingerprint_mismatch(plan_fingerprint(**BASE), changed)
    assert len(diff) == 1 and diff[0].startswith(field + ": plan ")


def test_fingerprint_records_what_a_plan_depends_on():
    fp = plan_fingerprint(**BASE)
    assert fp["compute_capability"] == "9.0" and fp["tensorrt_version"] == "10.8.0.43"
    assert fp["profile"] == {"min": [8, 8], "opt": [480, 640], "max": [2160, 3840]}
    assert json.loads(json.dumps(fp)) == fp
    assert fingerprint_mismatch(fp, dict(fp)) == []


@pytest.mark.parametrize("kwargs,message", [
    (dict(min=(0, 8)), "1 <= min <= opt <= max"),
    (dict(min=(600, 8)), "heights must satisfy"),
    (dict(max=(4000, 100)), "widths must satisfy"),
])
def test_shape_profile_rejects_unordered_shapes(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ShapeProfile(**kwargs)


def test_shape_profile_from_shapes_and_contains():
    p = ShapeProfile.from_shapes(max_shape=(1024, 1280))
    assert p.min == (8, 8) and p.opt == (480, 640) and p.max == (1024, 1280)
    assert p.contains(480, 640) and p.contains(8, 1280) and not p.contains(7, 100) and not p.contains(1025, 100)
    assert ShapeProfile.from_dict(p.to_dict()) == p


@pytest.mark.skipif(_has_tensorrt(), reason="tensorrt is importable here; this checks the message shown without it")
def test_missing_tensorrt_is_a_clear_config_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="backend 'tensorrt' needs the tensorrt Python package"):
        create_engine(EngineConfig(backend="tensorrt", device="cuda"))
    from fusion_core.cli.main import main

    assert main(["export", "--format", "tensorrt", "--out", str(tmp_path / "m.plan"), "--exporter", "legacy"]) == 2
    err = capsys.readouterr().err
    assert "--format tensorrt needs the tensorrt Python package" in err
    assert (tmp_path / "m.onnx").is_file()  # the ONNX step ran before TensorRT was needed, and the message says where
    assert f"ivif export --model {tmp_path / 'm.onnx'} --format tensorrt --out m.plan` builds it" in err


# ---------------------------------------------------------------- real TensorRT (GPU machines) ---

@pytest.fixture(scope="module")
def trt_env(tmp_path_factory):
    pytest.importorskip("tensorrt", reason="tensorrt cannot be imported here (not installable on CI/dev machines)")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IVIF_CACHE_DIR", str(tmp_path_factory.mktemp("trt_cache")))
        mp.setenv("IVIF_ONNX_EXPORTER", "legacy")
        yield


def _pair(msrs_pair, h, w):
    import cv2

    th = cv2.resize(msrs_pair[0], (w, h), interpolation=cv2.INTER_AREA)
    vi = cv2.resize(msrs_pair[1], (w, h), interpolation=cv2.INTER_AREA)
    ir_t = torch.from_numpy(th).float().div(255.0)[None, None].cuda()
    vi_t = luminance(torch.from_numpy(vi).float().div(255.0))[None, None].contiguous().cuda()
    return ir_t, vi_t


@pytest.mark.gpu
@pytest.mark.tensorrt
@pytest.mark.parametrize("precision,tol", [("fp32", 1.0 / 255.0), ("fp16", 4.0 / 255.0)])  # fp16 arithmetic: a few levels
def test_tensorrt_runner_matches_pytorch(trt_env, msrs_pair, precision, tol):
    engine = create_engine(EngineConfig(backend="tensorrt", device="cuda", precision=precision))
    model = load_model().cuda()
    for h, w in [(480, 640), (481, 641), (37, 53), (1024, 1280)]:
        ir, vi = _pair(msrs_pair, h, w)
        with torch.inference_mode():
            fused, alpha = engine.runner(ir, vi)
            ref = model(ir, vi)
        torch.cuda.synchronize()
        assert fused.shape == (1, 1, h, w) and fused.is_cuda
        assert (fused - ref.fused).abs().max().item() <= tol, (h, w)
        assert (alpha - ref.alpha).abs().max().item() <= tol, (h, w)


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_tensorrt_engine_fuse_matches_torch(trt_env, msrs_pair):
    res = create_engine(EngineConfig(backend="tensorrt", device="cuda")).fuse(*msrs_pair)
    ref = create_engine(EngineConfig(backend="torch", device="cuda")).fuse(*msrs_pair)
    assert np.abs(res.fused.astype(int) - ref.fused).max() <= 1 and np.abs(res.alpha.astype(int) - ref.alpha).max() <= 1


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_plan_cache_reuses_and_rebuilds_stale_plans(trt_env, tmp_path, caplog):
    from fusion_core.export import ensure_plan, resolve_onnx
    from fusion_core.export.tensorrt_build import sidecar_path

    onnx_path, _ = resolve_onnx(None, "fp32")
    profile = ShapeProfile(min=(16, 16), opt=(64, 64), max=(256, 256))
    first = ensure_plan(onnx_path, profile)
    stamp = first.path.stat().st_mtime_ns
    assert ensure_plan(onnx_path, profile).path.stat().st_mtime_ns == stamp  # reused
    side = sidecar_path(first.path)
    data = json.loads(side.read_text())
    side.write_text(json.dumps(dict(data, tensorrt_version="9.0.0")))  # as if built by another TensorRT
    with caplog.at_level("WARNING"):
        again = ensure_plan(onnx_path, profile)
    assert "tensorrt_version: plan '9.0.0'" in caplog.text and again.engine is not None
    first.path.write_bytes(b"garbage plan")  # sidecar matches, bytes do not deserialise
    assert ensure_plan(onnx_path, profile).engine is not None


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_cli_export_tensorrt_and_out_of_profile_frames(trt_env, tmp_path, msrs_pair):
    from fusion_core.cli.main import main

    plan = tmp_path / "m.plan"
    assert main(["export", "--format", "tensorrt", "--out", str(plan), "--min-shape", "32x32", "--opt-shape", "480x640",
                 "--max-shape", "512x704", "--exporter", "legacy"]) == 0
    side = json.loads((tmp_path / "m.plan.json").read_text())
    assert side["profile"]["max"] == [512, 704] and side["precision"] == "fp32"
    engine = create_engine(EngineConfig(backend="tensorrt", device="cuda", model_path=str(plan)))
    assert engine.fuse(*msrs_pair).fused.shape == (480, 640, 3)
    big = (np.zeros((600, 800), np.uint8), np.zeros((600, 800, 3), np.uint8))
    with pytest.raises(InputError, match="outside the TensorRT plan's profile"):
        engine.fuse(*big)
