"""Frozen entry point of the windowed `healthqa-desktop` (same as the gui-script in pyproject)."""

import sys

from ui.app import main

if __name__ == "__main__":
    sys.exit(main())
