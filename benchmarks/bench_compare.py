"""The whole `healthqa compare --json` command in a fresh process: 5 models x 5,000 questions, every
pair (10), 2,000 bootstrap resamples and 10,000 sign flips per figure, broken down by theme.
Target: under 3 s and under 1 GB.

Usage: python benchmarks/bench_compare.py [--workspace PATH]
(--workspace keeps the built workspace at PATH and reuses it when it exists.)
"""

from __future__ import annotations

import json
import os
import random
import resource
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

MODELS = [f"model-{k}" for k in range(1, 6)]
QUESTIONS = 5000
RATER = "bench grader"


def build(ws_path: str, tmp: str) -> None:
    """Five models answer the same 5,000 invented questions; model k meets each criterion a little more
    often than model k − 1 (so some pairs differ and some barely do); one model grader grades them all."""
    src = os.path.join(tmp, "models.jsonl")
    generate(src, QUESTIONS, graded=True, models=MODELS)
    rng = random.Random(11)
    path = os.path.join(tmp, "graded.jsonl")
    with open(src) as rows, open(path, "w") as out:
        for line in rows:
            row = json.loads(line)
            rate = 0.50 + 0.012 * MODELS.index(row["model"])
            row["rubrics"] = [dict(c, criteria_met=rng.random() < (rate if c["points"] > 0 else 1 - rate))
                              for c in row["rubrics"]]
            out.write(json.dumps(row) + "\n")
    with Workspace(ws_path) as ws:
        import_healthbench(ws, path, set_name="bench", rater=RATER, rater_kind="model")


def time_command(ws_path: str) -> tuple[float, float, dict]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "healthqa.cli", "--workspace", ws_path, "compare", "--json",
                           "--sources", ",".join(MODELS), "--rater", RATER, "--by", "theme"],
                          capture_output=True, text=True, check=True, cwd=HERE.parent)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far, in MB
    if before / 1024 > peak:
        peak = float("nan")
    return elapsed, peak, json.loads(proc.stdout)


def main() -> None:
    keep = sys.argv[sys.argv.index("--workspace") + 1] if "--workspace" in sys.argv else None
    with tempfile.TemporaryDirectory() as tmp:
        ws_path = keep or os.path.join(tmp, "compare.healthqa")
        if not os.path.exists(ws_path):
            start = time.perf_counter()
            build(ws_path, tmp)
            print(f"built {len(MODELS)} models x {QUESTIONS:,} questions in {time.perf_counter() - start:.0f} s")
        runs = [time_command(ws_path) for _ in range(3)]
        elapsed = [r[0] for r in runs]
        peak = max(r[1] for r in runs)
        result = runs[0][2]
        pairs = result["pairs"]
        tags = sorted({tag for p in pairs for tag in p["by"]})
        print(f"healthqa compare --json: {len(MODELS)} models x {pairs[0]['n_questions']:,} questions, "
              f"{len(pairs)} pairs, by theme ({len(tags)} themes), 2,000 resamples, 10,000 sign flips")
        print(f"  whole command, fresh process: best {min(elapsed):.2f} s, median {sorted(elapsed)[1]:.2f} s "
              f"(target < 3 s); peak memory {peak:.0f} MB (target < 1,024 MB)")
        for p in pairs:
            print(f"  {p['a']} - {p['b']}: delta {p['delta']:+.4f} [{p['delta_ci'][0]:+.4f}, {p['delta_ci'][1]:+.4f}]"
                  f"  p {p['p_value']:.4f}  p(Holm) {p['p_holm']:.4f}  needs {p['questions_needed']['power_80']}")
        print(f"  (load average while measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        ok = min(elapsed) < 3 and peak < 1024
        print("PASS" if ok else "FAIL: over target")


if __name__ == "__main__":
    main()
