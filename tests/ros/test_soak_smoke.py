"""The soak benchmark end to end on a few seconds (camera process -> fusion_node process -> this bench),
and the transport set-up it ships (transport_env, the profile file)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from ros_harness import REPO, ros_env

from fusion_core.errors import ConfigError
from ivif_fusion.soak import account
from ivif_fusion.transport import BUILTIN_ENV, PROFILE_ENV, apply, profile_path, transport_env


def test_transport_env_points_at_the_shipped_profile_and_unsets_builtin() -> None:
    changes = transport_env()
    assert changes == {PROFILE_ENV: str((REPO / "config" / "fastdds_images.xml").resolve()), BUILTIN_ENV: None}
    env = apply({BUILTIN_ENV: "LARGE_DATA", "KEEP": "1"}, changes)
    assert env == {"KEEP": "1", PROFILE_ENV: changes[PROFILE_ENV]}
    assert transport_env("") == {}


def test_transport_env_rejects_a_missing_profile(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.xml does not exist .*'' for Fast DDS defaults"):
        transport_env(tmp_path / "nope.xml")


def test_profile_shm_segment_holds_several_images() -> None:
    """The reason for the profile: a segment that holds several rgb8 640x480 frames (921,600 bytes each)."""
    root = ET.parse(profile_path()).getroot()
    ns = {"d": "http://www.eprosima.com"}
    shm = [t for t in root.iterfind(".//d:transport_descriptor", ns) if t.findtext("d:type", namespaces=ns) == "SHM"]
    assert len(shm) == 1
    assert int(shm[0].findtext("d:segment_size", namespaces=ns)) >= 8 * 640 * 480 * 3
    participant = root.find(".//d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    assert participant.findtext("d:rtps/d:useBuiltinTransports", namespaces=ns) == "false"


DIAG = {"received_thermal": "95", "received_visible": "100", "pairs": "90", "fused": "80", "dropped_worker": "9",
        "bad_pairs": "0", "errors": "1", "bad_thermal": "1", "pending_thermal": "2", "pending_visible": "1",
        "unpaired_thermal_late": "2", "unpaired_visible_queue_full": "9", "lost_dds_thermal": "3", "lost_dds_visible": "0"}


@pytest.mark.parametrize("extra, thermal_unaccounted, lost_key", [
    ({}, 2, "lost_dds"),  # 100 published: 90 paired + 1 bad + 2 pending + 2 late + 3 reported lost; 2 silent
    ({"lost_seq_thermal": "5", "lost_seq_visible": "0"}, 0, "lost_seq"),  # the sequence gaps find those 2 (and the 3)
])
def test_account_identity(extra, thermal_unaccounted, lost_key) -> None:
    r = account({"thermal": 100, "visible": 100}, {**DIAG, **extra})
    t, v = r["cameras"]["thermal"], r["cameras"]["visible"]
    assert (t["unaccounted"], t["never_reached_node"], t[lost_key]) == (thermal_unaccounted, 5, 3 if lost_key == "lost_dds" else 5)
    assert ("lost_dds" in t) != ("lost_seq" in t)  # one of them, never both: they count the same frames
    assert (v["unaccounted"], v["paired"], v["unpaired_visible_queue_full"]) == (0, 90, 9)
    assert r["pairs"] == {"pairs": 90, "fused": 80, "dropped_worker": 9, "bad_pairs": 0, "errors": 1, "pairs_unaccounted": 0}


@pytest.mark.ros
def test_soak_accounts_for_every_frame(tmp_path) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, "-m", "ivif_fusion.soak", "--rate", "5", "--minutes", "0.1", "--size", "320x240",
                           "--bin", "2", "--logs", str(tmp_path), "--json", str(out)],
                          env=ros_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    for cam, c in r["cameras"].items():
        assert c["published"] >= 25, (cam, c)  # 6 s at 5 Hz
        counted = sum(v for k, v in c.items() if k not in ("published", "received_by_node", "unaccounted", "never_reached_node"))
        assert c["published"] == counted + c["unaccounted"], (cam, c)
        # on the shipped transport nothing goes missing at this rate: every frame is paired or counted
        assert c["unaccounted"] == 0 and c["never_reached_node"] == 0, (cam, c)
        assert sum(row[f"published_{cam}"] for row in r["rows"]) == c["published"]
    p = r["pairs"]
    assert p["pairs"] == p["fused"] + p["dropped_worker"] + p["bad_pairs"] + p["errors"] and p["pairs_unaccounted"] == 0
    assert r["outputs_received"] == p["fused"] > 0
    assert 0 < r["age_p50_ms"] <= r["age_p99_ms"] < 5000
    assert "unaccounted 0" in proc.stdout and "pairs:" in proc.stdout
