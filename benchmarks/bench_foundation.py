"""Import and score a HealthBench-sized file (5,000 rows, ~11 criteria, with
completions and verdicts). Targets: import < 10 s and < 400 MB peak; score
(all tags, bootstrap included) < 3 s. Each step runs in its own process so
that peak RSS is the step's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

STEP = r"""
import cProfile, io, json, pstats, resource, sys, time
sys.path.insert(0, {root!r})
from healthqa.store import Workspace
from healthqa.formats.healthbench import import_healthbench
from healthqa.scoring import score_workspace
t0 = time.perf_counter()
prof = cProfile.Profile()
prof.enable()
with Workspace({ws!r}) as ws:
    if {step!r} == "import":
        import_healthbench(ws, {src!r}, set_name="bench", rater="synthetic-grader", rater_kind="model")
    else:
        results = score_workspace(ws)
prof.disable()
elapsed = time.perf_counter() - t0
out = io.StringIO()
pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(12)
print(json.dumps({{"seconds": elapsed,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "profile": out.getvalue()}}))
"""

BASELINE = "import resource, sys; sys.path.insert(0, {root!r}); import healthqa.scoring, healthqa.formats.healthbench; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"


def run_step(step: str, src: str, ws: str) -> dict:
    code = STEP.format(root=str(HERE.parent), ws=ws, src=src, step=step)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    from generate_healthbench import generate

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "synthetic.jsonl")
        rows = generate(src, 5000, graded=True)
        size_mb = os.path.getsize(src) / 2**20
        ws = os.path.join(tmp, "bench.healthqa")
        baseline = float(subprocess.run([sys.executable, "-c", BASELINE.format(root=str(HERE.parent))],
                                        capture_output=True, text=True, check=True).stdout)
        imported = run_step("import", src, ws)
        scored = run_step("score", src, ws)
        print(f"file: {rows} rows, {size_mb:.1f} MB; interpreter + imports alone: {baseline:.0f} MB RSS")
        print(f"import: {imported['seconds']:.2f} s (target < 10 s, ratio {imported['seconds'] / 10:.2f}), "
              f"peak RSS {imported['peak_mb']:.0f} MB (target < 400 MB)")
        print(f"score : {scored['seconds']:.2f} s (target < 3 s, ratio {scored['seconds'] / 3:.2f}), "
              f"peak RSS {scored['peak_mb']:.0f} MB")
        if "--profile" in sys.argv:
            print("\nwhere import time goes:\n" + imported["profile"])
            print("where score time goes:\n" + scored["profile"])


if __name__ == "__main__":
    main()
