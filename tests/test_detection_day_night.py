"""scripts/detection_day_night.py splits a folder by MSRS's day/night stem suffix, and refuses uneven folders."""

from __future__ import annotations

from pathlib import Path


def test_halves_are_linked_by_suffix(tmp_path: Path, load_script) -> None:
    script = load_script("detection_day_night")
    src = tmp_path / "src"
    src.mkdir()
    for stem in ("00001D", "00002N", "00003D"):
        (src / f"{stem}.png").write_bytes(stem.encode())
    (src / "00004D.txt").write_text("x")
    assert script.link_half(src, tmp_path / "day", "D", "*.png") == 2
    assert sorted(p.name for p in (tmp_path / "day").iterdir()) == ["00001D.png", "00003D.png"]
    assert (tmp_path / "day" / "00003D.png").read_bytes() == b"00003D"
    assert script.link_half(src, tmp_path / "night", "N", "*.png") == 1


def test_folders_with_different_halves_are_refused(tmp_path: Path, load_script) -> None:
    script = load_script("detection_day_night")
    a, b, labels = tmp_path / "a", tmp_path / "b", tmp_path / "labels"
    for folder, stems in ((a, ("1D", "2N")), (b, ("1D", "2N", "3D")), (labels, ())):
        folder.mkdir()
        for stem in stems:
            (folder / f"{stem}.png").write_bytes(b"")
    code = script.main(["--labels", str(labels), "--fused", f"a={a}", "--fused", f"b={b}", "--work", str(tmp_path / "w"),
                        "--json", str(tmp_path / "out.json")])
    assert code == 2 and not (tmp_path / "out.json").exists()


def test_a_name_given_twice_is_refused(tmp_path: Path, load_script) -> None:
    script = load_script("detection_day_night")
    (tmp_path / "a").mkdir()
    code = script.main(["--labels", str(tmp_path), "--fused", f"x={tmp_path / 'a'}", "--fused", f"x={tmp_path / 'a'}",
                        "--work", str(tmp_path / "w"), "--json", str(tmp_path / "out.json")])
    assert code == 2 and not (tmp_path / "w").exists()
