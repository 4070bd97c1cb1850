"""The versions benchmark on a tiny generated corpus: two pieces in two versions each."""

from __future__ import annotations

import json
import re

from benchmarks.bench_versions import main
from tests.audio_factory import write_audio
from tests.engine.test_versions import SR, progression, render
from tests.model_factory import write_music


def test_versions_are_told_apart_and_recordings_stay_below_the_threshold(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    (corpus / "renditions").mkdir(parents=True)
    tracks = []
    for piece in (1, 2):
        chords = progression(piece, n=30)
        for v, (beat, up, partials) in enumerate([(0.6, 0, 3), (0.66, 2, 8)]):
            path = write_audio(corpus / "renditions" / f"p{piece}v{v}.flac",
                               render(chords, beat=beat, transpose=up, partials=partials),
                               sr=SR)
            tracks.append({"path": str(path.relative_to(corpus)), "kind": "rendition",
                           "group": f"p{piece}", "source": "music21:c", "split": "val"})
    for path in write_music(corpus / "music", 3, seconds=20.0):
        tracks.append({"path": str(path.relative_to(corpus)), "kind": "recording",
                       "group": path.stem, "source": "pkg", "split": "val"})
    (corpus / "manifest.json").write_text(json.dumps({"version": 1, "tracks": tracks}))
    assert main(["--corpus", str(corpus), "--part", "val"]) == 0
    out = capsys.readouterr().out
    assert "4 renditions, 3 recordings of the val part" in out
    assert "versions mAP 1.000, P@1 1.000" in out
    above = re.search(r"recordings: .*above [0-9.]+: ([0-9.]+) of 3 pairs", out)
    assert above and float(above.group(1)) == 0.0
    assert "one score of two 4-minute prints" in out
