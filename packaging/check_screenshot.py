"""Is this PNG a real screenshot of the app, not an empty or blank image?

    python packaging/check_screenshot.py SHOT.png

Exit 0 when the file is a PNG of at least MIN_SIZE pixels whose pixels take at
least MIN_COLOURS distinct colours (text, frames and icons antialias into
many; a blank or uniform window has one or two). Used by packaging/build.sh on
the frozen app's --screenshot output.
"""

from __future__ import annotations

import os
import sys

MIN_SIZE = (320, 200)
MIN_COLOURS = 16


def screenshot_verdict(path: str) -> tuple[bool, str]:
    """(fine?, what was found)."""
    from PySide6.QtGui import QImage

    if not os.path.isfile(path):
        return False, f"{path} was not written"
    with open(path, "rb") as handle:
        if handle.read(8) != b"\x89PNG\r\n\x1a\n":
            return False, f"{path} is not a PNG"
    image = QImage(path)
    if image.isNull():
        return False, f"{path} does not decode"
    if image.width() < MIN_SIZE[0] or image.height() < MIN_SIZE[1]:
        return False, f"{path} is only {image.width()}x{image.height()} px"
    step = max(1, min(image.width(), image.height()) // 200)  # about 40k samples is plenty
    colours = {image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)}
    size = f"{image.width()}x{image.height()} px"
    if len(colours) < MIN_COLOURS:
        return False, f"{path} looks blank: {size}, {len(colours)} colours"
    return True, f"{size}, {len(colours)} colours"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_screenshot.py SHOT.png", file=sys.stderr)
        return 64
    fine, found = screenshot_verdict(argv[0])
    print(f"screenshot check: {'ok' if fine else 'FAILED'}: {found}", file=sys.stdout if fine else sys.stderr)
    return 0 if fine else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
