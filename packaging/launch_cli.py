"""Frozen entry point of the console `healthqa` command (same as the console script in pyproject)."""

import sys

from healthqa.cli import main

if __name__ == "__main__":
    sys.exit(main())
