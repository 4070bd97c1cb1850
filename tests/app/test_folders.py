"""The folder flow's decisions: scan quietly on a change, wait and retry while the library
is busy, drop what waits when watching is turned off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from engine.errors import ScanBusyError, StoreAccessError
from engine.library import ScanProgress
from resonance_app.controller import LibraryController
from resonance_app.folders import FolderFlow
from tests.app.fakes import FakeLibrary, ScriptedPrompts


class BusyLibrary(FakeLibrary):
    """A fake library whose scans cannot start while ``refuse`` holds an error."""

    def __init__(self) -> None:
        super().__init__(2)
        self.refuse: Exception | None = None

    def scan(self, roots: list[Path] | None = None, **kwargs: object) -> Iterator[ScanProgress]:
        if self.refuse is not None:
            self.calls.append(("refused", None))
            raise self.refuse
        yield from super().scan(roots, **kwargs)  # type: ignore[arg-type]


def make_flow(fake_pools, fresh_settings) -> tuple[BusyLibrary, FolderFlow, list[tuple]]:
    lib = BusyLibrary()
    controller = LibraryController(lib, fake_pools)
    flow = FolderFlow(controller, fake_pools.playback, ScriptedPrompts(), fresh_settings)
    seen: list[tuple] = []
    flow.updating.connect(lambda: seen.append(("updating",)))
    flow.deferred.connect(lambda message, retry: seen.append(("deferred", retry)))
    flow.waitingOver.connect(lambda: seen.append(("over",)))
    return lib, flow, seen


def attempts(lib: BusyLibrary) -> int:
    return sum(1 for c in lib.calls if c[0] in ("scan", "refused"))


def test_a_busy_library_makes_the_update_wait_quietly_and_retry(qtbot, fake_pools,
                                                                 fresh_settings) -> None:
    lib, flow, seen = make_flow(fake_pools, fresh_settings)
    flow.watcher.changed.emit()  # a folder changed: one automatic scan, announced once
    assert attempts(lib) == 1 and seen == [("updating",)]
    lib.refuse = ScanBusyError("another scan is running")
    flow.watcher.changed.emit()
    assert seen[-1] == ("deferred", True) and flow.waiting and flow.retry.isActive()
    flow.watcher.changed.emit()  # while it waits, a change tries again without a message
    assert attempts(lib) == 3 and seen.count(("updating",)) == 2
    flow.retry.timeout.emit()  # the retry timer fires
    assert attempts(lib) == 4 and seen.count(("updating",)) == 2
    lib.refuse = None
    flow.retry.timeout.emit()  # the library is free: the update runs, nothing waits
    assert attempts(lib) == 5 and seen[-1] == ("over",)
    assert not flow.waiting and not flow.retry.isActive()


def test_an_update_that_cannot_succeed_waits_without_retrying(qtbot, fake_pools,
                                                              fresh_settings) -> None:
    lib, flow, seen = make_flow(fake_pools, fresh_settings)
    lib.refuse = StoreAccessError("the library is read-only")
    flow.watcher.changed.emit()
    assert seen == [("updating",), ("deferred", False)]
    assert flow.waiting and not flow.retry.isActive()


def test_turning_watching_off_drops_the_waiting_update(qtbot, fake_pools,
                                                       fresh_settings) -> None:
    lib, flow, seen = make_flow(fake_pools, fresh_settings)
    lib.refuse = ScanBusyError("another scan is running")
    flow.watcher.changed.emit()
    assert flow.retry.isActive()
    flow.set_watching(False)
    assert seen[-1] == ("over",) and not flow.waiting and not flow.retry.isActive()
    flow.watcher.changed.emit()  # changes no longer scan
    assert attempts(lib) == 1 and not flow.watcher.enabled


def test_adding_a_folder_remembers_it_and_scans(qtbot, fake_pools, fresh_settings,
                                                tmp_path: Path) -> None:
    lib, flow, _seen = make_flow(fake_pools, fresh_settings)
    added: list[Path] = []
    flow.folderAdded.connect(added.append)
    flow.prompts.folders.append(str(tmp_path))  # type: ignore[attr-defined]
    flow.choose()
    assert added == [tmp_path] and fresh_settings.last_dir == str(tmp_path)
    assert tmp_path in lib.roots() and attempts(lib) == 1
    flow.choose()  # cancelled: nothing added
    assert added == [tmp_path] and attempts(lib) == 1
