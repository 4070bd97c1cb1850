"""What Help ▸ About and Settings ▸ Model show: version, model card figures, licences, paths.

Plain functions over the engine's ``ModelCard`` (no Qt), so the texts are testable alone.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.model import ModelCard

#: The libraries shipped with the app (the installer bundles them).
BUNDLED = ("PySide6-Essentials", "numpy", "scipy", "onnxruntime", "faiss-cpu", "soundfile",
           "soxr", "av", "mutagen", "sounddevice", "platformdirs", "PyYAML", "tqdm")

#: Card metrics shown to people, in order: (key in metrics["validation"], label).
QUALITY_FIGURES = (("recall@1", "Same song found first"), ("recall@5", "Same song in the top 5"),
                   ("version_recall@5", "Another version in the top 5"))


def app_version() -> str:
    """The installed Resonance version ("unknown" when run from a bare checkout)."""
    try:
        return metadata.version("resonance")
    except metadata.PackageNotFoundError:
        return "unknown"


def licences() -> list[tuple[str, str, str]]:
    """``(name, version, licence)`` of each bundled library that is installed."""
    rows = []
    for name in BUNDLED:
        try:
            meta = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            continue
        rows.append((name, _field(meta, "Version"), _licence(meta)))
    return rows


def _field(meta: metadata.PackageMetadata, name: str) -> str:
    """The first value of a metadata field ("" when absent)."""
    values = meta.get_all(name) or []
    return str(values[0]) if values else ""


def _licence(meta: metadata.PackageMetadata) -> str:
    expression = _field(meta, "License-Expression")
    if expression:
        return expression
    text = _field(meta, "License").strip()
    if text and len(text) <= 60 and "\n" not in text:
        return text
    classifiers = [c.rsplit("::", 1)[-1].strip() for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::")]
    return ", ".join(classifiers) or (text.splitlines()[0][:60] if text else "see its files")


#: Figures of the development benchmark (``metrics.bench_quality``: unseen soundtracks
#: and versions, benchmarks/bench_quality.py), as (path in it, label).
BENCHMARK_FIGURES = (
    (("same_source", "P@10"), "Same-soundtrack tracks in the top 10 (unseen soundtracks)"),
    (("versions", "mAP"), "Other versions of a piece ranked high (mAP)"),
    (("search", "degraded", "R@1"), "10 s phone recording: right track first"))


def quality_figures(card: ModelCard | None) -> list[tuple[str, str]]:
    """``(label, "95.0 %")`` for the card's held-out and benchmark figures that exist."""
    metrics = card.metrics if card is not None else {}
    validation = metrics.get("validation") or metrics.get("heldout") or {}
    out = []
    for key, label in QUALITY_FIGURES:
        value = validation.get(key)
        if isinstance(value, int | float):
            out.append((label, f"{100 * float(value):.1f} %"))
    for path, label in BENCHMARK_FIGURES:
        found: Any = metrics.get("bench_quality") or {}
        for step in path:
            found = found.get(step) if isinstance(found, dict) else None
        if isinstance(found, int | float):
            out.append((label, f"{100 * float(found):.1f} %"))
    return out


def training_summary(card: ModelCard | None) -> str:
    """One line on the data the model learned from."""
    training = card.training if card is not None else {}
    metrics = card.metrics if card is not None else {}
    parts = []
    songs = (metrics.get("validation") or {}).get("songs")
    config = training.get("config") or {}
    if config.get("root"):
        parts.append(f"corpus {config['root']}")
    if training.get("loss"):
        parts.append(f"{training['loss']} loss")
    if songs:
        parts.append(f"checked on {songs} held-out songs")
    return ", ".join(parts) or "not recorded in the model card"


def model_rows(card: ModelCard | None, missing: str = "none installed") -> list[tuple[str, str]]:
    """The model card as ``(label, value)`` rows for people (``missing`` without a card)."""
    if card is None:
        return [("Model", missing)]
    rows = [("Model", str(card.name)), ("Created", str(card.created or "unknown")),
            ("Embedding", f"{card.embed_dim} dimensions, {card.precision}"),
            ("Training data", training_summary(card))]
    return rows + quality_figures(card)


def about_html(version: str, card: ModelCard | None, paths: list[tuple[str, str]],
               missing: str = "none installed") -> str:
    """The About box as HTML: version, model, data folders, bundled libraries."""
    def table(rows: list[tuple[str, str]] | list[tuple[str, str, str]]) -> str:
        cells = "".join("<tr>" + "".join(f"<td>{_esc(c)}&nbsp;&nbsp;</td>" for c in row)
                        + "</tr>" for row in rows)
        return f"<table>{cells}</table>"

    return (f"<h3>Resonance {_esc(version)}</h3>"
            "<p>Finds the songs in your library that sound alike: timbre, harmony and "
            "rhythm. Licensed under the MIT licence.</p>"
            f"<h4>Model</h4>{table(model_rows(card, missing))}"
            f"<h4>Data folders</h4>{table(paths)}"
            f"<h4>Bundled libraries</h4>{table(licences())}")


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
