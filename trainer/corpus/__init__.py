"""The development corpus: real game-package recordings and rendered music21 pieces.

Built by ``python -m trainer.corpus build --out data/corpus`` from exactly the sources in
``shared/DATA.md``; the output format is in ``notes/CONTRACTS.md`` (``manifest.json`` with
train/val splits by song and by source, ``pairs.json`` with the version groups).
"""
