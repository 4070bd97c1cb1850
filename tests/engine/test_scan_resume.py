"""A scan killed with SIGKILL resumes with nothing lost and nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.library import Library
from tests.model_factory import build_model, write_music

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys, time
    import engine.scan as scan
    scan.COMMIT_EVERY = 3          # small batches so some are committed, some are not
    scan.COMMIT_SECONDS = 1e9
    from engine.library import Library
    lib = Library.open(sys.argv[1], model_dir=sys.argv[2])
    for p in lib.scan([sys.argv[3]], workers=2):
        if p.stage == "analyse" and p.done:
            print(p.done, flush=True)
            time.sleep(0.1)
    print("finished", flush=True)
""")


def snapshot(lib: Library) -> dict[str, tuple]:
    rows = lib.store.query(
        "SELECT t.path, t.status, v.fused, (SELECT COUNT(*) FROM segments s "
        "WHERE s.track_id = t.id) AS n FROM tracks t "
        "LEFT JOIN track_vectors v ON v.track_id = t.id")
    return {r["path"]: (r["status"], np.frombuffer(r["fused"], "<f4") if r["fused"] else None,
                        r["n"]) for r in rows}


@pytest.mark.slow
def test_sigkilled_scan_resumes_to_the_same_catalog(tmp_path):
    model = build_model(tmp_path / "model")
    music = tmp_path / "music"
    write_music(music, 14, seconds=8)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "killed"), str(model),
                              str(music)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        for line in child.stdout:
            assert line.strip() != "finished", "the scan ended before it could be killed"
            if int(line) >= 7:
                break
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the scan and its worker processes
        child.wait()
    with Library.open(tmp_path / "killed", model_dir=model) as killed:
        partial = snapshot(killed)
        assert len(partial) == 14
        done = sum(status == "ok" for status, _, _ in partial.values())
        assert 3 <= done < 14
        progress = list(killed.scan(workers=0))
        assert next(p.total for p in progress if p.stage == "analyse") == 14 - done
        resumed = snapshot(killed)
        count = killed.count()
        seg_rows = killed.store.query("SELECT COUNT(*) FROM segments")[0][0]
    with Library.open(tmp_path / "clean", model_dir=model) as clean:
        list(clean.scan([music], workers=0))
        expected = snapshot(clean)
        assert clean.count() == count == 14
        assert clean.store.query("SELECT COUNT(*) FROM segments")[0][0] == seg_rows
    assert resumed.keys() == expected.keys()
    for path, (status, vector, n_segments) in expected.items():
        assert resumed[path][0] == status == "ok"
        assert resumed[path][2] == n_segments
        np.testing.assert_allclose(resumed[path][1], vector, atol=1e-6)


# Installed as sitecustomize in the scan's worker processes: a worker that analyses a
# file named "crash*" dies at once, as if the decoder had crashed.
CRASHER = textwrap.dedent("""
    import os
    import engine.analysis as analysis
    _real = analysis.analyse_path

    def analyse_path(path, *args, **kwargs):
        if os.path.basename(path).startswith("crash"):
            os._exit(70)
        return _real(path, *args, **kwargs)

    analysis.analyse_path = analyse_path
""")


@pytest.mark.slow
def test_a_crashing_file_is_recorded_and_the_scan_goes_on(tmp_path):
    model = build_model(tmp_path / "model")
    music = tmp_path / "music"
    write_music(music, 5, seconds=6)
    write_music(music / "x", 1, seconds=6)[0].rename(music / "crash.flac")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(CRASHER, encoding="utf-8")
    code = ("import sys; from engine.library import Library\n"
            "lib = Library.open(sys.argv[1], model_dir=sys.argv[2])\n"
            "print(list(lib.scan([sys.argv[3]], workers=2))[-1].stage)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lib"), str(model),
                           str(music)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "done"
    with Library.open(tmp_path / "lib", model_dir=model) as lib:
        assert lib.count() == 5
        (error,) = lib.errors()
        assert error.path.name == "crash.flac" and "crashed" in error.reason


def test_a_pool_found_broken_on_submit_hands_back_its_files(monkeypatch):
    """A worker can die between two waits: the next ``submit`` then raises itself. The
    file being submitted goes back on the queue, the ones in flight become suspects."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    import engine.scan as scan

    class DiesAfterOne:
        submitted = 0

        def submit(self, *args, **kwargs):
            self.submitted += 1
            if self.submitted > 1:
                raise BrokenProcessPool("a child process terminated abruptly")
            return Future()  # never finishes: the file a worker is still on

        def shutdown(self, **kwargs):
            pass

    monkeypatch.setattr(scan, "_new_pool", lambda options, workers: DiesAfterOne())
    monkeypatch.setattr(scan, "_check_workers_start", lambda pool: None)
    queue = [(3, "c.flac"), (2, "b.flac"), (1, "a.flac")]
    options = scan.ScanOptions(model_dir=Path("."), fingerprint="")
    run = scan._run_pool(queue, options, 1, lambda: False)
    with pytest.raises(StopIteration) as stop:
        next(run)
    assert stop.value.value == [(1, "a.flac")]
    assert queue == [(3, "c.flac"), (2, "b.flac")]


def test_a_rescan_with_nothing_new_ends_its_early_workers_at_once(tmp_path, monkeypatch):
    """Workers are started before the walk; when it finds nothing to analyse they are ended
    at once, not after loading the model (a watcher's rescan stays cheap)."""
    import multiprocessing

    import engine.scan as scan

    model = build_model(tmp_path / "model")
    write_music(tmp_path / "music", 2, seconds=6)
    warmed: list[object] = []
    real = scan.start_workers

    def counted(model_dir, workers):
        pool = real(model_dir, workers)
        if pool is not None:
            warmed.append(pool.submit(os.getpid))  # done only once a worker is up
        return pool

    monkeypatch.setattr("engine.library.start_workers", counted)
    with Library.open(tmp_path / "lib", model_dir=model) as lib:
        list(lib.scan([tmp_path / "music"], workers=2))
        assert warmed[0].done() and not warmed[0].cancelled()  # used, then shut down
        list(lib.scan(workers=2))  # nothing new
        assert warmed[1].cancelled() or warmed[1].exception() is not None
        assert not multiprocessing.active_children()
        assert lib.count() == 2
