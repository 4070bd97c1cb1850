"""Typed settings, declared once and versioned.

*Settings* are the user's choices (worker count, search defaults, folder watching; the
music folders themselves live in the library only); *persist* is what the window
remembers about itself (geometry, splitters). Both are stored with ``QSettings`` in an
INI file; ``SETTINGS_VERSION`` plus the functions registered with :func:`upgrade` bring
an older file up to date on open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast, overload

from PySide6.QtCore import QByteArray, QSettings

from engine.library import default_workers

T = TypeVar("T")

#: Bump when an option is renamed or its meaning changes, and register an upgrade.
SETTINGS_VERSION = 3
_ENV_PATH = "RESONANCE_SETTINGS"


@dataclass(frozen=True)
class Option(Generic[T]):
    """One stored value: its section (``setting`` or ``persist``), key, default and type."""

    section: str
    key: str
    default: T
    kind: type

    @property
    def path(self) -> str:
        """The QSettings key."""
        return f"{self.section}/{self.key}"

    @overload
    def __get__(self, obj: None, owner: type) -> Option[T]: ...
    @overload
    def __get__(self, obj: Settings, owner: type) -> T: ...

    def __get__(self, obj: Settings | None, owner: type) -> Any:
        if obj is None:
            return self
        return obj.get(self)

    def __set__(self, obj: Settings, value: T) -> None:
        obj.set(self, value)


def setting(key: str, default: T, kind: type | None = None) -> Option[T]:
    """Declare a user setting."""
    return Option("setting", key, default, kind or type(default))


def persist(key: str, default: T, kind: type | None = None) -> Option[T]:
    """Declare a remembered window state value."""
    return Option("persist", key, default, kind or type(default))


Upgrade = Callable[[QSettings], None]
_UPGRADES: dict[int, Upgrade] = {}


def upgrade(to_version: int) -> Callable[[Upgrade], Upgrade]:
    """Register the step that brings a settings file to ``to_version``."""
    def register(fn: Upgrade) -> Upgrade:
        _UPGRADES[to_version] = fn
        return fn
    return register


@upgrade(2)
def _rename_folders_key(qs: QSettings) -> None:
    """Version 1 stored the music folders as ``setting/folders`` (one string, ';'-joined)."""
    old = qs.value("setting/folders")
    if old is not None:
        folders = [p for p in str(old).split(";") if p]
        qs.setValue("setting/library_folders", json.dumps(folders))
        qs.remove("setting/folders")


@upgrade(3)
def _drop_folders_shadow(qs: QSettings) -> None:
    """The music folders live in the library only; the copy the settings kept is gone."""
    qs.remove("setting/library_folders")


class Settings:
    """The app's options as typed attributes, backed by a QSettings INI file."""

    # user choices
    library_path = setting("library_path", "")
    worker_count = setting("worker_count", default_workers(spare=1))  # a core for the GUI
    watch_folders = setting("watch_folders", True)
    top_k = setting("top_k", 20)
    prf = setting("prf", 0)
    diversity = setting("diversity", 0.3)
    weights = setting("weights", [1.0, 1.0, 1.0], list)
    exclude_same_album = setting("exclude_same_album", False)
    exclude_same_artist = setting("exclude_same_artist", False)
    playlist_size = setting("playlist_size", 25)
    path_length = setting("path_length", 10)  # songs in a "Path to…" playlist
    mix_count = setting("mix_count", 0)  # mixes to make; 0: about 30 songs each
    centre_tab = setting("centre_tab", 0)  # 0: results, 1: map
    left_tab = setting("left_tab", 0)  # 0: library, 1: mixes
    volume = setting("volume", 0.8)
    record_seconds = setting("record_seconds", 10)
    enter_action = setting("enter_action", "play")  # what Enter/double-click does: play|seed
    input_device = setting("input_device", "")
    output_device = setting("output_device", "")
    # window state
    geometry = persist("geometry", QByteArray(), QByteArray)
    window_state = persist("window_state", QByteArray(), QByteArray)
    main_splitter = persist("main_splitter", QByteArray(), QByteArray)
    library_header = persist("library_header", QByteArray(), QByteArray)
    last_dir = persist("last_dir", "")
    playlist_dir = persist("playlist_dir", "")
    playlist_format = persist("playlist_format", "m3u8")

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None and os.environ.get(_ENV_PATH):
            path = os.environ[_ENV_PATH]
        if path is None:
            self._qs = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                 "Resonance", "resonance")
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._qs = QSettings(str(path), QSettings.Format.IniFormat)
        self._apply_upgrades()

    @classmethod
    def options(cls) -> list[Option[Any]]:
        """Every declared option."""
        return [v for v in vars(cls).values() if isinstance(v, Option)]

    @property
    def file_name(self) -> str:
        """Where the settings are stored."""
        return self._qs.fileName()

    @property
    def version(self) -> int:
        """The settings file's format version."""
        raw = self._qs.value("meta/version")
        return SETTINGS_VERSION if raw is None else int(raw)

    def get(self, option: Option[T]) -> T:
        """The stored value of ``option``, or its default when missing or invalid."""
        raw = self._qs.value(option.path)
        if raw is None:
            return _copy(option.default)
        try:  # _decode converts to option.kind, the type of the option's default (T)
            return cast("T", _decode(raw, option.kind))
        except (TypeError, ValueError):
            return _copy(option.default)

    def set(self, option: Option[T], value: T) -> None:
        """Store ``value`` for ``option``."""
        self._qs.setValue(option.path, _encode(value, option.kind))

    def reset(self, option: Option[Any]) -> None:
        """Forget the stored value of ``option``."""
        self._qs.remove(option.path)

    def sync(self) -> None:
        """Write pending changes to disk."""
        self._qs.sync()

    def _apply_upgrades(self) -> None:
        raw = self._qs.value("meta/version")
        # a fresh file is current; a file with keys but no version is version 1
        fallback = 1 if self._qs.allKeys() else SETTINGS_VERSION
        version = fallback if raw is None else int(raw)
        for step in sorted(_UPGRADES):
            if version < step <= SETTINGS_VERSION:
                _UPGRADES[step](self._qs)
                version = step
        self._qs.setValue("meta/version", max(version, SETTINGS_VERSION))


def _copy(value: T) -> T:
    return list(value) if isinstance(value, list) else value  # type: ignore[return-value]


def _encode(value: Any, kind: type) -> Any:
    if kind is list:
        return json.dumps(list(value))
    if kind is bool:
        return "true" if value else "false"
    return value


def _decode(raw: Any, kind: type) -> Any:
    if kind is list:
        value = json.loads(raw) if isinstance(raw, str) else list(raw)
        if not isinstance(value, list):
            raise ValueError("not a list")
        return value
    if kind is bool:
        return raw if isinstance(raw, bool) else str(raw).lower() in {"true", "1", "yes"}
    if kind is QByteArray:
        return raw if isinstance(raw, QByteArray) else QByteArray(raw)
    return kind(raw)
