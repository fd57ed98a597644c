"""What the spec leaves out of the bundle, beyond the excluded Python modules.

PySide6's PyInstaller hooks collect every plugin of a group (all platforms,
all platform themes...) and, through them, libraries the app never loads:
the GTK stack of the GTK3 theme plugin, the embedded-device EGL platforms, the
VNC platform with QtNetwork. Dropping those plugins, then every library that
nothing left in the bundle needs, makes the bundle smaller and keeps the
build machine's GTK from meeting the user's. packaging/check_bundle_libs.py
proves after each build that nothing still needed was dropped.
"""

from __future__ import annotations

import posixpath
import subprocess
import sys
from pathlib import PurePath

# Qt plugins a clinician's desktop never loads (paths under PySide6/Qt/plugins/).
UNUSED_QT_PLUGINS = (
    "egldeviceintegrations/",        # EGL on bare devices (kiosks, boards)
    "generic/",                      # evdev and TUIO input for devices without a window system
    "platforms/libqeglfs", "platforms/libqlinuxfb", "platforms/libqminimalegl",
    "platforms/libqvkkhrdisplay", "platforms/libqvnc",  # device and remote platforms; xcb, wayland, offscreen stay
    "platformthemes/libqgtk3",       # GTK theme: drags the build machine's GTK stack in; the portal theme stays
)
QT_PLUGINS = "PySide6/Qt/plugins/"
# Only a QTranslator would read these, and the app is English only.
QT_TRANSLATIONS = "PySide6/Qt/translations/"


def is_unused_plugin(dest: str) -> bool:
    dest = PurePath(dest).as_posix()
    return dest.startswith(QT_PLUGINS) and dest[len(QT_PLUGINS):].startswith(UNUSED_QT_PLUGINS)


def needed_libraries(path: str) -> list[str]:
    """The NEEDED entries of an ELF file (objdump, which PyInstaller itself needs on Linux)."""
    dump = subprocess.run(["objdump", "-p", path], capture_output=True, text=True, check=True).stdout
    return [line.split()[1] for line in dump.splitlines() if line.strip().startswith("NEEDED")]


def is_root(dest: str, typecode: str) -> bool:
    """Loaded by Python or Qt by name, not as a dependency: extension modules, plugins, libpython."""
    dest = PurePath(dest).as_posix()
    return typecode == "EXTENSION" or dest.startswith(QT_PLUGINS) or PurePath(dest).name.startswith("libpython")


def without_orphans(binaries: list[tuple]) -> tuple[list[tuple], list[str]]:
    """(binaries minus the libraries no root needs, directly or not; the names dropped). Linux only.

    Entries are PyInstaller's (dest, src, typecode); a SYMLINK entry's src is
    its target relative to dest and it stays exactly when its target stays.
    """
    files = {dest: src for dest, src, typecode in binaries if typecode != "SYMLINK"}
    by_name = {PurePath(dest).name: dest for dest in files}
    reached, todo = set(), [dest for dest, _, typecode in binaries if typecode != "SYMLINK" and is_root(dest, typecode)]
    while todo:
        dest = todo.pop()
        if dest not in reached:
            reached.add(dest)
            todo += [by_name[lib] for lib in needed_libraries(files[dest]) if lib in by_name]

    def stays(dest: str, src: str, typecode: str) -> bool:
        if typecode == "SYMLINK":
            return posixpath.normpath(posixpath.join(posixpath.dirname(PurePath(dest).as_posix()), src)) in reached
        return dest in reached

    kept = [entry for entry in binaries if stays(*entry)]
    return kept, sorted(PurePath(entry[0]).name for entry in binaries if entry not in kept)


def trim(analysis) -> list[str]:
    """Drop unused Qt plugins, translations and orphaned libraries from a PyInstaller Analysis; the names dropped."""
    dropped = [dest for dest, _, _ in analysis.binaries if is_unused_plugin(dest)]
    binaries = [entry for entry in analysis.binaries if not is_unused_plugin(entry[0])]
    if sys.platform.startswith("linux"):
        binaries, orphans = without_orphans(binaries)
        dropped += orphans
    analysis.binaries = binaries
    analysis.datas = [entry for entry in analysis.datas if not PurePath(entry[0]).as_posix().startswith(QT_TRANSLATIONS)]
    return dropped
