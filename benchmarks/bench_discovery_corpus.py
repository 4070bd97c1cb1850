"""Discovery quality on real vectors: the development corpus's validation recordings.

The validation recordings (held-out packages, ``data/VALIDATION_PACKAGES.txt``) and
planted copies of some of them are scanned once with the shipped model into a library
cached under ``benchmarks/_cache/discovery-val`` (git-ignored; a rerun only rescans what
changed). Copies: MP3 at 64 kb/s, AAC at 48 kb/s, FLAC trimmed by 7 s and 11 s, and
MP3 at 128 kb/s faded 8 s in and out. Measured on the track vectors of the originals in
the space discovery reads (:mod:`engine.discovery.space`; the fused vectors alone, what it
read before, for comparison):

* map: share of each track's 10 nearest tracks in vector space that are among its 10
  nearest on the map (neighbourhood preservation), and share of the 10 nearest from the
  same package, on the map and in vector space;
* path: mean similarity of consecutive songs against the same ends with random songs
  between, and how steadily the steps approach B (share of steps closer to B than the
  previous one; Spearman correlation of step index and similarity to B);
* mixes: normalised mutual information of mix and package, against mixes of the same
  sizes drawn at random;
* duplicates over the whole library: planted copies grouped with their original (recall),
  grouped pairs that are a planted copy and its original (precision), groups joining
  distinct recordings.

Run: ``nice -n 19 python -m benchmarks.bench_discovery_corpus [--corpus data/corpus]
[--write]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.discovery.layout import build_layout
from engine.discovery.mixes import make_mixes
from engine.discovery.path import song_path
from engine.discovery.space import sound_space
from engine.errors import ParameterError
from engine.library import Library
from engine.model import default_model_dir

CACHE = Path("benchmarks/_cache/discovery-val")
SR = 44100
COPIES_PER_KIND = 8
COPY_KINDS = ("mp3-64k", "aac-48k", "trimmed", "faded")
K = 10


@dataclass(frozen=True)
class Corpus:
    """The scanned library and what each of its files is."""

    library: Library
    package: dict[str, str]  # file name -> package
    origin: dict[str, str]  # file name -> the original's file name (itself for originals)


def _write_copy(kind: str, source: Path, target_dir: Path, stem: str) -> str:
    from engine.audio import load_audio
    from tests.audio_factory import write_audio, write_lossy

    y = load_audio(source, sr=SR)
    if kind == "mp3-64k":
        return write_lossy(target_dir / f"{stem}-copy.mp3", y, sr=SR, bit_rate=64_000).name
    if kind == "aac-48k":
        return write_lossy(target_dir / f"{stem}-copy.m4a", y, sr=SR, bit_rate=48_000).name
    if kind == "trimmed":
        return write_audio(target_dir / f"{stem}-trim.flac", y[7 * SR: -11 * SR], sr=SR).name
    fade = np.ones(len(y), np.float32)
    ramp = np.linspace(0.0, 1.0, 8 * SR, dtype=np.float32)
    fade[: len(ramp)], fade[-len(ramp):] = ramp, ramp[::-1]
    return write_lossy(target_dir / f"{stem}-fade.mp3", y * fade, sr=SR,
                       bit_rate=128_000).name


def prepare(corpus: Path, cache: Path = CACHE) -> Corpus:
    """The validation recordings and their planted copies, scanned (cached)."""
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    recs = [t for t in manifest["tracks"] if t["split"] == "val" and t["kind"] == "recording"]
    music = cache / "music"
    labels = cache / "labels.json"
    if not labels.is_file():
        music.mkdir(parents=True, exist_ok=True)
        package, origin = {}, {}
        for i, t in enumerate(recs):
            name = f"{i:03d}-{Path(t['path']).name}"
            shutil.copy(corpus / t["path"], music / name)
            package[name], origin[name] = t["source"], name
        rng = np.random.default_rng(18)
        picked = rng.choice(len(recs), COPIES_PER_KIND * len(COPY_KINDS), replace=False)
        originals = list(package)
        for j, i in enumerate(picked):
            kind = COPY_KINDS[j // COPIES_PER_KIND]
            name = _write_copy(kind, corpus / recs[i]["path"], music, f"{int(i):03d}")
            package[name], origin[name] = recs[i]["source"], originals[int(i)]
        labels.write_text(json.dumps({"package": package, "origin": origin}, indent=1),
                          encoding="utf-8")
    data = json.loads(labels.read_text(encoding="utf-8"))
    library = Library.open(cache / "library", model_dir=default_model_dir())
    started = time.perf_counter()
    for _ in library.scan([music.resolve()], workers=1):
        pass
    print(f"scan: {time.perf_counter() - started:.0f} s", flush=True)
    return Corpus(library, data["package"], data["origin"])


def _knn(x: np.ndarray, k: int, *, metric: str) -> np.ndarray:
    """Each row's ``k`` nearest other rows (cosine for unit vectors, or Euclidean)."""
    x = np.asarray(x, np.float64)
    d = -(x @ x.T) if metric == "cosine" else ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def preservation(vectors: np.ndarray, xy: np.ndarray, k: int = K) -> float:
    """Share of each row's ``k`` nearest in vector space among its ``k`` nearest on the map."""
    a, b = _knn(vectors, k, metric="cosine"), _knn(xy, k, metric="euclidean")
    return float(np.mean([len(set(r) & set(s)) / k for r, s in zip(a, b, strict=True)]))


