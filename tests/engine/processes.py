"""Helpers for tests that run real scan processes and signal them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys; from engine.cli import main; sys.exit(main(sys.argv[1:]))"


def start_cli(*argv: str, **kwargs) -> subprocess.Popen:
    """``resonance ARGV`` in a new process group (so the test can signal it as a shell)."""
    return subprocess.Popen([sys.executable, "-c", CLI, *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kwargs)


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, parent pid)`` of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaps does not count: it holds no memory or pipes)."""
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None and alive(int(entry)):
            parents.setdefault(st[1], []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def wait_until(condition, timeout: float, step: float = 0.05) -> float:
    """Seconds until ``condition()`` held; raises AssertionError after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


def analysed_rows(db: Path) -> int:
    """Tracks committed as analysed or failed (0 while the database is not there yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM tracks WHERE status != 'pending'"
                                ).fetchone()[0]
    except sqlite3.Error:
        return 0


def lock_held(path: Path) -> bool:
    """Whether some process holds an OS lock on ``path`` (Linux: ``/proc/locks``)."""
    try:
        inode = os.stat(path).st_ino
    except OSError:
        return False
    text = Path("/proc/locks").read_text()
    return any(line.split()[5].endswith(f":{inode}") for line in text.splitlines()
               if len(line.split()) > 5)
