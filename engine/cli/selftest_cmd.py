"""``resonance selftest``: prove an installation works, end to end, in seconds.

Synthesises a small music folder (distinct chord progressions over drum patterns),
scans it into a throw-away library with the shipped model, then searches with a
10-second excerpt of each track, saved as a separate file, and checks that its track
comes first. Exit status 0 when every check passes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

N_TRACKS = 6
SECONDS = 40.0
SR = 44100


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``selftest`` sub-command."""
    p = sub.add_parser("selftest", help="scan and query a generated folder; exit 0 if it works",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--model", type=Path, default=None, help="model folder (default: shipped)")
    p.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    p.set_defaults(handler=run)


def synth_track(seed: int, seconds: float = SECONDS, sr: int = SR) -> np.ndarray:
    """A short piece: a seeded chord progression with partials over a click pattern."""
    import numpy as np

    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(75, 150))
    roots = 48 + rng.choice([0, 2, 4, 5, 7, 9], size=4) + int(rng.integers(0, 12))
    bar = int(4 * 60.0 / bpm * sr)
    t = np.arange(bar) / sr
    bars = []
    for i in range(int(np.ceil(seconds * sr / bar))):
        root = roots[i % 4]
        hz = 440.0 * 2.0 ** ((np.array([root, root + 4, root + 7]) - 69) / 12.0)
        partials = sum(np.sin(2 * np.pi * f * k * t) / k for f in hz for k in (1, 2, 3))
        bars.append(0.08 * partials * np.exp(-t * rng.uniform(0.2, 1.5)))
    music = np.concatenate(bars)[: int(seconds * sr)]
    beat = int(60.0 / bpm * sr)
    click = rng.standard_normal(400) * np.exp(-np.linspace(0, 8, 400))
    for start in range(0, music.size - 400, beat):
        music[start : start + 400] += 0.3 * click
    scaled: np.ndarray = (music / np.abs(music).max() * 0.8).astype(np.float32)
    return scaled


def run(args: argparse.Namespace) -> int:
    """Generate, scan, query; print each step and return 0 only if all pass."""
    import soundfile as sf

    from engine.library import Library
    from engine.search import SearchParams

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="resonance-selftest-") as tmp:
        work = args.keep or Path(tmp)
        music, queries = work / "music", work / "queries"
        music.mkdir(parents=True, exist_ok=True)
        queries.mkdir(parents=True, exist_ok=True)
        for i in range(N_TRACKS):
            y = synth_track(i)
            sf.write(music / f"track{i}.flac", y, SR)
            sf.write(queries / f"excerpt{i}.wav", y[int(15 * SR) : int(25 * SR)], SR)
        with Library.open(work / "library", model_dir=args.model) as lib:
            lib.add_root(music)
            for _ in lib.scan(workers=1):
                pass
            print(f"selftest: scanned {lib.count()} tracks with model {lib.model_card.name}")
            if lib.count() != N_TRACKS:
                print(f"selftest: FAILED: expected {N_TRACKS} tracks", flush=True)
                return 1
            failures = 0
            for i in range(N_TRACKS):
                seed = lib.analyze_seed(queries / f"excerpt{i}.wav")
                results = lib.search(seed, SearchParams(k=3))
                top = Path(results[0].track.path).name if results else "nothing"
                ok = top == f"track{i}.flac"
                failures += not ok
                print(f"selftest: excerpt{i}.wav -> {top} {'ok' if ok else 'WRONG'}")
    elapsed = time.perf_counter() - started
    print(f"selftest: {'passed' if not failures else f'FAILED ({failures} wrong)'} "
          f"in {elapsed:.1f} s")
    return 1 if failures else 0
