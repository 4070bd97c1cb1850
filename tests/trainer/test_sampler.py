"""P x K sampler invariants, view offsets, group positives."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.cache import SongEntry
from trainer.errors import TrainerError
from trainer.sampler import PKSampler, eval_starts, view_starts


def _entries(n: int = 20, frames: int = 200, groups: dict[int, str] | None = None
             ) -> list[SongEntry]:
    groups = groups or {}
    return [SongEntry(f"s{i:02d}", f"/x/s{i}.wav", groups.get(i, f"s{i:02d}"), None, "", 10.0,
                      frames) for i in range(n)]


def test_batches_are_p_by_k_without_repeated_songs() -> None:
    sampler = PKSampler(_entries(), identities=6, views=4, length=50, min_gap=10, seed=1)
    batches = list(sampler.batches(30))
    assert len(batches) == 30
    for batch in batches:
        assert len(batch.songs) == 24
        songs = batch.songs[::4]
        assert len(set(songs)) == 6
        for i, song in enumerate(songs):
            assert batch.songs[4 * i : 4 * i + 4] == [song] * 4
            starts = batch.starts[4 * i : 4 * i + 4]
            assert np.all(np.diff(starts) >= 10)
            assert starts.min() >= 0 and starts.max() <= 200 - 50


def test_labels_follow_groups_and_mates_join_batches() -> None:
    groups = {0: "g", 1: "g", 2: "g"}
    sampler = PKSampler(_entries(groups=groups), identities=4, views=2, length=50, min_gap=10,
                        pair_prob=1.0, seed=0)
    together = 0
    for batch in sampler.batches(50):
        labels = dict(zip(batch.songs, batch.labels, strict=True))
        in_group = [s for s in labels if s in ("s00", "s01", "s02")]
        assert len({labels[s] for s in in_group}) <= 1
        together += len(in_group) >= 2
        assert len(set(batch.songs[::2])) == 4
    assert together > 10


def test_epoch_covers_every_song() -> None:
    sampler = PKSampler(_entries(12), identities=4, views=2, length=50, min_gap=10, seed=3,
                        pair_prob=0.0)
    seen = {s for b in sampler.batches() for s in b.songs}
    assert len(sampler) == 3 and len(seen) == 12


def test_short_songs_are_not_identities() -> None:
    entries = [*_entries(4), SongEntry("short", "/x", "short", None, "", 1.0, 55)]
    sampler = PKSampler(entries, identities=8, views=2, length=50, min_gap=10)
    assert "short" not in {e.song for e in sampler.eligible}
    assert sampler.identities == 4
    with pytest.raises(TrainerError, match="long enough"):
        PKSampler(entries[-1:], identities=2, views=2, length=50, min_gap=10)


def test_view_starts(rng: np.random.Generator) -> None:
    for _ in range(200):
        s = view_starts(120, 50, 3, 20, rng)
        assert s is not None and len(set(s.tolist())) == 3
        assert s.min() >= 0 and s.max() <= 70 and np.all(np.diff(s) >= 20)
    assert view_starts(80, 50, 3, 20, rng) is None


def test_eval_starts() -> None:
    assert eval_starts(30, 50, 4).tolist() == [0]
    starts = eval_starts(250, 50, 5)
    assert starts.tolist() == [0, 50, 100, 150, 200]


def test_song_labels_tell_versions_apart_and_views_use_degraded_copies() -> None:
    groups = {0: "g", 1: "g"}
    copies = {f"s{i:02d}": [f"s{i:02d}::degraded-1"] for i in range(20)}
    sampler = PKSampler(_entries(groups=groups), identities=6, views=4, length=50, min_gap=10,
                        pair_prob=1.0, seed=2, variants=copies, variant_prob=0.5)
    from_copies = total = 0
    for batch in sampler.batches(40):
        parents = [s.split("::")[0] for s in batch.songs]
        for i in range(0, len(parents), 4):  # one identity's views: one song, one label
            assert len(set(parents[i : i + 4])) == 1
            assert len(set(batch.song_labels[i : i + 4])) == 1
        # distinct identities have distinct song labels, even inside one group
        assert len(set(batch.song_labels[::4])) == 6
        from_copies += sum("::degraded-" in s for s in batch.songs)
        total += len(batch.songs)
    assert 0.4 < from_copies / total < 0.6


def _packaged(per_source: int = 4, sources: int = 5) -> list[SongEntry]:
    """``sources`` packages of ``per_source`` recordings, plus a 2-version piece in "pkg0"."""
    entries = [SongEntry(f"p{s}r{r}", "/x", f"p{s}r{r}", None, f"pkg{s}", 10.0, 200)
               for s in range(sources) for r in range(per_source)]
    entries += [SongEntry(f"v{i}", "/x", "piece", None, "pkg0", 10.0, 200) for i in range(2)]
    return entries


def _same_source_pairs(sampler: PKSampler, n: int) -> float:
    """Mean number of pairs of distinct recordings from one package per batch."""
    source = {e.song: e.source for e in sampler.eligible}
    count = 0
    for batch in sampler.batches(n):
        songs = [s for s in batch.songs[:: sampler.views] if not s.startswith("v")]
        pkgs = [source[s] for s in songs]
        count += sum(pkgs.count(p) - 1 for p in set(pkgs))
    return count / n


def test_source_mates_join_batches_as_negatives() -> None:
    kwargs = {"identities": 4, "views": 2, "length": 50, "min_gap": 10, "pair_prob": 0.0}
    plain = PKSampler(_packaged(), seed=4, **kwargs)
    mates = PKSampler(_packaged(), seed=4, source_prob=1.0, **kwargs)
    assert _same_source_pairs(mates, 200) > 1.5 > 0.8 > _same_source_pairs(plain, 200)
    group = {e.song: e.group for e in mates.eligible}
    for batch in mates.batches(100):
        firsts = batch.songs[::2]
        assert len(set(firsts)) == len(firsts) == 4
        # a package mate is its own identity: its own label, never a positive
        labels = batch.labels[::2].tolist()
        for i, a in enumerate(firsts):
            for j, b in enumerate(firsts):
                assert (labels[i] == labels[j]) == (group[a] == group[b])
    # songs with versions neither bring in nor are package mates
    assert mates.source_mates["pkg0"] == [i for i, e in enumerate(mates.eligible)
                                          if e.song.startswith("p0")]


def test_no_source_mates_leaves_the_draws_unchanged() -> None:
    kwargs = {"identities": 4, "views": 2, "length": 50, "min_gap": 10, "seed": 7}
    a = [b.songs for b in PKSampler(_packaged(), **kwargs).batches(20)]
    b = [b.songs for b in PKSampler(_packaged(), source_prob=0.0, **kwargs).batches(20)]
    assert a == b


def test_package_labels_join_a_package_and_keep_pieces_apart() -> None:
    sampler = PKSampler(_packaged(), identities=6, views=2, length=50, min_gap=10, seed=3,
                        source_prob=1.0)
    entry = {e.song: e for e in sampler.eligible}
    for batch in sampler.batches(50):
        firsts = batch.songs[::2]
        labels = batch.labels[::2].tolist()
        packages = batch.package_labels[::2].tolist()
        assert batch.package_labels.tolist() == np.repeat(packages, 2).tolist()
        for i, a in enumerate(firsts):
            for j, b in enumerate(firsts):
                ea, eb = entry[a], entry[b]
                versionless = not a.startswith("v") and not b.startswith("v")
                same = ea.group == eb.group or (versionless and ea.source == eb.source)
                # a package's recordings share a label; a piece's versions keep theirs,
                # apart from the recordings of their package
                assert (packages[i] == packages[j]) == same
                if ea.group == eb.group:
                    assert labels[i] == labels[j]
