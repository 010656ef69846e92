import numpy as np
import pytest
import torch

from fusion_core import ConfigError, EngineConfig, FusionNet, InputError, create_engine
from fusion_core.colour import rgb_to_ycbcr, ycbcr_to_rgb
from fusion_core.io import to_luminance


@pytest.fixture(scope="module")
def engine():
    return create_engine()


def test_fuse_real_pair_contract(engine, msrs_pair):
    thermal, visible = msrs_pair
    res = engine.fuse(thermal, visible, "rgb")
    assert res.fused.shape == visible.shape and res.fused.dtype == np.uint8
    assert res.alpha.shape == thermal.shape and res.alpha.dtype == np.uint8
    assert set(res.timings) == {"pre", "network", "post", "total"}
    assert res.timings["total"] >= res.timings["network"] > 0


def test_engine_equals_model_plus_colour_maths(msrs_pair):
    """The engine's output is exactly: Y from the network, CbCr from the visible, rounded to uint8."""
    thermal, visible = msrs_pair
    torch.manual_seed(3)
    model = FusionNet().eval()
    res = create_engine(model=model).fuse(thermal, visible, "rgb")
    vis = torch.from_numpy(visible).float() * (1.0 / 255.0)  # the engine's arithmetic, so rounding agrees
    ycc = rgb_to_ycbcr(vis)
    with torch.no_grad():
        out = model(((torch.from_numpy(thermal).float() - 0.0) * (1.0 / 255.0))[None, None], ycc[..., 0][None, None].contiguous())
    rgb = ycbcr_to_rgb(torch.cat((out.fused[0, 0][..., None], ycc[..., 1:]), dim=-1))
    expected = (rgb * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    assert np.array_equal(res.fused, expected)
    assert np.array_equal(res.alpha, (out.alpha[0, 0] * 255).round().to(torch.uint8).numpy())


def test_bgr_and_rgba_orders_mirror_rgb(engine, msrs_pair):
    thermal, visible = msrs_pair
    rgb = engine.fuse(thermal, visible, "rgb").fused
    bgr = engine.fuse(thermal, np.ascontiguousarray(visible[..., ::-1]), "bgr").fused
    assert np.array_equal(bgr, rgb[..., ::-1])
    alpha_channel = np.full(visible.shape[:2] + (1,), 77, np.uint8)
    rgba = engine.fuse(thermal, np.concatenate((visible, alpha_channel), axis=-1), "rgba").fused
    assert rgba.shape[-1] == 4 and np.array_equal(rgba[..., :3], rgb) and (rgba[..., 3] == 77).all()


def test_grey_visible_gives_grey_output(engine, msrs_pair):
    thermal, visible = msrs_pair
    grey = visible[..., 1]
    res = engine.fuse(thermal, grey, "mono")
    assert res.fused.shape == grey.shape


def test_grey_camera_fuses_like_the_colour_cameras_luminance(engine, msrs_pair):
    """A grey camera that sees the colour camera's luma gets the colour output's luminance back, to rounding: the
    fusion runs on luminance either way (only where the colour output clips to the RGB gamut may it differ more)."""
    thermal, visible = msrs_pair
    luma = np.clip(np.rint(to_luminance(visible)), 0, 255).astype(np.uint8)
    grey = engine.fuse(thermal, luma, "mono").fused.astype(float)
    colour = to_luminance(engine.fuse(thermal, visible, "rgb").fused)
    diff = np.abs(grey - colour)
    assert np.percentile(diff, 99) <= 1.0 and (diff <= 2.0).mean() >= 0.999
    assert np.percentile(np.abs(grey - luma), 99) > 20.0  # and a fusion: the night pair's hot targets brighten it


def test_uint16_thermal_equals_uint8_when_scaled(engine, msrs_pair):
    """x·257 in 16 bits spans the same fraction of the range as x in 8 bits (65535 = 255·257)."""
    thermal, visible = msrs_pair
    a = engine.fuse(thermal, visible).fused.astype(int)
    b = engine.fuse(thermal.astype(np.uint16) * 257, visible).fused.astype(int)
    assert np.abs(a - b).max() <= 1


def test_retune_thermal_applies_from_the_next_frame_and_restarts_the_agc(msrs_pair):
    from fusion_core.thermal import ThermalNormConfig

    thermal, visible = msrs_pair
    counts = (1000 + 4 * thermal.astype(np.uint16)).astype(np.uint16)
    agc = ThermalNormConfig(policy="percentile", smoothing=0.5)
    engine = create_engine(EngineConfig(thermal=agc))
    engine.fuse(np.full_like(counts, 1500), visible)  # AGC memory of another scene
    assert engine.normalizer.applied == (1500.0, 1501.0)  # a flat frame keeps a unit-width window
    ranged = ThermalNormConfig(low=1000.0, high=2020.0)
    engine.retune_thermal(ranged)
    assert engine.config.thermal == ranged and engine.normalizer.applied is None
    np.testing.assert_array_equal(engine.fuse(counts, visible).fused, create_engine(EngineConfig(thermal=ranged)).fuse(counts, visible).fused)
    assert engine.normalizer.applied == (1000.0, 2020.0)
    engine.retune_thermal(agc)  # back to the AGC: its first frame is fused with no memory of the flat scene
    np.testing.assert_array_equal(engine.fuse(counts, visible).fused, create_engine(EngineConfig(thermal=agc)).fuse(counts, visible).fused)


def test_float_and_three_channel_thermal(engine, msrs_pair):
    thermal, visible = msrs_pair
    a = engine.fuse(thermal, visible).fused
    assert np.array_equal(engine.fuse(np.repeat(thermal[..., None], 3, axis=-1), visible).fused, a)
    b = engine.fuse(thermal.astype(np.float32) / 255.0, visible).fused
    assert np.abs(a.astype(int) - b).max() <= 1


def test_smaller_thermal_is_resized_into_visible_frame(engine, msrs_pair):
    import cv2

    thermal, visible = msrs_pair
    small = cv2.resize(thermal, (320, 240), interpolation=cv2.INTER_AREA)
    res = engine.fuse(small, visible)
    assert res.fused.shape == visible.shape


@pytest.mark.parametrize("size", [(37, 53), (1, 1), (481, 641)])
def test_any_size(engine, size):
    rng = np.random.default_rng(0)
    res = engine.fuse(rng.integers(0, 256, size, dtype=np.uint8), rng.integers(0, 256, size + (3,), dtype=np.uint8))
    assert res.fused.shape == size + (3,)


@pytest.mark.parametrize(
    ("thermal", "visible", "order", "message"),
    [
        (np.zeros((4, 4), np.int64), np.zeros((4, 4, 3), np.uint8), "rgb", "thermal dtype int64"),
        (np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3), np.uint8), "rgb", "thermal must be"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), "rgb", "visible must be a uint8"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8), "rgba", "must be \\(H, W, 4\\)"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8), "yuv", "not one of rgb, bgr"),
        (np.zeros((4, 8), np.uint8), np.zeros((8, 4, 3), np.uint8), "rgb", "cannot be registered"),
    ],
)
def test_bad_inputs_raise_input_error(engine, thermal, visible, order, message):
    with pytest.raises(InputError, match=message):
        engine.fuse(thermal, visible, order)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "tflite"}, "not one of auto, torch, onnxruntime, tensorrt"),
        ({"device": "tpu"}, "not one of auto, cpu, cuda"),
        ({"precision": "fp16", "device": "cpu"}, "needs device 'cuda'"),  # with device 'auto': once resolved (below)
        ({"backend": "tensorrt", "device": "cpu"}, "needs device 'cuda'"),
        ({"threads": 0}, "threads"),
    ],
)
def test_invalid_engine_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        EngineConfig(**kwargs)


