"""The `healthqa` command: the same core the desktop app uses, for scripts.

Each command group lives in `healthqa/commands/<name>.py` with a
`register(subparsers)` function; this module only assembles them and turns
our own errors into one clear line and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .commands.common import add_workspace_option
from .errors import HealthQAError

COMMAND_MODULES = ["data", "exports", "models", "runs", "agreement", "bundles", "report", "compare"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthqa", description="Grade language-model health answers "
                                     "against HealthBench-style rubrics.")
    parser.add_argument("--version", action="version", version=f"healthqa {__version__}")
    add_workspace_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.commands.{name}":
                continue  # a command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except HealthQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `healthqa ... | head`: the reader has gone; not an error
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
