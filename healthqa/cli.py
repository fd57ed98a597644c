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

# Which module registers each command. A command line imports only its own
# module (the others bring numpy, matplotlib, zstandard, ...: about half a
# second of start-up); help and unknown commands import them all. A test
# checks that this table says what the modules register.
COMMANDS = {
    "import": "data", "sets": "data", "questions": "data", "score": "data",
    "export": "exports",
    "models": "models",
    "run": "runs", "grade": "runs", "runs": "runs", "answers": "runs",
    "agreement": "agreement",
    "assign": "bundles", "assignments": "bundles", "flag": "bundles", "flags": "bundles", "bundle": "bundles",
    "report": "report", "disagreements": "report", "adjudicate": "report",
    "compare": "compare",
    "raters": "raters",
}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`'s command only, or for every command (argv None, --help, a typo)."""
    parser = argparse.ArgumentParser(prog="healthqa", description="Grade language-model health answers "
                                     "against HealthBench-style rubrics.")
    parser.add_argument("--version", action="version", version=f"healthqa {__version__}")
    add_workspace_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = COMMANDS.get(_command_word(argv)) if argv is not None else None
    for name in [wanted] if wanted else COMMAND_MODULES:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def _command_word(argv: list[str]) -> str | None:
    """The command name in `argv`: the first word that is not an option or --workspace's value."""
    words = iter(argv)
    for word in words:
        if word == "--workspace":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args) or 0
    except HealthQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `healthqa ... | head`: the reader has gone; not an error
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:  # a file that cannot be written (permissions, a full disk): which, and why
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
