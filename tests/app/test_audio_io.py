"""Playback and recording through the fake stream, and for real through ALSA's null PCM."""

from __future__ import annotations

import importlib.abc
import os
import sys

import numpy as np
import pytest

from resonance_app.audio_io import (
    PORTAUDIO_HINT,
    AudioDeviceError,
    FakeAudioBackend,
    SoundDeviceBackend,
)
from resonance_app.playback import Player, Recorder
from resonance_app.preview_decode import from_array
from resonance_app.workers import Pools

SR = 44100


def ramp(seconds: float) -> np.ndarray:
    """A signal whose value tells where we are: sample i is i / n."""
    n = int(seconds * SR)
    return (np.arange(n, dtype=np.float32) / n).astype(np.float32)


def make_player(backend, pools: Pools, y: np.ndarray) -> Player:
    return Player(backend, pools, decoder=lambda path, sr, offset: from_array(y, sr, offset))


def test_fake_playback_position_seek_volume(qtbot, fake_pools: Pools) -> None:
    backend = FakeAudioBackend()
    y = ramp(10.0)
    player = make_player(backend, fake_pools, y)
    player.set_volume(0.5)
    with qtbot.waitSignal(player.stateChanged, check_params_cb=lambda s: s == "playing"):
        player.play("/music/a.flac", offset=2.0)
    stream = backend.last
    assert player.position == pytest.approx(2.0)
    out = stream.pull(SR // 10)
    assert player.position == pytest.approx(2.1)
    assert out.shape == (SR // 10, 2)
    np.testing.assert_allclose(out[:, 0], 0.5 * y[2 * SR: 2 * SR + SR // 10])
    with qtbot.waitSignal(player.positionChanged):
        player.seek(7.5)
    out = stream.pull(100)
    np.testing.assert_allclose(out[:, 1], 0.5 * y[int(7.5 * SR): int(7.5 * SR) + 100])
    player.pause()
    assert player.state == "paused" and not stream.active
    player.resume()
    assert player.state == "playing" and stream.active
    player.seek(9.99)
    stream.pull(SR)  # past the end: the stream finishes and the player stops
    qtbot.waitUntil(lambda: player.state == "stopped", timeout=2000)
    assert stream.closed


def test_one_player_at_a_time(qtbot, fake_pools: Pools) -> None:
    backend = FakeAudioBackend()
    player = make_player(backend, fake_pools, ramp(3.0))
    player.play("/music/a.flac")
    first = backend.last
    player.play("/music/b.flac", offset=1.0)
    assert first.closed and not backend.last.closed
    assert len([s for s in backend.streams if not s.closed]) == 1


def test_no_output_device_is_a_message(qtbot, fake_pools: Pools) -> None:
    player = make_player(FakeAudioBackend(outputs=[]), fake_pools, ramp(1.0))
    with qtbot.waitSignal(player.error) as blocker:
        player.play("/music/a.flac")
    assert "No audio output device" in blocker.args[0]
    assert player.state == "stopped"


def test_decode_error_is_a_message(qtbot, fake_pools: Pools, tmp_path) -> None:
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"not audio at all" * 10)
    player = Player(FakeAudioBackend(), fake_pools)  # the engine's own decoder
    with qtbot.waitSignal(player.error) as blocker:
        player.play(bad)
    assert blocker.args[0].startswith("Cannot play this track")


def test_fake_recording(qtbot) -> None:
    backend = FakeAudioBackend()
    recorder = Recorder(backend)
    assert recorder.start(2.0)
    stream = backend.last
    tone = 0.3 * np.sin(np.linspace(0, 200 * np.pi, SR)).astype(np.float32)
    stream.feed(tone[:, None])
    with qtbot.waitSignal(recorder.finished) as blocker:
        stream.feed(np.concatenate([tone, tone])[:, None])  # more than needed
    samples, sr = blocker.args
    assert sr == SR and len(samples) == 2 * SR
    assert stream.closed


def test_recording_too_short_or_silent(qtbot) -> None:
    backend = FakeAudioBackend()
    recorder = Recorder(backend)
    recorder.start(5.0)
    backend.last.feed(np.full((SR // 4, 1), 0.2, np.float32))
    with qtbot.waitSignal(recorder.error) as blocker:
        recorder.stop()
    assert "too short" in blocker.args[0]
    recorder.start(1.0)
    with qtbot.waitSignal(recorder.error) as blocker:
        backend.last.feed(np.zeros((SR, 1), np.float32))
    assert "silent" in blocker.args[0]


def test_no_microphone(qtbot) -> None:
    recorder = Recorder(FakeAudioBackend(inputs=[]))
    with qtbot.waitSignal(recorder.error) as blocker:
        assert not recorder.start(5.0)
    assert "No microphone" in blocker.args[0]


# -- the real PortAudio path, against ALSA's null PCM (see tests/app/conftest.py) -------

def test_portaudio_null_device_playback(qtbot, real_pools: Pools) -> None:
    backend = SoundDeviceBackend()
    assert backend.output_devices(), "ALSA null PCM should give PortAudio a device"
    player = make_player(backend, real_pools, ramp(0.5))
    with qtbot.waitSignal(player.stateChanged, timeout=10_000,
                          check_params_cb=lambda s: s == "stopped"):
        player.play("/music/a.flac")
    assert player.duration == pytest.approx(0.5)


def test_portaudio_null_device_recording(qtbot) -> None:
    recorder = Recorder(SoundDeviceBackend())
    outcome: list[object] = []
    recorder.finished.connect(lambda samples, sr: outcome.append(len(samples) / sr))
    recorder.error.connect(outcome.append)  # "silent" is fine: the null PCM may give zeros
    assert recorder.start(1.0)
    qtbot.waitUntil(lambda: bool(outcome), timeout=10_000)
    assert outcome[0] == pytest.approx(1.0) or "silent" in str(outcome[0])
    assert recorder.seconds == pytest.approx(1.0) and not recorder.recording


class _NoPortAudio(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")


def test_missing_portaudio_gives_install_hint(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    with pytest.raises(AudioDeviceError) as info:
        SoundDeviceBackend().output_devices()
    assert str(info.value) == PORTAUDIO_HINT
    assert "libportaudio2" in PORTAUDIO_HINT


NO_CARD_SCRIPT = """
from resonance_app.audio_io import SoundDeviceBackend, AudioDeviceError
b = SoundDeviceBackend()
for fn in (lambda: b.open_output(samplerate=44100, channels=2, callback=lambda o: False),
           lambda: b.open_input(samplerate=44100, channels=1, callback=lambda i: None)):
    try:
        fn()
        print("opened")
    except AudioDeviceError as exc:
        print(exc)
"""


def test_no_sound_card_gives_clear_messages(tmp_path) -> None:
    """A real PortAudio with ALSA's default device on a card that does not exist."""
    import subprocess

    conf = tmp_path / "nocard.conf"
    conf.write_text("</usr/share/alsa/alsa.conf>\n"
                    "pcm.!default { type hw card 99 }\nctl.!default { type hw card 99 }\n")
    env = {**os.environ, "ALSA_CONFIG_PATH": str(conf)}
    out = subprocess.run([sys.executable, "-c", NO_CARD_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.splitlines()
    assert out == ["No audio output device was found: check that a sound card or headphones "
                   "are connected.",
                   "No microphone was found: connect one, or allow this app to use it in your "
                   "system's privacy settings."]
