"""scripts/codec_benchmark.py runs and reports what it timed (the figures themselves come from its JSON)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_codec_benchmark_rows(tmp_path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("codec_benchmark", REPO / "scripts" / "codec_benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--iters", "2", "--json", str(tmp_path / "codec.json")]) == 0
    rows = json.loads((tmp_path / "codec.json").read_text())["rows"]
    assert len(rows) == 3 * len(module.SIZES)
    for row in rows:
        assert 0 < row["p50_ms"] <= row["p90_ms"] and 0 < row["bytes"] < row["raw_bytes"]  # compressed is smaller
    assert "visible JPEG decode" in capsys.readouterr().out
