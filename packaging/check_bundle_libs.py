"""Does every library in the frozen bundle find the libraries it needs? (Linux)

    python packaging/check_bundle_libs.py dist/HealthQA

Reads each ELF file's NEEDED entries and fails when a needed library is neither in the bundle nor one
PyInstaller leaves to the host system on purpose (libc, libGL, libxcb...).
The spec drops Qt plugins and libraries the app has no use for; this is the
check that it never drops one something still needs. Run by packaging/build.sh
with the build environment's Python (it asks PyInstaller's own host-library
rules).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bundle_trim import needed_libraries

ELF_MAGIC = b"\x7fELF"


def is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == ELF_MAGIC


def left_to_the_host(lib: str) -> bool:
    from PyInstaller.depend.dylib import include_library

    # The dynamic loader (ld-linux-x86-64.so.2...) is always the host's; PyInstaller's rule spells it ld-linux.so.
    return lib.startswith("ld-linux") or not include_library(lib)


def unresolved(bundle: Path) -> dict[str, list[str]]:
    """{file in the bundle: [needed libraries found neither in the bundle nor left to the host]}."""
    present = {path.name for path in bundle.rglob("*")}
    problems = {}
    for path in sorted(bundle.rglob("*")):
        if path.is_symlink() or not path.is_file() or not is_elf(path):
            continue
        missing = [lib for lib in needed_libraries(str(path)) if lib not in present and not left_to_the_host(lib)]
        if missing:
            problems[str(path.relative_to(bundle))] = missing
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: check_bundle_libs.py BUNDLE_DIR", file=sys.stderr)
        return 64
    problems = unresolved(Path(argv[0]))
    for where, missing in problems.items():
        print(f"library check: {where} needs {', '.join(missing)}, which the bundle lacks", file=sys.stderr)
    if not problems:
        print("library check: ok: every bundled library finds what it needs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
