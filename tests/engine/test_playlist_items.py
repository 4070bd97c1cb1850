"""Saved playlists keep entries whose file went away, and link them again when it returns."""

from __future__ import annotations

from engine.library import Library
from engine.playlist_files import file_title, read_xspf
from tests.model_factory import build_model, write_music


def _scan(lib: Library) -> None:
    for _ in lib.scan(workers=0):
        pass


def test_missing_entry_is_kept_with_its_reason_and_restored(tmp_path) -> None:
    files = write_music(tmp_path / "music", 3, seconds=6)
    with Library.open(tmp_path / "lib", model_dir=build_model(tmp_path / "model")) as lib:
        lib.add_root(tmp_path / "music")
        _scan(lib)
        by_path = {t.path: t.id for t in lib.tracks()}
        lib.save_playlist("Mix", [by_path[p] for p in files])
        away = tmp_path / "away.flac"
        files[1].rename(away)
        _scan(lib)
        items = lib.playlist_items("Mix")
        assert [i.path for i in items] == files
        assert items[1].track is None and items[1].reason == "file not found"
        # saving again with the entry's path keeps it
        lib.save_playlist("Mix", [items[0].track.id, items[1].path, items[2].track.id])
        away.rename(files[1])
        _scan(lib)
        back = lib.playlist_items("Mix")
        assert all(i.track is not None for i in back) and back[1].track.path == files[1]
        assert [t.path for t in lib.playlist("Mix")] == files


def test_exports_carry_the_name_and_names_sort_without_case(tmp_path) -> None:
    write_music(tmp_path / "music", 2, seconds=6)
    with Library.open(tmp_path / "lib", model_dir=build_model(tmp_path / "model")) as lib:
        lib.add_root(tmp_path / "music")
        _scan(lib)
        ids = [t.id for t in lib.tracks()]
        m3u = lib.export_playlist(ids, tmp_path / "a.m3u8", title="Road trip")
        assert m3u.read_text().splitlines()[1] == "#PLAYLIST:Road trip"
        assert file_title(m3u) == "Road trip"
        xspf = lib.export_playlist(ids, tmp_path / "a.xspf", fmt="xspf", title="Road trip")
        assert read_xspf(xspf)[0] == "Road trip"
        assert lib.import_playlist(m3u) == "Road trip"
        for name in ("beta", "Alpha", "gamma"):
            lib.save_playlist(name, ids)
        assert lib.playlists() == ["Alpha", "beta", "gamma", "Road trip"]
