"""Killing ``resonance-train precompute`` leaves no worker process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.audio_factory import song, write_audio
from tests.trainer.conftest import SR, tiny_base

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(),
                                reason="reads the process table from /proc")


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile
            continue
        # the command name (field 2) may hold spaces: the parent pid follows its ")"
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def _wait_for(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.slow
def test_killing_precompute_ends_its_workers(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(40):  # far more work than the workers do before the kill
        write_audio(corpus / f"song{i:02d}.wav", song(i, 20.0, sr=SR), sr=SR)
    config = tmp_path / "base.yaml"
    config.write_text(json.dumps(tiny_base(corpus)))  # JSON is YAML
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-m", "trainer.cli", "precompute", "--config", str(config),
         "--cache_dir", str(tmp_path / "cache"), "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers: set[int] = set()
    helpers: set[int] = set()
    try:
        assert parent.stdout is not None
        for line in parent.stdout:  # the workers have computed tracks: they are running
            if "[precompute] 10/40" in line:
                break
        else:
            pytest.fail(f"precompute ended early (exit {parent.wait()})")
        workers = {p for p, cmd in _children(parent.pid).items() if "spawn_main" in cmd}
        assert len(workers) == 2
        helpers = set(_children(parent.pid)) - workers  # multiprocessing's resource tracker
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _wait_for(lambda: not any(_alive(p) for p in workers | helpers), 5.0), \
            {p: _alive(p) for p in workers | helpers}
    finally:  # nothing of this test left behind, whatever failed
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in workers | helpers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
