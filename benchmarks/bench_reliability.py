"""Reliability figures: how fast hostile seeds fail, how fast scan workers follow a killed
scan, and how fast SIGTERM stops a scan.

* hostile seeds: ``resonance similar SEED`` on a scanned library for a FIFO, a socket,
  ``/dev/zero``, ``/dev/urandom`` and a folder: wall seconds of the whole process (start,
  imports and all) and its peak RSS;
* orphans: a scan with 2 workers is SIGKILLed; seconds until its workers and resource
  tracker are gone;
* SIGTERM: seconds from the signal to the scan's exit (work committed, catalog saved).

Run: ``python -m benchmarks.bench_reliability [--model DIR]`` (default: the shipped model).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.model import default_model_dir
from tests.engine.processes import (
    CLI,
    ROOT,
    alive,
    analysed_rows,
    descendants,
    start_cli,
    wait_until,
)
from tests.model_factory import write_music


def hostile(folder: Path) -> dict[str, str]:
    """Seeds that are not audio files."""
    os.mkfifo(folder / "pipe.mp3")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.flac"))
    (folder / "folder.mp3").mkdir()
    return {"FIFO": str(folder / "pipe.mp3"), "socket": str(folder / "sock.flac"),
            "/dev/zero": "/dev/zero", "/dev/urandom": "/dev/urandom",
            "folder": str(folder / "folder.mp3")}


#: The command line, then its own peak RSS (MB, Linux VmHWM: unlike ru_maxrss it is not
#: inherited from the parent across exec) as the last line of stdout.
MEASURED = ("import re, sys; from engine.cli import main; code = main(sys.argv[1:]); "
            "status = open('/proc/self/status').read(); "
            "print(int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) / 1024); "
            "sys.exit(code)")


def seed_failures(lib: list[str], seeds: dict[str, str]) -> None:
    print("| seed | exit | wall s (whole process) | peak RSS MB | message |")
    print("|---|---|---|---|---|")
    for kind, seed in seeds.items():
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", MEASURED, "similar", seed, *lib],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        wall = time.perf_counter() - started
        rss = float(proc.stdout.split()[-1])
        reason = proc.stderr.strip().rpartition(": ")[2]
        print(f"| {kind} | {proc.returncode} | {wall:.2f} | {rss:.0f} | {reason} |")


def orphans(music: Path, lib_dir: Path, model: Path) -> None:
    args = ["--workers", "2", "--quiet", "--library", str(lib_dir), "--model", str(model)]
    proc = start_cli("scan", str(music), *args)
    wait_until(lambda: analysed_rows(lib_dir / "library.db") >= 1, 300)
    workers = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone = wait_until(lambda: not any(alive(p) for p in workers), 30)
    print(f"SIGKILLed scan: {len(workers)} child processes gone after {gone:.2f} s")
    proc = start_cli("scan", str(music), *args)
    wait_until(lambda: analysed_rows(lib_dir / "library.db") >= 3, 300)
    workers = descendants(proc.pid)
    started = time.perf_counter()
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=120)
    stopped = time.perf_counter() - started
    gone = wait_until(lambda: not any(alive(p) for p in workers), 30)
    print(f"SIGTERM: scan exited {proc.returncode} after {stopped:.2f} s, workers gone "
          f"{gone:.2f} s later")


def main() -> None:
    """Print the figures as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    model = args.model or default_model_dir()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_music(root / "music", 24, seconds=30, sr=44100)
        lib = ["--library", str(root / "lib"), "--model", str(model)]
        subprocess.run([sys.executable, "-c", CLI, "scan", str(root / "music"), "--quiet",
                        "--workers", "2", *lib], cwd=ROOT, check=True, timeout=1200)
        seed_failures(lib, hostile(root))
        orphans(root / "music", root / "lib2", model)


if __name__ == "__main__":
    main()
