"""Entry point of the ``resonance`` command.

With a sub-command (or ``--help``/``--version``) it runs the engine's command line
and never imports Qt; without arguments it opens the desktop app.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the command line or the GUI."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args:
        from engine.cli import main as cli_main

        return cli_main(args)
    try:
        from resonance_app.app import run_app
    except ImportError:
        from engine.cli import main as cli_main

        print("resonance: the desktop app is not available in this build; "
              "showing the command line.", file=sys.stderr)
        return cli_main(["--help"])
    return run_app()


if __name__ == "__main__":
    sys.exit(main())
