"""P x K batches: ``batch_identities`` songs x ``views_per_song`` segments each.

No song appears twice among a batch's identities, and a song's views start at
different offsets at least ``min_gap`` pooled frames apart (never the same segment
twice, whatever augmentation follows). Labels are *group* ids, so versions of one
piece (``pairs_json`` / manifest ``group``) are positives; the sampler puts a
group-mate into the batch with probability ``pair_prob``, and, with probability
``source_prob``, another song of the same source (package) that has no versions: a
recording's hardest negatives are the package's other recordings. ``song_labels`` tell the
songs themselves apart (for a loss that ranks a song above its other versions), and
each view comes from one of the song's degraded copies with probability
``variant_prob`` (see :mod:`trainer.cache`). ``package_labels`` are the group labels with
every versionless song of one source sharing one label: for a loss share that takes a
package's other recordings as positives ("sounds alike" = same soundtrack or album).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.dsp import LOG_FLOOR_DB
from trainer.cache import FeatureStore, SongEntry, SongFeatures, dequantize_chroma, dequantize_mel
from trainer.errors import TrainerError


@dataclass(frozen=True)
class Batch:
    """Which segments make one batch: ``songs[i]`` at ``starts[i]`` (pooled frames)."""

    songs: list[str]
    starts: np.ndarray
    labels: np.ndarray
    song_labels: np.ndarray
    package_labels: np.ndarray


def cut_segment(feats: SongFeatures, start: int, length: int,
                tempo_block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One segment's pooled ``mel`` ``(F, length)``, ``chroma`` ``(C, length)``, ``tempo``.

    Frames past the end are padded as the engine pads (mel -100 dB, chroma 0); the
    rhythm vector is the mean of the tempo blocks the segment covers.
    """
    mel = dequantize_mel(feats.mel[:, start : start + length])
    chroma = dequantize_chroma(feats.chroma[:, start : start + length])
    if mel.shape[1] < length:
        pad = length - mel.shape[1]
        mel = np.pad(mel, ((0, 0), (0, pad)), constant_values=LOG_FLOOR_DB)
        chroma = np.pad(chroma, ((0, 0), (0, pad)))
    n_blocks = feats.tempo.shape[1]
    first = min(round(start / tempo_block), n_blocks - 1)
    count = max(1, round(length / tempo_block))
    tempo = feats.tempo[:, first : first + count].astype(np.float32).mean(axis=1)
    return mel, chroma, tempo


def view_starts(n_frames: int, length: int, views: int, min_gap: int,
                rng: np.random.Generator) -> np.ndarray | None:
    """``views`` random starts, sorted, pairwise >= ``min_gap`` apart (None if impossible)."""
    max_start = n_frames - length
    room = max_start - (views - 1) * min_gap
    if room < 0:
        return None
    base = np.sort(rng.integers(0, room + 1, size=views))
    return base + np.arange(views) * min_gap


def eval_starts(n_frames: int, length: int, n: int) -> np.ndarray:
    """Up to ``n`` evenly spaced distinct starts covering the song."""
    max_start = max(0, n_frames - length)
    return np.unique(np.round(np.linspace(0, max_start, n)).astype(np.int64))


