"""Entry script of the frozen app: the same launcher as the ``resonance`` command."""

import multiprocessing
import sys

from resonance_app.launcher import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # scan workers are processes
    sys.exit(main())
