"""``ivif bench`` in its short CI mode: the JSON it writes, the tables it prints (fusion, detection, cost per
megapixel), skipped combinations, size sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fusion_core.cli._bench_input import find_bench_pair, synthetic_pair
from fusion_core.cli._bench_report import add_ratios
from fusion_core.cli._bench_scaling import SIZE_SETS, fit_scaling, parse_sizes
from fusion_core.cli.main import build_parser, main


@pytest.fixture()
def env(tmp_path, monkeypatch):
    import torch

    threads = torch.get_num_threads()  # --threads sets torch's process-wide pool; give it back afterwards
    monkeypatch.setenv("IVIF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IVIF_ONNX_EXPORTER", "legacy")  # the on-the-fly export in ~1 s instead of ~10-30 s
    yield tmp_path
    torch.set_num_threads(threads)


def test_bench_quick_writes_complete_json(env, capsys):
    out = env / "bench.json"
    argv = ["bench", "--quick", "--iters", "3", "--backend", "torch,onnxruntime", "--size", "160x120,53x37",
            "--precision", "fp32,fp16", "--network-only", "--threads", "1", "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    meta = data["meta"]
    assert meta["input"].startswith("real MSRS pair") and meta["iters"] == 3 and meta["warmup"] == 1
    assert meta["device"] == "cpu" and meta["size_convention"] == "WIDTHxHEIGHT" and meta["onnxruntime"]
    rows = data["results"]
    assert [(r["backend"], r["precision"], r["size"]) for r in rows] == [
        (b, p, s) for b in ("torch", "onnxruntime") for p in ("fp32", "fp16") for s in ([160, 120], [53, 37])]
    for r in rows:
        if r["precision"] == "fp16":  # fp16 needs CUDA: recorded as skipped with the engine's reason
            assert r["status"] == "skipped" and "needs device 'cuda'" in r["reason"]
            continue
        assert r["status"] == "ok"
        lat = r["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"]
        assert r["throughput_pairs_per_s"] == pytest.approx(1000.0 / lat["mean"])
        assert set(r["stages_ms"]) == {"pre", "network", "post"} and all(v > 0 for v in r["stages_ms"].values())
        assert sum(r["stages_ms"].values()) <= lat["p99"] * 1.5
        assert r["peak_memory"]["kind"] in ("rss_peak_delta", "ru_maxrss_delta") and r["peak_memory"]["mib"] >= 0
        assert r["ratio_to_fastest"] >= 1.0
    assert rows[1]["provider"] is None and rows[5]["provider"] == "CPUExecutionProvider"
    for size in ([160, 120], [53, 37]):
        ok = [r["ratio_to_fastest"] for r in rows if r["size"] == size and r["status"] == "ok"]
        assert min(ok) == 1.0 and len(ok) == 2
    net = data["network_only"]
    assert [(r["backend"], r["size"]) for r in net] == [("torch", [160, 120]), ("torch", [53, 37]),
                                                        ("onnxruntime", [160, 120]), ("onnxruntime", [53, 37])]
    assert all(r["median_ms"] > 0 and r["iters"] == 3 for r in net)
    assert "full fusion per pair" in text and "network forward only" in text and "x fastest" in text
    assert "skipped: precision 'fp16' needs device 'cuda'" in text
    # no --detector: fusion rows only, and no detection table
    assert {r["kind"] for r in rows} == {"fusion"} and "detection per fused image" not in text
    assert "fusion+detection" not in text and "cost per megapixel" in text


def test_bench_with_only_unavailable_backends_fails(env, capsys):
    assert main(["bench", "--quick", "--backend", "tensorrt", "--size", "64x48"]) == 1
    assert "backend 'tensorrt' needs device 'cuda'" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--size", "640-480"], "is not WIDTHxHEIGHT"),
    (["--backend", "torch,tflite"], "expected a comma-separated list of torch, onnxruntime, tensorrt"),
    (["--precision", "int8"], "expected a comma-separated list of fp32, fp16"),
])
def test_bench_rejects_bad_options(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(["bench", *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_bench_pair_sources(msrs_dir):
    pair = find_bench_pair()
    assert "MSRS" in pair.source and "00004N" in pair.source and pair.thermal.shape == (480, 640)
    th, vi = pair.resized(53, 37)
    assert th.shape == (37, 53) and vi.shape == (37, 53, 3) and th.dtype == np.uint8
    given = find_bench_pair(msrs_dir / "ir" / "00055D.png", msrs_dir / "vi" / "00055D.png")
    assert given.source == "given pair 00055D.png / 00055D.png"


def test_synthetic_pair_is_deterministic_and_textured():
    th, vi = synthetic_pair(120, 160)
    assert th.shape == (120, 160) and vi.shape == (120, 160, 3) and th.dtype == vi.dtype == np.uint8
    assert np.array_equal(th, synthetic_pair(120, 160)[0])
    assert th.std() > 10 and vi.std() > 20 and th.max() > 150  # hot targets, textured visible


def test_add_ratios_groups_by_size_and_precision():
    rows = [{"size": [1, 1], "precision": "fp32", "m": 4.0}, {"size": [1, 1], "precision": "fp32", "m": 2.0},
            {"size": [2, 2], "precision": "fp32", "m": 3.0}, {"size": [1, 1], "precision": "fp16", "m": 8.0},
            {"size": [1, 1], "precision": "fp32", "status": "skipped"}]
    add_ratios(rows, None, "m")
    assert [r.get("ratio_to_fastest") for r in rows] == [2.0, 1.0, 1.0, 1.0, None]


def _table_line(text: str, *cells: str) -> str:
    """The one printed line that starts with these whitespace-separated cells."""
    hits = [line for line in text.splitlines() if line.split()[:len(cells)] == list(cells)]
    assert len(hits) == 1, (cells, hits)
    return hits[0]


def test_bench_detector_rows_and_cost_per_megapixel(env, capsys):
    out = env / "bench.json"
    argv = ["bench", "--quick", "--warmup", "1", "--iters", "3", "--backend", "torch", "--size", "96x64,64x48",
            "--detector", "--threads", "1", "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    rows = data["results"]
    assert [(r["kind"], r["size"]) for r in rows] == [
        (k, s) for s in ([96, 64], [64, 48]) for k in ("fusion", "detection", "fusion+detection")]
    assert data["meta"]["detector"] == {"model": "yolox_nano.onnx", "runtime": "onnxruntime",
                                        "providers": ["CPUExecutionProvider"], "input_size": 416, "rectangular": True}
    assert data["meta"]["sizes"] == [[96, 64], [64, 48]]
    for r in rows:
        assert r["status"] == "ok" and r["backend"] == "torch"
        mp = r["size"][0] * r["size"][1] / 1e6
        assert r["megapixels"] == pytest.approx(mp)
        assert r["ms_per_mp"]["p50"] == pytest.approx(r["latency_ms"]["p50"] / mp)  # ms/MP = p50 / MP
        for stage in ("pre", "network", "post"):
            assert r["stages_ms"][stage] > 0
            assert r["ms_per_mp"][stage] == pytest.approx(r["stages_ms"][stage] / mp)
        assert sum(r["stage_share"].values()) == pytest.approx(1.0)
        # the printed per-MP line carries the JSON's numbers
        line = _table_line(text.split("cost per megapixel")[1], r["kind"], "torch", "fp32", f"{r['size'][0]}x{r['size'][1]}")
        cells = line.split()
        assert cells[5:10] == [f"{r['latency_ms']['p50']:.2f}", f"{r['ms_per_mp']['p50']:.1f}", f"{r['ms_per_mp']['pre']:.1f}",
                               f"{r['ms_per_mp']['network']:.1f}", f"{r['ms_per_mp']['post']:.1f}"]
    for fused, det, both in (rows[0:3], rows[3:6]):
        assert det["detector"]["input_size"] == 416 and det["detections_per_image"] >= 0
        # the combined row's stages are the sums of fusion's and detection's in the same iterations, so each
        # is at least the detection part alone
        assert all(both["stages_ms"][k] >= det["stages_ms"][k] for k in ("pre", "network", "post"))
        assert both["latency_ms"]["p50"] >= det["latency_ms"]["p50"]
        assert det["ratio_to_fastest"] == both["ratio_to_fastest"] == 1.0
    for kind in ("fusion", "detection", "fusion+detection"):
        fit = next(f for f in data["scaling_fit"] if f["kind"] == kind)
        members = [r for r in rows if r["kind"] == kind]
        for r in members:  # two sizes: the line goes through both points
            assert fit["fixed_ms"] + fit["ms_per_mp"] * r["megapixels"] == pytest.approx(r["latency_ms"]["p50"], rel=1e-6)
        assert fit["sizes"] == 2 and fit["backend"] == "torch"
    assert "detection per fused image (YOLOX-nano on onnxruntime" in text and "fusion + detection per pair" in text
    assert "linear fit over sizes" in text


def test_bench_detector_rows_skipped_with_the_engine(env, capsys):
    assert main(["bench", "--quick", "--backend", "tensorrt", "--size", "64x48", "--detector"]) == 1
    text = capsys.readouterr().out
    assert text.count("skipped: backend 'tensorrt' needs device 'cuda'") == 3  # fusion, detection, fusion+detection


@pytest.mark.parametrize("text,expected", [
    ("scaling", list(SIZE_SETS["scaling"])),
    ("SCALING", list(SIZE_SETS["scaling"])),
    ("640x480,scaling,64x48", [(640, 480), (320, 256), (640, 512), (1280, 720), (1280, 1024), (64, 48)]),
    ("64x48, 64X48", [(64, 48)]),
])
def test_parse_sizes(text, expected):
    assert parse_sizes(text) == expected


def test_scaling_set_is_the_issue_list_and_the_flag_adds_it():
    assert SIZE_SETS["scaling"] == ((320, 256), (640, 480), (640, 512), (1280, 720), (1280, 1024))
    from fusion_core.cli.bench import _sizes

    parser = build_parser()
    assert _sizes(parser.parse_args(["bench", "--scaling"])) == list(SIZE_SETS["scaling"])
    assert _sizes(parser.parse_args(["bench", "--scaling", "--size", "64x48,640x480"])) == [*SIZE_SETS["scaling"], (64, 48)]
    assert _sizes(parser.parse_args(["bench"])) == [(640, 480)]
    assert parser.parse_args(["bench"]).detector is False


@pytest.mark.parametrize("argv,message", [
    (["--size", "huge"], "size 'huge' is not WIDTHxHEIGHT, e.g. 640x480, nor a named size set "
                         "(scaling = 320x256, 640x480, 640x512, 1280x720, 1280x1024)"),
    (["--size", "scaling,0x480"], "size '0x480' is not WIDTHxHEIGHT"),
    (["--size", ","], "expected a comma-separated list of WIDTHxHEIGHT or size set names"),
])
def test_bench_rejects_bad_size_names(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(["bench", *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_fit_scaling_recovers_a_line_and_skips_single_sizes():
    def row(kind, size, p50):
        return {"kind": kind, "backend": "torch", "precision": "fp32", "status": "ok", "size": list(size),
                "latency_ms": {"p50": p50}}

    # p50 = 4 ms + 100 ms/MP over three sizes; one detection size only (no fit); a skipped row ignored
    rows = [row("fusion", s, 4.0 + 100.0 * s[0] * s[1] / 1e6) for s in ((320, 256), (640, 480), (1280, 1024))]
    rows += [row("detection", (640, 480), 30.0), {"kind": "fusion", "backend": "torch", "precision": "fp32",
                                                  "status": "skipped", "size": [9, 9]}]
    (fit,) = fit_scaling(rows)
    assert (fit["kind"], fit["sizes"]) == ("fusion", 3)
    assert fit["fixed_ms"] == pytest.approx(4.0) and fit["ms_per_mp"] == pytest.approx(100.0)


def test_several_models_are_timed_side_by_side_in_one_run(env, capsys):
    """Two checkpoints in one run: rows per model, labelled NAME/backend, ratios across both models."""
    from fusion_core import load_model
    from fusion_core.checkpoint import save_checkpoint
    from fusion_core.model import with_fixed_stages

    plain = load_model()
    heavier = with_fixed_stages(plain, pyramid_gains=(0.75, 0.5, 0.25))
    path = save_checkpoint(env / "pyr.pt", heavier)
    out = env / "bench.json"
    argv = ["bench", "--quick", "--iters", "3", "--backend", "torch", "--size", "160x120", "--threads", "1",
            "--model", "default", "--model", f"pyr={path}", "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())["results"]
    assert [(r["model"], r["label"], r["status"]) for r in rows] == [("default", "default/torch", "ok"),
                                                                     ("pyr", "pyr/torch", "ok")]
    assert min(r["ratio_to_fastest"] for r in rows) == 1.0  # one shared ratio scale across the two models
    assert "default/torch" in text and "pyr/torch" in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--model"])
    assert main(["bench", "--quick", "--model", f"a={path}", "--model", f"a={path}"]) != 0
    assert "--model names must differ" in capsys.readouterr().err


def test_bench_times_a_calibrated_rig_at_its_own_sizes(env, capsys):
    """--calibration: the thermal frame at the file's thermal size, warped into its visible size. Shifted by (16, 24)
    px, a 320x256 thermal frame covers a 320x256 block of a 640x360 visible frame: 35.6 % of it."""
    from fusion_core.calibration import Calibration, save_calibration

    calib = save_calibration(env / "calib.yaml", Calibration((1.0, 0.0, 16.0, 0.0, 1.0, 24.0, 0.0, 0.0, 1.0), (320, 256), (640, 360),
                                                             1.0, "test"))
    out = env / "bench.json"
    argv = ["bench", "--quick", "--iters", "2", "--backend", "onnxruntime", "--threads", "1", "--calibration", str(calib),
            "--detector", "--json", str(out)]
    assert main(argv) == 0
    assert "thermal resized to 320x256, visible to 640x360" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["meta"]["calibration"] == {"file": str(calib), "thermal_size": [320, 256], "visible_size": [640, 360]}
    fusion = [r for r in data["results"] if r["kind"] == "fusion"]
    assert [(r["status"], r["size"], r["thermal_size"]) for r in fusion] == [("ok", [640, 360], [320, 256])]
    assert fusion[0]["thermal_coverage"] == pytest.approx(320 * 256 / (640 * 360), abs=0.005)
    assert {r["kind"]: r["status"] for r in data["results"]} == {"fusion": "ok", "detection": "ok", "fusion+detection": "ok"}


def test_bench_calibration_fixes_the_sizes(env, capsys):
    from fusion_core.calibration import Calibration, save_calibration

    calib = save_calibration(env / "calib.yaml", Calibration((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), (320, 256), (640, 360),
                                                             1.0, "test"))
    assert main(["bench", "--quick", "--calibration", str(calib), "--size", "640x480"]) == 2
    assert "leave out --size/--scaling" in capsys.readouterr().err
