"""The laptop recipe's corpus subset: all package tracks, a seeded share of pieces."""

from __future__ import annotations

import json
from pathlib import Path

from trainer.corpus.cli import main
from trainer.corpus.subset import subset_manifest


def _manifest() -> dict:
    tracks = [{"path": f"recordings/pkg{i % 3}/{i}.ogg", "song": f"r{i}", "source": f"pkg{i % 3}",
               "kind": "recording", "group": f"r{i}", "split": "val" if i % 3 == 0 else "train",
               "duration": 100.0} for i in range(9)]
    for p in range(20):
        split = "val" if p % 4 == 0 else "train"
        tracks += [{"path": f"renditions/c/{p}/r{r}.ogg", "song": f"m:{p}#r{r}",
                    "source": "music21:c", "kind": "rendition", "group": f"m:{p}",
                    "split": split, "duration": 50.0} for r in range(4)]
    return {"version": 1, "tracks": tracks}


def test_subset_keeps_every_recording_and_whole_pieces(tmp_path: Path) -> None:
    data = _manifest()
    sub = subset_manifest(data, tmp_path, train_pieces=3, val_pieces=2)
    kinds = [t["kind"] for t in sub["tracks"]]
    assert kinds.count("recording") == 9
    pieces = {(t["split"], t["group"]) for t in sub["tracks"] if t["kind"] == "rendition"}
    assert sum(s == "train" for s, _ in pieces) == 3 and sum(s == "val" for s, _ in pieces) == 2
    assert kinds.count("rendition") == 4 * 5  # every rendition of a kept piece
    assert all(Path(t["path"]).is_absolute() and t["path"].startswith(str(tmp_path.resolve()))
               for t in sub["tracks"])
    # a larger subset contains the smaller one; the same call gives the same rows
    bigger = subset_manifest(data, tmp_path, train_pieces=6, val_pieces=3)
    assert {t["song"] for t in sub["tracks"]} < {t["song"] for t in bigger["tracks"]}
    assert subset_manifest(data, tmp_path, train_pieces=3, val_pieces=2) == sub


def test_subset_command_writes_a_manifest(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text(json.dumps(_manifest()), encoding="utf-8")
    assert main(["subset", "--out", str(corpus), "--dest", str(tmp_path / "lite"),
                 "--train-pieces", "1", "--val-pieces", "1"]) == 0
    rows = json.loads((tmp_path / "lite" / "manifest.json").read_text())["tracks"]
    assert len(rows) == 9 + 8
    assert main(["subset", "--out", str(tmp_path / "none"), "--dest", str(tmp_path / "x")]) == 1