def test_cuda_refused_cleanly_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="torch.cuda.is_available\\(\\) is False"):
        create_engine(EngineConfig(device="cuda"))


@pytest.mark.gpu
def test_cuda_fp16_matches_cpu(msrs_pair):
    thermal, visible = msrs_pair
    cpu = create_engine().fuse(thermal, visible)
    for precision, tol in (("fp32", 1), ("fp16", 3)):
        gpu = create_engine(EngineConfig(device="cuda", precision=precision)).fuse(thermal, visible)
        assert np.abs(gpu.fused.astype(int) - cpu.fused).max() <= tol, precision
        assert np.abs(gpu.alpha.astype(int) - cpu.alpha).max() <= tol, precision


# ---------------------------------------------------------------- backend / device 'auto'

@pytest.mark.parametrize("backend, device, model, in_memory, cuda, trt, ort, expected", [
    ("auto", "auto", None, False, False, False, True, ("onnxruntime", "cpu")),  # this CPU machine
    ("auto", "auto", None, False, False, False, False, ("torch", "cpu")),  # no onnxruntime installed
    ("auto", "auto", None, False, True, True, True, ("tensorrt", "cuda")),
    ("auto", "auto", None, False, True, False, True, ("torch", "cuda")),
    ("auto", "auto", "m.onnx", False, True, False, True, ("onnxruntime", "cuda")),  # torch cannot read ONNX
    ("auto", "auto", "m.onnx", False, False, False, False, ("onnxruntime", "cpu")),  # ... and says so when it builds
    ("auto", "cpu", None, False, True, True, True, ("onnxruntime", "cpu")),  # an explicit device wins
    ("auto", "auto", None, True, False, False, True, ("torch", "cpu")),  # a model in memory: torch only
    ("torch", "auto", None, False, True, True, True, ("torch", "cuda")),  # an explicit backend wins
    ("onnxruntime", "cpu", None, False, True, True, True, ("onnxruntime", "cpu")),
])
def test_auto_picks_the_fastest_backend_this_machine_runs(monkeypatch, backend, device, model, in_memory, cuda, trt, ort, expected):
    import fusion_core.engine.auto as auto

    monkeypatch.setattr(auto.torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(auto, "importable", lambda name: {"tensorrt": trt, "onnxruntime": ort}[name])
    resolved = auto.resolve_engine_config(EngineConfig(backend=backend, device=device, model_path=model), in_memory)
    assert (resolved.backend, resolved.device) == expected


def test_auto_refuses_gpu_only_settings_without_a_gpu(monkeypatch):
    import fusion_core.engine.auto as auto

    monkeypatch.setattr(auto.torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="precision 'fp16' needs device 'cuda'"):
        auto.resolve_engine_config(EngineConfig(precision="fp16"))
    with pytest.raises(ConfigError, match="backend 'tensorrt' needs device 'cuda'"):
        auto.resolve_engine_config(EngineConfig(backend="tensorrt"))


def test_default_engine_reports_what_it_resolved_to():
    engine = create_engine()
    assert (engine.backend, str(engine.device)) == (engine.config.backend, engine.config.device)
    assert engine.config.backend in ("onnxruntime", "torch", "tensorrt") and engine.config.device in ("cpu", "cuda")
