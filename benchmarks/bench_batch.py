"""A 50,000-request grading pass sent as provider batches, against a loopback
batch server (OpenAI by default, `--provider`) in its own process (batches complete at once), so the
figures are HealthQA's own work: writing the input files to disk, uploading
them, polling, downloading and parsing the output, storing the verdicts.

Two sessions, each a fresh process (peak RSS is that session's alone):

1. send: writes and uploads the chunks (50,000 requests, two files under the
   200 MB limit), then stops as the CLI does on Ctrl-C — the batches are left
   finished at the provider;
2. resume: finds every batch finished, downloads, parses and stores 50,000
   verdicts. It must upload nothing (the server counts uploads).

Targets: both sessions together under 60 s; each under 1 GB peak RSS.

Run: .venv/bin/python benchmarks/bench_batch.py [--requests N] [--provider openai|anthropic|gemini]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from healthqa.runs import create_grade_run, execute_batch_run, mark_batch_run  # noqa: E402
from healthqa.domain import Answer, ModelConfig, Question  # noqa: E402
from healthqa.store import Workspace, add_answer, ensure_set, save_model_config, upsert_question  # noqa: E402
from tests.core.provider_servers import API_KEY  # noqa: E402

CRITERIA = 10  # per question (HealthBench averages about 11)


MODELS = {"openai": "gpt-loopback", "anthropic": "claude-loopback", "gemini": "gemini-loopback"}


def start_server(provider: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.core.batch_servers", provider, "--instant", "--grader"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit("the loopback batch server did not start")
    return proc, base_url


def server_stats(proc: subprocess.Popen) -> dict:
    proc.stdin.write("stats\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def prepare(path: Path, provider: str, base_url: str, requests: int) -> str:
    """A workspace with answered questions of CRITERIA criteria each, and a grading pass over them."""
    questions = requests // CRITERIA
    ws = Workspace(path)
    set_id = ensure_set(ws, "bench")
    with ws.transaction():
        for i in range(questions):
            qid, _ = upsert_question(ws, Question.model_validate({
                "prompt_id": f"bench-{i:06d}",
                "prompt": [{"role": "user", "content": f"Benchmark question {i}: my resting heart rate is 52 and I "
                                                       "run three times a week. Is that too low?"}],
                "rubrics": [{"criterion": f"Criterion {c} of question {i}: says whether a low resting heart rate "
                                          "can be normal in trained people.", "points": 5 if c % 3 else -4,
                             "tags": ["axis:accuracy"]} for c in range(CRITERIA)],
            }), set_id)
            add_answer(ws, qid, Answer(text=f"Answer {i}: a resting heart rate of 52 is common in people who "
                                            "train regularly; see a clinician if you feel faint.", model="someone"))
    save_model_config(ws, ModelConfig(name="grader", provider=provider, model=MODELS[provider], base_url=base_url,
                                      price_in_per_mtok=2.0, price_out_per_mtok=8.0))
    run_id = create_grade_run(ws, None, "grader", set_name="bench")
    mark_batch_run(ws, run_id)
    ws.close()
    return run_id


def session(path: str, run_id: str, stop_after_send: bool) -> None:
    """One session in this (fresh) process; prints its figures as JSON."""
    ws = Workspace(path)
    t0 = time.perf_counter()
    cpu0 = time.process_time()

    async def go():
        cancel = asyncio.Event()

        def progress(p) -> None:
            if stop_after_send and p.batches:
                cancel.set()  # as Ctrl-C: stop waiting, the batches stay at the provider
        return await execute_batch_run(ws, run_id, poll_interval=0.05, api_key=API_KEY, on_progress=progress,
                                       cancel=cancel, workdir=Path(path).parent / "chunks")

    summary = asyncio.run(go())
    wall = time.perf_counter() - t0
    done = ws.scalar("SELECT count(*) FROM grades WHERE verdict IS NOT NULL")
    ws.close()
    print(json.dumps({"status": summary.status, "wall": wall, "cpu": time.process_time() - cpu0,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "verdicts": done,
                      "cost": summary.cost, "cost_basis": summary.cost_basis}))


def child(path: Path, run_id: str, stop_after_send: bool) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--session", str(path), run_id]
                          + (["--stop-after-send"] if stop_after_send else []),
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--provider", choices=list(MODELS), default="openai",
                        help="which loopback batch API (default openai: files, the 200 MB limit)")
    parser.add_argument("--session", nargs=2, metavar=("WORKSPACE", "RUN_ID"))
    parser.add_argument("--stop-after-send", action="store_true")
    args = parser.parse_args()
    if args.session:
        session(*args.session, stop_after_send=args.stop_after_send)
        return
    server, base_url = start_server(args.provider)
    print(f"{args.provider} loopback batch server")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.healthqa"
            t = time.perf_counter()
            run_id = prepare(path, args.provider, base_url, args.requests)
            print(f"set-up (not timed): {args.requests} grader work items in {time.perf_counter() - t:.1f} s")
            send = child(path, run_id, stop_after_send=True)
            after_send = server_stats(server)
            resume = child(path, run_id, stop_after_send=False)
            after_resume = server_stats(server)
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    total = send["wall"] + resume["wall"]
    print(f"send   : {send['wall']:6.1f} s wall, {send['cpu']:5.1f} s CPU, peak RSS {send['rss_mb']:6.0f} MB "
          f"({after_send['uploads']} uploads, {after_send['submitted']} requests in {after_send['creates']} batches)")
    print(f"resume : {resume['wall']:6.1f} s wall, {resume['cpu']:5.1f} s CPU, peak RSS {resume['rss_mb']:6.0f} MB "
          f"({after_resume['uploads'] - after_send['uploads']} uploads, {resume['verdicts']} verdicts stored, "
          f"status {resume['status']})")
    print(f"HealthQA CPU (both sessions, every thread): {send['cpu'] + resume['cpu']:.1f} s; the rest of the wall "
          "time is the loopback server's work (another process) and the disk")
    print(f"total  : {total:6.1f} s (target < 60 s); peak RSS {max(send['rss_mb'], resume['rss_mb']):.0f} MB "
          f"(target < 1024 MB); cost ${resume['cost']:.2f} at {resume['cost_basis']}")
    ok = (total < 60 and max(send["rss_mb"], resume["rss_mb"]) < 1024 and resume["verdicts"] == args.requests
          and after_resume["uploads"] == after_send["uploads"] and after_send["distinct"] == args.requests)
    print("PASS" if ok else "FAIL")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
