"""scripts/codec_benchmark.py runs and reports what it timed (the figures themselves come from its JSON)."""

from __future__ import annotations

import json


def test_codec_benchmark_rows(tmp_path, capsys, load_script) -> None:
    module = load_script("codec_benchmark")
    assert module.main(["--iters", "2", "--json", str(tmp_path / "codec.json")]) == 0
    rows = json.loads((tmp_path / "codec.json").read_text())["rows"]
    assert len(rows) == 3 * len(module.SIZES)
    for row in rows:
        assert 0 < row["p50_ms"] <= row["p90_ms"] and 0 < row["bytes"] < row["raw_bytes"]  # compressed is smaller
    assert "visible JPEG decode" in capsys.readouterr().out
