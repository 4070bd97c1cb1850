"""Render a :class:`~trainer.corpus.scores.Piece` to audio with FluidSynth, several ways.

Each rendition is fixed by a :class:`RenditionSpec` drawn deterministically from the corpus
seed and the piece id. Training and validation pieces never share a soundfont or a
General-MIDI instrument (:data:`SPLIT_SOUNDS`: training renders with FluidR3 and one half of
the programs, validation with MuseScore General and the other half). The spec holds the
program per part, transposition (a few semitones), tempo (+-15 %), an optional lower doubling and a
simple drum pattern for one-voice tunes, small timing/velocity jitter, a synthetic room
(exponentially decaying noise, applied with numpy) and a level. FluidSynth's own reverb and
chorus are off and samples are read as float, so output does not depend on what the same
synth rendered before (no dither state), which keeps the corpus reproducible.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
from scipy.signal import oaconvolve

from trainer.corpus.scores import Piece

if TYPE_CHECKING:
    from fluidsynth import Synth  # untyped: Any to mypy

RENDER_VERSION = 4
SAMPLE_RATE = 44100
#: The two soundfonts DATA.md allows (Debian fluid-soundfont-gm, musescore-general-soundfont-small).
SOUNDFONTS = {
    "fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "musescore": Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
}
#: Melodic General-MIDI programs (0-based) for lead parts, and for the doubling an octave
#: below, per split (disjoint: validation instruments are never heard in training).
TRAIN_PROGRAMS = (0, 4, 8, 12, 21, 24, 26, 41, 48, 56, 60, 65, 68, 71, 74, 79, 81, 105, 109)
VAL_PROGRAMS = (1, 6, 11, 19, 22, 25, 40, 42, 52, 57, 61, 66, 70, 73, 75, 80, 104, 108, 110)
TRAIN_LOW_PROGRAMS = (0, 32, 43, 58)
VAL_LOW_PROGRAMS = (33, 42, 70, 19)
#: split -> (soundfont, lead programs, low programs)
SPLIT_SOUNDS = {"train": ("fluidr3", TRAIN_PROGRAMS, TRAIN_LOW_PROGRAMS),
                "val": ("musescore", VAL_PROGRAMS, VAL_LOW_PROGRAMS)}
DRUM_CHANNEL = 9
DOUBLE_CHANNEL = 15
TAIL_SECONDS = 1.5
SYNTH_BLOCK = 64  # FluidSynth renders in blocks of this many frames
BLOCK = 1 << 16


@dataclass(frozen=True)
class RenditionSpec:
    """Everything that makes one rendition differ from the others of its piece."""

    piece_id: str
    index: int
    soundfont: str
    programs: tuple[int, ...]
    transpose: int
    tempo: float
    double_program: int | None
    drums: bool
    jitter_seed: int
    room_rt60: float
    room_wet: float
    level_db: float

    def key(self) -> str:
        """Short hash of the spec (and of the renderer version): the cache key."""
        text = json.dumps([RENDER_VERSION, asdict(self)], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]


def stable_int(*parts: object) -> int:
    """A 63-bit integer that depends only on ``parts`` (not on PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.sha1(repr(parts).encode()).digest()[:8], "big") >> 1


def make_specs(piece: Piece, count: int, seed: int, split: str = "train"
               ) -> list[RenditionSpec]:
    """``count`` different renditions of ``piece`` with the sounds of ``split``."""
    rng = np.random.default_rng(stable_int(seed, piece.piece_id))
    soundfont, lead_programs, low_programs = SPLIT_SOUNDS[split]
    leads = rng.permutation(lead_programs)
    shifts = rng.permutation(np.arange(-4, 5))
    specs = []
    for i in range(count):
        programs = [int(leads[i % len(leads)])]
        programs += [int(rng.choice(lead_programs)) for _ in range(piece.parts - 1)]
        one_voice = piece.parts == 1
        double = int(rng.choice(low_programs)) if one_voice and rng.random() < 0.4 else None
        specs.append(RenditionSpec(
            piece_id=piece.piece_id, index=i, soundfont=soundfont,
            programs=tuple(programs), transpose=int(shifts[i % len(shifts)]),
            tempo=round(float(rng.uniform(0.85, 1.15)), 4), double_program=double,
            drums=bool(one_voice and rng.random() < 0.35),
            jitter_seed=int(rng.integers(1 << 31)),
            room_rt60=round(float(rng.uniform(0.2, 1.6)), 3),
            room_wet=round(float(rng.uniform(0.0, 0.35)), 3),
            level_db=round(float(rng.uniform(-9.0, -1.0)), 2)))
    return specs


