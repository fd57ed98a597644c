"""The run engine end to end: work items, provider calls and workspace writes.

Three figures, each against the OpenAI loopback server running in its own
process (so only the client's CPU and memory are counted):

1. wall time: 640 questions at concurrency 32 against a 200 ms server;
   ideal 640 / 32 x 0.2 s = 4 s, target <= 1.25 x ideal (5 s);
2. client CPU per request (whole process: event loop, httpx, the database
   thread), 2,000 requests against a 5 ms server; target < 2 ms;
3. memory as the run grows: peak RSS of a fresh process running 1,000 and
   10,000 requests (5 ms server); target: within 50 MB of each other.

Run: .venv/bin/python benchmarks/bench_runs.py [--quick]
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

from healthqa.domain import ModelConfig, Question  # noqa: E402
from healthqa.providers import make_provider  # noqa: E402
from healthqa.runs import DONE, create_run, execute_run  # noqa: E402
from healthqa.store import Workspace, ensure_set, save_model_config, upsert_question  # noqa: E402
from tests.core.provider_servers import API_KEY  # noqa: E402


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.core.provider_servers", "openai", "--latency", str(latency)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit("the loopback server did not start")
    return proc, base_url


def stop_server(proc: subprocess.Popen) -> None:
    proc.stdin.close()  # the server stops when its stdin closes
    proc.wait(timeout=10)


def workspace_with(path: Path, base_url: str, questions: int) -> Workspace:
    ws = Workspace(path)
    set_id = ensure_set(ws, "bench")
    with ws.transaction():
        for i in range(questions):
            upsert_question(ws, Question.model_validate({
                "prompt_id": f"bench-{i:06d}",
                "prompt": [{"role": "user", "content": f"Benchmark question {i}: is a resting heart rate of "
                                                       f"{50 + i % 50} normal for an adult who runs?"}],
                "rubrics": [{"criterion": "Says what a normal resting heart rate is.", "points": 5}],
            }), set_id)
    save_model_config(ws, ModelConfig(name="bench", provider="openai", model="gpt-loopback", base_url=base_url,
                                      price_in_per_mtok=2.0, price_out_per_mtok=8.0))
    return ws


def timed_run(ws: Workspace, *, samples: int, concurrency: int) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, requests) of one whole run."""
    run_id = create_run(ws, model_name="bench", set_name="bench", samples=samples)
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = asyncio.run(execute_run(ws, run_id, concurrency=concurrency, api_key=API_KEY))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if summary.status != DONE or summary.done != summary.total:
        raise SystemExit(f"run did not finish: {summary}")
    stored = ws.scalar("SELECT count(*) FROM answers WHERE run_id = ?", (run_id,))
    assert stored == summary.total, "an answer is missing or doubled"
    return wall, cpu, summary.calls


def setup_cpu_ms(base_url: str) -> float:
    """CPU of making and closing one provider (certificate store, connection pool):
    paid once per process, so it is shown apart from the per-request figures."""
    async def make_and_close() -> None:
        config = ModelConfig(name="setup", provider="openai", model="gpt-loopback", base_url=base_url)
        await make_provider(config, API_KEY).aclose()
    cpu0 = time.process_time()
    asyncio.run(make_and_close())
    return (time.process_time() - cpu0) * 1000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def child(requests: int, base_url: str) -> None:
    """Run `requests` calls (10 samples per question) in this fresh process; print peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace_with(Path(tmp) / "bench.healthqa", base_url, requests // 10)
        before = current_rss_mb()
        wall, cpu, calls = timed_run(ws, samples=10, concurrency=32)
        after = current_rss_mb()
        ws.close()
    print(json.dumps({"requests": calls, "rss_before_mb": before, "rss_after_mb": after, "peak_rss_mb": peak_rss_mb(),
                      "wall": wall, "cpu_ms_per_request": cpu / calls * 1000}))


def memory_in_child(requests: int, base_url: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(requests), "--base-url", base_url],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller memory run (1,000 vs 3,000 requests)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.base_url)
        return

    print("1. wall time: 640 questions, concurrency 32, 200 ms per call (workspace writes included)")
    server, base_url = start_server(0.2)
    try:
        print(f"   one-off client setup per process: {setup_cpu_ms(base_url):.0f} ms CPU (not counted below)")
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace_with(Path(tmp) / "bench.healthqa", base_url, 640)
            wall, cpu, calls = timed_run(ws, samples=1, concurrency=32)
            ws.close()
    finally:
        stop_server(server)
    ideal = 640 / 32 * 0.2
    print(f"   wall {wall:.2f} s, ideal {ideal:.2f} s, ratio {wall / ideal:.3f} (target <= 1.25) "
          f"{'OK' if wall / ideal <= 1.25 else 'MISSED'}")
    print(f"   client CPU {cpu:.2f} s = {cpu / calls * 1000:.2f} ms per request at 200 ms latency")

    server, base_url = start_server(0.005)
    try:
        print("2. client CPU per request: 2,000 requests, concurrency 32, 5 ms per call")
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace_with(Path(tmp) / "bench.healthqa", base_url, 200)
            wall, cpu, calls = timed_run(ws, samples=10, concurrency=32)
            ws.close()
        per = cpu / calls * 1000
        print(f"   {calls} requests in {wall:.2f} s ({calls / wall:.0f}/s); CPU {cpu:.2f} s = {per:.2f} ms per "
              f"request (target < 2 ms) {'OK' if per < 2 else 'MISSED'}")

        big = 3_000 if args.quick else 10_000
        print(f"3. memory: peak RSS of a fresh process running 1,000 vs {big:,} requests (5 ms per call)")
        small_run, big_run = memory_in_child(1_000, base_url), memory_in_child(big, base_url)
    finally:
        stop_server(server)
    for r in (small_run, big_run):
        print(f"   {r['requests']:>6} requests: peak RSS {r['peak_rss_mb']:.1f} MB; RSS {r['rss_before_mb']:.1f} MB "
              f"before the run, {r['rss_after_mb']:.1f} MB after; {r['wall']:.1f} s, "
              f"{r['cpu_ms_per_request']:.2f} ms CPU per request")
    growth = big_run["peak_rss_mb"] - small_run["peak_rss_mb"]
    print(f"   peak RSS growth {growth:+.1f} MB (target within 50 MB) {'OK' if abs(growth) <= 50 else 'MISSED'}; "
          f"RSS added by the runs themselves: {small_run['rss_after_mb'] - small_run['rss_before_mb']:+.1f} MB vs "
          f"{big_run['rss_after_mb'] - big_run['rss_before_mb']:+.1f} MB")


if __name__ == "__main__":
    main()
