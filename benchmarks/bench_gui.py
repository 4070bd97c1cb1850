"""GUI responsiveness and start-up benchmarks.

1. **Event-loop stall during a scan**: a 500-track folder is scanned by the real
   engine (small real ONNX model) while a 5 ms QTimer probe records the gaps between
   its ticks; the largest gap minus the interval is the worst stall the user could feel.
   Run for the default worker setting (analysis in worker processes) and for
   ``workers=0`` (analysis in the scan thread, competing for the GIL).
2. **Start-up with a 20,000-track library**: a child process opens the library and
   the main window; we time process start to window shown and to the table filled.
3. **Table operations at 20,000 rows**: sort by artist, filter, select.
4. **Playback start latency**: time from ``Player.play`` to "playing" (the first audio
   block handed to the device) for 3-, 10- and 60-minute FLAC and MP3 files, from the
   start and from the middle, beside the time a whole-file decode would take.

Usage::

    xvfb-run -a .venv/bin/python benchmarks/bench_gui.py        # or QT_QPA_PLATFORM=offscreen

Figures go to stdout and ``benchmarks/out/bench_gui.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.screenshots import CACHE, model_dir, settle, wait  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


class StallProbe:
    """A fast QTimer whose tick gaps measure how long the event loop was blocked."""

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1000
        self.gaps: list[float] = []
        self._last = 0.0
        self.timer = QTimer(interval=interval_ms)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def summary(self) -> dict[str, float]:
        """Worst and 99th-percentile stall in milliseconds."""
        stalls = sorted(max(0.0, g - self.interval) * 1000 for g in self.gaps)
        p99 = stalls[int(0.99 * (len(stalls) - 1))] if stalls else 0.0
        return {"max_stall_ms": round(stalls[-1], 1) if stalls else 0.0,
                "p99_stall_ms": round(p99, 1), "ticks": len(stalls)}


def bench_music(count: int) -> Path:
    """``count`` generated 8-second songs (cached)."""
    from tests.audio_factory import song, write_audio

    folder = CACHE / f"bench_music_{count}"
    marker = folder / ".complete"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            sub = folder / f"album{i // 20:03d}"
            sub.mkdir(exist_ok=True)
            write_audio(sub / f"track{i:04d}.flac", song(1000 + i, 8.0, sr=16000), sr=16000)
        marker.touch()
    return folder


def scan_stall(music: Path, workers: int | None) -> dict[str, float]:
    """Scan ``music`` in a fresh library with the window open; probe the event loop."""
    from engine.library import Library
    from resonance_app.app import warm_up
    from resonance_app.audio_io import FakeAudioBackend
    from resonance_app.settings import Settings
    from resonance_app.views.main_window import MainWindow

    work = Path(tempfile.mkdtemp(prefix="resonance-bench-"))
    settings = Settings(work / "settings.ini")
    if workers is not None:
        settings.worker_count = workers
    library = Library.open(work / "lib", model_dir=model_dir(False))
    window = MainWindow(library, settings=settings, audio=FakeAudioBackend())
    window.resize(1400, 860)
    window.show()
    warm_up(window.pools)  # as run_app does after start-up
    settle(1500)
    probe = StallProbe()
    probe.start()
    start = time.perf_counter()
    done: list[bool] = []
    window.controller.scanFinished.connect(done.append)
    window.folders.add(music)
    wait(lambda: bool(done), 900_000)
    elapsed = time.perf_counter() - start
    settle(100)
    probe.stop()
    count = window.library_panel.model.rowCount()
    window.close()
    library.close()
    result = probe.summary()
    result.update({"workers": settings.worker_count, "tracks": count,
                   "scan_s": round(elapsed, 1), "files_per_s": round(count / elapsed, 1)})
    return result


def make_big_library(count: int) -> Path:
    """A library database holding ``count`` tagged tracks (no vectors), cached."""
    from engine.store import Store

    folder = CACHE / f"library_{count}"
    if (folder / ".complete").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder / "library.db")
    now = time.time()
    with store.transaction() as conn:
        conn.execute("INSERT INTO roots (path, added) VALUES (?, ?)", ("/music", now))
        root = conn.execute("SELECT id FROM roots").fetchone()[0]
        conn.executemany(
            "INSERT INTO tracks (path, root_id, size, mtime, duration, format, title, artist, "
            "album, track_no, year, genre, status, added, updated) "
            "VALUES (?, ?, 1000, ?, ?, 'flac', ?, ?, ?, ?, ?, 'Test', 'ok', ?, ?)",
            [(f"/music/a{i % 400:03d}/t{i:05d}.flac", root, now, 120.0 + i % 300,
              f"Song {i}", f"Artist {i % 400}", f"Album {i % 1600}", i % 12 + 1,
              1960 + i % 60, now, now) for i in range(count)])
    store.close()
    (folder / ".complete").touch()
    return folder


def startup_child(library_dir: Path, expected: int) -> None:
    """In a fresh process: open library + window, report times since process start."""
    t0 = float(os.environ["BENCH_T0"])
    from resonance_app.app import make_application

    app = make_application(["bench"])
    from engine.library import Library
    from resonance_app.audio_io import FakeAudioBackend
    from resonance_app.settings import Settings
    from resonance_app.views.main_window import MainWindow

    work = Path(tempfile.mkdtemp(prefix="resonance-start-"))
    library = Library.open(library_dir, model_dir=model_dir(False))
    window = MainWindow(library, settings=Settings(work / "s.ini"), audio=FakeAudioBackend())
    window.show()
    wait(window.isVisible)
    app.processEvents()
    shown = time.time() - t0
    wait(lambda: window.library_panel.model.rowCount() >= expected, 60_000)
    app.processEvents()
    filled = time.time() - t0
    print(json.dumps({"window_shown_s": round(shown, 3), "table_filled_s": round(filled, 3),
                      "rows": window.library_panel.model.rowCount()}))
    window.close()
    library.close()


def startup(count: int, runs: int = 3) -> dict[str, float]:
    """Median start-up figures over ``runs`` child processes."""
    lib = make_big_library(count)
    samples = []
    for _ in range(runs):
        env = dict(os.environ, BENCH_T0=repr(time.time()))
        out = subprocess.run([sys.executable, __file__, "--startup-child", str(lib),
                              "--startup-tracks", str(count)],
                             env=env, capture_output=True, text=True, check=True, timeout=300)
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(s[key] for s in samples)
            for key in ("window_shown_s", "table_filled_s")} | {"rows": samples[0]["rows"]}


def table_ops(count: int) -> dict[str, float]:
    """Sort and filter a 20,000-row library table."""
    from resonance_app.views.library_view import LibraryPanel
    from tests.app.fakes import make_track

    tracks = [make_track(i) for i in range(1, count + 1)]
    panel = LibraryPanel()
    panel.resize(800, 600)
    panel.show()
    t = time.perf_counter()
    panel.set_tracks(tracks)
    settle(0)
    set_s = time.perf_counter() - t
    t = time.perf_counter()
    panel.view.sortByColumn(1, panel.view.horizontalHeader().sortIndicatorOrder())
    settle(0)
    sort_s = time.perf_counter() - t
    t = time.perf_counter()
    panel.proxy.set_filter_text("artist 3 song 1")
    settle(0)
    filter_s = time.perf_counter() - t
    shown = panel.proxy.rowCount()
    panel.close()
    return {"rows": count, "set_rows_ms": round(set_s * 1000, 1),
            "sort_ms": round(sort_s * 1000, 1), "filter_ms": round(filter_s * 1000, 1),
            "filtered_rows": shown}


def playback_files(folder: Path) -> list[Path]:
    """3-, 10- and 60-minute songs as FLAC and MP3 (44.1 kHz stereo), cached."""
    import numpy as np
    import soundfile as sf

    from tests.audio_factory import song

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for minutes in (3, 10, 60):
        base = song(minutes, 60.0, sr=44100)
        for ext in ("flac", "mp3"):
            path = folder / f"play-{minutes}min.{ext}"
            if not path.exists():
                y = np.tile(base, minutes)
                sf.write(str(path), np.stack([y, y], axis=1), 44100)
            out.append(path)
    return out


def playback_latency(runs: int = 5) -> dict[str, dict[str, float]]:
    """Median ms from ``play()`` to playing, at 0 s and mid-track, per file."""
    from engine.audio import audio_info, load_audio
    from resonance_app.audio_io import FakeAudioBackend
    from resonance_app.playback import Player
    from resonance_app.workers import Pools

    pools = Pools()
    player = Player(FakeAudioBackend(), pools)
    results: dict[str, dict[str, float]] = {}
    for path in playback_files(CACHE / "playback"):
        length = audio_info(path).duration
        row: dict[str, float] = {"minutes": round(length / 60, 1)}
        for where, offset in (("start", 0.0), ("middle", length / 2)):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                player.play(path, offset=offset)
                wait(lambda: player.state == "playing", 60_000)
                times.append((time.perf_counter() - t0) * 1000)
                player.stop()
                settle(50)
            row[f"{where}_ms"] = round(statistics.median(times), 1)
        t0 = time.perf_counter()
        load_audio(path, sr=44100)
        row["whole_file_decode_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        results[path.name] = row
        print(path.name, row, flush=True)
    pools.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print/save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=500)
    parser.add_argument("--startup-tracks", type=int, default=20_000)
    parser.add_argument("--startup-child", type=Path)
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--scan-runs", type=int, default=3)
    parser.add_argument("--playback-only", action="store_true",
                        help="only the playback start latency")
    args = parser.parse_args(argv)
    if args.startup_child:
        startup_child(args.startup_child, args.startup_tracks)
        return 0
    os.environ.setdefault("RESONANCE_SETTINGS", str(Path(tempfile.mkdtemp()) / "s.ini"))
    from resonance_app.app import make_application

    make_application(["bench"])
    results: dict[str, object] = {"cpu_count": os.cpu_count(),
                                  "platform": os.environ.get("QT_QPA_PLATFORM", "xcb")}
    results["playback_start"] = playback_latency()
    if args.playback_only:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "bench_playback.json").write_text(json.dumps(results, indent=2))
        return 0
    results["table_20k"] = table_ops(args.startup_tracks)
    print("table:", results["table_20k"], flush=True)
    results["startup"] = startup(args.startup_tracks)
    print("startup:", results["startup"], flush=True)
    if not args.skip_scan:
        music = bench_music(args.tracks)
        for key, workers in (("scan_default_workers", None), ("scan_in_thread", 0)):
            runs = [scan_stall(music, workers) for _ in range(args.scan_runs)]
            results[key] = {"runs": runs,
                            "max_stall_ms_median": statistics.median(
                                r["max_stall_ms"] for r in runs),
                            "max_stall_ms_worst": max(r["max_stall_ms"] for r in runs)}
            print(f"{key}:", json.dumps(results[key]), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_gui.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