def note_events(piece: Piece, spec: RenditionSpec) -> list[tuple[float, int, int, int, int]]:
    """Sorted (seconds, on=1/off=0, channel, key, velocity) events of a rendition."""
    rng = np.random.default_rng(spec.jitter_seed)
    sec_per_ql = 60.0 / (piece.bpm * spec.tempo)
    shift = spec.transpose + _octave_fix(piece, spec.transpose)
    events: list[tuple[float, int, int, int, int]] = []
    for rep in range(piece.repeats):
        base = rep * piece.length_ql
        for onset, dur, pitch, vel, part in piece.notes:
            chan = _channel(part)
            layers = [(chan, pitch + shift, vel)]
            if spec.double_program is not None:
                layers.append((DOUBLE_CHANNEL, pitch + shift - 12, max(vel - 15, 20)))
            for ch, key, v in layers:
                if not 0 <= key <= 127:
                    continue
                start = (base + onset) * sec_per_ql + float(rng.normal(0.0, 0.006))
                vv = int(np.clip(v + rng.integers(-10, 11), 20, 127))
                start = max(start, 0.0)
                events.append((start, 1, ch, key, vv))
                events.append((start + max(dur * sec_per_ql * 0.95, 0.03), 0, ch, key, 0))
        if spec.drums:
            events.extend(_drum_events(piece, base, sec_per_ql))
    events.sort()
    return events


def _drum_events(piece: Piece, base_ql: float, sec_per_ql: float) -> list[tuple]:
    """Kick on each bar, closed hi-hat on each beat, over one pass."""
    events = []
    beat = 0.0
    while beat < piece.length_ql - 1e-6:
        t = (base_ql + beat) * sec_per_ql
        on_bar = abs(beat / piece.bar_ql - round(beat / piece.bar_ql)) < 1e-6
        key, vel = (36, 100) if on_bar else (42, 70)
        events.append((t, 1, DRUM_CHANNEL, key, vel))
        events.append((t + 0.1, 0, DRUM_CHANNEL, key, 0))
        beat += 1.0
    return events


def _channel(part: int) -> int:
    """MIDI channel of a part (channel 9 is drums; 15 is kept for the doubling)."""
    chans = [c for c in range(16) if c not in (DRUM_CHANNEL, DOUBLE_CHANNEL)]
    return chans[part % len(chans)]


