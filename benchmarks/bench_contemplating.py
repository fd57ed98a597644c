"""A contemplating run end to end: 200 questions, K = 4 drafts each, then one synthesis,
at concurrency 32 against a 200 ms loopback server (OpenAI wire format, its own process).

1,000 calls. The ideal wall time is not simply 1000 / 32 x 0.2 s = 6.25 s: calls
come in whole 200 ms slots, and each synthesis can only start after its own four
drafts. With unit-time calls whose dependencies form in-trees (K drafts -> one
synthesis), Hu's level-first schedule is optimal (T. C. Hu, 1961), so the true
ideal is the length of that schedule, computed below. Target: wall time within
1.25 x that ideal. Also printed: the answers' latency (first draft's start to
the synthesis's end), whose floor is two calls (0.4 s).

Run: .venv/bin/python benchmarks/bench_contemplating.py [--questions N] [--drafts K] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_runs import start_server, stop_server, workspace_with  # noqa: E402
from healthqa.domain import ModelConfig  # noqa: E402
from healthqa.runs import DONE, create_run, execute_run  # noqa: E402
from healthqa.store import save_model_config  # noqa: E402
from tests.core.provider_servers import API_KEY  # noqa: E402

LATENCY = 0.2


def hu_rounds(questions: int, drafts: int, slots: int) -> int:
    """Rounds of Hu's optimal schedule: each round runs up to `slots` ready calls, highest level
    first (drafts are level 2, syntheses level 1); a synthesis is ready once its drafts are done."""
    drafts_left = [drafts] * questions  # per question, drafts not yet run
    synth_ready: list[int] = []
    pending_synth = set(range(questions))
    rounds = 0
    next_q = 0
    while pending_synth:
        rounds += 1
        free = slots
        finished_now = []
        while free and next_q < questions:  # drafts first (the higher level)
            take = min(free, drafts_left[next_q])
            drafts_left[next_q] -= take
            free -= take
            if drafts_left[next_q] == 0:
                finished_now.append(next_q)
                next_q += 1
        run_synth, synth_ready = synth_ready[:free], synth_ready[free:]
        pending_synth -= set(run_synth)
        synth_ready += finished_now  # ready from the next round on
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--drafts", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    n, k, c = args.questions, args.drafts, args.concurrency
    calls = n * (k + 1)

    print(f"contemplating run: {n} questions x ({k} drafts + 1 synthesis) = {calls} calls, "
          f"concurrency {c}, {LATENCY * 1000:.0f} ms per call")
    server, base_url = start_server(LATENCY)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace_with(Path(tmp) / "bench.healthqa", base_url, n)
            save_model_config(ws, ModelConfig(name="thinker", provider="openai", model="gpt-loopback",
                                              base_url=base_url, reasoning="low",
                                              price_in_per_mtok=2.0, price_out_per_mtok=8.0))
            run_id = create_run(ws, model_name="thinker", set_name="bench", mode="contemplating", drafts=k)
            t0 = time.perf_counter()
            summary = asyncio.run(execute_run(ws, run_id, concurrency=c, api_key=API_KEY))
            wall = time.perf_counter() - t0
            if summary.status != DONE or summary.calls != calls:
                raise SystemExit(f"run did not finish as expected: {summary}")
            latencies = [r["latency_ms"] for r in ws.query("SELECT latency_ms FROM answers WHERE run_id = ?",
                                                           (run_id,))]
            used = ws.scalar("SELECT min(drafts_used) FROM answers WHERE run_id = ?", (run_id,))
            drafts_stored = ws.scalar("SELECT count(*) FROM answer_drafts WHERE run_id = ? AND answer_id IS NOT NULL",
                                      (run_id,))
            ws.close()
    finally:
        stop_server(server)

    naive = calls / c * LATENCY
    ideal = hu_rounds(n, k, c) * LATENCY
    print(f"   answers {len(latencies)}, drafts stored {drafts_stored}, every answer used {used} drafts")
    print(f"   naive bound (calls / concurrency x latency): {naive:.2f} s")
    print(f"   critical-path ideal (Hu's optimal schedule, {hu_rounds(n, k, c)} rounds of {LATENCY:.1f} s): "
          f"{ideal:.2f} s")
    print(f"   wall {wall:.2f} s; ratio to the ideal {wall / ideal:.3f} (target <= 1.25) "
          f"{'OK' if wall / ideal <= 1.25 else 'MISSED'}; ratio to the naive bound {wall / naive:.3f}")
    q = statistics.quantiles(latencies, n=20)
    print(f"   answer latency (first draft start -> synthesis end): p50 {statistics.median(latencies):.0f} ms, "
          f"p95 {q[18]:.0f} ms (floor {2 * LATENCY * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
