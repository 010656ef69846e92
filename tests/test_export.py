"""ONNX export: checker, metadata, ONNX Runtime parity with PyTorch on real MSRS pairs, the onnxruntime backend.

Tolerance: fused and alpha within 1/255 on the [0, 1] scale (one 8-bit grey level) for the fp32
export; in practice they agree to ~1e-5. The fp16 export is held to the same 1/255 against PyTorch
fp32 (it measures ~3e-4).
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import onnx
import pytest
import torch

import fusion_core
from fusion_core import ConfigError, FusionNet, FusionNetConfig, create_engine, load_model
from fusion_core.checkpoint import DEFAULT_MODEL_PATH, save_checkpoint
from fusion_core.cli.main import main
from fusion_core.colour import luminance
from fusion_core.engine import EngineConfig
from fusion_core.export import (PARITY_TOLERANCE, ExportError, export_onnx, onnx_parity, parse_hw, read_onnx_metadata,
                                resolve_onnx, sha256_file)
from fusion_core.io import read_thermal, read_visible

TOL = 1.0 / 255.0
STEMS = ("00004N", "00055D", "00158D")
SIZES = [(480, 640), (481, 641), (37, 53), (1, 1), (5, 1283)]  # (H, W): native, odd, tiny, degenerate, wide


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One user cache for the module, so the shipped model is exported once (by the real on-the-fly path)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IVIF_CACHE_DIR", str(tmp_path_factory.mktemp("ivif_cache")))
        yield


@pytest.fixture(scope="module")
def default_onnx(cache):
    path, _meta = resolve_onnx(None, "fp32")
    return path


@pytest.fixture(scope="module")
def ort_session(default_onnx):
    import onnxruntime as ort

    return ort.InferenceSession(str(default_onnx), providers=["CPUExecutionProvider"])


def _msrs_tensors(msrs_dir, stem: str, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A real pair resized to (h, w): IR and visible Y as (1, 1, h, w) float32 [0, 1]."""
    th = cv2.resize(read_thermal(msrs_dir / "ir" / f"{stem}.png"), (w, h), interpolation=cv2.INTER_AREA)
    vi = cv2.resize(read_visible(msrs_dir / "vi" / f"{stem}.png"), (w, h), interpolation=cv2.INTER_AREA)
    ir_t = torch.from_numpy(th).float().div(255.0)[None, None]
    vi_t = luminance(torch.from_numpy(vi).float().div(255.0))[None, None].contiguous()
    return ir_t, vi_t


def test_export_passes_checker_with_dynamic_io(default_onnx):
    model = onnx.load(str(default_onnx))
    onnx.checker.check_model(model, full_check=True)
    io = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in list(model.graph.input) + list(model.graph.output)}
    assert io == {name: ["batch", 1, "height", "width"] for name in ("ir", "vi", "fused", "alpha")}
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in list(model.graph.input) + list(model.graph.output))
    pools = [n for n in model.graph.node if n.op_type == "AveragePool"]
    assert any(onnx.helper.get_attribute_value(a) == 1 for n in pools for a in n.attribute if a.name == "ceil_mode")


def test_metadata_round_trip(default_onnx):
    meta = read_onnx_metadata(default_onnx)
    assert meta.model_config == load_model().config
    assert meta.checkpoint_sha256 == sha256_file(DEFAULT_MODEL_PATH)
    assert meta.source == "default.pt"
    assert meta.version == fusion_core.__version__
    assert meta.precision == "fp32" and meta.opset == 18 and meta.exporter in ("dynamo", "legacy")
    assert meta.io_contract["colour"].startswith("BT.601 full range")
    assert meta.io_contract["thermal_normalisation"] == "outside the graph"
    assert set(meta.io_contract["inputs"]) == {"ir", "vi"} and set(meta.io_contract["outputs"]) == {"fused", "alpha"}


@pytest.mark.parametrize("h,w", SIZES)
def test_ort_matches_pytorch_on_real_pairs(ort_session, msrs_dir, h, w):
    model = load_model()
    for stem in STEMS:
        ir, vi = _msrs_tensors(msrs_dir, stem, h, w)
        fused, alpha = ort_session.run(["fused", "alpha"], {"ir": ir.numpy(), "vi": vi.numpy()})
        with torch.inference_mode():
            ref = model(ir, vi)
        assert fused.shape == alpha.shape == (1, 1, h, w)
        assert np.abs(fused - ref.fused.numpy()).max() <= TOL, stem
        assert np.abs(alpha - ref.alpha.numpy()).max() <= TOL, stem
        assert 0.0 <= alpha.min() and alpha.max() <= 1.0


