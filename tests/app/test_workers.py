"""The thread helpers: results and progress reach the GUI thread, cancel works, stale drops."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from resonance_app.workers import LatestOnly, Pools, run_generator, run_task, to_main
from tests.app.fakes import FakePool


def test_run_task_posts_result_to_gui_thread(qtbot, real_pools: Pools) -> None:
    seen: dict[str, object] = {}

    def work() -> int:
        seen["worker"] = QThread.currentThread()
        return 42

    def done(value: int) -> None:
        seen["value"] = value
        seen["gui"] = QThread.currentThread() is QApplication.instance().thread()

    run_task(work, done, pool=real_pools.interactive)
    qtbot.waitUntil(lambda: "value" in seen, timeout=5000)
    assert seen["value"] == 42 and seen["gui"] is True
    assert seen["worker"] is not QApplication.instance().thread()


def test_run_task_reports_errors(qtbot, real_pools: Pools) -> None:
    errors: list[BaseException] = []

    def boom() -> None:
        raise ValueError("bad")

    run_task(boom, on_error=errors.append, pool=real_pools.interactive)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], ValueError)


def test_generator_progress_and_cancel(qtbot, real_pools: Pools) -> None:
    gate = threading.Event()
    progress: list[int] = []
    finished: list[bool] = []

    def steps(should_stop):
        for i in range(1000):
            if i >= 3:
                gate.wait(5)  # hold the job until the test has cancelled it
            if should_stop():
                return
            yield i

    task = run_generator(steps, on_progress=progress.append, on_done=finished.append,
                         pool=real_pools.scan)
    qtbot.waitUntil(lambda: bool(progress) and progress[-1] == 2, timeout=5000)
    task.cancel()
    gate.set()
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    assert finished == [True]
    assert progress == sorted(progress)
    assert progress[-1] <= 3
    assert task.finished


def test_generator_coalesces_progress_but_delivers_last_item(qtbot, real_pools) -> None:
    progress: list[int] = []
    finished: list[bool] = []
    run_generator(lambda stop: iter(range(200_000)), on_progress=progress.append,
                  on_done=finished.append, pool=real_pools.scan)
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    assert progress[-1] == 199_999 and progress == sorted(progress)
    assert len(progress) < 200_000  # the GUI was not sent every item
    assert finished == [False]


def test_generator_on_fake_pool_delivers_everything() -> None:
    progress: list[int] = []
    run_generator(lambda stop: iter(range(50)), on_progress=progress.append, pool=FakePool())
    assert progress == list(range(50))


def test_to_main_from_worker_thread(qtbot) -> None:
    hits: list[bool] = []
    t = threading.Thread(target=lambda: to_main(
        lambda: hits.append(QThread.currentThread() is QApplication.instance().thread())))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: bool(hits), timeout=5000)
    assert hits == [True]


def test_latest_only_drops_stale() -> None:
    latest = LatestOnly()
    first = latest.next()
    second = latest.next()
    assert not latest.is_current(first)
    assert latest.is_current(second)


@pytest.mark.parametrize("name", ["scan", "interactive", "playback"])
def test_named_pools_are_single_threaded(name: str) -> None:
    pools = Pools()
    try:
        assert getattr(pools, name).maxThreadCount() == 1
    finally:
        assert pools.shutdown()
