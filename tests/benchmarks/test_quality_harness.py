"""The quality benchmark's machinery on a tiny generated corpus (metrics, degradation)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import retrieval as rt
from benchmarks.bench_quality import main
from engine.index import normalise
from tests.audio_factory import song, tone
from tests.model_factory import build_model, write_music
from trainer.degrade import band_limit, phone_recording


def test_metrics_on_hand_made_rankings():
    order = np.array([2, 0, 1, 3])
    rel = np.array([True, False, False, True])
    assert rt.first_hit(order, rel) == 1
    assert rt.average_precision(order, rel) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert rt.recall_mrr([0, 1, 30]) == pytest.approx(
        {"R@1": 1 / 3, "R@5": 2 / 3, "R@20": 2 / 3, "MRR": (1 + 0.5 + 1 / 31) / 3})
    vecs = normalise(np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32))
    sims = vecs @ vecs.T
    out = rt.neighbour_metrics(sims, np.array(["a", "a", "b", "b"]), k=1)[0]
    assert out["mAP"] == 1.0 and out["P@1"] == 1.0
    # P@2: each query has one relevant item among three, so a perfect ranking scores 1/2
    labels = np.array(["a", "a", "b", "b"])
    out = rt.neighbour_metrics(sims, labels, k=2)[0]
    assert out["P@2"] == out["P@2 ceiling"] == 0.5
    swapped = rt.neighbour_metrics(sims, np.array(["a", "b", "a", "b"]), k=1)[0]
    assert swapped["P@1"] == 0.0 and swapped["P@1 ceiling"] == 1.0
    assert rt.neighbour_metrics(sims, np.array(["a", "a", "b", "c"]), k=1)[1] == {"a": 1.0}


def test_training_copies_are_degraded_deterministically():
    from trainer.degrade import random_phone_recording

    sr = 16000
    y = song(2, 3.0, sr=sr)
    a, b = random_phone_recording(y, sr, seed=4), random_phone_recording(y, sr, seed=4)
    np.testing.assert_array_equal(a, b)
    assert a.shape == y.shape and np.isfinite(a).all()
    assert not np.allclose(a, random_phone_recording(y, sr, seed=5))


def test_degradation_band_limits_and_keeps_length():
    sr = 16000
    y = tone(100.0, 2.0, sr=sr) + tone(3000.0, 2.0, sr=sr)
    spec = np.abs(np.fft.rfft(band_limit(y, sr)))
    assert spec[int(100 * 2)] < 0.2 * spec[int(3000 * 2)]
    z = phone_recording(song(1, 3.0, sr=sr), sr, seed=0)
    assert z.shape == (3 * sr,) and np.isfinite(z).all()


def _recordings_corpus(tmp_path, *, train: int = 0):
    """Four generated recordings from two packages in the validation part, and ``train``
    more from two other packages in the training part."""
    corpus = tmp_path / "corpus"
    files = write_music(corpus / "music", 4 + train, seconds=14.0)
    tracks = [{"path": str(p.relative_to(corpus)), "song": p.stem,
               "source": f"pkg{i % 2}" if i < 4 else f"train{i % 2}", "kind": "recording",
               "group": p.stem, "split": "val" if i < 4 else "train", "duration": 14.0}
              for i, p in enumerate(files)]
    (corpus / "manifest.json").write_text(json.dumps({"version": 1, "tracks": tracks}))
    return corpus


def _with_renditions(corpus):
    """Add two pieces with two validation renditions each (and one training piece)."""
    files = write_music(corpus / "renditions", 5, seconds=12.0)
    data = json.loads((corpus / "manifest.json").read_text())
    for i, p in enumerate(files):
        group = f"music21:p{i // 2}"
        data["tracks"].append({"path": str(p.relative_to(corpus)), "song": f"{group}#r{i}",
                               "source": "music21:c", "kind": "rendition", "group": group,
                               "split": "val" if i < 4 else "train", "duration": 12.0})
    (corpus / "manifest.json").write_text(json.dumps(data))
    return corpus


@pytest.mark.slow
def test_benchmark_runs_end_to_end(tmp_path):
    corpus = _with_renditions(_recordings_corpus(tmp_path))
    pytest.importorskip("torch")
    from tests.teacher_factory import write_teacher

    model = build_model(tmp_path / "model")
    teachers = tmp_path / "teacher"
    write_teacher(teachers / "MSD_musicnn.npz")
    out = tmp_path / "q.json"
    other = build_model(tmp_path / "other", seed=5)
    assert main(["--corpus", str(corpus), "--model", str(model), "--candidate",
                 str(other), "--excerpts", "1",
                 "--json", str(out), "--no-write", "--record-card", "--search",
                 "--workers", "1", "--teacher-dir", str(teachers)]) == 0
    results = json.loads(out.read_text())
    assert set(results) == {"model", "candidate", "MFCC statistics",
                            "hand-crafted (MFCC+chroma+tempo)", "MusiCNN MSD penultimate",
                            "MusiCNN MSD tag probabilities"}
    for name, r in results.items():
        clean = r["excerpt"]["clean"]
        assert clean["R@20"] == 1.0 and 0.0 <= clean["R@1"] <= 1.0, name
        assert r["same_source"]["queries"] == 4
        assert r["same_source"]["P@10 ceiling"] == pytest.approx(1 / 3)
        assert set(r["same_source"]["by label"]) == {"pkg0", "pkg1"}
        assert r["versions"]["queries"] == 4 and 0.0 < r["versions"]["mAP"] <= 1.0
    for name in ("model", "candidate"):  # the app's search, end to end, in each library
        search = results[name]["search"]
        assert search["clean"]["queries"] == search["degraded"]["queries"] == 4
        assert search["clean"]["R@1"] == 1.0 and search["clean"]["placed within 4 s"] == 1.0
    assert "search" not in results["MFCC statistics"] or not results["MFCC statistics"]["search"]
    clean = results["model"]["excerpt"]["clean"]
    card = json.loads((model / "card.json").read_text())["metrics"]["bench_quality"]
    assert card["tracks"] == 8 and card["excerpt"]["clean"] == clean
    theirs = json.loads((other / "card.json").read_text())["metrics"]["bench_quality"]
    assert theirs["same_source"] == results["candidate"]["same_source"]  # each its own


@pytest.mark.slow
def test_the_test_part_is_reported_last_and_apart(tmp_path, capsys):
    corpus = _recordings_corpus(tmp_path)
    data = json.loads((corpus / "manifest.json").read_text())
    for i, p in enumerate(write_music(corpus / "test", 4, seconds=14.0)):
        data["tracks"].append({"path": str(p.relative_to(corpus)), "song": f"t{i}",
                               "source": f"test{i % 2}", "kind": "recording",
                               "group": f"t{i}", "split": "test", "duration": 14.0})
    (corpus / "manifest.json").write_text(json.dumps(data))
    model = build_model(tmp_path / "model")
    out = tmp_path / "q.json"
    assert main(["--corpus", str(corpus), "--model", str(model), "--excerpts", "1",
                 "--json", str(out), "--no-write", "--part", "both"]) == 0
    printed = capsys.readouterr().out
    assert printed.index("## Development benchmark") < printed.index("## Test part")
    assert "Test part (nothing is tuned on it) of the development corpus: 4" in printed
    val, test = json.loads(out.read_text()), json.loads((tmp_path / "q-test.json").read_text())
    assert set(val["model"]["same_source"]["by label"]) == {"pkg0", "pkg1"}
    assert set(test["model"]["same_source"]["by label"]) == {"test0", "test1"}
    with pytest.raises(SystemExit, match="no test tracks"):
        main(["--corpus", str(_recordings_corpus(tmp_path / "v")), "--model", str(model),
              "--no-write", "--part", "test"])


def test_no_excerpts_means_no_excerpt_figures():
    from benchmarks.bench_quality import SystemData, excerpt_metrics

    assert excerpt_metrics(SystemData(db=[np.eye(2, dtype=np.float32)]), 0) == {}


def test_the_benchmark_samples_recordings_and_whole_pieces():
    from benchmarks.bench_quality import select_tracks

    rows = [{"split": "val", "kind": "recording", "group": f"r{i}"} for i in range(10)]
    rows += [{"split": "val", "kind": "rendition", "group": f"p{i // 3}"} for i in range(30)]
    rows += [{"split": "train", "kind": "recording", "group": "t"}]
    picked = select_tracks({"tracks": rows}, "val", max_tracks=4, max_pieces=2)
    assert sum(t["kind"] == "recording" for t in picked) == 4
    pieces = [t["group"] for t in picked if t["kind"] == "rendition"]
    assert len(pieces) == 6 and len(set(pieces)) == 2
    assert picked == select_tracks({"tracks": rows}, "val", max_tracks=4, max_pieces=2)


@pytest.mark.slow
def test_same_source_breakdown(tmp_path, capsys):
    from benchmarks import bench_same_source as bss

    sims = np.array([[1, .9, .1, .2], [.9, 1, .3, .1], [.1, .3, 1, .8], [.2, .1, .8, 1]])
    overall, per = bss.p_at_10(sims, np.array(["a", "a", "b", "b"]))
    assert overall == pytest.approx(1 / 3) and per == {"a": 1 / 3, "b": 1 / 3}
    a = normalise(np.array([[1, 0], [0, 1]], np.float32))
    assert bss.chamfer(a, a[:1]) == pytest.approx(0.5 * (0.5 + 1.0))
    corpus = _recordings_corpus(tmp_path, train=4)
    model = build_model(tmp_path / "model")
    assert bss.main(["--corpus", str(corpus), "--model", str(model), "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "P@10 of a perfect ranking: 0.333" in out  # 3 others, 1 of them relevant
    for row in ("| model, fused |", "| model, fused, segment sets |",
                "| hand-crafted, mfcc only |", "| long-term average spectrum |",
                "| LDA of the training packages, on everything concatenated |"):
        assert row in out


def test_long_term_spectrum_ignores_level_and_silence():
    from benchmarks.bench_same_source import long_term_spectrum

    rng = np.random.default_rng(0)
    mel = -40.0 + rng.normal(0.0, 3.0, (8, 50))
    quiet = np.concatenate([mel, np.full((8, 20), -100.0)], axis=1)  # trailing silence
    np.testing.assert_allclose(long_term_spectrum(quiet), long_term_spectrum(mel))
    np.testing.assert_allclose(long_term_spectrum(mel + 12.0), long_term_spectrum(mel))
    assert not np.allclose(long_term_spectrum(mel[::-1]), long_term_spectrum(mel))
