"""Feature front-end speed, per stage, in multiples of real time on ONE core.

Generates a 4-minute 'song' (chords over drums), encodes it in each format, and times
decoding, resampling and every feature stage with the seed configuration (44.1 kHz,
160 mel bands, 20 ms hop, 24 chroma bins, 320-frame tempo window). Median of
repeated runs. Writes its section of ``benchmarks/RESULTS.md``.

Run: ``python -m benchmarks.bench_features [--seconds 240] [--repeat 5]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.results import machine, median_time, update_section  # noqa: E402
from engine import dsp  # noqa: E402
from engine.audio import load_audio, resample  # noqa: E402
from engine.config import FeatureConfig  # noqa: E402
from engine.features import extract_features, segment_features  # noqa: E402
from engine.model import Embedder, default_model_dir  # noqa: E402
from tests.audio_factory import song, stereo, write_audio  # noqa: E402

FORMATS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus")


def stage_times(y: np.ndarray, cfg: FeatureConfig, repeat: int) -> dict[str, float]:
    """Median seconds of each feature stage on ``y`` (already at ``cfg.sr``)."""
    filters = dsp.stacked_filters(sr=cfg.sr, n_fft=cfg.mel.n_fft, n_mels=cfg.mel.n_mels,
                                  fmin=cfg.mel.fmin, fmax=cfg.fmax, n_chroma=cfg.chroma.bins)
    bands = dsp.filtered_power_frames(y, n_fft=cfg.mel.n_fft, hop_length=cfg.hop_length,
                                      filters=filters)
    mel, pitch = bands[: cfg.mel.n_mels], bands[cfg.mel.n_mels :]
    mel_db = dsp.power_to_db(mel)
    onset = dsp.onset_strength(mel_db, n_fft=cfg.mel.n_fft, hop_length=cfg.hop_length)
    no_hpss = dataclasses.replace(cfg, segment=dataclasses.replace(cfg.segment, hpss=False))
    with_hpss = dataclasses.replace(cfg, segment=dataclasses.replace(cfg.segment, hpss=True))
    feats = extract_features(y, config=no_hpss)
    stages = {
        "STFT + mel/pitch filterbanks": lambda: dsp.filtered_power_frames(
            y, n_fft=cfg.mel.n_fft, hop_length=cfg.hop_length, filters=filters),
        "log-mel (dB)": lambda: dsp.power_to_db(mel),
        "chroma (fold + normalise)": lambda: dsp.normalize_max(
            dsp.fold_octaves(pitch, cfg.chroma.bins)),
        "onset strength": lambda: dsp.onset_strength(mel_db, n_fft=cfg.mel.n_fft,
                                                     hop_length=cfg.hop_length),
        "tempogram (320 lags)": lambda: dsp.tempogram(onset, win_length=cfg.tempo.win),
        "HPSS masks (mel + pitch bands)": lambda: (dsp.hpss_masks(mel), dsp.hpss_masks(pitch)),
        "segmentation (all segments)": lambda: segment_features(feats, config=no_hpss),
        "all features, HPSS off": lambda: extract_features(y, config=no_hpss),
        "all features, HPSS on": lambda: extract_features(y, config=with_hpss),
    }
    times = {name: median_time(fn, repeat=repeat) for name, fn in stages.items()}
    times.update(librosa_hpss_reference(y, cfg))
    return times


def librosa_hpss_reference(y: np.ndarray, cfg: FeatureConfig) -> dict[str, float]:
    """What HPSS costs the classic way (median filters on the linear STFT), for scale."""
    try:
        import librosa
    except ImportError:
        return {}
    spec = np.abs(librosa.stft(y, n_fft=cfg.mel.n_fft, hop_length=cfg.hop_length))
    librosa.decompose.hpss(spec[:, :500])  # JIT / import warm-up
    return {"reference: librosa HPSS on the linear STFT (kernel 31)": median_time(
        lambda: librosa.decompose.hpss(spec), repeat=1, warmup=0)}


def decode_times(y: np.ndarray, sr: int, folder: Path, repeat: int) -> dict[str, float]:
    """Median seconds to decode the track from each format to mono at ``sr``."""
    out = {}
    for ext in FORMATS:
        path = write_audio(folder / f"track{ext}", stereo(y), sr=sr)
        out[f"decode {ext[1:].upper()} (stereo, to mono {sr} Hz)"] = median_time(
            lambda p=path: load_audio(p, sr=sr), repeat=repeat)
    y48 = resample(y, orig_sr=sr, target_sr=48000)
    out["resample 48 kHz -> 44.1 kHz (soxr HQ)"] = median_time(
        lambda: resample(y48, orig_sr=48000, target_sr=sr), repeat=repeat)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and update RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    cfg = FeatureConfig()
    y = song(7, args.seconds, sr=cfg.sr)
    with tempfile.TemporaryDirectory() as tmp:
        times = decode_times(y, cfg.sr, Path(tmp), args.repeat)
        mp3 = write_audio(Path(tmp) / "e2e.mp3", stereo(y), sr=cfg.sr)
        no_hpss = dataclasses.replace(cfg, segment=dataclasses.replace(cfg.segment, hpss=False))
        times["MP3 decode + all features, HPSS off"] = median_time(
            lambda: extract_features(load_audio(mp3, sr=cfg.sr), config=no_hpss),
            repeat=args.repeat)
        shipped = Embedder(default_model_dir()).config
        times["MP3 decode + all features, shipped model's config"] = median_time(
            lambda: extract_features(load_audio(mp3, sr=shipped.sr), config=shipped),
            repeat=args.repeat)
    times.update(stage_times(y, cfg, args.repeat))
    times["all features, shipped model's config"] = median_time(
        lambda: extract_features(y, config=shipped), repeat=args.repeat)
    rows = "\n".join(f"| {name} | {sec * 1000:.1f} | {args.seconds / sec:,.0f}x |"
                     for name, sec in times.items())
    body = (f"## Feature front-end (`python -m benchmarks.bench_features`)\n\n"
            f"{args.seconds:.0f} s of generated music, seed config (44.1 kHz, 160 mels, "
            f"20 ms hop, n_fft 4096, 24 chroma bins, tempo window 320). One core, median of "
            f"{args.repeat} runs. Machine: {machine()}. The shipped model's config: "
            f"n_fft {shipped.mel.n_fft}, HPSS {'on' if shipped.segment.hpss else 'off'}, "
            f"tempogram every {shipped.tempo.stride} frame(s).\n\n"
            "| stage | ms | x real time |\n|---|---:|---:|\n" + rows + "\n")
    update_section("features", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
