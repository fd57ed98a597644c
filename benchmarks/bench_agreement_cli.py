"""The whole `healthqa agreement --json` command (workspace load + every
statistic with its 2,000-resample interval), in a fresh process.
Targets: < 2 s for 3 raters x 2,000 answers x 11 criteria; < 6 s for
5 raters x 5,000 answers x 11 criteria; memory < 1 GB. With --by criterion
(one interval per criterion, about 55,000 of them): < 10 s and < 1 GB."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from generate_healthbench import generate  # noqa: E402
from healthqa.formats.healthbench import import_healthbench  # noqa: E402
from healthqa.store import Workspace  # noqa: E402


def build(ws_path: str, answers: int, raters: int, tmp: str) -> None:
    src = os.path.join(tmp, f"base{answers}.jsonl")
    generate(src, answers, graded=True)
    rows = [json.loads(line) for line in open(src)]
    rng = random.Random(3)
    with Workspace(ws_path) as ws:
        for r in range(raters):
            path = os.path.join(tmp, f"r{r}.jsonl")
            with open(path, "w") as handle:
                for row in rows:  # each rater agrees with the first about 85% of the time
                    row = dict(row, rubrics=[dict(c, criteria_met=c["criteria_met"] ^ (r > 0 and rng.random() < 0.15))
                                             for c in row["rubrics"]])
                    handle.write(json.dumps(row) + "\n")
            kind = "model" if r == raters - 1 else "clinician"
            import_healthbench(ws, path, set_name="bench", rater=f"rater {r}", rater_kind=kind)


def time_command(ws_path: str, *extra: str) -> tuple[float, float, int]:
    """Wall time and peak RSS of one fresh `healthqa agreement --json` process."""
    command = [sys.executable, "-m", "healthqa.cli", "--workspace", ws_path, "agreement", "--json", *extra]
    # Run under a tiny wrapper so each command's own peak RSS is measured
    # (RUSAGE_CHILDREN would report the largest child so far).
    wrapper = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
               " sys.stdout.write(p.stdout); sys.stderr.write(str(resource.getrusage(resource.RUSAGE_CHILDREN)"
               ".ru_maxrss)); sys.exit(p.returncode)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=True,
                          cwd=HERE.parent)
    elapsed = time.perf_counter() - start
    peak = int(proc.stderr.strip().splitlines()[-1]) / 1024
    return elapsed, peak, json.loads(proc.stdout)["items"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for raters, answers, target, extra in ((3, 2000, 2.0, ()), (5, 5000, 6.0, ()),
                                               (5, 5000, 10.0, ("--by", "criterion"))):
            ws_path = os.path.join(tmp, f"a{answers}.healthqa")
            if not os.path.exists(ws_path):
                build(ws_path, answers, raters, tmp)
            elapsed, peak, items = min(time_command(ws_path, *extra) for _ in range(3))
            print(f"{raters} raters x {answers} answers ({items} items, {items * raters} ratings)"
                  f"{' ' + ' '.join(extra) if extra else ''}: "
                  f"{elapsed:.2f} s (target < {target:.0f} s, ratio {elapsed / target:.2f}), "
                  f"peak RSS {peak:.0f} MB (target < 1024 MB)")


if __name__ == "__main__":
    main()
