"""A scanning process that dies or is told to stop leaves no worker behind; SIGTERM and
SIGINT stop it cleanly, keeping its work, with no worker tracebacks."""

from __future__ import annotations

import os
import signal

import pytest

from engine.library import Library
from tests.engine.processes import alive, analysed_rows, descendants, start_cli, wait_until
from tests.model_factory import build_model, write_music


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    model = build_model(root / "model")
    write_music(root / "music", 40, seconds=10)
    return root, model


def start_scan(corpus, lib):
    root, model = corpus
    proc = start_cli("scan", str(root / "music"), "--workers", "2", "--quiet",
                     "--library", str(lib), "--model", str(model))
    wait_until(lambda: analysed_rows(lib / "library.db") >= 2 or proc.poll() is not None, 60)
    assert proc.poll() is None, proc.communicate()
    workers = descendants(proc.pid)
    assert len(workers) >= 2  # two analysis workers (and the resource tracker)
    return proc, workers


@pytest.mark.slow  # a real scan process, killed (SIGTERM below stays in the fast subset)
def test_workers_exit_when_the_scanning_process_is_killed(corpus, tmp_path):
    proc, workers = start_scan(corpus, tmp_path / "lib")
    os.kill(proc.pid, signal.SIGKILL)  # the scan only, as the OOM killer would
    proc.wait()
    seconds = wait_until(lambda: not any(alive(p) for p in workers), 10)
    print(f"workers gone {seconds:.2f} s after the scan was killed")


@pytest.mark.parametrize("signum", [signal.SIGTERM,
                                    pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_sigterm_and_sigint_stop_the_scan_cleanly(corpus, tmp_path, signum):
    _root, model = corpus
    lib = tmp_path / "lib"
    proc, workers = start_scan(corpus, lib)
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # Ctrl-C: the terminal signals the whole group
    else:
        os.kill(proc.pid, signum)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().startswith("resonance: scan stopped") and err.count("\n") == 1, err
    wait_until(lambda: not any(alive(p) for p in workers), 5)
    with Library.open(lib, model_dir=model) as library:
        kept = library.count()
        assert kept >= 2
        progress = list(library.scan(workers=0))
        assert next(p.total for p in progress if p.stage == "analyse") == 40 - kept
        assert library.count() == 40
