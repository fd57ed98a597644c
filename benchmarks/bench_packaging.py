"""Start-up of the frozen bundle: how long a clinician waits, measured on dist/HealthQA.

    .venv/bin/python benchmarks/bench_packaging.py [--runs N]

Needs a bundle built by packaging/build.sh (which prints the build time and
size); without one it says so and exits 0, so `make bench` stays quick.
Prints, over N runs each (medians and extremes):
  - frozen healthqa-desktop --screenshot, offscreen: launch to screenshot
    written and the app exited, on a new workspace (includes the background
    import of the demo set the app does on an empty workspace) and on a
    workspace that already holds it;
  - frozen `healthqa --version` and `healthqa score` on that workspace;
  - bundle size on disk, and how much of it is Qt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from healthqa.paths import APP_NAME  # noqa: E402

BUNDLE = ROOT / "dist" / APP_NAME


def timed(argv: list[str], home: Path) -> float:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8"}
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=home, check=True, capture_output=True, timeout=180)
    return time.perf_counter() - start


def summary(label: str, seconds: list[float]) -> str:
    return (f"{label:<48} median {statistics.median(seconds):6.2f} s"
            f"   min {min(seconds):6.2f} s   max {max(seconds):6.2f} s   (n={len(seconds)})")


def size_on_disk(folder: Path) -> int:
    return sum(path.lstat().st_blocks * 512 for path in folder.rglob("*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    desktop, cli = BUNDLE / "healthqa-desktop", BUNDLE / "healthqa"
    if not (os.access(desktop, os.X_OK) and os.access(cli, os.X_OK)):
        print(f"bench_packaging: no frozen bundle at {BUNDLE.relative_to(ROOT)}; run packaging/build.sh first")
        return 0

    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        shot = home / "shot.png"
        fresh = [timed([str(desktop), "--workspace", str(home / f"new{i}.healthqa"), "--screenshot", str(shot)], home)
                 for i in range(args.runs)]
        loaded = home / "new0.healthqa"
        again = [timed([str(desktop), "--workspace", str(loaded), "--screenshot", str(shot)], home)
                 for _ in range(args.runs)]
        version = [timed([str(cli), "--version"], home) for _ in range(args.runs)]
        score = [timed([str(cli), "--workspace", str(loaded), "score"], home) for _ in range(args.runs)]

    print(f"frozen bundle {BUNDLE.relative_to(ROOT)}, {args.runs} runs each, offscreen")
    print(summary("desktop: launch -> screenshot, new workspace", fresh))
    print(summary("desktop: launch -> screenshot, demo loaded", again))
    print(summary("cli: healthqa --version", version))
    print(summary("cli: healthqa score (demo workspace)", score))
    total, qt = size_on_disk(BUNDLE), size_on_disk(BUNDLE / "_internal" / "PySide6")
    print(f"{'bundle size on disk':<48} {total / 2**20:8.1f} MiB   (PySide6/Qt {qt / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
