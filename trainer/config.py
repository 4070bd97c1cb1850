"""Training configuration: ``base.yaml`` (SPEC section 4) as typed dataclasses.

:class:`TrainConfig` is what every trainer stage takes; :mod:`trainer.hpo` maps an
Optuna trial onto one with :meth:`TrainConfig.with_overrides`. Checkpoints store
:meth:`TrainConfig.to_dict` (plain JSON-compatible values only), so they load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import FeatureConfig, default_config_dir, load_yaml
from engine.errors import ParameterError
from trainer.model import FUSION_MODES, ModelConfig

#: Settings older recipes, checkpoints and model cards still carry: the value that
#: means what the trainer does now (None: any value, the setting was never read), and
#: why no other value is accepted.
_SOURCE_SHARE = ("the source share of the loss was measured and rejected "
                 "(benchmarks/RESULTS.md, \"Reading the quality table\", Tried)")
RETIRED: dict[str, tuple[object, str]] = {
    "use_unlabeled": (True, "positives are always other segments of the same song"),
    "num_workers": (None, ""),
    "source_weight": (0.0, _SOURCE_SHARE),
    "source_identities": (0, _SOURCE_SHARE),
    "songs_per_source": (None, ""),
}


def drop_retired(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without :data:`RETIRED` keys; one that asks for removed behaviour is refused."""
    values = dict(data)
    for key, (neutral, why) in RETIRED.items():
        value = values.pop(key, neutral)
        if neutral is not None and value != neutral:
            raise ParameterError(f"{key}: {value!r} is no longer supported ({why}); "
                                 f"remove the setting")
    return values


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    enabled: bool = True
    monitor: str = "recall@5"
    mode: str = "max"
    patience: int = 10
    min_delta: float = 0.0005
    restore_best: bool = True


@dataclass(frozen=True)
class AugmentConfig:
    """Feature-level augmentation strengths (see :mod:`trainer.augment`)."""

    enabled: bool = True
    gain_db: float = 12.0
    eq_db: float = 6.0
    lowpass_prob: float = 0.3
    noise_prob: float = 0.3
    noise_snr_db: tuple[float, float] = (10.0, 40.0)
    codec_prob: float = 0.3
    stretch: float = 0.0

    @property
    def window_scale(self) -> float:
        """How much longer than a segment the gathered window must be (time stretch)."""
        return 1.0 + self.stretch if self.enabled else 1.0


