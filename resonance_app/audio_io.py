"""Audio devices behind a small interface: PortAudio (sounddevice) for real, a fake for tests.

Streams are callback driven. An output callback fills ``out`` (shape ``(frames,
channels)``, float32) and returns False once it has nothing more to play; an input
callback receives each captured block. ``sounddevice`` is imported lazily: without
``libportaudio2`` the app still starts and says what is missing.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

import numpy as np

OutputCallback = Callable[[np.ndarray], bool]
InputCallback = Callable[[np.ndarray], None]

PORTAUDIO_HINT = ("Audio playback and recording need the PortAudio library. "
                  "On Debian/Ubuntu install it with: sudo apt install libportaudio2")


class AudioDeviceError(RuntimeError):
    """No usable audio device, or the device refused to open (a user-facing message)."""


@dataclass(frozen=True)
class AudioDevice:
    """One input or output device."""

    name: str
    index: int | None = None
    channels: int = 2
    default: bool = False


class AudioStream(Protocol):
    """A started/stopped stream of audio blocks."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


class AudioBackend(Protocol):
    """What the player and the recorder need from an audio system."""

    def output_devices(self) -> list[AudioDevice]: ...
    def input_devices(self) -> list[AudioDevice]: ...

    def open_output(self, *, samplerate: int, channels: int, callback: OutputCallback,
                    device: AudioDevice | None = None,
                    on_finished: Callable[[], None] | None = None) -> AudioStream: ...

    def open_input(self, *, samplerate: int, channels: int, callback: InputCallback,
                   device: AudioDevice | None = None) -> AudioStream: ...


def _import_sounddevice() -> ModuleType:
    try:  # imported by name: the package has no type hints, a module is what it is here
        return importlib.import_module("sounddevice")
    except OSError as exc:  # the module is there, the PortAudio library is not
        raise AudioDeviceError(PORTAUDIO_HINT) from exc
    except ImportError as exc:
        raise AudioDeviceError("The 'sounddevice' package is not installed "
                               "(pip install sounddevice).") from exc


class SoundDeviceBackend:
    """PortAudio through ``sounddevice``."""

    def __init__(self) -> None:
        self._sd: ModuleType | None = None

    @property
    def sd(self) -> ModuleType:
        """The ``sounddevice`` module, imported on first use."""
        if self._sd is None:
            self._sd = _import_sounddevice()
        return self._sd

    def _devices(self, kind: str) -> list[AudioDevice]:
        key = "max_input_channels" if kind == "input" else "max_output_channels"
        try:
            devices = self.sd.query_devices()
            default = self.sd.default.device[0 if kind == "input" else 1]
        except self.sd.PortAudioError as exc:
            raise AudioDeviceError(f"Cannot list audio devices: {exc}") from exc
        return [AudioDevice(d["name"], i, int(d[key]), i == default)
                for i, d in enumerate(devices) if int(d[key]) > 0]

    def output_devices(self) -> list[AudioDevice]:
        """Devices that can play."""
        return self._devices("output")

    def input_devices(self) -> list[AudioDevice]:
        """Devices that can record (microphones, line inputs)."""
        return self._devices("input")

    def open_output(self, *, samplerate: int, channels: int, callback: OutputCallback,
                    device: AudioDevice | None = None,
                    on_finished: Callable[[], None] | None = None) -> AudioStream:
        """A float32 output stream pulling blocks from ``callback``."""
        sd = self.sd

        def pull(outdata: np.ndarray, frames: int, _time: object, _status: object) -> None:
            if not callback(outdata):
                raise sd.CallbackStop

        if not self.output_devices():
            raise AudioDeviceError("No audio output device was found: check that a sound "
                                   "card or headphones are connected.")
        return self._open(sd.OutputStream, samplerate, channels, pull, device, on_finished,
                          "play audio")

    def open_input(self, *, samplerate: int, channels: int, callback: InputCallback,
                   device: AudioDevice | None = None) -> AudioStream:
        """A float32 input stream pushing blocks to ``callback``."""
        if not self.input_devices():
            raise AudioDeviceError("No microphone was found: connect one, or allow this app "
                                   "to use it in your system's privacy settings.")

        def push(indata: np.ndarray, frames: int, _time: object, _status: object) -> None:
            callback(indata.copy())

        return self._open(self.sd.InputStream, samplerate, channels, push, device, None,
                          "record audio")

    def _open(self, cls: Callable[..., AudioStream], samplerate: int, channels: int,
              cb: Callable[..., None],
              device: AudioDevice | None, on_finished: Callable[[], None] | None,
              what: str) -> AudioStream:
        channels = max(1, min(channels, device.channels)) if device else channels
        try:
            return cls(samplerate=samplerate, channels=channels, dtype="float32",
                       callback=cb, device=None if device is None else device.index,
                       finished_callback=on_finished)
        except (self.sd.PortAudioError, ValueError) as exc:
            raise AudioDeviceError(f"Cannot {what}: the audio device refused to open "
                                   f"({exc}). It may be in use, or access may be denied."
                                   ) from exc


class FakeStream:
    """A stream driven by hand: ``pull``/``feed`` move audio through the callback."""

    def __init__(self, channels: int, output: OutputCallback | None = None,
                 input_cb: InputCallback | None = None,
                 on_finished: Callable[[], None] | None = None) -> None:
        self.channels = channels
        self.active = False
        self.closed = False
        self.played: list[np.ndarray] = []
        self._output = output
        self._input = input_cb
        self._on_finished = on_finished

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active = False
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        """Ask the output callback for ``frames`` frames, as the sound card would."""
        assert self._output is not None and self.active
        out = np.zeros((frames, self.channels), np.float32)
        more = self._output(out)
        self.played.append(out)
        if not more:
            self.active = False
            if self._on_finished is not None:
                self._on_finished()
        return out

    def feed(self, block: np.ndarray) -> None:
        """Deliver a captured block to the input callback."""
        assert self._input is not None and self.active
        self._input(np.asarray(block, np.float32).reshape(len(block), -1))


class FakeAudioBackend:
    """An in-memory audio system; ``inputs=[]`` or ``outputs=[]`` simulate missing devices."""

    def __init__(self, *, inputs: list[AudioDevice] | None = None,
                 outputs: list[AudioDevice] | None = None) -> None:
        self.inputs = [AudioDevice("Fake microphone", 0, 1, True)] if inputs is None else inputs
        self.outputs = [AudioDevice("Fake speakers", 1, 2, True)] if outputs is None else outputs
        self.streams: list[FakeStream] = []
        self._lock = threading.Lock()

    def output_devices(self) -> list[AudioDevice]:
        return list(self.outputs)

    def input_devices(self) -> list[AudioDevice]:
        return list(self.inputs)

    def open_output(self, *, samplerate: int, channels: int, callback: OutputCallback,
                    device: AudioDevice | None = None,
                    on_finished: Callable[[], None] | None = None) -> FakeStream:
        if not self.outputs:
            raise AudioDeviceError("No audio output device was found.")
        return self._add(FakeStream(channels, output=callback, on_finished=on_finished))

    def open_input(self, *, samplerate: int, channels: int, callback: InputCallback,
                   device: AudioDevice | None = None) -> FakeStream:
        if not self.inputs:
            raise AudioDeviceError("No microphone was found.")
        return self._add(FakeStream(channels, input_cb=callback))

    def _add(self, stream: FakeStream) -> FakeStream:
        with self._lock:
            self.streams.append(stream)
        return stream

    @property
    def last(self) -> FakeStream:
        """The most recently opened stream."""
        return self.streams[-1]
