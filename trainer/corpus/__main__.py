"""Entry point: ``python -m trainer.corpus build --out data/corpus``."""

import sys

from trainer.corpus.cli import main

if __name__ == "__main__":
    sys.exit(main())