def same_label_rate(nn: np.ndarray, labels: np.ndarray) -> float:
    """Share of the neighbours ``nn`` with the row's label."""
    return float(np.mean(labels[nn] == labels[:, None]))


def map_quality(vectors: np.ndarray, labels: np.ndarray) -> list[str]:
    """Neighbourhood preservation and same-package rate of the map."""
    ids = np.arange(len(vectors), dtype=np.int64)
    xy = build_layout(ids, vectors).xy
    centred = vectors - vectors.mean(axis=0)
    pca2 = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    return [
        f"Map ({len(vectors)} real recordings, {K} nearest): neighbourhood preservation "
        f"{preservation(vectors, xy):.2f} (a 2-D PCA: {preservation(vectors, pca2):.2f}); "
        f"same package: {same_label_rate(_knn(xy, K, metric='euclidean'), labels):.2f} on "
        f"the map, {same_label_rate(_knn(vectors, K, metric='cosine'), labels):.2f} in vector "
        f"space, {same_label_rate(_knn(pca2, K, metric='euclidean'), labels):.2f} on a 2-D "
        f"PCA (random: {_chance(labels):.2f}).",
    ]


def segment_map_quality(corpus: Corpus, *, sample: int = 3000) -> list[str]:
    """The same on every stored segment of the originals (thousands of points: the
    FFT-accelerated t-SNE and approximate neighbours of a large library)."""
    import faiss

    from engine import dense

    store = corpus.library.store
    fingerprint = corpus.library.catalog().fingerprint
    names = {int(r[0]): Path(r[1]).name for r in store.query("SELECT id, path FROM tracks")}
    blocks, owners = [], []
    for rows in dense.iter_rows(store, fingerprint=fingerprint,
                                dim=corpus.library.catalog().track_vectors["fused"].shape[1]):
        blocks.append(rows.vectors())
        owners += [t for t, n in zip(rows.track_ids, rows.counts, strict=True)
                   for _ in range(int(n))]
    x, owner = np.concatenate(blocks), np.array(owners, np.int64)
    original = np.array([corpus.origin[names[int(t)]] == names[int(t)] for t in owner])
    x, owner = x[original], owner[original]
    x = np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), np.float32)
    package = np.array([corpus.package[names[int(t)]] for t in owner])
    started = time.process_time()
    xy = np.ascontiguousarray(build_layout(np.arange(len(x)), x).xy, np.float32)
    cpu = time.process_time() - started
    rows = np.random.default_rng(1).choice(len(x), min(sample, len(x)), replace=False)
    _, near = faiss.knn(x[rows], x, K + 1, metric=faiss.METRIC_INNER_PRODUCT)
    _, on_map = faiss.knn(xy[rows], xy, K + 1)
    near, on_map = near[:, 1:], on_map[:, 1:]
    kept = np.mean([len(set(a) & set(b)) / K for a, b in zip(near, on_map, strict=True)])

    def rate(nn: np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean(labels[nn] == labels[rows][:, None]))

    return [
        f"Map of the {len(x):,} stored segments of those recordings ({cpu:.1f} s of CPU): "
        f"neighbourhood preservation {kept:.2f}; same recording {rate(on_map, owner):.2f} "
        f"on the map, {rate(near, owner):.2f} in vector space; same package "
        f"{rate(on_map, package):.2f} / {rate(near, package):.2f}.",
    ]


