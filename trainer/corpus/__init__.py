"""The development corpus: real game-package recordings, tracker modules, LMMS demo
projects and rendered music21 pieces.

Built by ``python -m trainer.corpus build --out data/corpus`` from exactly the sources in
``shared/DATA.md`` (:mod:`trainer.corpus.sources`); the output format is in
``docs/architecture.md`` (``manifest.json`` with train/val splits by whole package and by
piece, ``pairs.json`` with the version groups, ``VALIDATION_PACKAGES.txt``).
"""
