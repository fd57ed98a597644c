"""Render the app icon: one SVG in, every size the installers need out.

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py

Writes resources/icons/app/: healthqa.svg, healthqa-<N>.png for N in SIZES,
healthqa.ico (Windows) and healthqa.icns (macOS). ICO and ICNS both accept
PNG payloads, so they are packed here from the same renders instead of
depending on a converter the build machine may not have.

The source is the UI's own app icon (resources/app-icon.svg) when it exists,
so the window icon and the installed icon never drift apart; otherwise the
drawing beside this script.
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "resources" / "icons" / "app"
UI_ICON = ROOT / "resources" / "app-icon.svg"
OWN_DRAWING = Path(__file__).resolve().parent / "app-icon-source.svg"
NAME = "healthqa"
SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 32, 48, 64, 128, 256)  # 256 is the largest an ICO entry can describe
# ICNS entry types holding PNG data, by pixel size (Apple's icon family codes).
ICNS_TYPES = {16: [b"icp4"], 32: [b"icp5", b"ic11"], 64: [b"icp6", b"ic12"],
              128: [b"ic07"], 256: [b"ic08", b"ic13"], 512: [b"ic09", b"ic14"]}


def icon_source() -> Path:
    return UI_ICON if UI_ICON.is_file() else OWN_DRAWING


def render_pngs(svg: Path, sizes=SIZES) -> dict[int, bytes]:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (painting needs one)
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not an SVG Qt can render")
    pngs = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        pngs[size] = bytes(data)
    return pngs


def pack_ico(pngs: dict[int, bytes]) -> bytes:
    sizes = [s for s in ICO_SIZES if s in pngs]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, payload = b"", b""
    for size in sizes:
        data = pngs[size]
        side = size % 256  # 0 means 256 in an ICO directory entry
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset + len(payload))
        payload += data
    return header + entries + payload


def pack_icns(pngs: dict[int, bytes]) -> bytes:
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size]
                    for size, kinds in ICNS_TYPES.items() if size in pngs for kind in kinds)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    source = icon_source()
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, OUT / f"{NAME}.svg")
    pngs = render_pngs(source)
    for size, data in pngs.items():
        (OUT / f"{NAME}-{size}.png").write_bytes(data)
    (OUT / f"{NAME}.ico").write_bytes(pack_ico(pngs))
    (OUT / f"{NAME}.icns").write_bytes(pack_icns(pngs))
    print(f"icons from {source.relative_to(ROOT)} -> {OUT.relative_to(ROOT)}/ ({', '.join(map(str, SIZES))} px, ico, icns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