class PKSampler:
    """Draws P x K batches from the songs of a feature store.

    Parameters
    ----------
    entries : the songs to draw from (training split)
    identities : P, songs per batch (lowered to the number of eligible songs)
    views : K, segments per song
    length : segment length in pooled frames
    min_gap : smallest distance between two views of a song, in pooled frames
    variants : cache ids of each song's degraded copies
    variant_prob : chance that a view is cut from a degraded copy
    source_prob : chance that a song without versions joins the batch with another such
        song of its source (a same-package hard negative)
    """

    def __init__(self, entries: list[SongEntry], *, identities: int, views: int, length: int,
                 min_gap: int, pair_prob: float = 0.5, seed: int = 0,
                 variants: dict[str, list[str]] | None = None,
                 variant_prob: float = 0.0, source_prob: float = 0.0) -> None:
        self.views, self.length, self.min_gap = views, length, min_gap
        self.variants, self.variant_prob = variants or {}, variant_prob
        self.eligible = [e for e in entries
                         if e.n_frames - length >= (views - 1) * min_gap]
        if len(self.eligible) < 2:
            raise TrainerError(f"only {len(self.eligible)} songs are long enough for "
                               f"{views} views; need at least 2 (lower views_per_song)")
        self.identities = min(identities, len(self.eligible))
        groups = sorted({e.group for e in self.eligible})
        self.label_of = {g: i for i, g in enumerate(groups)}
        self.mates: dict[str, list[int]] = {}
        for i, e in enumerate(self.eligible):
            self.mates.setdefault(e.group, []).append(i)
        self.pair_prob, self.source_prob = pair_prob, source_prob
        self.source_mates: dict[str, list[int]] = {}
        for i, e in enumerate(self.eligible):
            if e.source and len(self.mates[e.group]) == 1:
                self.source_mates.setdefault(e.source, []).append(i)
        package_of = {src: len(groups) + k for k, src in enumerate(sorted(self.source_mates))}
        self.package_label = [package_of.get(e.source, self.label_of[e.group])
                              if len(self.mates[e.group]) == 1 else self.label_of[e.group]
                              for e in self.eligible]
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.eligible) // self.identities)

    def _identities(self, order: list[int]) -> list[int]:
        chosen: list[int] = []
        taken: set[int] = set()
        while order and len(chosen) < self.identities:
            i = order.pop()
            if i in taken:
                continue
            chosen.append(i)
            taken.add(i)
            mates = [m for m in self.mates[self.eligible[i].group] if m not in taken]
            if mates and len(chosen) < self.identities and self.rng.random() < self.pair_prob:
                m = int(self.rng.choice(mates))
                chosen.append(m)
                taken.add(m)
            self._add_source_mate(i, chosen, taken)
        return chosen

    def _add_source_mate(self, i: int, chosen: list[int], taken: set[int]) -> None:
        """With ``source_prob``, another versionless song of ``i``'s source joins."""
        if not self.source_prob or len(chosen) >= self.identities:
            return
        entry = self.eligible[i]
        if len(self.mates[entry.group]) > 1:
            return
        mates = [m for m in self.source_mates.get(entry.source, ()) if m not in taken]
        if mates and self.rng.random() < self.source_prob:
            m = int(self.rng.choice(mates))
            chosen.append(m)
            taken.add(m)

    def batches(self, n_batches: int | None = None) -> Iterator[Batch]:
        """One epoch of batches (``n_batches`` of them, default ``len(self)``)."""
        n_batches = len(self) if n_batches is None else n_batches
        order: list[int] = []
        for _ in range(n_batches):
            if len(order) < self.identities:
                order = list(self.rng.permutation(len(self.eligible))) + order
            chosen = self._identities(order)
            yield self._make(chosen)

    def _make(self, chosen: list[int]) -> Batch:
        songs: list[str] = []
        starts: list[int] = []
        labels: list[int] = []
        song_labels: list[int] = []
        package_labels: list[int] = []
        for i in chosen:
            entry = self.eligible[i]
            s = view_starts(entry.n_frames, self.length, self.views, self.min_gap, self.rng)
            assert s is not None  # eligibility guarantees room
            copies = self.variants.get(entry.song, [])
            for _ in range(self.views):
                use_copy = copies and self.rng.random() < self.variant_prob
                songs.append(str(self.rng.choice(copies)) if use_copy else entry.song)
            starts.extend(int(x) for x in s)
            labels.extend([self.label_of[entry.group]] * self.views)
            song_labels.extend([i] * self.views)
            package_labels.extend([self.package_label[i]] * self.views)
        return Batch(songs, np.asarray(starts, np.int64), np.asarray(labels, np.int64),
                     np.asarray(song_labels, np.int64), np.asarray(package_labels, np.int64))


def gather_quantized(store: FeatureStore, songs: list[str], starts: np.ndarray,
                     length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack segments still quantised: uint8 ``mel``/``chroma`` (0 = padding), float32 tempo.

    Decode with :func:`~trainer.cache.dequantize_mel` / ``dequantize_chroma`` (numpy) or
    on the training device; copying bytes is what keeps batch assembly cheap.
    """
    first = store.get(songs[0])
    n = len(songs)
    mel = np.zeros((n, first.mel.shape[0], length), dtype=np.uint8)
    chroma = np.zeros((n, first.chroma.shape[0], length), dtype=np.uint8)
    tempo = np.empty((n, first.tempo.shape[0]), dtype=np.float32)
    block = store.layout.tempo_block
    count = max(1, round(length / block))
    feats = first
    for i, (song, start) in enumerate(zip(songs, starts, strict=True)):
        if i and song != songs[i - 1]:
            feats = store.get(song)
        part = feats.mel[:, start : start + length]
        mel[i, :, : part.shape[1]] = part
        chroma[i, :, : part.shape[1]] = feats.chroma[:, start : start + length]
        b0 = min(round(start / block), feats.tempo.shape[1] - 1)
        tempo[i] = feats.tempo[:, b0 : b0 + count].mean(axis=1, dtype=np.float32)
    return mel, chroma, tempo


def gather(store: FeatureStore, songs: list[str], starts: np.ndarray,
           length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack the pooled segments ``songs[i]`` at ``starts[i]`` (decoded, float32)."""
    mel, chroma, tempo = gather_quantized(store, songs, starts, length)
    return dequantize_mel(mel), dequantize_chroma(chroma), tempo
