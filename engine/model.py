"""The model contract: a model card plus an ONNX file, run with onnxruntime.

A model is a folder holding ``card.json`` and the ONNX file the card names. The card
is the single source of truth for preprocessing (:class:`~engine.config.FeatureConfig`),
the tensor names and shapes, and what the model was trained on and scored.

Inputs (batch axis dynamic): ``mel`` ``(B, n_mels, frames)``, ``chroma``
``(B, bins, frames)``, ``tempo`` ``(B, win)``. Outputs: ``embedding`` ``(B, dim)``,
the fused L2-normalised vector, and one L2-normalised vector per branch
(``timbre``, ``harmony``, ``rhythm``) for query-time modality weighting. A card of
format 3 may name a separate timbre graph (:mod:`engine.timbre`) that gives the
``timbre`` vectors instead; one of format 4 keeps the main graph's beside them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import FeatureConfig
from engine.errors import ModelError
from engine.features import Segments
from engine.filecheck import file_digest
from engine.index import normalise
from engine.store import BRANCH_NAMES as BRANCH_NAMES

CARD_FILE = "card.json"
CARD_FORMAT = "resonance-model-card"
CARD_FORMAT_VERSION = 4
INPUT_NAMES = ("mel", "chroma", "tempo")
OUTPUT_NAMES = ("embedding", *BRANCH_NAMES)
LAYOUTS = ("windows", "trunk")
#: the largest timbre ``gain`` a card may give (:attr:`ModelCard.weight_gains`)
MAX_GAIN = 100.0


@dataclass(frozen=True)
class ModelCard:
    """What a model needs as input, gives as output, and how it was made."""

    name: str
    model_file: str
    sha256: str
    features: FeatureConfig
    embed_dim: int
    branch_dims: dict[str, int]
    fusion_mode: str = "gated_add"
    precision: str = "fp32"
    created: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: ``windows``: one graph per segment; ``trunk``: trunk graph (``model_file``) + head
    layout: str = "windows"
    #: trunk layout: the head graph, ``{"file": ..., "sha256": ...}``
    head: dict[str, str] = field(default_factory=dict)
    #: trunk layout: per branch ``{"stride": frames per map column, "columns": per segment}``
    pool: dict[str, Any] = field(default_factory=dict)
    #: the timbre graph, ``{"file", "sha256", "stem": [freq, time], "training": {...}}``
    #: and optionally ``"gain"`` (:attr:`weight_gains`), ``"mix"`` (:attr:`timbre_mix`) and,
    #: with a mix, ``"main_dim"`` and ``"mix_without_versions"`` (:class:`engine.timbre.TimbreMix`)
    #: (:mod:`engine.timbre`); empty: the main graph's ``timbre`` output is used
    timbre: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Identity of the vector space: the ONNX files' sha256 and the card's feature
        configuration, dimensions and pooling (a card edit with the same ONNX file changes
        what the vectors mean, so it changes the fingerprint too)."""
        identity: dict[str, Any] = {
            "sha256": self.sha256, "features": self.features.to_dict(),
            "embed_dim": self.embed_dim, "branch_dims": self.branch_dims}
        if self.layout == "trunk":
            identity.update(head=self.head["sha256"], pool=self.pool)
        if self.timbre:
            identity.update(timbre=self.timbre["sha256"], timbre_stem=self.timbre_stem)
            if self.timbre_mix:
                identity.update(timbre_mix=self.timbre_mix)
        text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def timbre_stem(self) -> tuple[int, int] | None:
        """The timbre graph's pooling ``(freq, time)``, ``None`` without a timbre graph."""
        if not self.timbre:
            return None
        freq, time = self.timbre["stem"]
        return int(freq), int(time)

    @property
    def timbre_mix(self) -> float:
        """The share of the main graph's timbre vector in the ``timbre`` column (0: the
        timbre graph's alone). A segment's column is then both unit vectors side by side,
        weighted ``sqrt(mix)`` and ``sqrt(1 - mix)``, so that its similarity is ``mix``
        times the main graph's plus ``1 - mix`` times the timbre graph's."""
        return float(self.timbre.get("mix", 0.0)) if self.timbre else 0.0

    @property
    def weight_gains(self) -> tuple[float, float, float]:
        """How much a search listens to each branch (timbre, harmony, rhythm) at neutral
        weights: the timbre graph's ``gain`` (chosen with its training), else 1. The
        user's weights multiply these; the vectors, so the fingerprint, do not change."""
        return (float(self.timbre.get("gain", 1.0)) if self.timbre else 1.0, 1.0, 1.0)

    @property
    def segment_shape(self) -> dict[str, tuple[int, ...]]:
        """Shape of one segment's inputs (without the batch axis)."""
        f = self.features
        return {"mel": (f.mel.n_mels, f.segment_frames),
                "chroma": (f.chroma.bins, f.segment_frames), "tempo": (f.tempo.win,)}

    @property
    def input_shapes(self) -> dict[str, list[int | None]]:
        """Input tensor shapes of the (trunk) graph, ``None`` for dynamic axes."""
        f = self.features
        if self.layout == "trunk":
            return {"mel": [1, f.mel.n_mels, None], "chroma": [1, f.chroma.bins, None]}
        return {"mel": [None, f.mel.n_mels, f.segment_frames],
                "chroma": [None, f.chroma.bins, f.segment_frames],
                "tempo": [None, f.tempo.win]}

    @property
    def output_shapes(self) -> dict[str, list[int | None]]:
        """Output tensor shapes, ``None`` for the dynamic batch axis."""
        shapes: dict[str, list[int | None]] = {"embedding": [None, self.embed_dim]}
        shapes.update({b: [None, self.branch_dims[b]] for b in BRANCH_NAMES})
        return shapes

    def to_dict(self) -> dict[str, Any]:
        """The JSON document written as ``card.json`` (format 1 for the windows layout, so
        that older releases still read it)."""
        version = (4 if self.timbre_mix else 3 if self.timbre
                   else 2 if self.layout == "trunk" else 1)
        data: dict[str, Any] = {
            "format": CARD_FORMAT, "format_version": version,
            "name": self.name, "model_file": self.model_file, "sha256": self.sha256,
            "created": self.created, "precision": self.precision,
            "features": self.features.to_dict(),
            "inputs": self.input_shapes, "outputs": self.output_shapes,
            "embed_dim": self.embed_dim, "branch_dims": dict(self.branch_dims),
            "fusion": {"mode": self.fusion_mode},
            "training": self.training, "metrics": self.metrics,
        }
        if self.layout == "trunk":
            data.update(layout=self.layout, head=dict(self.head), pool=dict(self.pool))
        if self.timbre:
            data["timbre"] = dict(self.timbre)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Parse a ``card.json`` document, raising :class:`ModelError` if malformed."""
        if data.get("format") != CARD_FORMAT:
            raise ModelError("not a Resonance model card (missing 'format')")
        if int(data.get("format_version", 0)) > CARD_FORMAT_VERSION:
            raise ModelError("model card is newer than this Resonance; please update")
        try:
            card = cls(
                name=str(data["name"]), model_file=str(data["model_file"]),
                sha256=str(data["sha256"]),
                features=FeatureConfig.from_dict(data["features"]),
                embed_dim=int(data["embed_dim"]),
                branch_dims={b: int(data["branch_dims"][b]) for b in BRANCH_NAMES},
                fusion_mode=str(data.get("fusion", {}).get("mode", "gated_add")),
                precision=str(data.get("precision", "fp32")),
                created=str(data.get("created", "")),
                training=dict(data.get("training", {})), metrics=dict(data.get("metrics", {})),
                layout=str(data.get("layout", "windows")),
                head={k: str(v) for k, v in dict(data.get("head", {})).items()},
                pool=dict(data.get("pool", {})),
                timbre=dict(data.get("timbre", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model card is incomplete: {exc}") from exc
        if card.layout not in LAYOUTS:
            raise ModelError(f"model card has an unknown layout {card.layout!r}")
        if card.layout == "trunk" and not (
                {"file", "sha256"} <= card.head.keys()
                and all(isinstance(card.pool.get(b), dict) for b in ("timbre", "harmony"))):
            raise ModelError("model card of a trunk model lacks its 'head' or 'pool' entry")
        if card.timbre:
            try:
                stem = card.timbre_stem
                valid = bool(stem and min(stem) >= 1 and card.timbre["file"]
                             and card.timbre["sha256"])
                valid = valid and 0 < card.weight_gains[0] <= MAX_GAIN
                valid = valid and 0 <= card.timbre_mix < 1
            except (KeyError, TypeError, ValueError):
                valid = False
            if not valid:
                raise ModelError("model card's 'timbre' entry needs 'file', 'sha256', a "
                                 "'stem' of two positive integers and, if any, a 'gain' "
                                 f"above 0 and at most {MAX_GAIN:g} and a 'mix' from 0 to "
                                 "below 1")
            if "mix_without_versions" in card.timbre:
                _check_share(card)
        return card


def load_card(model_dir: str | os.PathLike[str]) -> ModelCard:
    """Read ``card.json`` from a model folder (or the card file itself)."""
    path = Path(model_dir)
    card_path = path if path.is_file() else path / CARD_FILE
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"no model card at {card_path}") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read model card {card_path}: {exc}") from exc
    return ModelCard.from_dict(data)


def write_card(card: ModelCard, model_dir: str | os.PathLike[str]) -> Path:
    """Write ``card.json`` into ``model_dir``."""
    target = Path(model_dir) / CARD_FILE
    target.write_text(json.dumps(card.to_dict(), indent=2, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    return target


def default_model_dir() -> Path:
    """Folder of the model that ships with Resonance."""
    from engine.resources import resource_path

    return resource_path("models", "default")


def shipped_model_dirs() -> list[Path]:
    """Folders of every model shipped with Resonance: the default first, then the
    alternatives (``resources/models/*`` with a card), by name."""
    default = default_model_dir()
    others = sorted(p for p in default.parent.iterdir()
                    if p != default and (p / CARD_FILE).is_file())
    return [default, *others]


@dataclass(frozen=True)
class Embeddings:
    """Embeddings of a batch of segments.

    Attributes
    ----------
    fused : np.ndarray [shape=(n, embed_dim), dtype=float32], L2-normalised
    branches : dict of np.ndarray [shape=(n, branch_dim)], L2-normalised, per modality
    """

    fused: np.ndarray
    branches: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.fused.shape[0])


class Embedder:
    """Runs a model folder's ONNX graph(s) on feature segments with onnxruntime.

    Parameters
    ----------
    model_dir : folder with ``card.json`` and the ONNX file(s)
    threads : onnxruntime intra-op threads (1 for scan workers, 0 = onnxruntime's choice)
    verify : check the ONNX files' sha256 against the card
    """

    def __init__(self, model_dir: str | os.PathLike[str], *, threads: int = 1,
                 verify: bool = True) -> None:
        self.model_dir = Path(model_dir)
        self.card = load_card(self.model_dir)
        self.model_path = self.model_dir / self.card.model_file
        files = [(self.model_path, self.card.sha256)]
        if self.card.layout == "trunk":
            files.append((self.model_dir / self.card.head["file"], self.card.head["sha256"]))
        if self.card.timbre:
            files.append((self.model_dir / self.card.timbre["file"],
                          self.card.timbre["sha256"]))
        for path, sha in files:
            if not path.is_file():
                raise ModelError(f"model file missing: {path}")
            if verify and file_digest(path) != sha:
                raise ModelError(f"model file {path} does not match its card's sha256 "
                                 "(corrupt or replaced); reinstall or re-export the model")
        self._threads = threads
        self._session: Any = None
        self._head: Any = None
        self._timbre: Any = None

    @property
    def fingerprint(self) -> str:
        """Identity of the vector space (:attr:`ModelCard.fingerprint`)."""
        return self.card.fingerprint

    def check(self) -> None:
        """Load the ONNX graph(s) and check them against the card, before anything is
        written with them: input names and shapes for the card's feature configuration,
        output names and dimensions, and one run on a segment of zeros.

        Raises :class:`ModelError` with one line saying what disagrees.
        """
        session = self._get_session()
        declared = {i.name: i.shape for i in session.get_inputs()}
        for name, shape in self.card.input_shapes.items():
            if name not in declared:
                raise ModelError(f"model {self.model_path} has no input {name!r} (its card "
                                 f"expects {', '.join(self.card.input_shapes)})")
            _check_dims(f"input {name!r}", declared[name], shape, self.model_path)
        if self.card.timbre:
            from engine.timbre import TIMBRE_INPUT

            if TIMBRE_INPUT not in {i.name for i in self._timbre.get_inputs()}:
                raise ModelError(f"timbre graph {self.card.timbre['file']} has no input "
                                 f"{TIMBRE_INPUT!r}")
        zeros = Segments(**{k: np.zeros((1, *v), np.float32)
                            for k, v in self.card.segment_shape.items()},
                         starts=np.zeros(1, np.float32))
        try:
            emb = self.embed(zeros)
        except ModelError:
            raise
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"model {self.model_path} does not run on the inputs its card "
                             f"describes: {str(exc).splitlines()[0]}") from None
        values = [emb.fused, *(emb.branches[b] for b in BRANCH_NAMES)]
        for name, value in zip(OUTPUT_NAMES, values, strict=True):
            _check_dims(f"output {name!r}", list(np.shape(value)),
                        self.card.output_shapes[name], self.model_path)

    @property
    def config(self) -> FeatureConfig:
        """The feature configuration the model expects."""
        return self.card.features

    def _get_session(self) -> Any:
        if self._session is None:
            self._session = self._load(self.model_path)
            if self.card.layout == "trunk":  # a few small products: threads only cost
                self._head = self._load(self.model_dir / self.card.head["file"], threads=1)
            if self.card.timbre:  # a few segments per track: one thread
                self._timbre = self._load(self.model_dir / self.card.timbre["file"], threads=1)
        return self._session

    def _load(self, path: Path, *, threads: int | None = None) -> Any:
        import onnxruntime as ort  # lazy: keeps start-up fast

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads if threads is None else threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(path), sess_options=options,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"onnxruntime cannot load {path}: {first_line}") from exc

    def timbre_vectors(self, pooled: np.ndarray, *, main: np.ndarray | None = None,
                       batch_size: int = 16) -> np.ndarray:
        """The ``timbre`` column of pooled segments (:func:`engine.timbre.pooled_mel`):
        the timbre graph's L2-normalised rows, with ``main`` (the same segments' main
        graph timbre vectors) mixed in when the card says so (:attr:`ModelCard.timbre_mix`);
        ``(n, branch_dims["timbre"])``."""
        from engine.timbre import TIMBRE_INPUT, TIMBRE_OUTPUT

        mix = self.card.timbre_mix
        if mix and (main is None or len(main) != len(pooled)):
            raise ModelError("the model mixes the main graph's timbre into the timbre "
                             "graph's; give the same segments' main timbre vectors")
        self._get_session()
        rows = [np.asarray(self._timbre.run([TIMBRE_OUTPUT], {
                    TIMBRE_INPUT: np.asarray(pooled[a: a + batch_size], np.float32)})[0],
                           np.float32)
                for a in range(0, len(pooled), batch_size)]
        if main is None or not mix:
            dim = self.card.branch_dims["timbre"]
            return normalise(np.concatenate(rows) if rows else np.zeros((0, dim), np.float32))
        dim = self.card.branch_dims["timbre"] - main.shape[1]
        graph = normalise(np.concatenate(rows) if rows else np.zeros((0, dim), np.float32))
        mixed: np.ndarray = np.concatenate(
            [np.sqrt(mix) * normalise(main), np.sqrt(1.0 - mix) * graph], axis=1)
        return mixed.astype(np.float32)

    def embed(self, segments: Segments, *, batch_size: int = 16,
              timbre: bool = True) -> Embeddings:
        """Embed every segment; returns fused and per-branch L2-normalised vectors.

        ``timbre=False`` with a timbre graph leaves the timbre graph's part out (a scan runs
        that graph only on the segments it keeps, :func:`Embedder.timbre_vectors`): the
        ``timbre`` branch is then missing, or the main graph's alone when the card mixes
        it in."""
        expected = self.card.segment_shape["mel"]
        if tuple(segments.mel.shape[1:]) != expected:
            raise ModelError(f"segments of shape {segments.mel.shape[1:]} do not fit the "
                             f"model's input {list(expected)}")
        session = self._get_session()
        if self.card.layout == "trunk":
            from engine.trunk import trunk_outputs

            values = trunk_outputs(session, self._head, segments, self.card)
        else:
            values = _window_outputs(session, segments, batch_size)
        stacked = {k: normalise(values.get(k, np.zeros((0, 1), np.float32)))
                   for k in OUTPUT_NAMES}
        if self.card.timbre:
            from engine.timbre import pooled_segments

            main = stacked.pop("timbre")
            if timbre:
                stacked["timbre"] = self.timbre_vectors(pooled_segments(
                    segments, self.card.features, self.card.timbre_stem or (1, 1)),
                    main=main)
            elif self.card.timbre_mix:
                stacked["timbre"] = main
        return Embeddings(fused=stacked["embedding"],
                          branches={b: stacked[b] for b in BRANCH_NAMES if b in stacked})


def _check_share(card: ModelCard) -> None:
    """A card's ``mix_without_versions`` (:class:`engine.timbre.TimbreMix`) needs a mixed
    column, a share from 0 to 1 and the main graph's width inside the column."""
    t = card.timbre
    try:
        share, main = float(t["mix_without_versions"]), int(t["main_dim"])
        valid = (card.timbre_mix > 0 and 0 <= share <= 1
                 and 0 < main < card.branch_dims["timbre"])
    except (KeyError, TypeError, ValueError):
        valid = False
    if not valid:
        raise ModelError("model card's 'timbre' entry gives 'mix_without_versions' "
                         "without a 'mix' above 0, a share from 0 to 1, or a 'main_dim' "
                         "inside the timbre column")


def _window_outputs(session: Any, segments: Segments, batch_size: int
                    ) -> dict[str, np.ndarray]:
    """The windows layout: the whole graph on batches of segments."""
    outs: dict[str, list[np.ndarray]] = {name: [] for name in OUTPUT_NAMES}
    for start in range(0, len(segments), batch_size):
        feed = {"mel": segments.mel[start : start + batch_size],
                "chroma": segments.chroma[start : start + batch_size],
                "tempo": segments.tempo[start : start + batch_size]}
        for name, value in zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), feed),
                               strict=True):
            outs[name].append(np.asarray(value, dtype=np.float32))
    return {k: np.concatenate(v) for k, v in outs.items() if v}


def _check_dims(what: str, actual: list[object], expected: list[int | None], path: Path) -> None:
    """Fixed (integer) dimensions after the batch axis must equal the card's."""
    fixed = [a if isinstance(a, int) else None for a in actual]
    if len(fixed) != len(expected) or any(
            a is not None and a != e for a, e in zip(fixed[1:], expected[1:], strict=True)):
        raise ModelError(f"model {path} does not fit its card: {what} has shape "
                         f"{list(actual)[1:]}, the card says {expected[1:]}")