def test_ort_dynamic_batch(ort_session, msrs_dir):
    pairs = [_msrs_tensors(msrs_dir, s, 97, 131) for s in STEMS]
    ir, vi = torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])  # (3, 1, 97, 131)
    fused, alpha = ort_session.run(["fused", "alpha"], {"ir": ir.numpy(), "vi": vi.numpy()})
    with torch.inference_mode():
        ref = load_model()(ir, vi)
    assert fused.shape == (3, 1, 97, 131)
    assert np.abs(fused - ref.fused.numpy()).max() <= TOL and np.abs(alpha - ref.alpha.numpy()).max() <= TOL


def test_legacy_exporter_and_in_memory_model_with_other_architecture(tmp_path, msrs_dir):
    """The other code paths of FusionNet (bilinear upsampling, scale 3, no detail residual) through the legacy exporter."""
    torch.manual_seed(3)
    model = FusionNet(FusionNetConfig(channels=8, scale=3, upsample="bilinear", detail_residual=False)).train()
    result = export_onnx(model, tmp_path / "m.onnx", exporter="legacy")
    assert model.training  # exporting does not switch a training model to eval behind the caller's back
    assert result.exporter == "legacy" and max(result.parity_max_abs.values()) <= PARITY_TOLERANCE
    meta = read_onnx_metadata(result.path)
    assert meta.model_config == model.config and meta.source == "<in-memory FusionNet>"
    ir, vi = _msrs_tensors(msrs_dir, "00004N", 481, 641)
    diff = onnx_parity(result.path, model, ir, vi)
    assert diff["fused"] <= TOL and diff["alpha"] <= TOL


def test_fp16_export_keeps_float32_io_and_parity(tmp_path, msrs_dir):
    result = export_onnx(DEFAULT_MODEL_PATH, tmp_path / "h.onnx", precision="fp16", exporter="legacy")
    proto = onnx.load(str(result.path))
    assert [v.type.tensor_type.elem_type for v in proto.graph.input] == [onnx.TensorProto.FLOAT] * 2
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
    assert read_onnx_metadata(result.path).precision == "fp16"
    ir, vi = _msrs_tensors(msrs_dir, "00055D", 480, 640)
    diff = onnx_parity(result.path, load_model(), ir, vi)
    assert diff["fused"] <= TOL and diff["alpha"] <= TOL


def test_onnxruntime_engine_matches_torch_engine(cache, msrs_dir):
    ort_engine = create_engine(EngineConfig(backend="onnxruntime", threads=1))
    torch_engine = create_engine(EngineConfig(backend="torch"))
    assert ort_engine.backend == "onnxruntime" and ort_engine.runner.provider == "CPUExecutionProvider"
    assert ort_engine.runner.session.get_session_options().intra_op_num_threads == 1
    for stem in STEMS:
        th, vi = read_thermal(msrs_dir / "ir" / f"{stem}.png"), read_visible(msrs_dir / "vi" / f"{stem}.png")
        a, b = ort_engine.fuse(th, vi), torch_engine.fuse(th, vi)
        assert a.fused.shape == b.fused.shape == (480, 640, 3) and a.alpha.dtype == np.uint8
        assert np.abs(a.fused.astype(int) - b.fused).max() <= 1  # one grey level: rounding of values ~1e-6 apart
        assert np.abs(a.alpha.astype(int) - b.alpha).max() <= 1
        assert (a.fused != b.fused).mean() < 1e-3
        assert set(a.timings) == {"pre", "network", "post", "total"}


def test_cli_fuse_onnxruntime_equals_torch(cache, tmp_path, msrs_dir):
    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        for stem in STEMS[:2]:
            shutil.copy(msrs_dir / side / f"{stem}.png", tmp_path / side / f"{stem}.png")
    common = ["fuse", "--ir", str(tmp_path / "ir"), "--vi", str(tmp_path / "vi")]
    assert main(common + ["--out", str(tmp_path / "o_ort"), "--backend", "onnxruntime"]) == 0
    assert main(common + ["--out", str(tmp_path / "o_pt"), "--backend", "torch"]) == 0
    for stem in STEMS[:2]:
        for kind in ("fused", "alpha"):
            a = cv2.imread(str(tmp_path / "o_ort" / kind / f"{stem}.png"), cv2.IMREAD_UNCHANGED).astype(int)
            b = cv2.imread(str(tmp_path / "o_pt" / kind / f"{stem}.png"), cv2.IMREAD_UNCHANGED).astype(int)
            assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_onnx_cache_is_reused_and_repaired(cache, default_onnx):
    stamp = default_onnx.stat().st_mtime_ns
    assert resolve_onnx(None, "fp32")[0] == default_onnx and default_onnx.stat().st_mtime_ns == stamp
    backup = default_onnx.read_bytes()
    default_onnx.write_bytes(b"not an onnx file")
    try:
        path, meta = resolve_onnx(None, "fp32")
        assert path == default_onnx and meta.checkpoint_sha256 == sha256_file(DEFAULT_MODEL_PATH)
    finally:
        if default_onnx.read_bytes() == b"not an onnx file":
            default_onnx.write_bytes(backup)


