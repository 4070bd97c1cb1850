"""Playlists: M3U8 and XSPF round trips, and saved playlists in a library."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ParameterError
from engine.library import Library
from engine.playlist_files import PlaylistEntry, read_m3u8, read_xspf, write_m3u8, write_xspf
from tests.model_factory import build_model, write_music

ENTRIES = [
    PlaylistEntry(Path("/music/Ünïcødé/曲 one.flac"), "曲 one", "Ärtist", 201.0),
    PlaylistEntry(Path("/music/plain/two & three.mp3"), "Two & Three", None, None),
    PlaylistEntry(Path("/other/disc/#4 - hash,comma.ogg"), None, "A - B", 12.4),
]


@pytest.mark.parametrize("relative", [True, False])
def test_m3u8_round_trip(tmp_path, relative):
    target = tmp_path / "lists" / "mix.m3u8"
    target.parent.mkdir()
    write_m3u8(target, ENTRIES, relative=relative)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("#EXTM3U\n")
    assert "#EXTINF:201,Ärtist - 曲 one" in text
    assert ("../" in text) == relative
    back = read_m3u8(target)
    assert [e.path for e in back] == [e.path for e in ENTRIES]
    assert back[0].title == "曲 one" and back[0].artist == "Ärtist"
    assert back[0].duration == 201
    assert back[1].duration is None


def test_m3u8_reader_accepts_plain_m3u_uris_and_bom(tmp_path):
    target = tmp_path / "x.m3u"
    target.write_text("\ufeff# comment\nsong.flac\n\nfile:///abs/dir%20x/b.mp3\n",
                      encoding="utf-8")
    assert [e.path for e in read_m3u8(target)] == [tmp_path / "song.flac",
                                                   Path("/abs/dir x/b.mp3")]


def test_xspf_round_trip(tmp_path):
    target = write_xspf(tmp_path / "mix.xspf", ENTRIES, title="Mix")
    assert "file:///music/%C3%9Cn%C3%AFc%C3%B8d%C3%A9/" in target.read_text(encoding="utf-8")
    title, back = read_xspf(target)
    assert title == "Mix"
    assert [e.path for e in back] == [e.path for e in ENTRIES]
    assert back[0].artist == "Ärtist" and back[2].duration == pytest.approx(12.4)


def test_broken_xspf_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.xspf"
    bad.write_text("<playlist><trackList>", encoding="utf-8")
    with pytest.raises(ParameterError, match="not a valid XSPF"):
        read_xspf(bad)


def test_library_playlists_save_export_import(tmp_path):
    model = build_model(tmp_path / "model")
    write_music(tmp_path / "music", 4, seconds=6)
    with Library.open(tmp_path / "lib", model_dir=model) as lib:
        list(lib.scan([tmp_path / "music"], workers=0))
        ids = [t.id for t in lib.tracks()][::-1]
        lib.save_playlist("favourites", ids[:3])
        assert lib.playlists() == ["favourites"]
        assert [t.id for t in lib.playlist("favourites")] == ids[:3]
        m3u = lib.export_playlist("favourites", tmp_path / "fav.m3u8")
        xspf = lib.export_playlist(ids, tmp_path / "all.xspf", fmt="xspf")
        assert lib.import_playlist(m3u, name="again") == "again"
        assert [t.id for t in lib.playlist("again")] == ids[:3]
        assert lib.import_playlist(xspf) == "all"
        assert [t.id for t in lib.playlist("all")] == ids
        lib.delete_playlist("again")
        assert lib.playlists() == ["all", "favourites"]
        with pytest.raises(ParameterError):
            lib.playlist("again")
        with pytest.raises(ParameterError):
            lib.save_playlist("bad", [99999])
