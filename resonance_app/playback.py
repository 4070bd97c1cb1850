"""Preview playback and microphone recording on top of :mod:`resonance_app.audio_io`.

The player streams the decode (``preview_decode``) on the playback pool and starts as
soon as a fraction of a second is there; only one track plays at a time. The recorder
collects input blocks until the requested length is reached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from resonance_app.audio_io import AudioBackend, AudioDevice, AudioDeviceError, AudioStream
from resonance_app.preview_decode import PreviewStream, open_preview
from resonance_app.workers import LatestOnly, Pools, run_task, to_main

Streamer = Callable[[Path, int, float], PreviewStream]  # path, rate, offset
PLAY_SR = 44100
START_SECONDS = 0.15  # decoded audio needed before playback starts


class _Buffer:
    """Decoded samples of one request, filled by the decoder thread, read by the audio
    callback (always under the player's lock)."""

    def __init__(self, base: float, sr: int, capacity_seconds: float | None) -> None:
        self.base = base  # track time of sample 0, seconds
        self.samples = np.zeros(int(sr * min(capacity_seconds or 30.0, 4 * 3600)) + sr,
                                np.float32)
        self.filled = 0
        self.complete = False

    def append(self, chunk: np.ndarray) -> None:
        end = self.filled + len(chunk)
        if end > len(self.samples):
            grown = np.zeros(max(end, 2 * len(self.samples)), np.float32)
            grown[: self.filled] = self.samples[: self.filled]
            self.samples = grown
        self.samples[self.filled:end] = chunk
        self.filled = end


class Player(QObject):
    """Plays one track at a time: play/pause/stop/seek/volume, from any offset.

    Decoding streams on the playback pool into a buffer; playback starts once
    ``START_SECONDS`` are decoded. A seek inside the decoded part just moves; a seek
    elsewhere restarts the decode there.
    """

    stateChanged = Signal(str)  # "stopped" | "loading" | "playing" | "paused"
    positionChanged = Signal(float, float)  # seconds, duration
    trackChanged = Signal(str)  # label of the loaded track
    error = Signal(str)

    def __init__(self, backend: AudioBackend, pools: Pools, *, decoder: Streamer | None = None,
                 samplerate: int = PLAY_SR, tick_ms: int = 50,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._pools = pools
        self._open = decoder or open_preview
        self._sr = samplerate
        self._lock = threading.Lock()
        self._buffer = _Buffer(0.0, samplerate, 1.0)
        self._buffer.complete = True
        self._pos = 0  # samples into the buffer
        self._duration = 0.0
        self._path: Path | None = None
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
        """Playback position in seconds from the start of the track."""
        with self._lock:
            return self._buffer.base + self._pos / self._sr

    @property
    def decoded_until(self) -> float:
        """How far into the track the audio is decoded, in seconds."""
        with self._lock:
            return self._buffer.base + self._buffer.filled / self._sr

    @property
    def duration(self) -> float:
        """Length of the loaded track in seconds (what is known of it so far)."""
        with self._lock:
            decoded = self._buffer.base + self._buffer.filled / self._sr
        return max(self._duration, decoded)

    @property
    def volume(self) -> float:
        """Gain in [0, 1]."""
        return self._volume

    def set_volume(self, volume: float) -> None:
        """Set the gain, clamped to [0, 1]."""
        self._volume = float(min(1.0, max(0.0, volume)))

    def play(self, path: str | Path, *, offset: float = 0.0, label: str = "") -> None:
        """Play ``path`` from ``offset`` seconds; starts once a little is decoded."""
        self.stop()
        self._path = Path(path)
        self._duration = 0.0
        self._set_state("loading")
        self.trackChanged.emit(label or Path(path).name)
        self._decode_from(max(0.0, offset), resume="playing")

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
            self._buffer.base = 0.0
        if self._state != "stopped":
            self._set_state("stopped")
            self.positionChanged.emit(0.0, self._duration)

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` (clamped to the track)."""
        if self._duration:
            seconds = min(seconds, self._duration)
        seconds = max(0.0, seconds)
        with self._lock:
            buf = self._buffer
            inside = buf.base <= seconds <= buf.base + buf.filled / self._sr
            if inside:
                self._pos = int((seconds - buf.base) * self._sr)
        if not inside and self._path is not None and self._state in ("playing", "paused"):
            state = self._state
            self._close_stream()
            self._set_state("loading")
            self._decode_from(seconds, resume=state)
        self.positionChanged.emit(self.position, self.duration)

    # -- internals -------------------------------------------------------------------
    def _decode_from(self, offset: float, *, resume: str) -> None:
        """Start streaming the current file from ``offset`` into a fresh buffer."""
        generation = self._requests.next()
        path, sr = self._path, self._sr
        assert path is not None
        current = self._requests.is_current

        def decode() -> None:
            stream = self._open(path, sr, offset)
            buffer = _Buffer(offset, sr, stream.duration)
            started = False
            for chunk in stream.chunks:
                if not current(generation):
                    return
                with self._lock:  # the audio callback may be reading this buffer
                    buffer.append(chunk)
                if not started and buffer.filled >= START_SECONDS * sr:
                    started = True
                    to_main(self._begin, generation, buffer, stream.duration, resume)
            with self._lock:
                buffer.complete = True
            if not started:
                to_main(self._begin, generation, buffer, stream.duration, resume)

        run_task(decode, None, lambda exc: self._failed(generation, exc),
                 pool=self._pools.playback, name="decode-preview")

    def _begin(self, generation: int, buffer: _Buffer, duration: float | None,
               resume: str) -> None:
        if not self._requests.is_current(generation):
            return
        with self._lock:
            self._buffer, self._pos = buffer, 0
        if duration:
            self._duration = duration
        if buffer.complete and buffer.filled == 0 and buffer.base == 0.0:
            self._set_state("stopped")
            self.error.emit("Cannot play this track: no audio could be decoded")
            return
        try:
            self._stream = self._backend.open_output(
                samplerate=self._sr, channels=2, callback=self._fill, device=self.device)
            if resume == "playing":
                self._stream.start()
        except AudioDeviceError as exc:
            self._close_stream()
            self._set_state("stopped")
            self.error.emit(str(exc))
            return
        if resume == "playing":
            self._timer.start()
        self._set_state(resume)
        self.positionChanged.emit(self.position, self.duration)

    def _failed(self, generation: int, exc: BaseException) -> None:
        if self._requests.is_current(generation):
            self._close_stream()
            self._set_state("stopped")
            self.error.emit(f"Cannot play this track: {getattr(exc, 'reason', exc)}")

    def _fill(self, out: np.ndarray) -> bool:
        """Audio-thread callback (no Qt here): copy the next block, False at the end.

        While the decoder is behind, the missing part is silence (the track goes on).
        """
        with self._lock:
            buf = self._buffer
            n = out.shape[0]
            chunk = buf.samples[self._pos:min(self._pos + n, buf.filled)]
            out[: len(chunk)] = (chunk * self._volume)[:, None]
            out[len(chunk):] = 0.0
            self._pos += len(chunk)
            return not (buf.complete and self._pos >= buf.filled)

    def _tick(self) -> None:
        """GUI timer: report the position; stop once the whole track has been played.

        Audio callbacks never call Qt; the end of a track is noticed here.
        """
        with self._lock:
            at_end = self._buffer.complete and self._pos >= self._buffer.filled
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
