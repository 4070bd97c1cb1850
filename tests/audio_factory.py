"""Seeded generators of test audio with known physics, and writers for every format.

Signals are float32 mono unless stated; ``write_audio`` writes any container the app
claims to read (soundfile for WAV/FLAC/OGG/AIFF/MP3, PyAV for M4A/Opus/WMA).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

#: Pitch-class index of each note name (C = 0).
PITCH_CLASS = {"C": 0, "C#": 1, "D": 2, "D#": 3, "E": 4, "F": 5, "F#": 6, "G": 7,
               "G#": 8, "A": 9, "A#": 10, "B": 11}


def midi_to_hz(note: float) -> float:
    """Frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def tone(freq: float, seconds: float, *, sr: int = 44100, amp: float = 0.5,
         harmonics: int = 1) -> np.ndarray:
    """A steady tone with ``harmonics`` decaying partials."""
    t = np.arange(int(round(seconds * sr))) / sr
    y = sum((amp / k) * np.sin(2 * np.pi * freq * k * t) for k in range(1, harmonics + 1))
    return np.asarray(y, dtype=np.float32)


def chord(notes: list[int], seconds: float, *, sr: int = 44100, amp: float = 0.5) -> np.ndarray:
    """Several MIDI notes sounding together, with three partials each."""
    parts = [tone(midi_to_hz(n), seconds, sr=sr, amp=amp / len(notes), harmonics=3)
             for n in notes]
    return np.sum(parts, axis=0).astype(np.float32)


def click_track(bpm: float, seconds: float, *, sr: int = 44100, amp: float = 0.9,
                click_ms: float = 10.0, seed: int = 0) -> np.ndarray:
    """Short noise bursts at ``bpm`` beats per minute."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(round(seconds * sr)), dtype=np.float32)
    n_click = max(1, int(sr * click_ms / 1000))
    burst = (rng.standard_normal(n_click) * np.exp(-np.linspace(0, 6, n_click))).astype(np.float32)
    burst *= amp / np.abs(burst).max()
    period = 60.0 / bpm
    for start in np.arange(0.0, seconds, period):
        i = int(round(start * sr))
        seg = burst[: max(0, min(n_click, y.size - i))]
        y[i : i + seg.size] += seg
    return y


def noise(seconds: float, *, sr: int = 44100, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    """White Gaussian noise."""
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal(int(round(seconds * sr)))).astype(np.float32)


def silence(seconds: float, *, sr: int = 44100) -> np.ndarray:
    """Digital silence."""
    return np.zeros(int(round(seconds * sr)), dtype=np.float32)


def song(seed: int, seconds: float = 30.0, *, sr: int = 44100,
         notes_seed: int | None = None) -> np.ndarray:
    """A little 'song': a chord progression over a drum pattern, distinct per seed.

    Different seeds give different keys, tempi and timbres, so songs are
    distinguishable by ear and by the model's features. ``notes_seed`` (when given)
    moves every chord by a few semitones and draws other notes, on the same key,
    tempo, timbre and drums: a distinct song that sounds much alike.
    """
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(70, 150))
    root = int(rng.integers(48, 60))
    progression = [root + int(i) for i in rng.choice([0, 2, 4, 5, 7, 9], size=4)]
    harmonics = int(rng.integers(1, 6))
    if notes_seed is not None:
        rng = np.random.default_rng([seed, notes_seed])
        progression = [p + int(rng.choice([-2, -1, 1, 2, 3])) for p in progression]
    bar = 4 * 60.0 / bpm
    parts = []
    total = 0.0
    i = 0
    while total < seconds:
        base = progression[i % 4]
        notes = [base, base + 4 + int(rng.integers(0, 2)) - 1, base + 7]
        parts.append(sum(tone(midi_to_hz(n), bar, sr=sr, amp=0.2, harmonics=harmonics)
                         for n in notes))
        total += bar
        i += 1
    music = np.concatenate(parts)[: int(seconds * sr)]
    drums = click_track(bpm, seconds, sr=sr, amp=0.5, seed=seed)[: music.size]
    return (0.7 * music + drums).astype(np.float32)


def stereo(y: np.ndarray) -> np.ndarray:
    """Duplicate a mono signal into two slightly different channels ``(n, 2)``."""
    return np.stack([y, 0.9 * y], axis=1).astype(np.float32)


# -- writers -----------------------------------------------------------------------

_SF_FORMATS = {
    ".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
    ".aiff": ("AIFF", "PCM_16"), ".aif": ("AIFF", "PCM_16"), ".mp3": ("MP3", "MPEG_LAYER_III"),
}
_AV_CODECS = {".m4a": ("ipod", "aac"), ".opus": ("ogg", "libopus"), ".wma": ("asf", "wmav2"),
              ".mka": ("matroska", "flac")}


def write_audio(path: Path, y: np.ndarray, *, sr: int = 44100) -> Path:
    """Write ``y`` (``(n,)`` or ``(n, channels)``) to ``path``, choosing the codec by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _SF_FORMATS:
        fmt, subtype = _SF_FORMATS[suffix]
        with sf.SoundFile(str(path), "w", samplerate=sr, channels=1 if y.ndim == 1 else y.shape[1],
                          format=fmt, subtype=subtype) as f:
            for start in range(0, y.shape[0], sr):  # long OGG writes crash in one call
                f.write(y[start : start + sr])
        return path
    if suffix in _AV_CODECS:
        return _write_av(path, y, sr, *_AV_CODECS[suffix])
    raise ValueError(f"no writer for {suffix}")


