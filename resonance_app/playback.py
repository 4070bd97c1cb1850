"""Preview playback and microphone recording on top of :mod:`resonance_app.audio_io`.

The player decodes with the engine's own ``load_audio`` (the same path analysis uses)
on the playback pool, then streams the samples from memory; only one track plays at
a time. The recorder collects input blocks until the requested length is reached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from resonance_app.audio_io import AudioBackend, AudioDevice, AudioDeviceError, AudioStream
from resonance_app.workers import LatestOnly, Pools, run_task

Decoder = Callable[..., np.ndarray]
PLAY_SR = 44100


def _engine_decoder(path: str | Path, *, sr: int) -> np.ndarray:
    from engine.audio import load_audio

    return load_audio(path, sr=sr)


class Player(QObject):
    """Plays one track at a time: play/pause/stop/seek/volume, from any offset."""

    stateChanged = Signal(str)  # "stopped" | "loading" | "playing" | "paused"
    positionChanged = Signal(float, float)  # seconds, duration
    trackChanged = Signal(str)  # label of the loaded track
    error = Signal(str)

    def __init__(self, backend: AudioBackend, pools: Pools, *, decoder: Decoder | None = None,
                 samplerate: int = PLAY_SR, tick_ms: int = 50,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._pools = pools
        self._decode = decoder or _engine_decoder
        self._sr = samplerate
        self._lock = threading.Lock()
        self._samples = np.zeros(0, np.float32)
        self._pos = 0
        self._volume = 0.8
        self._stream: AudioStream | None = None
        self._state = "stopped"
        self._requests = LatestOnly()
        self.device: AudioDevice | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)

    # -- public API ------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The current state name."""
        return self._state

    @property
    def position(self) -> float:
        """Playback position in seconds."""
        with self._lock:
            return self._pos / self._sr

    @property
    def duration(self) -> float:
        """Length of the loaded track in seconds."""
        return len(self._samples) / self._sr

    @property
    def volume(self) -> float:
        """Gain in [0, 1]."""
        return self._volume

    def set_volume(self, volume: float) -> None:
        """Set the gain, clamped to [0, 1]."""
        self._volume = float(min(1.0, max(0.0, volume)))

    def play(self, path: str | Path, *, offset: float = 0.0, label: str = "") -> None:
        """Decode ``path`` in the background and play it from ``offset`` seconds."""
        self.stop()
        generation = self._requests.next()
        self._set_state("loading")
        self.trackChanged.emit(label or Path(path).name)
        run_task(lambda: self._decode(path, sr=self._sr),
                 lambda y: self._loaded(generation, y, offset),
                 lambda exc: self._failed(generation, exc),
                 pool=self._pools.playback, name="decode-preview")

    def toggle(self) -> None:
        """Pause when playing, resume when paused."""
        if self._state == "playing":
            self.pause()
        elif self._state == "paused":
            self.resume()

    def pause(self) -> None:
        """Pause, keeping the position."""
        if self._state == "playing" and self._stream is not None:
            self._stream.stop()
            self._timer.stop()
            self._set_state("paused")

    def resume(self) -> None:
        """Continue from the current position."""
        if self._state == "paused" and self._stream is not None:
            self._stream.start()
            self._timer.start()
            self._set_state("playing")

    def stop(self) -> None:
        """Stop and release the device."""
        self._requests.next()  # a decode still running is now stale
        self._close_stream()
        with self._lock:
            self._pos = 0
        if self._state != "stopped":
            self._set_state("stopped")
            self.positionChanged.emit(0.0, self.duration)

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` (clamped to the track)."""
        with self._lock:
            self._pos = int(min(max(0.0, seconds), self.duration) * self._sr)
        self.positionChanged.emit(self.position, self.duration)

    # -- internals -------------------------------------------------------------------
    def _loaded(self, generation: int, samples: np.ndarray, offset: float) -> None:
        if not self._requests.is_current(generation):
            return
        with self._lock:
            self._samples = np.asarray(samples, np.float32)
            self._pos = int(min(max(0.0, offset), self.duration) * self._sr)
        try:
            self._stream = self._backend.open_output(
                samplerate=self._sr, channels=2, callback=self._fill, device=self.device)
            self._stream.start()
        except AudioDeviceError as exc:
            self._close_stream()
            self._set_state("stopped")
            self.error.emit(str(exc))
            return
        self._timer.start()
        self._set_state("playing")
        self.positionChanged.emit(self.position, self.duration)

    def _failed(self, generation: int, exc: BaseException) -> None:
        if self._requests.is_current(generation):
            self._set_state("stopped")
            self.error.emit(f"Cannot play this track: {getattr(exc, 'reason', exc)}")

    def _fill(self, out: np.ndarray) -> bool:
        """Audio-thread callback (no Qt here): copy the next block, False at the end."""
        with self._lock:
            n = out.shape[0]
            chunk = self._samples[self._pos:self._pos + n]
            out[: len(chunk)] = (chunk * self._volume)[:, None]
            out[len(chunk):] = 0.0
            self._pos += len(chunk)
            return self._pos < len(self._samples)

    def _tick(self) -> None:
        """GUI timer: report the position; stop once the whole track has been played.

        Audio callbacks never call Qt; the end of a track is noticed here.
        """
        with self._lock:
            at_end = self._pos >= len(self._samples)
        self.positionChanged.emit(self.position, self.duration)
        if at_end and self._state == "playing":
            self._close_stream()
            self._set_state("stopped")

    def _close_stream(self) -> None:
        self._timer.stop()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # a dying device must not take the app down
                pass

    def _set_state(self, state: str) -> None:
        self._state = state
        self.stateChanged.emit(state)


class Recorder(QObject):
    """Records ``seconds`` of mono audio from an input device."""

    level = Signal(float)  # peak of the last block, 0..1
    progress = Signal(float, float)  # recorded seconds, target seconds
    finished = Signal(object, int)  # samples (float32 mono), sample rate
    error = Signal(str)

    MIN_SECONDS = 1.0

    def __init__(self, backend: AudioBackend, *, samplerate: int = PLAY_SR, tick_ms: int = 50,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._sr = samplerate
        self._lock = threading.Lock()
        self._blocks: list[np.ndarray] = []
        self._frames = 0
        self._target = 0
        self._peak = 0.0
        self._stream: AudioStream | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)

    @property
    def recording(self) -> bool:
        """Whether a recording is in progress."""
        return self._stream is not None

    @property
    def seconds(self) -> float:
        """Seconds recorded so far."""
        with self._lock:
            return self._frames / self._sr

    def start(self, seconds: float, device: AudioDevice | None = None) -> bool:
        """Open the device and record; False (and ``error``) if it cannot."""
        self.cancel()
        with self._lock:
            self._blocks, self._frames, self._peak = [], 0, 0.0
            self._target = int(seconds * self._sr)
        try:
            self._stream = self._backend.open_input(samplerate=self._sr, channels=1,
                                                    callback=self._push, device=device)
            self._stream.start()
        except AudioDeviceError as exc:
            self._close()
            self.error.emit(str(exc))
            return False
        self._timer.start()
        return True

    def stop(self) -> None:
        """Finish early with what has been recorded."""
        if self.recording:
            self._complete()

    def cancel(self) -> None:
        """Stop and discard the recording."""
        self._close()

    def _push(self, block: np.ndarray) -> None:
        """Input callback (audio thread, no Qt here): keep blocks up to the target."""
        mono = block.mean(axis=1) if block.ndim == 2 else block
        with self._lock:
            if self._frames >= self._target:
                return
            take = mono[: self._target - self._frames].astype(np.float32)
            self._blocks.append(take)
            self._frames += len(take)
            self._peak = float(np.abs(take).max()) if len(take) else 0.0

    def _tick(self) -> None:
        """GUI timer: report level and progress; finish once the target is reached."""
        with self._lock:
            peak, frames = self._peak, self._frames
        self.level.emit(min(1.0, peak))
        self.progress.emit(frames / self._sr, self._target / self._sr)
        if self.recording and frames >= self._target:
            self._complete()

    def _complete(self) -> None:
        if not self.recording:
            return
        self._close()
        with self._lock:
            samples = (np.concatenate(self._blocks) if self._blocks
                       else np.zeros(0, np.float32))
        if len(samples) < self.MIN_SECONDS * self._sr:
            self.error.emit("The recording is too short: record at least "
                            f"{self.MIN_SECONDS:.0f} second.")
            return
        if not np.any(np.abs(samples) > 1e-4):
            self.error.emit("The recording is silent: check that the microphone is "
                            "connected, unmuted and allowed for this app.")
            return
        self.finished.emit(samples, self._sr)

    def _close(self) -> None:
        self._timer.stop()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # the device may already be gone
                pass
