"""Import a simple-evals HealthBench results file of 5,000 graded entries (~55,000 verdicts).

Target (issue 12): under 15 s and under 600 MB peak. The file is shaped as
simple-evals writes it (tests/fixtures/external/simple_evals/ is the real
thing): `json.dumps(..., indent=2)` of score, metrics, htmls, convos and
metadata.example_level_metadata, each entry with the sampler's system
message, usage, completion_id and every rubric item's verdict and
explanation; htmls and convos repeat the conversation, as simple-evals'
do. The import (parse, store in one transaction, score and compare) runs in
its own process so that its peak RSS is its own.

    .venv/bin/python benchmarks/bench_import_results.py [ENTRIES]
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.generate_healthbench import make_row, sentence  # noqa: E402
from healthqa.scoring import GradedCriterion, GradedExample, score_examples  # noqa: E402

STEP = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from healthqa.store import Workspace
from healthqa.formats.detect import import_file
t0 = time.perf_counter()
with Workspace({ws!r}) as ws:
    report = import_file(ws, {src!r})
elapsed = time.perf_counter() - t0
print(json.dumps({{"seconds": elapsed, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": report.rows, "verdicts": report.grades_written, "agrees": report.agrees,
                  "checked": sum(c.must_agree for c in report.checks)}}))
"""


def write_results(path: Path, entries: int, seed: int = 12) -> tuple[int, int]:
    """A simple-evals-shaped _allresults.json; returns (entries, verdicts)."""
    rng = random.Random(seed)
    system = {"role": "system", "content": "You are a helpful assistant."}
    metadata, htmls, convos, examples = [], [], [], []
    for i in range(entries):
        row = make_row(rng, i, graded=False, models=[])[0]
        response = sentence(rng, rng.randint(150, 400))
        items = [{**r, "criteria_met": rng.random() < 0.55,
                  "explanation": sentence(rng, rng.randint(15, 40))} for r in row["rubrics"]]
        prompt = [system] + row["prompt"]
        examples.append(GradedExample(tuple(row["example_tags"]),
                                      [GradedCriterion(r["points"], r["criteria_met"], tuple(r["tags"]))
                                       for r in items]))
        metadata.append({
            "score": None,
            "usage": {"input_tokens": rng.randint(50, 900), "input_cached_tokens": 0,
                      "output_tokens": rng.randint(200, 900), "output_reasoning_tokens": 0,
                      "total_tokens": 0},
            "rubric_items": items, "prompt": prompt,
            "completion": [{"content": response, "role": "assistant"}],
            "prompt_id": row["prompt_id"],
            "completion_id": hashlib.sha256((row["prompt_id"] + response).encode()).hexdigest(),
        })
        explanations = "<br><br>".join(f"[{r['criteria_met']}] [{r['points']}] {html.escape(r['criterion'])}<br>"
                                       f"\tExplanation: {html.escape(r['explanation'])}" for r in items)
        htmls.append("".join(f"<div class=\"message {m['role']}\"><pre>{html.escape(m['content'])}</pre></div>"
                             for m in prompt) + f"<pre>{html.escape(response)}</pre><p>{explanations}</p>")
        convos.append(prompt + [{"content": response, "role": "assistant"}])
    result = score_examples(examples)
    for entry, scored in zip(metadata, result.per_example):
        entry["score"] = scored.score
    path.write_text(json.dumps({"score": result.score, "metrics": result.metrics, "htmls": htmls,
                                "convos": convos, "metadata": {"example_level_metadata": metadata}}, indent=2))
    return entries, sum(len(e["rubric_items"]) for e in metadata)


def main() -> int:
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "healthbench_bench-model_20250101_000000_allresults.json"
        n, verdicts = write_results(src, entries)
        size_mb = src.stat().st_size / 2**20
        code = STEP.format(root=str(HERE.parent), ws=str(Path(tmp) / "bench.healthqa"), src=str(src))
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"simple-evals results file: {n} entries, {verdicts} verdicts, {size_mb:.0f} MB")
    print(f"import (parse, store, score, compare): {figures['seconds']:.1f} s, peak {figures['peak_mb']:.0f} MB "
          f"(targets: < 15 s, < 600 MB)")
    print(f"stored {figures['rows']} answers and {figures['verdicts']} verdicts; HealthQA's score "
          f"{'agrees' if figures['agrees'] else 'DIFFERS'} with the file's on {figures['checked']} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
