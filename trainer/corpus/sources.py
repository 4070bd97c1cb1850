"""The audio sources ``shared/DATA.md`` allows, and what the builder needs to know about them.

Any game-music package not named here is reserved for independent evaluation and must never
be added. :data:`STYLES` records the styles DATA.md names for some packages; the validation
choice spreads its packages over them (everything else is ``other``).
"""

from __future__ import annotations

#: The first eleven packages (the shipped model trained on some of them).
ORIGINAL_PACKAGES = (
    "hedgewars-data", "neverball-data", "lincity-ng-data", "flare-game", "openclonk-data",
    "freecol", "endless-sky-data", "starfighter-data", "ri-li-data", "xmoto-data",
    "pingus-data",
)
#: The packages DATA.md added later ("more real recorded music").
MORE_PACKAGES = (
    "0ad-data", "naev-data", "blobwars-data", "berusky2-data", "colobot-common-sounds",
    "marsshooter-data", "unknown-horizons", "trackballs-data", "redeclipse-data",
    "pushover-data", "fretsonfire-songs-sectoid", "fretsonfire-songs-muldjord", "wizznic-data",
    "fillets-ng-data", "davegnukem-data", "enigma-data", "zaz-data", "ardentryst",
    "freedink-data", "wordwarvi-sound", "lordsawar-data", "adonthell-data",
    "frozen-bubble-data", "openarena-088-data", "miceamaze", "freeorion-data", "noiz2sa-data",
    "hex-a-hop-data", "amoebax-data", "pinball-table-gnu-data", "pathological",
    "powermanga-data", "gigalomania-data", "torcs-data", "plee-the-bear-data", "tuxmath-data",
    "lugaru-data", "angrydd", "scorched3d-data", "holotz-castle-data", "mu-cade-data",
    "pax-britannica-data", "seahorse-adventures", "tumiki-fighters-data", "parsec47-data",
    "torus-trooper-data", "renpy-demo", "performous", "titanion-data", "gunroar-data",
    "searchandrescue-data", "brainparty-data", "a7xpg-data", "tuxtype-data", "hannah-data",
    "orbital-eunuchs-sniper-data", "cube2-data", "funnyboat", "blockout2", "rrootage-data",
    "pink-pony-data", "glob2-data", "caveexpress-data", "abe-data", "toppler",
    "csmash-demosong", "epiphany-data", "cavepacker-data", "freeciv-data", "lomiri-sounds",
    "alienblaster-data", "pinball-table-hurd-data", "phlipple-data", "pangzero", "solarwolf",
    "tuxfootball", "triplea", "bumprace-data", "gnujump-data", "spacezero",
)
RECORDING_PACKAGES = ORIGINAL_PACKAGES + MORE_PACKAGES
#: Packages whose tracker modules are rendered (kind ``module``).
MODULE_PACKAGES = (
    "ironseed-data", "tecnoballz-data", "pekka-kana-2-data", "heroes-sound-tracks",
    "rafkill-data", "pachi-data", "biniax2-data", "open-invaders-data", "bomberclone-data",
    "gemdropx", "madbomber-data", "bb", "penguin-command", "tuxmath-data", "tuxtype-data",
    "gl-117-data", "rockdodger", "bugsquish", "circuslinux-data", "njam-data",
    "powermanga-data", "tomatoes-data", "flobopuyo", "criticalmass-data", "gltron",
    "vectoroids", "fb-music-high", "monsterz-data", "dodgindiamond2", "solarwolf", "pathogen",
    "ceferino-data", "cuyo-data", "redeclipse-data",
)
#: The Debian package with the LMMS demo projects (kind ``lmms``, labelled by author).
LMMS_PACKAGE = "lmms-common"
ALL_PACKAGES = tuple(dict.fromkeys(RECORDING_PACKAGES + MODULE_PACKAGES + (LMMS_PACKAGE,)))
#: Packages that share tracks (DATA.md): never split between train and validation.
LINKED_PACKAGES = (("caveexpress-data", "cavepacker-data"), ("tuxmath-data", "tuxtype-data"))
#: The test part, whole packages that nothing is tuned on: chosen by
#: :func:`trainer.corpus.split.choose_test_packages` (seed 0) on the November 2026 corpus
#: (85 recordings) and pinned here, so that it never moves.
TEST_PACKAGES = (
    "adonthell-data", "ardentryst", "epiphany-data", "fillets-ng-data", "freedink-data",
    "fretsonfire-songs-sectoid", "frozen-bubble-data", "scorched3d-data", "unknown-horizons",
    "wizznic-data",
)
#: Styles DATA.md names; the other packages are ``other``.
STYLES = {
    **dict.fromkeys(("marsshooter-data", "fretsonfire-songs-sectoid",
                     "fretsonfire-songs-muldjord", "wordwarvi-sound", "openarena-088-data"),
                    "rock"),
    **dict.fromkeys(("0ad-data", "unknown-horizons", "freedink-data", "lordsawar-data",
                     "enigma-data", "pushover-data"), "orchestral"),
    **dict.fromkeys(("blobwars-data", "wizznic-data", "redeclipse-data", "noiz2sa-data"),
                    "dance"),
    **dict.fromkeys(("naev-data", "berusky2-data", "colobot-common-sounds"), "ambient"),
}
KINDS = ("recording", "module", "lmms", "rendition")


def style(package: str) -> str:
    """The DATA.md style of a package (``other`` when DATA.md names none)."""
    return STYLES.get(package, "other")
