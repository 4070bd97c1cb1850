"""Entry point of the ``resonance`` command.

With a sub-command (or ``--help``/``--version``) it runs the engine's command line
and never imports Qt; without arguments it opens the desktop app, and with only
existing paths (as a file manager passes them) it opens the app on those paths.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the command line or the GUI."""
    args = list(sys.argv[1:] if argv is None else argv)
    paths = [Path(a) for a in args]
    if args and not (all(p.exists() for p in paths) and args[0] not in _command_names()):
        from engine.cli import main as cli_main

        return cli_main(args)
    try:
        from resonance_app.app import run_app
    except ImportError:
        from engine.cli import main as cli_main

        print("resonance: the desktop app is not available in this build; "
              "showing the command line.", file=sys.stderr)
        return cli_main(["--help"])
    return run_app(open_paths=paths)


def _command_names() -> set[str]:
    """Sub-command names of the command line (they win over same-named files)."""
    import argparse

    from engine.cli import build_parser

    names: set[str] = set()
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            names.update(action.choices)
    return names


if __name__ == "__main__":
    sys.exit(main())