def _chance(labels: np.ndarray) -> float:
    """Same-label rate of a random neighbour."""
    _, counts = np.unique(labels, return_counts=True)
    n = len(labels)
    return float(np.sum(counts * (counts - 1)) / (n * (n - 1)))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def path_quality(vectors: np.ndarray, *, length: int = 8, pairs: int = 100) -> list[str]:
    """Step similarity against random orderings and the approach to B."""
    rng = np.random.default_rng(3)
    steps, randoms, closer, rho = [], [], [], []
    refused = 0
    while len(steps) < pairs:
        a, b = (int(v) for v in rng.choice(len(vectors), 2, replace=False))
        try:
            rows = song_path(vectors, a, b, length)
        except ParameterError:  # too few tracks lie between A and B
            refused += 1
            continue
        v = vectors[rows]
        steps.append(float(np.mean(np.sum(v[:-1] * v[1:], axis=1))))
        middle = rng.choice(np.setdiff1d(np.arange(len(vectors)), [a, b]), length - 2,
                            replace=False)
        r = vectors[[a, *middle, b]]
        randoms.append(float(np.mean(np.sum(r[:-1] * r[1:], axis=1))))
        to_b = v @ vectors[b]
        closer.append(float(np.mean(np.diff(to_b) > 0)))
        rho.append(_spearman(np.arange(length), to_b))
    return [
        f"Path ({pairs} paths of {length} songs between random pairs): mean similarity of "
        f"consecutive songs {np.mean(steps):.3f}, random songs between the same ends "
        f"{np.mean(randoms):.3f}; {np.mean(closer):.0%} of the steps end closer to B than "
        f"they began; Spearman correlation of position and similarity to B "
        f"{np.mean(rho):.2f} (median {np.median(rho):.2f}); {refused} pair(s) refused, too "
        f"few tracks lying between them.",
    ]


