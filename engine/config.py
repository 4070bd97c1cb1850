"""The feature configuration: the one description of the model's preprocessing.

The same :class:`FeatureConfig` drives feature extraction in the engine (catalog,
queries) and in the trainer, and is written into every model card, so training and
inference cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ParameterError

#: Bumped whenever the meaning of a feature changes (not just a parameter value).
FEATURE_VERSION = 1


@dataclass(frozen=True)
class SegmentConfig:
    """How a track is cut into model inputs (seconds)."""

    seconds: float = 18.0
    hop_seconds: float = 4.0
    segments_per_song: int = 4
    hpss: bool = True
    #: a track (or recording) shorter than one segment is repeated to fill it ("tile")
    #: or followed by silence ("pad")
    short: str = "tile"


@dataclass(frozen=True)
class MelConfig:
    """Log-mel spectrogram parameters (the timbre branch's input)."""

    sr: int = 44100
    n_mels: int = 160
    hop_ms: float = 20.0
    n_fft: int = 4096
    fmin: float = 0.0
    fmax: float | None = None


@dataclass(frozen=True)
class ChromaConfig:
    """Chromagram parameters (the harmony branch's input)."""

    bins: int = 24


@dataclass(frozen=True)
class TempoConfig:
    """Autocorrelation tempogram parameters (the rhythm branch's input)."""

    win: int = 320
    #: compute the autocorrelation every ``stride`` frames and hold it in between: the
    #: rhythm vector is a mean over many seconds, so 1 in 4 frames gives the same
    #: vector for a quarter of the cost
    stride: int = 1


@dataclass(frozen=True)
class FeatureConfig:
    """Every parameter of the preprocessing, grouped as in ``base.yaml``.

    Derived sizes (:attr:`hop_length`, :attr:`segment_frames`, ...) are properties,
    so a config read back from a model card always reproduces the same tensors.
    """

    segment: SegmentConfig = field(default_factory=SegmentConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    chroma: ChromaConfig = field(default_factory=ChromaConfig)
    tempo: TempoConfig = field(default_factory=TempoConfig)
    version: int = FEATURE_VERSION

    def __post_init__(self) -> None:
        _validate(self)

    # -- derived sizes -------------------------------------------------------------
    @property
    def sr(self) -> int:
        """Model sample rate in Hz."""
        return self.mel.sr

    @property
    def hop_length(self) -> int:
        """STFT hop in samples."""
        return round(self.mel.sr * self.mel.hop_ms / 1000.0)

    @property
    def frame_rate(self) -> float:
        """Feature frames per second."""
        return self.mel.sr / self.hop_length

    @property
    def segment_frames(self) -> int:
        """Frames in one model segment (900 for 18 s at 20 ms)."""
        return round(self.segment.seconds * self.frame_rate)

    @property
    def segment_hop_frames(self) -> int:
        """Frames between consecutive segment starts (200 for 4 s at 20 ms)."""
        return max(1, round(self.segment.hop_seconds * self.frame_rate))

    @property
    def fmax(self) -> float:
        """Upper mel edge in Hz."""
        return float(self.mel.fmax) if self.mel.fmax is not None else self.mel.sr / 2.0

    # -- (de)serialisation ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, as stored in YAML files and model cards."""
        return {
            "version": self.version,
            "segment": dataclasses.asdict(self.segment),
            "mel": dataclasses.asdict(self.mel),
            "chroma": dataclasses.asdict(self.chroma),
            "tempo": dataclasses.asdict(self.tempo),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureConfig:
        """Build from :meth:`to_dict` output; missing keys take their defaults."""
        try:
            return cls(
                segment=_sub(SegmentConfig, data.get("segment")),
                mel=_sub(MelConfig, data.get("mel")),
                chroma=_sub(ChromaConfig, data.get("chroma")),
                tempo=_sub(TempoConfig, data.get("tempo")),
                version=int(data.get("version", FEATURE_VERSION)),
            )
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"invalid feature configuration: {exc}") from exc

    @classmethod
    def from_base_config(cls, config: Mapping[str, Any]) -> FeatureConfig:
        """Pick the feature keys out of a full ``base.yaml`` mapping.

        ``data.segment`` becomes :attr:`segment`; ``features.{mel,chroma,tempo}`` the rest.
        """
        data = config.get("data") or {}
        features = config.get("features") or {}
        return cls.from_dict({"segment": data.get("segment"), **features})

    def to_yaml(self, path: str | Path) -> None:
        """Write this config as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")

    @classmethod
    def from_yaml(cls, path: str | Path) -> FeatureConfig:
        """Read a config written by :meth:`to_yaml` or a full ``base.yaml``."""
        data = load_yaml(path)
        if "features" in data or "data" in data:
            return cls.from_base_config(data)
        return cls.from_dict(data)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, raising :class:`ParameterError` with the path on failure."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"cannot read config {str(path)!r}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"config {str(path)!r} must hold a mapping, not {type(data).__name__}")
    return data


def _sub(kind: type, values: Mapping[str, Any] | None) -> Any:
    if values is None:
        return kind()
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {kind.__name__} keys: {sorted(unknown)}")
    return kind(**dict(values))


def _validate(cfg: FeatureConfig) -> None:
    checks = [
        (cfg.mel.sr >= 4000, "mel.sr must be at least 4000 Hz"),
        (cfg.mel.n_mels >= 8, "mel.n_mels must be at least 8"),
        (cfg.mel.hop_ms > 0, "mel.hop_ms must be positive"),
        (cfg.mel.n_fft >= 256, "mel.n_fft must be at least 256"),
        (cfg.mel.n_fft >= cfg.hop_length, "mel.n_fft must not be shorter than the hop"),
        (0 <= cfg.mel.fmin < cfg.fmax <= cfg.mel.sr / 2, "need 0 <= fmin < fmax <= sr/2"),
        (cfg.chroma.bins >= 12 and cfg.chroma.bins % 12 == 0, "chroma.bins must be 12, 24, ..."),
        (cfg.tempo.win >= 8, "tempo.win must be at least 8 frames"),
        (cfg.tempo.stride >= 1, "tempo.stride must be at least 1"),
        (cfg.segment.seconds > 0, "segment.seconds must be positive"),
        (cfg.segment.hop_seconds > 0, "segment.hop_seconds must be positive"),
        (cfg.segment.segments_per_song >= 1, "segment.segments_per_song must be >= 1"),
        (cfg.segment.short in ("tile", "pad"), "segment.short must be 'tile' or 'pad'"),
    ]
    for ok, message in checks:
        if not ok:
            raise ParameterError(message)


def default_config_dir() -> Path:
    """Directory holding the shipped ``base.yaml`` and ``search_space.yaml``."""
    from engine.resources import resource_path

    return resource_path("config")
