"""Stress: ten SIGKILLs at random moments of a scan, then a clean finish, give the same
rows and vectors as one clean scan, and leave no process of the scans alive."""

from __future__ import annotations

import os
import signal
import textwrap
import time

import numpy as np
import pytest

from engine.library import Library
from tests.engine.processes import ROOT, alive, analysed_rows, descendants, start_cli, wait_until
from tests.model_factory import build_model, write_music

KILLS = 10
FILES = 24
#: Loaded in the killed scans and their workers: each file takes at least 0.5 s, so a scan
#: lasts several seconds on any machine and ten kills land in the middle of it.
SLOW_ANALYSIS = textwrap.dedent("""
    import time
    import engine.analysis as analysis
    _real = analysis.analyse_path

    def analyse_path(*args, **kwargs):
        time.sleep(0.5)
        return _real(*args, **kwargs)

    analysis.analyse_path = analyse_path
""")


def table(folder, model) -> dict[str, tuple]:
    with Library.open(folder, model_dir=model) as lib:
        rows = lib.store.query(
            "SELECT t.path, t.status, t.size, t.mtime, t.content_hash, t.duration, "
            "t.fingerprint, v.fused, v.timbre, (SELECT group_concat(hex(s.fused), '') FROM "
            "segments s WHERE s.track_id = t.id) AS segs FROM tracks t "
            "LEFT JOIN track_vectors v ON v.track_id = t.id")
        assert lib.count() == len(rows)
        return {r[0]: tuple(r[1:]) for r in rows}


@pytest.mark.slow
def test_ten_random_sigkills_then_a_clean_finish(tmp_path):
    rng = np.random.default_rng(15)
    model = build_model(tmp_path / "model")
    music = tmp_path / "music"
    write_music(music, FILES, seconds=6)
    args = ["--workers", "2", "--quiet", "--library", str(tmp_path / "killed"),
            "--model", str(model)]
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_ANALYSIS, encoding="utf-8")
    slow = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    spawned: set[int] = set()
    kills = mid_analysis = 0
    for _ in range(3 * KILLS):  # until ten kills have landed while a scan was running
        proc = start_cli("scan", str(music), *args, env=slow)
        deadline = time.monotonic() + rng.uniform(0.2, 1.5)
        while time.monotonic() < deadline and proc.poll() is None:
            spawned |= descendants(proc.pid)
            time.sleep(0.05)
        spawned.add(proc.pid)
        if proc.poll() is None:
            mid_analysis += analysed_rows(tmp_path / "killed" / "library.db") < FILES
            os.kill(proc.pid, signal.SIGKILL)  # the scan only: its workers must follow
            kills += 1
        proc.communicate()
        if kills == KILLS:
            break
    assert kills == KILLS and mid_analysis >= 3
    wait_until(lambda: not any(alive(p) for p in spawned), 10)
    last = start_cli("scan", str(music), *args)
    out, err = last.communicate(timeout=120)
    assert last.returncode == 0, err
    assert f"the library holds {FILES} searchable tracks" in out
    clean = start_cli("scan", str(music), "--workers", "2", "--quiet", "--library",
                      str(tmp_path / "clean"), "--model", str(model))
    assert clean.wait(timeout=120) == 0
    killed, expected = table(tmp_path / "killed", model), table(tmp_path / "clean", model)
    assert killed.keys() == expected.keys() and len(killed) == FILES
    for path, row in expected.items():
        assert killed[path][:6] == row[:6], path  # status, size, mtime, hash, duration, model
        for got, want in zip(killed[path][6:8], row[6:8], strict=True):
            np.testing.assert_allclose(np.frombuffer(got, "<f4"), np.frombuffer(want, "<f4"),
                                       atol=1e-6)
        assert killed[path][8] == row[8], path  # every segment vector, bit for bit
    assert not any(alive(p) for p in spawned | {last.pid, clean.pid})