def mixes_quality(ids: np.ndarray, vectors: np.ndarray, labels: np.ndarray,
                  infos: dict) -> list[str]:
    """Normalised mutual information of mixes and packages, against random mixes."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    mixes = make_mixes(ids, vectors, infos)
    row = {int(t): i for i, t in enumerate(ids)}
    assigned = np.empty(len(ids), np.int64)
    for m in mixes:
        assigned[[row[t] for t in m.track_ids]] = m.index
    rng = np.random.default_rng(4)
    shuffled = [nmi(labels, rng.permutation(assigned)) for _ in range(200)]
    purity = np.mean([np.unique(labels[[row[t] for t in m.track_ids]],
                                return_counts=True)[1].max() / len(m.track_ids)
                      for m in mixes])
    return [
        f"Mixes ({len(mixes)} of {len(ids)} recordings, {len(set(labels.tolist()))} "
        f"packages): NMI with the package {nmi(labels, assigned):.2f}, random mixes of "
        f"the same sizes {np.mean(shuffled):.2f} (max of 200: {np.max(shuffled):.2f}); "
        f"on average {purity:.0%} of a mix's tracks come from its main package.",
    ]


def duplicates_quality(corpus: Corpus) -> tuple[list[str], list[str]]:
    """Planted copies found and groups joining distinct recordings."""
    wall, cpu = time.perf_counter(), time.process_time()
    groups = corpus.library.duplicates()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    origin = corpus.origin
    planted = {n for n, o in origin.items() if n != o}
    grouped_pairs = [(a.track.path.name, b.track.path.name) for g in groups
                     for a, b in itertools.combinations(g.copies, 2)]
    true_pairs = sum(origin[a] == origin[b] for a, b in grouped_pairs)
    found = sum(any({origin[c.track.path.name] for c in g.copies} == {origin[n]}
                    and n in {c.track.path.name for c in g.copies}
                    and origin[n] in {c.track.path.name for c in g.copies} for g in groups)
                for n in planted)
    mixed = [sorted(c.track.path.name for c in g.copies) for g in groups
             if len({origin[c.track.path.name] for c in g.copies}) > 1]
    missed = sorted(n for n in planted
                    if not any(n in {c.track.path.name for c in g.copies}
                               and origin[n] in {c.track.path.name for c in g.copies}
                               for g in groups))
    by_kind = {k: sum(1 for n in planted if n.split("-", 1)[1].startswith(k)
                      and n not in missed)
               for k in ("copy.mp3", "copy.m4a", "trim", "fade")}
    row = (f"| duplicates of {len(origin) - len(planted)} real recordings + {len(planted)} "
           f"planted copies (development corpus) | {wall:.1f} s | {cpu:.1f} s | |")
    note = (f"Duplicates on the development corpus ({len(origin) - len(planted)} validation "
            f"recordings, {len(planted)} planted copies: {COPIES_PER_KIND} each MP3 64 kb/s, "
            f"AAC 48 kb/s, FLAC trimmed 7 s + 11 s, MP3 128 kb/s faded 8 s in and out): "
            f"recall {found}/{len(planted)} (MP3 {by_kind['copy.mp3']}, AAC "
            f"{by_kind['copy.m4a']}, trimmed {by_kind['trim']}, faded {by_kind['fade']}); "
            f"precision {true_pairs}/{len(grouped_pairs)} grouped pairs are a copy and its "
            f"original; {len(mixed)} group(s) join distinct recordings"
            + (f" ({mixed})" if mixed else "") + (f"; missed: {missed}" if missed else "")
            + ".")
    return [row], [note]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--write", action="store_true",
                        help="print the lines for RESULTS.md into benchmarks/out")
    args = parser.parse_args()
    corpus = prepare(args.corpus)
    lib = corpus.library
    catalog = lib.catalog()
    infos = {t.id: t for t in lib.tracks()}
    names = {tid: infos[tid].path.name for tid in catalog.track_ids}
    keep = np.array([corpus.origin[names[t]] == names[t] for t in catalog.track_ids])
    ids = catalog.track_ids[keep]
    vectors = np.asarray(sound_space(catalog, lib.embedder.card), np.float64)[keep]
    fused = np.asarray(catalog.track_vectors["fused"], np.float64)[keep]
    labels = np.array([corpus.package[names[t]] for t in ids])
    lines = [*map_quality(vectors, labels), *segment_map_quality(corpus), *path_quality(vectors),
             *mixes_quality(ids, vectors, labels, infos),
             *(f"The fused vectors alone (what discovery read before): {line}"
               for line in [*map_quality(fused, labels), *path_quality(fused),
                            *mixes_quality(ids, fused, labels, infos)])]
    rows, notes = duplicates_quality(corpus)
    lib.close()
    text = "\n".join([*rows, "", *(f"- {line}" for line in [*lines, *notes])])
    print(f"load average {os.getloadavg()[0]:.1f}\n{text}")
    if args.write:
        out = Path("benchmarks/out/discovery_corpus.md")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