def test_retrained_checkpoint_gets_its_own_cache_entry(cache, tmp_path, default_onnx, monkeypatch):
    monkeypatch.setenv("IVIF_ONNX_EXPORTER", "legacy")
    model = load_model()
    with torch.no_grad():
        model.head[-1].bias.add_(0.5)
    ckpt = save_checkpoint(tmp_path / "retrained.pt", model)
    path, meta = resolve_onnx(ckpt, "fp32")
    assert path != default_onnx and path.parent == default_onnx.parent and meta.checkpoint_sha256 == sha256_file(ckpt)
    assert meta.exporter == "legacy"


def test_cli_export_onnx(tmp_path, capsys):
    out = tmp_path / "sub" / "fusion.onnx"
    assert main(["export", "--format", "onnx", "--out", str(out), "--exporter", "legacy"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "legacy exporter" in text and "max |ONNX Runtime - PyTorch|" in text
    assert read_onnx_metadata(out).checkpoint_sha256 == sha256_file(DEFAULT_MODEL_PATH)
    assert not list(out.parent.glob("*.tmp"))


@pytest.mark.parametrize("argv,message", [
    (["--format", "onnx", "--min-shape", "8x8"], "apply to --format tensorrt only"),
    (["--format", "onnx", "--model", "missing.pt"], "missing.pt does not exist"),
    (["--format", "tensorrt", "--min-shape", "8by8"], "--min-shape '8by8' is not of the form HxW"),
])
def test_cli_export_errors(tmp_path, capsys, argv, message):
    assert main(["export", "--out", str(tmp_path / "x.onnx"), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("call,message", [
    (lambda p: export_onnx(p / "a.onnx", p / "b.onnx"), "already an ONNX file"),
    (lambda p: export_onnx(None, p / "b.onnx", precision="int8"), "precision 'int8' is not one of fp32, fp16"),
    (lambda p: export_onnx(None, p / "b.onnx", exporter="jit"), "exporter 'jit' is not one of auto, dynamo, legacy"),
    (lambda p: export_onnx(None, p / "b.onnx", opset=13), "opset 13 is too old"),
    (lambda p: read_onnx_metadata(p / "none.onnx"), "does not exist"),
    (lambda p: parse_hw("480x"), "is not of the form HxW"),
    (lambda p: parse_hw("0x5"), "must have positive height and width"),
])
def test_export_failures(tmp_path, call, message):
    with pytest.raises(ConfigError) as info:
        call(tmp_path)
    assert message in str(info.value)


def test_foreign_onnx_and_wrong_precision_are_refused(msrs_dir, default_onnx):
    yolox = msrs_dir.parents[1] / "models" / "yolox_nano_coco" / "yolox_nano.onnx"  # a real ONNX that is not ours
    with pytest.raises(ConfigError, match="is not an ivif-fusion ONNX export"):
        read_onnx_metadata(yolox)
    with pytest.raises(ConfigError, match="export it with `ivif export --format onnx --fp16`"):
        resolve_onnx(default_onnx, "fp16")
    with pytest.raises(ConfigError, match="backend 'torch' needs a .pt checkpoint"):
        create_engine(EngineConfig(backend="torch", model_path=str(default_onnx)))


def test_failed_parity_leaves_no_file(tmp_path, monkeypatch):
    import fusion_core.export.onnx_export as ox

    monkeypatch.setattr(ox, "PARITY_TOLERANCE", -1.0)  # any difference, even 0, now fails the check
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_onnx(None, tmp_path / "p.onnx", exporter="legacy")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.gpu
def test_onnxruntime_on_cuda_matches_torch_cuda(cache, msrs_pair):
    thermal, visible = msrs_pair
    engine = create_engine(EngineConfig(backend="onnxruntime", device="cuda"))
    ref = create_engine(EngineConfig(backend="torch", device="cuda")).fuse(thermal, visible)
    res = engine.fuse(thermal, visible)
    assert engine.device.type == "cuda" and engine.runner.provider in ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert np.abs(res.fused.astype(int) - ref.fused).max() <= 1 and np.abs(res.alpha.astype(int) - ref.alpha).max() <= 1