def write_lossy(path: Path, y: np.ndarray, *, sr: int = 44100, bit_rate: int = 64_000) -> Path:
    """Encode ``y`` to ``path`` (.mp3 or .m4a) at about ``bit_rate`` bits per second."""
    fmt, codec = {".mp3": ("mp3", "libmp3lame"), ".m4a": ("ipod", "aac")}[
        Path(path).suffix.lower()]
    return _write_av(Path(path), y, sr, fmt, codec, bit_rate=bit_rate)


def _write_av(path: Path, y: np.ndarray, sr: int, container_fmt: str, codec: str, *,
              bit_rate: int | None = None) -> Path:
    import av

    data = y if y.ndim == 2 else y[:, None]
    channels = data.shape[1]
    rate = 48000 if codec == "libopus" else sr
    if rate != sr:
        import soxr

        data = soxr.resample(data, sr, rate)
    with av.open(str(path), "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono" if channels == 1 else "stereo"
        if codec == "wmav2":  # needs its sample format and bit rate spelled out
            stream.format = "fltp"
            stream.bit_rate = 128_000
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        pts = 0
        block = 1024
        for start in range(0, data.shape[0], block):
            chunk = np.ascontiguousarray(data[start : start + block].T, dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp",
                                               layout=stream.layout.name)
            frame.sample_rate = rate
            frame.pts = pts
            pts += chunk.shape[1]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


# -- broken files ------------------------------------------------------------------

def write_bad_files(folder: Path, *, good: Path | None = None) -> dict[str, Path]:
    """A corpus of unreadable 'audio' files, keyed by kind.

    Kinds: ``empty`` (zero bytes), ``random`` (random bytes named .mp3), ``text``
    (a text file named .flac), ``truncated`` (the first 200 bytes of a real WAV
    header and data, named .wav) and ``header_only`` (a FLAC cut after its header).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    files = {
        "empty": folder / "empty.wav",
        "random": folder / "random.mp3",
        "text": folder / "notes.flac",
        "truncated": folder / "truncated.wav",
        "header_only": folder / "header_only.flac",
    }
    files["empty"].write_bytes(b"")
    files["random"].write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    files["text"].write_text("these are not the sounds you are looking for\n" * 50)
    source = good or write_audio(folder / "_source.wav", tone(440, 2.0))
    files["truncated"].write_bytes(source.read_bytes()[:30])
    flac = write_audio(folder / "_source.flac", tone(440, 2.0))
    files["header_only"].write_bytes(flac.read_bytes()[:60])
    return files