def _octave_fix(piece: Piece, transpose: int) -> int:
    """Octaves to add so the transposed piece stays within the piano range."""
    pitches = [p for _, _, p, _, _ in piece.notes]
    lo, hi = min(pitches) + transpose, max(pitches) + transpose
    if lo < 24:
        return 12 * ((24 - lo + 11) // 12)
    if hi > 108:
        return -12 * ((hi - 108 + 11) // 12)
    return 0


class SynthPool:
    """One FluidSynth per soundfont, for the renditions of one piece.

    A synth keeps a little state from note to note even across resets (voice objects are
    reused), so bit-identical output needs the same sequence of renditions on a fresh
    synth: the builder makes a new pool per piece and renders its renditions in order.
    """

    def __init__(self, sr: int = SAMPLE_RATE) -> None:
        self.sr = sr
        self._synths: dict[str, tuple[Synth, int]] = {}
        self._written: dict[str, int] = {}

    def get(self, name: str) -> tuple[Synth, int]:
        """(synth, soundfont id) for ``name`` (loaded on first use)."""
        if name not in self._synths:
            import fluidsynth

            synth = fluidsynth.Synth(gain=0.25, samplerate=self.sr, **{
                "synth.reverb.active": 0, "synth.chorus.active": 0,
                "synth.polyphony": 512, "synth.cpu-cores": 1,
                "synth.dynamic-sample-loading": 1})
            sfid = synth.sfload(str(SOUNDFONTS[name]))
            if sfid < 0:
                raise RuntimeError(f"cannot load soundfont {SOUNDFONTS[name]}")
            self._synths[name] = (synth, sfid)
            self._written[name] = 0
        return self._synths[name]

    def close(self) -> None:
        """Free the synths."""
        for synth, _ in self._synths.values():
            synth.delete()
        self._synths.clear()

    def write(self, name: str, frames: int) -> np.ndarray:
        """``frames`` stereo float32 frames from the synth of ``name``."""
        self._written[name] += frames
        return _write_float(self._synths[name][0], frames)

    def silence(self, name: str) -> None:
        """Stop every voice and drop what is left of the current block.

        FluidSynth hands out audio from 64-frame blocks; frames left in a block would leak
        into the next rendition, so they are read and discarded, plus one more block.
        """
        synth = self._synths[name][0]
        for chan in range(16):
            synth.all_sounds_off(chan)
        self.write(name, (-self._written[name]) % SYNTH_BLOCK + SYNTH_BLOCK)


def _write_float(synth: Synth, frames: int) -> np.ndarray:
    """``frames`` stereo frames from FluidSynth as float32, shape (frames, 2)."""
    import fluidsynth

    out = np.zeros((frames, 2), dtype=np.float32)
    if frames:
        ptr = out.ctypes.data_as(ctypes.c_void_p)
        fluidsynth._fl.fluid_synth_write_float(  # no pyfluidsynth wrapper for floats
            ctypes.c_void_p(synth.synth), ctypes.c_int(frames), ptr, 0, 2, ptr, 1, 2)
    return out


def synthesize(piece: Piece, spec: RenditionSpec, pool: SynthPool) -> np.ndarray:
    """Render one rendition to a mono float32 signal at ``pool.sr`` (room and level applied)."""
    synth, sfid = pool.get(spec.soundfont)
    sr = pool.sr
    pool.silence(spec.soundfont)  # programs are set below; no CC or bend is ever sent
    for part, program in enumerate(spec.programs):
        synth.program_select(_channel(part), sfid, 0, program)
    if spec.double_program is not None:
        synth.program_select(DOUBLE_CHANNEL, sfid, 0, spec.double_program)
    synth.program_select(DRUM_CHANNEL, sfid, 128, 0)
    blocks: list[np.ndarray] = []
    pos = 0
    for t, on, chan, key, vel in note_events(piece, spec):
        frame = int(round(t * sr))
        if frame > pos:
            blocks.append(pool.write(spec.soundfont, frame - pos))
            pos = frame
        if on:
            synth.noteon(chan, key, vel)
        else:
            synth.noteoff(chan, key)
    blocks.append(pool.write(spec.soundfont, int(TAIL_SECONDS * sr)))
    pool.silence(spec.soundfont)
    y = np.concatenate(blocks).mean(axis=1)
    return finish(y, spec, sr)


def finish(y: np.ndarray, spec: RenditionSpec, sr: int) -> np.ndarray:
    """Apply the synthetic room and the level; peak-normalised float32."""
    if spec.room_wet > 0:
        rng = np.random.default_rng(spec.jitter_seed + 1)
        n = max(int(spec.room_rt60 * sr), 16)
        t = np.arange(n) / sr
        ir = rng.standard_normal(n) * np.exp(-6.91 * t / spec.room_rt60)
        ir /= np.sqrt(np.sum(ir ** 2))
        wet = oaconvolve(y, ir)[: y.size]
        y = (1 - spec.room_wet) * y + spec.room_wet * wet
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0:
        y = y * (10 ** (spec.level_db / 20) / peak)
    return np.asarray(y, dtype=np.float32)


def write_ogg(path: Path, y: np.ndarray, sr: int) -> None:
    """Write mono OGG/Vorbis in blocks (long single writes crash some libsndfile builds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with sf.SoundFile(str(tmp), "w", samplerate=sr, channels=1, format="OGG",
                      subtype="VORBIS") as f:
        for start in range(0, y.size, BLOCK):
            f.write(y[start:start + BLOCK])
    tmp.replace(path)


def soundfonts_present() -> bool:
    """True when both allowed soundfont files are installed."""
    return all(p.is_file() for p in SOUNDFONTS.values())
