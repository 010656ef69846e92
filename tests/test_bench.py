"""``ivif bench`` in its short CI mode: the JSON it writes, the table it prints, skipped combinations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fusion_core.cli._bench_input import find_bench_pair, synthetic_pair
from fusion_core.cli._bench_report import add_ratios
from fusion_core.cli.main import main


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