def check_distill(weight: float, targets: str | None, output: str, *, prefix: str = "") -> None:
    """Raise :class:`ParameterError` unless a distillation setting is usable: a weight
    >= 0, a teacher targets file when it is > 0, and a known teacher output."""
    if weight < 0 or (weight > 0 and not targets):
        raise ParameterError(f"{prefix}distill_weight must be >= 0, and needs "
                             f"{prefix}distill_targets (a teacher targets .npz)")
    if output not in ("embedding", "tags"):
        raise ParameterError(f"{prefix}distill_output must be 'embedding' or 'tags'")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs (``base.yaml`` keys plus trainer extras)."""

    # data
    root: str = "data/corpus"
    pairs_json: str | None = None
    scan_root: bool = True
    val_fraction: float = 0.15
    seed: int = 0
    max_seconds: float | None = None
    #: degraded copies per training track in the feature cache (trainer.degrade)
    variants: int = 0
    features: FeatureConfig = field(default_factory=FeatureConfig)
    # cache
    cache_backend: str = "sqlite"
    preload_ram: bool = True
    reuse_ram_across_trials: bool = False
    # model
    model: ModelConfig = field(default_factory=ModelConfig)
    # optimisation
    use_amp: bool = True
    optimizer: str = "adamw"
    lr: float = 1.6e-4
    weight_decay: float = 2.0e-2
    epochs: int = 140
    warmup_epochs: int = 10
    batch_identities: int = 96
    views_per_song: int = 4
    steps_per_epoch: int | None = None
    loss: str = "supcon"
    temperature: float = 0.05
    margin: float = 0.2
    aux_weight: float = 0.3
    #: share of the loss that tells songs apart, versions included (the rest pulls a
    #: piece's versions together): ranks a song above its other versions
    song_weight: float = 0.0
    #: chance that a song joins a batch together with another version of its piece
    pair_prob: float = 0.5
    #: chance that a song without versions joins a batch together with another such
    #: song of its source (package): same-package recordings as hard negatives
    source_prob: float = 0.0
    #: share of the loss in which a versionless song's positives are also the other
    #: recordings of its source (package) in the batch (``source_prob`` brings them in);
    #: ``1 - song_weight - package_weight`` is left for the piece labels
    package_weight: float = 0.0
    #: chance that a view is cut from a degraded copy of its song (needs ``variants``)
    variant_prob: float = 0.0
    #: chance that a view is a short excerpt repeated to fill the segment, as the
    #: engine tiles a short recording
    short_prob: float = 0.0
    short_seconds: float = 10.0
    #: stop after the epoch that passes this wall-clock budget (None: no budget)
    max_minutes: float | None = None
    grad_clip: float = 5.0
    #: weight of the relational distillation loss on the fused embedding (0: off), with
    #: the teacher targets of ``python -m trainer.teacher targets`` (docs/teacher.md)
    distill_weight: float = 0.0
    distill_targets: str | None = None
    #: which teacher output to mimic: ``embedding`` (200-d penultimate) or ``tags``
    distill_output: str = "embedding"
    #: start from the weights of this exported fp32 ``model.onnx`` (fine-tuning; its batch
    #: norms recalibrated on training segments, :mod:`trainer.finetune`) instead of
    #: random weights (None)
    init_onnx: str | None = None
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.model.fusion_mode not in FUSION_MODES:
            raise ParameterError(f"fusion.mode must be one of {FUSION_MODES}")
        if self.cache_backend not in ("sqlite", "ram"):
            raise ParameterError("cache.backend must be 'sqlite' or 'ram'")
        if self.loss not in ("supcon", "triplet"):
            raise ParameterError("train.loss must be 'supcon' or 'triplet'")
        if self.batch_identities < 2 or self.views_per_song < 2:
            raise ParameterError("need batch_identities >= 2 and views_per_song >= 2")
        for name in ("song_weight", "variant_prob", "short_prob", "pair_prob", "source_prob",
                     "package_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ParameterError(f"train.{name} must lie in [0, 1]")
        if self.song_weight + self.package_weight > 1.0:
            raise ParameterError("train.song_weight + train.package_weight must be <= 1")
        check_distill(self.distill_weight, self.distill_targets, self.distill_output,
                      prefix="train.")

    def with_overrides(self, **changes: Any) -> TrainConfig:
        """A copy with top-level fields replaced; ``fusion_mode`` sets the model's."""
        if "fusion_mode" in changes:
            mode = changes.pop("fusion_mode")
            changes["model"] = dataclasses.replace(changes.get("model", self.model),
                                                   fusion_mode=mode)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-compatible)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["features"] = self.features.to_dict()
        data["model"] = self.model.to_dict()
        data["early_stopping"] = dataclasses.asdict(self.early_stopping)
        aug = dataclasses.asdict(self.augment)
        aug["noise_snr_db"] = list(self.augment.noise_snr_db)
        data["augment"] = aug
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (retired settings of older runs: :data:`RETIRED`)."""
        values = drop_retired(data)
        values["features"] = FeatureConfig.from_dict(values.get("features") or {})
        values["model"] = ModelConfig.from_dict(values.get("model") or {})
        values["early_stopping"] = EarlyStopping(**(values.get("early_stopping") or {}))
        aug = dict(values.get("augment") or {})
        if "noise_snr_db" in aug:
            aug["noise_snr_db"] = tuple(aug["noise_snr_db"])
        values["augment"] = AugmentConfig(**aug)
        try:
            return cls(**values)
        except TypeError as exc:
            raise ParameterError(f"invalid training configuration: {exc}") from exc

    @classmethod
    def from_base(cls, base: Mapping[str, Any]) -> TrainConfig:
        """Build from a ``base.yaml`` mapping (seed layout)."""
        data = dict(base.get("data") or {})
        cache = dict(base.get("cache") or {})
        fusion = dict(base.get("fusion") or {})
        train = dict(base.get("train") or {})
        model = dict(base.get("model") or {})
        model.setdefault("embed_dim", int(fusion.get("embed_dim", 512)))
        model.setdefault("fusion_mode", str(fusion.get("mode", "gated_add")))
        values: dict[str, Any] = {
            "features": FeatureConfig.from_base_config(base).to_dict(),
            "model": model,
            "cache_backend": cache.get("backend", "sqlite"),
        }
        for key in ("root", "pairs_json", "scan_root", "use_unlabeled", "val_fraction",
                    "seed", "max_seconds", "variants"):
            if key in data:
                values[key] = data[key]  # use_unlabeled: a seed key, checked by from_dict
        for key in ("preload_ram", "reuse_ram_across_trials"):
            if key in cache:
                values[key] = cache[key]
        names = {f.name for f in dataclasses.fields(cls)} | set(RETIRED)
        for key, value in train.items():
            if key not in names:
                raise ParameterError(f"unknown train key {key!r} in config")
            values[key] = value
        return cls.from_dict(values)


def load_config(path: str | Path | None = None) -> TrainConfig:
    """Read a ``base.yaml`` (default: the shipped one)."""
    return TrainConfig.from_base(load_yaml(path or default_config_dir() / "base.yaml"))
