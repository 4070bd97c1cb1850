"""Peak memory of scanning one long file: decoding and features stream in chunks.

Writes a generated stereo 44.1 kHz FLAC of ``--minutes`` (default 120) block by block,
scans it into a fresh library with ``--workers`` worker processes (default 2) in a
child process, and polls the peak resident memory (``VmHWM``) of that process and of
each of its descendants (the scan workers) until the scan ends.

Run: ``python -m benchmarks.bench_long_file [--minutes 120] [--workers 2]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100
_SCAN = """
import sys
from engine.library import Library
from engine.model import default_model_dir
with Library.open(sys.argv[1], model_dir=default_model_dir()) as lib:
    for p in lib.scan([sys.argv[2]], workers=int(sys.argv[3])):
        pass
    print("segments", lib.store.query("SELECT SUM(n) FROM dense_segments")[0][0],
          "tracks", lib.count())
"""


def write_long_file(path: Path, minutes: float) -> None:
    """A changing 'song' (chords over clicks, a new part every 20 s), written in blocks."""
    from tests.audio_factory import song

    with sf.SoundFile(str(path), "w", samplerate=SR, channels=2, format="FLAC") as f:
        for part in range(int(np.ceil(minutes * 3))):
            y = song(part % 97, 20.0, sr=SR)
            f.write(np.stack([y, 0.8 * y], axis=1))


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            out += [child, *_children(child)]
    return out


def _hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def scan_peaks(music: Path, library: Path, workers: int) -> tuple[dict[int, float], float, str]:
    """Peak RSS (MB) per process of a scan run in a child process, wall seconds, output."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _SCAN, str(library), str(music),
                             str(workers)], stdout=subprocess.PIPE, text=True)
    peaks: dict[int, float] = {}
    while proc.poll() is None:
        for pid in [proc.pid, *_children(proc.pid)]:
            hwm = _hwm_mb(pid)
            if hwm is not None:
                peaks[pid] = max(peaks.get(pid, 0.0), hwm)
        time.sleep(0.2)
    out = proc.communicate()[0]
    return peaks, time.perf_counter() - start, out.strip()


def main() -> None:
    """Write the file, scan it, print the peaks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        music = Path(tmp) / "music"
        music.mkdir()
        path = music / "long.flac"
        write_long_file(path, args.minutes)
        print(f"file: {args.minutes:.0f} min, stereo {SR} Hz FLAC, "
              f"{path.stat().st_size / 1e6:.0f} MB")
        peaks, wall, out = scan_peaks(music, Path(tmp) / "lib", args.workers)
    parent, *others = peaks.values()
    print(f"scan with {args.workers} workers: {wall:.0f} s; {out}")
    print(f"peak RSS: scanning process {parent:.0f} MB; workers and helpers "
          f"{', '.join(f'{v:.0f}' for v in others)} MB; largest {max(peaks.values()):.0f} MB")


if __name__ == "__main__":
    main()
