"""The end-to-end benchmark on a few seconds (camera process -> fusion_node [+ detector_node] -> this bench):
every published pair fused-and-detected or counted, detections stamped like the fused images; and the
detection accounting on tables of diagnostics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from ros_harness import ros_env

from ivif_fusion.e2e import account_detections, latency_tail, latency_trace, latency_windows

RECEIVED = [(100, 10), (101, 11)]  # (receive ns, stamp ns) of detection messages


@pytest.mark.parametrize("mode,fusion,detector,expected", [
    ("inprocess", {"fused": "12", "detected": "9", "detector_errors": "1", "dropped_detector": "2"}, {},
     {"fused": 12, "detected": 9, "detector_errors": 1, "dropped_detector": 2, "unaccounted": 0, "not_received_here": 7}),
    ("inprocess", {"fused": "12", "detected": "9"}, {},
     {"fused": 12, "detected": 9, "detector_errors": 0, "dropped_detector": 0, "unaccounted": 3, "not_received_here": 7}),
    ("node", {"fused": "12", "detected": "0"}, {"processed": "8", "lost_dds": "1", "dropped_worker": "2", "bad_frames": "0",
                                                "errors": "1", "received": "11"},
     {"fused": 12, "detected": 8, "detector_node_lost_dds": 1, "detector_node_dropped_worker": 2, "detector_node_bad_frames": 0,
      "detector_node_errors": 1, "unaccounted": 0, "not_received_here": 6}),
])
def test_account_detections(mode, fusion, detector, expected) -> None:
    r = account_detections(mode, fusion, detector, RECEIVED, {10, 12})
    assert {k: r[k] for k in expected} == expected
    assert set(r) - set(expected) == {"received_here", "stamps_unmatched", "stamps_duplicated"}
    assert (r["received_here"], r["stamps_unmatched"], r["stamps_duplicated"]) == (2, 1, 0)  # stamp 11 was never fused here


def test_account_detections_counts_duplicate_stamps() -> None:
    r = account_detections("inprocess", {"fused": "2", "detected": "2"}, {}, [(1, 10), (2, 10)], {10})
    assert (r["stamps_duplicated"], r["stamps_unmatched"], r["unaccounted"], r["not_received_here"]) == (1, 0, 0, 0)


def test_a_prefixed_detector_param_is_refused(capsys) -> None:
    """'detector.' is e2e's to add: a prefixed setting would reach fusion_node as detector.detector.*, which ROS ignores."""
    from ivif_fusion import e2e

    with pytest.raises(SystemExit) as stop:
        e2e.main(["--detector-param", "detector.input_size:=320"])
    assert stop.value.code == 2
    assert "give the detector's own name (input_size:=320)" in capsys.readouterr().err


def test_latency_trace_and_tail_locate_the_slowest_detections() -> None:
    """200 detections at 30 Hz, 40 ms each but for 80 ms at 0.33 s, 90 ms at 2.0 s and 120 ms at 2.5 s: the trace is
    in stamp order whatever the arrival order; the tail (above the p99, 80.1 ms) is the two slowest, in one 1 s
    window, both within the first 5 s."""
    stamps = [round(i * 1e9 / 30) for i in range(200)]
    lag_ms = {60: 90.0, 75: 120.0, 10: 80.0}  # frame index -> latency
    received = [(s + round(lag_ms.get(i, 40.0) * 1e6), s) for i, s in enumerate(stamps)][::-1]  # arrival order reversed
    trace = latency_trace(received)
    assert trace[0] == [0.0, 40.0] and trace[10] == [0.333, 80.0] and trace[75] == [2.5, 120.0] and len(trace) == 200
    tail = latency_tail(trace)
    assert (tail["frames"], tail["times_s"], tail["windows"], tail["in_first_5_s"]) == (2, [2.0, 2.5], 1, 2)
    assert tail["threshold_ms"] == pytest.approx(80.0, abs=1.0)  # the p99 of 197 x 40 ms and 80, 90, 120 ms
    assert latency_trace([]) == [] and latency_tail([]) == {}
    windows = latency_windows(trace, 2.0)  # frames 0-59 (0-1.97 s): one 80 ms; 60-119: 90 and 120 ms; 120-199: none
    assert [(w["start_s"], w["detections"]) for w in windows] == [(0.0, 60), (2.0, 60), (4.0, 60), (6.0, 20)]
    assert [w["p50_ms"] for w in windows] == [40.0] * 4
    assert windows[0]["p99_ms"] == pytest.approx(40.0 + 0.41 * 40.0) and windows[2]["p99_ms"] == 40.0
    assert latency_windows([], 60.0) == []


@pytest.mark.ros
@pytest.mark.parametrize("detector", ["inprocess", "node"])
def test_e2e_accounts_for_every_pair_and_detection(tmp_path, detector: str) -> None:
    out = tmp_path / "e2e.json"
    proc = subprocess.run([sys.executable, "-m", "ivif_fusion.e2e", "--rate", "5", "--seconds", "6", "--size", "320x240",
                           "--bin", "3", "--detector", detector, "--logs", str(tmp_path / "logs" / detector), "--json", str(out)],
                          env=ros_env(), capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    for cam, c in r["cameras"].items():
        assert c["published"] >= 25, (cam, c)  # 6 s at 5 Hz
        assert c["unaccounted"] == 0 and c["never_reached_node"] == 0, (cam, c)
    p, d = r["pairs"], r["detections"]
    assert p["pairs_unaccounted"] == 0 and p["pairs"] == p["fused"] + p["dropped_worker"] + p["bad_pairs"] + p["errors"]
    # fused = detected + counted reasons, exactly; every detection reached this process
    reasons = sum(v for k, v in d.items() if k.startswith(("detector_", "dropped_detector")))
    assert d["fused"] == p["fused"] == r["outputs_received"] and d["fused"] == d["detected"] + reasons and d["unaccounted"] == 0
    assert d["detected"] > 0 and d["received_here"] == d["detected"] and d["not_received_here"] == 0
    # every detection carries the stamp of a fused image (= its visible camera frame), once
    assert d["stamps_unmatched"] == 0 and d["stamps_duplicated"] == 0
    assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"] < 10_000
    assert 0 <= r["after_fused_p50_ms"] <= r["after_fused_p99_ms"] < r["latency_p99_ms"]  # detections follow their fused image
    assert len(r["latency_trace"]) == d["received_here"] and r["latency_tail"]["frames"] >= 1
    assert sum(w["detections"] for w in r["latency_windows"]) == d["received_here"]
    assert r["detections_topic"] in ("detections", "detections/json")
    names = ["camera", "fusion_node"] + (["detector_node"] if detector == "node" else []) + ["bench"]
    assert list(r["cpu_percent"]) == names and r["cpu_percent"]["fusion_node"] > 0
    assert all(len(row) == len(names) + 1 for row in r["rss_mb"])
    assert "unaccounted anywhere: 0" in proc.stdout
