"""The models a user can switch between: the shipped one and those trained on the library."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.model import ModelCard


@dataclass(frozen=True)
class InstalledModel:
    """A model folder with its card."""

    folder: Path
    card: ModelCard
    shipped: bool

    @property
    def label(self) -> str:
        """How the list shows it."""
        when = str(self.card.created or "")[:10] or "date unknown"
        origin = "shipped with Resonance" if self.shipped else f"in {self.folder.parent}"
        return f"{self.card.name}  ({origin}, {when})"


def shipped_model_dir() -> Path:
    """The folder of the default model that ships with Resonance."""
    from engine.model import default_model_dir

    return default_model_dir()


def installed_models(library_folder: Path | None,
                     current: Path | None = None) -> list[InstalledModel]:
    """The shipped models (the default first), ``<library>/models/*`` newest first, and
    ``current`` if elsewhere.

    Folders whose card cannot be read are left out.
    """
    from engine.errors import ResonanceError
    from engine.model import load_card, shipped_model_dirs

    found: list[InstalledModel] = []
    with contextlib.suppress(ResonanceError, OSError):
        for folder in shipped_model_dirs():
            with contextlib.suppress(ResonanceError, OSError):
                found.append(InstalledModel(folder, load_card(folder), True))
    trained = library_folder / "models" if library_folder is not None else None
    if trained is not None and trained.is_dir():
        for folder in sorted(trained.iterdir(), reverse=True):
            if (folder / "card.json").is_file():
                try:
                    found.append(InstalledModel(folder, load_card(folder), False))
                except (ResonanceError, OSError):
                    continue
    known = {m.folder.resolve() for m in found}
    if current is not None and Path(current).resolve() not in known:
        with contextlib.suppress(ResonanceError, OSError):
            found.append(InstalledModel(Path(current), load_card(current), False))
    return found
