"""The ``resonance`` command line: every engine capability, headless.

Each sub-command lives in its own module exposing ``register(subparsers)``; the
module's handler returns an exit code. Errors are one clear line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from engine.cli.output import printable
from engine.errors import ResonanceError

#: Modules (under ``engine.cli``) that contribute sub-commands, in help order.
COMMAND_MODULES = ("features_cmd", "library_cmds", "discovery_cmds", "selftest_cmd")


def package_version() -> str:
    """Installed version of the ``resonance`` distribution."""
    try:
        return version("resonance")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered sub-command."""
    from importlib import import_module

    parser = argparse.ArgumentParser(
        prog="resonance",
        description="Find the songs in your music library that sound alike. "
        "Without a command, the desktop app starts.",
    )
    parser.add_argument("--version", action="version", version=f"resonance {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(f"engine.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    return dispatch(build_parser(), argv, prog="resonance")


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None, *, prog: str,
             interrupted: str = "interrupted") -> int:
    """Parse ``argv`` and run the chosen command's ``handler``; returns the exit code.

    No command prints the help (2); a :class:`ResonanceError` is one line on stderr (1);
    Ctrl+C prints ``interrupted`` (130).
    """
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except ResonanceError as exc:
        print(f"{prog}: error: {printable(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
