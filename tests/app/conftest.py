"""GUI test fixtures: isolated settings, fake pools and devices, a leak-checking window factory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# PortAudio reads the ALSA configuration once, when sounddevice is first imported:
# point it at a null PCM so the real audio path works (silently) with no sound card.
_ALSA_DIR = Path(tempfile.mkdtemp(prefix="resonance-alsa-"))
(_ALSA_DIR / "asound.conf").write_text(
    'pcm.!default { type plug slave.pcm "null" }\npcm.null { type null }\n')
os.environ["ALSA_CONFIG_PATH"] = str(_ALSA_DIR / "asound.conf")

import pytest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from resonance_app.audio_io import FakeAudioBackend  # noqa: E402
from resonance_app.crash import ErrorReporter  # noqa: E402
from resonance_app.settings import Settings  # noqa: E402
from resonance_app.workers import Pools  # noqa: E402
from tests.app.fakes import FakeLibrary, FakePool, ScriptedPrompts  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Every test gets its own settings file and data folder (logs)."""
    path = tmp_path / "settings" / "resonance.ini"
    monkeypatch.setenv("RESONANCE_SETTINGS", str(path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return Settings(path)


@pytest.fixture
def fake_pools() -> Pools:
    """Synchronous pools: jobs run at once on the GUI thread."""
    return Pools(scan=FakePool(), interactive=FakePool(), playback=FakePool(),
                 discovery=FakePool())


@pytest.fixture
def real_pools() -> Iterator[Pools]:
    """Real thread pools, joined at the end of the test."""
    pools = Pools()
    yield pools
    assert pools.shutdown(10_000), "worker threads did not finish"


@pytest.fixture
def fake_audio() -> FakeAudioBackend:
    """An audio system with one fake microphone and one fake output."""
    return FakeAudioBackend()


@pytest.fixture
def prompts() -> ScriptedPrompts:
    """Scripted message boxes and file dialogs."""
    return ScriptedPrompts()


@pytest.fixture
def reporter(tmp_path: Path) -> Iterator[ErrorReporter]:
    """The app's error reporter, installed as in ``run_app`` (log under ``tmp_path``)."""
    rep = ErrorReporter(tmp_path / "logs" / "resonance-app.log")
    rep.install()
    yield rep
    rep.uninstall()
    if rep.dialog is not None:
        rep.dialog.close()


@pytest.fixture
def library() -> FakeLibrary:
    """A scripted library of 30 tracks, already scanned."""
    return FakeLibrary(30).load_all()


def _top_level() -> set[int]:
    return {id(w) for w in QApplication.topLevelWidgets() if w.isVisible()}


@pytest.fixture
def make_main_window(qtbot, fresh_settings, fake_pools, fake_audio, prompts
                     ) -> Iterator[Callable[..., object]]:
    """Build MainWindows; on teardown close them and fail on leaked top-level widgets."""
    from resonance_app.views.main_window import MainWindow

    before = _top_level()
    made: list[MainWindow] = []

    def make(library: object | None = None, **kwargs: object) -> MainWindow:
        kwargs.setdefault("pools", fake_pools)
        kwargs.setdefault("audio", fake_audio)
        kwargs.setdefault("prompts", prompts)
        kwargs.setdefault("settings", fresh_settings)
        window = MainWindow(library if library is not None else FakeLibrary(30).load_all(),
                            **kwargs)
        qtbot.addWidget(window)
        window.show()
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets()
              if w.isVisible() and id(w) not in before and w not in made]
    for w in leaked:
        w.close()
    assert not leaked, f"leaked top-level widgets: {[type(w).__name__ for w in leaked]}"
